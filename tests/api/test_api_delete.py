"""DELETE: finalizers and deletionTimestamp, ownerReference garbage collection, namespace cascade."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from .conftest import GROUP, VERSION, VM_PATH, VMS, Http, unique, vm_body

FINALIZER = "vmconform.test/hold"


def get_or_none(custom: client.CustomObjectsApi, ns: str, name: str) -> dict[str, Any] | None:
    try:
        return custom.get_namespaced_custom_object(GROUP, VERSION, ns, VMS, name)
    except client.ApiException as exc:
        assert exc.status == 404
        return None


def owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def test_delete_without_finalizers_is_immediate(custom: client.CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body())
    out = custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm")
    assert out["metadata"]["name"] == "testvm"
    assert get_or_none(custom, ns, "testvm") is None
    with pytest.raises(client.ApiException) as exc:
        custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm")
    assert exc.value.status == 404


def test_delete_preconditions(custom: client.CustomObjectsApi, ns: str) -> None:
    made = custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body())
    meta = made["metadata"]
    for pre in ({"uid": "00000000-0000-0000-0000-000000000000"}, {"resourceVersion": "1"}):
        with pytest.raises(client.ApiException) as exc:
            custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm",
                                                   body=client.V1DeleteOptions(preconditions=pre))
        assert exc.value.status == 409
    assert get_or_none(custom, ns, "testvm") is not None
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", body=client.V1DeleteOptions(
        preconditions={"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}))
    assert get_or_none(custom, ns, "testvm") is None


def test_delete_with_finalizers_waits_for_them(custom: client.CustomObjectsApi, http: Http, ns: str) -> None:
    made = custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS,
                                                  vm_body(finalizers=[FINALIZER, "other/one"]))
    out = custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm")
    assert out["metadata"]["deletionTimestamp"]
    assert out["metadata"]["finalizers"] == [FINALIZER, "other/one"]
    held = get_or_none(custom, ns, "testvm")
    assert held is not None and held["metadata"]["deletionTimestamp"] == out["metadata"]["deletionTimestamp"]
    assert held["metadata"]["uid"] == made["metadata"]["uid"]

    # Deleting again changes nothing.
    again = custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm")
    assert again["metadata"]["deletionTimestamp"] == out["metadata"]["deletionTimestamp"]

    rv = held["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm",
                                          {"metadata": {"finalizers": ["other/one"]}})
    assert get_or_none(custom, ns, "testvm") is not None
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", {"metadata": {"finalizers": None}})
    assert get_or_none(custom, ns, "testvm") is None

    # Watchers see the removal as DELETED.
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv}, timeout=3) as w:
        ev = w.until(lambda e: e["type"] == "DELETED")
    assert ev["object"]["metadata"]["name"] == "testvm"


def test_owner_reference_garbage_collection(custom: client.CustomObjectsApi, core: client.CoreV1Api,
                                            ns: str) -> None:
    owner = custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("owner"))
    orphan_owner = custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("orphan-owner"))
    child = vm_body("child")
    child["metadata"]["ownerReferences"] = [owner_ref(owner)]
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, child)
    core.create_namespaced_pod(ns, {
        "metadata": {"name": "owned-pod", "ownerReferences": [owner_ref(owner)]},
        "spec": {"containers": [{"name": "c", "image": "i"}]}})
    core.create_namespaced_pod(ns, {
        "metadata": {"name": "kept-pod", "ownerReferences": [owner_ref(orphan_owner)]},
        "spec": {"containers": [{"name": "c", "image": "i"}]}})
    core.create_namespaced_pod(ns, {"metadata": {"name": "unrelated"},
                                    "spec": {"containers": [{"name": "c", "image": "i"}]}})

    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "owner")
    assert get_or_none(custom, ns, "child") is None
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "orphan-owner",
                                           propagation_policy="Orphan")
    assert sorted(p.metadata.name for p in core.list_namespaced_pod(ns).items) == ["kept-pod", "unrelated"]


def test_namespace_deletion_cascades(custom: client.CustomObjectsApi, core: client.CoreV1Api,
                                     http: Http) -> None:
    ns = unique("doomed")
    made = core.create_namespace({"metadata": {"name": ns}})
    assert made.status.phase == "Active"
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("held", finalizers=[FINALIZER]))
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("free"))
    core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    start_rv = core.read_namespace(ns).metadata.resource_version

    core.delete_namespace(ns)
    terminating = core.read_namespace(ns)
    assert terminating.status.phase == "Terminating"
    assert terminating.metadata.deletion_timestamp is not None
    # Content without finalizers goes; the held VM is marked for deletion.
    assert core.list_namespaced_pod(ns).items == []
    assert get_or_none(custom, ns, "free") is None
    held = get_or_none(custom, ns, "held")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    # Nothing new may be created in a terminating namespace.
    with pytest.raises(client.ApiException) as exc:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("late"))
    assert exc.value.status == 403

    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "held", {"metadata": {"finalizers": None}})
    with http.watch("/api/v1/namespaces", {"fieldSelector": f"metadata.name={ns}", "resourceVersion": start_rv},
                    timeout=5) as w:
        phases = []
        ev = w.until(lambda e: phases.append((e["type"], e["object"]["status"].get("phase")))
                     or e["type"] == "DELETED")
    assert ("MODIFIED", "Terminating") in phases
    assert ev["object"]["metadata"]["name"] == ns
    with pytest.raises(client.ApiException) as exc:
        core.read_namespace(ns)
    assert exc.value.status == 404
