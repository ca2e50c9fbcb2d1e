"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a simple server-side apply."""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_merge(target: Any, applied: Any) -> Any:
    """Server-side apply, simplified: fields in ``applied`` win; lists are replaced; nothing is removed."""
    if not isinstance(applied, dict) or not isinstance(target, dict):
        return copy.deepcopy(applied)
    result = dict(target)
    for key, value in applied.items():
        result[key] = apply_merge(result.get(key), value)
    return result


class PatchError(ApiError):
    pass


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, "Invalid", f"invalid JSON pointer: {path!r}")
    return [_unescape(t) for t in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    cur = doc
    for tok in tokens[:-1]:
        if isinstance(cur, list):
            try:
                cur = cur[int(tok)]
            except (ValueError, IndexError) as exc:
                raise PatchError(422, "Invalid", f"jsonpatch: path index {tok} out of range") from exc
        elif isinstance(cur, dict) and tok in cur:
            cur = cur[tok]
        else:
            raise PatchError(422, "Invalid", f"jsonpatch: missing path element {tok!r}")
    return cur, tokens[-1]


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens)
    if isinstance(parent, list):
        try:
            return parent[int(last)]
        except (ValueError, IndexError) as exc:
            raise PatchError(422, "Invalid", f"jsonpatch: index {last} out of range") from exc
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    raise PatchError(422, "Invalid", f"jsonpatch: missing value at {'/'.join(tokens)}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens)
    if isinstance(parent, list):
        idx = len(parent) if last == "-" else int(last)
        if idx > len(parent):
            raise PatchError(422, "Invalid", f"jsonpatch: add index {idx} out of range")
        parent.insert(idx, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(422, "Invalid", "jsonpatch: add to a scalar")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent, last = _parent(doc, tokens)
    if isinstance(parent, list):
        try:
            parent.pop(int(last))
        except (ValueError, IndexError) as exc:
            raise PatchError(422, "Invalid", f"jsonpatch: remove index {last} out of range") from exc
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise PatchError(422, "Invalid", f"jsonpatch: remove of missing path /{'/'.join(tokens)}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError(400, "BadRequest", "json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(400, "BadRequest", "json patch operations must be objects")
        kind = op.get("op")
        tokens = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, tokens)
        elif kind == "replace":
            _get(doc, tokens)
            if not tokens:
                doc = copy.deepcopy(op.get("value"))
            else:
                parent, last = _parent(doc, tokens)
                if isinstance(parent, list):
                    parent[int(last)] = copy.deepcopy(op.get("value"))
                else:
                    parent[last] = copy.deepcopy(op.get("value"))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, src))
            if kind == "move":
                doc = _remove(doc, src)
            doc = _add(doc, tokens, value)
        elif kind == "test":
            try:
                current = _get(doc, tokens)
            except PatchError:
                current = None
            if current != op.get("value"):
                raise PatchError(
                    409, "Conflict",
                    f"the server rejected our request due to an error in our request: "
                    f"jsonpatch test operation does not apply: doc is not equal to value at {op.get('path')}",
                )
        else:
            raise PatchError(400, "BadRequest", f"unexpected json patch operation {kind!r}")
    return doc
