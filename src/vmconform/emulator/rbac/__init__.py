"""RBAC for the emulated cluster: tokens → users, the authorizer on every request, the
rbac.authorization.k8s.io kinds, SelfSubjectAccessReview answered from the same rules, and the
default roles (Kubernetes' and KubeVirt's).

The admin token (the kubeconfig's default user) authenticates as ``kubernetes-admin`` in
``system:masters``, which is allowed everything, as on a kubeadm cluster. More tokens: one per
``Options.tokens`` entry (a user bound to a ClusterRole), or :meth:`Rbac.add_token`.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..store import Event
from . import attributes, bootstrap
from .authorizer import AUTHENTICATED, MASTERS, Authorizer, Decision, UserInfo, forbidden, service_account
from .kinds import CLUSTERROLEBINDINGS, CLUSTERROLES, KINDS, ROLEBINDINGS, ROLES

if TYPE_CHECKING:
    from ..cluster import Emulator

__all__ = ["ADMIN", "KINDS", "Rbac", "UserInfo", "install", "service_account", "CLUSTERROLES", "CLUSTERROLEBINDINGS",
           "ROLES", "ROLEBINDINGS", "Decision"]

ADMIN = UserInfo("kubernetes-admin", (MASTERS, AUTHENTICATED))
SUITE_ROLE = "vmconform"  # permissions.CLUSTER_ROLE


class Rbac:
    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        self.store = emulator.store
        self.authorizer = Authorizer(emulator.store)
        self.users: dict[str, UserInfo] = {emulator.credentials.token: ADMIN}
        self.tokens: dict[str, str] = {}  # token name → token (the admin's is the credentials' own)
        self._pending = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ authentication

    def authenticate(self, header: str) -> UserInfo | None:
        if not header.startswith("Bearer "):
            return None
        return self.users.get(header[len("Bearer "):])

    def add_token(self, user: UserInfo, cluster_role: str | None = None, name: str | None = None) -> str:
        """A new bearer token for ``user``; with ``cluster_role``, a ClusterRoleBinding of it to the user
        (``vmconform-token-<name>``; the ClusterRole may be created later, as with any binding)."""
        token = secrets.token_urlsafe(32)
        self.users[token] = user
        key = name or user.name
        self.tokens[key] = token
        if cluster_role is not None:
            subject = ({"kind": "ServiceAccount", "name": user.name.rsplit(":", 1)[1],
                        "namespace": user.name.split(":")[2]}
                       if user.name.startswith("system:serviceaccount:") else bootstrap.user(user.name))
            binding = bootstrap.cluster_binding(f"vmconform-token-{key}", cluster_role, [subject],
                                                {"app.kubernetes.io/managed-by": "vmconform-emulator"})
            if self.store.peek(CLUSTERROLEBINDINGS, None, binding["metadata"]["name"]) is None:
                self.store.create(CLUSTERROLEBINDINGS, binding)
        return token

    # ------------------------------------------------------------ authorization

    def authorize(self, request: web.Request, user: UserInfo) -> None:
        if MASTERS in user.groups:  # the privileged group: no attributes to work out
            return
        attrs = attributes.from_request(request.method, request.path, request.query)
        decision = self.authorizer.authorize(user, attrs)
        if not decision.allowed:
            raise forbidden(user, attrs, decision.reason)

    def access_review(self, user: UserInfo, review: dict[str, Any]) -> dict[str, Any]:
        """The status of a SelfSubjectAccessReview: what the requesting user may do."""
        spec = review.get("spec") if isinstance(review.get("spec"), dict) else {}
        decision = self.authorizer.authorize(user, attributes.from_review(spec))
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        return status

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        kubevirt = bool(self.emulator.options.extra.get("kubevirt_api", True))
        migrate_role = True
        if kubevirt:
            from ..kubevirt.releases import release_of

            migrate_role = release_of(self.emulator.options).migrate_needs_cluster_role
        bootstrap.install(self.store, kubevirt=kubevirt, migrate_role=migrate_role)
        for name, role in self.emulator.options.tokens:
            if role == SUITE_ROLE and self.store.peek(CLUSTERROLES, None, role) is None:
                from ...permissions import cluster_role  # the suite's least-privilege role, preloaded

                self.store.create(CLUSTERROLES, cluster_role(role))
            self.add_token(UserInfo(name), role, name=name)
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self.store.listen(self._on_event)
        self._aggregate()

    def _on_event(self, ev: Event) -> None:
        if ev.res.key != CLUSTERROLES.key or self._pending or self._loop is None:
            return
        self._pending = True
        self._loop.call_soon(self._aggregate)

    def _aggregate(self) -> None:
        """The ClusterRole aggregation controller: an aggregated role's stored rules follow its sources."""
        self._pending = False
        for role in self.store.items(CLUSTERROLES):
            if not (role.get("aggregationRule") or {}).get("clusterRoleSelectors"):
                continue
            name = role["metadata"]["name"]
            want = self.authorizer.cluster_role_rules(name) or []
            if want != (role.get("rules") or []):
                self.store.mutate(CLUSTERROLES, None, name, lambda o, w=want: o.__setitem__("rules", w))


def install(emulator: "Emulator") -> Rbac:
    """Put RBAC in front of the emulator's API server."""
    rbac = Rbac(emulator)
    api = emulator.api
    api.authenticate = rbac.authenticate
    api.authorize = rbac.authorize
    api.access_review = rbac.access_review
    return rbac
