"""Cleanup selects by vmconform's labels only, and never touches anything else."""

from __future__ import annotations

from vmconform.cleanup import leftovers, remove_leftovers
from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import NAMESPACES
from vmconform.kube.client import Cluster
from vmconform.labels import MANAGED_BY, RUN_ID


def _ns(c: EmulatedCluster, name: str, labels: dict[str, str]) -> None:
    c.call(lambda: c.store.create(NAMESPACES, {"metadata": {"name": name, "labels": labels}}))


def test_leftovers_are_selected_by_label_and_run(bare: EmulatedCluster, client: Cluster) -> None:
    _ns(bare, "a1", {MANAGED_BY: "vmconform", RUN_ID: "run-a"})
    _ns(bare, "a2", {MANAGED_BY: "vmconform", RUN_ID: "run-a"})
    _ns(bare, "b1", {MANAGED_BY: "vmconform", RUN_ID: "run-b"})
    _ns(bare, "mine-too", {RUN_ID: "run-a"})  # no managed-by: not ours
    _ns(bare, "helm-thing", {MANAGED_BY: "Helm"})
    assert leftovers(client) == ["a1", "a2", "b1"]
    assert leftovers(client, "run-a") == ["a1", "a2"]


def test_remove_leftovers_deletes_only_what_runs_created(bare: EmulatedCluster, client: Cluster) -> None:
    _ns(bare, "a1", {MANAGED_BY: "vmconform", RUN_ID: "run-a"})
    _ns(bare, "b1", {MANAGED_BY: "vmconform", RUN_ID: "run-b"})
    _ns(bare, "precious", {"team": "platform"})
    assert remove_leftovers(str(bare.kubeconfig_path), None, "run-a") == 0
    names = set(bare.call(lambda: [n["metadata"]["name"] for n in bare.store.items(NAMESPACES)]))
    assert "a1" not in names
    assert {"b1", "precious", "default"} <= names
