"""KubeVirt behaviour for the emulated cluster (issue 3): nodes, storage, VMs, VMIs, migrations, virt-api.

``controllers()`` is what :func:`vmconform.emulator.cluster.default_controllers` loads.

Public hooks for other emulator modules:

* ``context_of(emulator)`` — the shared :class:`KubeVirtContext` (``faults``, ``timing``,
  ``behaviour`` = the fault seam, ``subresources`` = the route table, ``guests``,
  ``vmi_controller``, ``migration_controller``).
* ``find_guest(emulator, namespace, vmi_name)`` — the :class:`GuestHandle` of a running
  VMI (``handle.guest`` is the :class:`vmconform.emulator.guest.Guest`, ``handle.subscribe``
  delivers console output produced outside a keystroke).
* ``context_of(emulator).vmi_controller.guest_power(namespace, name, "poweroff"|"reboot")``
  — what the guest's ``on_power`` callback calls (already wired for guests made here).
* ``context_of(emulator).subresources.register(resource, subresource, methods, handler)``.
"""

from __future__ import annotations

from typing import Any

from .context import KubeVirtContext, context_of, find_guest
from .guests import GuestHandle

__all__ = ["GuestHandle", "KubeVirtContext", "context_of", "controllers", "find_guest"]


class _AdmissionInstaller:
    """Installs the VM and VMIM webhooks (kept separate so admission is one small module)."""

    async def start(self, emulator: Any) -> None:
        from .admission import Admission

        Admission(context_of(emulator))

    async def stop(self) -> None:
        return None


def controllers() -> list[Any]:
    from .bootstrap import ClusterBootstrap
    from .disruption_budget import DisruptionBudgetController
    from .evacuation import EvacuationController
    from .instancetypes import InstancetypeBootstrap
    from .migration_controller import MigrationController
    from .storage import StorageController
    from .subresource_api import SubresourceAPI
    from .vm_controller import VMController
    from .vmi_controller import VMIController

    return [
        ClusterBootstrap(),
        InstancetypeBootstrap(),
        StorageController(),
        _AdmissionInstaller(),
        VMIController(),
        VMController(),
        MigrationController(),
        SubresourceAPI(),
        EvacuationController(),  # also installs the pod-eviction webhook
        DisruptionBudgetController(),
    ]
