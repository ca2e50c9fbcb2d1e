"""DataSources: status.source and Ready follow the PVC they point at (pkg/controller/datasource-controller.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kubevirt.context import KubeVirtContext, context_of
from ..kubevirt.util import set_condition
from ..resources import PVCS, dig
from ..store import Event
from .constants import DS_NO_SOURCE, DS_NOT_FOUND, DS_READY
from .kinds import DATASOURCES

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]


def source_pvc(ds: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the PVC a DataSource points at (namespace defaults to the DataSource's)."""
    pvc = dig(ds, "spec", "source", "pvc")
    if not pvc or not pvc.get("name"):
        return None
    return pvc.get("namespace") or ds["metadata"]["namespace"], pvc["name"]


class DataSourceController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.queue.register("datasource", self.reconcile)
        ctx.watch(DATASOURCES, self._on_ds)
        ctx.watch(PVCS, self._on_pvc)

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    def _on_ds(self, ev: Event) -> None:
        if ev.type != "DELETED":
            assert self.ctx is not None
            self.ctx.queue.add("datasource", ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"])

    def _on_pvc(self, ev: Event) -> None:
        assert self.ctx is not None
        key = (ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"])
        for ds in self.ctx.store.items(DATASOURCES):
            if source_pvc(ds) == key:
                self.ctx.queue.add("datasource", ds["metadata"]["namespace"], ds["metadata"]["name"])

    def reconcile(self, ns: str, name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        ds = ctx.store.peek(DATASOURCES, ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        ref = source_pvc(ds)
        if ref is None:
            value, (reason, message) = "False", DS_NO_SOURCE
        elif ctx.store.peek(PVCS, *ref) is None:
            value, (reason, message) = "False", DS_NOT_FOUND
        else:
            value, (reason, message) = "True", DS_READY
        source = dig(ds, "spec", "source", default={}) or {}

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            st["source"] = source
            set_condition(st, "Ready", value, reason, message)

        probe = {"status": {"conditions": list(dig(ds, "status", "conditions", default=[]) or [])}}
        fn(probe)
        if probe["status"] != {k: v for k, v in (ds.get("status") or {}).items() if k in ("source", "conditions")}:
            ctx.store.mutate(DATASOURCES, ns, name, fn, status=True)
