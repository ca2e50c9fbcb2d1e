"""A small kube-scheduler: filters (taints, selectors, affinity, resources, claims) and pod IPs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..resources import NODES, PODS, PVCS, dig
from ..store import Store
from .indexes import POD_NODE
from .util import match_expression, match_label_selector, parse_quantity

Obj = dict[str, Any]
FINAL_POD_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Placement:
    node: str | None
    message: str = ""  # why no node fits, as the scheduler words it


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for tol in tolerations:
        op = tol.get("operator", "Equal")
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if not tol.get("key") and op == "Exists":
            return True
        if tol.get("key") != taint.get("key"):
            continue
        if op == "Exists" or tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def _term_matches(term: Obj, node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    for expr in term.get("matchExpressions") or []:
        if not match_expression(expr, labels):
            return False
    for expr in term.get("matchFields") or []:
        if not match_expression(expr, {"metadata.name": node["metadata"]["name"]}):
            return False
    return True


def _node_affinity_ok(pod: Obj, node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    for k, v in (dig(pod, "spec", "nodeSelector", default={}) or {}).items():
        if labels.get(k) != v:
            return False
    terms = dig(pod, "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                "nodeSelectorTerms", default=None)
    if terms:
        return any(_term_matches(t, node) for t in terms)
    return True


def pod_requests(pod: Obj) -> tuple[Decimal, Decimal]:
    cpu, mem = Decimal(0), Decimal(0)
    for c in dig(pod, "spec", "containers", default=[]) or []:
        req = dig(c, "resources", "requests", default={}) or {}
        cpu += parse_quantity(req.get("cpu"))
        mem += parse_quantity(req.get("memory"))
    return cpu, mem


# (uid, resourceVersion) → the stored pod's requests: a stored object never changes in place, so
# the pair names one content. Bounded: dropped wholesale when it outgrows the pods it serves.
_REQUESTS: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
_REQUESTS_MAX = 20000


def stored_pod_requests(pod: Obj) -> tuple[Decimal, Decimal]:
    """``pod_requests`` of a pod as stored (not a copy being changed), remembered per version."""
    meta = pod["metadata"]
    key = (meta.get("uid", ""), meta.get("resourceVersion", ""))
    found = _REQUESTS.get(key)
    if found is None:
        if len(_REQUESTS) >= _REQUESTS_MAX:
            _REQUESTS.clear()
        found = _REQUESTS[key] = pod_requests(pod)
    return found


def pods_on(store: Store, node_name: str) -> list[Obj]:
    return [p for p in store.by_index(PODS, POD_NODE, node_name)
            if dig(p, "status", "phase") not in FINAL_POD_PHASES]


def _anti_affinity_ok(store: Store, pod: Obj, node: Obj, nodes: list[Obj]) -> bool:
    terms = dig(pod, "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                default=None) or []
    if not terms:
        return True
    ns = pod["metadata"].get("namespace")
    for term in terms:
        key = term.get("topologyKey", "kubernetes.io/hostname")
        value = (node["metadata"].get("labels") or {}).get(key)
        same_domain = {n["metadata"]["name"] for n in nodes if (n["metadata"].get("labels") or {}).get(key) == value}
        namespaces = term.get("namespaces") or [ns]
        for other in store.by_index_any(PODS, POD_NODE, same_domain):
            if other["metadata"]["uid"] == pod["metadata"].get("uid"):
                continue
            if other["metadata"].get("namespace") not in namespaces:
                continue
            if dig(other, "status", "phase") in FINAL_POD_PHASES:
                continue
            if match_label_selector(term.get("labelSelector"), other["metadata"].get("labels") or {}):
                return False
    return True


def _claims_problem(store: Store, pod: Obj) -> str | None:
    ns = pod["metadata"].get("namespace")
    for vol in dig(pod, "spec", "volumes", default=[]) or []:
        claim = dig(vol, "persistentVolumeClaim", "claimName")
        if not claim:
            continue
        pvc = store.peek(PVCS, ns, claim)
        if pvc is None:
            return f'persistentvolumeclaim "{claim}" not found'
        if pvc["metadata"].get("deletionTimestamp"):
            return f'persistentvolumeclaim "{claim}" is being deleted'
        if dig(pvc, "status", "phase") != "Bound":
            return "pod has unbound immediate PersistentVolumeClaims"
    return None


def _unschedulable(total: int, reasons: dict[str, int] | str) -> str:
    if isinstance(reasons, str):
        head = reasons
    else:
        head = ", ".join(sorted(f"{n} {r}" for r, n in reasons.items()))
    return (f"0/{total} nodes are available: {head}. preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling.")


def schedule(store: Store, pod: Obj) -> Placement:
    """Pick a node for ``pod`` (most free memory wins) or say why none fits."""
    nodes = store.items(NODES)
    total = len(nodes)
    if total == 0:
        return Placement(None, "no nodes available to schedule pods")
    claim = _claims_problem(store, pod)
    if claim:
        return Placement(None, _unschedulable(total, claim))
    want_cpu, want_mem = pod_requests(pod)
    tolerations = dig(pod, "spec", "tolerations", default=[]) or []
    reasons: dict[str, int] = {}
    fitting: list[tuple[Decimal, str]] = []
    for node in nodes:
        reason = None
        if dig(node, "spec", "unschedulable"):
            reason = "node(s) were unschedulable"
        if reason is None:
            for taint in dig(node, "spec", "taints", default=[]) or []:
                if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
                    reason = f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
                    break
        if reason is None and not _node_affinity_ok(pod, node):
            reason = "node(s) didn't match Pod's node affinity/selector"
        if reason is None and not _anti_affinity_ok(store, pod, node, nodes):
            reason = "node(s) didn't match pod anti-affinity rules"
        if reason is None:
            alloc = dig(node, "status", "allocatable", default={}) or {}
            used_cpu, used_mem = Decimal(0), Decimal(0)
            for other in pods_on(store, node["metadata"]["name"]):
                if other["metadata"].get("uid") == pod["metadata"].get("uid"):
                    continue
                c, m = stored_pod_requests(other)
                used_cpu += c
                used_mem += m
            free_mem = parse_quantity(alloc.get("memory")) - used_mem
            if want_mem > free_mem:
                reason = "Insufficient memory"
            elif want_cpu > parse_quantity(alloc.get("cpu")) - used_cpu:
                reason = "Insufficient cpu"
            else:
                fitting.append((free_mem, node["metadata"]["name"]))
        if reason is not None:
            reasons[reason] = reasons.get(reason, 0) + 1
    if not fitting:
        return Placement(None, _unschedulable(total, reasons))
    fitting.sort(key=lambda t: (-t[0], t[1]))
    return Placement(fitting[0][1])


class IpAllocator:
    """Pod IPs 10.244.<node index>.<n>, the node index taken from its podCIDR."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def allocate(self, store: Store, node_name: str) -> str:
        node = store.peek(NODES, None, node_name)
        cidr = dig(node, "spec", "podCIDR", default="10.244.0.0/24") if node else "10.244.0.0/24"
        prefix = ".".join(cidr.split("/")[0].split(".")[:3])
        n = self._next.get(node_name, 10)
        self._next[node_name] = 10 if n >= 250 else n + 1
        return f"{prefix}.{n}"
