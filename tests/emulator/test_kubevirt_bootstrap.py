"""The cluster after install: nodes, storage classes and provisioning, the KubeVirt CR, discovery."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

Obj = dict[str, Any]
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def _nodes(kv: Any) -> dict[str, Obj]:
    return {n["metadata"]["name"]: n for n in
            (kv.api.sanitize_for_serialization(x) for x in kv.core.list_node().items)}


def test_control_plane_and_two_schedulable_workers(kv: Any) -> None:
    nodes = _nodes(kv)
    assert sorted(nodes) == ["control-plane", "node01", "node02"]
    cp = nodes["control-plane"]
    assert "kubevirt.io/schedulable" not in cp["metadata"]["labels"]
    assert "node-role.kubernetes.io/control-plane" in cp["metadata"]["labels"]
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in cp["spec"]["taints"]
    for name in ("node01", "node02"):
        node = nodes[name]
        labels = node["metadata"]["labels"]
        assert labels["kubevirt.io/schedulable"] == "true"
        assert labels["kubernetes.io/hostname"] == name
        assert node["status"]["allocatable"]["cpu"] and node["status"]["allocatable"]["memory"]
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"
        assert any(a["type"] == "InternalIP" and a["address"] for a in node["status"]["addresses"])
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.4"


def test_storage_classes(kv: Any) -> None:
    classes = {s.metadata.name: s for s in kv.storage.list_storage_class().items}
    assert set(classes) >= {"shared-rwx", "local-rwo"}
    default = "storageclass.kubernetes.io/is-default-class"
    assert classes["shared-rwx"].metadata.annotations[default] == "true"
    assert (classes["local-rwo"].metadata.annotations or {}).get(default) != "true"


def test_kubevirt_cr_is_deployed(kv: Any) -> None:
    items = kv.custom.list_cluster_custom_object("kubevirt.io", "v1", "kubevirts")["items"]
    assert len(items) == 1
    cr = items[0]
    kv.validate(cr)
    assert (cr["metadata"]["namespace"], cr["metadata"]["name"]) == ("kubevirt", "kubevirt")
    st = cr["status"]
    assert st["phase"] == "Deployed"
    conds = {c["type"]: c for c in st["conditions"]}
    assert (conds["Available"]["status"], conds["Available"]["reason"]) == ("True", "AllComponentsReady")
    assert conds["Available"]["message"] == "All components are ready."
    assert conds["Progressing"]["status"] == "False" and conds["Degraded"]["status"] == "False"
    assert (conds["Created"]["status"], conds["Created"]["reason"], conds["Created"]["message"]) == (
        "True", "AllResourcesCreated", "All resources were created.")
    assert st["observedKubeVirtVersion"].startswith("v1.")
    assert st["observedGeneration"] == cr["metadata"]["generation"]
    mig = cr["spec"]["configuration"]["migrations"]
    assert mig["parallelMigrationsPerCluster"] == 5
    assert mig["parallelOutboundMigrationsPerNode"] == 2
    assert mig["bandwidthPerMigration"] == "0Mi"
    assert mig["completionTimeoutPerGiB"] == 150 and mig["progressTimeout"] == 150


def test_kubevirt_cr_observes_new_generations(kv: Any) -> None:
    patched = kv.custom.patch_namespaced_custom_object(
        "kubevirt.io", "v1", "kubevirt", "kubevirts", "kubevirt",
        {"spec": {"configuration": {"developerConfiguration": {"useEmulation": True}}}})
    gen = patched["metadata"]["generation"]
    rv = patched["metadata"]["resourceVersion"]
    seen = kv.observe("kubevirts", "kubevirt", "kubevirt", str(int(rv) - 1),
                      lambda o: (o or {}).get("status", {}).get("observedGeneration"),
                      lambda o: (o or {}).get("status", {}).get("observedGeneration") == gen)
    assert seen[-1] == gen
    assert kv.get("kubevirts", "kubevirt", "kubevirt")["status"]["phase"] == "Deployed"


def test_subresources_group_in_discovery(kv: Any) -> None:
    status, text = kv.call("GET", "/apis")
    groups = {g["name"]: g for g in json.loads(text)["groups"]}
    assert status == 200
    assert [v["version"] for v in groups["subresources.kubevirt.io"]["versions"]] == ["v1", "v1alpha3"]
    status, text = kv.call("GET", "/apis/subresources.kubevirt.io/v1")
    names = {r["name"] for r in json.loads(text)["resources"]}
    assert status == 200 and {"virtualmachines/start", "virtualmachines/migrate",
                              "virtualmachineinstances/pause", "virtualmachineinstances/console"} <= names
    headers = {"Accept": AGGREGATED}
    kv.api.update_params_for_auth(headers, [], ["BearerToken"], "/apis", "GET", None)
    resp = kv.api.rest_client.pool_manager.request("GET", kv.api.configuration.host + "/apis", headers=headers)
    agg = json.loads(resp.data)
    assert "subresources.kubevirt.io" in [i["metadata"]["name"] for i in agg["items"]]
    for version in ("v1", "v1alpha3"):
        status, text = kv.call("GET", f"/apis/subresources.kubevirt.io/{version}/version")
        assert status == 200 and json.loads(text)["gitVersion"].startswith("v1.")
        status, _ = kv.call("GET", f"/apis/subresources.kubevirt.io/{version}/healthz")
        assert status == 200


def test_rwx_claim_on_default_class_binds_like_a_provisioner(kv: Any, ns: str) -> None:
    pvc = kv.create_pvc(ns, "shared", "ReadWriteMany")
    assert pvc["spec"]["storageClassName"] == "shared-rwx"
    bound = kv.wait_core(kv.core.list_namespaced_persistent_volume_claim,
                         lambda o: o["metadata"]["name"] == "shared" and o["status"].get("phase") == "Bound", ns)
    pv_name = f"pvc-{pvc['metadata']['uid']}"
    assert bound["spec"]["volumeName"] == pv_name
    assert bound["status"]["accessModes"] == ["ReadWriteMany"]
    assert bound["status"]["capacity"]["storage"] == "1Gi"
    pv = kv.api.sanitize_for_serialization(kv.core.read_persistent_volume(pv_name))
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["name"] == "shared" and pv["spec"]["claimRef"]["namespace"] == ns
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    assert pv["spec"]["capacity"]["storage"] == "1Gi"
    assert pv["spec"]["storageClassName"] == "shared-rwx"
    kv.wait_event(ns, "ProvisioningSucceeded", "shared")
    kv.core.delete_namespaced_persistent_volume_claim("shared", ns)
    kv.wait_gone(kv.core.list_persistent_volume, pv_name)


def test_rwo_claim_on_local_class_binds(kv: Any, ns: str) -> None:
    kv.create_pvc(ns, "local", "ReadWriteOnce", "local-rwo")
    bound = kv.wait_core(kv.core.list_namespaced_persistent_volume_claim,
                         lambda o: o["status"].get("phase") == "Bound", ns)
    assert bound["status"]["accessModes"] == ["ReadWriteOnce"]


def test_rwx_claim_on_rwo_only_class_stays_pending_with_a_warning(kv: Any, ns: str) -> None:
    kv.create_pvc(ns, "wants-rwx", "ReadWriteMany", "local-rwo")
    event = kv.wait_event(ns, "ProvisioningFailed", "wants-rwx")
    assert event["type"] == "Warning"
    assert "ReadWriteMany" in event["message"] and "local-rwo" in event["message"]
    pvc = kv.core.read_namespaced_persistent_volume_claim("wants-rwx", ns)
    assert pvc.status.phase == "Pending" and not pvc.spec.volume_name


def test_unknown_subresource_paths_are_404(kv: Any, ns: str) -> None:
    status, _ = kv.sub(ns, "vm", "x", "frobnicate")
    assert status == 404
    status, _ = kv.call("GET", "/apis/subresources.kubevirt.io/v2/version")
    assert status == 404
    status, _ = kv.sub(ns, "vm", "x", "start", method="GET")
    assert status == 405


def test_client_errors_are_statuses(kv: Any, ns: str) -> None:
    try:
        kv.custom.get_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", "absent")
    except client.ApiException as exc:
        assert exc.status == 404
    else:
        raise AssertionError("expected 404")
