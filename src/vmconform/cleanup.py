"""``vmconform cleanup``: remove what earlier runs left behind, selecting by the run labels only."""

from __future__ import annotations

import sys

from .cli import exitcodes
from .kube.client import ApiCallFailed, Cluster, ClusterUnreachable
from .kube.kinds import NAMESPACE
from .labels import MANAGED_BY, MANAGED_BY_VALUE, RUN_ID, run_selector


def leftovers(cluster: Cluster, run_id: str | None = None) -> list[str]:
    """Namespaces carrying vmconform's labels (and this run id, when given)."""
    items, _ = cluster.list(NAMESPACE, labels=run_selector(run_id))
    out = []
    for ns in items:
        labels = ns["metadata"].get("labels") or {}
        if labels.get(MANAGED_BY) == MANAGED_BY_VALUE and (run_id is None or labels.get(RUN_ID) == run_id):
            out.append(ns["metadata"]["name"])
    return sorted(out)


def remove_leftovers(kubeconfig: str, context: str | None, run_id: str | None) -> int:
    try:
        cluster = Cluster.from_kubeconfig(kubeconfig, context)
    except Exception as exc:  # noqa: BLE001 - a broken kubeconfig file
        print(f"vmconform: cannot use kubeconfig {kubeconfig}: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        names = leftovers(cluster, run_id)
        for name in names:
            cluster.delete(NAMESPACE, None, name)
            print(f"vmconform: deleting namespace {name}")
        print(f"vmconform: {len(names)} namespace(s) of earlier runs deleted")
        return 0
    except (ClusterUnreachable, ApiCallFailed) as exc:
        print(f"vmconform: cluster could not be checked: {exc}", file=sys.stderr)
        return exitcodes.CLUSTER_UNCHECKABLE
    finally:
        cluster.close()
