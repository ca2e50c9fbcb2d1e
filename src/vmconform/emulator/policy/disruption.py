"""kube-controller-manager's disruption controller, as far as PodDisruptionBudget status goes
(kubernetes v1.32 ``pkg/controller/disruption/disruption.go``: ``getExpectedPodCount``,
``countHealthyPods``, ``updatePdbStatus``):

* ``expectedPods``: the pods the selector matches (an empty selector matches every pod of the
  namespace, a missing one none); the emulator counts pods, not their controllers' scale;
* ``currentHealthy``: those Ready and not being deleted;
* ``desiredHealthy``: ``minAvailable`` (a percentage of the expected pods, rounded up), or the
  expected pods minus ``maxUnavailable``;
* ``disruptionsAllowed``: ``currentHealthy - desiredHealthy``, at least 0, and condition
  ``DisruptionAllowed`` (``SufficientPods`` / ``InsufficientPods``).

Recomputed on the event loop after any pod or PDB write in a namespace that has PDBs.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from ..resources import PDBS, PODS, dig
from ..selectors import label_selector_matches
from ..store import Event
from ..timeutil import now_rfc3339

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]


_matches = label_selector_matches  # the shared metav1.LabelSelector matcher


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def _ready(pod: Obj) -> bool:
    if dig(pod, "metadata", "deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in dig(pod, "status", "conditions", default=[]) or [])


def pdb_status(pdb: Obj, pods: list[Obj], previous: Obj | None) -> Obj:
    spec = pdb.get("spec") or {}
    matched = [p for p in pods if _matches(spec.get("selector"), p["metadata"].get("labels") or {})]
    expected = len(matched)
    healthy = sum(1 for p in matched if _ready(p))
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected
    allowed = max(0, healthy - desired)
    ok = allowed > 0
    old_cond = next((c for c in (previous or {}).get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    cond = {"type": "DisruptionAllowed", "status": "True" if ok else "False",
            "reason": "SufficientPods" if ok else "InsufficientPods", "message": "",
            "observedGeneration": pdb["metadata"].get("generation", 1)}
    same = old_cond is not None and old_cond.get("status") == cond["status"]
    cond["lastTransitionTime"] = old_cond.get("lastTransitionTime") if same and old_cond else now_rfc3339()
    return {"observedGeneration": pdb["metadata"].get("generation", 1), "expectedPods": expected,
            "currentHealthy": healthy, "desiredHealthy": desired, "disruptionsAllowed": allowed,
            "conditions": [cond]}


class DisruptionController:
    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._emulator: Emulator | None = None

    async def start(self, emulator: "Emulator") -> None:
        self._emulator = emulator
        self._loop = asyncio.get_running_loop()
        emulator.store.listen(self._on_event)
        for pdb in emulator.store.items(PDBS):
            self._schedule(pdb["metadata"]["namespace"])

    async def stop(self) -> None:
        self._emulator = None

    def _on_event(self, ev: Event) -> None:
        if ev.res.key == PDBS.key:
            status = ev.obj.get("status") or {}
            if ev.type != "DELETED" and status.get("observedGeneration") != ev.obj["metadata"].get("generation"):
                self._schedule(ev.obj["metadata"]["namespace"])
        elif ev.res.key == PODS.key and self._emulator is not None:
            ns = ev.obj["metadata"].get("namespace", "")
            if self._emulator.store.items(PDBS, ns):
                self._schedule(ns)

    def _schedule(self, ns: str) -> None:
        if ns in self._pending or self._loop is None:
            return
        self._pending.add(ns)
        self._loop.call_soon(self._sync, ns)

    def _sync(self, ns: str) -> None:
        self._pending.discard(ns)
        if self._emulator is None:
            return
        store = self._emulator.store
        pods = store.items(PODS, ns)
        for pdb in store.items(PDBS, ns):
            status = pdb_status(pdb, pods, pdb.get("status"))
            if status != pdb.get("status"):
                store.mutate(PDBS, ns, pdb["metadata"]["name"], lambda o, s=status: o.__setitem__("status", s),
                             status=True)
