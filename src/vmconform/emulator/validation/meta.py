"""Object metadata as kube-apiserver validates it (kubernetes v1.32
``staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go`` ``ValidateObjectMetaAccessor``,
``pkg/util/validation/validation.go`` for the name, label and qualified-name rules and messages)."""

from __future__ import annotations

import json
import re
from typing import Any

from .. import errors

Cause = tuple[str, str]  # (field path, message body such as 'Invalid value: "x": ...')

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + ")*"
DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = "(" + QUALIFIED_NAME + ")?"

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             f"validation is '{DNS1123_LABEL}')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 f"validation is '{DNS1123_SUBDOMAIN}')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               f"regex used for validation is '{DNS1035_LABEL}')")
QUALIFIED_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                 "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                 f"validation is '{QUALIFIED_NAME}')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   f"'12345', regex used for validation is '{LABEL_VALUE}')")
TOTAL_ANNOTATION_SIZE = 256 * 1024


def q(value: Any) -> str:
    """A value as Go's ``%q`` / field.Invalid prints it."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else json.dumps(value)


def invalid(value: Any, detail: str) -> str:
    return f"Invalid value: {q(value)}: {detail}"


def _full(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def dns1123_label(text: str) -> list[str]:
    out = [] if len(text) <= 63 else ["must be no more than 63 characters"]
    return out + ([] if _full(DNS1123_LABEL, text) else [LABEL_MSG])


def dns1123_subdomain(text: str) -> list[str]:
    out = [] if len(text) <= 253 else ["must be no more than 253 characters"]
    return out + ([] if _full(DNS1123_SUBDOMAIN, text) else [SUBDOMAIN_MSG])


def dns1035_label(text: str) -> list[str]:
    out = [] if len(text) <= 63 else ["must be no more than 63 characters"]
    return out + ([] if _full(DNS1035_LABEL, text) else [DNS1035_MSG])


def qualified_name(text: str) -> list[str]:
    """``IsQualifiedName``: ``[prefix/]name``, the prefix a DNS subdomain."""
    parts = text.split("/")
    if len(parts) == 1:
        name = parts[0]
        out: list[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            out = ["prefix part must be non-empty"]
        else:
            out = ["prefix part " + m for m in dns1123_subdomain(prefix)]
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                f"validation is '{QUALIFIED_NAME}') with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    if not name:
        return out + ["name part must be non-empty"]
    if len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if not _full(QUALIFIED_NAME, name):
        out.append(QUALIFIED_MSG)
    return out


def label_value(text: str) -> list[str]:
    out = [] if len(text) <= 63 else ["must be no more than 63 characters"]
    return out + ([] if _full(LABEL_VALUE, text) else [LABEL_VALUE_MSG])


def _string_map(kind: str, version: str, meta: dict[str, Any], key: str) -> dict[str, str]:
    value = meta.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot '
                                 f"unmarshal into Go struct field ObjectMeta.metadata.{key} of type map[string]string")
    return value


_META_TYPES: dict[str, tuple[type, str]] = {
    "name": (str, "string"), "generateName": (str, "string"), "namespace": (str, "string"),
    "finalizers": (list, "[]string"), "ownerReferences": (list, "[]v1.OwnerReference"),
    "resourceVersion": (str, "string"), "uid": (str, "string"),
}


def check_types(kind: str, version: str, meta: dict[str, Any]) -> None:
    """ObjectMeta fields of the wrong JSON type: a decode error (400), as encoding/json reports it."""
    for key, (want, go_type) in _META_TYPES.items():
        value = meta.get(key)
        bad = value is not None and not isinstance(value, want)
        if key == "finalizers" and isinstance(value, list):
            bad = not all(isinstance(v, str) for v in value)
        if key == "ownerReferences" and isinstance(value, list):
            bad = not all(isinstance(v, dict) for v in value)
        if bad:
            raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot '
                                     f"unmarshal into Go struct field ObjectMeta.metadata.{key} of type {go_type}")


def metadata_causes(kind: str, version: str, meta: dict[str, Any]) -> list[Cause]:
    """Label and annotation causes (names are checked by :func:`name_causes`)."""
    check_types(kind, version, meta)
    causes: list[Cause] = []
    for key, value in _string_map(kind, version, meta, "labels").items():
        causes += [("metadata.labels", invalid(key, m)) for m in qualified_name(key)]
        causes += [("metadata.labels", invalid(value, m)) for m in label_value(value)]
    annotations = _string_map(kind, version, meta, "annotations")
    for key in annotations:
        causes += [("metadata.annotations", invalid(key, m)) for m in qualified_name(key.lower())]
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE:
        causes.append(("metadata.annotations", f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE} bytes"))
    finalizers = meta.get("finalizers") or []
    if isinstance(finalizers, list):
        for i, fin in enumerate(finalizers):
            if isinstance(fin, str):
                causes += [(f"metadata.finalizers[{i}]", invalid(fin, m)) for m in qualified_name(fin)]
    return causes


NameRule = str  # "subdomain" | "label" | "dns1035"
_RULES = {"subdomain": dns1123_subdomain, "label": dns1123_label, "dns1035": dns1035_label}


def name_causes(meta: dict[str, Any], rule: NameRule) -> list[Cause]:
    """``metadata.name`` (or the generateName prefix) against the kind's name rule."""
    check = _RULES[rule]
    name = meta.get("name")
    if name:
        if not isinstance(name, str):
            return [("metadata.name", invalid(name, "must be a string"))]
        return [("metadata.name", invalid(name, m)) for m in check(name)]
    prefix = meta.get("generateName")
    if isinstance(prefix, str) and prefix:
        # ValidateObjectMeta checks the prefix as a name with its trailing '-' allowed.
        probe = prefix[:-1] if prefix.endswith("-") else prefix
        return [("metadata.generateName", invalid(prefix, m)) for m in check(probe or "a")]
    return []
