"""The VMI controller's base: shared helpers, the end of a VMI (Succeeded/Failed) and graceful deletion."""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..resources import PODS, VMIS, dig
from . import constants as C
from .context import KubeVirtContext
from .launcher import grace_period, mark_finished, pod_final
from .pods import KUBELET_QUEUE, PodDriver, pods_of
from .util import get_condition, remove_condition, remove_finalizers
from .vmi_status import VmiRuntime, is_final, ready_preview, set_phase, sync_ready

log = logging.getLogger("vmconform.emulator.kubevirt")
Obj = dict[str, Any]


class VMIBase:
    """State and helpers of the VMI controller, and what happens when a VMI ends or is deleted."""

    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None
        self.pods: PodDriver | None = None
        self.runtime: dict[str, VmiRuntime] = {}

    def rt(self, uid: str) -> VmiRuntime:
        rt = self.runtime.get(uid)
        if rt is None:
            assert self.ctx is not None
            rt = self.runtime[uid] = VmiRuntime(uid, mac_seed=self.ctx.rng.randrange(1 << 24))
        return rt

    def current_pod(self, vmi: Obj) -> Obj | None:
        """The launcher pod the VMI runs in: the live pod on ``status.nodeName`` (§3.6)."""
        assert self.ctx is not None
        pods = pods_of(self.ctx, vmi)
        node = dig(vmi, "status", "nodeName")
        if node:
            on_node = [p for p in pods if dig(p, "spec", "nodeName") == node]
            alive = [p for p in on_node if not pod_final(p)]
            return (alive or on_node or [None])[-1]
        first = [p for p in pods if C.LABEL_MIGRATION_JOB_UID not in (p["metadata"].get("labels") or {})]
        return first[-1] if first else None

    def _key(self, vmi: Obj) -> tuple[str, str, str]:
        return ("vmi", vmi["metadata"]["namespace"], vmi["metadata"]["name"])

    def _write(self, vmi: Obj, fn: Callable[[Obj], None]) -> Obj | None:
        assert self.ctx is not None
        meta = vmi["metadata"]
        return self.ctx.store.mutate(VMIS, meta["namespace"], meta["name"], fn, status=True)

    def _event(self, vmi: Obj, type_: str, reason: str, message: str, handler: bool = True) -> None:
        assert self.ctx is not None
        host = dig(vmi, "status", "nodeName") if handler else None
        component = C.COMPONENT_HANDLER if handler else C.COMPONENT_VMI
        self.ctx.events.record(vmi, type_, reason, message, component, host)

    def _active_pods(self, vmi: Obj) -> dict[str, str]:
        assert self.ctx is not None
        return {p["metadata"]["uid"]: dig(p, "spec", "nodeName", default="") or "" for p in pods_of(self.ctx, vmi)}

    def _finish(self, vmi: Obj, phase: str, message: str, warning: bool = False, event: bool = True) -> None:
        """The domain is gone: the VMI becomes final and the containers of its pods exit.

        A pod that is being deleted stays listed (Terminating, now Succeeded/Failed) until the
        emulated kubelet removes it (``pod.terminate``); only then is the VMI's finalizer removed (W2).
        """
        ctx = self.ctx
        assert ctx is not None and self.pods is not None
        meta = vmi["metadata"]
        ctx.guests.drop(meta["namespace"], meta["name"], meta["uid"])
        for pod in pods_of(ctx, vmi):
            if pod_final(pod):
                continue
            pod_ns, pod_name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if pod["metadata"].get("deletionTimestamp") and not dig(pod, "status", "startTime"):
                self.pods.finish(pod_ns, pod_name)  # never started: nothing for the kubelet to wait for
                continue
            ctx.store.mutate(PODS, pod_ns, pod_name, lambda o: mark_finished(o, phase == C.SUCCEEDED), status=True)
            if pod["metadata"].get("deletionTimestamp"):
                ctx.queue.add(KUBELET_QUEUE, pod_ns, pod_name)
        pod = self.current_pod(vmi)

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            set_phase(st, phase)
            for ctype in (C.COND_PAUSED, C.COND_AGENT_CONNECTED):
                remove_condition(st, ctype)
            st["activePods"] = self._active_pods(o)
            sync_ready(st, pod)

        self._write(vmi, fn)
        if event:
            self._event(vmi, C.EV_WARNING if warning else C.EV_NORMAL, "Stopped", message)

    def _fail(self, vmi: Obj, why: str) -> None:
        log.debug("VMI %s/%s failed: %s", vmi["metadata"]["namespace"], vmi["metadata"]["name"], why)
        self._finish(vmi, C.FAILED, "The VirtualMachineInstance crashed.", warning=True)

    def _final(self, vmi: Obj) -> None:
        active = self._active_pods(vmi)
        if active != dig(vmi, "status", "activePods"):
            self._write(vmi, lambda o: o.setdefault("status", {}).update({"activePods": active}))

    # ------------------------------------------------------------ deletion (stop)

    def _teardown(self, vmi: Obj, rt: VmiRuntime) -> None:
        """A deleted VMI, in KubeVirt's order (§10 W1–W3):

        1. virt-controller deletes its pods (they stay Terminating: VMI Ready=False PodTerminating);
        2. virt-handler shuts the guest down (bounded by the grace period) and marks the VMI final —
           from here the VM reads ``Stopped`` while the VMI still exists with ``status.created: true``;
        3. the launcher's containers have exited: the kubelet removes the pod (``pod.terminate``);
        4. only when all its pods are gone is the VMI's finalizer removed, and the VMI disappears.
        """
        ctx = self.ctx
        assert ctx is not None and self.pods is not None
        meta = vmi["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        key = self._key(vmi)
        for pod in pods_of(ctx, vmi):  # deleteAllMatchingPods
            if pod["metadata"].get("deletionTimestamp"):
                continue
            ctx.store.delete(PODS, ns, pod["metadata"]["name"])
            self._event(vmi, C.EV_NORMAL, "SuccessfulDelete", f"Deleted virtual machine pod {pod['metadata']['name']}",
                        handler=False)
        if not is_final(vmi) and dig(vmi, "status", "phase") == C.RUNNING:
            vmi = ctx.store.peek(VMIS, ns, name) or vmi
            pod = self.current_pod(vmi)
            if not rt.shutdown_signaled:
                rt.shutdown_signaled = True
                self._write(vmi, lambda o: sync_ready(o.setdefault("status", {}), pod))
                self._event(vmi, C.EV_NORMAL, "ShuttingDown", "Signaled Graceful Shutdown")
            elif get_condition(vmi, C.COND_READY) != ready_preview(vmi, pod):
                self._write(vmi, lambda o: sync_ready(o.setdefault("status", {}), pod))
            grace = grace_period(vmi)
            if rt.delete_grace is not None:
                grace = min(grace, rt.delete_grace)
            seconds = (ctx.duration("vmi.destroy", key) if grace <= 0
                       else min(ctx.duration("vmi.shutdown", key), float(grace)))
            if not ctx.gate(uid, "life", f"shutdown:{grace}", seconds, key):
                return
            if not ctx.behaviour.shutdown_completes(vmi):
                return
            phase = ctx.behaviour.shutdown_phase(vmi, grace_expired=False)
            vmi = ctx.store.peek(VMIS, ns, name) or vmi
            self._finish(vmi, phase, "The VirtualMachineInstance was shut down." if phase == C.SUCCEEDED
                         else "The VirtualMachineInstance crashed.", warning=phase != C.SUCCEEDED)
            return
        if not is_final(vmi):
            # never ran a guest: virt-controller fails a deleted VMI whose pod is gone or going down
            vmi = ctx.store.peek(VMIS, ns, name) or vmi
            self._finish(vmi, C.FAILED, "", event=False)
            return
        if pods_of(ctx, vmi):
            return  # the kubelet still has to remove a pod (it requeues this VMI when it does)
        if not ctx.gate(uid, "life", "finalize", "vmi.finalize", key):
            return
        ctx.store.mutate(VMIS, ns, name, lambda o: remove_finalizers(o, *ctx.release.vmi_finalizers,
                                                                       C.FINALIZER_VM_CONTROLLER),
                         status=True)
