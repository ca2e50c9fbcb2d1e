"""The Eviction subresource, PodDisruptionBudgets and KubeVirt's answer to evictions (evacuation), through
the official client against the emulated cluster.

Facts: kubernetes ``pkg/registry/core/pod/storage/eviction.go``; KubeVirt v1.9.0
``docs/handling-eviction-requests.md``, ``pod-eviction-admitter.go``, ``drain/evacuation/evacuation.go``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, watch

Obj = dict[str, Any]
WEBHOOK = 'admission webhook "virt-launcher-eviction-interceptor.kubevirt.io" denied the request: '


def cond(o: Obj | None, ctype: str) -> Obj | None:
    return next((c for c in ((o or {}).get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


def launcher(kv: Any, ns: str, vmi: Obj) -> Obj:
    pods = [p for p in kv.pods(ns, f"kubevirt.io/created-by={vmi['metadata']['uid']}")
            if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def evict(kv: Any, ns: str, pod: str, dry_run: bool = False) -> tuple[int, Obj]:
    body: Obj = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
    if dry_run:
        body["deleteOptions"] = {"dryRun": ["All"]}
    try:
        kv.core.create_namespaced_pod_eviction(pod, ns, body)
    except client.ApiException as exc:
        return exc.status, json.loads(exc.body)
    return 201, {}


def vm_with(kv: Any, ns: str, name: str, strategy: str | None, **kw: Any) -> Obj:
    extra = {"evictionStrategy": strategy} if strategy else {}
    body = kv.vm_body(name, "Always", **kw)
    body["spec"]["template"]["spec"].update(extra)
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", body)
    kv.wait_vm(ns, name, lambda o: o.get("status", {}).get("printableStatus") == "Running"
               and o["status"].get("ready") is True)
    vmi = kv.vmi(ns, name)
    assert vmi is not None
    return vmi


def test_eviction_api_is_advertised_for_kubectl_drain(kv: Any) -> None:
    status, text = kv.call("GET", "/api/v1")
    entry = next(r for r in json.loads(text)["resources"] if r["name"] == "pods/eviction")
    assert (entry["group"], entry["version"], entry["kind"], entry["verbs"]) == ("policy", "v1", "Eviction", ["create"])


def test_a_budget_refuses_with_429_and_its_message_then_an_allowing_budget_evicts(kv: Any, ns: str) -> None:
    vmi = vm_with(kv, ns, "plain", None)
    pod = launcher(kv, ns, vmi)["metadata"]["name"]
    policy = client.PolicyV1Api(kv.api)
    policy.create_namespaced_pod_disruption_budget(ns, {"metadata": {"name": "guard"}, "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"kubevirt.io/created-by": vmi["metadata"]["uid"]}}}})
    kv.wait_core(policy.list_namespaced_pod_disruption_budget,
                 lambda o: (o.get("status") or {}).get("currentHealthy") == 1, ns)
    code, body = evict(kv, ns, pod)
    assert code == 429 and body["reason"] == "TooManyRequests", body
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget",
                                          "message": "The disruption budget guard needs 1 healthy pods and has 1 "
                                                     "currently"}]
    assert not kv.core.read_namespaced_pod(pod, ns).metadata.deletion_timestamp
    policy.patch_namespaced_pod_disruption_budget("guard", ns, {"spec": {"minAvailable": 0}})
    kv.wait_core(policy.list_namespaced_pod_disruption_budget,
                 lambda o: (o.get("status") or {}).get("disruptionsAllowed") == 1, ns)
    assert evict(kv, ns, pod, dry_run=True)[0] == 201
    assert not kv.core.read_namespaced_pod(pod, ns).metadata.deletion_timestamp  # dry run: nothing happened
    rv = kv.core.list_namespaced_pod(ns).metadata.resource_version
    assert evict(kv, ns, pod)[0] == 201
    evicted = None
    for ev in watch.Watch().stream(kv.core.list_namespaced_pod, ns, field_selector=f"metadata.name={pod}",
                                   resource_version=rv, timeout_seconds=10):
        obj = kv.api.sanitize_for_serialization(ev["object"])
        if obj["metadata"].get("deletionTimestamp"):
            evicted = obj
            break
    assert evicted is not None, "the evicted pod was never marked for deletion"
    cond = next(c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "EvictionByEvictionAPI",
                                                                 "Eviction API: evicting")
    # evictionStrategy None: KubeVirt lets it go; runStrategy Always starts a new VMI
    new = kv.wait_vmi(ns, "plain", lambda o: o is not None and o["metadata"]["uid"] != vmi["metadata"]["uid"]
                      and o.get("status", {}).get("phase") == "Running")
    assert new is not None


def test_live_migrate_eviction_is_refused_and_the_vmi_evacuated(kv: Any, ns: str) -> None:
    vmi = vm_with(kv, ns, "lm", "LiveMigrate")
    source = vmi["status"]["nodeName"]
    pod = launcher(kv, ns, vmi)["metadata"]["name"]
    code, body = evict(kv, ns, pod, dry_run=True)
    assert code == 429 and not (kv.vmi(ns, "lm") or {})["status"].get("evacuationNodeName")
    code, body = evict(kv, ns, pod)
    assert code == 429 and "reason" not in body, body
    assert body["message"] == WEBHOOK + f'Eviction triggered evacuation of VMI "{ns}/lm"'
    marked = kv.vmi(ns, "lm")
    assert marked is not None and marked["status"]["evacuationNodeName"] == source
    # the VMI controller shows it: condition EvictionRequested, the source pod annotated (tests/migration/evacuation.go)
    requested = kv.wait_vmi(ns, "lm", lambda o: (cond(o, "EvictionRequested") or {}).get("status") == "True")
    assert (cond(requested, "EvictionRequested") or {}).get("message") == "VMI is marked for eviction"
    code, body = evict(kv, ns, pod)  # again, as kubectl drain retries
    assert code == 429 and body["message"] == WEBHOOK + f'Evacuation in progress: Eviction triggered evacuation ' \
                                                        f'of VMI "{ns}/lm"'
    migs = kv.vmims(ns)
    assert len(migs) == 1 and migs[0]["metadata"]["name"].startswith("kubevirt-evacuation-")
    assert migs[0]["metadata"]["annotations"]["kubevirt.io/evacuationMigration"] == source
    kv.wait_vmim(ns, migs[0]["metadata"]["name"], lambda o: (o or {}).get("status", {}).get("phase") == "Succeeded")
    after = kv.vmi(ns, "lm")
    assert after is not None and after["metadata"]["uid"] == vmi["metadata"]["uid"]
    assert after["status"]["nodeName"] != source and not after["status"].get("evacuationNodeName")
    assert kv.wait_vmi(ns, "lm", lambda o: cond(o, "EvictionRequested") is None) is not None
    source_pod = kv.api.sanitize_for_serialization(kv.core.read_namespaced_pod(pod, ns))
    assert source_pod["metadata"]["annotations"].get("descheduler.alpha.kubernetes.io/eviction-in-progress") == "true"
    target = [p for p in kv.pods(ns, f"kubevirt.io/created-by={vmi['metadata']['uid']}")
              if p["spec"].get("nodeName") == after["status"]["nodeName"]]
    assert len(target) == 1 and "descheduler.alpha.kubernetes.io/eviction-in-progress" not in \
        (target[0]["metadata"].get("annotations") or {})
    created = [e["message"] for e in kv.events(ns, "lm") if e["reason"] == "SuccessfulCreate"
               and e["source"]["component"] == "evacuation-controller"]
    assert created == [f"Created Migration {migs[0]['metadata']['name']}"]


def test_not_migratable_vmis_by_strategy(kv: Any, ns: str) -> None:
    kv.create_pvc(ns, "disk", "ReadWriteOnce", "local-rwo")
    vmi = vm_with(kv, ns, "rwo", "LiveMigrate", pvc="disk")
    pod = launcher(kv, ns, vmi)["metadata"]["name"]
    code, body = evict(kv, ns, pod)
    assert code == 429 and body["message"] == WEBHOOK + "VMI rwo is configured with an eviction strategy but is " \
                                                        "not live-migratable"
    assert not (kv.vmi(ns, "rwo") or {})["status"].get("evacuationNodeName") and not kv.vmims(ns)
    # LiveMigrateIfPossible: not migratable, so it is evicted like None
    kv.create_pvc(ns, "disk2", "ReadWriteOnce", "local-rwo")
    vmi = vm_with(kv, ns, "rwo2", "LiveMigrateIfPossible", pvc="disk2")
    assert evict(kv, ns, launcher(kv, ns, vmi)["metadata"]["name"])[0] == 201
    new = kv.wait_vmi(ns, "rwo2", lambda o: o is not None and o["metadata"]["uid"] != vmi["metadata"]["uid"]
                      and o.get("status", {}).get("phase") == "Running")
    assert new is not None and not kv.vmims(ns)


def test_the_cluster_wide_strategy_of_the_kubevirt_cr_applies_to_vmis_without_one(kv: Any, ns: str) -> None:
    cr = kv.custom.list_namespaced_custom_object("kubevirt.io", "v1", "kubevirt", "kubevirts")["items"][0]
    name = cr["metadata"]["name"]
    vmi = vm_with(kv, ns, "cw", None)
    pod = launcher(kv, ns, vmi)["metadata"]["name"]
    kv.custom.patch_namespaced_custom_object("kubevirt.io", "v1", "kubevirt", "kubevirts", name,
                                             {"spec": {"configuration": {"evictionStrategy": "LiveMigrate"}}})
    try:
        code, body = evict(kv, ns, pod)
        assert code == 429 and body["message"] == WEBHOOK + f'Eviction triggered evacuation of VMI "{ns}/cw"'
    finally:
        kv.custom.patch_namespaced_custom_object("kubevirt.io", "v1", "kubevirt", "kubevirts", name,
                                                 {"spec": {"configuration": {"evictionStrategy": None}}})


def test_legacy_pdbs_owned_by_a_vmi_are_deleted(kv: Any, ns: str) -> None:
    vmi = vm_with(kv, ns, "old", "LiveMigrate")
    policy = client.PolicyV1Api(kv.api)
    policy.create_namespaced_pod_disruption_budget(ns, {"metadata": {"name": "kubevirt-disruption-budget-x",
        "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": "old",
                             "uid": vmi["metadata"]["uid"], "controller": True}]},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"kubevirt.io/created-by": vmi["metadata"]["uid"]}}}})
    kv.wait_gone(policy.list_namespaced_pod_disruption_budget, "kubevirt-disruption-budget-x", ns)
    assert kv.wait_event(ns, "SuccessfulDelete", "old")["message"] == \
        "Deleted PodDisruptionBudget kubevirt-disruption-budget-x"


@pytest.mark.parametrize("fault", ["", "drain-ignores-limits"])
def test_a_drain_taint_evacuates_every_vmi_within_the_per_node_limit(kv_factory: Any, fault: str) -> None:
    """Three VMs on one node (the other one cordoned while they start: the scheduler honours it), then the
    node is tainted kubevirt.io/drain: all three migrate, at most parallelOutboundMigrationsPerNode (2) at once."""
    from vmconform.emulator import Options

    with kv_factory(Options(nodes=2, seed=3, faults=(fault,) if fault else (),
                            extra={"steps": {"migration.transfer": 0.6}})) as kv:
        ns = "drain"
        kv.core.create_namespace({"metadata": {"name": ns}})
        nodes = sorted(n.metadata.name for n in kv.core.list_node().items
                       if (n.metadata.labels or {}).get("kubevirt.io/schedulable") == "true")
        keep, other = nodes[0], nodes[1]
        kv.core.patch_node(other, {"spec": {"unschedulable": True}})
        vmis = [vm_with(kv, ns, f"d{i}", "LiveMigrate") for i in range(3)]
        assert {v["status"]["nodeName"] for v in vmis} == {keep}
        kv.core.patch_node(other, {"spec": {"unschedulable": False}})
        rv = kv.rv("virtualmachineinstancemigrations", ns)
        kv.core.patch_node(keep, {"spec": {"unschedulable": True, "taints": [
            {"key": "kubevirt.io/drain", "effect": "NoSchedule"}]}})
        from kubernetes import watch

        phases: dict[str, str] = {}
        most = 0
        active = {"Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running"}
        for ev in watch.Watch().stream(kv.custom.list_namespaced_custom_object, "kubevirt.io", "v1", ns,
                                       "virtualmachineinstancemigrations", resource_version=rv, timeout_seconds=30):
            o = ev["object"]
            phases[o["metadata"]["name"]] = (o.get("status") or {}).get("phase") or ""
            most = max(most, sum(1 for p in phases.values() if p in active))
            if len(phases) == 3 and all(p == "Succeeded" for p in phases.values()):
                break
        assert len(phases) == 3 and all(p == "Succeeded" for p in phases.values()), phases
        assert most == (3 if fault else 2), f"at most {most} migrations ran at once"
        assert {(kv.vmi(ns, f"d{i}") or {})["status"]["nodeName"] for i in range(3)} == {other}


@pytest.mark.parametrize("fault", ["eviction-kills-vm", "evacuation-ignored"])
def test_eviction_faults(kv_factory: Any, fault: str) -> None:
    from vmconform.emulator import Options

    with kv_factory(Options(nodes=2, seed=5, faults=(fault,))) as kv:
        ns = "faulty"
        kv.core.create_namespace({"metadata": {"name": ns}})
        vmi = vm_with(kv, ns, "lm", "LiveMigrate")
        code, body = evict(kv, ns, launcher(kv, ns, vmi)["metadata"]["name"])
        if fault == "eviction-kills-vm":
            assert code == 201
            new = kv.wait_vmi(ns, "lm", lambda o: o is not None and o["metadata"]["uid"] != vmi["metadata"]["uid"])
            assert new is not None and not kv.vmims(ns)
        else:
            assert code == 429 and (kv.vmi(ns, "lm") or {})["status"]["evacuationNodeName"]
            from kubernetes import watch

            seen = [ev["object"]["metadata"]["name"] for ev in watch.Watch().stream(
                kv.custom.list_namespaced_custom_object, "kubevirt.io", "v1", ns,
                "virtualmachineinstancemigrations", timeout_seconds=2)]
            assert seen == [], seen  # a healthy cluster creates the evacuation migration at once


@pytest.mark.parametrize("how", ["cordon", "taint", "tolerated-taint"])
def test_the_scheduler_honours_cordon_and_taints(kv_factory: Any, how: str) -> None:
    """node01 is the scheduler's first choice on an empty cluster (equal free memory, then by name)."""
    from vmconform.emulator import Options

    with kv_factory(Options(nodes=2, seed=2)) as kv:
        ns = "sched"
        kv.core.create_namespace({"metadata": {"name": ns}})
        patch: Obj = {"spec": {"unschedulable": True}} if how == "cordon" else \
            {"spec": {"taints": [{"key": "maintenance", "value": "yes", "effect": "NoSchedule"}]}}
        kv.core.patch_node("node01", patch)
        body = kv.vm_body("vm", "Always")
        if how == "tolerated-taint":
            body["spec"]["template"]["spec"]["tolerations"] = [{"key": "maintenance", "operator": "Exists"}]
        kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", body)
        vmi = kv.wait_vmi(ns, "vm", lambda o: (o or {}).get("status", {}).get("phase") == "Running")
        assert vmi is not None
        assert vmi["status"]["nodeName"] == ("node01" if how == "tolerated-taint" else "node02")
