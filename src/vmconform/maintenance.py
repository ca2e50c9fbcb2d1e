"""Node maintenance as the suite does it: evict a pod, mark and cordon a node, drain the scenario's own
pods from it with retries (as ``kubectl drain`` does), and put every node back afterwards.

Every node the suite touches carries the run's id: ``vmconform.io/maintenance=<run>`` (a node the
scenario's VMs may run on) and, when cordoned, ``vmconform.io/cordoned-by=<run>`` with the annotation
``vmconform.io/cordoned-by-holder: <host>/<pid>`` (the process that cordoned it). :func:`restore_nodes`
finds them by label — at the scenario's teardown, at the end of an interrupted run, and in
``vmconform cleanup`` for a run that could not do it itself — and uncordons them.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .kube.client import Answer, Cluster
from .kube.kinds import NODE, POD
from .kube.waits import Timeline, WaitFailed, wait_for_list
from .ops import pod_node

Obj = dict[str, Any]

LABEL_PLACEMENT = "vmconform.io/maintenance"  # value: run id — nodes the scenario's VMs may run on
LABEL_CORDONED = "vmconform.io/cordoned-by"  # value: run id — nodes the run cordoned
ANNO_HOLDER = "vmconform.io/cordoned-by-holder"  # <host>/<pid> of the process that marked the node


def holder() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def evict(cluster: Cluster, namespace: str, pod: str, *, dry_run: bool = False) -> Answer:
    """POST a policy/v1 Eviction for the pod (what ``kubectl drain`` sends)."""
    body: Obj = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    if dry_run:
        body["deleteOptions"] = {"dryRun": ["All"]}
    return cluster.call("POST", f"{POD.item(namespace, pod)}/eviction", body, retry_if=throttled)


def throttled(ans: Answer) -> bool:
    """A 429 that is the API server's throttling (retried), not an eviction refused by a webhook or a budget."""
    body = ans.body if isinstance(ans.body, dict) else {}
    return not ans.message.startswith("admission webhook") and not (body.get("details") or {}).get("causes")


def mark_node(cluster: Cluster, node: str, run_id: str) -> None:
    """Let the scenario's VMs (node selector ``LABEL_PLACEMENT=<run>``) run on this node."""
    cluster.patch(NODE, None, node, {"metadata": {"labels": {LABEL_PLACEMENT: run_id},
                                                  "annotations": {ANNO_HOLDER: holder()}}})


def cordon(cluster: Cluster, node: str, run_id: str) -> None:
    """``kubectl cordon``, plus the run's label so that the node is found again if the run dies."""
    cluster.patch(NODE, None, node, {"metadata": {"labels": {LABEL_CORDONED: run_id},
                                                  "annotations": {ANNO_HOLDER: holder()}},
                                     "spec": {"unschedulable": True}})


def marked_nodes(cluster: Cluster, run_id: str | None = None) -> list[Obj]:
    """Nodes carrying the suite's maintenance labels (of one run, or of any)."""
    found: dict[str, Obj] = {}
    for key in (LABEL_CORDONED, LABEL_PLACEMENT):
        items, _ = cluster.list(NODE, labels=f"{key}={run_id}" if run_id else key)
        for n in items:
            found[n["metadata"]["name"]] = n
    return [found[k] for k in sorted(found)]


def run_of(node: Obj) -> str:
    labels = node["metadata"].get("labels") or {}
    return str(labels.get(LABEL_CORDONED) or labels.get(LABEL_PLACEMENT) or "")


def restore_node(cluster: Cluster, node: Obj) -> bool:
    """Uncordon a node the suite cordoned and drop its marks; True if it was cordoned by the suite."""
    labels = node["metadata"].get("labels") or {}
    cordoned = LABEL_CORDONED in labels
    patch: Obj = {"metadata": {"labels": {LABEL_CORDONED: None, LABEL_PLACEMENT: None},
                               "annotations": {ANNO_HOLDER: None}}}
    if cordoned:
        patch["spec"] = {"unschedulable": None}
    cluster.patch(NODE, None, node["metadata"]["name"], patch)
    return cordoned


def restore_nodes(cluster: Cluster, run_id: str, *, only_holder: str | None = None,
                  report: Callable[[str], None] | None = None) -> list[str]:
    """Put back every node the run marked (only those ``only_holder`` marked, when given); returns
    the nodes uncordoned."""
    uncordoned = []
    for node in marked_nodes(cluster, run_id):
        if only_holder and (node["metadata"].get("annotations") or {}).get(ANNO_HOLDER) != only_holder:
            continue
        if restore_node(cluster, node):
            uncordoned.append(node["metadata"]["name"])
            if report is not None:
                report(f"vmconform: uncordoned node {node['metadata']['name']} (cordoned by run {run_id})")
    return uncordoned


# ---------------------------------------------------------------- drain


class DrainFailed(Exception):
    """An eviction answered something a drain cannot retry (not 201, 404 or 429)."""


@dataclass
class DrainLog:
    """What a drain saw: each pod's eviction answers, in order."""

    answers: dict[str, list[str]] = field(default_factory=dict)

    def add(self, pod: str, ans: Answer) -> None:
        self.answers.setdefault(pod, []).append(f"{ans.code} {ans.message}".strip())

    def render(self) -> str:
        """Each pod's answers in order, repeats folded (``429 … (×57)``): a drain retries for minutes."""
        def folded(msgs: list[str]) -> str:
            runs: list[list[Any]] = []
            for m in msgs:
                if runs and runs[-1][0] == m:
                    runs[-1][1] += 1
                else:
                    runs.append([m, 1])
            return " | ".join(m + (f" (×{n})" if n > 1 else "") for m, n in runs)
        return "; ".join(f"{pod}: {folded(msgs)}" for pod, msgs in sorted(self.answers.items()))


def _on_node(pods: list[Obj], node: str) -> list[Obj]:
    return [p for p in pods if pod_node(p) == node]


def _signature(pods: list[Obj], node: str) -> str:
    return ", ".join(f"{p['metadata']['name']}:{(p.get('status') or {}).get('phase')}"
                     f"{':deleting' if p['metadata'].get('deletionTimestamp') else ''}"
                     for p in sorted(_on_node(pods, node), key=lambda p: p["metadata"]["name"]))


def drain(cluster: Cluster, namespace: str, node: str, *, timeout: float, retry_seconds: float,
          log: DrainLog | None = None) -> DrainLog:
    """Evict the namespace's pods on ``node`` until none is left (``kubectl drain --pod-selector``
    limited to one namespace): a 429 is retried — after ``retry_seconds`` at most, or as soon as a pod
    there changes — until ``timeout``. Only this namespace's pods are ever evicted."""
    log = log or DrainLog()
    deadline = time.monotonic() + timeout
    while True:
        pods, _ = cluster.list(POD, namespace, fields=f"spec.nodeName={node}")
        pods = _on_node(pods, node)
        if not pods:
            return log
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue  # evicted: its kubelet is ending it
            ans = evict(cluster, namespace, pod["metadata"]["name"])
            log.add(pod["metadata"]["name"], ans)
            if not ans.ok and ans.code not in (404, 429):
                raise DrainFailed(f"evicting pod {namespace}/{pod['metadata']['name']}: {ans.describe()}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitFailed(f"drain of node {node}: pods still there after {timeout:.0f} s: "
                             f"{_signature(pods, node)}; evictions: {log.render()}", Timeline(f"drain {node}"), None)
        before = _signature(pods, node)
        try:
            wait_for_list(cluster, POD, namespace, labels=None,
                          until=lambda now: _signature(now, node) != before,
                          describe=lambda now: _signature(now, node) or "no pods",
                          timeout=min(retry_seconds, left), what=f"pods on {node} change")
        except WaitFailed:
            pass  # nothing moved: evict again, as kubectl drain retries every few seconds
