"""A custom resource checked against its CRD's structural schema, as kube-apiserver does it:

1. pruning (apiextensions-apiserver ``pkg/apiserver/schema/pruning/algorithm.go``): fields the schema
   does not declare are dropped, unless ``x-kubernetes-preserve-unknown-fields``; ``null`` is dropped
   where the schema is not ``nullable``; ``apiVersion``/``kind``/``metadata`` stay at the root and in
   ``x-kubernetes-embedded-resource`` objects. The dropped paths are what fieldValidation reports
   (``unknown field "spec.foo"``: a warning for Warn, a 400 for Strict).
2. validation (``pkg/apiserver/validation``, kube-openapi ``validate``): type, int-or-string,
   enum, pattern, required, minimum/maximum, maxItems — with kube-openapi's messages
   (``spec.running in body must be of type boolean: "string"``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .meta import Cause, q

_TYPES = {bool: "boolean", str: "string", int: "integer", float: "number", list: "array", dict: "object",
          type(None): "null"}


def _type_name(value: Any) -> str:
    return _TYPES.get(type(value), "object")


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_ok(schema: dict[str, Any], value: Any) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    want = schema.get("type")
    if want is None:
        return True
    if want == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if want == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return _type_name(value) == want


class Checker:
    """One pass over an object: prunes in place, collects unknown-field paths and causes."""

    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.causes: list[Cause] = []

    def check(self, schema: dict[str, Any], value: Any, path: str, *, root: bool = False) -> None:
        if not _type_ok(schema, value):
            want = "integer,string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
            got = _type_name(value)
            self.causes.append((path, f"Invalid value: {q(got)}: {path} in body must be of type {want}: {q(got)}"))
            return
        if isinstance(value, dict):
            self._object(schema, value, path, root=root)
        elif isinstance(value, list):
            items = schema.get("items")
            if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
                self.causes.append((path, f"Too many: {len(value)}: must have at most {schema['maxItems']} items"))
            if isinstance(items, dict):
                kept = []
                for i, item in enumerate(value):
                    if item is None and not items.get("nullable"):
                        continue
                    self.check(items, item, f"{path}[{i}]")
                    kept.append(item)
                value[:] = kept
        else:
            self._scalar(schema, value, path)

    def _object(self, schema: dict[str, Any], obj: dict[str, Any], path: str, *, root: bool) -> None:
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        embedded = root or bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(obj):
            child = f"{path}.{key}" if path else key
            if embedded and key in ("apiVersion", "kind", "metadata"):
                continue
            sub = props.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is None:
                if not preserve and extra is not True:
                    del obj[key]
                    self.unknown.append(child)
                continue
            if obj[key] is None and not sub.get("nullable"):
                del obj[key]
                continue
            self.check(sub, obj[key], child)
        for req in schema.get("required") or []:
            if req not in obj:
                self.causes.append((f"{path}.{req}" if path else req, "Required value"))

    def _scalar(self, schema: dict[str, Any], value: Any, path: str) -> None:
        enum = schema.get("enum")
        if enum and value not in enum:
            self.causes.append((path, f"Unsupported value: {q(value)}: supported values: "
                                      + ", ".join(q(e) for e in enum)))
        if isinstance(value, str) and schema.get("pattern") and not _regex(schema["pattern"]).search(value):
            self.causes.append((path, f"Invalid value: {q(value)}: {path} in body should match "
                                      f"'{schema['pattern']}'"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                self.causes.append((path, f"Invalid value: {q(value)}: {path} in body should be greater than "
                                          f"or equal to {schema['minimum']}"))
            if "maximum" in schema and value > schema["maximum"]:
                self.causes.append((path, f"Invalid value: {q(value)}: {path} in body should be less than "
                                          f"or equal to {schema['maximum']}"))


def check_custom_resource(schema: dict[str, Any], obj: dict[str, Any], *, status: bool) -> Checker:
    """Prune and validate ``obj`` in place. ``status`` False skips ``.status`` (a main-resource write
    keeps the stored status; the /status subresource is the only way to change it)."""
    checker = Checker()
    if status:
        checker.check(schema, obj, "", root=True)
        return checker
    saved = obj.pop("status", None)
    checker.check(schema, obj, "", root=True)
    if saved is not None:
        obj["status"] = saved
    return checker
