"""KubeVirt's own components run as pods in namespace ``kubevirt`` (labels from virt-operator's install
strategy at v1.9.0), and virt-api's webhooks reject bad VM/VMI memory with KubeVirt's messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

Obj = dict[str, Any]
NS = "kubevirt"


def _pods(kv: Any, selector: str) -> list[Any]:
    return kv.core.list_namespaced_pod(NS, label_selector=selector).items


def _ready(pod: Any) -> bool:
    return pod.status.phase == "Running" and any(c.type == "Ready" and c.status == "True"
                                                 for c in pod.status.conditions or [])


@pytest.mark.parametrize("name,replicas", [("virt-api", 2), ("virt-controller", 2), ("virt-operator", 2)])
def test_deployment_pods_running_and_ready(kv: Any, name: str, replicas: int) -> None:
    pods = _pods(kv, f"kubevirt.io={name}")
    assert len(pods) == replicas and all(_ready(p) for p in pods)
    for pod in pods:
        assert pod.metadata.labels["prometheus.kubevirt.io"] == "true"
        assert pod.metadata.labels["np.kubevirt.io/allow-access-cluster-services"] == "true"
        owner = pod.metadata.owner_references[0]
        assert owner.kind == "ReplicaSet" and owner.controller
        assert pod.metadata.name.startswith(owner.name + "-")
        assert pod.spec.containers[0].image.endswith(f"/{name}:v1.9.0")
    apps = client.AppsV1Api(kv.api)
    rs = apps.read_namespaced_replica_set(pods[0].metadata.owner_references[0].name, NS)
    assert rs.metadata.owner_references[0].kind == "Deployment" and rs.metadata.owner_references[0].name == name
    dep = apps.read_namespaced_deployment(name, NS)
    assert dep.spec.replicas == replicas and dep.status.ready_replicas == replicas
    assert dep.spec.selector.match_labels == {"kubevirt.io": name}


def test_one_virt_handler_per_schedulable_node(kv: Any) -> None:
    nodes = [n.metadata.name for n in kv.core.list_node(label_selector="kubevirt.io/schedulable=true").items]
    handlers = _pods(kv, "kubevirt.io=virt-handler")
    assert sorted(p.spec.node_name for p in handlers) == sorted(nodes) and len(nodes) == 2
    assert all(_ready(p) for p in handlers)
    assert {p.metadata.owner_references[0].kind for p in handlers} == {"DaemonSet"}
    ds = client.AppsV1Api(kv.api).read_namespaced_daemon_set("virt-handler", NS)
    assert ds.status.number_ready == len(nodes) and ds.metadata.labels["kubevirt.io"] == "virt-handler"


def test_component_pdbs(kv: Any) -> None:
    pdbs = client.PolicyV1Api(kv.api).list_namespaced_pod_disruption_budget(NS).items
    assert {p.metadata.name: p.spec.min_available for p in pdbs} == {"virt-api-pdb": 1, "virt-controller-pdb": 1}


# ---------------------------------------------------------------- virt-api's memory checks


@pytest.mark.parametrize("memory,message", [
    ("-1Gi", "spec.template.spec.domain.resources.requests.memory '-1Gi': must be greater than or equal to 0."),
    ("100k", "spec.template.spec.domain.resources.requests.memory '100k': must be greater than or equal to 1M."),
])
def test_vm_webhook_rejects_bad_memory(kv: Any, ns: str, memory: str, message: str) -> None:
    with pytest.raises(client.ApiException) as exc:
        kv.create_vm(ns, "mem", memory=memory)
    body = json.loads(exc.value.body)
    assert exc.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"] == f'admission webhook "virtualmachine-validator.kubevirt.io" denied the request: {message}'
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "message": message,
                                          "field": "spec.template.spec.domain.resources.requests.memory"}]


@pytest.mark.parametrize("memory", ["abc", "12Zi"])
def test_vm_schema_rejects_memory_that_is_not_a_quantity(kv: Any, ns: str, memory: str) -> None:
    with pytest.raises(client.ApiException) as exc:
        kv.create_vm(ns, "mem", memory=memory)
    body = json.loads(exc.value.body)
    assert exc.value.status == 422
    assert f'Invalid value: "{memory}": spec.template.spec.domain.resources.requests.memory in body should match' \
        in body["message"]


def test_vmi_webhook_rejects_negative_memory(kv: Any, ns: str) -> None:
    body = kv.vmi_body("neg")
    body["spec"]["domain"]["resources"]["requests"]["memory"] = "-64M"
    with pytest.raises(client.ApiException) as exc:
        kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachineinstances", body)
    status = json.loads(exc.value.body)
    assert exc.value.status == 422
    assert status["message"] == ('admission webhook "virtualmachineinstances-create-validator.kubevirt.io" denied the '
                                 "request: spec.domain.resources.requests.memory '-64M': must be greater than or "
                                 "equal to 0.")


# ---------------------------------------------------------------- cloud-init userDataSecretRef


def _with_secret_ref(kv: Any, name: str, secret: str, source: str = "cloudInitNoCloud") -> Obj:
    body = kv.vm_body(name, "Always")
    vols = body["spec"]["template"]["spec"]["volumes"]
    # Go's UserDataSecretRef is ``secretRef`` in JSON (kubevirt.io/api core/v1 CloudInitNoCloudSource).
    vols[1] = {"name": "cloudinitdisk", source: {"secretRef": {"name": secret}}}
    return body


@pytest.mark.parametrize("source", ["cloudInitNoCloud", "cloudInitConfigDrive"])
def test_user_data_secret_ref_mounts_the_secret(kv: Any, ns: str, source: str) -> None:
    kv.core.create_namespaced_secret(ns, {"metadata": {"name": "ud"}, "stringData": {"userdata": "#cloud-config"}})
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines",
                                              _with_secret_ref(kv, "vm", "ud", source))
    kv.wait_vmi(ns, "vm", lambda o: (o or {}).get("status", {}).get("phase") == "Running")
    pod = kv.pods(ns, "kubevirt.io=virt-launcher")[0]
    assert {"name": "cloudinitdisk-udata", "secret": {"secretName": "ud"}} in pod["spec"]["volumes"]


def test_missing_user_data_secret_keeps_the_pod_creating_until_it_exists(kv: Any, ns: str) -> None:
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines",
                                              _with_secret_ref(kv, "vm", "later"))
    event = kv.wait_event(ns, "FailedMount")
    assert event["message"] == ('MountVolume.SetUp failed for volume "cloudinitdisk-udata" : secret "later" '
                                "not found")
    assert event["type"] == "Warning"
    vmi = kv.vmi(ns, "vm")
    assert vmi is not None and vmi["status"]["phase"] in ("Pending", "Scheduling")
    pod = kv.pods(ns, "kubevirt.io=virt-launcher")[0]
    assert pod["status"]["phase"] == "Pending"
    kv.core.create_namespaced_secret(ns, {"metadata": {"name": "later"}, "stringData": {"userdata": "#cloud-config"}})
    kv.wait_vmi(ns, "vm", lambda o: (o or {}).get("status", {}).get("phase") == "Running")


def test_user_data_secret_ref_spelled_like_the_go_field_is_pruned_with_a_warning(kv: Any, ns: str) -> None:
    body = kv.vm_body("vm")
    body["spec"]["template"]["spec"]["volumes"][1] = {"name": "cloudinitdisk",
                                                      "cloudInitNoCloud": {"userDataSecretRef": {"name": "x"}}}
    path = f"/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines"
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    kv.api.update_params_for_auth(headers, [], ["BearerToken"], path, "POST", None)
    resp = kv.api.rest_client.pool_manager.request("POST", kv.api.configuration.host + path, body=json.dumps(body),
                                                   headers=headers, timeout=10.0)
    assert resp.status == 201
    assert resp.headers.get("Warning") == ('299 - "unknown field \\"spec.template.spec.volumes[1].cloudInitNoCloud.'
                                           'userDataSecretRef\\""')
    data = json.loads(resp.data)
    assert data["spec"]["template"]["spec"]["volumes"][1] == {"name": "cloudinitdisk", "cloudInitNoCloud": {}}


def test_pdb_status_follows_the_pods(kv: Any, ns: str) -> None:
    """The disruption controller's status: expected, healthy, desired, allowed — and it follows the pods."""
    policy = client.PolicyV1Api(kv.api)
    policy.create_namespaced_pod_disruption_budget(ns, {"metadata": {"name": "guard"}, "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"kubevirt.io/domain": "testvm"}}}})
    kv.create_vm(ns, "vm", "Always")

    def status(pred: Any) -> Obj:
        return kv.wait_core(policy.list_namespaced_pod_disruption_budget, pred, ns)["status"]

    st = status(lambda o: (o.get("status") or {}).get("currentHealthy") == 1)
    assert (st["expectedPods"], st["desiredHealthy"], st["disruptionsAllowed"]) == (1, 1, 0)
    assert st["conditions"][0]["reason"] == "InsufficientPods"
    policy.patch_namespaced_pod_disruption_budget("guard", ns, {"spec": {"minAvailable": 0}})
    st = status(lambda o: (o.get("status") or {}).get("disruptionsAllowed") == 1)
    assert st["conditions"][0]["reason"] == "SufficientPods" and st["desiredHealthy"] == 0
    api = client.PolicyV1Api(kv.api).read_namespaced_pod_disruption_budget("virt-api-pdb", "kubevirt")
    assert (api.status.expected_pods, api.status.current_healthy, api.status.disruptions_allowed) == (2, 2, 1)
