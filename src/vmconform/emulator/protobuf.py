"""Protobuf request bodies. kubectl's typed clients (``create namespace|configmap|secret|service|
serviceaccount|poddisruptionbudget``, ``run``, ``auth can-i``) send application/vnd.kubernetes.protobuf
with no JSON fallback; this decodes the kinds the emulated API server stores that kubectl writes that
way into their JSON form. Fields outside these schemas (and empty values) are dropped."""

from __future__ import annotations

import base64
from typing import Any

from . import errors
from .errors import ApiError

PROTOBUF = "application/vnd.kubernetes.protobuf"
_PB_MAGIC = b"k8s\x00"
_STR, _INT, _BOOL, _MAP, _QMAP = "str", "int", "bool", "map", "qmap"  # qmap: map<string, Quantity>
_BMAP, _INTSTR = "bmap", "intstr"  # map<string, bytes> (JSON: base64); IntOrString
PbSchema = dict[int, tuple[str, Any]]  # field number -> (json name, "[]" suffix if repeated; type)

_PB_OWNER: PbSchema = {1: ("kind", _STR), 3: ("name", _STR), 4: ("uid", _STR), 5: ("apiVersion", _STR),
                       6: ("controller", _BOOL), 7: ("blockOwnerDeletion", _BOOL)}
_PB_META: PbSchema = {1: ("name", _STR), 2: ("generateName", _STR), 3: ("namespace", _STR),
                      11: ("labels", _MAP), 12: ("annotations", _MAP),
                      13: ("ownerReferences[]", _PB_OWNER), 14: ("finalizers[]", _STR)}
_PB_CONTAINER: PbSchema = {
    1: ("name", _STR), 2: ("image", _STR), 3: ("command[]", _STR), 4: ("args[]", _STR), 5: ("workingDir", _STR),
    6: ("ports[]", {1: ("name", _STR), 2: ("hostPort", _INT), 3: ("containerPort", _INT), 4: ("protocol", _STR)}),
    7: ("env[]", {1: ("name", _STR), 2: ("value", _STR)}),
    8: ("resources", {1: ("limits", _QMAP), 2: ("requests", _QMAP)}),
    14: ("imagePullPolicy", _STR), 16: ("stdin", _BOOL), 17: ("stdinOnce", _BOOL), 18: ("tty", _BOOL),
}
_PB_INTSTR: PbSchema = {}  # decoded by _pb_intstr
_PB_SELECTOR: PbSchema = {1: ("matchLabels", _MAP), 2: ("matchExpressions[]", {
    1: ("key", _STR), 2: ("operator", _STR), 3: ("values[]", _STR)})}
_PB_OBJREF: PbSchema = {1: ("kind", _STR), 2: ("namespace", _STR), 3: ("name", _STR), 4: ("uid", _STR),
                        5: ("apiVersion", _STR)}
_PB_RULE: PbSchema = {1: ("verbs[]", _STR), 2: ("apiGroups[]", _STR), 3: ("resources[]", _STR),
                      4: ("resourceNames[]", _STR), 5: ("nonResourceURLs[]", _STR)}
# Field numbers from k8s.io/api core/v1 and policy/v1 generated.proto (kubectl create configmap/secret/
# service/serviceaccount/poddisruptionbudget send these kinds as protobuf).
_PB_KINDS: dict[str, PbSchema] = {
    "ConfigMap": {1: ("metadata", _PB_META), 2: ("data", _MAP), 3: ("binaryData", _BMAP), 4: ("immutable", _BOOL)},
    "Secret": {1: ("metadata", _PB_META), 2: ("data", _BMAP), 3: ("type", _STR), 4: ("stringData", _MAP),
               5: ("immutable", _BOOL)},
    "ServiceAccount": {1: ("metadata", _PB_META), 2: ("secrets[]", _PB_OBJREF),
                       3: ("imagePullSecrets[]", {1: ("name", _STR)}), 4: ("automountServiceAccountToken", _BOOL)},
    "Service": {1: ("metadata", _PB_META), 2: ("spec", {
        1: ("ports[]", {1: ("name", _STR), 2: ("protocol", _STR), 3: ("port", _INT), 4: ("targetPort", _INTSTR),
                        5: ("nodePort", _INT), 6: ("appProtocol", _STR)}),
        2: ("selector", _MAP), 3: ("clusterIP", _STR), 4: ("type", _STR), 5: ("externalIPs[]", _STR),
        7: ("sessionAffinity", _STR), 10: ("externalName", _STR), 11: ("externalTrafficPolicy", _STR),
        18: ("clusterIPs[]", _STR), 22: ("internalTrafficPolicy", _STR)})},
    "PodDisruptionBudget": {1: ("metadata", _PB_META), 2: ("spec", {
        1: ("minAvailable", _INTSTR), 2: ("selector", _PB_SELECTOR), 3: ("maxUnavailable", _INTSTR),
        4: ("unhealthyPodEvictionPolicy", _STR)})},
    "Namespace": {1: ("metadata", _PB_META), 2: ("spec", {1: ("finalizers[]", _STR)})},
    "Pod": {1: ("metadata", _PB_META), 2: ("spec", {
        2: ("containers[]", _PB_CONTAINER), 3: ("restartPolicy", _STR), 4: ("terminationGracePeriodSeconds", _INT),
        6: ("dnsPolicy", _STR), 7: ("nodeSelector", _MAP), 8: ("serviceAccountName", _STR), 10: ("nodeName", _STR),
        11: ("hostNetwork", _BOOL)})},
    "SelfSubjectAccessReview": {1: ("metadata", _PB_META), 2: ("spec", {
        1: ("resourceAttributes", {1: ("namespace", _STR), 2: ("verb", _STR), 3: ("group", _STR),
                                   4: ("version", _STR), 5: ("resource", _STR), 6: ("subresource", _STR),
                                   7: ("name", _STR)}),
        2: ("nonResourceAttributes", {1: ("path", _STR), 2: ("verb", _STR)})})},
    # rbac/v1 generated.proto (kubectl create role|clusterrole|rolebinding|clusterrolebinding)
    **{kind: {1: ("metadata", _PB_META), 2: ("rules[]", _PB_RULE),
              **({3: ("aggregationRule", {1: ("clusterRoleSelectors[]", _PB_SELECTOR)})} if kind == "ClusterRole" else {})}
       for kind in ("Role", "ClusterRole")},
    **{kind: {1: ("metadata", _PB_META),
              2: ("subjects[]", {1: ("kind", _STR), 2: ("apiGroup", _STR), 3: ("name", _STR), 4: ("namespace", _STR)}),
              3: ("roleRef", {1: ("apiGroup", _STR), 2: ("kind", _STR), 3: ("name", _STR)})}
       for kind in ("RoleBinding", "ClusterRoleBinding")},
}


def _pb_fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: ints for varints, bytes otherwise."""
    out, i, n = [], 0, len(buf)

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            if i >= n:
                raise ValueError("truncated varint")
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    while i < n:
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            out.append((num, wire, varint()))
        elif wire == 2:
            length = varint()
            if i + length > n:
                raise ValueError("truncated field")
            out.append((num, wire, buf[i:i + length]))
            i += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            out.append((num, wire, buf[i:i + size]))
            i += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _pb_message(buf: bytes, schema: PbSchema) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for num, _wire, raw in _pb_fields(buf):
        if num not in schema:
            continue
        name, typ = schema[num]
        repeated = name.endswith("[]")
        name = name.removesuffix("[]")
        value: Any
        if typ in (_MAP, _QMAP, _BMAP):
            entry = {k: v for k, _w, v in _pb_fields(raw)}
            val = entry.get(2, b"")
            if typ == _QMAP:
                val = next((v for k, _w, v in _pb_fields(val) if k == 1), b"")
            text = base64.b64encode(val).decode() if typ == _BMAP else val.decode()
            obj.setdefault(name, {})[entry.get(1, b"").decode()] = text
            continue
        if typ == _INTSTR:
            parts = {k: v for k, _w, v in _pb_fields(raw)}
            obj[name] = parts.get(3, b"").decode() if parts.get(1) == 1 else parts.get(2, 0)
            continue
        if typ == _STR:
            value = raw.decode()
        elif typ == _INT:
            value = raw - (1 << 64) if raw >= 1 << 63 else raw
        elif typ == _BOOL:
            value = bool(raw)
        else:
            value = _pb_message(raw, typ)
        if repeated:
            obj.setdefault(name, []).append(value)
        elif value not in ("", 0, False, {}):
            obj[name] = value
    return obj


def decode_protobuf(raw: bytes) -> dict[str, Any]:
    """A ``k8s\\0``-framed runtime.Unknown holding one of the kinds above, as its JSON form."""
    if not raw.startswith(_PB_MAGIC):
        raise errors.bad_request("the request body is not valid: missing the protobuf magic prefix")
    try:
        unknown = {k: v for k, _w, v in _pb_fields(raw[len(_PB_MAGIC):])}
        type_meta = {k: v.decode() for k, _w, v in _pb_fields(unknown.get(1, b""))}
        api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
        schema = _PB_KINDS.get(kind)
        if schema is None:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format - accepted media types include: "
                           f"application/json, application/yaml ({kind or 'this kind'} is not accepted as protobuf)")
        obj = _pb_message(unknown.get(2, b""), schema)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the request body is not valid: {exc}") from exc
    return {"apiVersion": api_version, "kind": kind, **obj}
