"""A run's liveness record: a ``coordination.k8s.io/v1`` Lease, renewed while the run lives.

Each run creates a namespace of its own (``vmconform-<run>-run-…``, labelled like every namespace of
the run plus ``vmconform.io/role=run``) holding the Lease ``vmconform-run``: ``holderIdentity``
``<host>/<pid>``, ``leaseDurationSeconds`` 30, ``renewTime`` renewed every 5 s. ``vmconform cleanup``
skips the namespaces of a run whose Lease is fresh (renewed less than ``leaseDurationSeconds`` ago);
the run deletes that namespace, Lease included, when it ends.

The renewal doubles as the run's heartbeat: when the cluster stops answering for ``cluster_lost``
seconds, ``on_lost`` is called once (the run then stops with the verdict ``cluster-lost``).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Callable

from .kube.client import ApiCallFailed, Cluster, ClusterUnreachable, Obj
from .kube.kinds import LEASE, NAMESPACE
from .labels import ROLE, ROLE_RUN, RUN_ID, run_labels, run_selector
from .timeouts import LEASE_DURATION_SECONDS, LEASE_RENEW_SECONDS

LEASE_NAME = "vmconform-run"


def micro_time(at: float | None = None) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def holder_identity() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def freshness(lease: Obj, now: float | None = None) -> tuple[bool, float | None]:
    """(fresh, seconds since the last renewal) of a Lease."""
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    if renewed is None:
        return False, None
    age = (time.time() if now is None else now) - renewed
    return age < float(spec.get("leaseDurationSeconds") or LEASE_DURATION_SECONDS), age


def live_runs(cluster: Cluster) -> dict[str, tuple[str, float]]:
    """Runs whose Lease is fresh: run id → (holder, seconds since renewal)."""
    items, _ = cluster.list(LEASE, None, labels=run_selector())
    out: dict[str, tuple[str, float]] = {}
    for lease in items:
        run_id = ((lease.get("metadata") or {}).get("labels") or {}).get(RUN_ID)
        fresh, age = freshness(lease)
        if run_id and fresh and age is not None:
            out[run_id] = (str((lease.get("spec") or {}).get("holderIdentity", "")), max(0.0, age))
    return out


class RunLease:
    """Create, renew and delete the run's Lease; watch that the cluster keeps answering."""

    def __init__(self, cluster: Cluster, run_id: str, *, lost_after: float,
                 on_lost: Callable[[str], None] | None = None, owns_cluster: bool = False) -> None:
        self.cluster = cluster
        self.owns_cluster = owns_cluster  # close the client when the Lease is let go
        self.run_id = run_id
        self.lost_after = lost_after
        self.on_lost = on_lost
        self.namespace: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None

    def start(self) -> "RunLease":
        labels = {**run_labels(self.run_id), ROLE: ROLE_RUN}
        ns = self.cluster.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "generateName": f"vmconform-{self.run_id[-6:]}-run-", "labels": labels}})
        self.namespace = ns["metadata"]["name"]
        now = micro_time()
        self.cluster.create(LEASE, self.namespace, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "labels": run_labels(self.run_id)},
            "spec": {"holderIdentity": holder_identity(), "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                     "acquireTime": now, "renewTime": now}})
        self._thread = threading.Thread(target=self._renew_loop, name="vmconform-lease", daemon=True)
        self._thread.start()
        return self

    def _renew_loop(self) -> None:
        failing_since: float | None = None
        interval = LEASE_RENEW_SECONDS
        while not self._stop.wait(interval):  # the renewal period, not a wait for a state
            try:
                self.cluster.patch(LEASE, self.namespace, LEASE_NAME, {"spec": {"renewTime": micro_time()}})
                failing_since, interval = None, LEASE_RENEW_SECONDS
            except ApiCallFailed as exc:
                if exc.answer.code == 404:
                    print(f"vmconform: this run's Lease {self.namespace}/{LEASE_NAME} was deleted by someone else",
                          file=sys.stderr, flush=True)
                    return
                failing_since, interval = None, LEASE_RENEW_SECONDS
            except ClusterUnreachable as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                interval = 1.0  # look again soon: is the cluster gone?
                if now - failing_since >= self.lost_after and not self._stop.is_set():
                    self.lost = f"the cluster stopped answering ({exc})"
                    if self.on_lost is not None:
                        self.on_lost(self.lost)
                    return

    def stop(self, *, delete: bool = True) -> None:
        """Stop renewing; delete the Lease's namespace (the run has ended)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=LEASE_RENEW_SECONDS + 35)
        if delete and self.namespace and self.lost is None:
            try:
                self.cluster.delete(NAMESPACE, None, self.namespace)
            except (ClusterUnreachable, ApiCallFailed) as exc:
                print(f"vmconform: could not delete the run's Lease namespace {self.namespace}: {exc}",
                      file=sys.stderr, flush=True)
        if self.owns_cluster:
            self.cluster.close()


def describe_live(run_id: str, holder: str, age: float) -> str:
    return (f"skipping run {run_id}: it is still running (its Lease was renewed {age:.0f} s ago by {holder}); "
            f"--force deletes it anyway")
