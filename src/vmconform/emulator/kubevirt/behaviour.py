"""The decision points a fault profile may change, in one place.

Every controller asks ``ctx.behaviour`` instead of hard-coding these answers.  The
default implementation is KubeVirt's behaviour and ignores ``faults`` (issue 3 plays no
faults); a fault profile can subclass :class:`Behaviour` (or replace single methods) and
install it as ``context_of(emulator).behaviour`` — or branch on ``self.faults`` here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .constants import FAILED, SUCCEEDED

if TYPE_CHECKING:
    from aiohttp import web

    from .context import KubeVirtContext
    from .guests import GuestHandle
    from .subresource_api import SubresourceCall

Obj = dict[str, Any]


class Behaviour:
    def __init__(self, faults: frozenset[str], ctx: "KubeVirtContext | None" = None) -> None:
        self.faults = faults
        self.ctx = ctx  # the whole emulator state, for faults that need more than their arguments

    def active(self, name: str) -> bool:
        return name in self.faults

    # ------------------------------------------------------------ subresources

    def intercept(self, call: "SubresourceCall") -> "web.StreamResponse | None":
        """Answer a subresource request instead of virt-api (e.g. accept and do nothing); None = normal."""
        return None

    def start_rejects_live_vmi(self, vmi: Obj) -> bool:
        """start on a VM whose VMI is alive answers 409 "VM is already running"."""
        return True

    # ------------------------------------------------------------ guest effects

    def pause_guest(self, handle: "GuestHandle") -> None:
        """What pausing does to the guest: freeze it (clock stops, memory kept)."""
        handle.pause()

    def unpause_guest(self, handle: "GuestHandle") -> None:
        handle.unpause()

    def migrate_guest(self, handle: "GuestHandle") -> None:
        """What a completed live migration does to the guest: nothing visible (state kept)."""
        handle.migrate()

    def pause_takes_effect(self, vmi: Obj, paused: bool) -> bool:
        """Whether an accepted pause (``paused``) / unpause request really changes the VMI."""
        return True

    def shutdown_completes(self, vmi: Obj) -> bool:
        """Whether the guest of a deleted VMI ever finishes shutting down."""
        return True

    def shutdown_phase(self, vmi: Obj, grace_expired: bool) -> str:
        """The final phase of a VMI whose guest was asked to shut down (ACPI)."""
        return FAILED if grace_expired else SUCCEEDED

    # ------------------------------------------------------------ migration

    def pvc_is_shared(self, access_modes: list[str]) -> bool:
        """A PVC is live-migratable only with ReadWriteMany."""
        return "ReadWriteMany" in access_modes

    def migration_target_avoids_source(self) -> bool:
        """The target pod gets anti-affinity to the source pod (so it lands on another node)."""
        return True

    def target_node_selector(self, vmi: Obj) -> dict[str, str]:
        """Extra nodeSelector for a migration target pod (besides the VMIM's addedNodeSelector)."""
        return {}

    def migration_completes(self, migration: Obj) -> bool:
        """Whether a running memory transfer ever completes."""
        return True
