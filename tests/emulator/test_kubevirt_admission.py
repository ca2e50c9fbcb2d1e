"""VM admission (§1.4) and schema conformance of everything the emulator returns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

Obj = dict[str, Any]
WEBHOOK = 'admission webhook "virtualmachine-validator.kubevirt.io" denied the request: '
EXCLUSIVE = ("Running and RunStrategy are mutually exclusive. Note that Running is deprecated, "
             "please use RunStrategy instead")


def create(kv: Any, ns: str, body: Obj) -> Obj:
    return kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", body)


def rejection(kv: Any, ns: str, body: Obj) -> Obj:
    with pytest.raises(client.ApiException) as info:
        create(kv, ns, body)
    assert info.value.status == 422
    doc = json.loads(info.value.body)
    assert doc["kind"] == "Status" and doc["reason"] == "Invalid" and doc["code"] == 422
    return doc


def test_run_strategy_must_be_specified(kv: Any, ns: str) -> None:
    doc = rejection(kv, ns, kv.vm_body("none", None))
    assert doc["message"] == WEBHOOK + "RunStrategy must be specified"
    assert doc["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": "RunStrategy must be specified", "field": "spec.running"}]


def test_running_and_run_strategy_are_exclusive(kv: Any, ns: str) -> None:
    doc = rejection(kv, ns, kv.vm_body("both", "Always", running=True))
    assert doc["message"] == WEBHOOK + EXCLUSIVE
    assert doc["details"]["causes"][0]["field"] == "spec.running"


def test_unknown_run_strategy_is_invalid(kv: Any, ns: str) -> None:
    doc = rejection(kv, ns, kv.vm_body("odd", "Sometimes"))
    assert doc["message"] == WEBHOOK + "Invalid RunStrategy (Sometimes)"
    assert doc["details"]["causes"][0]["field"] == "spec.runStrategy"


def test_every_valid_run_strategy_and_deprecated_running_are_accepted(kv: Any, ns: str) -> None:
    for strategy in ("Always", "Halted", "Manual", "RerunOnFailure", "Once"):
        create(kv, ns, kv.vm_body(strategy.lower(), strategy))
    create(kv, ns, kv.vm_body("legacy", None, running=False))


def test_updates_are_validated_too(kv: Any, ns: str) -> None:
    create(kv, ns, kv.vm_body("u", "Halted"))
    with pytest.raises(client.ApiException) as info:
        kv.custom.patch_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", "u",
                                                 {"spec": {"runStrategy": None}})
    assert info.value.status == 422
    assert json.loads(info.value.body)["message"] == WEBHOOK + "RunStrategy must be specified"


def test_only_virt_controller_sets_migration_priority(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": "p"}, "spec": {"vmiName": "a", "priority": "user-triggered"}}
    with pytest.raises(client.ApiException) as info:
        kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachineinstancemigrations", body)
    assert info.value.status == 422
    assert json.loads(info.value.body)["message"].endswith(
        "Migration priority queue, only virt-controller is allowed to set priority field")


def test_every_kubevirt_object_validates_against_the_schemas(kv: Any, ns: str) -> None:
    """A full cycle here, then everything of the four kinds the session cluster holds."""
    kv.create_vm(ns, "s", "Halted")
    kv.ok(ns, "vm", "s", "start")
    kv.wait_vm(ns, "s", lambda o: o.get("status", {}).get("printableStatus") == "Running")
    kv.ok(ns, "vmi", "s", "pause")
    kv.wait_vm(ns, "s", lambda o: o.get("status", {}).get("printableStatus") == "Paused")
    # The VMI is gone once the cycle ends: check this one while it lives, so the test holds alone too.
    vmi = kv.custom.get_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachineinstances", "s")
    kv.validate(vmi)
    kv.ok(ns, "vm", "s", "migrate")
    mig = kv.vmims(ns)[0]["metadata"]["name"]
    kv.wait_vmim(ns, mig, lambda o: (o or {}).get("status", {}).get("phase") == "Succeeded")
    kv.ok(ns, "vm", "s", "stop")
    kv.wait_vm(ns, "s", lambda o: o.get("status", {}).get("printableStatus") == "Stopped")
    counts = {}
    for plural, kind in (("virtualmachines", "VirtualMachine"), ("virtualmachineinstances", "VirtualMachineInstance"),
                         ("virtualmachineinstancemigrations", "VirtualMachineInstanceMigration"),
                         ("kubevirts", "KubeVirt")):
        items = kv.custom.list_cluster_custom_object("kubevirt.io", "v1", plural)["items"]
        for item in items:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", "kubevirt.io/v1")
            kv.validate(item)
        counts[kind] = len(items)
    assert counts["VirtualMachine"] >= 1 and counts["VirtualMachineInstanceMigration"] >= 1
    assert counts["KubeVirt"] == 1
    assert all(kv.validated.get(k, 0) > 0 for k in counts), kv.validated  # the VMI above counts too
