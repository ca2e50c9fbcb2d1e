"""VirtualMachine controller: run strategies, state change requests, VMI creation and deletion (§1.4, §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors
from ..resources import PVCS, VMIS, VMS, dig
from ..store import Event
from ..cdi.kinds import DATAVOLUMES
from . import constants as C
from .context import KubeVirtContext, context_of
from .datavolumes import DataVolumeError, handle_data_volumes
from .instancetypes import InstancetypeError, expand_into_vmi, store_revisions
from .util import add_finalizer, is_owned_by, remove_condition, remove_finalizers, set_condition
from .vm_status import (
    has_start_request, has_stop_request_for, printable_status, start_request_paused, sync_conditions,
    trim_first_request, vmi_final,
)
from .vmi_spec import RunStrategyError, run_strategy, vmi_from_vm

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]


class VMController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None
        # VM key → (when the VMI changed, when the delayed reconcile runs)
        self._sync_pending: dict[tuple[str, str, str], tuple[float, float]] = {}

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.queue.register("vm", self.reconcile)
        ctx.watch(VMS, self._on_vm)
        ctx.watch(VMIS, self._on_vmi)
        ctx.watch(PVCS, self._on_pvc)
        ctx.watch(DATAVOLUMES, self._on_pvc)  # a DataVolume's phase moves the VM's status and start

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    # ------------------------------------------------------------ events

    def _on_vm(self, ev: Event) -> None:
        if ev.type != "DELETED":
            assert self.ctx is not None
            self.ctx.queue.add("vm", ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"])

    def _on_vmi(self, ev: Event) -> None:
        """A VMI changed: the VM controller reconciles after ``vm.sync`` (its work queue may coalesce
        several VMI updates into one reconcile, so a short-lived VMI state need never reach the VM)."""
        ctx = self.ctx
        assert ctx is not None
        meta = ev.obj["metadata"]
        owner = next((r for r in meta.get("ownerReferences") or [] if r.get("kind") == "VirtualMachine"), None)
        key = ("vm", meta["namespace"], owner.get("name", meta["name"]) if owner else meta["name"])
        now = ctx.loop.time()
        if self._sync_pending.get(key, (0.0, -1.0))[1] > now:
            return  # a reconcile is already due; it reads whatever the VMI is by then
        delay = ctx.duration("vm.sync", key)
        if delay <= 0:
            ctx.queue.add(*key)
            return
        self._sync_pending[key] = (now, now + delay)
        ctx.queue.add_after(delay, *key)

    def _on_pvc(self, ev: Event) -> None:
        assert self.ctx is not None
        ns = ev.obj["metadata"].get("namespace")
        for vm in self.ctx.store.items(VMS, ns):
            self.ctx.queue.add("vm", vm["metadata"]["namespace"], vm["metadata"]["name"])

    # ------------------------------------------------------------ reconcile

    def _vmi_of(self, vm: Obj) -> Obj | None:
        assert self.ctx is not None
        vmi = self.ctx.store.peek(VMIS, vm["metadata"]["namespace"], vm["metadata"]["name"])
        if vmi is not None and not is_owned_by(vmi, vm):
            return None
        return vmi

    def reconcile(self, ns: str, name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        pending = self._sync_pending.pop(("vm", ns, name), None)
        if pending is not None and ctx.gates.recorder is not None:  # the lag is the cluster's time (metrics)
            ctx.gates.recorder.transition(("vm", ns, name), "sync", "vm.sync", "vm.sync", pending[0],
                                          ctx.loop.time(), True)
        vm = ctx.store.peek(VMS, ns, name)
        if vm is None or ctx.observe_api_version(VMS, vm):
            return
        vmi = self._vmi_of(vm)
        if vm["metadata"].get("deletionTimestamp"):
            if vmi is not None and not vmi["metadata"].get("deletionTimestamp"):
                self._stop_vmi(vm, vmi)
            vmi = self._vmi_of(vm)
            self._update_status(vm, vmi)
            if vmi is None:
                ctx.store.mutate(VMS, ns, name, lambda o: remove_finalizers(o, C.FINALIZER_VM_CONTROLLER))
            return
        if C.FINALIZER_VM_CONTROLLER not in (vm["metadata"].get("finalizers") or []):
            vm = ctx.store.mutate(VMS, ns, name, lambda o: add_finalizer(o, C.FINALIZER_VM_CONTROLLER)) or vm
        try:
            strategy = run_strategy(vm)
        except RunStrategyError as exc:
            self._update_status(vm, vmi, failure=str(exc))
            return
        # DataVolumes from dataVolumeTemplates first; a VM (not Halted) starts only once they are populated.
        try:
            volumes_ready = handle_data_volumes(ctx, vm)
        except DataVolumeError as exc:
            self._update_status(vm, vmi, failure=f"Error encountered while creating DataVolumes: {exc}")
            return
        if not volumes_ready and strategy != C.HALTED:
            self._update_status(ctx.store.peek(VMS, ns, name) or vm, vmi)
            return
        try:  # the instance type and preference, kept as ControllerRevisions before anything starts
            store_revisions(ctx, vm)
        except InstancetypeError as exc:
            self._update_status(vm, vmi, failure=f"Error encountered while storing Instancetype ControllerRevisions: {exc}")
            return
        vm = ctx.store.peek(VMS, ns, name) or vm
        # Requests already satisfied are dropped first, so a restart goes Stopping → Starting directly.
        self._trim_requests(vm, vmi)
        vm = ctx.store.peek(VMS, ns, name) or vm
        self._sync_run_strategy(vm, vmi, strategy)
        vm = ctx.store.peek(VMS, ns, name)
        if vm is None:
            return
        self._update_status(vm, self._vmi_of(vm))

    def _trim_requests(self, vm: Obj, vmi: Obj | None) -> None:
        assert self.ctx is not None
        before = dig(vm, "status", "stateChangeRequests")
        probe = {"stateChangeRequests": list(before or [])}
        trim_first_request(probe, vmi)
        if probe.get("stateChangeRequests", []) != list(before or []):
            def fn(o: Obj) -> None:
                st = o.setdefault("status", {})
                if probe.get("stateChangeRequests"):
                    st["stateChangeRequests"] = probe["stateChangeRequests"]
                else:
                    st.pop("stateChangeRequests", None)
            meta = vm["metadata"]
            self.ctx.store.mutate(VMS, meta["namespace"], meta["name"], fn, status=True)

    def _sync_run_strategy(self, vm: Obj, vmi: Obj | None, strategy: str) -> None:
        """``syncRunStrategy`` (pkg/virt-controller/watch/vm/vm.go)."""
        ctx = self.ctx
        assert ctx is not None
        meta = vm["metadata"]
        if strategy == C.ALWAYS:
            if vmi is not None:
                if has_stop_request_for(vm, vmi) or vmi_final(vmi):
                    self._stop_vmi(vm, vmi)
                return
            self._start_vmi(vm)
        elif strategy == C.RERUN_ON_FAILURE:
            if vmi is not None:
                failed = dig(vmi, "status", "phase") == C.FAILED
                if not vmi["metadata"].get("deletionTimestamp") and (
                        has_stop_request_for(vm, vmi) or failed or dig(vmi, "status", "phase") == C.SUCCEEDED):
                    self._stop_vmi(vm, vmi)
                    if failed:
                        self._add_start_request(vm)
                return
            if has_start_request(vm) or dig(vm, "status", "runStrategy") != strategy:
                self._start_vmi(vm)
        elif strategy == C.MANUAL:
            if vmi is not None:
                if has_stop_request_for(vm, vmi):
                    self._stop_vmi(vm, vmi)
            elif has_start_request(vm):
                self._start_vmi(vm)
        elif strategy == C.HALTED:
            if vmi is None:
                if has_start_request(vm):
                    def flip(o: Obj) -> None:
                        if o["spec"].get("runStrategy") is not None:
                            o["spec"]["runStrategy"] = C.ALWAYS
                        else:
                            o["spec"]["running"] = True
                    ctx.store.mutate(VMS, meta["namespace"], meta["name"], flip)
                return
            if ctx.behaviour.stop_takes_effect(vm, vmi):
                self._stop_vmi(vm, vmi)
        elif strategy == C.ONCE:
            if vmi is None:
                self._start_vmi(vm)

    def _start_vmi(self, vm: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = vm["metadata"]
        if dig(vm, "spec", "template") is None:
            return
        obj = vmi_from_vm(vm, start_paused=start_request_paused(vm))
        try:
            expand_into_vmi(ctx, vm, obj)
        except InstancetypeError as exc:  # the next reconcile's store_revisions reports it as Failure
            ctx.events.record(vm, C.EV_WARNING, "FailedCreate", str(exc), C.COMPONENT_VM)
            return
        obj["status"] = {"virtualMachineRevisionName":
                         f"revision-start-vm-{meta['uid']}-{meta.get('generation', 1)}"}
        try:
            created = ctx.store.create(VMIS, obj, meta["namespace"])
        except errors.ApiError as err:
            ctx.events.record(vm, C.EV_WARNING, "FailedCreate",
                              f"Error creating virtual machine instance: {err.message}", C.COMPONENT_VM)
            return
        ctx.store.mutate(VMS, meta["namespace"], meta["name"],
                         lambda o: remove_condition(o.setdefault("status", {}), C.COND_RESTART_REQUIRED),
                         status=True)
        ctx.events.record(vm, C.EV_NORMAL, "SuccessfulCreate",
                          f"Started the virtual machine by creating the new virtual machine instance "
                          f"{created['metadata']['name']}", C.COMPONENT_VM)

    def _stop_vmi(self, vm: Obj, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        if vmi["metadata"].get("deletionTimestamp"):
            return
        try:
            ctx.store.delete(VMIS, vmi["metadata"]["namespace"], vmi["metadata"]["name"],
                             {"preconditions": {"uid": vmi["metadata"]["uid"]}})
        except errors.ApiError as err:
            ctx.events.record(vm, C.EV_WARNING, "FailedDelete",
                              f"Error deleting virtual machine instance {vmi['metadata']['name']}: {err.message}",
                              C.COMPONENT_VM)
            return
        meta = vm["metadata"]
        ctx.store.mutate(VMS, meta["namespace"], meta["name"],
                         lambda o: remove_condition(o.setdefault("status", {}), C.COND_RESTART_REQUIRED),
                         status=True)
        ctx.events.record(vm, C.EV_NORMAL, "SuccessfulDelete",
                          f"Stopped the virtual machine by deleting the virtual machine instance "
                          f"{vmi['metadata']['uid']}", C.COMPONENT_VM)

    def _add_start_request(self, vm: Obj) -> None:
        assert self.ctx is not None
        meta = vm["metadata"]

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            st["stateChangeRequests"] = list(st.get("stateChangeRequests") or []) + [{"action": C.START_REQUEST}]

        self.ctx.store.mutate(VMS, meta["namespace"], meta["name"], fn, status=True)

    def _update_status(self, vm: Obj, vmi: Obj | None, failure: str | None = None) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = vm["metadata"]
        try:
            strategy: str | None = run_strategy(vm)
        except RunStrategyError:
            strategy = None

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            created = vmi is not None
            ready = created and any(c.get("type") == C.COND_READY and c.get("status") == "True"
                                    for c in dig(vmi, "status", "conditions", default=[]) or [])
            for field, value in (("created", created), ("ready", ready)):
                if value:
                    st[field] = True
                else:
                    st.pop(field, None)
            if vmi is not None:
                gen = (vmi["metadata"].get("annotations") or {}).get(C.ANNO_VM_GENERATION)
                if gen and gen.isdigit():
                    st["observedGeneration"] = int(gen)
                    st["desiredGeneration"] = int(o["metadata"].get("generation", 1))
            if strategy is not None and (st.get("runStrategy") or created):
                st["runStrategy"] = strategy
            trim_first_request(st, vmi)
            if st.get("startFailure"):
                vmi_running = vmi is not None and dig(vmi, "status", "phase") == C.RUNNING
                if vmi_running or strategy not in (C.ALWAYS, C.RERUN_ON_FAILURE, C.ONCE):
                    st.pop("startFailure", None)
            sync_conditions(st, vmi)
            if failure:
                set_condition(st, C.COND_FAILURE, "True", "FailedCreate", failure)
            else:
                remove_condition(st, C.COND_FAILURE)
            st["printableStatus"] = ctx.behaviour.shown_status(printable_status(ctx.store, o, vmi), vmi)

        ctx.store.mutate(VMS, meta["namespace"], meta["name"], fn, status=True)
        if vmi is not None and vmi_final(vmi) and not vmi["metadata"].get("deletionTimestamp") and \
                C.FINALIZER_VM_CONTROLLER in (vmi["metadata"].get("finalizers") or []):
            ctx.store.mutate(VMIS, vmi["metadata"]["namespace"], vmi["metadata"]["name"],
                             lambda o: remove_finalizers(o, C.FINALIZER_VM_CONTROLLER), status=True)
