"""VirtualMachineInstance lifecycle: "" → Pending → Scheduling → Scheduled → Running → Succeeded/Failed.

Plays virt-controller's VMI controller and virt-handler: the launcher pod, nodeName,
interfaces, conditions (Ready, Paused, LiveMigratable, …), pause/unpause, guest power
events and graceful deletion (§3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..resources import NODES, PODS, PVCS, VMIS, ResourceType, dig
from ..store import Event
from ..timeutil import now_rfc3339
from . import constants as C
from .context import context_of
from .guest_info import guest_os_info
from .guests import GuestHandle
from .indexes import VMI_PHASE
from .launcher import (
    ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF, image_pull_state, launcher_pod, pod_final,
)
from .pods import (
    IMAGE_PULL, RUNNING, TERMINATING, UNSCHEDULABLE, PodDriver, gate_status, is_launcher, kubelet_ready, pods_of,
    write_gate, write_ready,
)
from .util import add_finalizer, copy_condition, get_condition, has_condition, remove_condition, set_condition
from .vmi_shutdown import VMIBase
from .datavolumes import booted_image
from .vmi_spec import (
    apply_defaults, guest_image, has_guest_agent, hostname, migratability, pvc_volumes, volume_status,
)
from .vmi_status import VmiRuntime, ready_preview, set_phase, sync_ready

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]


class VMIController(VMIBase):

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.vmi_controller = self
        self.pods = PodDriver(ctx)
        ctx.queue.register("vmi", self.reconcile)
        ctx.store.admitters.append(self._admit)
        ctx.store.delete_hooks[VMIS.key] = self._delete_hook
        ctx.watch(VMIS, self._on_vmi)
        ctx.watch(PODS, self._on_pod)
        ctx.watch(NODES, lambda ev: self._retry_unscheduled(None))
        ctx.watch(PVCS, lambda ev: self._retry_unscheduled(ev.obj["metadata"].get("namespace")))

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    # ------------------------------------------------------------ public hooks (subresources, console)

    def request_pause(self, ns: str, name: str, paused: bool) -> None:
        vmi = self._vmi(ns, name)
        if vmi is not None:
            self.rt(vmi["metadata"]["uid"]).want_paused = paused
            self._enqueue(ns, name)

    def pause_pending(self, vmi: Obj) -> bool:
        rt = self.runtime.get(vmi["metadata"]["uid"])
        return bool(rt and rt.want_paused is True)

    def request_softreboot(self, ns: str, name: str) -> None:
        vmi = self._vmi(ns, name)
        if vmi is not None:
            self.rt(vmi["metadata"]["uid"]).softreboot = True
            self._enqueue(ns, name)

    def guest_power(self, namespace: str, name: str, action: str, uid: str | None = None) -> None:
        """The guest asked to power off or reboot (console ``poweroff``/``reboot``)."""
        if action not in ("poweroff", "reboot", "halt", "shutdown"):
            raise ValueError(f"unknown guest power action {action!r}")
        vmi = self._vmi(namespace, name)
        if vmi is None or (uid is not None and vmi["metadata"]["uid"] != uid):
            return
        self.rt(vmi["metadata"]["uid"]).power = "reboot" if action == "reboot" else "poweroff"
        self._enqueue(namespace, name)

    def interfaces(self, vmi: Obj, ip: str) -> list[Obj]:
        spec = vmi.get("spec") or {}
        nets = {n.get("name"): n for n in spec.get("networks") or []}
        seed = self.rt(vmi["metadata"]["uid"]).mac_seed
        out: list[Obj] = []
        for i, iface in enumerate(dig(spec, "domain", "devices", "interfaces", default=[]) or []):
            mac = iface.get("macAddress") or "52:54:00:%02x:%02x:%02x" % ((seed >> 16) & 255, (seed >> 8) & 255,
                                                                          (seed + i) & 255)
            entry: Obj = {"name": iface.get("name", ""), "mac": mac, "interfaceName": f"eth{i}",
                          "infoSource": "domain", "queueCount": 1, "linkState": "up"}
            if "pod" in (nets.get(iface.get("name")) or {}):
                entry.update({"ipAddress": ip, "ipAddresses": [ip], "podInterfaceName": "eth0",
                              "infoSource": "domain, guest-agent" if has_guest_agent(guest_image(spec)) else "domain"})
            out.append(entry)
        return out

    # ------------------------------------------------------------ admission and deletion

    def _admit(self, op: str, res: ResourceType, obj: Obj, old: Obj | None) -> None:
        if res is not VMIS or op != "CREATE":
            return
        apply_defaults(obj.setdefault("spec", {}))
        add_finalizer(obj, self.ctx.release.vmi_finalizer if self.ctx is not None else C.FINALIZER_VMI)
        keep = {k: v for k, v in (obj.get("status") or {}).items() if k == "virtualMachineRevisionName"}
        obj["status"] = keep

    def _delete_hook(self, res: ResourceType, vmi: Obj, options: dict[str, Any]) -> bool:
        assert self.ctx is not None
        meta = vmi["metadata"]
        if meta.get("deletionTimestamp"):
            return True
        grace = options.get("gracePeriodSeconds")
        rt = self.rt(meta["uid"])
        if grace is not None:
            rt.delete_grace = int(grace)

        def mark(o: Obj) -> None:  # custom resources have no graceful deletion: the grace goes to virt-handler
            o["metadata"]["deletionTimestamp"] = now_rfc3339()
            o["metadata"]["deletionGracePeriodSeconds"] = 0

        self.ctx.store.mutate(VMIS, meta["namespace"], meta["name"], mark, status=True)
        self._enqueue(meta["namespace"], meta["name"])
        return True

    # ------------------------------------------------------------ events

    def _vmi(self, ns: str, name: str) -> Obj | None:
        assert self.ctx is not None
        return self.ctx.store.peek(VMIS, ns, name)

    def _enqueue(self, ns: str, name: str) -> None:
        assert self.ctx is not None
        self.ctx.queue.add("vmi", ns, name)

    def _on_vmi(self, ev: Event) -> None:
        meta = ev.obj["metadata"]
        if ev.type == "DELETED":
            assert self.ctx is not None
            self.runtime.pop(meta["uid"], None)
            self.ctx.gates.reset(meta["uid"])
            self.ctx.guests.drop(meta["namespace"], meta["name"], meta["uid"])
            return
        self._enqueue(meta["namespace"], meta["name"])

    def _on_pod(self, ev: Event) -> None:
        pod = ev.obj
        if not is_launcher(pod):
            if ev.type == "DELETED":
                self._retry_unscheduled(None)
            return
        owner = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
        if owner is not None:
            self._enqueue(pod["metadata"]["namespace"], owner.get("name", ""))
        if ev.type == "DELETED" or pod_final(pod):
            self._retry_unscheduled(None)

    def _retry_unscheduled(self, namespace: str | None) -> None:
        assert self.ctx is not None
        for vmi in self.ctx.store.by_index_any(VMIS, VMI_PHASE, (C.PENDING, C.SCHEDULING)):
            if not namespace or vmi["metadata"]["namespace"] == namespace:
                self._enqueue(vmi["metadata"]["namespace"], vmi["metadata"]["name"])

    # ------------------------------------------------------------ reconcile

    def reconcile(self, ns: str, name: str) -> None:
        assert self.ctx is not None
        vmi = self._vmi(ns, name)
        if vmi is None or (not vmi["metadata"].get("deletionTimestamp") and self.ctx.observe_api_version(VMIS, vmi)):
            return
        rt = self.rt(vmi["metadata"]["uid"])
        if vmi["metadata"].get("deletionTimestamp"):
            self._teardown(vmi, rt)
            return
        phase = dig(vmi, "status", "phase", default="") or ""
        if phase == C.PHASE_UNSET:
            self._to_pending(vmi)
        elif phase == C.PENDING:
            self._pending(vmi)
        elif phase == C.SCHEDULING:
            self._scheduling(vmi)
        elif phase == C.SCHEDULED:
            self._scheduled(vmi)
        elif phase == C.RUNNING:
            self._running(vmi, rt)
        elif phase in C.FINAL_PHASES:
            self._final(vmi)

    def _to_pending(self, vmi: Obj) -> None:
        assert self.ctx is not None
        if not self.ctx.gate(vmi["metadata"]["uid"], "life", "pending", "vmi.pending", self._key(vmi)):
            return
        spec = vmi.get("spec") or {}

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            set_phase(st, C.PENDING)
            sync_ready(st, None)
            st.setdefault("guestOSInfo", {})
            st["qosClass"] = "Burstable"
            st["currentCPUTopology"] = {"sockets": int(dig(spec, "domain", "cpu", "sockets", default=1) or 1),
                                        "cores": int(dig(spec, "domain", "cpu", "cores", default=1) or 1),
                                        "threads": int(dig(spec, "domain", "cpu", "threads", default=1) or 1)}
            mem = dig(spec, "domain", "memory", "guest")
            if mem:
                st["memory"] = {"guestAtBoot": mem, "guestCurrent": mem, "guestRequested": mem}

        self._write(vmi, fn)

    def _pending(self, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = vmi["metadata"]
        ns = meta["namespace"]
        missing = [c for _v, c in pvc_volumes(vmi.get("spec") or {}) if ctx.store.peek(PVCS, ns, c) is None]
        if missing:
            message = f"PVC {ns}/{missing[0]} does not exist, waiting for it to appear"
            if not has_condition(vmi, C.COND_SYNCHRONIZED, "False", C.REASON_FAILED_PVC_NOT_FOUND):
                self._write(vmi, lambda o: set_condition(o.setdefault("status", {}), C.COND_SYNCHRONIZED, "False",
                                                         C.REASON_FAILED_PVC_NOT_FOUND, message))
                self._event(vmi, C.EV_NORMAL, C.REASON_FAILED_PVC_NOT_FOUND, message, handler=False)
            return
        if has_condition(vmi, C.COND_SYNCHRONIZED, reason=C.REASON_FAILED_PVC_NOT_FOUND):
            self._write(vmi, lambda o: remove_condition(o["status"], C.COND_SYNCHRONIZED))
        if pods_of(ctx, vmi):
            pod: Obj | None = self.current_pod(vmi)
        else:
            if not ctx.gate(meta["uid"], "life", "pod", "vmi.pod_create", self._key(vmi)):
                return
            pod = ctx.store.create(PODS, launcher_pod(vmi, release=ctx.release), ns)
            self._event(vmi, C.EV_NORMAL, "SuccessfulCreate", f"Created virtual machine pod {pod['metadata']['name']}",
                        handler=False)

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            set_phase(st, C.SCHEDULING)
            st["activePods"] = self._active_pods(o)
            sync_ready(st, pod)

        self._write(vmi, fn)

    def _pod_gone(self, vmi: Obj, pod: Obj | None) -> bool:
        """A pod that vanished (or failed) under a started VMI fails the VMI."""
        if pod is None or (pod_final(pod) and not pod["metadata"].get("deletionTimestamp")):
            self._fail(vmi, "virt-launcher pod is gone")
            return True
        return False

    def _scheduling(self, vmi: Obj) -> None:
        assert self.pods is not None
        pod = self.current_pod(vmi)
        if self._pod_gone(vmi, pod):
            return
        assert pod is not None
        state = self.pods.advance(pod, self._key(vmi))
        pod = self.current_pod(vmi) or pod
        if state == UNSCHEDULABLE:
            cond = get_condition(pod, "PodScheduled") or {}
            if not has_condition(vmi, C.COND_POD_SCHEDULED, "False", C.REASON_UNSCHEDULABLE) or \
                    (get_condition(vmi, C.COND_POD_SCHEDULED) or {}).get("message") != cond.get("message"):
                self._write(vmi, lambda o: set_condition(o.setdefault("status", {}), C.COND_POD_SCHEDULED, "False",
                                                         C.REASON_UNSCHEDULABLE, cond.get("message", ""), probe=True))
            return
        if state == TERMINATING:
            self._write(vmi, lambda o: sync_ready(o.setdefault("status", {}), pod))
            return
        pulling = image_pull_state(pod) if state == IMAGE_PULL else None
        if pulling is not None:
            sync = get_condition(vmi, C.COND_SYNCHRONIZED) or {}
            if (sync.get("reason"), sync.get("message")) != pulling[1:]:
                self._write(vmi, lambda o: set_condition(o.setdefault("status", {}), C.COND_SYNCHRONIZED, "False",
                                                         pulling[1], pulling[2]))
        if state != RUNNING:
            if has_condition(vmi, C.COND_POD_SCHEDULED) or self._active_pods(vmi) != dig(vmi, "status",
                                                                                        "activePods"):
                def clear(o: Obj) -> None:
                    remove_condition(o.setdefault("status", {}), C.COND_POD_SCHEDULED)
                    o["status"]["activePods"] = self._active_pods(o)
                self._write(vmi, clear)
            return
        ctx = self.ctx
        assert ctx is not None
        node = pod["spec"]["nodeName"]

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            set_phase(st, C.SCHEDULED)
            st["nodeName"] = node
            o["metadata"].setdefault("labels", {})[C.LABEL_NODE_NAME] = node
            remove_condition(st, C.COND_POD_SCHEDULED)
            if (get_condition(o, C.COND_SYNCHRONIZED) or {}).get("reason") in (ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF):
                remove_condition(st, C.COND_SYNCHRONIZED)
            st["activePods"] = self._active_pods(o)
            st["launcherContainerImageVersion"] = ctx.release.launcher_image
            st["volumeStatus"] = volume_status(ctx.store, o["metadata"]["namespace"], o.get("spec") or {})
            st["runtimeUser"] = 107
            st["selinuxContext"] = "none"
            st["migrationTransport"] = "Unix"
            sync_ready(st, pod)

        self._write(vmi, fn)

    def _scheduled(self, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        pod = self.current_pod(vmi)
        if self._pod_gone(vmi, pod):
            return
        assert pod is not None
        if pod["metadata"].get("deletionTimestamp"):
            self._write(vmi, lambda o: sync_ready(o.setdefault("status", {}), pod))
            return
        meta = vmi["metadata"]
        if not ctx.gate(meta["uid"], "life", "boot", "vmi.boot", self._key(vmi)):
            return
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        spec = vmi.get("spec") or {}
        image = booted_image(ctx.store, ns, spec)  # a DataVolume's image from CDI's annotation
        handle = GuestHandle(ns, name, uid, image, hostname(vmi),
                             on_power=lambda action: self.guest_power(ns, name, action, uid),
                             has_agent=has_guest_agent(image))
        ctx.guests.put(handle)
        ctx.behaviour.boot_new_guest(handle)
        paused = spec.get("startStrategy") == "Paused"
        rt = self.rt(uid)
        if paused:
            ctx.behaviour.pause_guest(handle)
            rt.want_paused = None
        # a VMI started paused: the pod's readiness gate follows later, as after a pause (W7)
        ip = dig(pod, "status", "podIP", default="")

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            set_phase(st, C.RUNNING)
            live, storage, block = migratability(o, ctx.behaviour)
            copy_condition(st, live)
            if ctx.release.storage_live_migratable:
                copy_condition(st, storage)
            st["migrationMethod"] = C.BLOCK_MIGRATION if block else C.LIVE_MIGRATION
            st["interfaces"] = self.interfaces(o, ip)
            st["guestOSInfo"] = {}
            st["machine"] = {"type": "pc-q35-rhel9.6.0"}
            if paused:
                set_condition(st, C.COND_PAUSED, "True", *C.REASON_PAUSED_BY_USER, probe=True)
            sync_ready(st, pod)

        self._write(vmi, fn)
        self._event(vmi, C.EV_NORMAL, "Created", "VirtualMachineInstance defined.")
        self._event(vmi, C.EV_NORMAL, "Started", "VirtualMachineInstance started.")
        if paused:
            self._event(vmi, C.EV_NORMAL, "Paused", "VirtualMachineInstance paused")

    def _running(self, vmi: Obj, rt: VmiRuntime) -> None:
        ctx = self.ctx
        assert ctx is not None
        pod = self.current_pod(vmi)
        if self._pod_gone(vmi, pod):
            return
        assert pod is not None
        meta = vmi["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        key = self._key(vmi)
        handle = ctx.guests.get(ns, name, uid)
        if pod["metadata"].get("deletionTimestamp"):
            if not has_condition(vmi, C.COND_READY, "False", C.REASON_POD_TERMINATING[0]):
                self._write(vmi, lambda o: sync_ready(o.setdefault("status", {}), pod))
            return
        if rt.power is not None:
            step = "guest.poweroff" if rt.power == "poweroff" else "guest.reboot"
            if ctx.gate(uid, "power", rt.power, step, key):
                action, rt.power = rt.power, None
                if action == "poweroff":
                    self._finish(vmi, C.SUCCEEDED, "The VirtualMachineInstance was shut down.")
                    return
                if handle is not None:
                    handle.boot()
        if rt.softreboot and ctx.gate(uid, "softreboot", "softreboot", "vmi.softreboot", key):
            rt.softreboot = False
            if handle is not None:
                handle.boot()
            self._event(vmi, C.EV_NORMAL, "SoftRebooted", "VirtualMachineInstance soft rebooted")
        paused = has_condition(vmi, C.COND_PAUSED)
        if rt.want_paused is True and not paused:
            if ctx.gate(uid, "pause", "pause", "vmi.pause", key):
                rt.want_paused = None
                if ctx.behaviour.pause_takes_effect(vmi, True):
                    self._set_paused(vmi, pod, handle, True)
                return
        elif rt.want_paused is False and paused:
            if ctx.gate(uid, "pause", "unpause", "vmi.unpause", key):
                rt.want_paused = None
                if ctx.behaviour.pause_takes_effect(vmi, False):
                    self._set_paused(vmi, pod, handle, False)
                return
        elif rt.want_paused is not None:
            rt.want_paused = None
        pod = self._sync_pause_to_pod(vmi, pod, key)
        if handle is not None and handle.has_agent and not has_condition(vmi, C.COND_AGENT_CONNECTED) \
                and not paused and ctx.gate(uid, "agent", "connect", "guest.agent", key):
            image = handle.image

            def agent(o: Obj) -> None:
                st = o.setdefault("status", {})
                set_condition(st, C.COND_AGENT_CONNECTED, "True", probe=True)
                st["guestOSInfo"] = guest_os_info(image)
                for iface in st.get("interfaces") or []:
                    iface["infoSource"] = "domain, guest-agent"

            self._write(vmi, agent)
            return
        image = next((c.get("image") for c in dig(pod, "spec", "containers", default=[]) or []
                      if c.get("name") == "compute"), None)
        if image and not dig(vmi, "status", "launcherContainerImageVersion"):  # cleared by a migration's ack
            self._write(vmi, lambda o: o.setdefault("status", {}).update({"launcherContainerImageVersion": image}))
        if get_condition(vmi, C.COND_READY) != ready_preview(vmi, pod):
            self._write(vmi, lambda o: sync_ready(o.setdefault("status", {}), pod))

    def _set_paused(self, vmi: Obj, pod: Obj, handle: GuestHandle | None, paused: bool) -> None:
        """virt-handler: the domain is paused (resumed) and the VMI's Paused condition written — first
        and alone; the pod's readiness gate, the pod's Ready and the VMI's Ready follow (W7/W8)."""
        ctx = self.ctx
        assert ctx is not None
        if handle is not None:
            if paused:
                ctx.behaviour.pause_guest(handle)
            else:
                ctx.behaviour.unpause_guest(handle)

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            if paused:
                set_condition(st, C.COND_PAUSED, "True", *C.REASON_PAUSED_BY_USER, probe=True)
            else:
                remove_condition(st, C.COND_PAUSED)

        self._write(vmi, fn)
        if paused:
            self._event(vmi, C.EV_NORMAL, "Paused", "VirtualMachineInstance paused")
        else:
            self._event(vmi, C.EV_NORMAL, "Unpaused", "VirtualMachineInstance unpaused")

    def _sync_pause_to_pod(self, vmi: Obj, pod: Obj, key: tuple[str, str, str]) -> Obj:
        """virt-controller patches the pod's readiness gate after ``vmi.pause_gate``; the kubelet
        recomputes the pod's Ready after ``pod.readiness``.  Returns the pod as it is now."""
        ctx = self.ctx
        assert ctx is not None
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        paused = has_condition(vmi, C.COND_PAUSED, "True")
        want = "False" if paused else "True"
        if gate_status(pod) != want and ctx.gate(vmi["metadata"]["uid"], "podgate", want, "vmi.pause_gate", key):
            pod = ctx.store.mutate(PODS, ns, name, lambda o: write_gate(o, paused), status=True) or pod
        if dig(pod, "status", "phase") == "Running":
            ready = kubelet_ready(pod)[0]
            current = (get_condition(pod, "Ready") or {}).get("status")
            if current != ready and ctx.gate(pod["metadata"]["uid"], "readiness", ready, "pod.readiness", key):
                pod = ctx.store.mutate(PODS, ns, name, write_ready, status=True) or pod
        return ctx.store.peek(PODS, ns, name) or pod
