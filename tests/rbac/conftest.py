"""Emulated clusters with more users than the admin: tokens bound to ClusterRoles (``Options.tokens``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.rbac import CLUSTERROLES
from vmconform.kube.client import Cluster
from vmconform.permissions import TABLE, Permission, cluster_role

ROOT = Path(__file__).resolve().parents[2]


def without(index: int) -> list[Permission]:
    """The permissions table less one row."""
    return [p for i, p in enumerate(TABLE) if i != index]


def seed_kubevirt(c: EmulatedCluster) -> None:
    """What the preflight reads on a bare server: a Deployed KubeVirt CR, two schedulable nodes, a default class."""
    from vmconform.emulator.resources import KUBEVIRTS, NAMESPACES, NODES, STORAGECLASSES

    def seed() -> None:
        s = c.store
        s.create(NAMESPACES, {"metadata": {"name": "kubevirt"}})
        s.create(KUBEVIRTS, {"metadata": {"name": "kubevirt", "namespace": "kubevirt"}, "spec": {}})
        s.mutate(KUBEVIRTS, "kubevirt", "kubevirt",
                 lambda o: o.__setitem__("status", {"phase": "Deployed", "observedKubeVirtVersion": "v1.9.0"}),
                 status=True)
        for i in (1, 2):
            s.create(NODES, {"metadata": {"name": f"node0{i}", "labels": {"kubevirt.io/schedulable": "true"}}})
        s.create(STORAGECLASSES, {"metadata": {"name": "shared", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "x"})
    c.call(seed)


def add_cluster_role(c: EmulatedCluster, obj: dict[str, Any]) -> None:
    c.call(lambda: c.store.create(CLUSTERROLES, obj))


@pytest.fixture
def rbac_bare(tmp_path: Path) -> Iterator[EmulatedCluster]:
    """A bare API server (no KubeVirt controllers) with users ``viewer`` (view), ``kv`` (kubevirt.io:edit),
    ``nobody`` (a ClusterRole that does not exist) and ``suite`` (the suite's generated ClusterRole)."""
    tokens = (("viewer", "view"), ("kv", "kubevirt.io:edit"), ("nobody", "does-not-exist"), ("suite", "vmconform"))
    with EmulatedCluster(Options(tokens=tokens), kubeconfig_path=tmp_path / "kubeconfig", controllers=[]) as c:
        yield c


def client_for(c: EmulatedCluster, context: str | None = None) -> Cluster:
    assert c.kubeconfig_path is not None
    return Cluster.from_kubeconfig(c.kubeconfig_path, context, backend="emulated")


__all__ = ["ROOT", "add_cluster_role", "client_for", "cluster_role", "seed_kubevirt", "without"]
