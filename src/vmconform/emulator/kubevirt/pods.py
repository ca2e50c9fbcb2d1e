"""Playing scheduler and kubelet for virt-launcher pods: binding, start-up, graceful deletion."""

from __future__ import annotations

from typing import Any

from ..resources import NODES, PODS, SECRETS, VMIS, ResourceType, dig
from ..timeutil import now_rfc3339
from .constants import COMPONENT_SCHEDULER, EV_WARNING, LABEL_APP, LAUNCHER_VALUE, READINESS_GATE_UNPAUSED
from .context import KubeVirtContext
from .indexes import POD_CREATED_BY
from .launcher import (
    GATE_NOT_PAUSED, GATE_PAUSED, ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF, image_pull_message, image_pull_state, mark_image_pull, mark_running,
    mark_scheduled, mark_unschedulable, pod_final, unpullable,
)
from .scheduler import IpAllocator, schedule
from .secret_mounts import failed_mount_message, missing_secret
from .util import get_condition, set_condition
from .workqueue import Key

Obj = dict[str, Any]

KUBELET_QUEUE = "launcher-pod"  # work-queue kind of the emulated kubelet's pod terminations

# What ``PodDriver.advance`` reports.
TERMINATING, FINISHED, UNSCHEDULABLE, SCHEDULING, STARTING, RUNNING, IMAGE_PULL = (
    "terminating", "finished", "unschedulable", "scheduling", "starting", "running", "image-pull")


def is_launcher(pod: Obj) -> bool:
    return (pod["metadata"].get("labels") or {}).get(LABEL_APP) == LAUNCHER_VALUE


def pods_of(ctx: KubeVirtContext, vmi: Obj) -> list[Obj]:
    """All pods controlled by the VMI (label ``kubevirt.io/created-by``), oldest first."""
    out = ctx.store.by_index(PODS, POD_CREATED_BY, (vmi["metadata"]["namespace"], vmi["metadata"]["uid"]))
    out.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
    return out


class PodDriver:
    """Moves launcher pods from Pending to Running and terminates deleted ones after a grace step."""

    def __init__(self, ctx: KubeVirtContext) -> None:
        self.ctx = ctx
        self.ips = IpAllocator()
        ctx.store.delete_hooks[PODS.key] = self._delete_hook
        ctx.queue.register(KUBELET_QUEUE, self._reap)
        ctx.watch(PODS, lambda ev: ctx.gates.reset(ev.obj["metadata"]["uid"]) if ev.type == "DELETED" else None)
        # Launcher pods waiting for a Secret to mount: (namespace, secret) → VMI work-queue keys.
        self._secret_waiters: dict[tuple[str, str], set[Key]] = {}
        ctx.watch(SECRETS, self._on_secret)

    # ------------------------------------------------------------ start-up

    def advance(self, pod: Obj, requeue: Key) -> str:
        ctx = self.ctx
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        if meta.get("deletionTimestamp"):
            return TERMINATING
        if pod_final(pod):
            return FINISHED
        if not dig(pod, "spec", "nodeName"):
            cond = get_condition(pod, "PodScheduled")
            waiting = UNSCHEDULABLE if cond is not None and cond.get("status") == "False" else SCHEDULING
            if not ctx.gate(uid, "pod", "schedule", "pod.schedule", requeue):
                return waiting
            placement = schedule(ctx.store, pod)
            if placement.node is None:
                if cond is None or cond.get("message") != placement.message:
                    ctx.store.mutate(PODS, ns, name, lambda o: mark_unschedulable(o, placement.message), status=True)
                    ctx.events.record(pod, EV_WARNING, "FailedScheduling", placement.message, COMPONENT_SCHEDULER)
                return UNSCHEDULABLE
            node = ctx.store.peek(NODES, None, placement.node)
            host_ip = next((a.get("address") for a in dig(node, "status", "addresses", default=[]) or []
                            if a.get("type") == "InternalIP"), "") if node else ""
            ctx.store.mutate(PODS, ns, name, lambda o: mark_scheduled(o, placement.node or "", host_ip))
            ctx.events.record(pod, "Normal", "Scheduled",
                              f"Successfully assigned {ns}/{name} to {placement.node}", COMPONENT_SCHEDULER)
            return STARTING
        if dig(pod, "status", "phase") != "Running":
            missing = missing_secret(ctx.store, pod)
            if missing is not None:
                return self._failed_mount(pod, missing, requeue)
            bad = next((c for c in dig(pod, "spec", "containers", default=[]) or []
                        if unpullable(str(c.get("image", "")))), None)
            if bad is not None:
                return self._image_pull(pod, bad, requeue)
            if not ctx.gate(uid, "pod", "start", "pod.start", requeue):
                return STARTING
            ip = self.ips.allocate(ctx.store, pod["spec"]["nodeName"])
            ctx.store.mutate(PODS, ns, name, lambda o: mark_running(o, ip), status=True)
            return RUNNING
        return RUNNING

    def _failed_mount(self, pod: Obj, missing: tuple[str, str], requeue: Key) -> str:
        """kubelet cannot mount a missing Secret: the pod waits (ContainerCreating) until it exists."""
        meta = pod["metadata"]
        waiters = self._secret_waiters.setdefault((meta["namespace"], missing[1]), set())
        if requeue not in waiters:
            waiters.add(requeue)
            self.ctx.events.record(pod, EV_WARNING, "FailedMount", failed_mount_message(*missing), "kubelet",
                                   dig(pod, "spec", "nodeName"))
        return STARTING

    def _on_secret(self, ev: Any) -> None:
        if ev.type == "DELETED":
            return
        meta = ev.obj["metadata"]
        for key in self._secret_waiters.pop((meta.get("namespace"), meta["name"]), set()):
            self.ctx.queue.add(*key)

    def _image_pull(self, pod: Obj, container: Obj, requeue: Key) -> str:
        """kubelet never gets the image: ErrImagePull and ImagePullBackOff take turns."""
        ctx = self.ctx
        meta = pod["metadata"]
        state = image_pull_state(pod)
        current = state[1] if state else "ContainerCreating"
        step = "pod.image_backoff" if state else "pod.start"
        if not ctx.gate(meta["uid"], "pod", f"pull:{current}", step, requeue):
            return IMAGE_PULL if state else STARTING
        nxt = IMAGE_PULL_BACKOFF if current == ERR_IMAGE_PULL else ERR_IMAGE_PULL
        name = container.get("name", "")
        ctx.store.mutate(PODS, meta["namespace"], meta["name"], lambda o: mark_image_pull(o, name, nxt), status=True)
        image = str(container.get("image", ""))
        if nxt == ERR_IMAGE_PULL:
            ctx.events.record(pod, EV_WARNING, "Failed", f'Failed to pull image "{image}": '
                              + image_pull_message(nxt, image), "kubelet", dig(pod, "spec", "nodeName"))
        else:
            ctx.events.record(pod, "Normal", "BackOff", image_pull_message(nxt, image), "kubelet",
                              dig(pod, "spec", "nodeName"))
        return IMAGE_PULL

    # ------------------------------------------------------------ deletion

    def _delete_hook(self, res: ResourceType, pod: Obj, options: dict[str, Any]) -> bool:
        """Graceful pod deletion (kube-apiserver's pod strategy, kubelet): a pod that runs on a node
        gets a deletionTimestamp and stays listed, Terminating, until the emulated kubelet ends it;
        a pod that never got a node, has finished, or is deleted with grace 0 goes at once."""
        meta = pod["metadata"]
        grace = options.get("gracePeriodSeconds")
        if meta.get("deletionTimestamp"):
            current = int(meta.get("deletionGracePeriodSeconds") or 0)
            if grace is not None and int(grace) < current:  # a second DELETE may only shorten the grace
                if int(grace) <= 0:
                    return False
                self.ctx.store.mutate(PODS, meta["namespace"], meta["name"],
                                      lambda o: o["metadata"].update({"deletionGracePeriodSeconds": int(grace)}),
                                      status=True)
                self.ctx.gates.reset(meta["uid"], "kubelet")
                self.ctx.queue.add(KUBELET_QUEUE, meta["namespace"], meta["name"])
            return True
        if pod_final(pod) or not dig(pod, "spec", "nodeName"):
            return False
        if grace is None:
            grace = dig(pod, "spec", "terminationGracePeriodSeconds", default=30)
        if int(grace) <= 0:
            return False

        def mark(o: Obj) -> None:
            o["metadata"]["deletionTimestamp"] = now_rfc3339()
            o["metadata"]["deletionGracePeriodSeconds"] = int(grace)

        self.ctx.store.mutate(PODS, meta["namespace"], meta["name"], mark, status=True)
        self.ctx.queue.add(KUBELET_QUEUE, meta["namespace"], meta["name"])
        return True

    def _reap(self, ns: str, name: str) -> None:
        """The kubelet of a Terminating pod: once its containers have exited (``pod.terminate``,
        at most the grace period) the pod is removed.  A launcher pod of a VMI that is shutting
        down waits for the VMI to be final: virt-launcher exits when the domain is gone."""
        ctx = self.ctx
        pod = ctx.store.peek(PODS, ns, name)
        if pod is None or not pod["metadata"].get("deletionTimestamp"):
            return
        owner = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
        if owner is not None and is_launcher(pod) and not pod_final(pod):
            vmi = ctx.store.peek(VMIS, ns, owner.get("name", ""))
            if (vmi is not None and vmi["metadata"]["uid"] == owner.get("uid")
                    and vmi["metadata"].get("deletionTimestamp")
                    and dig(vmi, "status", "phase") == "Running"):
                return  # the VMI's own shutdown finishes this pod
        grace = int(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        key = (KUBELET_QUEUE, ns, name)
        seconds = 0.0 if grace == 0 else min(ctx.duration("pod.terminate", key), float(grace))
        if ctx.gate(pod["metadata"]["uid"], "kubelet", f"terminate:{grace}", seconds, key):
            self.finish(ns, name)

    def finish(self, ns: str, name: str) -> None:
        """Remove a pod now (its containers have exited)."""
        if self.ctx.store.peek(PODS, ns, name) is not None:
            self.ctx.store.finish_delete(PODS, ns, name)


# ---------------------------------------------------------------- pause: readiness gate, then kubelet (W7/W8)


def gate_status(pod: Obj) -> str | None:
    """The launcher pod's ``kubevirt.io/virtual-machine-unpaused`` condition status, if set."""
    cond = get_condition(pod, READINESS_GATE_UNPAUSED)
    return cond.get("status") if cond else None


def write_gate(pod: Obj, paused: bool) -> None:
    """virt-controller's ``syncPausedConditionToPod``: only the readiness-gate condition changes."""
    reason, message = GATE_PAUSED if paused else GATE_NOT_PAUSED
    set_condition(pod.setdefault("status", {}), READINESS_GATE_UNPAUSED, "False" if paused else "True",
                  reason, message, probe=True)


def kubelet_ready(pod: Obj) -> tuple[str, str, str]:
    """The Ready condition the kubelet computes from the containers and the readiness gates."""
    containers = get_condition(pod, "ContainersReady") or {}
    if containers.get("status") != "True":
        return "False", containers.get("reason", "ContainersNotReady"), containers.get("message", "")
    for gate in dig(pod, "spec", "readinessGates", default=[]) or []:
        ctype = gate.get("conditionType", "")
        cond = get_condition(pod, ctype)
        if cond is None or cond.get("status") != "True":
            status = cond.get("status", "") if cond else ""
            return ("False", "ReadinessGatesNotReady",
                    f'the status of pod readiness gate "{ctype}" is not "True", but {status}' if status
                    else f'corresponding condition of pod readiness gate "{ctype}" does not exist.')
    return "True", "", ""


def write_ready(pod: Obj) -> None:
    status, reason, message = kubelet_ready(pod)
    set_condition(pod.setdefault("status", {}), "Ready", status, reason, message)
