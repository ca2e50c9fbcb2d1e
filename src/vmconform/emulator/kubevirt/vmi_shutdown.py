"""The VMI controller's base: shared helpers, the end of a VMI (Succeeded/Failed) and graceful deletion."""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..resources import PODS, VMIS, dig
from . import constants as C
from .context import KubeVirtContext
from .launcher import grace_period, mark_finished, pod_final
from .pods import PodDriver, pods_of
from .util import remove_condition, remove_finalizers
from .vmi_status import VmiRuntime, is_final, set_phase, sync_ready

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

    def _finish(self, vmi: Obj, phase: str, message: str, warning: bool = False) -> None:
        """The domain is gone: the VMI becomes final and its live pods complete."""
        ctx = self.ctx
        assert ctx is not None
        meta = vmi["metadata"]
        ctx.guests.drop(meta["namespace"], meta["name"], meta["uid"])
        for pod in pods_of(ctx, vmi):
            if not pod_final(pod) and not pod["metadata"].get("deletionTimestamp"):
                ctx.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"],
                                 lambda o: mark_finished(o, phase == C.SUCCEEDED), status=True)
        pod = self.current_pod(vmi)

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            set_phase(st, phase)
            for ctype in (C.COND_PAUSED, C.COND_AGENT_CONNECTED):
                remove_condition(st, ctype)
            st["activePods"] = self._active_pods(o)
            sync_ready(st, pod)

        self._write(vmi, fn)
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
        ctx = self.ctx
        assert ctx is not None and self.pods is not None
        meta = vmi["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        key = self._key(vmi)
        if not is_final(vmi) and dig(vmi, "status", "phase") == C.RUNNING:
            for pod in pods_of(ctx, vmi):
                if not pod["metadata"].get("deletionTimestamp") and not pod_final(pod):
                    ctx.store.delete(PODS, ns, pod["metadata"]["name"])
                    self._event(vmi, C.EV_NORMAL, "SuccessfulDelete",
                                f"Deleted virtual machine pod {pod['metadata']['name']}", handler=False)
            if not rt.shutdown_signaled:
                rt.shutdown_signaled = True
                pod = self.current_pod(vmi)
                self._write(vmi, lambda o: sync_ready(o.setdefault("status", {}), pod))
                self._event(vmi, C.EV_NORMAL, "ShuttingDown", "Signaled Graceful Shutdown")
            grace = grace_period(vmi)
            if rt.delete_grace is not None:
                grace = min(grace, rt.delete_grace)
            seconds = (ctx.timing.duration("vmi.destroy") if grace <= 0
                       else min(ctx.timing.duration("vmi.shutdown"), float(grace)))
            if not ctx.gate(uid, "life", f"shutdown:{grace}", seconds, key):
                return
            if not ctx.behaviour.shutdown_completes(vmi):
                return
            phase = ctx.behaviour.shutdown_phase(vmi, grace_expired=False)
            for pod in pods_of(ctx, vmi):
                self.pods.finish(ns, pod["metadata"]["name"])
            vmi = ctx.store.peek(VMIS, ns, name) or vmi
            self._finish(vmi, phase, "The VirtualMachineInstance was shut down." if phase == C.SUCCEEDED
                         else "The VirtualMachineInstance crashed.", warning=phase != C.SUCCEEDED)
        elif not is_final(vmi):
            ctx.guests.drop(ns, name, uid)  # never ran a guest: nothing to shut down
        elif not ctx.gate(uid, "life", "finalize", "vmi.finalize", key):
            return
        for pod in pods_of(ctx, vmi):
            if not pod_final(pod) and not pod["metadata"].get("deletionTimestamp"):
                self._event(vmi, C.EV_NORMAL, "SuccessfulDelete",
                            f"Deleted virtual machine pod {pod['metadata']['name']}", handler=False)
            self.pods.finish(ns, pod["metadata"]["name"])
        ctx.store.mutate(VMIS, ns, name,
                         lambda o: remove_finalizers(o, *ctx.release.vmi_finalizers, C.FINALIZER_VM_CONTROLLER),
                         status=True)
