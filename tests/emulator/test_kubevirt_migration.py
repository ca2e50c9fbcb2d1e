"""Live migration (§3.4, §3.5, §4): migratability, VMIM admission, phases, nodes, pods, limits, cancel."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from kubernetes import client

Obj = dict[str, Any]
VMS, VMIS, VMIMS = "virtualmachines", "virtualmachineinstances", "virtualmachineinstancemigrations"
PHASES = ["Pending", "Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running", "Succeeded"]
WEBHOOK = 'admission webhook "migration-create-validator.kubevirt.io" denied the request: '


def ps(o: Obj | None) -> str | None:
    return (o or {}).get("status", {}).get("printableStatus")


def cond(o: Obj | None, ctype: str) -> Obj | None:
    return next((c for c in (o or {}).get("status", {}).get("conditions", []) or [] if c["type"] == ctype), None)


def mig_phase(o: Obj | None) -> str | None:
    return None if o is None else o.get("status", {}).get("phase", "")


def vmim(name: str, vmi: str, **spec: Any) -> Obj:
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": name}, "spec": {"vmiName": vmi, **spec}}


def create_vmim(kv: Any, ns: str, name: str, vmi: str, **spec: Any) -> Obj:
    return kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMIMS, vmim(name, vmi, **spec))


def rejected(kv: Any, ns: str, body: Obj) -> tuple[int, str]:
    try:
        kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMIMS, body)
    except client.ApiException as exc:
        return exc.status, json.loads(exc.body)["message"]
    raise AssertionError("the migration was accepted")


def test_live_migration_end_to_end(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "a")
    source = vmi["status"]["nodeName"]
    source_pod = kv.pods(ns, f"kubevirt.io/created-by={vmi['metadata']['uid']}")[0]
    vm_mark = kv.mark(VMS, ns, "a")
    mig = create_vmim(kv, ns, "mig", "a")
    assert mig["metadata"]["labels"]["kubevirt.io/vmi-name"] == "a"
    assert "kubevirt.io/migrationJobFinalize" in mig["metadata"]["finalizers"]
    phases = kv.observe(VMIMS, ns, "mig", mig["metadata"]["resourceVersion"], mig_phase,
                        lambda o: mig_phase(o) in ("Succeeded", "Failed"))
    assert phases == [""] + PHASES or phases == PHASES
    seq = kv.vm_statuses(ns, "a", vm_mark, kv.back_to("Running", ready=True))
    assert seq == ["Running", "Migrating", "Running"]

    done = kv.get(VMIMS, ns, "mig")
    assert [t["phase"] for t in done["status"]["phaseTransitionTimestamps"]] == PHASES
    after = kv.vmi(ns, "a")
    target = after["status"]["nodeName"]
    assert target != source and after["metadata"]["labels"]["kubevirt.io/nodeName"] == target
    assert "kubevirt.io/migrationTargetNodeName" not in after["metadata"]["labels"]
    assert after["metadata"]["uid"] == vmi["metadata"]["uid"] and after["status"]["phase"] == "Running"
    state = after["status"]["migrationState"]
    assert state["migrationUid"] == done["metadata"]["uid"]
    assert (state["sourceNode"], state["targetNode"]) == (source, target)
    assert state["completed"] is True and not state.get("failed")
    for key in ("startTimestamp", "endTimestamp", "targetNodeDomainReadyTimestamp", "targetNodeAddress",
                "targetPod", "sourcePod"):
        assert state[key], key
    assert done["status"]["migrationState"]["migrationUid"] == done["metadata"]["uid"]

    target_pods = kv.pods(ns, f"kubevirt.io/migrationJobUID={done['metadata']['uid']}")
    assert len(target_pods) == 1
    tpod = target_pods[0]
    assert tpod["spec"]["nodeName"] == target and tpod["status"]["phase"] == "Running"
    assert tpod["metadata"]["labels"]["kubevirt.io/created-by"] == vmi["metadata"]["uid"]
    assert after["status"]["interfaces"][0]["ipAddress"] == tpod["status"]["podIP"]
    old = kv.core.read_namespaced_pod(source_pod["metadata"]["name"], ns)
    assert old.status.phase == "Succeeded"
    assert after["status"]["activePods"] == {source_pod["metadata"]["uid"]: source, tpod["metadata"]["uid"]: target}
    reasons = {(e["involvedObject"]["kind"], e["reason"]) for e in kv.events(ns)}
    assert {("VirtualMachineInstance", "Migrating"), ("VirtualMachineInstance", "Migrated"),
            ("VirtualMachineInstanceMigration", "SuccessfulMigration")} <= reasons

    # and back again: a second migration of the same VMI works
    create_vmim(kv, ns, "mig2", "a")
    kv.wait_vmim(ns, "mig2", lambda o: mig_phase(o) == "Succeeded")
    assert kv.vmi(ns, "a")["status"]["nodeName"] == source


def test_migrate_subresource_creates_a_vmim(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    selector = {"kubernetes.io/hostname": "node01"}
    assert kv.sub(ns, "vm", "a", "migrate", {"addedNodeSelector": selector}) == (202, "")
    migs = kv.vmims(ns)
    assert len(migs) == 1
    assert migs[0]["metadata"]["name"].startswith("kubevirt-migrate-vm-")
    assert migs[0]["spec"] == {"vmiName": "a", "addedNodeSelector": {"kubernetes.io/hostname": "node01"}}


def test_a_paused_vmi_migrates_and_stays_paused(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "p")
    kv.ok(ns, "vmi", "p", "pause")
    kv.wait_vm(ns, "p", lambda o: ps(o) == "Paused")
    mark = kv.mark(VMS, ns, "p")
    create_vmim(kv, ns, "m", "p")
    kv.wait_vmim(ns, "m", lambda o: mig_phase(o) == "Succeeded")
    seq = kv.vm_statuses(ns, "p", mark, kv.back_to("Paused"))
    assert seq == ["Paused", "Migrating", "Paused"]
    after = kv.vmi(ns, "p")
    assert after["status"]["nodeName"] != vmi["status"]["nodeName"]
    assert cond(after, "Paused")["status"] == "True"
    kv.ok(ns, "vmi", "p", "unpause")
    kv.wait_vm(ns, "p", lambda o: ps(o) == "Running")


def test_cancel_a_running_migration(slow_kv: Any, slow_ns: str) -> None:
    kv, ns = slow_kv, slow_ns
    vmi = kv.running(ns, "a")
    source = vmi["status"]["nodeName"]
    mig = create_vmim(kv, ns, "m", "a")
    kv.wait_vmim(ns, "m", lambda o: mig_phase(o) == "Running")
    assert ps(kv.vm(ns, "a")) == "Migrating"
    assert kv.vmi(ns, "a")["metadata"]["labels"]["kubevirt.io/migrationTargetNodeName"] != source
    mark = kv.mark(VMIMS, ns, "m")
    kv.custom.delete_namespaced_custom_object("kubevirt.io", "v1", ns, VMIMS, "m")
    phases = kv.observe(VMIMS, ns, "m", mark, mig_phase, lambda o: o is None)
    assert phases == ["Running", "Failed", None]
    after = kv.vmi(ns, "a")
    state = after["status"]["migrationState"]
    assert state["abortStatus"] == "Succeeded" and state["completed"] is True and state["failed"] is True
    assert after["status"]["nodeName"] == source and after["status"]["phase"] == "Running"
    assert "kubevirt.io/migrationTargetNodeName" not in after["metadata"]["labels"]
    target = kv.pods(ns, f"kubevirt.io/migrationJobUID={mig['metadata']['uid']}")
    assert all(p["status"]["phase"] in ("Succeeded", "Failed") for p in target)
    kv.wait_vm(ns, "a", lambda o: ps(o) == "Running")


def test_in_flight_migration_is_rejected(slow_kv: Any, slow_ns: str) -> None:
    kv, ns = slow_kv, slow_ns
    kv.running(ns, "a")
    first = create_vmim(kv, ns, "first", "a")
    msg = (f"in-flight migration detected. Active migration job ({first['metadata']['uid']}) is currently already "
           f"in progress for VMI a.")
    assert rejected(kv, ns, vmim("second", "a")) == (400, WEBHOOK + msg)
    status, text = kv.sub(ns, "vm", "a", "migrate")
    assert status == 500 and json.loads(text)["message"] == "Internal error occurred: " + WEBHOOK + msg
    kv.wait_vmim(ns, "first", lambda o: mig_phase(o) == "Succeeded")
    create_vmim(kv, ns, "third", "a")  # accepted again once the first one is final


def test_vmim_admission_rejections(kv: Any, ns: str) -> None:
    assert rejected(kv, ns, vmim("x", "ghost")) == (400, WEBHOOK + f'the VMI "{ns}/ghost" does not exist')
    status, message = rejected(kv, ns, vmim("x", ""))
    assert status == 422 and message == WEBHOOK + "vmiName is missing"
    kv.create_vm(ns, "m", "Manual")
    kv.ok(ns, "vm", "m", "start")
    kv.wait_vmi(ns, "m", lambda o: (o or {}).get("status", {}).get("phase") == "Running")
    kv.guest_power(ns, "m", "poweroff")
    kv.wait_vmi(ns, "m", lambda o: (o or {}).get("status", {}).get("phase") == "Succeeded")
    assert rejected(kv, ns, vmim("x", "m")) == (400, WEBHOOK + "Cannot migrate VMI in finalized state.")


def test_vmim_for_a_vmi_that_is_not_running_yet_waits_pending(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "u", "Always", node_selector={"kubernetes.io/hostname": "nowhere"})
    kv.wait_vm(ns, "u", lambda o: ps(o) == "ErrorUnschedulable")
    create_vmim(kv, ns, "wait", "u")
    got = kv.wait_vmim(ns, "wait", lambda o: mig_phase(o) == "Pending")
    assert kv.pods(ns, f"kubevirt.io/migrationJobUID={got['metadata']['uid']}") == []


# ---------------------------------------------------------------- §3.4 migratability


def test_masquerade_container_disk_is_migratable_by_block_migration(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "m")
    live = cond(vmi, "LiveMigratable")
    assert live == {"type": "LiveMigratable", "status": "True"}
    assert vmi["status"]["migrationMethod"] == "BlockMigration"


def test_default_bridge_interface_is_not_migratable(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "b", interface=None)
    assert vmi["spec"]["domain"]["devices"]["interfaces"] == [{"name": "default", "bridge": {}}]
    assert vmi["spec"]["networks"] == [{"name": "default", "pod": {}}]
    live = cond(vmi, "LiveMigratable")
    assert (live["status"], live["reason"], live["message"]) == (
        "False", "InterfaceNotLiveMigratable",
        "cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network")
    assert rejected(kv, ns, vmim("x", "b")) == (
        400, WEBHOOK + "Cannot migrate VMI, Reason: InterfaceNotLiveMigratable, Message: " + live["message"])


def test_explicit_bridge_interface_is_not_migratable(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "b", interface="bridge")
    assert cond(vmi, "LiveMigratable")["reason"] == "InterfaceNotLiveMigratable"


def test_rwo_pvc_is_not_migratable(kv: Any, ns: str) -> None:
    kv.create_pvc(ns, "disk", "ReadWriteOnce", "local-rwo")
    vmi = kv.running(ns, "r", pvc="disk")
    live = cond(vmi, "LiveMigratable")
    message = ("cannot migrate VMI: PVC disk is not shared, live migration requires that all PVCs must be shared "
               "(using ReadWriteMany access mode)")
    assert (live["status"], live["reason"], live["message"]) == ("False", "DisksNotLiveMigratable", message)
    status, text = rejected(kv, ns, vmim("x", "r"))
    assert status == 400 and "DisksNotLiveMigratable" in text and text.endswith(message)
    status, text = kv.sub(ns, "vm", "r", "migrate")
    assert status == 500 and "DisksNotLiveMigratable" in json.loads(text)["message"]


def test_rwx_pvc_is_migratable(kv: Any, ns: str) -> None:
    kv.create_pvc(ns, "disk", "ReadWriteMany")
    body = kv.vm_body("x", "Always", pvc="disk")
    tspec = body["spec"]["template"]["spec"]
    tspec["domain"]["devices"]["disks"] = [d for d in tspec["domain"]["devices"]["disks"] if d["name"] == "data"]
    tspec["volumes"] = [v for v in tspec["volumes"] if v["name"] == "data"]
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMS, body)
    kv.wait_vm(ns, "x", lambda o: ps(o) == "Running")
    vmi = kv.vmi(ns, "x")
    assert cond(vmi, "LiveMigratable")["status"] == "True"
    assert vmi["status"]["migrationMethod"] == "LiveMigration"
    info = vmi["status"]["volumeStatus"][0]["persistentVolumeClaimInfo"]
    assert info["claimName"] == "disk" and info["accessModes"] == ["ReadWriteMany"]
    create_vmim(kv, ns, "m", "x")
    kv.wait_vmim(ns, "m", lambda o: mig_phase(o) == "Succeeded")


# ---------------------------------------------------------------- §4.4 limits


@pytest.fixture(scope="module")
def three_nodes(kv_factory: Any) -> Iterator[Any]:
    """Three workers (so the per-cluster limit, not the per-node one, binds) and a 1 s memory transfer."""
    from vmconform.emulator import Options

    with kv_factory(Options(nodes=3, seed=3, extra={"steps": {"migration.transfer": 1.0}})) as kv:
        yield kv


def test_cluster_and_node_limits_hold_migrations_in_pending(three_nodes: Any) -> None:
    from kubernetes import watch

    kv = three_nodes
    ns = "limits"
    kv.core.create_namespace({"metadata": {"name": ns}})
    names = [f"vm{i}" for i in range(7)]
    for name in names:
        kv.create_vm(ns, name, "Always")
    source = {}
    for name in names:
        kv.wait_vm(ns, name, lambda o: ps(o) == "Running")
        source[f"m-{name}"] = kv.vmi(ns, name)["status"]["nodeName"]
    per_node = {n: list(source.values()).count(n) for n in set(source.values())}
    assert max(per_node.values()) >= 3, per_node  # one node has more VMs than its outbound limit
    mark = kv.custom.list_namespaced_custom_object("kubevirt.io", "v1", ns, VMIMS)["metadata"]["resourceVersion"]
    for name in names:
        create_vmim(kv, ns, f"m-{name}", name)

    # replay every VMIM change; count the active ones (Scheduling…Running) at each point
    active_phases = {"Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running"}
    phases: dict[str, str] = {}
    max_active, max_per_node, pending_at_limit = 0, 0, False
    w = watch.Watch()
    for ev in w.stream(kv.custom.list_namespaced_custom_object, "kubevirt.io", "v1", ns, VMIMS,
                       resource_version=mark, timeout_seconds=20):
        obj = ev["object"]
        kv.validate(obj)
        phases[obj["metadata"]["name"]] = obj.get("status", {}).get("phase", "")
        active = [n for n, p in phases.items() if p in active_phases]
        max_active = max(max_active, len(active))
        for node in per_node:
            max_per_node = max(max_per_node, sum(1 for n in active if source[n] == node))
        if len(active) == 5 and any(p == "Pending" for p in phases.values()):
            pending_at_limit = True
        if len(phases) == len(names) and all(p in ("Succeeded", "Failed") for p in phases.values()):
            w.stop()
            break
    assert all(p == "Succeeded" for p in phases.values()), phases
    assert max_active == 5  # parallelMigrationsPerCluster
    assert pending_at_limit  # the extra ones waited in Pending
    assert max_per_node == 2  # parallelOutboundMigrationsPerNode
    for name in names:
        assert kv.vmi(ns, name)["status"]["nodeName"] != source[f"m-{name}"]
    kv.core.delete_namespace(ns)


def test_host_devices_are_not_migratable(kv: Any, ns: str) -> None:
    body = kv.vm_body("h", "Always")
    body["spec"]["template"]["spec"]["domain"]["devices"]["hostDevices"] = [
        {"name": "nic", "deviceName": "example.com/nic"}]
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMS, body)
    kv.wait_vm(ns, "h", lambda o: ps(o) == "Running")
    vmi = kv.vmi(ns, "h")
    live, storage = cond(vmi, "LiveMigratable"), cond(vmi, "StorageLiveMigratable")
    assert (live["status"], live["reason"], live["message"]) == (
        "False", "HostDeviceNotLiveMigratable", "VMI specifies non-migratable generic PCI host device")
    assert (storage["status"], storage["reason"]) == ("False", "NotMigratable")
    assert storage["message"] == "HostDeviceNotLiveMigratable: VMI specifies non-migratable generic PCI host device"
