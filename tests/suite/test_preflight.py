"""Preflight decisions against a real HTTPS API: what ends the run, and what only skips scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.cluster import free_port
from vmconform.emulator.resources import NAMESPACES
from vmconform.kube.client import Cluster
from vmconform.preflight import Uncheckable, check

from .conftest import seed_kubevirt


def test_a_healthy_cluster_has_every_capability(bare: EmulatedCluster, client: Cluster) -> None:
    seed_kubevirt(bare)
    facts = check(client)
    assert facts.kubevirt_version == "v1.9.0"
    assert facts.schedulable_nodes == ["node01", "node02"]
    assert facts.rwx_class == "shared-rwx" and facts.rwo_class == "shared-rwx"
    assert all(c.ok for c in facts.capabilities.values()), facts.capabilities


def test_one_schedulable_node_skips_migration_with_the_reason(bare: EmulatedCluster, client: Cluster) -> None:
    seed_kubevirt(bare, schedulable=1)
    facts = check(client)
    assert not facts.capabilities["migration"].ok
    assert facts.capabilities["migration"].reason == "live migration needs 2 schedulable nodes; this cluster has 1"
    assert facts.capabilities["vm"].ok


def test_no_default_class_and_none_given_skips_the_storage_scenarios(bare: EmulatedCluster, client: Cluster) -> None:
    seed_kubevirt(bare, classes=(("local-rwo", False),))
    facts = check(client)
    assert not facts.capabilities["rwx"].ok
    assert "--rwx-storage-class" in facts.capabilities["rwx"].reason
    named = check(client, rwx_class="nope", rwo_class="local-rwo")
    assert named.capabilities["rwx"].reason == "storage class nope (ReadWriteMany) does not exist on this cluster"
    assert named.capabilities["rwo"].ok


def test_no_kubevirt_cr_cannot_be_checked(bare: EmulatedCluster, client: Cluster) -> None:
    with pytest.raises(Uncheckable, match="KubeVirt is not installed.*no KubeVirt CR exists"):
        check(client)


def test_kubevirt_not_deployed_cannot_be_checked(bare: EmulatedCluster, client: Cluster) -> None:
    seed_kubevirt(bare, phase="Deploying")
    with pytest.raises(Uncheckable, match="is Deploying, not Deployed"):
        check(client)


def test_a_wrong_token_cannot_be_checked(bare: EmulatedCluster, tmp_path: Path) -> None:
    assert bare.kubeconfig_path is not None
    cfg = yaml.safe_load(bare.kubeconfig_path.read_text())
    cfg["users"][0]["user"]["token"] = "wrong"
    path = tmp_path / "wrong"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(Uncheckable, match="refused our credentials"):
        check(Cluster.from_kubeconfig(path))


def test_a_closed_port_cannot_be_checked(bare: EmulatedCluster, tmp_path: Path) -> None:
    assert bare.kubeconfig_path is not None
    cfg = yaml.safe_load(bare.kubeconfig_path.read_text())
    cfg["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    path = tmp_path / "closed"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(Uncheckable, match="cannot reach the cluster"):
        check(Cluster.from_kubeconfig(path))


def test_namespaces_exist(bare: EmulatedCluster) -> None:
    assert bare.call(lambda: bare.store.peek(NAMESPACES, None, "default")) is not None
