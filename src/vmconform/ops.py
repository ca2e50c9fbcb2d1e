"""VM operations named as virtctl names them, and reads of what they affect. No waiting here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kube.client import Answer, Cluster, Obj
from .kube.kinds import POD, VM, VMI, VMIM
from .status import COND_READY, FINAL_PHASES, LABEL_CREATED_BY, POD_FAILED, POD_SUCCEEDED, SELECT_LAUNCHERS


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


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def deleting(obj: Obj | None) -> bool:
    """The object has a deletionTimestamp: it is on its way out (a pod: Terminating) but still exists."""
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


def pod_phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "<unset>")


def pod_node(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "?")


def pod_ended(pod: Obj) -> bool:
    """Its containers have all stopped for good (phase Succeeded — kubectl's Completed — or Failed)."""
    return pod_phase(pod) in (POD_SUCCEEDED, POD_FAILED)


def pod_live(pod: Obj) -> bool:
    """Running and not being deleted (a Terminating pod can still read phase Running)."""
    return pod_phase(pod) == "Running" and not deleting(pod)


def describe_pod(pod: Obj) -> str:
    """``name@node:Phase``, with ``/Terminating`` while the pod is being deleted."""
    return f"{name_of(pod)}@{pod_node(pod)}:{pod_phase(pod)}{'/Terminating' if deleting(pod) else ''}"


def exit_code(pod: Obj, container: str) -> int | None:
    """The exit code of a container that has terminated; None while it runs or when not reported."""
    for st in (pod.get("status") or {}).get("containerStatuses") or []:
        if st.get("name") == container:
            term = (st.get("state") or {}).get("terminated")
            return int(term.get("exitCode", 0)) if term else None
    return None


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
        pods, _ = self.cluster.list(POD, self.namespace, labels=SELECT_LAUNCHERS)
        return [p for p in pods if owned_by_vmi_named(p, self.name)]

    def migrations(self) -> list[Obj]:
        items, _ = self.cluster.list(VMIM, self.namespace, labels=f"kubevirt.io/vmi-name={self.name}")
        return items


def owned_by_vmi_named(pod: Obj, vmi_name: str) -> bool:
    """A launcher pod of any VMI of that name (a VM's VMIs all share its name)."""
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("kind") == "VirtualMachineInstance" and r.get("name") == vmi_name for r in refs)


def is_ready(obj: Obj | None) -> bool:
    return condition_is(obj, COND_READY, "True")


def is_final(vmi: Obj | None) -> bool:
    return vmi_phase(vmi) in FINAL_PHASES
