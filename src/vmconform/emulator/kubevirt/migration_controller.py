"""VirtualMachineInstanceMigration: phases, target pod, migrationState, limits, cancellation (§3.5, §4)."""

from __future__ import annotations

import asyncio

from typing import TYPE_CHECKING, Any

from ..resources import PODS, VMIMS, VMIS, dig
from ..store import Event
from ..timeutil import now_rfc3339, parse_rfc3339
from . import constants as C
from .bootstrap import migration_config
from .context import KubeVirtContext, context_of
from .indexes import POD_MIGRATION_JOB, VMIM_PHASE, VMIM_UID, VMIM_VMI
from .launcher import finish_migration_source, launcher_pod, mark_finished, pod_final
from .pods import FINISHED, RUNNING, TERMINATING, UNSCHEDULABLE, PodDriver, pods_of
from .util import remove_finalizers, set_condition

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]
CONFIG_KEYS = ("allowAutoConverge", "allowPostCopy", "allowWorkloadDisruption", "bandwidthPerMigration",
               "completionTimeoutPerGiB", "nodeDrainTaintKey", "parallelMigrationsPerCluster",
               "parallelOutboundMigrationsPerNode", "progressTimeout", "unsafeMigrationOverride",
               "matchSELinuxLevelOnMigration", "disableTLS", "utilityVolumesTimeout")


def _set_phase(status: Obj, phase: str) -> None:
    status["phase"] = phase
    status.setdefault("phaseTransitionTimestamps", []).append(
        {"phase": phase, "phaseTransitionTimestamp": now_rfc3339()})


def _age_seconds(obj: Obj) -> float:
    from datetime import datetime, timezone

    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return 0.0
    return (datetime.now(timezone.utc) - parse_rfc3339(created)).total_seconds()


class MigrationController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None
        self.pods: PodDriver | None = None
        self._warned: set[str] = set()
        # ((VMIM phase index, target pod index) generations, the running VMIMs' keys)
        self._running_at: tuple[tuple[int, int], list[tuple[str, str]]] | None = None
        # Pending VMIMs held back by the cluster-wide limit, oldest first: one retry tick lets in as
        # many as there are free slots (the others could not start anyway) instead of every one of
        # them retrying on its own timer — 1,000 queued migrations would keep the loop busy.
        self._waiting: dict[tuple[str, str, str], None] = {}
        self._slot_timer: asyncio.TimerHandle | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.migration_controller = self
        ctx.queue.register("vmim", self.reconcile)
        ctx.watch(VMIMS, self._on_vmim)
        ctx.watch(VMIS, self._on_vmi)
        ctx.watch(PODS, self._on_pod)

    async def stop(self) -> None:
        if self._slot_timer is not None:
            self._slot_timer.cancel()
            self._slot_timer = None
        if self.ctx is not None:
            self.ctx.close()

    @property
    def driver(self) -> PodDriver:
        assert self.ctx is not None
        if self.pods is None:
            vc = self.ctx.vmi_controller
            self.pods = vc.pods if vc is not None and vc.pods is not None else PodDriver(self.ctx)
        return self.pods

    # ------------------------------------------------------------ events

    def _on_vmim(self, ev: Event) -> None:
        assert self.ctx is not None
        if ev.type == "DELETED":
            self.ctx.gates.reset(ev.obj["metadata"]["uid"])
            self._warned.discard(ev.obj["metadata"]["uid"])
        else:
            self.ctx.queue.add("vmim", ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"])

    def _on_vmi(self, ev: Event) -> None:
        assert self.ctx is not None
        meta = ev.obj["metadata"]
        for mig in self.ctx.store.by_index(VMIMS, VMIM_VMI, (meta["namespace"], meta["name"])):
            if dig(mig, "status", "phase") not in C.MIG_FINAL or mig["metadata"].get("deletionTimestamp"):
                self.ctx.queue.add("vmim", meta["namespace"], mig["metadata"]["name"])

    def _on_pod(self, ev: Event) -> None:
        assert self.ctx is not None
        job = (ev.obj["metadata"].get("labels") or {}).get(C.LABEL_MIGRATION_JOB_UID)
        if not job:
            return
        for mig in self.ctx.store.by_index(VMIMS, VMIM_UID, (ev.obj["metadata"].get("namespace"), job)):
            if mig["metadata"]["uid"] == job:
                self.ctx.queue.add("vmim", mig["metadata"]["namespace"], mig["metadata"]["name"])

    # ------------------------------------------------------------ helpers

    def _key(self, mig: Obj) -> tuple[str, str, str]:
        return ("vmim", mig["metadata"]["namespace"], mig["metadata"]["name"])

    def _write(self, mig: Obj, fn: Any) -> None:
        assert self.ctx is not None
        self.ctx.store.mutate(VMIMS, mig["metadata"]["namespace"], mig["metadata"]["name"], fn, status=True)

    def _write_vmi(self, vmi: Obj, fn: Any) -> None:
        assert self.ctx is not None
        prune = self.ctx.release.prune  # fields this release's VMI does not have (releases.FIELDS_SINCE)
        self.ctx.store.mutate(VMIS, vmi["metadata"]["namespace"], vmi["metadata"]["name"],
                              lambda o: prune("VirtualMachineInstance", fn(o) or o), status=True)

    def _event(self, obj: Obj, type_: str, reason: str, message: str, handler: bool = False) -> None:
        assert self.ctx is not None
        self.ctx.events.record(obj, type_, reason, message,
                               C.COMPONENT_HANDLER if handler else C.COMPONENT_MIGRATION,
                               dig(obj, "status", "nodeName") if handler else None)

    def target_pod(self, mig: Obj) -> Obj | None:
        assert self.ctx is not None
        pods = self.ctx.store.by_index(PODS, POD_MIGRATION_JOB, (mig["metadata"]["namespace"], mig["metadata"]["uid"]))
        return pods[0] if pods else None

    def _running_migrations(self) -> list[Obj]:
        """Unfinished VMIMs in a running phase, plus Pending ones that already have a target pod (§4.4).

        Every queued VMIM asks on each retry; which ones they are is kept until a VMIM's phase or the
        set of target pods next changes (the objects are the stored ones of the moment)."""
        assert self.ctx is not None
        store = self.ctx.store
        seen = (store.index_generation(VMIMS, VMIM_PHASE), store.index_generation(PODS, POD_MIGRATION_JOB))
        stored = store.bucket(VMIMS)
        if self._running_at is None or self._running_at[0] != seen:
            keys: set[tuple[str, str]] = set()
            for phase in C.MIG_ACTIVE:
                keys.update(store.index_keys(VMIMS, VMIM_PHASE, phase))
            for key in store.index_keys(VMIMS, VMIM_PHASE, C.MIG_PENDING):
                if store.index_keys(PODS, POD_MIGRATION_JOB, (key[0], stored[key]["metadata"]["uid"])):
                    keys.add(key)
            self._running_at = (seen, sorted(keys))
        return [stored[k] for k in self._running_at[1]]

    def _fail(self, mig: Obj, message: str, delete_target: bool = True) -> None:
        assert self.ctx is not None
        pod = self.target_pod(mig)
        if pod is not None and delete_target and not pod["metadata"].get("deletionTimestamp"):
            self.ctx.store.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
            self._event(mig, C.EV_NORMAL, "SuccessfulDelete", f"Deleted migration target pod {pod['metadata']['name']}")

        def fn(o: Obj) -> None:
            _set_phase(o.setdefault("status", {}), C.MIG_FAILED)

        self._write(mig, fn)
        self._event(mig, C.EV_WARNING, "FailedMigration", message)
        self._after_final(mig)

    # ------------------------------------------------------------ reconcile

    def reconcile(self, ns: str, name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        mig = ctx.store.peek(VMIMS, ns, name)
        if mig is None or (not mig["metadata"].get("deletionTimestamp") and ctx.observe_api_version(VMIMS, mig)):
            return
        phase = dig(mig, "status", "phase", default="") or ""
        vmi = ctx.store.peek(VMIS, ns, dig(mig, "spec", "vmiName", default=""))
        if mig["metadata"].get("deletionTimestamp"):
            self._cancel(mig, vmi, phase)
            return
        if phase == C.MIG_SUCCEEDED:
            self._source_exit(mig)
            return
        if phase in C.MIG_FINAL:
            return
        if phase == "":
            self._accept(mig)
            return
        if vmi is None:
            self._fail(mig, "Migration failed because vmi does not exist.")
            return
        if dig(vmi, "status", "phase") in C.FINAL_PHASES or vmi["metadata"].get("deletionTimestamp"):
            self._fail(mig, "Migration failed vmi shutdown during migration.")
            return
        step = {C.MIG_PENDING: self._pending, C.MIG_SCHEDULING: self._scheduling,
                C.MIG_SCHEDULED: self._handoff, C.MIG_PREPARING_TARGET: self._prepare,
                C.MIG_TARGET_READY: self._start, C.MIG_RUNNING: self._transfer}.get(phase)
        if step is not None:
            step(mig, vmi)

    def _accept(self, mig: Obj) -> None:
        assert self.ctx is not None
        vmi_name = dig(mig, "spec", "vmiName")
        for other in self.ctx.store.by_index(VMIMS, VMIM_VMI, (mig["metadata"]["namespace"], vmi_name)):
            if other["metadata"]["uid"] == mig["metadata"]["uid"]:
                continue
            if dig(other, "status", "phase") not in (None, "", *C.MIG_FINAL):
                self._fail(mig, "VMI is not eligible for migration because another migration job is in progress.")
                return
        self._write(mig, lambda o: _set_phase(o.setdefault("status", {}), C.MIG_PENDING))

    def _pending(self, mig: Obj, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        if dig(vmi, "status", "phase") != C.RUNNING:
            return  # waits for the VMI to run (requeued on VMI changes)
        key = self._key(mig)
        cfg = migration_config(ctx)
        running = self._running_migrations()
        source = dig(vmi, "status", "nodeName")
        outbound = 0
        for other in running:
            other_vmi = ctx.store.peek(VMIS, other["metadata"]["namespace"], dig(other, "spec", "vmiName", default=""))
            # outboundMigrationsOnNode: after the target's ack the VMI names the target, its migrationState the source
            if other_vmi is not None and source in (dig(other_vmi, "status", "nodeName"),
                                                    dig(other_vmi, "status", "migrationState", "sourceNode")):
                outbound += 1
        limited = ctx.behaviour.evacuation_respects_limits(mig)
        if limited and len(running) >= int(cfg["parallelMigrationsPerCluster"]):
            self._wait_for_slot(key)
            return
        if (limited and outbound >= int(cfg["parallelOutboundMigrationsPerNode"])
                or sum(1 for p in pods_of(ctx, vmi) if not pod_final(p)) > 1):
            ctx.queue.add_after(ctx.timing.duration("migration.requeue"), *key)
            return
        self._waiting.pop(key, None)
        if not ctx.gate(mig["metadata"]["uid"], "mig", "pending", "migration.pending", key):
            return
        selector = {**(dig(mig, "spec", "addedNodeSelector", default={}) or {}),
                    **ctx.behaviour.target_node_selector(vmi)}
        pod = launcher_pod(vmi, migration=mig, added_selector=selector,
                           anti_affinity=ctx.behaviour.migration_target_avoids_source(), release=ctx.release)
        created = ctx.store.create(PODS, pod, mig["metadata"]["namespace"])
        self._event(mig, C.EV_NORMAL, "SuccessfulCreate", f"Created migration target pod {created['metadata']['name']}")
        self._write(mig, lambda o: _set_phase(o.setdefault("status", {}), C.MIG_SCHEDULING))

    def _wait_for_slot(self, key: tuple[str, str, str]) -> None:
        assert self.ctx is not None
        self._waiting[key] = None
        if self._slot_timer is None and not self.ctx.queue.closed:
            self._slot_timer = self.ctx.queue.loop.call_later(self.ctx.timing.duration("migration.requeue"),
                                                              self._retry_waiting)

    def _retry_waiting(self) -> None:
        """A retry tick: as many of the oldest waiting VMIMs as there are free slots try again."""
        ctx = self.ctx
        assert ctx is not None
        self._slot_timer = None
        free = int(migration_config(ctx)["parallelMigrationsPerCluster"]) - len(self._running_migrations())
        for key in list(self._waiting)[:max(free, 0)]:
            del self._waiting[key]
            ctx.queue.add(*key)
        if self._waiting and not ctx.queue.closed:
            self._slot_timer = ctx.queue.loop.call_later(ctx.timing.duration("migration.requeue"),
                                                         self._retry_waiting)

    def _scheduling(self, mig: Obj, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        pod = self.target_pod(mig)
        if pod is None:
            self._fail(mig, "Migration target pod was removed during active migration.", delete_target=False)
            return
        state = self.driver.advance(pod, self._key(mig))
        if state in (TERMINATING, FINISHED):
            self._fail(mig, "Migration failed because target pod shutdown during migration")
            return
        if state == RUNNING:
            self._write(mig, lambda o: _set_phase(o.setdefault("status", {}), C.MIG_SCHEDULED))
            return
        annotations = mig["metadata"].get("annotations") or {}
        if state == UNSCHEDULABLE:
            timeout = float(annotations.get(C.ANNO_UNSCHEDULABLE_TIMEOUT, C.UNSCHEDULABLE_TIMEOUT_S))
            if mig["metadata"]["uid"] not in self._warned:
                self._warned.add(mig["metadata"]["uid"])
                self._event(mig, C.EV_WARNING, "migrationTargetPodUnschedulable",
                            f"Migration target pod for VMI [{vmi['metadata']['namespace']}/"
                            f"{vmi['metadata']['name']}] is currently unschedulable.")
        else:
            timeout = float(annotations.get(C.ANNO_PENDING_TIMEOUT, C.PENDING_TIMEOUT_S))
        age = _age_seconds(pod)
        if age >= timeout:
            self._fail(mig, f"Migration target pod was pending for more than {int(timeout)} seconds")
        else:
            ctx.queue.add_after(timeout - age + 0.05, *self._key(mig))

    def _handoff(self, mig: Obj, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        pod = self.target_pod(mig)
        if pod is None or pod_final(pod) or pod["metadata"].get("deletionTimestamp"):
            self._fail(mig, "Migration failed because target pod shutdown during migration")
            return
        if not ctx.gate(mig["metadata"]["uid"], "mig", "handoff", "migration.handoff", self._key(mig)):
            return
        cfg = migration_config(ctx)
        source_pod = next((p for p in pods_of(ctx, vmi) if dig(p, "spec", "nodeName") == dig(vmi, "status", "nodeName")
                           and not pod_final(p)), None)
        target_node = pod["spec"]["nodeName"]
        state = {
            "migrationUid": mig["metadata"]["uid"],
            "sourceNode": dig(vmi, "status", "nodeName", default=""),
            "targetNode": target_node,
            "targetPod": pod["metadata"]["name"],
            "sourcePod": source_pod["metadata"]["name"] if source_pod else "",
            "migrationConfiguration": {k: cfg[k] for k in CONFIG_KEYS if k in cfg},
            "sourceState": {"migrationUID": mig["metadata"]["uid"], "node": dig(vmi, "status", "nodeName", default=""),
                            "pod": source_pod["metadata"]["name"] if source_pod else "",
                            "virtualMachineInstanceUID": vmi["metadata"]["uid"],
                            "domainName": vmi["metadata"]["name"], "domainNamespace": vmi["metadata"]["namespace"]},
            "targetState": {"migrationUID": mig["metadata"]["uid"], "node": target_node,
                            "pod": pod["metadata"]["name"], "virtualMachineInstanceUID": vmi["metadata"]["uid"],
                            "domainName": vmi["metadata"]["name"], "domainNamespace": vmi["metadata"]["namespace"]},
        }

        def fn(o: Obj) -> None:
            o.setdefault("status", {})["migrationState"] = state
            o["metadata"].setdefault("labels", {})[C.LABEL_MIGRATION_TARGET_NODE] = target_node
            o["status"]["activePods"] = {p["metadata"]["uid"]: dig(p, "spec", "nodeName", default="") or ""
                                         for p in pods_of(ctx, o)}

        self._write_vmi(vmi, fn)
        self._write(mig, lambda o: _set_phase(o.setdefault("status", {}), C.MIG_PREPARING_TARGET))
        self._event(mig, C.EV_NORMAL, "SuccessfulHandOver",
                    "Migration target pod is ready for preparation by virt-handler.")

    def _prepare(self, mig: Obj, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        if not self._target_alive(mig):
            return
        if not ctx.gate(mig["metadata"]["uid"], "mig", "prepare", "migration.prepare", self._key(mig)):
            return
        pod = self.target_pod(mig) or {}
        address = dig(pod, "status", "hostIP", default="") or dig(pod, "status", "podIP", default="")

        def fn(o: Obj) -> None:
            ms = o.setdefault("status", {}).setdefault("migrationState", {})
            ms["targetNodeAddress"] = address
            ms["targetDirectMigrationNodePorts"] = {"34567": 0, "45678": 49152}
            ms.setdefault("targetState", {})["syncAddress"] = f"{address}:9185"

        self._write_vmi(vmi, fn)
        self._event(vmi, C.EV_NORMAL, "PreparingTarget", "VirtualMachineInstance Migration Target Prepared.", True)
        self._write(mig, lambda o: _set_phase(o.setdefault("status", {}), C.MIG_TARGET_READY))

    def _start(self, mig: Obj, vmi: Obj) -> None:
        ctx = self.ctx
        assert ctx is not None
        if not self._target_alive(mig):
            return
        if not ctx.gate(mig["metadata"]["uid"], "mig", "start", "migration.start", self._key(mig)):
            return

        def fn(o: Obj) -> None:
            ms = o.setdefault("status", {}).setdefault("migrationState", {})
            ms["startTimestamp"] = now_rfc3339()
            ms["mode"] = "PreCopy"

        self._write_vmi(vmi, fn)
        self._event(vmi, C.EV_NORMAL, "Migrating", "VirtualMachineInstance is migrating.", True)
        self._write(mig, lambda o: _set_phase(o.setdefault("status", {}), C.MIG_RUNNING))

    def _target_alive(self, mig: Obj) -> bool:
        pod = self.target_pod(mig)
        if pod is None or pod_final(pod) or pod["metadata"].get("deletionTimestamp"):
            self._fail(mig, "Migration target pod was removed during active migration.")
            return False
        return True

    def _transfer(self, mig: Obj, vmi: Obj) -> None:
        """The end of a migration, in KubeVirt's order (§10 W9, W10):

        1. the target's ack: ``migrationState.endTimestamp``, ``status.nodeName`` and the
           ``kubevirt.io/nodeName`` label in one write, ``launcherContainerImageVersion`` cleared;
        2. after ``migration.finalize``: ``migrationState.completed``;
        3. the VMIM is Succeeded as soon as the migration controller sees ``completed`` — nothing
           waits for the source pod, which ends afterwards (``migration.source_exit``).
        """
        ctx = self.ctx
        assert ctx is not None
        state = dig(vmi, "status", "migrationState", default={}) or {}
        mine = state.get("migrationUid") == mig["metadata"]["uid"]
        if mine and state.get("endTimestamp") and not state.get("failed"):
            if not state.get("completed"):
                if ctx.gate(mig["metadata"]["uid"], "mig", "finalize", "migration.finalize", self._key(mig)):
                    self._write_vmi(vmi, lambda o: o["status"]["migrationState"].update({"completed": True}))
                return
            self._succeed(mig, vmi)
            return
        if not self._target_alive(mig):
            return
        if not ctx.gate(mig["metadata"]["uid"], "mig", "transfer", ctx.behaviour.transfer_step(), self._key(mig)):
            return
        if not ctx.behaviour.migration_completes(mig):
            return
        self._ack(mig, vmi)

    def _ack(self, mig: Obj, vmi: Obj) -> None:
        """virt-handler on the target (``ackMigrationCompletion``): the VMI now runs there."""
        ctx = self.ctx
        assert ctx is not None
        ns = vmi["metadata"]["namespace"]
        target = self.target_pod(mig)
        assert target is not None
        target_node = target["spec"]["nodeName"]
        vc = ctx.vmi_controller
        ip = dig(target, "status", "podIP", default="")
        now = now_rfc3339()

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            ms = st.setdefault("migrationState", {})
            ms.update({"endTimestamp": now, "targetNodeDomainDetected": True, "targetNodeDomainReadyTimestamp": now})
            ms.pop("failed", None)
            st["nodeName"] = target_node
            st.pop("evacuationNodeName", None)  # migrated away: the evacuation is over
            (o["metadata"].get("annotations") or {}).pop("kubevirt.io/eviction-source", None)
            st.pop("launcherContainerImageVersion", None)  # virt-controller fills it in again from the target pod
            st["migrationTransport"] = "Unix"
            labels = o["metadata"].setdefault("labels", {})
            labels[C.LABEL_NODE_NAME] = target_node
            labels.pop(C.LABEL_MIGRATION_TARGET_NODE, None)
            if vc is not None:
                st["interfaces"] = vc.interfaces(o, ip)
            st["activePods"] = {p["metadata"]["uid"]: dig(p, "spec", "nodeName", default="") or ""
                                for p in pods_of(ctx, o)}

        self._write_vmi(vmi, fn)
        handle = ctx.guests.get(ns, vmi["metadata"]["name"], vmi["metadata"]["uid"])
        if handle is not None:
            ctx.behaviour.migrate_guest(handle)
        vmi = ctx.store.peek(VMIS, ns, vmi["metadata"]["name"]) or vmi
        self._event(vmi, C.EV_NORMAL, "Migrated", f"The VirtualMachineInstance migrated to node {target_node}.", True)

    def _succeed(self, mig: Obj, vmi: Obj) -> None:
        state = dict(dig(vmi, "status", "migrationState", default={}) or {})

        def done(o: Obj) -> None:
            st = o.setdefault("status", {})
            st["migrationState"] = state
            _set_phase(st, C.MIG_SUCCEEDED)

        self._write(mig, done)
        self._event(mig, C.EV_NORMAL, "SuccessfulMigration", "Source node reported migration succeeded")
        self._after_final(mig)

    def _source_exit(self, mig: Obj) -> None:
        """After a successful migration virt-launcher on the source exits: its pod completes (W9)."""
        ctx = self.ctx
        assert ctx is not None
        ns = mig["metadata"]["namespace"]
        source = dig(mig, "status", "migrationState", "sourcePod")
        pod = ctx.store.peek(PODS, ns, source) if source else None
        if pod is None or pod_final(pod) or pod["metadata"].get("deletionTimestamp"):
            return
        if ctx.gate(mig["metadata"]["uid"], "source", "exit", "migration.source_exit", self._key(mig)):
            ctx.store.mutate(PODS, ns, source, lambda o: finish_migration_source(o, ctx.release), status=True)

    # ------------------------------------------------------------ cancellation and garbage collection

    def _cancel(self, mig: Obj, vmi: Obj | None, phase: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        ns, name = mig["metadata"]["namespace"], mig["metadata"]["name"]
        if phase not in C.MIG_FINAL:
            state = dig(vmi, "status", "migrationState", default={}) if vmi is not None else {}
            handed_off = phase in C.MIG_AFTER_HANDOFF and vmi is not None and \
                (state or {}).get("migrationUid") == mig["metadata"]["uid"] and not (state or {}).get("completed")
            if handed_off and vmi is not None:
                if not self._abort(mig, vmi):
                    return
            else:
                self._fail(mig, "Migration failed due to being canceled")
            mig = ctx.store.peek(VMIMS, ns, name) or mig
        ctx.store.mutate(VMIMS, ns, name, lambda o: remove_finalizers(o, C.FINALIZER_MIGRATION), status=True)

    def _abort(self, mig: Obj, vmi: Obj) -> bool:
        """Abort a running migration; True once it is over (VMIM Failed)."""
        ctx = self.ctx
        assert ctx is not None
        uid = mig["metadata"]["uid"]
        if dig(vmi, "status", "migrationState", "abortStatus") is None:
            def aborting(o: Obj) -> None:
                ms = o.setdefault("status", {}).setdefault("migrationState", {})
                ms["abortRequested"] = True
                ms["abortStatus"] = "Aborting"
            self._write_vmi(vmi, aborting)
            self._write(mig, lambda o: set_condition(o.setdefault("status", {}), "migrationAbortRequested", "True",
                                                     "", "", probe=True))
            self._event(mig, C.EV_NORMAL, "SuccessfulAbortMigration",
                        "Migration is ready to be canceled by virt-handler.")
            self._event(vmi, C.EV_NORMAL, "Migrating", "VirtualMachineInstance is aborting migration.", True)
        if not ctx.gate(uid, "mig", "abort", "migration.abort", self._key(mig)):
            return False
        now = now_rfc3339()
        pod = self.target_pod(mig)
        if pod is not None and not pod_final(pod):
            ctx.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"],
                             lambda o: mark_finished(o, False), status=True)

        def aborted(o: Obj) -> None:
            st = o.setdefault("status", {})
            ms = st.setdefault("migrationState", {})
            ms.update({"abortStatus": "Succeeded", "completed": True, "failed": True, "endTimestamp": now,
                       "failureReason": "Live migration aborted "})
            o["metadata"].setdefault("labels", {}).pop(C.LABEL_MIGRATION_TARGET_NODE, None)
            st["activePods"] = {p["metadata"]["uid"]: dig(p, "spec", "nodeName", default="") or ""
                                for p in pods_of(ctx, o)}

        self._write_vmi(vmi, aborted)
        vmi = ctx.store.peek(VMIS, vmi["metadata"]["namespace"], vmi["metadata"]["name"]) or vmi
        self._event(vmi, C.EV_WARNING, "Migrated", "VirtualMachineInstance is aborting migration.", True)
        state = dict(dig(vmi, "status", "migrationState", default={}) or {})

        def failed(o: Obj) -> None:
            st = o.setdefault("status", {})
            st["migrationState"] = state
            _set_phase(st, C.MIG_FAILED)

        self._write(mig, failed)
        self._event(mig, C.EV_WARNING, "FailedMigration", "Migration failed due to being canceled")
        return True

    def _after_final(self, mig: Obj) -> None:
        """Keep at most five finalized VMIMs per VMI; older ones go with their leftover pod."""
        ctx = self.ctx
        assert ctx is not None
        ns = mig["metadata"]["namespace"]
        vmi_name = dig(mig, "spec", "vmiName")
        finals = [m for m in ctx.store.by_index(VMIMS, VMIM_VMI, (ns, vmi_name))
                  if dig(m, "status", "phase") in C.MIG_FINAL
                  and not m["metadata"].get("deletionTimestamp")]
        finals.sort(key=lambda m: (m["metadata"].get("creationTimestamp", ""), int(m["metadata"]["resourceVersion"])))
        for old in finals[:max(0, len(finals) - C.FINALIZED_MIGRATIONS_KEPT)]:
            leftover = None
            if dig(old, "status", "phase") == C.MIG_SUCCEEDED:
                leftover = dig(old, "status", "migrationState", "sourcePod")
            else:
                pod = self.target_pod(old)
                leftover = pod["metadata"]["name"] if pod else None
            if leftover and ctx.store.peek(PODS, ns, leftover) is not None:
                ctx.store.delete(PODS, ns, leftover)
            ctx.store.delete(VMIMS, ns, old["metadata"]["name"])
        # a slot freed up: let waiting migrations look again
        for other in ctx.store.by_index(VMIMS, VMIM_PHASE, C.MIG_PENDING):
            if dig(other, "status", "phase") == C.MIG_PENDING:
                ctx.queue.add("vmim", other["metadata"]["namespace"], other["metadata"]["name"])
