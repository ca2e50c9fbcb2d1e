"""A scenario context on the bare emulated API server, and objects to put in its store, for step tests.

The steps run unchanged (real client, real watches); the test plays KubeVirt by writing the VM, VMI and
pods straight into the store — in the orders KubeVirt allows (§10) and in broken ones.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, Callable

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import PODS, VMIS, VMS
from vmconform.kube.client import Cluster
from vmconform.ops import VirtualMachine
from vmconform.scenario import ScenarioContext
from vmconform.timeouts import Timeouts

from .conftest import until

NS = "default"
NAME = "vm"
Obj = dict[str, Any]


def context(client: Cluster, scale: float) -> ScenarioContext:
    """A scenario context whose timeout table is scaled by ``scale`` (the table is for real clusters)."""
    session = SimpleNamespace(cluster=client, timeouts=Timeouts(scale), labels={},
                              settings=SimpleNamespace(report_dir="reports"))
    ctx = ScenarioContext(session=session, namespace=NS, name="step-test",  # type: ignore[arg-type]
                          node=SimpleNamespace(user_properties=[]))
    ctx.vm = VirtualMachine(client, NS, NAME)
    return ctx


class Lab:
    """Writes KubeVirt's objects into the bare cluster's store."""

    def __init__(self, c: EmulatedCluster) -> None:
        self.c = c
        self.pool = ThreadPoolExecutor(1)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # -- objects
    def vm(self, status: str, *, created: bool = False, ready: bool = False) -> None:
        body = {"metadata": {"name": NAME, "namespace": NS}, "spec": {"runStrategy": "Halted"}}
        self.c.call(lambda: self.c.store.create(VMS, body))
        self.vm_status(printableStatus=status, created=created, ready=ready,
                       conditions=[_cond("Ready", "True" if ready else "False")])

    def vm_status(self, **fields: Any) -> None:
        def fn(o: Obj) -> None:
            o.setdefault("status", {}).update(fields)
        self.c.call(lambda: self.c.store.mutate(VMS, NS, NAME, fn, status=True))

    def vmi(self, phase: str, *, node: str = "node01", conditions: list[Obj] | None = None,
            hold: bool = False) -> str:
        """A VMI (held by a finalizer when ``hold``, so deleting it leaves it with a deletionTimestamp)."""
        body = {"metadata": {"name": NAME, "namespace": NS, "finalizers": ["test/hold"] if hold else []},
                "spec": {}}
        obj = self.c.call(lambda: self.c.store.create(VMIS, body))
        self.vmi_status(phase=phase, nodeName=node, conditions=conditions or [])
        return str(obj["metadata"]["uid"])

    def vmi_status(self, **fields: Any) -> None:
        def fn(o: Obj) -> None:
            o.setdefault("status", {}).update(fields)
        self.c.call(lambda: self.c.store.mutate(VMIS, NS, NAME, fn, status=True))

    def pod(self, name: str, vmi_uid: str, *, phase: str = "Running", node: str = "node01", claim: str | None = None,
            launcher: bool = True, hold: bool = False, statuses: list[Obj] | None = None) -> str:
        labels = {"kubevirt.io": "virt-launcher", "kubevirt.io/created-by": vmi_uid} if launcher else {"app": "x"}
        refs = [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": NAME, "uid": vmi_uid,
                 "controller": True}] if launcher else []
        volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}] if claim else []
        body = {"metadata": {"name": name, "namespace": NS, "labels": labels, "ownerReferences": refs,
                             "finalizers": ["test/hold"] if hold else []},
                "spec": {"nodeName": node, "containers": [{"name": "compute", "image": "x"}], "volumes": volumes}}
        obj = self.c.call(lambda: self.c.store.create(PODS, body))
        self.pod_status(name, phase=phase, containerStatuses=statuses or [])
        return str(obj["metadata"]["uid"])

    def pod_status(self, name: str, **fields: Any) -> None:
        def fn(o: Obj) -> None:
            o.setdefault("status", {}).update(fields)
        self.c.call(lambda: self.c.store.mutate(PODS, NS, name, fn, status=True))

    def pod_meta(self, name: str, **fields: Any) -> None:
        def fn(o: Obj) -> None:
            o["metadata"].update(fields)
        self.c.call(lambda: self.c.store.mutate(PODS, NS, name, fn, status=True))

    def delete(self, res: Any, name: str) -> None:
        """Delete: a held object keeps existing with a deletionTimestamp (Terminating)."""
        self.c.call(lambda: self.c.store.delete(res, NS, name))

    def release(self, res: Any, name: str) -> None:
        """Drop the finalizer of a deleted object: it goes."""
        def fn(o: Obj) -> None:
            o["metadata"]["finalizers"] = []
        self.c.call(lambda: self.c.store.mutate(res, NS, name, fn, status=True))

    # -- running a step while the test plays the cluster
    def watchers(self) -> int:
        return int(self.c.call(lambda: len(self.c.store._watchers)))  # noqa: SLF001

    def start(self, step: Callable[..., Any], *args: Any, watches: int = 1) -> Future[Any]:
        """Run a step on a thread and return once it has ``watches`` watches open (it is waiting)."""
        base = self.watchers()
        fut = self.pool.submit(step, *args)
        until(lambda: self.watchers() >= base + watches or fut.done())
        return fut


def _cond(ctype: str, status: str, reason: str = "") -> Obj:
    return {"type": ctype, "status": status, "reason": reason, "lastProbeTime": None, "lastTransitionTime": None}


cond = _cond


def new_uid() -> str:
    return str(uuid.uuid4())


def terminated(container: str, code: int) -> Obj:
    return {"name": container, "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}}
