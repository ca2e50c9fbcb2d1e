"""Preflight of the node-maintenance scenarios (features/maintenance.feature).

Two capabilities, checked with SelfSubjectAccessReview like the rest of the preflight:

* ``eviction`` (tag ``@needs-eviction``): ``create pods/eviction`` — what ``kubectl drain`` does to a pod;
* ``disruptive`` (tag ``@needs-disruptive``): also ``patch nodes`` (cordon, uncordon, the run's node
  labels) — and, on a cluster given with ``--kubeconfig`` (not one the suite created: emulated, kind), the
  operator's consent: ``--allow-disruptive``.

A missing permission skips exactly the scenarios that need it, with the permission in the reason.
"""

from __future__ import annotations

from typing import Any

from .kube.client import Cluster
from .preflight import Capability, ClusterFacts, Uncheckable

# (capability, verb, group, resource, subresource)
PERMISSIONS: list[tuple[str, str, str, str, str]] = [
    ("eviction", "create", "", "pods", "eviction"),
    ("disruptive", "create", "", "pods", "eviction"),
    ("disruptive", "patch", "", "nodes", ""),
]
NEEDS_FLAG = ("this scenario cordons and drains a node of the cluster: it runs only with --allow-disruptive "
              "(the emulated and kind clusters are the suite's own and allow it)")
OWN_BACKENDS = ("emulated", "kind")  # clusters the suite creates for itself
SELF_SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _allowed(cluster: Cluster, verb: str, group: str, resource: str, sub: str) -> bool:
    body: dict[str, Any] = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                            "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource,
                                                            "subresource": sub}}}
    ans = cluster.call("POST", SELF_SUBJECT_ACCESS_REVIEWS, body)
    if not ans.ok:
        raise Uncheckable(f"unexpected answer while checking permissions (SelfSubjectAccessReview): {ans.describe()}")
    return bool((ans.body.get("status") or {}).get("allowed"))


def check_permissions(cluster: Cluster, facts: ClusterFacts) -> None:
    """Set the ``eviction`` and ``disruptive`` capabilities from the permissions the run has."""
    for cap in ("eviction", "disruptive"):
        facts.capabilities.setdefault(cap, Capability(True))
    for cap, verb, group, resource, sub in PERMISSIONS:
        if not facts.capabilities[cap].ok:
            continue
        if not _allowed(cluster, verb, group, resource, sub):
            what = f"{verb} {resource}{'/' + sub if sub else ''}" + (f" ({group})" if group else "")
            facts.capabilities[cap] = Capability(False, f"missing permission: {what}")


def disruptive_capability(backend: str, allow_disruptive: bool, facts: ClusterFacts) -> Capability:
    """The ``disruptive`` capability once the operator's consent is known."""
    found = facts.capabilities.get("disruptive") or Capability(True)
    if not found.ok:
        return found
    if backend not in OWN_BACKENDS and not allow_disruptive:
        return Capability(False, NEEDS_FLAG)
    return found
