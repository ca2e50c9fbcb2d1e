"""virt-controller's evacuation controller, KubeVirt v1.9.0
``pkg/virt-controller/watch/drain/evacuation/evacuation.go`` (``execute``, ``sync``, ``vmisToMigrate``,
``filterRunningNonMigratingVMIs``, ``GenerateNewMigration``).

Keyed by node. On a node tainted with ``nodeDrainTaintKey`` (``kubevirt.io/drain``, NoSchedule) every
VMI there is a candidate; otherwise the VMIs marked for evacuation by the pod-eviction webhook
(``status.evacuationNodeName`` set, still on that node, not migrating). A candidate that is not final
nor being deleted, migrates on eviction (LiveMigrate, or LiveMigrateIfPossible and migratable), is
LiveMigratable, has no unfinished migration and one active pod gets a
``VirtualMachineInstanceMigration`` ``kubevirt-evacuation-…`` annotated
``kubevirt.io/evacuationMigration: <node>`` and a ``SuccessfulCreate`` event. All candidates get
their migration at once: the migration controller holds them Pending under the per-cluster and
per-node limits (``parallelMigrationsPerCluster``, ``parallelOutboundMigrationsPerNode``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..resources import NODES, PODS, VMIMS, VMIS, dig
from ..store import Event
from ..timeutil import parse_rfc3339
from . import constants as C
from .bootstrap import migration_config
from .context import KubeVirtContext, context_of
from .eviction_webhook import PodEvictionWebhook, is_migratable, migrates_on_eviction
from .pods import pods_of
from .launcher import pod_final
from .util import get_condition, remove_condition, set_condition

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]
QUEUE = "evacuation"
ANNO_EVACUATION = "kubevirt.io/evacuationMigration"
GENERATE_NAME = "kubevirt-evacuation-"
COMPONENT = "evacuation-controller"
DEFAULT_TAINT_KEY = "kubevirt.io/drain"
STATUS_QUEUE = "evacuation-status"
COND_EVICTION_REQUESTED = "EvictionRequested"  # type and reason
MSG_EVICTION_REQUESTED = "VMI is marked for eviction"
ANNO_EVICTION_IN_PROGRESS = "descheduler.alpha.kubernetes.io/eviction-in-progress"


def is_migrating(vmi: Obj) -> bool:
    """``migrations.IsMigrating``: a migration state that started and has not ended."""
    ms = dig(vmi, "status", "migrationState") or {}
    now = datetime.now(timezone.utc)
    start, end = ms.get("startTimestamp"), ms.get("endTimestamp")
    running = bool(start) and parse_rfc3339(start) <= now
    if end and parse_rfc3339(end) <= now:
        running = False
    return running


def marked(vmi: Obj) -> bool:
    """Marked for eviction and not yet gone from the node it was marked on."""
    node = dig(vmi, "status", "evacuationNodeName")
    return bool(node) and dig(vmi, "status", "nodeName") == node and not is_migrating(vmi)


def _annotate(pod: Obj, in_progress: bool) -> None:
    annotations = pod["metadata"].setdefault("annotations", {})
    if in_progress:
        annotations[ANNO_EVICTION_IN_PROGRESS] = "true"
    else:
        annotations.pop(ANNO_EVICTION_IN_PROGRESS, None)


class EvacuationController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        from ..policy.eviction import register_webhook

        ctx = self.ctx = context_of(emulator)
        register_webhook(emulator, PodEvictionWebhook(ctx))
        ctx.queue.register(QUEUE, self.reconcile)
        ctx.queue.register(STATUS_QUEUE, self.sync_marks)
        ctx.watch(NODES, lambda ev: self._enqueue(ev.obj["metadata"]["name"]))
        ctx.watch(VMIS, self._on_vmi)
        ctx.watch(VMIMS, self._on_vmim)

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    def _enqueue(self, node: str | None) -> None:
        if node and self.ctx is not None:
            self.ctx.queue.add(QUEUE, "", node)

    def _on_vmi(self, ev: Event) -> None:
        self._enqueue(dig(ev.obj, "status", "nodeName"))
        if ev.type != "DELETED" and self.ctx is not None:
            self.ctx.queue.add(STATUS_QUEUE, ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"])

    def _on_vmim(self, ev: Event) -> None:
        assert self.ctx is not None
        node = (ev.obj["metadata"].get("annotations") or {}).get(ANNO_EVACUATION)
        vmi = self.ctx.store.peek(VMIS, ev.obj["metadata"]["namespace"], dig(ev.obj, "spec", "vmiName", default=""))
        self._enqueue(node)
        if vmi is not None:
            self._enqueue(dig(vmi, "status", "nodeName"))

    # ------------------------------------------------------------ what the VMI controller shows of it

    def sync_marks(self, ns: str, name: str) -> None:
        """virt-controller's VMI controller (``vmi/lifecycle.go``: ``updateStatus``, ``sync``): while the VMI
        is marked for eviction its condition ``EvictionRequested`` is True and its Ready launcher pod carries
        ``descheduler.alpha.kubernetes.io/eviction-in-progress: "true"``; both go when the mark goes."""
        ctx = self.ctx
        assert ctx is not None
        vmi = ctx.store.peek(VMIS, ns, name)
        if vmi is None or vmi["metadata"].get("deletionTimestamp") or dig(vmi, "status", "phase") in C.FINAL_PHASES:
            return
        wanted = bool(dig(vmi, "status", "evacuationNodeName"))
        has = (get_condition(vmi, COND_EVICTION_REQUESTED) or {}).get("status") == "True"
        if wanted and not has:
            ctx.store.mutate(VMIS, ns, name, lambda o: set_condition(
                o.setdefault("status", {}), COND_EVICTION_REQUESTED, "True", COND_EVICTION_REQUESTED,
                MSG_EVICTION_REQUESTED, probe=True), status=True)
        elif not wanted and get_condition(vmi, COND_EVICTION_REQUESTED) is not None:
            ctx.store.mutate(VMIS, ns, name, lambda o: remove_condition(o.setdefault("status", {}),
                                                                        COND_EVICTION_REQUESTED), status=True)
        node = dig(vmi, "status", "nodeName")
        for pod in pods_of(ctx, vmi):
            if pod_final(pod) or dig(pod, "spec", "nodeName") != node or pod["metadata"].get("deletionTimestamp"):
                continue
            marked_pod = ANNO_EVICTION_IN_PROGRESS in (pod["metadata"].get("annotations") or {})
            if wanted != marked_pod:
                ctx.store.mutate(PODS, ns, pod["metadata"]["name"], lambda o: _annotate(o, wanted))

    # ------------------------------------------------------------ reconcile

    def reconcile(self, _ns: str, node_name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        node = ctx.store.peek(NODES, None, node_name)
        if node is None:
            return
        on_node = [v for v in ctx.store.items(VMIS) if dig(v, "status", "nodeName") == node_name]
        key = str(migration_config(ctx).get("nodeDrainTaintKey") or DEFAULT_TAINT_KEY)
        tainted = any(t.get("key") == key and t.get("effect") == "NoSchedule"
                      for t in dig(node, "spec", "taints", default=[]) or [])
        candidates = on_node if tainted else [v for v in on_node if marked(v)]
        for vmi in self._eligible(candidates):
            if ctx.behaviour.evacuation_migrates(vmi):
                self._migrate(vmi, node_name)

    def _eligible(self, vmis: list[Obj]) -> list[Obj]:
        ctx = self.ctx
        assert ctx is not None
        out = []
        for vmi in vmis:
            if dig(vmi, "status", "phase") in C.FINAL_PHASES or vmi["metadata"].get("deletionTimestamp"):
                continue
            if not migrates_on_eviction(ctx, vmi) or not is_migratable(vmi):
                continue
            ns, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
            if any(dig(m, "status", "phase") not in C.MIG_FINAL
                   for m in ctx.store.items(VMIMS, ns) if dig(m, "spec", "vmiName") == name):
                continue
            if sum(1 for p in pods_of(ctx, vmi) if not pod_final(p)) > 1:
                continue
            out.append(vmi)
        return out

    def _migrate(self, vmi: Obj, node: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        ns = vmi["metadata"]["namespace"]
        body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
                "metadata": {"generateName": GENERATE_NAME, "annotations": {ANNO_EVACUATION: node}},
                "spec": {"vmiName": vmi["metadata"]["name"]}}
        try:
            created = ctx.store.create(VMIMS, body, ns)
        except ApiError as err:
            ctx.events.record(vmi, C.EV_WARNING, "FailedCreate", f"Error creating a Migration: {err.message}",
                              COMPONENT)
            return
        ctx.events.record(vmi, C.EV_NORMAL, "SuccessfulCreate", f"Created Migration {created['metadata']['name']}",
                          COMPONENT)
