"""virt-controller's disruption-budget controller, KubeVirt v1.9.0
``pkg/virt-controller/watch/drain/disruptionbudget/disruptionbudget.go`` (``execute``, ``deletePDB``,
``pdbsForVMI``).

Since v1.6.0 KubeVirt no longer protects launcher pods with a PodDisruptionBudget per VMI: the
pod-eviction webhook refuses every eviction it must refuse (``docs/handling-eviction-requests.md``
still describes the older PDBs). What is left of the controller removes the PDBs an older
virt-controller made: any PDB whose controller is a VirtualMachineInstance is deleted, with a
``SuccessfulDelete`` event ``Deleted PodDisruptionBudget NAME`` on the VMI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..resources import PDBS, VMIS
from ..store import Event
from . import constants as C
from .context import KubeVirtContext, context_of

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]
QUEUE = "disruption-budget"
COMPONENT = "disruptionbudget-controller"


def vmi_owner(pdb: Obj) -> Obj | None:
    return next((r for r in pdb["metadata"].get("ownerReferences") or []
                 if r.get("controller") and r.get("kind") == "VirtualMachineInstance"), None)


class DisruptionBudgetController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.queue.register(QUEUE, self.reconcile)
        ctx.watch(PDBS, self._on_pdb)
        ctx.watch(VMIS, lambda ev: ctx.queue.add(QUEUE, ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"]))

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    def _on_pdb(self, ev: Event) -> None:
        owner = vmi_owner(ev.obj)
        if owner is not None and ev.type != "DELETED" and self.ctx is not None:
            self.ctx.queue.add(QUEUE, ev.obj["metadata"]["namespace"], owner.get("name", ""))

    def reconcile(self, ns: str, vmi_name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        vmi = ctx.store.peek(VMIS, ns, vmi_name) or {"metadata": {"name": vmi_name, "namespace": ns},
                                                    "kind": "VirtualMachineInstance"}
        for pdb in ctx.store.items(PDBS, ns):
            owner = vmi_owner(pdb)
            if owner is None or owner.get("name") != vmi_name or pdb["metadata"].get("deletionTimestamp"):
                continue
            ctx.store.delete(PDBS, ns, pdb["metadata"]["name"])
            ctx.events.record(vmi, C.EV_NORMAL, "SuccessfulDelete",
                              f"Deleted PodDisruptionBudget {pdb['metadata']['name']}", COMPONENT)
