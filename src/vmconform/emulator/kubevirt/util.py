"""Small helpers shared by the KubeVirt controllers: quantities, conditions, owners, selectors."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..resources import dig
from ..timeutil import now_rfc3339

Obj = dict[str, Any]

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QTY_RE = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
MI = 2**20


def parse_quantity(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    """A Kubernetes quantity ("64M", "1Gi", "100m", 3) as a Decimal; ``default`` if unparsable."""
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    m = _QTY_RE.match(str(value).strip())
    if not m:
        return default
    try:
        return Decimal(m.group(1)) * Decimal(_SUFFIXES[m.group(2) or ""])
    except InvalidOperation:
        return default


def format_mi(num_bytes: Decimal | int) -> str:
    mi = -(-int(num_bytes) // MI)
    return f"{mi}Mi"


# ---------------------------------------------------------------- conditions


def get_condition(obj: Obj, ctype: str) -> Obj | None:
    for cond in dig(obj, "status", "conditions", default=[]) or []:
        if cond.get("type") == ctype:
            return cond
    return None


def has_condition(obj: Obj | None, ctype: str, status: str | None = None, reason: str | None = None) -> bool:
    if obj is None:
        return False
    cond = get_condition(obj, ctype)
    if cond is None:
        return False
    if status is not None and cond.get("status") != status:
        return False
    if reason is not None and cond.get("reason") != reason:
        return False
    return True


def set_condition(status: Obj, ctype: str, value: str, reason: str = "", message: str = "",
                  probe: bool = False) -> None:
    """Add or update a condition in ``status["conditions"]``; keeps lastTransitionTime when unchanged."""
    conds: list[Obj] = status.setdefault("conditions", [])
    now = now_rfc3339()
    new: Obj = {"type": ctype, "status": value}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    for i, cond in enumerate(conds):
        if cond.get("type") != ctype:
            continue
        same = cond.get("status") == value
        new["lastTransitionTime"] = cond.get("lastTransitionTime", now) if same else now
        if probe:
            new["lastProbeTime"] = cond.get("lastProbeTime", now) if same else now
        if {k: cond.get(k) for k in ("status", "reason", "message")} == {
            k: new.get(k) for k in ("status", "reason", "message")
        }:
            return
        conds[i] = new
        return
    new["lastTransitionTime"] = now
    if probe:
        new["lastProbeTime"] = now
    conds.append(new)


def copy_condition(status: Obj, cond: Obj) -> None:
    """Put a verbatim copy of ``cond`` into ``status["conditions"]`` (replacing one of the same type)."""
    conds: list[Obj] = status.setdefault("conditions", [])
    clean = {k: v for k, v in cond.items() if v is not None}
    for i, c in enumerate(conds):
        if c.get("type") == cond.get("type"):
            conds[i] = clean
            return
    conds.append(clean)


def remove_condition(status: Obj, ctype: str) -> None:
    conds = status.get("conditions")
    if conds:
        status["conditions"] = [c for c in conds if c.get("type") != ctype]


# ---------------------------------------------------------------- metadata


def owner_ref(obj: Obj, controller: bool = True) -> Obj:
    return {
        "apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
        "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
        "controller": controller, "blockOwnerDeletion": True,
    }


def controller_uid(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def is_owned_by(obj: Obj, owner: Obj) -> bool:
    return any(r.get("uid") == owner["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences") or [])


def add_finalizer(obj: Obj, name: str) -> None:
    fins = obj["metadata"].setdefault("finalizers", [])
    if name not in fins:
        fins.append(name)


def remove_finalizers(obj: Obj, *names: str) -> None:
    fins = obj["metadata"].get("finalizers") or []
    obj["metadata"]["finalizers"] = [f for f in fins if f not in names]


def labels_of(obj: Obj) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def match_label_selector(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A structured LabelSelector (matchLabels / matchExpressions)."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not match_expression(expr, labels):
            return False
    return True


def match_expression(expr: Obj, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    has, val = key in labels, labels.get(key)
    if op == "In":
        return has and val in values
    if op == "NotIn":
        return not has or val not in values
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    if op in ("Gt", "Lt") and has and values:
        try:
            a, b = int(val or ""), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def now() -> str:
    return now_rfc3339()
