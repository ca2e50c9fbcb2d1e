"""VM operations named as virtctl names them, and reads of what they affect. No waiting here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kube.client import Answer, Cluster, Obj
from .kube.kinds import POD, VM, VMI, VMIM
from .status import COND_READY, FINAL_PHASES, LABEL_CREATED_BY


def condition(obj: Obj | None, ctype: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def condition_is(obj: Obj | None, ctype: str, status: str = "True") -> bool:
    cond = condition(obj, ctype)
    return cond is not None and cond.get("status") == status


def printable_status(vm: Obj | None) -> str:
    if vm is None:
        return "<gone>"
    return ((vm.get("status") or {}).get("printableStatus")) or "<unset>"


def vmi_phase(vmi: Obj | None) -> str:
    if vmi is None:
        return "<gone>"
    return ((vmi.get("status") or {}).get("phase")) or "<unset>"


def uid(obj: Obj | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("uid")


@dataclass
class VirtualMachine:
    """A VM by name in a namespace: ``vm.start()``, ``vm.stop()``, ``vm.pause()`` … as virtctl does."""

    cluster: Cluster
    namespace: str
    name: str

    # -- verbs (each returns the API's answer; callers decide what it means)
    def start(self, *, paused: bool = False, dry_run: bool = False) -> Answer:
        body: dict[str, Any] = {}
        if paused:
            body["paused"] = True
        if dry_run:
            body["dryRun"] = ["All"]
        return self.cluster.subresource(VM, self.namespace, self.name, "start", body)

    def stop(self, *, grace_period: int | None = None) -> Answer:
        body: dict[str, Any] = {} if grace_period is None else {"gracePeriod": grace_period}
        return self.cluster.subresource(VM, self.namespace, self.name, "stop", body)

    def restart(self) -> Answer:
        return self.cluster.subresource(VM, self.namespace, self.name, "restart", {})

    def migrate(self) -> Answer:
        return self.cluster.subresource(VM, self.namespace, self.name, "migrate", {})

    def pause(self) -> Answer:
        """``virtctl pause vm`` calls the VMI's pause (there is no VM-level pause)."""
        return self.cluster.subresource(VMI, self.namespace, self.name, "pause", {})

    def unpause(self) -> Answer:
        return self.cluster.subresource(VMI, self.namespace, self.name, "unpause", {})

    # -- reads
    def get(self) -> Obj | None:
        return self.cluster.get(VM, self.namespace, self.name)

    def vmi(self) -> Obj | None:
        return self.cluster.get(VMI, self.namespace, self.name)

    def launcher_pods(self, vmi_uid: str | None = None) -> list[Obj]:
        """Pods controlled by the VMI (selected by ``kubevirt.io/created-by``, as KubeVirt's tests do)."""
        if vmi_uid is None:
            vmi_uid = uid(self.vmi())
            if vmi_uid is None:
                return self.all_launcher_pods()
        pods, _ = self.cluster.list(POD, self.namespace, labels=f"{LABEL_CREATED_BY}={vmi_uid}")
        return pods

    def all_launcher_pods(self) -> list[Obj]:
        pods, _ = self.cluster.list(POD, self.namespace, labels="kubevirt.io=virt-launcher")
        return [p for p in pods if _owned_by_name(p, self.name)]

    def migrations(self) -> list[Obj]:
        items, _ = self.cluster.list(VMIM, self.namespace, labels=f"kubevirt.io/vmi-name={self.name}")
        return items


def _owned_by_name(pod: Obj, vmi_name: str) -> bool:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("kind") == "VirtualMachineInstance" and r.get("name") == vmi_name for r in refs)


def is_ready(obj: Obj | None) -> bool:
    return condition_is(obj, COND_READY, "True")


def is_final(vmi: Obj | None) -> bool:
    return vmi_phase(vmi) in FINAL_PHASES
