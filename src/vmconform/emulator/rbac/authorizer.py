"""The RBAC authorizer over the emulator's store: bindings → roles → rules, as kube-apiserver's
(``plugin/pkg/auth/authorizer/rbac/rbac.go`` ``Authorize``; ``pkg/registry/rbac/validation/rule.go``
``VisitRulesFor``, ``appliesTo``), with the ``system:masters`` group allowed everything first, like
the apiserver's privileged-group authorizer. An aggregated ClusterRole's rules are the union of
the ClusterRoles its selectors match, read at once (the aggregation controller also writes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import ApiError
from ..store import Store
from . import rules
from .attributes import Attributes
from .kinds import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES

Obj = dict[str, Any]
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = (AUTHENTICATED,)


def service_account(namespace: str, name: str) -> UserInfo:
    """The user a service account's token authenticates as."""
    return UserInfo(f"{SA_PREFIX}{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def _subject_applies(subject: Obj, user: UserInfo, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(ns) and user.name == f"{SA_PREFIX}{ns}:{name}"
    return False


def _describe(subject: Obj, binding_ns: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("namespace") or binding_ns}/{subject.get("name")}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class Authorizer:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------ roles

    def cluster_role_rules(self, name: str, seen: frozenset[str] = frozenset()) -> list[Obj] | None:
        role = self.store.peek(CLUSTERROLES, None, name)
        if role is None:
            return None
        agg = role.get("aggregationRule")
        if not isinstance(agg, dict) or not agg.get("clusterRoleSelectors"):
            return list(role.get("rules") or [])
        out: list[Obj] = []
        for other in self.aggregated_sources(role):
            other_name = other["metadata"]["name"]
            if other_name in seen:
                continue
            for rule in self.cluster_role_rules(other_name, seen | {name}) or []:
                if rule not in out:
                    out.append(rule)
        return out

    def aggregated_sources(self, role: Obj) -> list[Obj]:
        selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
        me = role["metadata"]["name"]
        return [o for o in self.store.items(CLUSTERROLES)
                if o["metadata"]["name"] != me
                and any(rules.selector_matches(s, o["metadata"].get("labels") or {}) for s in selectors)]

    def _binding_rules(self, binding: Obj, namespace: str) -> tuple[list[Obj], str]:
        ref = binding.get("roleRef") or {}
        name = str(ref.get("name", ""))
        if ref.get("kind") == "Role" and namespace:
            role = self.store.peek(ROLES, namespace, name)
            if role is None:
                return [], f'role.rbac.authorization.k8s.io "{name}" not found'
            return list(role.get("rules") or []), ""
        found = self.cluster_role_rules(name)
        if found is None:
            return [], f'clusterrole.rbac.authorization.k8s.io "{name}" not found'
        return found, ""

    # ------------------------------------------------------------ decisions

    def _visits(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, list[Obj], str]]:
        """(source, rules, error) for every binding that applies to the user, cluster ones first."""
        for b in self.store.items(CLUSTERROLEBINDINGS):
            subject = next((s for s in b.get("subjects") or [] if _subject_applies(s, user, "")), None)
            if subject is None:
                continue
            found, err = self._binding_rules(b, "")
            ref = b.get("roleRef") or {}
            yield (f'ClusterRoleBinding "{b["metadata"]["name"]}" of {ref.get("kind")} "{ref.get("name")}" '
                   f'to {_describe(subject, "")}', found, err)
        if not namespace:
            return
        for b in self.store.items(ROLEBINDINGS, namespace):
            subject = next((s for s in b.get("subjects") or [] if _subject_applies(s, user, namespace)), None)
            if subject is None:
                continue
            found, err = self._binding_rules(b, namespace)
            ref = b.get("roleRef") or {}
            yield (f'RoleBinding "{b["metadata"]["name"]}/{namespace}" of {ref.get("kind")} "{ref.get("name")}" '
                   f'to {_describe(subject, namespace)}', found, err)

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        if MASTERS in user.groups:
            return Decision(True)
        errors: list[str] = []
        for source, found, err in self._visits(user, attrs.namespace if attrs.resource_request else ""):
            if err:
                errors.append(err)
            if any(rules.allows(rule, attrs) for rule in found):
                return Decision(True, f"RBAC: allowed by {source}")
        if not errors:
            return Decision(False)
        return Decision(False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"))


def forbidden_message(user: UserInfo, attrs: Attributes) -> str:
    """responsewriters.forbiddenMessage's wording."""
    if not attrs.resource_request:
        return f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
    where = (f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope")
    return (f'User "{user.name}" cannot {attrs.verb} resource "{attrs.combined_resource}" '
            f'in API group "{attrs.group}" {where}')


def forbidden(user: UserInfo, attrs: Attributes, reason: str) -> ApiError:
    """The 403 the apiserver answers a request its authorizers deny (NewForbidden of the resource)."""
    text = forbidden_message(user, attrs) + (f": {reason}" if reason else "")
    if not attrs.resource_request:
        return ApiError(403, "Forbidden", f"forbidden: {text}")
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    head = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    return ApiError(403, "Forbidden", f"{head} is forbidden: {text}", group=attrs.group, kind=attrs.resource,
                    name=attrs.name)
