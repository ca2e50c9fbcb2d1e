"""The DataVolume controller: renders and creates the claim, then plays the clone or import.

Phases as CDI v1.66.0 shows them for a host-assisted clone and an import: ``Pending`` (claim not Bound)
→ ``CloneScheduled``/``ImportScheduled`` → ``CloneInProgress``/``ImportInProgress`` with ``progress``
advancing ``"0.00%"`` … ``"90.00%"`` → ``Succeeded`` (``"100.0%"``), Ready=True. Durations come from the
timing table (``dv.schedule``, ``dv.transfer`` ten times). Faults: ``import-stuck`` freezes every
transfer part-way; ``clone-ignores-access-mode`` provisions every cloned claim ReadWriteOnce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kubevirt.constants import EV_NORMAL, EV_WARNING
from ..kubevirt.context import KubeVirtContext, context_of
from ..kubevirt.util import owner_ref, set_condition
from ..resources import PVCS, dig
from ..store import Event
from . import constants as C
from .claims import CLONE, ClaimError, Source, render_claim_spec, resolve_source
from .datasource import source_pvc
from .kinds import DATASOURCES, DATAVOLUMES

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]
TICKS = 10  # progress advances in tenths
STUCK_AT_TICK = 4  # import-stuck: the transfer stops at 40.00 %
IMPORT_STUCK = "import-stuck"
CLONE_IGNORES_ACCESS_MODE = "clone-ignores-access-mode"

# phase per source kind: (scheduled, in progress, messages, event reasons)
_PHASES = {
    CLONE: (C.CLONE_SCHEDULED, C.CLONE_IN_PROGRESS,
            (C.MSG_CLONE_SCHEDULED, C.MSG_CLONE_IN_PROGRESS, C.MSG_CLONE_SUCCEEDED),
            (C.EV_CLONE_SCHEDULED, C.EV_CLONE_IN_PROGRESS, C.EV_CLONE_SUCCEEDED)),
    "import": (C.IMPORT_SCHEDULED, C.IMPORT_IN_PROGRESS,
               (C.MSG_IMPORT_SCHEDULED, C.MSG_IMPORT_IN_PROGRESS, C.MSG_IMPORT_SUCCEEDED),
               (C.EV_IMPORT_SCHEDULED, C.EV_IMPORT_IN_PROGRESS, C.EV_IMPORT_SUCCEEDED)),
}


def progress_text(tick: int) -> str:
    return C.PROGRESS_DONE if tick >= TICKS else f"{100.0 * tick / TICKS:.2f}%"


class DataVolumeController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None
        self._ticks: dict[str, int] = {}  # DataVolume UID → tenths transferred

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.queue.register("dv", self.reconcile)
        ctx.watch(DATAVOLUMES, self._on_dv)
        ctx.watch(PVCS, self._on_pvc)
        ctx.watch(DATASOURCES, self._on_ds)

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    # ------------------------------------------------------------ events

    def _on_dv(self, ev: Event) -> None:
        assert self.ctx is not None
        if ev.type == "DELETED":
            self._ticks.pop(ev.obj["metadata"]["uid"], None)
            return
        self.ctx.queue.add("dv", ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"])

    def _waiting(self) -> list[Obj]:
        assert self.ctx is not None
        return [dv for dv in self.ctx.store.items(DATAVOLUMES) if dig(dv, "status", "phase") != C.SUCCEEDED]

    def _on_pvc(self, ev: Event) -> None:
        """The DataVolume's own claim, or a clone source appearing."""
        assert self.ctx is not None
        meta = ev.obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "DataVolume":
                self.ctx.queue.add("dv", meta["namespace"], ref.get("name", ""))
        if ev.type == "ADDED":
            for dv in self._waiting():
                self.ctx.queue.add("dv", dv["metadata"]["namespace"], dv["metadata"]["name"])

    def _on_ds(self, ev: Event) -> None:
        for dv in self._waiting():
            if dig(dv, "spec", "sourceRef", "name") == ev.obj["metadata"]["name"]:
                assert self.ctx is not None
                self.ctx.queue.add("dv", dv["metadata"]["namespace"], dv["metadata"]["name"])

    # ------------------------------------------------------------ reconcile

    def reconcile(self, ns: str, name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        dv = ctx.store.peek(DATAVOLUMES, ns, name)
        if dv is None or dv["metadata"].get("deletionTimestamp") or dig(dv, "status", "phase") == C.SUCCEEDED:
            return
        source = resolve_source(ctx.store, dv)
        pvc = ctx.store.peek(PVCS, ns, name)
        if pvc is None:
            if source.problem:
                self._pending(dv, None, C.REASON_CLONE_WITHOUT_SOURCE, source.problem)
                return
            self._create_claim(dv, source)
            return
        if dig(pvc, "status", "phase") != "Bound":
            self._pending(dv, pvc, C.REASON_PENDING, f"PVC {name} Pending")
            return
        self._populate(dv, pvc, source)

    def _create_claim(self, dv: Obj, source: Source) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = dv["metadata"]
        try:
            spec = render_claim_spec(ctx.store, dv, source)
        except ClaimError as exc:
            self._pending(dv, None, C.EV_ERR_CLAIM_NOT_VALID, str(exc))
            return
        if source.kind == CLONE and ctx.behaviour.active(CLONE_IGNORES_ACCESS_MODE):
            spec["accessModes"] = ["ReadWriteOnce"]
        annotations = {C.ANNO_POPULATED_FOR: meta["name"], "cdi.kubevirt.io/storage.contentType": "kubevirt"}
        if source.endpoint:
            annotations[C.ANNO_IMPORT_ENDPOINT] = source.endpoint
        if source.kind == CLONE:
            annotations[C.ANNO_CLONE_OF] = f"{source.namespace}/{source.name}"
        labels = {**(meta.get("labels") or {}), C.LABEL_APP: C.APP, "app.kubernetes.io/component": "storage",
                  "app.kubernetes.io/managed-by": "cdi-controller"}
        ctx.store.create(PVCS, {"metadata": {"name": meta["name"], "labels": labels, "annotations": annotations,
                                             "ownerReferences": [owner_ref(dv)]},
                                "spec": spec}, meta["namespace"])
        self._pending(dv, None, C.REASON_PENDING, f"PVC {meta['name']} Pending")

    def _pending(self, dv: Obj, pvc: Obj | None, reason: str, message: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = dv["metadata"]
        before = dig(dv, "status", "conditions", default=None)

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            st.update({"phase": C.PENDING, "claimName": meta["name"], "progress": C.PROGRESS_UNKNOWN})
            set_condition(st, C.COND_BOUND, "False", reason, message)
            set_condition(st, C.COND_READY, "False", reason, message)
            set_condition(st, C.COND_RUNNING, "False", reason, message)

        probe: Obj = {"status": dict(dv.get("status") or {})}
        probe["status"]["conditions"] = list(before or [])
        fn(probe)
        if probe["status"] != (dv.get("status") or {}):
            ctx.store.mutate(DATAVOLUMES, meta["namespace"], meta["name"], fn, status=True)
            if reason in (C.REASON_CLONE_WITHOUT_SOURCE, C.EV_ERR_CLAIM_NOT_VALID):
                ctx.events.record(dv, EV_WARNING, reason, message, C.COMPONENT)

    def _populate(self, dv: Obj, pvc: Obj, source: Source) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = dv["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        scheduled, in_progress, messages, reasons = _PHASES[source.kind]
        fields = {"src_ns": source.namespace, "src": source.name, "ns": ns, "name": name}
        phase = dig(dv, "status", "phase", default="")
        key = ("dv", ns, name)
        if phase not in (scheduled, in_progress):
            self._write(dv, scheduled, C.PROGRESS_UNKNOWN, running=("False", C.REASON_PENDING, ""),
                        bound_message=f"PVC {name} Bound")
            ctx.events.record(dv, EV_NORMAL, reasons[0], messages[0].format(**fields), C.COMPONENT)
            ctx.gate(uid, "dv", "schedule", "dv.schedule", key)
            return
        if phase == scheduled:
            if ctx.gate(uid, "dv", "schedule", "dv.schedule", key):
                self._ticks[uid] = 0
                self._write(dv, in_progress, progress_text(0), running=("True", "", ""))
                ctx.events.record(dv, EV_NORMAL, reasons[1], messages[1].format(**fields), C.COMPONENT)
                ctx.gate(uid, "dv", "tick:1", "dv.transfer", key)
            return
        tick = self._ticks.setdefault(uid, 0)
        if ctx.behaviour.active(IMPORT_STUCK) and tick >= STUCK_AT_TICK:
            return  # the transfer never moves again: no further gate, the DataVolume stays in progress
        if not ctx.gate(uid, "dv", f"tick:{tick + 1}", "dv.transfer", key):
            return
        tick = self._ticks[uid] = tick + 1
        if tick < TICKS:
            self._write(dv, in_progress, progress_text(tick), running=("True", "", ""))
            ctx.gate(uid, "dv", f"tick:{tick + 1}", "dv.transfer", key)
            return
        self._ticks.pop(uid, None)
        ctx.store.mutate(PVCS, ns, name, lambda o: o["metadata"].setdefault("annotations", {}).update(
            {"cdi.kubevirt.io/storage.pod.phase": "Succeeded"}))
        self._write(dv, C.SUCCEEDED, C.PROGRESS_DONE, running=("False", C.REASON_COMPLETED, ""))
        ctx.events.record(dv, EV_NORMAL, reasons[2], messages[2].format(**fields), C.COMPONENT)

    def _write(self, dv: Obj, phase: str, progress: str, running: tuple[str, str, str],
               bound_message: str | None = None) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = dv["metadata"]

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            st.update({"phase": phase, "progress": progress, "claimName": meta["name"]})
            st.setdefault("restartCount", 0)
            set_condition(st, C.COND_BOUND, "True", C.REASON_BOUND, bound_message or f"PVC {meta['name']} Bound")
            ready = phase == C.SUCCEEDED
            set_condition(st, C.COND_READY, "True" if ready else "False", "" if ready else phase, "")
            set_condition(st, C.COND_RUNNING, *running)

        ctx.store.mutate(DATAVOLUMES, meta["namespace"], meta["name"], fn, status=True)


__all__ = ["DataVolumeController", "progress_text", "source_pvc"]
