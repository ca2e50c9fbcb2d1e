"""A bare emulated API server (no KubeVirt controllers) that the suite's own logic is tested against."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest

from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.resources import KUBEVIRTS, NAMESPACES, NODES, STORAGECLASSES
from vmconform.kube.client import Cluster


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
