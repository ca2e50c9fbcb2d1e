"""Instance types and preferences on the emulated cluster (instancetype.kubevirt.io/v1beta1): the common
cluster kinds at start, ControllerRevisions owned by the VM, expansion into the VMI, conflicts."""

from __future__ import annotations

from typing import Any

from kubernetes import client

GROUP, V = "instancetype.kubevirt.io", "v1beta1"


def _vm(kv: Any, name: str, instancetype: str = "u1.medium", preference: str | None = "fedora",
        memory: bool = False) -> dict[str, Any]:
    body = kv.vm_body(name, "Always")
    if not memory:
        del body["spec"]["template"]["spec"]["domain"]["resources"]
    del body["spec"]["template"]["spec"]["domain"]["devices"]["disks"][0]["disk"]["bus"]
    body["spec"]["instancetype"] = {"kind": "VirtualMachineClusterInstancetype", "name": instancetype}
    if preference:
        body["spec"]["preference"] = {"kind": "VirtualMachineClusterPreference", "name": preference}
    return body


def test_common_cluster_instancetypes_and_preferences(kv: Any) -> None:
    types = {i["metadata"]["name"]: i for i in
             kv.custom.list_cluster_custom_object(GROUP, V, "virtualmachineclusterinstancetypes")["items"]}
    assert types["u1.small"]["spec"] == {"cpu": {"guest": 1}, "memory": {"guest": "2Gi"}}
    assert types["u1.2xlarge"]["spec"]["cpu"]["guest"] == 8 and "o1.medium" in types
    prefs = {p["metadata"]["name"] for p in
             kv.custom.list_cluster_custom_object(GROUP, V, "virtualmachineclusterpreferences")["items"]}
    assert {"fedora", "centos.stream9", "alpine"} <= prefs


def test_vm_expands_its_instancetype_into_the_vmi(kv: Any, ns: str) -> None:
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", _vm(kv, "sized"))
    vm = kv.wait_vm(ns, "sized", lambda o: o.get("status", {}).get("printableStatus") == "Running")
    it_ref, pref_ref = vm["status"]["instancetypeRef"], vm["status"]["preferenceRef"]
    assert it_ref["name"] == "u1.medium" and it_ref["kind"] == "VirtualMachineClusterInstancetype"
    revisions = {r.metadata.name: r for r in client.AppsV1Api(kv.api).list_namespaced_controller_revision(ns).items}
    rev = revisions[it_ref["controllerRevisionRef"]["name"]]
    assert rev.metadata.owner_references[0].uid == vm["metadata"]["uid"]
    assert rev.metadata.labels["instancetype.kubevirt.io/object-name"] == "u1.medium"
    assert rev.data["spec"]["memory"]["guest"] == "4Gi"
    assert pref_ref["controllerRevisionRef"]["name"] in revisions
    vmi = kv.vmi(ns, "sized")
    assert vmi is not None
    assert vmi["spec"]["domain"]["memory"]["guest"] == "4Gi"
    assert vmi["spec"]["domain"]["cpu"] == {"sockets": 1, "cores": 1, "threads": 1}
    assert vmi["metadata"]["annotations"]["kubevirt.io/cluster-instancetype-name"] == "u1.medium"
    assert vmi["metadata"]["annotations"]["kubevirt.io/cluster-preference-name"] == "fedora"
    assert vmi["spec"]["domain"]["devices"]["disks"][0]["disk"]["bus"] == "virtio"  # the preferred bus


def test_two_vcpus_become_two_sockets(kv: Any, ns: str) -> None:
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines",
                                              _vm(kv, "big", "u1.large", None))
    kv.wait_vm(ns, "big", lambda o: o.get("status", {}).get("printableStatus") == "Running")
    vmi = kv.vmi(ns, "big")
    assert vmi is not None and vmi["spec"]["domain"]["cpu"]["sockets"] == 2
    assert vmi["spec"]["domain"]["memory"]["guest"] == "8Gi"


def test_missing_instancetype_or_conflict_fails_the_vm(kv: Any, ns: str) -> None:
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines",
                                              _vm(kv, "nosuch", "u9.tiny", None))
    vm = kv.wait_vm(ns, "nosuch", lambda o: any(c["type"] == "Failure" for c in o.get("status", {}).get("conditions", [])))
    failure = next(c for c in vm["status"]["conditions"] if c["type"] == "Failure")
    assert 'virtualmachineclusterinstancetypes.instancetype.kubevirt.io "u9.tiny" not found' in failure["message"]
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines",
                                              _vm(kv, "both", memory=True))
    vm = kv.wait_vm(ns, "both", lambda o: any(c["type"] == "Failure" for c in o.get("status", {}).get("conditions", [])))
    failure = next(c for c in vm["status"]["conditions"] if c["type"] == "Failure")
    assert "spec.template.spec.domain.resources.requests.memory conflicts with selected instance type" \
        in failure["message"]
    assert kv.vmi(ns, "both") is None and kv.vmi(ns, "nosuch") is None
