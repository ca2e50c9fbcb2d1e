"""``meta.k8s.io/v1`` Table output for ``kubectl get``."""

from __future__ import annotations

from typing import Any

from .resources import ResourceType
from .timeutil import human_age

TABLE_ACCEPT = "as=Table"


def wants_table(accept: str) -> bool:
    return TABLE_ACCEPT in accept and "g=meta.k8s.io" in accept


def _definitions(res: ResourceType) -> list[dict[str, Any]]:
    defs = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    for col in res.columns:
        defs.append({"name": col.name, "type": "string" if col.type == "date" else col.type,
                     "format": col.format, "description": col.description or col.name, "priority": col.priority})
    return defs


def _cell(col_type: str, value: Any) -> Any:
    if col_type == "date":
        return human_age(value)
    if value is None:
        return ""
    return value


def _row(res: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    cells = [meta.get("name", "")] + [_cell(c.type, c.get(obj)) for c in res.columns]
    partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    return {"cells": cells, "object": partial}


def table(res: ResourceType, objs: list[dict[str, Any]], list_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": _definitions(res),
        "rows": [_row(res, o) for o in objs],
    }
