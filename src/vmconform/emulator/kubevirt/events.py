"""core/v1 Events as the KubeVirt controllers record them (what ``kubectl describe`` lists)."""

from __future__ import annotations

import uuid
from typing import Any

from .. import errors
from ..resources import EVENTS
from ..store import Store
from ..timeutil import now_rfc3339

Obj = dict[str, Any]


class EventRecorder:
    """Records events in the involved object's namespace; repeats bump ``count`` like client-go."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[tuple[str, str, str, str], str] = {}  # (uid, type, reason, message) → event name

    def record(self, obj: Obj, type_: str, reason: str, message: str, component: str,
               host: str | None = None) -> None:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        uid = meta.get("uid", "")
        key = (uid, type_, reason, message)
        now = now_rfc3339()
        existing = self._seen.get(key)
        if existing and self.store.peek(EVENTS, ns, existing) is not None:
            def bump(ev: Obj) -> None:
                ev["count"] = int(ev.get("count", 1)) + 1
                ev["lastTimestamp"] = now
            self.store.mutate(EVENTS, ns, existing, bump)
            return
        name = f"{meta.get('name', 'unknown')}.{uuid.uuid4().hex[:16]}"
        source: Obj = {"component": component}
        if host:
            source["host"] = host
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
                "name": meta.get("name", ""), "namespace": ns, "uid": uid,
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason, "message": message, "type": type_,
            "source": source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": component, "reportingInstance": host or "",
        }
        try:
            self.store.create(EVENTS, event, ns)
        except errors.ApiError:
            return  # e.g. the namespace is being deleted: a real recorder drops the event too
        self._seen[key] = name
        if len(self._seen) > 20000:
            self._seen.clear()
