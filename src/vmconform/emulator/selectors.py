"""Label and field selectors, as the API server parses them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class _Req:
    key: str
    op: str  # =, !=, in, notin, exists, !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        val = labels.get(self.key)
        if self.op == "=":
            return has and val == self.values[0]
        if self.op == "!=":
            return not has or val != self.values[0]
        if self.op == "in":
            return has and val in self.values
        if self.op == "notin":
            return not has or val not in self.values
        if self.op == "exists":
            return has
        return not has


def parse_label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda _o: True
    reqs: list[_Req] = []
    for part in _split_top(text):
        m = _SET_RE.match(part)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(_Req(m.group(1), m.group(2), values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append(_Req(k.strip(), "!=", (v.strip(),)))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append(_Req(k.strip(), "=", (v.strip(),)))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append(_Req(k.strip(), "=", (v.strip(),)))
        elif part.startswith("!"):
            reqs.append(_Req(part[1:].strip(), "!exists"))
        elif re.fullmatch(r"[A-Za-z0-9._/-]+", part):
            reqs.append(_Req(part, "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {part!r}")

    def pred(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in reqs)

    return pred


def field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for step in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(step)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return str(cur).lower()
    return str(cur)


def parse_field_selector(text: str | None) -> Predicate:
    if not text:
        return lambda _o: True
    reqs: list[tuple[str, bool, str]] = []
    for part in _split_top(text):
        if "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), False, v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append((k.strip(), True, v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append((k.strip(), True, v.strip()))
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")

    def pred(obj: dict[str, Any]) -> bool:
        return all((field_value(obj, k) == v) == eq for k, eq, v in reqs)

    return pred


# Field selectors a kind supports (kubernetes v1.32 ``pkg/apis/core/v1/conversion.go``
# ``AddFieldLabelConversionsFor*``; apps ``ReplicaSet``): metadata.name and metadata.namespace always.
# Custom resources support only those two (KubeVirt v1.9.0's CRDs declare no selectableFields).
_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
SUPPORTED_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                             "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
                             "status.nominatedNodeName"}),
    ("", "events"): frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}),
    ("", "secrets"): frozenset({"type"}),
    ("", "namespaces"): frozenset({"status.phase"}),
    ("", "nodes"): frozenset({"spec.unschedulable"}),
    ("", "services"): frozenset({"spec.clusterIP", "spec.type"}),
    ("", "persistentvolumeclaims"): frozenset(),
    ("", "persistentvolumes"): frozenset(),
    ("", "configmaps"): frozenset(),
    ("", "serviceaccounts"): frozenset(),
    ("apps", "replicasets"): frozenset({"status.replicas"}),
}


def field_keys(text: str | None) -> list[str]:
    """The field names a selector uses (after :func:`parse_field_selector` accepted its syntax)."""
    if not text:
        return []
    keys = []
    for part in _split_top(text):
        for op in ("!=", "==", "="):
            if op in part:
                keys.append(part.split(op, 1)[0].strip())
                break
    return keys


def check_field_selector(group: str, plural: str, custom: bool, text: str | None) -> None:
    """400 for a field the kind cannot be selected by, with the apiserver's message."""
    allowed = _META_FIELDS | SUPPORTED_FIELDS.get((group, plural), frozenset())
    for key in field_keys(text):
        if key in allowed:
            continue
        if custom or (group, plural) not in SUPPORTED_FIELDS:
            raise bad_request(f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        raise bad_request(f'field label not supported: {key}')


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector object (matchLabels and matchExpressions) against an object's labels; no selector
    matches nothing, an empty one everything (apimachinery ``LabelSelectorAsSelector``)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present or op == "DoesNotExist" and present:
            return False
    return True
