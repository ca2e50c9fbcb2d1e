"""Core kinds served with kube-apiserver's validation, and custom resources pruned and validated by
their structural schema (issue 14 core kinds, issue 15 point 8). Every rejection is a ``Status`` with
the apiserver's code, reason, message and ``details.causes``; nothing is stored."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from .conftest import VM_PATH, Http, Kubectl, vm_body

Obj = dict[str, Any]


def rejected(resp: Any, code: int, reason: str) -> Obj:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["kind"] == "Status" and body["code"] == code and body["reason"] == reason, body
    return body


def causes(body: Obj) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


@pytest.fixture(scope="module")
def kubectl(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(Path(cluster.kubeconfig_path), tmp_path_factory.mktemp("kubectl-home"))


# ---------------------------------------------------------------- metadata


@pytest.mark.parametrize("path,body", [
    ("/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}}),
    (VM_PATH, vm_body("v")),
])
def test_invalid_label_keys_and_values_are_422(http: Http, ns: str, path: str, body: Obj) -> None:
    body = json.loads(json.dumps(body))
    body["metadata"]["labels"] = {"bad key!": "ok", "good": "bad value!", "a/b/c": "x"}
    got = rejected(http.post(path.format(ns=ns), body), 422, "Invalid")
    fields = causes(got)
    assert ("metadata.labels", 'Invalid value: "bad key!": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',"
            "  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')") in fields
    assert any(f == "metadata.labels" and m.startswith('Invalid value: "bad value!": a valid label must be an '
                                                       "empty string") for f, m in fields)
    assert any(m.startswith('Invalid value: "a/b/c": a qualified name must consist') for _f, m in fields)
    assert got["message"].endswith("]") and " is invalid: [metadata.labels: " in got["message"]
    assert all(c["reason"] == "FieldValueInvalid" for c in got["details"]["causes"])
    name = body["metadata"]["name"]
    assert http.get(path.format(ns=ns) + "/" + name).status_code == 404


# ---------------------------------------------------------------- ConfigMap, Secret


def test_configmap_keys(http: Http, core: client.CoreV1Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    got = rejected(http.post(path, {"metadata": {"name": "c"}, "data": {"bad key": "v"}}), 422, "Invalid")
    assert causes(got) == [("data[bad key]", 'Invalid value: "bad key": a valid config key must consist of '
                            "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                            "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]
    assert got["message"].startswith('ConfigMap "c" is invalid: data[bad key]: Invalid value')
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"k.conf": "v"},
                                                "immutable": True})
    assert cm.data == {"k.conf": "v"}
    got = rejected(http.patch(f"{path}/c", {"data": {"k.conf": "w"}}, "application/merge-patch+json"), 422, "Invalid")
    assert causes(got) == [("data", "Forbidden: field is immutable when `immutable` is set")]


def test_secret_data_must_be_base64_and_type_is_immutable(http: Http, core: client.CoreV1Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/secrets"
    got = rejected(http.post(path, {"metadata": {"name": "s"}, "data": {"k": "not base64!"}}), 400, "BadRequest")
    assert got["message"] == ('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input '
                              "byte 3")
    sec = core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {"userdata": "#cloud-config"},
                                             "data": {"x": base64.b64encode(b"1").decode()}})
    assert sec.type == "Opaque"
    assert base64.b64decode(sec.data["userdata"]) == b"#cloud-config" and sec.data["x"] == "MQ=="
    assert "stringData" not in http.get(f"{path}/s").json()
    got = rejected(http.patch(f"{path}/s", {"type": "kubernetes.io/tls"}, "application/merge-patch+json"),
                   422, "Invalid")
    assert ("type", 'Invalid value: "kubernetes.io/tls": field is immutable') in causes(got)
    got = rejected(http.post(path, {"metadata": {"name": "t"}, "type": "kubernetes.io/tls"}), 422, "Invalid")
    assert causes(got) == [("data[tls.crt]", "Required value"), ("data[tls.key]", "Required value")]
    assert got["details"]["causes"][0]["reason"] == "FieldValueRequired"


# ---------------------------------------------------------------- Service, ServiceAccount, PDB


def test_service_validation_and_defaults(http: Http, core: client.CoreV1Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/services"
    got = rejected(http.post(path, {"metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}}}), 422, "Invalid")
    assert causes(got) == [("spec.ports", "Required value")]
    got = rejected(http.post(path, {"metadata": {"name": "s"}, "spec": {"ports": [
        {"name": "a", "port": 0}, {"name": "a", "port": 80, "protocol": "HTTP"}, {"port": 81}]}}), 422, "Invalid")
    assert causes(got) == [
        ("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ("spec.ports[0].targetPort", "Invalid value: 0: must be between 1 and 65535, inclusive"),  # defaulted
        ("spec.ports[1].name", 'Duplicate value: "a"'),
        ("spec.ports[1].protocol", 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'),
        ("spec.ports[2].name", "Required value"),
    ]
    got = rejected(http.post(path, {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}}),
                   422, "Invalid")
    assert causes(got)[0][0] == "metadata.name" and "a DNS-1035 label must consist" in causes(got)[0][1]
    got = rejected(http.post(path, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": "a--b"}]}}),
                   422, "Invalid")
    assert causes(got) == [("spec.ports[0].targetPort", 'Invalid value: "a--b": must not contain consecutive hyphens')]
    named = http.post(path, {"metadata": {"name": "named"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}]}})
    assert named.status_code == 201 and named.json()["spec"]["ports"][0]["targetPort"] == "http"
    svc = core.create_namespaced_service(ns, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert svc.spec.type == "ClusterIP" and svc.spec.cluster_ip.startswith("10.")
    assert svc.spec.ports[0].protocol == "TCP" and svc.spec.ports[0].target_port == 80


def test_service_account_and_pdb(http: Http, core: client.CoreV1Api, ns: str) -> None:
    sa = core.create_namespaced_service_account(ns, {"metadata": {"name": "robot"}})
    assert sa.metadata.uid
    rejected(http.post(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "Robot"}}), 422, "Invalid")
    path = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    got = rejected(http.post(path, {"metadata": {"name": "p"}, "spec": {
        "minAvailable": 1, "maxUnavailable": "10%", "selector": {"matchLabels": {"a": "b"}}}}), 422, "Invalid")
    assert causes(got) == [("spec", 'Invalid value: "object": minAvailable and maxUnavailable cannot be both set')]
    assert got["message"].startswith('PodDisruptionBudget.policy "p" is invalid')
    got = rejected(http.post(path, {"metadata": {"name": "p"}, "spec": {"minAvailable": "abc"}}), 422, "Invalid")
    assert causes(got)[0][1].startswith('Invalid value: "abc": a valid percent string must be')
    ok = http.post(path, {"metadata": {"name": "p"}, "spec": {"minAvailable": 1,
                                                               "selector": {"matchLabels": {"a": "b"}}}})
    assert ok.status_code == 201 and ok.json()["status"]["disruptionsAllowed"] == 0


# ---------------------------------------------------------------- Pod, PVC


def test_pod_with_an_empty_spec_is_422(http: Http, ns: str) -> None:
    got = rejected(http.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"}, "spec": {}}), 422, "Invalid")
    assert got["message"] == 'Pod "p" is invalid: spec.containers: Required value'
    got = rejected(http.post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "12Zi"}}}]}}), 400, "BadRequest")
    assert got["message"] == ('Pod in version "v1" cannot be handled as a Pod: quantities must match the regular '
                              "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def test_pvc_access_mode_and_size(http: Http, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"

    def pvc(mode: str, size: str) -> Obj:
        return {"metadata": {"name": "c"}, "spec": {"accessModes": [mode],
                                                    "resources": {"requests": {"storage": size}}}}

    got = rejected(http.post(path, pvc("ReadWriteSometimes", "1Gi")), 422, "Invalid")
    assert causes(got) == [("spec.accessModes", 'Unsupported value: "ReadWriteSometimes": supported values: '
                            '"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"')]
    assert got["details"]["causes"][0]["reason"] == "FieldValueNotSupported"
    got = rejected(http.post(path, pvc("ReadWriteOnce", "abc")), 400, "BadRequest")
    assert "quantities must match the regular expression" in got["message"]
    got = rejected(http.post(path, pvc("ReadWriteOnce", "0")), 422, "Invalid")
    assert causes(got) == [("spec.resources[storage]", 'Invalid value: "0": must be greater than zero')]
    assert http.post(path, pvc("ReadWriteOnce", "1Gi")).status_code == 201


# ---------------------------------------------------------------- custom resources: schema and pruning


def test_vm_spec_that_is_a_string_is_422(http: Http, ns: str) -> None:
    body = vm_body("s")
    body["spec"] = "run please"
    got = rejected(http.post(VM_PATH.format(ns=ns), body), 422, "Invalid")
    assert causes(got) == [("spec", 'Invalid value: "string": spec in body must be of type object: "string"')]
    assert got["message"].startswith('VirtualMachine.kubevirt.io "s" is invalid: spec: Invalid value')


@pytest.mark.parametrize("memory", ["abc", "12Zi", "1.2.3Gi"])
def test_vm_memory_that_is_not_a_quantity_is_422(http: Http, ns: str, memory: str) -> None:
    body = vm_body("m")
    body["spec"]["template"]["spec"]["domain"]["resources"] = {"requests": {"memory": memory}}
    got = rejected(http.post(VM_PATH.format(ns=ns), body), 422, "Invalid")
    field = "spec.template.spec.domain.resources.requests.memory"
    assert causes(got)[0][0] == field
    assert causes(got)[0][1].startswith(f'Invalid value: "{memory}": {field} in body should match '
                                        "'^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))")


def test_unknown_fields_are_pruned_with_a_warning(http: Http, ns: str) -> None:
    body = vm_body("p")
    body["spec"]["bogus"] = 1
    body["spec"]["template"]["spec"]["domain"]["cpuz"] = {"cores": 2}
    resp = http.post(VM_PATH.format(ns=ns), body)
    assert resp.status_code == 201, resp.text
    warnings = resp.raw.headers.getlist("Warning")
    assert warnings == ['299 - "unknown field \\"spec.bogus\\""',
                        '299 - "unknown field \\"spec.template.spec.domain.cpuz\\""']
    stored = http.get(VM_PATH.format(ns=ns) + "/p").json()
    assert "bogus" not in stored["spec"] and "cpuz" not in stored["spec"]["template"]["spec"]["domain"]
    # Strict: a 400 that names them; Ignore: pruned silently.
    body["metadata"]["name"] = "q"
    got = rejected(http.post(VM_PATH.format(ns=ns), body, params={"fieldValidation": "Strict"}), 400, "BadRequest")
    assert got["message"] == ('VirtualMachine in version "v1" cannot be handled as a VirtualMachine: strict decoding '
                              'error: unknown field "spec.bogus", unknown field "spec.template.spec.domain.cpuz"')
    resp = http.post(VM_PATH.format(ns=ns), body, params={"fieldValidation": "Ignore"})
    assert resp.status_code == 201 and "Warning" not in resp.headers
    got = rejected(http.post(VM_PATH.format(ns=ns), body, params={"fieldValidation": "Bogus"}), 422, "Invalid")
    assert got["message"] == ('CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": '
                              'supported values: "Ignore", "Strict", "Warn"')


def test_kubectl_apply_warns_about_unknown_fields(kubectl: Kubectl, ns: str, tmp_path: Path) -> None:
    body = vm_body("applied")
    body["spec"]["bogus"] = True
    manifest = tmp_path / "vm.json"
    manifest.write_text(json.dumps(body))
    strict = kubectl("apply", "-n", ns, "-f", str(manifest), check=False)
    assert strict.returncode != 0 and 'unknown field "spec.bogus"' in strict.stderr
    warn = kubectl("apply", "--validate=warn", "-n", ns, "-f", str(manifest))
    assert 'Warning: unknown field "spec.bogus"' in warn.stderr
    assert "virtualmachine.kubevirt.io/applied created" in warn.stdout


# ---------------------------------------------------------------- discovery, kubectl


def test_core_kinds_in_discovery_openapi_and_kubectl(http: Http, kubectl: Kubectl, core: client.CoreV1Api,
                                                     ns: str) -> None:
    legacy = {r["name"] for r in http.get("/api/v1").json()["resources"]}
    assert {"configmaps", "secrets", "services", "serviceaccounts", "events"} <= legacy
    policy = {r["name"] for r in http.get("/apis/policy/v1").json()["resources"]}
    assert "poddisruptionbudgets" in policy
    agg = http.get("/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    groups = {g["metadata"]["name"] for g in agg.json()["items"]}
    assert {"policy", "apps"} <= groups
    index = http.get("/openapi/v3").json()["paths"]
    assert "apis/policy/v1" in index and "apps/v1" in " ".join(index)
    doc = http.get(index["api/v1"]["serverRelativeURL"]).json()
    assert "/api/v1/namespaces/{namespace}/configmaps/{name}" in doc["paths"]

    core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "sec"}, "stringData": {"a": "1"}})
    core.create_namespaced_service(ns, {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}})
    core.create_namespaced_service_account(ns, {"metadata": {"name": "sa"}})
    out = kubectl("get", "cm,secret,svc,sa,pdb,events", "-n", ns).stdout
    assert "configmap/cfg" in out and "secret/sec" in out and "service/svc" in out and "serviceaccount/sa" in out
    assert "Opaque" in out and "ClusterIP" in out and "80/TCP" in out
    allns = kubectl("get", "cm,secret,svc,sa,pdb,events", "-A")
    assert ns in allns.stdout and allns.stderr == ""
    described = kubectl("describe", "cm", "cfg", "-n", ns).stdout
    assert "Name:" in described and "cfg" in described


def test_kubectl_create_sends_protobuf_for_core_kinds(kubectl: Kubectl, core: client.CoreV1Api, ns: str) -> None:
    """``kubectl create configmap|secret|service|sa|pdb`` send protobuf bodies; they decode to the same objects."""
    kubectl("create", "configmap", "cm2", "-n", ns, "--from-literal=a=b")
    kubectl("create", "secret", "generic", "s2", "-n", ns, "--from-literal=a=b")
    kubectl("create", "service", "clusterip", "svc2", "-n", ns, "--tcp=80:8080")
    kubectl("create", "serviceaccount", "sa2", "-n", ns)
    kubectl("create", "poddisruptionbudget", "pdb2", "-n", ns, "--selector=app=x", "--min-available=1")
    assert core.read_namespaced_config_map("cm2", ns).data == {"a": "b"}
    assert core.read_namespaced_secret("s2", ns).data == {"a": base64.b64encode(b"b").decode()}
    port = core.read_namespaced_service("svc2", ns).spec.ports[0]
    assert (port.port, port.target_port, port.protocol) == (80, 8080, "TCP")
    pdb = client.PolicyV1Api(core.api_client).read_namespaced_pod_disruption_budget("pdb2", ns)
    assert pdb.spec.min_available == 1 and pdb.spec.selector.match_labels == {"app": "x"}
    bad = kubectl("create", "poddisruptionbudget", "pdb3", "-n", ns, "--selector=app=x", "--min-available=1",
                  "--max-unavailable=1", check=False)
    assert bad.returncode != 0


def test_unknown_fields_of_core_kinds_and_metadata(http: Http, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    body = {"metadata": {"name": "typo", "lables": {"a": "b"}}, "dta": {"a": "1"}}
    got = rejected(http.post(path, body, params={"fieldValidation": "Strict"}), 400, "BadRequest")
    assert got["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
                              'unknown field "dta", unknown field "metadata.lables"')
    resp = http.post(path, body)
    assert resp.status_code == 201
    assert resp.raw.headers.getlist("Warning") == ['299 - "unknown field \\"dta\\""',
                                                   '299 - "unknown field \\"metadata.lables\\""']
    stored = http.get(f"{path}/typo").json()
    assert "dta" not in stored and "lables" not in stored["metadata"]
