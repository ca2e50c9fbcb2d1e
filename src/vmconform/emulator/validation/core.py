"""Core kinds' create/update strategies: defaulting and validation as kube-apiserver does them
(kubernetes v1.32 ``pkg/apis/core/validation/validation.go``: ``ValidateConfigMap``, ``ValidateSecret``,
``ValidateService``, ``ValidatePodCreate``, ``ValidatePersistentVolumeClaim``;
``pkg/apis/policy/validation/validation.go`` ``ValidatePodDisruptionBudgetSpec``;
``pkg/apis/core/v1/defaults.go`` for the defaults).

A value that cannot even be decoded into the Go type (a quantity ``abc``, Secret data that is not
base64) is a 400 ``BadRequest`` (:class:`DecodeError`); a decoded value that breaks a rule is a
cause of the 422 ``Invalid``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Any, Callable

from .. import errors
from . import quantity
from .meta import Cause, dns1035_label, dns1123_label, dns1123_subdomain, invalid, q

Obj = dict[str, Any]
Validator = Callable[[Obj, "Obj | None"], list[Cause]]

MAX_DATA_BYTES = 1024 * 1024  # ConfigMap and Secret: core.MaxSecretSize
CONFIG_KEY = "[-._a-zA-Z0-9]+"
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                  f"or 'KEY_NAME',  or 'key-name', regex used for validation is '{CONFIG_KEY}')")
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
PROTOCOLS = ("SCTP", "TCP", "UDP")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
RESTART_POLICIES = ("Always", "Never", "OnFailure")
PERCENT = "[0-9]+%"
PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
               f"regex used for validation is '{PERCENT}')")
IMMUTABLE = "field is immutable"


class DecodeError(Exception):
    """The body does not decode into the kind's Go type: a 400."""


def decode_failure(kind: str, detail: str) -> errors.ApiError:
    return errors.bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: {detail}')


def _config_key_causes(field: str, keys: list[str]) -> list[Cause]:
    causes: list[Cause] = []
    for key in keys:
        if not re.fullmatch(CONFIG_KEY, key):
            causes.append((f"{field}[{key}]", invalid(key, CONFIG_KEY_MSG)))
        elif key in (".", ".."):
            causes.append((f"{field}[{key}]", invalid(key, f"must not be '{key}'")))
        elif len(key) > 253:
            causes.append((f"{field}[{key}]", invalid(key, "must be no more than 253 characters")))
    return causes


def _b64(value: Any) -> bytes:
    """Go's base64.StdEncoding as encoding/json decodes []byte."""
    if not isinstance(value, str):
        raise DecodeError("json: cannot unmarshal into Go value of type []uint8")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        bad = next((i for i, ch in enumerate(value)
                    if not (ch.isascii() and (ch.isalnum() or ch in "+/="))), len(value) - len(value) % 4)
        raise DecodeError(f"illegal base64 data at input byte {bad}") from None


def _string_map(obj: Obj, key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"json: cannot unmarshal into Go struct field .{key} of type map[string]")
    return value


# ---------------------------------------------------------------- ConfigMap


def configmap(obj: Obj, old: Obj | None) -> list[Cause]:
    data = _string_map(obj, "data")
    binary = _string_map(obj, "binaryData")
    if any(not isinstance(v, str) for v in data.values()):
        raise DecodeError("json: cannot unmarshal into Go struct field ConfigMap.data of type string")
    size = 0
    for value in binary.values():
        size += len(_b64(value))
    causes = _config_key_causes("data", list(data)) + _config_key_causes("binaryData", list(binary))
    for key in data:
        if key in binary:
            causes.append((f"data[{key}]", f"Invalid value: {q(key)}: duplicate of key present in binaryData"))
    size += sum(len(k) + len(v.encode()) for k, v in data.items())
    if size > MAX_DATA_BYTES:
        causes.append(("", f"Too long: may not be more than {MAX_DATA_BYTES} bytes"))
    if old is not None and old.get("immutable"):
        if obj.get("immutable") is not True:
            causes.append(("immutable", "Forbidden: field is immutable when `immutable` is set"))
        if data != (old.get("data") or {}):
            causes.append(("data", "Forbidden: field is immutable when `immutable` is set"))
        if binary != (old.get("binaryData") or {}):
            causes.append(("binaryData", "Forbidden: field is immutable when `immutable` is set"))
    return causes


# ---------------------------------------------------------------- Secret

SECRET_REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def secret_defaults(obj: Obj) -> None:
    """v1 → internal conversion: ``stringData`` overwrites ``data`` and is not stored; type Opaque."""
    string_data = obj.pop("stringData", None)
    if string_data is not None:
        if not isinstance(string_data, dict) or any(not isinstance(v, str) for v in string_data.values()):
            raise DecodeError("json: cannot unmarshal into Go struct field Secret.stringData of type string")
        data = _string_map(obj, "data")
        obj["data"] = data
        for key, value in string_data.items():
            data[key] = base64.b64encode(value.encode()).decode()
    if not obj.get("type"):
        obj["type"] = "Opaque"


def secret(obj: Obj, old: Obj | None) -> list[Cause]:
    data = _string_map(obj, "data")
    decoded = {k: _b64(v) for k, v in data.items()}
    causes = _config_key_causes("data", list(data))
    if sum(len(v) for v in decoded.values()) > MAX_DATA_BYTES:
        causes.append(("data", f"Too long: may not be more than {MAX_DATA_BYTES} bytes"))
    stype = obj.get("type") or "Opaque"
    for key in SECRET_REQUIRED_KEYS.get(stype, ()):
        if key not in data:
            causes.append((f"data[{key}]", "Required value"))
    if stype == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        causes.append(("data[username]", "Required value"))
    if stype == "kubernetes.io/service-account-token" and not (
            (obj.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/service-account.name"):
        causes.append(("metadata.annotations[kubernetes.io/service-account.name]", "Required value"))
    if old is not None:
        if stype != (old.get("type") or "Opaque"):
            causes.append(("type", invalid(stype, IMMUTABLE)))
        if old.get("immutable"):
            if obj.get("immutable") is not True:
                causes.append(("immutable", "Forbidden: field is immutable when `immutable` is set"))
            if data != (old.get("data") or {}):
                causes.append(("data", "Forbidden: field is immutable when `immutable` is set"))
    return causes


# ---------------------------------------------------------------- Service


def _cluster_ip(obj: Obj) -> str:
    """A stable address in the default service CIDR 10.96.0.0/12, derived from the object's name."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"))
    return str(ipaddress.IPv4Address("10.96.0.0") + 10 + seed % 0xFFFF0)


def service_defaults(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise DecodeError("json: cannot unmarshal into Go struct field Service.spec of type v1.ServiceSpec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    ports = spec.get("ports") or []
    if isinstance(ports, list):
        for i, port in enumerate(ports):
            if not isinstance(port, dict):
                raise DecodeError(f"json: cannot unmarshal into Go struct field ServiceSpec.spec.ports[{i}] of "
                                  f"type v1.ServicePort")
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
    if spec["type"] == "ExternalName":
        return
    old_spec = (old or {}).get("spec") or {}
    if old_spec.get("clusterIP") and "clusterIP" not in spec:
        spec["clusterIP"] = old_spec["clusterIP"]
    if not spec.get("clusterIP"):
        spec["clusterIP"] = _cluster_ip(obj)
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    if spec["clusterIP"] != "None":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        used = {p.get("nodePort") for p in ports if isinstance(p, dict)}
        base = 30000 + sum(map(ord, obj["metadata"]["name"])) % 2700
        for port in ports:
            if isinstance(port, dict) and not port.get("nodePort"):
                candidate = base
                while candidate in used:
                    candidate += 1
                port["nodePort"] = candidate
                used.add(candidate)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _port_causes(field: str, value: Any, *, allow_name: bool) -> list[Cause]:
    if isinstance(value, bool) or value is None:
        return [(field, "Required value")]
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            return [(field, invalid(value, "must be between 1 and 65535, inclusive"))]
        return []
    if allow_name and isinstance(value, str):
        return [(field, invalid(value, m)) for m in port_name_errors(value)]
    raise DecodeError(f"json: cannot unmarshal into Go struct field {field} of type int32")


def port_name_errors(name: str) -> list[str]:
    """apimachinery ``IsValidPortName`` (an IANA_SVC_NAME)."""
    out = []
    if len(name) > 15:
        out.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", name):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        out.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", name):
        out.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def service(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    stype = spec.get("type", "ClusterIP")
    if stype not in SERVICE_TYPES:
        causes.append(("spec.type", f"Unsupported value: {q(stype)}: supported values: "
                                    + ", ".join(q(t) for t in SERVICE_TYPES)))
    ports = spec.get("ports") or []
    if not isinstance(ports, list):
        raise DecodeError("json: cannot unmarshal into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort")
    if stype == "ExternalName":
        name = spec.get("externalName") or ""
        if not name:
            causes.append(("spec.externalName", "Required value"))
    elif not ports and spec.get("clusterIP") != "None":
        causes.append(("spec.ports", "Required value"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        base = f"spec.ports[{i}]"
        pname = port.get("name") or ""
        if len(ports) > 1 and not pname:
            causes.append((f"{base}.name", "Required value"))
        elif pname:
            causes += [(f"{base}.name", invalid(pname, m)) for m in dns1123_label(pname)]
            if pname in names:
                causes.append((f"{base}.name", f"Duplicate value: {q(pname)}"))
            names.add(pname)
        causes += _port_causes(f"{base}.port", port.get("port"), allow_name=False)
        if port.get("protocol") not in PROTOCOLS:
            causes.append((f"{base}.protocol", f"Unsupported value: {q(port.get('protocol'))}: supported values: "
                                               + ", ".join(q(p) for p in PROTOCOLS)))
        if "targetPort" in port:
            causes += _port_causes(f"{base}.targetPort", port["targetPort"], allow_name=True)
        if port.get("nodePort") and stype in ("ClusterIP", "ExternalName"):
            causes.append((f"{base}.nodePort", f"Forbidden: may not be used when `type` is '{stype}'"))
    selector = spec.get("selector")
    if selector is not None and not isinstance(selector, dict):
        raise DecodeError("json: cannot unmarshal into Go struct field ServiceSpec.spec.selector of type "
                          "map[string]string")
    if old is not None:
        before = (old.get("spec") or {}).get("clusterIP")
        if before and spec.get("clusterIP") != before and stype != "ExternalName":
            causes.append(("spec.clusterIPs[0]", invalid(spec.get("clusterIP"), "may not change once set")))
    return causes


# ---------------------------------------------------------------- Pod, PVC


def _expect_object(value: Any, field: str, go_type: str) -> dict[str, Any]:
    """An optional object field: {} when absent, a DecodeError when it is not an object."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"json: cannot unmarshal {_json_type(value)} into Go struct field {field} of type {go_type}")
    return value


def _expect_list(value: Any, field: str, go_type: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"json: cannot unmarshal {_json_type(value)} into Go struct field {field} of type {go_type}")
    return value


def _json_type(value: Any) -> str:
    return {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}.get(
        type(value), "value")


def _resources_causes(kind: str, field: str, resources: Any) -> list[Cause]:
    causes: list[Cause] = []
    resources = _expect_object(resources, field, "v1.ResourceRequirements")
    for section in ("requests", "limits"):
        values = _expect_object(resources.get(section), f"{field}.{section}", "v1.ResourceList")
        for name, value in values.items():
            try:
                amount = quantity.parse(value)
            except ValueError as exc:
                raise DecodeError(str(exc)) from None
            if amount < 0:
                causes.append((f"{field}.{section}[{name}]", invalid(value, "must be greater than or equal to 0")))
    return causes


def pod(obj: Obj, old: Obj | None) -> list[Cause]:
    if old is not None:
        return []  # updates: the kubelet and controllers own most fields; not checked here
    spec = _expect_object(obj.get("spec"), "Pod.spec", "v1.PodSpec")
    causes: list[Cause] = []
    containers = _expect_list(spec.get("containers"), "PodSpec.spec.containers", "[]v1.Container")
    if not containers:
        causes.append(("spec.containers", "Required value"))
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, ctr in enumerate(_expect_list(spec.get(group), f"PodSpec.spec.{group}", "[]v1.Container")):
            base = f"spec.{group}[{i}]"
            if not isinstance(ctr, dict):
                raise DecodeError(f"json: cannot unmarshal into Go struct field PodSpec.{base} of type v1.Container")
            cname = ctr.get("name") or ""
            if not cname:
                causes.append((f"{base}.name", "Required value"))
            else:
                causes += [(f"{base}.name", invalid(cname, m)) for m in dns1123_label(cname)]
                if cname in names:
                    causes.append((f"{base}.name", f"Duplicate value: {q(cname)}"))
                names.add(cname)
            if not ctr.get("image"):
                causes.append((f"{base}.image", "Required value"))
            causes += _resources_causes("Pod", f"{base}.resources", ctr.get("resources"))
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in RESTART_POLICIES:
        causes.append(("spec.restartPolicy", f"Unsupported value: {q(policy)}: supported values: "
                                             + ", ".join(q(p) for p in RESTART_POLICIES)))
    return causes


def pvc(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _expect_object(obj.get("spec"), "PersistentVolumeClaim.spec", "v1.PersistentVolumeClaimSpec")
    causes: list[Cause] = []
    modes = _expect_list(spec.get("accessModes"), "PersistentVolumeClaimSpec.spec.accessModes",
                         "[]v1.PersistentVolumeAccessMode")
    if not all(isinstance(m, str) for m in modes):
        raise DecodeError("json: cannot unmarshal number into Go struct field PersistentVolumeClaimSpec.spec.accessModes "
                          "of type v1.PersistentVolumeAccessMode")
    if not modes:
        causes.append(("spec.accessModes", "Required value: at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            causes.append(("spec.accessModes", f"Unsupported value: {q(mode)}: supported values: "
                                               + ", ".join(q(m) for m in ACCESS_MODES)))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(("spec.accessModes", 'Forbidden: may not use ReadWriteOncePod with other access modes'))
    resources = _expect_object(spec.get("resources"), "PersistentVolumeClaimSpec.spec.resources",
                               "v1.VolumeResourceRequirements")
    causes += _resources_causes("PersistentVolumeClaim", "spec.resources", resources)
    storage = (resources.get("requests") or {}).get("storage")
    if storage is None:
        causes.append(("spec.resources[storage]", "Required value"))
    elif quantity.parse(storage) <= 0:
        causes.append(("spec.resources[storage]", invalid(storage, "must be greater than zero")))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in ("Block", "Filesystem"):
        causes.append(("spec.volumeMode", f'Unsupported value: {q(mode)}: supported values: "Block", "Filesystem"'))
    return causes


# ---------------------------------------------------------------- ServiceAccount, Event, PDB


def event(obj: Obj, old: Obj | None) -> list[Cause]:
    involved = _expect_object(obj.get("involvedObject"), "Event.involvedObject", "v1.ObjectReference")
    ns = (obj.get("metadata") or {}).get("namespace")
    causes: list[Cause] = []
    if isinstance(involved, dict) and involved.get("namespace") and involved["namespace"] != ns:
        causes.append(("involvedObject.namespace", invalid(involved["namespace"], "does not match event.namespace")))
    etype = obj.get("type")
    if etype and etype not in ("Normal", "Warning") and obj.get("reportingComponent"):
        causes.append(("type", f'Unsupported value: {q(etype)}: supported values: "Normal", "Warning"'))
    return causes


def _int_or_percent(field: str, value: Any) -> list[Cause]:
    if isinstance(value, bool):
        raise DecodeError(f"json: cannot unmarshal bool into Go struct field {field} of type intstr.IntOrString")
    if isinstance(value, int):
        return [] if value >= 0 else [(field, invalid(value, "must be greater than or equal to 0"))]
    if isinstance(value, str):
        if not re.fullmatch(PERCENT, value):
            return [(field, invalid(value, PERCENT_MSG))]
        if int(value[:-1]) > 100:
            return [(field, invalid(value, "must not be greater than 100%"))]
        return []
    raise DecodeError(f"json: cannot unmarshal into Go struct field {field} of type intstr.IntOrString")


def pdb(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise DecodeError("json: cannot unmarshal into Go struct field PodDisruptionBudget.spec of type "
                          "v1.PodDisruptionBudgetSpec")
    causes: list[Cause] = []
    if "minAvailable" in spec and "maxUnavailable" in spec:
        causes.append(("spec", invalid("object", "minAvailable and maxUnavailable cannot be both set")))
    for key in ("minAvailable", "maxUnavailable"):
        if key in spec:
            causes += _int_or_percent(f"spec.{key}", spec[key])
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        causes.append(("spec.unhealthyPodEvictionPolicy", f'Unsupported value: {q(policy)}: supported values: '
                                                          '"AlwaysAllow", "IfHealthyBudget"'))
    return causes


def pdb_defaults(obj: Obj, old: Obj | None) -> None:
    """A PDB's status as the disruption controller first writes it (no pods counted yet)."""
    if old is None:
        obj["status"] = {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}


def no_rules(obj: Obj, old: Obj | None) -> list[Cause]:
    return []


__all__ = ["DecodeError", "configmap", "decode_failure", "dns1035_label", "dns1123_subdomain", "event", "no_rules",
           "pdb", "pdb_defaults", "pod", "pvc", "secret", "secret_defaults", "service", "service_defaults"]
