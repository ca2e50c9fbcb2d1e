"""Request bodies decoded as kube-apiserver decodes them: what is not a JSON/YAML object of the
endpoint's kind is a 400 ``BadRequest`` with the apiserver's wording, never a 500.

Sources (kubernetes v1.32): ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go``
``transformDecodeError`` / ``summarizeData``; ``handlers/create.go`` (the API-version check);
``k8s.io/apimachinery/pkg/runtime/serializer/json`` (``couldn't get version/kind; json parse error``).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from . import errors
from .resources import ResourceType

# encoding/json stops at 10000 levels ("exceeded max depth"); Python's parser and this server's
# recursive walkers are bounded lower, so the emulator refuses deeper bodies sooner (a documented
# deviation: no real object comes near either bound).
MAX_DEPTH = 500
GO_TYPES = {list: "array", str: "string", bool: "bool", int: "number", float: "number"}
_TYPEMETA = ('struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
             'Kind string "json:\\"kind,omitempty\\"" }')


def summarize(raw: bytes, limit: int = 30) -> str:
    """``summarizeData``: a JSON object's first bytes as text, anything else in hex."""
    if not raw:
        return "<empty>"
    if raw[:1] == b"{":
        return raw[:limit].decode(errors="replace") + (" ..." if len(raw) > limit else "")
    return raw[:limit].hex() + (" ..." if len(raw) > limit else "")


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a deep body must not exhaust the interpreter's stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node)
        if deepest > MAX_DEPTH:
            break
    return deepest


def parse(raw: bytes, content_type: str) -> Any:
    """JSON (or YAML when the content type says so) → a Python value; 400 when it does not parse."""
    try:
        if "yaml" in content_type:
            value = yaml.safe_load(raw)
        else:
            value = json.loads(raw)
    except RecursionError as exc:
        raise errors.bad_request("the request body is not valid: json: exceeded max depth") from exc
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the request body is not valid: {exc}") from exc
    if _depth(value) > MAX_DEPTH:
        raise errors.bad_request("the request body is not valid: json: exceeded max depth")
    return value


def unrecognized(res: ResourceType, raw: bytes, base: str) -> errors.ApiError:
    return errors.bad_request(
        f"the object provided is unrecognized (must be of type {res.kind}): {base} ({summarize(raw)})")


def require_object(res: ResourceType, body: Any, raw: bytes) -> dict[str, Any]:
    """The body as an object of ``res``'s kind, or the 400 kube-apiserver answers."""
    if body is None:
        raise unrecognized(res, raw, "Object 'Kind' is missing in 'null'")
    if not isinstance(body, dict):
        gotype = GO_TYPES.get(type(body), "value")
        raise unrecognized(res, raw, f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                                     f"{gotype} into Go value of type {_TYPEMETA}")
    for key in ("apiVersion", "kind"):
        if key in body and not isinstance(body[key], str):
            raise unrecognized(res, raw, f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                                         f"{GO_TYPES.get(type(body[key]), 'value')} into Go struct field "
                                         f".{key} of type string")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version and api_version != res.api_version:
        raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                 f"API version ({res.api_version})")
    if kind and kind != res.kind:
        version = res.version
        group = f".{res.group}" if res.group else ""
        raise errors.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {res.kind}: converting ({kind}{group}) '
            f"to ({res.kind}{group}): unknown conversion")
    meta = body.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        gotype = GO_TYPES.get(type(meta), "value")
        raise errors.bad_request(
            f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: json: cannot unmarshal '
            f"{gotype} into Go struct field {res.kind}.metadata of type v1.ObjectMeta")
    return body
