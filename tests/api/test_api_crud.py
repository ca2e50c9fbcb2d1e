"""CRUD, selectors, paging, optimistic concurrency, patches and the status subresource,
through the official Python client (CoreV1Api, CustomObjectsApi, DynamicClient) over HTTPS."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ApiException as DynApiException

from .conftest import GROUP, VERSION, VM_PATH, VMS, Http, vm_body

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def create_vm(custom: client.CustomObjectsApi, ns: str, name: str = "testvm", **meta: Any) -> dict[str, Any]:
    return custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body(name, **meta))


def get_vm(custom: client.CustomObjectsApi, ns: str, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(GROUP, VERSION, ns, VMS, name)


def names(items: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in items]


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


# ---------------------------------------------------------------- create


def test_create_answers_201_and_sets_server_fields(custom: client.CustomObjectsApi, ns: str) -> None:
    body, status, _headers = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, ns, VMS, vm_body())
    assert status == 201
    meta = body["metadata"]
    assert body["kind"] == "VirtualMachine" and body["apiVersion"] == "kubevirt.io/v1"
    assert meta["name"] == "testvm" and meta["namespace"] == ns
    assert UID.match(meta["uid"])
    assert RFC3339.match(meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert meta["resourceVersion"].isdigit()
    assert "deletionTimestamp" not in meta
    assert body["spec"] == vm_body()["spec"]

    second = create_vm(custom, ns, "testvm-2")
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert second["metadata"]["uid"] != meta["uid"]


def test_create_honours_generate_name(custom: client.CustomObjectsApi, ns: str) -> None:
    made = {custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, VMS, vm_body("", generateName="gen-"))["metadata"]["name"] for _ in range(3)}
    assert len(made) == 3
    for name in made:
        assert name.startswith("gen-") and len(name) > len("gen-")
        assert get_vm(custom, ns, name)["metadata"]["generateName"] == "gen-"


def test_create_ignores_status_of_a_kind_with_status_subresource(custom: client.CustomObjectsApi,
                                                                  core: client.CoreV1Api, ns: str) -> None:
    body = vm_body()
    body["status"] = {"printableStatus": "Running", "ready": True}
    made = custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, body)
    assert not made.get("status")
    assert not get_vm(custom, ns, "testvm").get("status")

    p = pod("p")
    p["status"] = {"phase": "Running"}
    created = core.create_namespaced_pod(ns, p)
    assert created.status.phase == "Pending"


def test_core_create_get_list(core: client.CoreV1Api, ns: str) -> None:
    made, status, _ = core.create_namespaced_pod_with_http_info(ns, pod("web"))
    assert status == 201
    assert made.metadata.uid and made.metadata.creation_timestamp and made.metadata.resource_version
    got = core.read_namespaced_pod("web", ns)
    assert got.metadata.uid == made.metadata.uid
    assert got.kind == "Pod" and got.api_version == "v1"
    listed = core.list_namespaced_pod(ns)
    assert [p.metadata.name for p in listed.items] == ["web"]
    assert listed.metadata.resource_version.isdigit()

    cm_ns = core.read_namespace(ns)
    assert cm_ns.status.phase == "Active"


# ---------------------------------------------------------------- get and list


def test_get_and_list_carry_kind_api_version_and_resource_version(custom: client.CustomObjectsApi,
                                                                   ns: str) -> None:
    a = create_vm(custom, ns, "a")
    b = create_vm(custom, ns, "b")
    got = get_vm(custom, ns, "a")
    assert got["kind"] == "VirtualMachine" and got["apiVersion"] == "kubevirt.io/v1"
    assert got["metadata"]["uid"] == a["metadata"]["uid"]

    listed = custom.list_namespaced_custom_object(GROUP, VERSION, ns, VMS)
    assert listed["kind"] == "VirtualMachineList"
    assert listed["apiVersion"] == "kubevirt.io/v1"
    assert listed["metadata"]["resourceVersion"].isdigit()
    assert int(listed["metadata"]["resourceVersion"]) >= int(b["metadata"]["resourceVersion"])
    assert names(listed["items"]) == ["a", "b"]
    for item in listed["items"]:
        assert item["kind"] == "VirtualMachine" and item["apiVersion"] == "kubevirt.io/v1"

    everywhere = custom.list_cluster_custom_object(GROUP, VERSION, VMS)
    assert {"a", "b"} <= set(names(everywhere["items"]))


def test_label_selectors(custom: client.CustomObjectsApi, ns: str) -> None:
    create_vm(custom, ns, "small-a", labels={"size": "small", "tier": "web"})
    create_vm(custom, ns, "small-b", labels={"size": "small"})
    create_vm(custom, ns, "large", labels={"size": "large", "tier": "db"})
    create_vm(custom, ns, "plain")

    def sel(selector: str) -> list[str]:
        return names(custom.list_namespaced_custom_object(GROUP, VERSION, ns, VMS, label_selector=selector)["items"])

    assert sel("size=small") == ["small-a", "small-b"]
    assert sel("size==small,tier=web") == ["small-a"]
    assert sel("size!=small") == ["large", "plain"]
    assert sel("size in (small, large)") == ["large", "small-a", "small-b"]
    assert sel("size notin (small)") == ["large", "plain"]
    assert sel("tier") == ["large", "small-a"]
    assert sel("!tier") == ["plain", "small-b"]
    assert sel("size=medium") == []


def test_field_selectors_metadata(custom: client.CustomObjectsApi, core: client.CoreV1Api, ns: str) -> None:
    create_vm(custom, ns, "one")
    create_vm(custom, ns, "two")
    other = ns + "-other"
    core.create_namespace({"metadata": {"name": other}})
    try:
        create_vm(custom, other, "one")

        def sel(selector: str, namespace: str | None = ns) -> list[tuple[str, str]]:
            if namespace:
                items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, VMS,
                                                             field_selector=selector)["items"]
            else:
                items = custom.list_cluster_custom_object(GROUP, VERSION, VMS, field_selector=selector)["items"]
            return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items]

        assert sel("metadata.name=one") == [(ns, "one")]
        assert sel("metadata.name!=one") == [(ns, "two")]
        assert sorted(sel("metadata.name=one", None)) == sorted([(ns, "one"), (other, "one")])
        assert sel(f"metadata.namespace={other}", None) == [(other, "one")]
        assert sel(f"metadata.namespace={ns},metadata.name=two", None) == [(ns, "two")]
    finally:
        core.delete_namespace(other)


def test_field_selectors_pods_and_events(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("on-n1", nodeName="node01"))
    core.create_namespaced_pod(ns, pod("on-n2", nodeName="node02"))
    core.create_namespaced_pod(ns, pod("pending"))
    core.patch_namespaced_pod_status("on-n1", ns, {"status": {"phase": "Running"}})
    core.patch_namespaced_pod_status("on-n2", ns, {"status": {"phase": "Succeeded"}})

    def pods(selector: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(ns, field_selector=selector).items]

    assert pods("spec.nodeName=node01") == ["on-n1"]
    assert pods("status.phase=Running") == ["on-n1"]
    assert pods("status.phase!=Running") == ["on-n2", "pending"]
    assert pods("status.phase=Pending") == ["pending"]
    assert pods("spec.nodeName=node02,status.phase=Succeeded") == ["on-n2"]
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(
        field_selector=f"metadata.namespace={ns},spec.nodeName=node02").items] == ["on-n2"]

    target = core.read_namespaced_pod("on-n1", ns)
    for i, (name, uid) in enumerate([("on-n1", target.metadata.uid), ("on-n2", "x"), ("on-n1", "y")]):
        core.create_namespaced_event(ns, {
            "metadata": {"name": f"ev{i}"},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "uid": uid},
            "reason": "Scheduled", "message": "m", "type": "Normal",
        })

    def events(selector: str) -> list[str]:
        return [e.metadata.name for e in core.list_namespaced_event(ns, field_selector=selector).items]

    assert events("involvedObject.name=on-n1") == ["ev0", "ev2"]
    assert events(f"involvedObject.name=on-n1,involvedObject.uid={target.metadata.uid}") == ["ev0"]
    assert events(f"involvedObject.kind=Pod,involvedObject.namespace={ns},involvedObject.name=on-n2") == ["ev1"]
    assert events("involvedObject.kind=VirtualMachine") == []


def test_limit_and_continue(custom: client.CustomObjectsApi, ns: str) -> None:
    want = [f"vm-{i:02d}" for i in range(7)]
    for name in want:
        create_vm(custom, ns, name)
    seen: list[str] = []
    token = None
    pages = 0
    rvs = set()
    while True:
        page = custom.list_namespaced_custom_object(GROUP, VERSION, ns, VMS, limit=3, _continue=token)
        pages += 1
        assert page["kind"] == "VirtualMachineList"
        rvs.add(page["metadata"]["resourceVersion"])
        seen += names(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            assert len(page["items"]) == 1
            break
        assert len(page["items"]) == 3
        assert page["metadata"]["remainingItemCount"] == len(want) - len(seen)
        if pages == 1:
            # Changes before the cursor while paging must neither repeat nor skip items.
            create_vm(custom, ns, "aa-added-while-paging")
            custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "vm-00")
    assert pages == 3
    assert len(rvs) == 1  # every page reports the resourceVersion of the first
    assert seen == want

    with pytest.raises(client.ApiException) as exc:
        custom.list_namespaced_custom_object(GROUP, VERSION, ns, VMS, limit=3, _continue="bm90LWEtdG9rZW4=")
    assert exc.value.status == 400


# ---------------------------------------------------------------- update


def test_put_with_optimistic_concurrency(custom: client.CustomObjectsApi, ns: str) -> None:
    vm = create_vm(custom, ns)
    stale = dict(vm)
    vm["spec"]["runStrategy"] = "Always"
    updated = custom.replace_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", vm)
    assert updated["spec"]["runStrategy"] == "Always"
    assert int(updated["metadata"]["resourceVersion"]) > int(vm["metadata"]["resourceVersion"])
    assert updated["metadata"]["generation"] == 2
    assert updated["metadata"]["uid"] == vm["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == vm["metadata"]["creationTimestamp"]

    stale = vm_body()
    stale["metadata"]["resourceVersion"] = vm["metadata"]["resourceVersion"]
    stale["spec"]["runStrategy"] = "Manual"
    with pytest.raises(client.ApiException) as exc:
        custom.replace_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", stale)
    assert exc.value.status == 409
    assert '"reason":"Conflict"' in exc.value.body.replace(" ", "")
    assert get_vm(custom, ns, "testvm")["spec"]["runStrategy"] == "Always"

    # Custom resources take no unconditional update: a PUT without resourceVersion is invalid.
    del stale["metadata"]["resourceVersion"]
    with pytest.raises(client.ApiException) as exc:
        custom.replace_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", stale)
    assert exc.value.status == 422
    assert "metadata.resourceVersion" in exc.value.body


def test_core_put_conflict(core: client.CoreV1Api, ns: str) -> None:
    p = core.create_namespaced_pod(ns, pod("p"))
    p.metadata.labels = {"a": "1"}
    fresh = core.replace_namespaced_pod("p", ns, p)
    assert fresh.metadata.labels == {"a": "1"}
    p.metadata.labels = {"a": "2"}
    with pytest.raises(client.ApiException) as exc:
        core.replace_namespaced_pod("p", ns, p)  # p still carries the old resourceVersion
    assert exc.value.status == 409
    # Built-in kinds allow an unconditional update.
    p.metadata.resource_version = None
    assert core.replace_namespaced_pod("p", ns, p).metadata.labels == {"a": "2"}


def test_noop_update_keeps_resource_version(custom: client.CustomObjectsApi, ns: str) -> None:
    vm = create_vm(custom, ns)
    again = custom.replace_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", vm)
    assert again["metadata"]["resourceVersion"] == vm["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 1


# ---------------------------------------------------------------- patch


def test_merge_patch(custom: client.CustomObjectsApi, ns: str) -> None:
    create_vm(custom, ns, labels={"keep": "1", "drop": "1"})
    out = custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", {
        "metadata": {"labels": {"drop": None, "new": "2"}},
        "spec": {"runStrategy": "Always"},
    })
    assert out["metadata"]["labels"] == {"keep": "1", "new": "2"}
    assert out["spec"]["runStrategy"] == "Always"
    # Merge patch replaces lists wholesale.
    out = custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", {
        "spec": {"template": {"spec": {"networks": [{"name": "other", "pod": {}}]}}}})
    assert out["spec"]["template"]["spec"]["networks"] == [{"name": "other", "pod": {}}]
    assert out["spec"]["template"]["spec"]["volumes"] == vm_body()["spec"]["template"]["spec"]["volumes"]


JSON_PATCH = "application/json-patch+json"


def test_json_patch(custom: client.CustomObjectsApi, ns: str) -> None:
    create_vm(custom, ns)
    out = custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", _content_type=JSON_PATCH, body=[
        {"op": "replace", "path": "/spec/runStrategy", "value": "Always"},
        {"op": "add", "path": "/metadata/labels", "value": {"a/b": "x"}},
        {"op": "add", "path": "/spec/template/spec/domain/devices/disks/-",
         "value": {"name": "extra", "disk": {"bus": "virtio"}}},
        {"op": "remove", "path": "/spec/template/spec/domain/devices/disks/0"},
        {"op": "test", "path": "/spec/runStrategy", "value": "Always"},
    ])
    assert out["spec"]["runStrategy"] == "Always"
    assert out["metadata"]["labels"] == {"a/b": "x"}
    assert [d["name"] for d in out["spec"]["template"]["spec"]["domain"]["devices"]["disks"]] == \
        ["cloudinitdisk", "extra"]
    out = custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", _content_type=JSON_PATCH, body=[
        {"op": "remove", "path": "/metadata/labels/a~1b"}])
    assert not out["metadata"].get("labels")
    with pytest.raises(client.ApiException) as exc:
        custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", _content_type=JSON_PATCH, body=[
            {"op": "remove", "path": "/spec/nothing/here"}])
    assert exc.value.status == 422


def test_apply_patch_creates_then_updates(dyn: DynamicClient, ns: str) -> None:
    vms = dyn.resources.get(api_version="kubevirt.io/v1", kind="VirtualMachine")
    body = vm_body("applied", labels={"by": "apply"})
    made = vms.server_side_apply(body=body, name="applied", namespace=ns, field_manager="tests")
    assert made.metadata.uid and made.metadata.generation == 1
    body["spec"]["runStrategy"] = "Always"
    again = vms.server_side_apply(body=body, name="applied", namespace=ns, field_manager="tests")
    assert again.metadata.uid == made.metadata.uid
    assert again.spec.runStrategy == "Always"
    assert again.metadata.generation == 2
    assert again.metadata.labels.by == "apply"


def test_strategic_merge_patch_is_415_on_kubevirt_kinds(http: Http, dyn: DynamicClient,
                                                        custom: client.CustomObjectsApi,
                                                        core: client.CoreV1Api, ns: str) -> None:
    create_vm(custom, ns)
    r = http.patch(VM_PATH.format(ns=ns) + "/testvm", {"spec": {"runStrategy": "Always"}},
                   "application/strategic-merge-patch+json")
    assert r.status_code == 415
    status = r.json()
    assert status["kind"] == "Status" and status["code"] == 415
    assert status["reason"] == "UnsupportedMediaType"
    vms = dyn.resources.get(api_version="kubevirt.io/v1", kind="VirtualMachine")
    with pytest.raises(DynApiException) as exc:
        vms.patch(name="testvm", namespace=ns, body={"spec": {"runStrategy": "Always"}},
                  content_type="application/strategic-merge-patch+json")
    assert exc.value.status == 415
    assert get_vm(custom, ns, "testvm")["spec"]["runStrategy"] == "Halted"

    # Built-in kinds do take strategic merge patches.
    core.create_namespaced_pod(ns, pod("p"))
    r = http.patch(f"/api/v1/namespaces/{ns}/pods/p", {"metadata": {"labels": {"x": "y"}}},
                   "application/strategic-merge-patch+json")
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["labels"] == {"x": "y"}


# ---------------------------------------------------------------- status subresource


def test_status_subresource_semantics(custom: client.CustomObjectsApi, ns: str) -> None:
    vm = create_vm(custom, ns)
    rv0 = vm["metadata"]["resourceVersion"]

    # A /status write changes only .status; generation stays.
    out = custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, VMS, "testvm", {
        "status": {"printableStatus": "Stopped"}, "spec": {"runStrategy": "Always"},
        "metadata": {"labels": {"sneaky": "yes"}}})
    assert out["status"] == {"printableStatus": "Stopped"}
    assert out["spec"]["runStrategy"] == "Halted"
    assert not out["metadata"].get("labels")
    assert out["metadata"]["generation"] == 1
    assert int(out["metadata"]["resourceVersion"]) > int(rv0)

    # A main-resource write ignores .status; generation moves with the spec.
    out = custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", {
        "status": {"printableStatus": "Running"}, "spec": {"runStrategy": "Always"}})
    assert out["status"] == {"printableStatus": "Stopped"}
    assert out["spec"]["runStrategy"] == "Always"
    assert out["metadata"]["generation"] == 2

    # Metadata-only changes do not move generation.
    out = custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm",
                                                {"metadata": {"labels": {"l": "1"}, "annotations": {"a": "b"}}})
    assert out["metadata"]["generation"] == 2

    # A status-only main write is a no-op: same resourceVersion.
    before = out["metadata"]["resourceVersion"]
    out = custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm",
                                                {"status": {"printableStatus": "Running"}})
    assert out["metadata"]["resourceVersion"] == before
    assert out["status"] == {"printableStatus": "Stopped"}

    # PUT on /status ignores spec and metadata changes.
    cur = custom.get_namespaced_custom_object_status(GROUP, VERSION, ns, VMS, "testvm")
    cur["status"] = {"printableStatus": "Starting", "ready": False}
    cur["spec"]["runStrategy"] = "Manual"
    out = custom.replace_namespaced_custom_object_status(GROUP, VERSION, ns, VMS, "testvm", cur)
    assert out["status"] == {"printableStatus": "Starting", "ready": False}
    assert out["spec"]["runStrategy"] == "Always"
    assert out["metadata"]["generation"] == 2

    # PUT on the main resource keeps the stored status.
    cur = get_vm(custom, ns, "testvm")
    cur["status"] = {}
    cur["spec"]["runStrategy"] = "Halted"
    out = custom.replace_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", cur)
    assert out["status"] == {"printableStatus": "Starting", "ready": False}
    assert out["spec"]["runStrategy"] == "Halted"
    assert out["metadata"]["generation"] == 3


def test_core_status_subresource(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("p"))
    out = core.patch_namespaced_pod_status("p", ns, {"status": {"phase": "Running", "podIP": "10.0.0.5"},
                                                     "spec": {"nodeName": "elsewhere"}})
    assert out.status.phase == "Running" and out.status.pod_ip == "10.0.0.5"
    assert out.spec.node_name is None
    out = core.patch_namespaced_pod("p", ns, {"status": {"phase": "Failed"}, "metadata": {"labels": {"a": "b"}}})
    assert out.status.phase == "Running"
    assert out.metadata.labels == {"a": "b"}


# ---------------------------------------------------------------- DynamicClient


def test_dynamic_client_round_trip(dyn: DynamicClient, ns: str) -> None:
    vms = dyn.resources.get(api_version="kubevirt.io/v1", kind="VirtualMachine")
    assert vms.namespaced and "vm" in vms.short_names
    made = vms.create(body=vm_body("dynvm"), namespace=ns)
    assert made.metadata.uid and made.metadata.generation == 1
    assert vms.get(name="dynvm", namespace=ns).spec.runStrategy == "Halted"
    listed = vms.get(namespace=ns)
    assert listed.kind == "VirtualMachineList" and [i.metadata.name for i in listed.items] == ["dynvm"]
    patched = vms.patch(name="dynvm", namespace=ns, body={"spec": {"runStrategy": "Always"}},
                        content_type="application/merge-patch+json")
    assert patched.spec.runStrategy == "Always" and patched.metadata.generation == 2
    status = vms.status.patch(name="dynvm", namespace=ns, body={"status": {"printableStatus": "Running"}},
                              content_type="application/merge-patch+json")
    assert status.status.printableStatus == "Running"
    vms.delete(name="dynvm", namespace=ns)
    with pytest.raises(DynApiException) as exc:
        vms.get(name="dynvm", namespace=ns)
    assert exc.value.status == 404

    pods = dyn.resources.get(api_version="v1", kind="Pod")
    pods.create(body=pod("dynpod"), namespace=ns)
    assert [p.metadata.name for p in pods.get(namespace=ns).items] == ["dynpod"]
    nss = dyn.resources.get(api_version="v1", kind="Namespace")
    assert nss.get(name=ns).status.phase == "Active"
