"""Session-start checks: can this cluster be checked at all, and which capabilities does it have."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .kube.client import Answer, Cluster, ClusterUnreachable
from .kube.kinds import KUBEVIRT, NODE, STORAGECLASS
from .permissions import RUN, TABLE, Permission, missing_reason

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")


class Uncheckable(Exception):
    """The cluster cannot be checked: one clear line says why."""


@dataclass
class Capability:
    ok: bool
    reason: str = ""


@dataclass
class ClusterFacts:
    backend: str
    host: str
    kubernetes_version: str = ""
    kubevirt_version: str = ""
    kubevirt_namespace: str = ""
    nodes: list[str] = field(default_factory=list)
    schedulable_nodes: list[str] = field(default_factory=list)
    storage_classes: list[str] = field(default_factory=list)
    default_storage_class: str | None = None
    rwx_class: str | None = None
    rwo_class: str | None = None
    capabilities: dict[str, Capability] = field(default_factory=dict)
    # (row of permissions.TABLE, verb) the SelfSubjectAccessReviews answered "no" to
    missing_permissions: list[tuple[Permission, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "host": self.host, "kubernetes_version": self.kubernetes_version,
            "kubevirt_version": self.kubevirt_version, "nodes": self.nodes,
            "schedulable_nodes": self.schedulable_nodes, "storage_classes": self.storage_classes,
            "rwx_storage_class": self.rwx_class, "rwo_storage_class": self.rwo_class,
            "capabilities": {k: {"ok": v.ok, "reason": v.reason} for k, v in self.capabilities.items()},
            "missing_permissions": [p.describe(verb) for p, verb in self.missing_permissions],
        }


def _fail(ans: Answer, what: str) -> Uncheckable:
    if ans.code == 401:
        return Uncheckable(f"the cluster refused our credentials (HTTP 401 Unauthorized) while {what}")
    if ans.code == 403:
        return Uncheckable(f"the cluster forbids {what} (HTTP 403): {ans.message}")
    return Uncheckable(f"unexpected answer while {what}: {ans.describe()}")


def _is_default(sc: dict[str, Any]) -> bool:
    ann = (sc.get("metadata") or {}).get("annotations") or {}
    return any(ann.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


def check(cluster: Cluster, *, rwx_class: str | None = None, rwo_class: str | None = None,
          options: Iterable[str] = ()) -> ClusterFacts:
    """Raise :class:`Uncheckable` or return the facts and capabilities of the cluster; ``options``: the
    run's ``opt:`` needs (:func:`permissions.run_needs`), for the rows only those options need."""
    facts = ClusterFacts(backend=cluster.backend, host=cluster.host)
    try:
        ans = cluster.call("GET", "/version", timeout=10)
        if not ans.ok:
            raise _fail(ans, "reading /version")
        facts.kubernetes_version = str((ans.body or {}).get("gitVersion", ""))
        _check_kubevirt(cluster, facts)
        _check_permissions(cluster, facts, options)
        run_missing = missing_reason(facts.missing_permissions, [RUN])
        if run_missing:  # the run's own reads would be refused: every scenario skips, naming the permission
            facts.capabilities["vm"] = Capability(False, run_missing)
            return facts
        _check_nodes(cluster, facts)
        _check_storage(cluster, facts, rwx_class, rwo_class)
        from .preflight_cdi import check as check_cdi  # here: preflight_cdi imports this module

        check_cdi(cluster, facts)  # boot sources, instance types
    except ClusterUnreachable as exc:
        raise Uncheckable(f"cannot reach the cluster at {exc}") from None
    return facts


def _check_kubevirt(cluster: Cluster, facts: ClusterFacts) -> None:
    ans = cluster.call("GET", KUBEVIRT.collection(None))
    if ans.code == 404:
        raise Uncheckable(f"KubeVirt is not installed on {cluster.host}: the kubevirt.io/v1 API is not served")
    if not ans.ok:
        raise _fail(ans, "listing KubeVirt CRs")
    items = ans.body.get("items") or []
    if not items:
        raise Uncheckable(f"KubeVirt is not installed on {cluster.host}: no KubeVirt CR exists")
    kv = items[0]
    phase = (kv.get("status") or {}).get("phase")
    facts.kubevirt_namespace = kv["metadata"].get("namespace", "")
    facts.kubevirt_version = (kv.get("status") or {}).get("observedKubeVirtVersion", "") or ""
    if phase != "Deployed":
        raise Uncheckable(f"KubeVirt in namespace {facts.kubevirt_namespace} is {phase or 'not ready'}, not Deployed")


def _check_nodes(cluster: Cluster, facts: ClusterFacts) -> None:
    nodes, _ = cluster.list(NODE)
    facts.nodes = [n["metadata"]["name"] for n in nodes]
    facts.schedulable_nodes = [
        n["metadata"]["name"] for n in nodes
        if ((n["metadata"].get("labels") or {}).get("kubevirt.io/schedulable") == "true")
        and not (n.get("spec") or {}).get("unschedulable")
    ]
    count = len(facts.schedulable_nodes)
    facts.capabilities["vm"] = Capability(count >= 1, "" if count else "no schedulable node (label kubevirt.io/schedulable=true)")
    facts.capabilities["migration"] = Capability(
        count >= 2, "" if count >= 2 else f"live migration needs 2 schedulable nodes; this cluster has {count}")


def _check_storage(cluster: Cluster, facts: ClusterFacts, rwx: str | None, rwo: str | None) -> None:
    classes, _ = cluster.list(STORAGECLASS)
    facts.storage_classes = [c["metadata"]["name"] for c in classes]
    facts.default_storage_class = next((c["metadata"]["name"] for c in classes if _is_default(c)), None)
    facts.rwx_class = rwx or facts.default_storage_class
    facts.rwo_class = rwo or facts.default_storage_class
    for cap, name, mode, flag in (("rwx", facts.rwx_class, "ReadWriteMany", "--rwx-storage-class"),
                                  ("rwo", facts.rwo_class, "ReadWriteOnce", "--rwo-storage-class")):
        if name is None:
            facts.capabilities[cap] = Capability(False, f"no storage class for {mode} volumes: the cluster has no default class and {flag} was not given")
        elif name not in facts.storage_classes:
            facts.capabilities[cap] = Capability(False, f"storage class {name} ({mode}) does not exist on this cluster")
        else:
            facts.capabilities[cap] = Capability(True)


def access_review(cluster: Cluster, verb: str, group: str, resource: str, subresource: str = "",
                  namespace: str = "") -> Any:
    """The cluster's answer to one SelfSubjectAccessReview (``status.allowed`` in its body)."""
    attrs = {"verb": verb, "group": group, "resource": resource, "subresource": subresource}
    if namespace:
        attrs["namespace"] = namespace
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}
    return cluster.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body)


def _check_permissions(cluster: Cluster, facts: ClusterFacts, options: Iterable[str] = ()) -> None:
    """One SelfSubjectAccessReview per verb of every row of the permissions table the run may need
    (cluster-wide): a row needed only under options the run does not use is not asked."""
    options = set(options)
    for perm in (p for p in TABLE if p.asked(options)):
        for verb in perm.verbs:
            ans = access_review(cluster, verb, perm.group, perm.plural, perm.subresource)
            if not ans.ok:
                raise _fail(ans, "checking permissions (SelfSubjectAccessReview)")
            if not (ans.body.get("status") or {}).get("allowed"):
                facts.missing_permissions.append((perm, verb))


def probe_rwx(cluster: Cluster, facts: ClusterFacts, labels: dict[str, str], timeout: float) -> None:
    """Ask the RWX class for a ReadWriteMany claim in a throw-away namespace of the run.

    A class that refuses (a ProvisioningFailed warning, or the claim cannot be created) makes the
    RWX scenarios skip with that reason; a claim that binds, or waits for its first consumer,
    keeps the capability.
    """
    from .kube.kinds import EVENT, NAMESPACE, PVC
    from .kube.waits import WaitFailed, wait_for

    cap = facts.capabilities.get("rwx")
    if cap is None or not cap.ok or facts.rwx_class is None:
        return
    if missing_reason(facts.missing_permissions, ["@needs-rwx"]):  # the scenarios that need it skip anyway
        return
    ns = cluster.create(NAMESPACE, None, {"metadata": {"generateName": "vmconform-preflight-",
                                                        "labels": dict(labels)}})["metadata"]["name"]
    try:
        claim = {"metadata": {"name": "rwx-probe", "labels": dict(labels)},
                 "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": facts.rwx_class,
                          "resources": {"requests": {"storage": "1Mi"}}}}
        ans = cluster.try_create(PVC, ns, claim)
        if not ans.ok:
            facts.capabilities["rwx"] = Capability(False, f"storage class {facts.rwx_class} refused a ReadWriteMany claim: {ans.message}")
            return

        def refused(_obj: Any) -> str | None:
            events, _ = cluster.list(EVENT, ns, fields="involvedObject.name=rwx-probe")
            bad = [e for e in events if e.get("type") == "Warning" and e.get("reason") == "ProvisioningFailed"]
            return bad[0].get("message", "ProvisioningFailed") if bad else None

        try:
            wait_for(cluster, PVC, ns, "rwx-probe",
                     until=lambda o: (o or {}).get("status", {}).get("phase") == "Bound",
                     describe=lambda o: str((o or {}).get("status", {}).get("phase")),
                     timeout=timeout, what=f"a ReadWriteMany claim on {facts.rwx_class} binds", terminal=refused)
        except WaitFailed:
            # pending without a refusal (e.g. WaitForFirstConsumer) keeps the capability: the scenarios will tell
            why = refused(None)
            if why:
                facts.capabilities["rwx"] = Capability(
                    False, f"storage class {facts.rwx_class} cannot provision ReadWriteMany volumes: {why}")
    finally:
        cluster.delete(NAMESPACE, None, ns)
