"""A bare emulated API server (no KubeVirt controllers) that the suite's own logic is tested against."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.resources import KUBEVIRTS, NAMESPACES, NODES, STORAGECLASSES
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import NAMESPACE
from vmconform.labels import SCENARIO, run_selector


@pytest.fixture
def bare(tmp_path: Any) -> Iterator[EmulatedCluster]:
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "kubeconfig", controllers=[]) as c:
        yield c


@pytest.fixture
def client(bare: EmulatedCluster) -> Iterator[Cluster]:
    cluster = Cluster.from_kubeconfig(bare.kubeconfig_path, backend="emulated")
    yield cluster
    cluster.close()


def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition (checked every 10 ms) with a timeout."""
    ev = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        ev.wait(0.01)
    raise AssertionError("condition not met in time")


def seed_kubevirt(c: EmulatedCluster, *, phase: str = "Deployed", schedulable: int = 2,
                  classes: tuple[tuple[str, bool], ...] = (("shared-rwx", True), ("local-rwo", False))) -> None:
    """Write the objects a KubeVirt cluster has, straight into the store."""
    def seed() -> None:
        s = c.store
        s.create(NAMESPACES, {"metadata": {"name": "kubevirt"}})
        s.create(KUBEVIRTS, {"metadata": {"name": "kubevirt", "namespace": "kubevirt"}, "spec": {}})
        s.mutate(KUBEVIRTS, "kubevirt", "kubevirt",
                 lambda o: o.__setitem__("status", {"phase": phase, "observedKubeVirtVersion": "v1.9.0"}), status=True)
        s.create(NODES, {"metadata": {"name": "control-plane", "labels": {}}})
        for i in range(schedulable):
            s.create(NODES, {"metadata": {"name": f"node0{i + 1}", "labels": {"kubevirt.io/schedulable": "true"}}})
        for name, default in classes:
            ann = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
            s.create(STORAGECLASSES, {"metadata": {"name": name, "annotations": ann}, "provisioner": "x"})
    c.call(seed)


ROOT = Path(__file__).resolve().parents[2]


def start_emulator(kubeconfig: Path, *flags: str) -> subprocess.Popen[str]:
    """``vmconform emulator`` in its own process, ready (its one line read) when this returns."""
    proc = subprocess.Popen([sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(kubeconfig),
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "ready" in line, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    return proc


def stop_emulator(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def start_run(kubeconfig: Path, report: Path, *args: str) -> subprocess.Popen[str]:
    """``vmconform run`` against a kubeconfig, in its own process."""
    return subprocess.Popen([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(report),
                             "--kubeconfig", str(kubeconfig), *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def scenario_namespaces(kubeconfig: Path) -> list[str]:
    """The namespaces of scenarios in progress (not the preflight's, not the one holding a run's Lease)."""
    cluster = Cluster.from_kubeconfig(kubeconfig)
    try:
        items, _ = cluster.list(NAMESPACE, labels=run_selector())
        return [i["metadata"]["name"] for i in items if SCENARIO in (i["metadata"].get("labels") or {})]
    finally:
        cluster.close()


def labelled_namespaces(kubeconfig: Path) -> list[str]:
    cluster = Cluster.from_kubeconfig(kubeconfig)
    try:
        items, _ = cluster.list(NAMESPACE, labels=run_selector())
        return [i["metadata"]["name"] for i in items]
    finally:
        cluster.close()


def lab_behaviour_ids() -> set[str]:
    """The ids of the lab's (English) scenarios, as summary.json names them."""
    from pytest_bdd.parser import FeatureParser

    from vmconform.features import select
    from vmconform.labels import text_id

    return {text_id(sc.name) for f in select(ROOT / "features").files
            for sc in FeatureParser(str(f.parent), f.name).parse().scenarios.values()}
