"""One run of the suite: its cluster, its facts, its namespaces, and its cleanup."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .kube.client import ApiCallFailed, Cluster, ClusterUnreachable, Obj
from .kube.kinds import NAMESPACE, POD
from .kube.waits import WaitFailed, wait_for
from .labels import RUN_ID, SCENARIO, run_labels, run_selector, slug
from .preflight import ClusterFacts
from .timeouts import PROGRESS_SECONDS, Timeouts

KEEP_CHOICES = ("never", "on-failure", "always")


@dataclass
class Settings:
    """What the user chose, after validation (pytest options and ``vmconform run`` flags)."""

    backend: str = "emulated"
    kubeconfig: str | None = None
    context: str | None = None
    rwx_class: str | None = None
    rwo_class: str | None = None
    image: str = "quay.io/kubevirt/alpine-container-disk-demo:v1.9.0"  # pinned: the KubeVirt release's tag, not :latest (main)
    memory: str = "128Mi"
    timeout_scale: float = 1.0
    keep: str = "never"
    report_dir: str = "reports"
    guest_user: str | None = None
    guest_password: str | None = None
    allow_disruptive: bool = False  # --allow-disruptive: scenarios may cordon and drain a node
    vm_source: str = "containerdisk"  # --vm-source (src/vmconform/sources.py)
    instancetype: str | None = None  # --instancetype (a cluster instance type instead of --vm-memory)
    preference: str | None = None  # --preference (a cluster preference)


@dataclass
class SuiteSession:
    cluster: Cluster
    facts: ClusterFacts
    settings: Settings
    run_id: str
    timeouts: Timeouts
    namespaces: list[str] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)
    on_close: list[Callable[[], None]] = field(default_factory=list)
    cleaning_stopped: bool = False  # a second interrupt stopped the cleanup: leave the rest

    @property
    def labels(self) -> dict[str, str]:
        return run_labels(self.run_id)

    def create_namespace(self, scenario_name: str) -> str:
        base = f"vmconform-{self.run_id[-6:]}-{slug(scenario_name, 30)}"
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"generateName": base + "-", "labels": {**self.labels, SCENARIO: slug(scenario_name, 60)}}}
        ns = self.cluster.create(NAMESPACE, None, body)["metadata"]["name"]
        self.namespaces.append(ns)
        return ns

    def delete_namespace(self, name: str, *, wait: bool = True) -> None:
        """Delete one of this run's namespaces (checked by label) and wait until it is gone."""
        if self.cleaning_stopped:
            return
        obj = self.cluster.get(NAMESPACE, None, name)
        if obj is None:
            self._forget(name)
            return
        if (obj["metadata"].get("labels") or {}).get(RUN_ID) != self.run_id:
            raise RuntimeError(f"refusing to delete namespace {name}: it does not carry this run's labels")
        self.cluster.delete(NAMESPACE, None, name)
        if wait:
            self._wait_gone(name)
        self._forget(name)

    def _wait_gone(self, name: str) -> None:
        """Wait until the namespace is gone; a longer wait says every few seconds what it waits for."""
        total = self.timeouts["cleanup"]
        started = time.monotonic()
        while True:
            left = total - (time.monotonic() - started)
            try:
                wait_for(self.cluster, NAMESPACE, None, name, until=lambda o: o is None,
                         describe=lambda o: "<gone>" if o is None else str((o.get("status") or {}).get("phase")),
                         timeout=max(0.0, min(PROGRESS_SECONDS, left)), what=f"namespace {name} deleted")
                return
            except WaitFailed as exc:
                if left <= PROGRESS_SECONDS:
                    raise WaitFailed(f"namespace {name} deleted: not gone within {total:.0f} s; "
                                     f"{self._what_is_left(name)}", exc.timeline, exc.last) from None
            print(f"vmconform: cleanup: waiting for namespace {name} to go ({self._what_is_left(name)}) "
                  f"{time.monotonic() - started:.0f} s / {total:.0f} s", file=sys.stderr, flush=True)

    def _what_is_left(self, name: str) -> str:
        try:
            ns = self.cluster.get(NAMESPACE, None, name)
            pods, _ = self.cluster.list(POD, name)
        except (ClusterUnreachable, ApiCallFailed) as exc:
            return f"cannot read it: {exc}"
        phase = str(((ns or {}).get("status") or {}).get("phase") or "gone")
        return f"{phase}, {len(pods)} pod{'' if len(pods) == 1 else 's'} left"

    def _forget(self, name: str) -> None:
        if name in self.namespaces:
            self.namespaces.remove(name)

    def sweep(self, *, only_own: bool = False) -> list[str]:
        """Delete the namespaces of this run that are still there; return what could not be removed.

        ``only_own``: just those this process created (a pytest-xdist worker must not remove the
        namespaces of scenarios still running on other workers).
        """
        left: list[str] = []
        try:
            items, _ = self.cluster.list(NAMESPACE, labels=run_selector(self.run_id))
        except (ClusterUnreachable, ApiCallFailed) as exc:
            print(f"vmconform: cleanup could not list namespaces: {exc}", file=sys.stderr)
            return list(self.namespaces)
        pending = [i["metadata"]["name"] for i in items if i["metadata"]["name"] not in self.kept
                   and (not only_own or i["metadata"]["name"] in self.namespaces)]
        try:
            while pending:
                name = pending[0]
                try:
                    self.delete_namespace(name)
                except (WaitFailed, ClusterUnreachable, ApiCallFailed) as exc:
                    print(f"vmconform: namespace {name} not removed: {str(exc).splitlines()[0]}", file=sys.stderr)
                    left.append(name)
                pending.pop(0)
        except KeyboardInterrupt:
            self.cleaning_stopped = True
            print("vmconform: cleanup interrupted; left behind (remove with `vmconform cleanup`): "
                  + ", ".join(sorted(set(pending + left))), file=sys.stderr)
            raise
        return left

    def close(self) -> None:
        for fn in reversed(self.on_close):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - closing must go on
                print(f"vmconform: while closing: {exc}", file=sys.stderr)
        self.on_close.clear()


def describe_cluster(facts: ClusterFacts) -> dict[str, Any]:
    return facts.as_dict()


def started_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def owned(obj: Obj, run_id: str) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(RUN_ID) == run_id
