"""PolicyRule matching, as kube's RBAC authorizer reads a rule
(``plugin/pkg/auth/authorizer/rbac/rbac.go``: ``RuleAllows`` and its helpers)."""

from __future__ import annotations

from typing import Any

from ..selectors import label_selector_matches
from .attributes import Attributes

ALL = "*"
Obj = dict[str, Any]


def _has(values: Any, wanted: str) -> bool:
    values = values or []
    return ALL in values or wanted in values


def resource_matches(rule: Obj, attrs: Attributes) -> bool:
    """``*``, the resource (``pods``, or ``pods/log`` for a subresource), or ``*/sub``; nothing else."""
    for entry in rule.get("resources") or []:
        if entry == ALL or entry == attrs.combined_resource:
            return True
        if attrs.subresource and entry == f"*/{attrs.subresource}":
            return True
    return False


def name_matches(rule: Obj, attrs: Attributes) -> bool:
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def url_matches(rule: Obj, path: str) -> bool:
    for entry in rule.get("nonResourceURLs") or []:
        if entry == ALL or entry == path:
            return True
        if entry.endswith("*") and path.startswith(entry[:-1]):
            return True
    return False


def allows(rule: Obj, attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if attrs.resource_request:
        return _has(rule.get("apiGroups"), attrs.group) and resource_matches(rule, attrs) and name_matches(rule, attrs)
    return url_matches(rule, attrs.path)


selector_matches = label_selector_matches  # the shared metav1.LabelSelector matcher
