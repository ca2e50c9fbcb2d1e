"""``vmconform cleanup``: remove what earlier runs left behind, selecting by the run labels only.

A run still in progress holds a fresh Lease (src/vmconform/lease.py): its namespaces are skipped,
one line per run says so, unless ``--force``.
"""

from __future__ import annotations

import sys

from .cli import exitcodes
from .kube.client import ApiCallFailed, Cluster, ClusterUnreachable
from .kube.kinds import NAMESPACE
from .labels import MANAGED_BY, MANAGED_BY_VALUE, RUN_ID, run_selector
from .lease import describe_live, live_runs


def leftovers(cluster: Cluster, run_id: str | None = None) -> list[str]:
    """Namespaces carrying vmconform's labels (and this run id, when given)."""
    return sorted(leftovers_by_run(cluster, run_id))


def leftovers_by_run(cluster: Cluster, run_id: str | None = None) -> dict[str, str]:
    """Namespace → the run that created it, for namespaces carrying vmconform's labels."""
    items, _ = cluster.list(NAMESPACE, labels=run_selector(run_id))
    out: dict[str, str] = {}
    for ns in items:
        labels = ns["metadata"].get("labels") or {}
        if labels.get(MANAGED_BY) == MANAGED_BY_VALUE and (run_id is None or labels.get(RUN_ID) == run_id):
            out[ns["metadata"]["name"]] = labels.get(RUN_ID, "")
    return out


def restore_leftover_nodes(cluster: Cluster, run_id: str | None, live: dict[str, object]) -> list[str]:
    """Uncordon the nodes earlier runs cordoned (maintenance.py marks them with their run); a live run's
    nodes are left alone (reported with its namespaces). Returns the nodes uncordoned."""
    from .maintenance import marked_nodes, restore_node, run_of

    done = []
    for node in marked_nodes(cluster, run_id):
        run = run_of(node)
        name = node["metadata"]["name"]
        if run in live:
            print(f"vmconform: node {name} is held by run {run}, which is still running")
            continue
        if restore_node(cluster, node):
            done.append(name)
            print(f"vmconform: uncordoned node {name} (cordoned by run {run})")
        else:
            print(f"vmconform: removed the marks of run {run} from node {name}")
    return done


def remove_leftovers(kubeconfig: str, context: str | None, run_id: str | None, *, force: bool = False) -> int:
    try:
        cluster = Cluster.from_kubeconfig(kubeconfig, context)
    except Exception as exc:  # noqa: BLE001 - a broken kubeconfig file
        print(f"vmconform: cannot use kubeconfig {kubeconfig}: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        found = leftovers_by_run(cluster, run_id)
        live = {} if force else live_runs(cluster)
        for run in sorted({r for r in found.values() if r in live}):
            holder, age = live[run]
            print(f"vmconform: {describe_live(run, holder, age)}")
        names = sorted(name for name, run in found.items() if run not in live)
        for name in names:
            cluster.delete(NAMESPACE, None, name)
            print(f"vmconform: deleting namespace {name}")
        print(f"vmconform: {len(names)} namespace(s) of earlier runs deleted")
        restore_leftover_nodes(cluster, run_id, live)
        return 0
    except (ClusterUnreachable, ApiCallFailed) as exc:
        print(f"vmconform: cluster could not be checked: {exc}", file=sys.stderr)
        return exitcodes.CLUSTER_UNCHECKABLE
    finally:
        cluster.close()
