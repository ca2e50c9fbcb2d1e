"""Authentication and TLS, and errors as ``Status`` JSON with the right code and reason."""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import Any

import pytest
import requests
from kubernetes import client, config

from vmconform.emulator import EmulatedCluster

from .conftest import GROUP, VERSION, VM_PATH, VMS, Http, vm_body


def assert_status(resp: requests.Response, code: int, reason: str) -> dict[str, Any]:
    assert resp.status_code == code, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason
    assert body["message"]
    return body


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/apis", "/version",
                                  "/apis/kubevirt.io/v1/namespaces/default/virtualmachines"])
def test_401_without_the_token(http: Http, path: str) -> None:
    assert_status(http.get(path, token=None), 401, "Unauthorized")
    assert_status(http.get(path, token="not-the-token"), 401, "Unauthorized")
    assert http.get(path).status_code == 200


def test_401_for_writes_and_watches_without_the_token(http: Http) -> None:
    r = http.request("POST", VM_PATH.format(ns="default"), token=None, json=vm_body("intruder"))
    assert_status(r, 401, "Unauthorized")
    r = http.get(VM_PATH.format(ns="default"), token=None, params={"watch": "true"})
    assert_status(r, 401, "Unauthorized")
    assert http.get(VM_PATH.format(ns="default") + "/intruder").status_code == 404


def test_python_client_without_token_gets_401(cluster: EmulatedCluster) -> None:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig_path), client_configuration=cfg)
    cfg.api_key = {}
    with client.ApiClient(cfg) as api:
        with pytest.raises(client.ApiException) as exc:
            client.CoreV1Api(api).list_namespace()
    assert exc.value.status == 401


def test_served_over_https_with_the_generated_ca(cluster: EmulatedCluster, http: Http) -> None:
    assert cluster.url.startswith("https://127.0.0.1:")
    # The system trust store does not know the emulator's CA.
    with pytest.raises(urllib.error.URLError) as exc:
        urllib.request.urlopen(cluster.url + "/version", timeout=5)
    assert isinstance(exc.value.reason, ssl.SSLCertVerificationError)
    # Its own CA verifies it, for both hostnames a kubeconfig might use.
    ctx = ssl.create_default_context(cafile=str(http.ca_file))
    for host in ("127.0.0.1", "localhost"):
        req = urllib.request.Request(cluster.url.replace("127.0.0.1", host) + "/version",
                                     headers={"Authorization": f"Bearer {cluster.token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            assert json.load(resp)["major"] == "1"


# ---------------------------------------------------------------- Status errors


def test_404_not_found(http: Http, ns: str) -> None:
    body = assert_status(http.get(VM_PATH.format(ns=ns) + "/missing"), 404, "NotFound")
    assert body["details"]["name"] == "missing"
    assert body["details"]["group"] == "kubevirt.io"
    assert body["details"]["kind"] == "virtualmachines"
    assert body["message"] == 'virtualmachines.kubevirt.io "missing" not found'
    assert_status(http.get(f"/api/v1/namespaces/{ns}/pods/nope"), 404, "NotFound")
    assert_status(http.request("DELETE", f"/api/v1/namespaces/{ns}/pods/nope"), 404, "NotFound")
    assert_status(http.get("/apis/example.com/v1/widgets"), 404, "NotFound")
    assert_status(http.post(VM_PATH.format(ns="no-such-namespace"), vm_body()), 404, "NotFound")


def test_python_client_404(custom: client.CustomObjectsApi, ns: str) -> None:
    with pytest.raises(client.ApiException) as exc:
        custom.get_namespaced_custom_object(GROUP, VERSION, ns, VMS, "missing")
    assert exc.value.status == 404
    assert json.loads(exc.value.body)["reason"] == "NotFound"


def test_409_already_exists(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body())
    body = assert_status(http.post(VM_PATH.format(ns=ns), vm_body()), 409, "AlreadyExists")
    assert body["details"]["name"] == "testvm"
    with pytest.raises(client.ApiException) as exc:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body())
    assert exc.value.status == 409


def test_409_conflict_on_stale_resource_version(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    vm = custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body())
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, "testvm", {"metadata": {"labels": {"a": "b"}}})
    r = http.request("PUT", VM_PATH.format(ns=ns) + "/testvm", json=vm)
    body = assert_status(r, 409, "Conflict")
    assert "the object has been modified" in body["message"]
    # A merge patch carrying a stale resourceVersion is a precondition too.
    r = http.patch(VM_PATH.format(ns=ns) + "/testvm",
                   {"metadata": {"resourceVersion": vm["metadata"]["resourceVersion"], "labels": {"c": "d"}}},
                   "application/merge-patch+json")
    assert_status(r, 409, "Conflict")


def test_422_invalid(http: Http, ns: str) -> None:
    body = vm_body()
    del body["metadata"]["name"]
    status = assert_status(http.post(VM_PATH.format(ns=ns), body), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    status = assert_status(http.post(VM_PATH.format(ns=ns), vm_body("Not_A_Valid_Name")), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert http.get(VM_PATH.format(ns=ns) + "/Not_A_Valid_Name").status_code == 404


def test_415_strategic_merge_on_custom_resource(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body())
    for path in ("/testvm", "/testvm/status"):
        assert_status(http.patch(VM_PATH.format(ns=ns) + path, {"metadata": {"labels": {"a": "b"}}},
                                 "application/strategic-merge-patch+json"), 415, "UnsupportedMediaType")
    assert_status(http.patch(VM_PATH.format(ns=ns) + "/testvm", {"a": 1}, "text/plain"),
                  415, "UnsupportedMediaType")


def test_400_bad_request(http: Http, ns: str) -> None:
    r = http.request("POST", VM_PATH.format(ns=ns), data=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert_status(r, 400, "BadRequest")
    assert_status(http.get(VM_PATH.format(ns=ns), params={"fieldSelector": "metadata.name"}), 400, "BadRequest")
