"""VM and VMI lifecycle (§2, §3): the sequences of §2.3 as a watch sees them, pods, conditions, events."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
VMS, VMIS = "virtualmachines", "virtualmachineinstances"


def ps(o: Obj | None) -> str | None:
    return (o or {}).get("status", {}).get("printableStatus")


def cond(o: Obj | None, ctype: str) -> Obj | None:
    return next((c for c in (o or {}).get("status", {}).get("conditions", []) or [] if c["type"] == ctype), None)


def phase(o: Obj | None) -> str | None:
    return None if o is None else o.get("status", {}).get("phase", "")


def uid(o: Obj | None) -> str | None:
    return None if o is None else o["metadata"]["uid"]


def running_ready(o: Obj | None) -> bool:
    return ps(o) == "Running" and (o or {}).get("status", {}).get("ready") is True


def back_to_running() -> Any:
    """``until`` for a watch: Running & ready again after having left Running."""
    left: list[str | None] = []

    def until(o: Obj | None) -> bool:
        if ps(o) != "Running":
            left.append(ps(o))
        return bool(left) and running_ready(o)

    return until


def launcher_pods(kv: Any, ns: str, vmi_uid: str) -> list[Obj]:
    return kv.pods(ns, f"kubevirt.io/created-by={vmi_uid}")


def test_start_goes_stopped_starting_running(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "testvm", "Halted")
    vm = kv.wait_vm(ns, "testvm", lambda o: ps(o) == "Stopped")
    ready = cond(vm, "Ready")
    assert ready is not None and (ready["status"], ready["reason"], ready["message"]) == (
        "False", "VMINotExists", "VMI does not exist")
    assert "created" not in vm["status"] and "ready" not in vm["status"]
    rv_vm, rv_vmi = kv.mark(VMS, ns, "testvm"), kv.mark(VMIS, ns, "testvm")
    status, body = kv.sub(ns, "vm", "testvm", "start")
    assert (status, body) == (202, "")
    assert kv.vm_statuses(ns, "testvm", rv_vm, running_ready) == ["Stopped", "Starting", "Running"]
    phases = kv.observe(VMIS, ns, "testvm", rv_vmi, phase, lambda o: phase(o) == "Running")
    assert phases == [None, "", "Pending", "Scheduling", "Scheduled", "Running"]

    vm = kv.vm(ns, "testvm")
    assert vm["spec"]["runStrategy"] == "Always"
    assert vm["status"]["created"] is True and vm["status"]["ready"] is True
    assert vm["status"]["runStrategy"] == "Always"
    assert not vm["status"].get("stateChangeRequests")
    assert cond(vm, "Ready")["status"] == "True"
    assert cond(vm, "LiveMigratable")["status"] == "True"
    assert "kubevirt.io/virtualMachineControllerFinalize" in vm["metadata"]["finalizers"]

    vmi = kv.vmi(ns, "testvm")
    assert [t["phase"] for t in vmi["status"]["phaseTransitionTimestamps"]] == [
        "Pending", "Scheduling", "Scheduled", "Running"]
    node = vmi["status"]["nodeName"]
    assert node in ("node01", "node02")
    assert vmi["metadata"]["labels"] == {"kubevirt.io/size": "small", "kubevirt.io/domain": "testvm",
                                         "kubevirt.io/nodeName": node}
    assert vmi["metadata"]["ownerReferences"][0]["uid"] == vm["metadata"]["uid"]
    assert set(vmi["metadata"]["finalizers"]) == {"kubevirt.io/virtualMachineControllerFinalize",
                                                  "kubevirt.io/foregroundDeleteVirtualMachine"}
    assert vmi["metadata"]["annotations"]["kubevirt.io/vm-generation"] == str(vm["metadata"]["generation"])
    assert cond(vmi, "Ready")["status"] == "True"
    assert vmi["status"]["migrationMethod"] == "BlockMigration"  # containerDisk + cloudInitNoCloud

    pods = launcher_pods(kv, ns, vmi["metadata"]["uid"])
    assert len(pods) == 1
    pod = pods[0]
    labels = pod["metadata"]["labels"]
    assert pod["metadata"]["name"].startswith("virt-launcher-testvm-")
    assert labels["kubevirt.io"] == "virt-launcher"
    assert labels["vm.kubevirt.io/name"] == "testvm" and labels["vmi.kubevirt.io/id"] == "testvm"
    assert labels["kubevirt.io/domain"] == "testvm"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "VirtualMachineInstance"
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == node
    ip = vmi["status"]["interfaces"][0]["ipAddress"]
    assert ip.startswith("10.244.") and pod["status"]["podIP"] == ip
    assert vmi["status"]["activePods"] == {pod["metadata"]["uid"]: node}

    events = {(e["involvedObject"]["kind"], e["reason"]): e["message"] for e in kv.events(ns, "testvm")}
    assert events[("VirtualMachine", "SuccessfulCreate")] == (
        "Started the virtual machine by creating the new virtual machine instance testvm")
    assert events[("VirtualMachineInstance", "SuccessfulCreate")] == (
        f"Created virtual machine pod {pod['metadata']['name']}")
    assert events[("VirtualMachineInstance", "Started")] == "VirtualMachineInstance started."


def test_stop_goes_running_stopping_stopped(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "a")
    pod = launcher_pods(kv, ns, vmi["metadata"]["uid"])[0]
    rv_vm, rv_vmi = kv.mark(VMS, ns, "a"), kv.mark(VMIS, ns, "a")
    assert kv.sub(ns, "vm", "a", "stop") == (202, "")
    seq = kv.vm_statuses(ns, "a", rv_vm, lambda o: ps(o) == "Stopped" and not o["status"].get("created"))
    assert seq == ["Running", "Stopping", "Stopped"]
    states = kv.observe(VMIS, ns, "a", rv_vmi,
                        lambda o: None if o is None else (phase(o), bool(o["metadata"].get("deletionTimestamp"))),
                        lambda o: o is None)
    assert states == [("Running", False), ("Running", True), ("Succeeded", True), None]
    vm = kv.vm(ns, "a")
    assert vm["spec"]["runStrategy"] == "Halted"
    assert "ready" not in vm["status"]
    assert cond(vm, "Ready")["reason"] == "VMINotExists"
    kv.wait_gone(kv.core.list_namespaced_pod, pod["metadata"]["name"], ns)
    events = {(e["involvedObject"]["kind"], e["reason"]): e["message"] for e in kv.events(ns, "a")}
    assert events[("VirtualMachine", "SuccessfulDelete")] == (
        f"Stopped the virtual machine by deleting the virtual machine instance {vmi['metadata']['uid']}")
    assert events[("VirtualMachineInstance", "ShuttingDown")] == "Signaled Graceful Shutdown"
    assert events[("VirtualMachineInstance", "Stopped")] == "The VirtualMachineInstance was shut down."


def test_stop_with_grace_period_zero_patches_the_vmi(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    rv = kv.mark(VMIS, ns, "a")
    assert kv.sub(ns, "vm", "a", "stop", {"gracePeriod": 0})[0] == 202
    graces = kv.observe(VMIS, ns, "a", rv, lambda o: (o or {}).get("spec", {}).get("terminationGracePeriodSeconds"),
                        lambda o: o is None)
    assert 0 in graces


def test_restart_keeps_the_name_and_changes_the_uid(kv: Any, ns: str) -> None:
    old = kv.running(ns, "a")
    old_pod = launcher_pods(kv, ns, old["metadata"]["uid"])[0]
    rv = kv.mark(VMS, ns, "a")
    assert kv.sub(ns, "vm", "a", "restart") == (202, "")
    seq = kv.vm_statuses(ns, "a", rv, back_to_running())
    # the old VMI is final before it is gone: a brief Stopped is KubeVirt's order (§10 W6)
    assert seq == ["Running", "Stopping", "Stopped", "Starting", "Running"]
    new = kv.vmi(ns, "a")
    assert new["metadata"]["name"] == "a" and uid(new) != uid(old)
    new_pods = launcher_pods(kv, ns, uid(new))
    assert len(new_pods) == 1 and new_pods[0]["metadata"]["name"] != old_pod["metadata"]["name"]
    kv.wait_gone(kv.core.list_namespaced_pod, old_pod["metadata"]["name"], ns)
    vm = kv.wait_vm(ns, "a", lambda o: not o["status"].get("stateChangeRequests"))
    assert vm["spec"]["runStrategy"] == "Always"


def test_force_restart_sets_grace_one_and_restarts(kv: Any, ns: str) -> None:
    old = kv.running(ns, "a")
    rv = kv.mark(VMIS, ns, "a")
    assert kv.sub(ns, "vm", "a", "restart", {"gracePeriodSeconds": 0})[0] == 202
    graces = kv.observe(VMIS, ns, "a", rv,
                        lambda o: None if o is None else (uid(o), o["spec"].get("terminationGracePeriodSeconds")),
                        lambda o: o is not None and uid(o) != uid(old) and phase(o) == "Running")
    assert (uid(old), 1) in graces


def test_restart_of_a_manual_vm(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "m", "Manual")
    kv.ok(ns, "vm", "m", "start")
    old = kv.wait_vmi(ns, "m", lambda o: phase(o) == "Running")
    kv.ok(ns, "vm", "m", "restart")
    new = kv.wait_vmi(ns, "m", lambda o: o is not None and uid(o) != uid(old) and phase(o) == "Running")
    assert new is not None
    assert kv.vm(ns, "m")["spec"]["runStrategy"] == "Manual"


def test_pause_and_unpause(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "a")
    rv = kv.mark(VMS, ns, "a")
    assert kv.sub(ns, "vmi", "a", "pause") == (200, "")
    seq = kv.vm_statuses(ns, "a", rv, lambda o: ps(o) == "Paused" and not o["status"].get("ready"))
    assert seq == ["Running", "Paused"]
    paused = kv.vmi(ns, "a")
    assert phase(paused) == "Running" and uid(paused) == uid(vmi)
    p = cond(paused, "Paused")
    assert (p["status"], p["reason"], p["message"]) == ("True", "PausedByUser", "VMI was paused by user")
    assert cond(paused, "Ready")["status"] == "False"
    vm = kv.vm(ns, "a")
    assert cond(vm, "Paused")["status"] == "True" and cond(vm, "Ready")["status"] == "False"
    pod = launcher_pods(kv, ns, uid(vmi))[0]
    pod_conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert pod["status"]["phase"] == "Running"
    assert pod_conds["kubevirt.io/virtual-machine-unpaused"] == "False" and pod_conds["Ready"] == "False"

    rv = kv.mark(VMS, ns, "a")
    assert kv.sub(ns, "vmi", "a", "unpause") == (200, "")
    seq = kv.vm_statuses(ns, "a", rv, running_ready)
    assert seq == ["Paused", "Running"]
    resumed = kv.vmi(ns, "a")
    assert cond(resumed, "Paused") is None and cond(resumed, "Ready")["status"] == "True"
    assert uid(resumed) == uid(vmi)
    reasons = [e["reason"] for e in kv.events(ns, "a")]
    assert "Paused" in reasons and "Unpaused" in reasons


def test_pause_freezes_the_emulated_guest(kv: Any, ns: str) -> None:
    from vmconform.emulator.kubevirt import find_guest

    kv.running(ns, "a")
    emu = kv.cluster.emulator
    handle = kv.cluster.call(lambda: find_guest(emu, ns, "a"))
    assert handle is not None and handle.running
    if handle.guest is None:
        return  # the guest module is optional
    boot_id = handle.guest.boot_id
    kv.ok(ns, "vmi", "a", "pause")
    kv.wait_vmi(ns, "a", lambda o: cond(o, "Paused") is not None)
    assert kv.cluster.call(lambda: handle.guest.paused) is True
    kv.ok(ns, "vmi", "a", "unpause")
    kv.wait_vmi(ns, "a", lambda o: cond(o, "Paused") is None)
    assert kv.cluster.call(lambda: handle.guest.paused) is False
    assert handle.guest.boot_id == boot_id


def test_start_paused(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "p", "Halted")
    assert kv.sub(ns, "vm", "p", "start", {"paused": True})[0] == 202
    vm = kv.wait_vm(ns, "p", lambda o: ps(o) == "Paused")
    assert vm["spec"]["runStrategy"] == "Always"
    vmi = kv.vmi(ns, "p")
    assert vmi["spec"]["startStrategy"] == "Paused"
    assert phase(vmi) == "Running" and cond(vmi, "Paused")["status"] == "True"
    kv.wait_vm(ns, "p", lambda o: not o["status"].get("stateChangeRequests"))
    kv.ok(ns, "vmi", "p", "unpause")
    kv.wait_vm(ns, "p", running_ready)


def test_dry_run_changes_nothing(kv: Any, ns: str) -> None:
    before = kv.create_vm(ns, "d", "Halted")
    before = kv.wait_vm(ns, "d", lambda o: ps(o) == "Stopped")
    for sub in ("start", "stop", "restart"):
        kv.sub(ns, "vm", "d", sub, {"dryRun": ["All"]})
    assert kv.sub(ns, "vm", "d", "start", {"dryRun": ["All"]})[0] == 202
    after = kv.vm(ns, "d")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert kv.vmi(ns, "d") is None


def test_guest_poweroff_on_always_restarts_the_vm(kv: Any, ns: str) -> None:
    old = kv.running(ns, "a")
    rv = kv.mark(VMS, ns, "a")
    kv.guest_power(ns, "a", "poweroff")
    seq = kv.vm_statuses(ns, "a", rv, back_to_running())
    assert seq == ["Running", "Stopped", "Starting", "Running"]
    assert uid(kv.vmi(ns, "a")) != uid(old)


def test_guest_poweroff_on_manual_keeps_the_succeeded_vmi(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "m", "Manual")
    kv.ok(ns, "vm", "m", "start")
    old = kv.wait_vmi(ns, "m", lambda o: phase(o) == "Running")
    rv = kv.mark(VMS, ns, "m")
    kv.guest_power(ns, "m", "poweroff")
    assert kv.vm_statuses(ns, "m", rv, lambda o: ps(o) == "Stopped") == ["Running", "Stopped"]
    vmi = kv.vmi(ns, "m")
    assert vmi is not None and uid(vmi) == uid(old) and phase(vmi) == "Succeeded"
    assert [p["status"]["phase"] for p in launcher_pods(kv, ns, uid(old))] == ["Succeeded"]
    assert "ready" not in kv.vm(ns, "m")["status"]
    kv.ok(ns, "vm", "m", "start")  # [Stop{old uid}, Start]: a new VMI replaces the finished one
    new = kv.wait_vmi(ns, "m", lambda o: o is not None and uid(o) != uid(old) and phase(o) == "Running")
    assert new is not None


def test_guest_poweroff_on_once_keeps_the_vmi_and_stop_halts(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "o", "Once")
    kv.wait_vmi(ns, "o", lambda o: phase(o) == "Running")
    kv.guest_power(ns, "o", "poweroff")
    kv.wait_vm(ns, "o", lambda o: ps(o) == "Stopped")
    assert phase(kv.vmi(ns, "o")) == "Succeeded"
    assert kv.sub(ns, "vm", "o", "stop")[0] == 202
    assert kv.vm(ns, "o")["spec"]["runStrategy"] == "Halted"
    kv.wait_vmi(ns, "o", lambda o: o is None)


def test_guest_poweroff_on_rerun_on_failure_is_not_restarted(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "r", "RerunOnFailure")
    kv.wait_vmi(ns, "r", lambda o: phase(o) == "Running")
    rv = kv.mark(VMIS, ns, "r")
    kv.guest_power(ns, "r", "poweroff")
    phases = kv.observe(VMIS, ns, "r", rv, phase, lambda o: o is None)
    assert phases == ["Running", "Succeeded", None]
    vm = kv.wait_vm(ns, "r", lambda o: ps(o) == "Stopped" and not o["status"].get("created"))
    assert vm["status"]["runStrategy"] == "RerunOnFailure" and not vm["status"].get("stateChangeRequests")


def test_killed_launcher_pod_fails_the_vmi_and_rerun_on_failure_restarts(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "r", "RerunOnFailure")
    old = kv.wait_vmi(ns, "r", lambda o: phase(o) == "Running")
    rv = kv.mark(VMIS, ns, "r")
    pod = launcher_pods(kv, ns, uid(old))[0]
    kv.core.delete_namespaced_pod(pod["metadata"]["name"], ns)
    seen = kv.observe(VMIS, ns, "r", rv, lambda o: None if o is None else (uid(o) == uid(old), phase(o)),
                      lambda o: o is not None and uid(o) != uid(old) and phase(o) == "Running")
    assert (True, "Failed") in seen and seen[-1] == (False, "Running")


def test_deleting_the_vmi_of_an_always_vm_recreates_it(kv: Any, ns: str) -> None:
    old = kv.running(ns, "a")
    kv.custom.delete_namespaced_custom_object("kubevirt.io", "v1", ns, VMIS, "a")
    new = kv.wait_vmi(ns, "a", lambda o: o is not None and uid(o) != uid(old) and phase(o) == "Running")
    assert new is not None


def test_deleting_the_vm_removes_vmi_and_pods(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "a")
    pod = launcher_pods(kv, ns, uid(vmi))[0]
    rv = kv.mark(VMS, ns, "a")
    kv.custom.delete_namespaced_custom_object("kubevirt.io", "v1", ns, VMS, "a")
    seq = kv.vm_statuses(ns, "a", rv, lambda o: o is None)
    assert "Terminating" in seq and seq[-1] is None
    assert kv.vmi(ns, "a") is None
    kv.wait_gone(kv.core.list_namespaced_pod, pod["metadata"]["name"], ns)


def test_no_node_fits_gives_error_unschedulable(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "u", "Always", node_selector={"kubernetes.io/hostname": "no-such-node"})
    vm = kv.wait_vm(ns, "u", lambda o: ps(o) == "ErrorUnschedulable")
    vmi = kv.vmi(ns, "u")
    c = cond(vmi, "PodScheduled")
    assert (c["status"], c["reason"]) == ("False", "Unschedulable")
    assert c["message"].startswith("0/3 nodes are available:")
    assert "didn't match Pod's node affinity/selector" in c["message"]
    assert phase(vmi) == "Scheduling"
    assert cond(vm, "PodScheduled")["reason"] == "Unschedulable"


def test_too_much_memory_gives_error_unschedulable(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "big", "Always", memory="1Ei")
    kv.wait_vm(ns, "big", lambda o: ps(o) == "ErrorUnschedulable")
    assert "Insufficient memory" in cond(kv.vmi(ns, "big"), "PodScheduled")["message"]


def test_missing_pvc_gives_error_pvc_not_found_until_it_appears(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "v", "Always", pvc="later")
    kv.wait_vm(ns, "v", lambda o: ps(o) == "ErrorPvcNotFound")
    sync = cond(kv.vmi(ns, "v"), "Synchronized")
    assert (sync["status"], sync["reason"]) == ("False", "FailedPvcNotFound")
    kv.create_pvc(ns, "later", "ReadWriteMany")
    kv.wait_vm(ns, "v", running_ready)


def test_unbound_claim_waits_for_volume_binding(kv: Any, ns: str) -> None:
    kv.create_pvc(ns, "stuck", "ReadWriteMany", "local-rwo")
    rv = kv.mark(VMS, ns, "w")
    kv.create_vm(ns, "w", "Always", pvc="stuck")
    seq = kv.vm_statuses(ns, "w", rv, lambda o: ps(o) == "ErrorUnschedulable")
    assert "WaitingForVolumeBinding" in seq
    assert "pod has unbound immediate PersistentVolumeClaims" in cond(kv.vmi(ns, "w"), "PodScheduled")["message"]


def test_deprecated_running_field(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "old", None, running=False)
    kv.wait_vm(ns, "old", lambda o: ps(o) == "Stopped")
    kv.ok(ns, "vm", "old", "start")
    assert kv.vm(ns, "old")["spec"]["running"] is True
    kv.wait_vm(ns, "old", running_ready)
    kv.ok(ns, "vm", "old", "stop")
    assert kv.vm(ns, "old")["spec"]["running"] is False
    kv.wait_vm(ns, "old", lambda o: ps(o) == "Stopped" and not o["status"].get("created"))


def test_softreboot_reboots_the_guest_in_place(kv: Any, ns: str) -> None:
    from vmconform.emulator.kubevirt import find_guest

    vmi = kv.running(ns, "a")
    emu = kv.cluster.emulator
    handle = kv.cluster.call(lambda: find_guest(emu, ns, "a"))
    boot_id = handle.guest.boot_id if handle.guest is not None else None
    assert kv.sub(ns, "vmi", "a", "softreboot") == (200, "")
    kv.wait_event(ns, "SoftRebooted", "a")
    assert uid(kv.vmi(ns, "a")) == uid(vmi)
    if boot_id is not None:
        assert handle.guest.boot_id != boot_id


def test_agent_image_reports_guest_os_info(kv: Any, ns: str) -> None:
    kv.running(ns, "f", image="quay.io/kubevirt/fedora-with-test-tooling-container-disk:v1.5.0")
    vmi = kv.wait_vmi(ns, "f", lambda o: cond(o, "AgentConnected") is not None)
    assert vmi["status"]["guestOSInfo"]["id"] == "fedora"
    status, text = kv.sub(ns, "vmi", "f", "guestosinfo", method="GET")
    assert status == 200
    import json

    info = json.loads(text)
    assert info["os"]["id"] == "fedora" and info["hostname"] == "f"
    assert kv.sub(ns, "vmi", "f", "userlist", method="GET")[0] == 200
    assert kv.sub(ns, "vmi", "f", "filesystemlist", method="GET")[0] == 200


def test_unpullable_image_toggles_err_image_pull_and_back_off(kv: Any, ns: str) -> None:
    mark = kv.mark(VMS, ns, "img")
    kv.create_vm(ns, "img", "Always", image="no-such-image")
    seen: list[str | None] = []

    def until(o: Obj | None) -> bool:
        seen.append(ps(o))
        return seen.count("ImagePullBackOff") >= 2
    seq = kv.vm_statuses(ns, "img", mark, until)
    pulls = [s for s in seq if s in ("ErrImagePull", "ImagePullBackOff")]
    assert pulls[:4] == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff"]
    sync = cond(kv.vmi(ns, "img"), "Synchronized")
    assert sync["status"] == "False" and sync["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert phase(kv.vmi(ns, "img")) == "Scheduling"
