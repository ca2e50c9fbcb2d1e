"""Client errors answer what kube-apiserver answers (a 400/422 ``Status``), never a 500; boolean query
parameters read as the apiserver's parameter codec reads them (issue 14, issue 15 point 8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from kubernetes import client, watch

from .conftest import GROUP, VERSION, VM_PATH, VMS, Http, vm_body


def status_of(resp: requests.Response, code: int, reason: str) -> dict[str, Any]:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == code and body["reason"] == reason, body
    return body


# ---------------------------------------------------------------- boolean query parameters


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1", "yes", "anything", ""])
def test_watch_is_true_for_any_value_but_0_and_false(http: Http, custom: client.CustomObjectsApi, ns: str,
                                                     value: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("w"))
    resp = http.get(VM_PATH.format(ns=ns), params={"watch": value, "timeoutSeconds": "1"}, stream=True)
    try:
        first = json.loads(next(line for line in resp.iter_lines() if line))
    finally:
        resp.close()
    assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "w"


@pytest.mark.parametrize("value", ["false", "False", "FALSE", "0"])
def test_watch_false_or_0_is_a_list(http: Http, ns: str, value: str) -> None:
    body = http.get(VM_PATH.format(ns=ns), params={"watch": value}).json()
    assert body["kind"] == "VirtualMachineList"


def test_python_client_watch_stream_receives_events(custom: client.CustomObjectsApi, ns: str) -> None:
    """The client sends ``watch=True``: it must be a watch, not a LIST that ends the stream at once."""
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("seen"))
    w = watch.Watch()
    got = []
    for ev in w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, ns, VMS, timeout_seconds=5):
        got.append((ev["type"], ev["object"]["metadata"]["name"]))
        w.stop()
    assert got == [("ADDED", "seen")]


def test_bookmarks_with_capitalised_true(http: Http, cluster: Any, ns: str) -> None:
    api = cluster.emulator.api
    old, api.bookmark_seconds = api.bookmark_seconds, 0.2
    try:
        with http.watch(VM_PATH.format(ns=ns), {"allowWatchBookmarks": "True", "watch": "True"}, timeout=3) as w:
            ev = w.until(lambda e: e["type"] == "BOOKMARK")
    finally:
        api.bookmark_seconds = old
    assert ev["object"]["kind"] == "VirtualMachine"


# ---------------------------------------------------------------- malformed query parameters


@pytest.mark.parametrize("params,message", [
    ({"limit": "abc"}, 'strconv.ParseInt: parsing "abc": invalid syntax'),
    ({"resourceVersion": "abc"}, 'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": '
                                 "invalid syntax"),
    ({"watch": "true", "timeoutSeconds": "abc"}, 'strconv.ParseInt: parsing "abc": invalid syntax'),
    ({"watch": "true", "resourceVersion": "abc"}, 'resourceVersion: Invalid value: "abc"'),
])
def test_malformed_query_parameters_are_400(http: Http, ns: str, params: dict[str, str], message: str) -> None:
    body = status_of(http.get(VM_PATH.format(ns=ns), params=params), 400, "BadRequest")
    assert body["message"].startswith(message)


def test_grace_period_abc_and_bogus_propagation_policy(http: Http, custom: client.CustomObjectsApi,
                                                       ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("d"))
    item = VM_PATH.format(ns=ns) + "/d"
    status_of(http.request("DELETE", item, params={"gracePeriodSeconds": "abc"}), 400, "BadRequest")
    body = status_of(http.request("DELETE", item, json={"propagationPolicy": "Bogus"}), 422, "Invalid")
    assert body["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                               '"Bogus": supported values: "Foreground", "Background", "Orphan"')
    assert body["details"]["causes"][0]["field"] == "propagationPolicy"
    status_of(http.request("DELETE", item, params={"propagationPolicy": "Bogus"}), 422, "Invalid")
    status_of(http.request("DELETE", item, json=[1]), 400, "BadRequest")
    assert http.get(item).status_code == 200  # none of them deleted it


# ---------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize("raw,start", [
    (b"[1,2]", "the object provided is unrecognized (must be of type VirtualMachine): couldn't get "
               "version/kind; json parse error: json: cannot unmarshal array"),
    (b"null", "the object provided is unrecognized (must be of type VirtualMachine): Object 'Kind' is missing"),
    (b'"a string"', "the object provided is unrecognized (must be of type VirtualMachine): couldn't get "
                    "version/kind; json parse error: json: cannot unmarshal string"),
    (b"[" * 10000 + b"]" * 10000, "the request body is not valid: json: exceeded max depth"),
    (b'{"a":' * 10000 + b"1" + b"}" * 10000, "the request body is not valid: json: exceeded max depth"),
])
def test_bodies_that_are_not_objects_are_400(http: Http, ns: str, raw: bytes, start: str) -> None:
    for method, path in (("POST", VM_PATH.format(ns=ns)), ("PUT", VM_PATH.format(ns=ns) + "/x")):
        resp = http.request(method, path, data=raw, headers={"Content-Type": "application/json"})
        assert status_of(resp, 400, "BadRequest")["message"].startswith(start)


def test_a_vmi_body_on_the_vm_endpoint_is_400(http: Http, ns: str) -> None:
    body = vm_body("mismatch")
    body["kind"] = "VirtualMachineInstance"
    msg = status_of(http.post(VM_PATH.format(ns=ns), body), 400, "BadRequest")["message"]
    assert msg.startswith('VirtualMachineInstance in version "v1" cannot be handled as a VirtualMachine')
    body = vm_body("mismatch")
    body["apiVersion"] = "kubevirt.io/v1alpha3"
    msg = status_of(http.post(VM_PATH.format(ns=ns), body), 400, "BadRequest")["message"]
    assert msg == ("the API version in the data (kubevirt.io/v1alpha3) does not match the expected API version "
                   "(kubevirt.io/v1)")
    assert http.get(VM_PATH.format(ns=ns) + "/mismatch").status_code == 404


def test_patches_that_are_not_objects_are_400(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("p"))
    item = VM_PATH.format(ns=ns) + "/p"
    status_of(http.patch(item, [1], "application/merge-patch+json"), 400, "BadRequest")
    status_of(http.patch(item, [1], "application/json-patch+json"), 400, "BadRequest")
    status_of(http.patch(item, "x", "application/apply-patch+yaml"), 400, "BadRequest")


# ---------------------------------------------------------------- wrong JSON types anywhere: 400/422, never 500

_VM = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "f"},
       "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {"devices": {}}}}}}
_CORE = "/api/v1/namespaces/{ns}/"


@pytest.mark.parametrize("path,body", [
    (VM_PATH, {**_VM, "metadata": "x"}),
    (VM_PATH, {**_VM, "metadata": {"name": 5}}),
    (VM_PATH, {**_VM, "metadata": {"generateName": 5}}),
    (VM_PATH, {**_VM, "metadata": {"name": "f", "labels": "x"}}),
    (VM_PATH, {**_VM, "metadata": {"name": "f", "labels": {"a": 1}}}),
    (VM_PATH, {**_VM, "metadata": {"name": "f", "finalizers": "x"}}),
    (VM_PATH, {**_VM, "spec": {"runStrategy": 5, "template": "x"}}),
    (VM_PATH, {**_VM, "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": "x"}}}}),
    (VM_PATH, {**_VM, "spec": {"runStrategy": "Halted", "template": {"spec": {"volumes": "x"}}}}),
    (VM_PATH, {**_VM, "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {
        "resources": {"requests": {"memory": True}}}}}}}),
    (_CORE + "pods", {"metadata": {"name": "p"}, "spec": "x"}),
    (_CORE + "pods", {"metadata": {"name": "p"}, "spec": {"containers": "x"}}),
    (_CORE + "pods", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
                                                                           "resources": "x"}]}}),
    (_CORE + "persistentvolumeclaims", {"metadata": {"name": "p"}, "spec": {"accessModes": [5],
                                                                             "resources": {"requests": "x"}}}),
    (_CORE + "services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": "x"}]}}),
    (_CORE + "services", {"metadata": {"name": "s"}, "spec": "x"}),
    (_CORE + "secrets", {"metadata": {"name": "s"}, "data": {"a": 5}}),
    (_CORE + "secrets", {"metadata": {"name": "s"}, "stringData": {"a": 5}}),
    (_CORE + "secrets", {"metadata": {"name": "s"}, "stringData": "x"}),
    (_CORE + "secrets", {"metadata": {"name": "s"}, "data": "x", "stringData": {"a": "b"}}),
    (_CORE + "configmaps", {"metadata": {"name": "s"}, "data": {"a": 5}}),
    (_CORE + "configmaps", {"metadata": {"name": "s"}, "binaryData": {"a": "!!"}}),
    (_CORE + "events", {"metadata": {"name": "e"}, "involvedObject": "x"}),
    ("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", {"metadata": {"name": "s"}, "spec": {"minAvailable": 1.5}}),
])
def test_wrong_json_types_are_client_errors(http: Http, ns: str, path: str, body: dict[str, Any]) -> None:
    resp = http.post(path.format(ns=ns), body)
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["kind"] == "Status" and resp.json()["reason"] in ("BadRequest", "Invalid")


def test_malformed_delete_options_and_patches(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("f"))
    item = VM_PATH.format(ns=ns) + "/f"
    for options in ({"gracePeriodSeconds": "x"}, {"preconditions": "x"}):
        status_of(http.request("DELETE", item, json=options), 400, "BadRequest")
    for patch in ({"metadata": "x"}, {"metadata": {"name": 5}}, {"kind": "Pod"}):
        resp = http.patch(item, patch, "application/merge-patch+json")
        assert resp.status_code == 400, resp.text
    resp = http.patch(item, [{"op": "add"}], "application/json-patch+json")
    assert resp.status_code in (400, 422), resp.text
    assert http.get(item).status_code == 200


def test_send_initial_events_ends_with_the_initial_events_end_bookmark(http: Http, custom: client.CustomObjectsApi,
                                                                       ns: str) -> None:
    first = custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("i1"))
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("i2"))
    params = {"sendInitialEvents": "True", "allowWatchBookmarks": "1", "resourceVersionMatch": "NotOlderThan",
              "resourceVersion": first["metadata"]["resourceVersion"]}
    with http.watch(VM_PATH.format(ns=ns), params, timeout=3) as w:
        it = iter(w)
        got = [next(it), next(it), next(it)]
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in got[:2]] == [("ADDED", "i1"), ("ADDED", "i2")]
    assert got[2]["type"] == "BOOKMARK"
    assert got[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_field_selectors_a_kind_does_not_support_are_400(http: Http, ns: str) -> None:
    body = status_of(http.get(VM_PATH.format(ns=ns), params={"fieldSelector": "status.printableStatus=Running"}),
                     400, "BadRequest")
    assert body["message"] == '"status.printableStatus" is not a known field selector: only "metadata.name", ' \
                              '"metadata.namespace"'
    body = status_of(http.get(f"/api/v1/namespaces/{ns}/pods", params={"fieldSelector": "spec.foo=x"}),
                     400, "BadRequest")
    assert body["message"] == "field label not supported: spec.foo"
    for path, selector in ((f"/api/v1/namespaces/{ns}/pods", "status.phase=Running,spec.nodeName=node01"),
                           (f"/api/v1/namespaces/{ns}/events", "involvedObject.name=x,type=Warning"),
                           (VM_PATH.format(ns=ns), "metadata.name=x")):
        assert http.get(path, params={"fieldSelector": selector}).status_code == 200
