"""The rbac.authorization.k8s.io/v1 kinds, served and stored like any other kind."""

from __future__ import annotations

from typing import Any

from ..resources import AGE, Column, ResourceType, dig

GROUP = "rbac.authorization.k8s.io"


def _role_ref(obj: dict[str, Any]) -> str:
    return f"{dig(obj, 'roleRef', 'kind', default='')}/{dig(obj, 'roleRef', 'name', default='')}"


def _subjects(kind: str) -> Any:
    def names(obj: dict[str, Any]) -> str:
        out = []
        for s in obj.get("subjects") or []:
            if s.get("kind") == kind:
                out.append(f"{s.get('namespace', '')}/{s.get('name', '')}" if kind == "ServiceAccount" else s.get("name", ""))
        return ", ".join(out)
    return names


_CREATED = Column("Created At", "date", lambda o: dig(o, "metadata", "creationTimestamp"))
_BINDING_COLUMNS = (
    Column("Role", "string", _role_ref), AGE,
    Column("Users", "string", _subjects("User"), priority=1),
    Column("Groups", "string", _subjects("Group"), priority=1),
    Column("ServiceAccounts", "string", _subjects("ServiceAccount"), priority=1),
)

ROLES = ResourceType(GROUP, "v1", "roles", "role", "Role", True, has_status=False, columns=(_CREATED,))
CLUSTERROLES = ResourceType(GROUP, "v1", "clusterroles", "clusterrole", "ClusterRole", False, has_status=False,
                            columns=(_CREATED,))
ROLEBINDINGS = ResourceType(GROUP, "v1", "rolebindings", "rolebinding", "RoleBinding", True, has_status=False,
                            columns=_BINDING_COLUMNS)
CLUSTERROLEBINDINGS = ResourceType(GROUP, "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding",
                                   False, has_status=False, columns=_BINDING_COLUMNS)

KINDS: tuple[ResourceType, ...] = (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)
