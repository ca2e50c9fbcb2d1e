"""§1.5: every precondition of start, stop, restart, pause, unpause, migrate, softreboot, guestosinfo —
exact HTTP code and message, in upstream's order of evaluation."""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]
VMS, VMIS = "virtualmachines", "virtualmachineinstances"


def ps(o: Obj | None) -> str | None:
    return (o or {}).get("status", {}).get("printableStatus")


def phase(o: Obj | None) -> str | None:
    return None if o is None else o.get("status", {}).get("phase", "")


def has_cond(o: Obj | None, ctype: str) -> bool:
    return any(c["type"] == ctype for c in (o or {}).get("status", {}).get("conditions", []) or [])


def conflict(res: str, name: str, msg: str) -> str:
    return f'Operation cannot be fulfilled on {res}.kubevirt.io "{name}": {msg}'


def expect(kv: Any, ns: str, res: str, name: str, sub: str, code: int, message: str, body: Any = None,
           method: str = "PUT", raw: bytes | None = None, version: str = "v1") -> Obj:
    status, text = kv.sub(ns, res, name, sub, body, method=method, raw=raw, version=version)
    assert status == code, f"{sub} {name}: {status} {text}"
    doc = json.loads(text)
    assert doc["kind"] == "Status" and doc["apiVersion"] == "v1" and doc["code"] == code
    assert doc["message"] == message
    return doc


def foreign_vmi(kv: Any, ns: str, name: str, final_phase: str) -> None:
    """A VMI not owned by any VM, forced into a final phase (what a VM finds after a crash loop)."""
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMIS, kv.vmi_body(name))
    kv.wait_vmi(ns, name, lambda o: phase(o) == "Running")
    kv.patch_status(VMIS, ns, name, {"phase": final_phase})


def unschedulable(kv: Any, ns: str, name: str) -> None:
    kv.create_vm(ns, name, "Always", node_selector={"kubernetes.io/hostname": "nowhere"})
    kv.wait_vm(ns, name, lambda o: ps(o) == "ErrorUnschedulable")


# ---------------------------------------------------------------- start


def test_start_missing_vm_is_404(kv: Any, ns: str) -> None:
    doc = expect(kv, ns, "vm", "nope", "start", 404, 'virtualmachine.kubevirt.io "nope" not found')
    assert doc["reason"] == "NotFound"
    assert doc["details"] == {"name": "nope", "group": "kubevirt.io", "kind": "virtualmachine"}


def test_start_on_a_running_vm_is_409_already_running(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    doc = expect(kv, ns, "vm", "a", "start", 409, conflict("virtualmachine", "a", "VM is already running"))
    assert doc["reason"] == "Conflict"


def test_start_on_a_scheduling_vmi_is_409_already_running(kv: Any, ns: str) -> None:
    unschedulable(kv, ns, "u")
    expect(kv, ns, "vm", "u", "start", 409, conflict("virtualmachine", "u", "VM is already running"))


def test_start_on_a_paused_vm_is_409_already_running(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    kv.ok(ns, "vmi", "a", "pause")
    kv.wait_vm(ns, "a", lambda o: ps(o) == "Paused")
    expect(kv, ns, "vm", "a", "start", 409, conflict("virtualmachine", "a", "VM is already running"))


def test_start_with_manual_recovery_required_is_409(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "r", "Halted")
    kv.wait_vm(ns, "r", lambda o: ps(o) == "Stopped")
    kv.patch_status(VMS, ns, "r", {"conditions": [{"type": "ManualRecoveryRequired", "status": "True"}]})
    expect(kv, ns, "vm", "r", "start", 409, conflict(
        "virtualmachine", "r", "VM recovery required: Volume migration failed, leaving some volumes pointing to "
        "non-consistent targets; manual intervention is needed to reassign them to their original volumes."))


def test_start_rerun_on_failure_from_failed_vmi_is_409(kv: Any, ns: str) -> None:
    foreign_vmi(kv, ns, "f", "Failed")
    kv.create_vm(ns, "f", "RerunOnFailure")
    expect(kv, ns, "vm", "f", "start", 409, conflict(
        "virtualmachine", "f", "RerunOnFailure does not support starting VM from failed state"))


def test_start_always_without_a_live_vmi_is_409(kv: Any, ns: str) -> None:
    foreign_vmi(kv, ns, "x", "Succeeded")
    kv.create_vm(ns, "x", "Always")
    expect(kv, ns, "vm", "x", "start", 409, conflict(
        "virtualmachine", "x", "Always does not support manual start requests"))


def test_start_once_after_guest_shutdown_is_409(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "o", "Once")
    kv.wait_vmi(ns, "o", lambda o: phase(o) == "Running")
    kv.guest_power(ns, "o", "poweroff")
    kv.wait_vmi(ns, "o", lambda o: phase(o) == "Succeeded")
    expect(kv, ns, "vm", "o", "start", 409, conflict(
        "virtualmachine", "o", "Once does not support manual start requests"))


def test_start_manual_adds_a_start_request(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "m", "Manual")
    kv.wait_vm(ns, "m", lambda o: ps(o) == "Stopped")
    assert kv.sub(ns, "vm", "m", "start") == (202, "")
    kv.wait_vm(ns, "m", lambda o: ps(o) == "Running" and not o["status"].get("stateChangeRequests"))
    assert kv.vm(ns, "m")["spec"]["runStrategy"] == "Manual"
    expect(kv, ns, "vm", "m", "start", 409, conflict("virtualmachine", "m", "VM is already running"))


def test_start_body_errors_are_400(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "b", "Halted")
    prefix = "Can not unmarshal Request body to struct, error: "
    doc = expect(kv, ns, "vm", "b", "start", 400,
                 prefix + "json: cannot unmarshal string into Go struct field StartOptions.paused of type bool",
                 body={"paused": "yes"})
    assert doc["reason"] == "BadRequest"
    status, text = kv.sub(ns, "vm", "b", "start", raw=b"{not json")
    assert status == 400 and json.loads(text)["message"].startswith(prefix)
    assert kv.vm(ns, "b")["spec"]["runStrategy"] == "Halted"


def test_v1alpha3_serves_the_same_routes(kv: Any, ns: str) -> None:
    expect(kv, ns, "vm", "nope", "start", 404, 'virtualmachine.kubevirt.io "nope" not found', version="v1alpha3")
    kv.create_vm(ns, "a", "Halted")
    assert kv.sub(ns, "vm", "a", "start", version="v1alpha3") == (202, "")
    kv.wait_vm(ns, "a", lambda o: ps(o) == "Running")


# ---------------------------------------------------------------- stop


def test_stop_missing_vm_is_404(kv: Any, ns: str) -> None:
    expect(kv, ns, "vm", "nope", "stop", 404, 'virtualmachine.kubevirt.io "nope" not found')


def test_stop_halted_without_vmi_is_409_not_running(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "h", "Halted")
    expect(kv, ns, "vm", "h", "stop", 409, conflict("virtualmachine", "h", "VM is not running"))


def test_stop_manual_or_rerun_without_vmi_is_409_not_running(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "m", "Manual")
    expect(kv, ns, "vm", "m", "stop", 409, conflict("virtualmachine", "m", "VM is not running"))
    kv.create_vm(ns, "r", "RerunOnFailure")
    kv.wait_vmi(ns, "r", lambda o: phase(o) == "Running")
    assert kv.sub(ns, "vm", "r", "stop")[0] == 202
    kv.wait_vm(ns, "r", lambda o: ps(o) == "Stopped" and not o["status"].get("created"))
    assert kv.vm(ns, "r")["spec"]["runStrategy"] == "RerunOnFailure"
    expect(kv, ns, "vm", "r", "stop", 409, conflict("virtualmachine", "r", "VM is not running"))


def test_stop_always_has_no_precondition_on_the_vmi(kv: Any, ns: str) -> None:
    unschedulable(kv, ns, "u")
    assert kv.sub(ns, "vm", "u", "stop") == (202, "")
    assert kv.vm(ns, "u")["spec"]["runStrategy"] == "Halted"
    kv.wait_vm(ns, "u", lambda o: ps(o) == "Stopped" and not o["status"].get("created"))


def test_second_stop_while_stopping(slow_kv: Any, slow_ns: str) -> None:
    kv, ns = slow_kv, slow_ns
    body = kv.vm_body("a", "Always")
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMS, body)
    kv.wait_vm(ns, "a", lambda o: ps(o) == "Running")
    vmi = kv.vmi(ns, "a")
    assert kv.sub(ns, "vm", "a", "stop")[0] == 202
    kv.wait_vm(ns, "a", lambda o: ps(o) == "Stopping")
    # no grace period: the stop already underway is not "not running"
    expect(kv, ns, "vm", "a", "stop", 409, conflict(
        "virtualmachine", "a", "Halted only supports manual stop requests with a shorter graceperiod"))
    # a longer grace period is patched onto the VMI first, then rejected
    expect(kv, ns, "vm", "a", "stop", 409, conflict(
        "virtualmachine", "a", "Halted only supports manual stop requests with a shorter graceperiod"),
        body={"gracePeriod": 60})
    assert kv.vmi(ns, "a")["spec"]["terminationGracePeriodSeconds"] == 60
    # a shorter one forces the stop
    assert kv.sub(ns, "vm", "a", "stop", {"gracePeriod": 0})[0] == 202
    reqs = kv.vm(ns, "a")["status"].get("stateChangeRequests")
    assert reqs in (None, [{"action": "Stop", "uid": vmi["metadata"]["uid"]}])
    kv.wait_vmi(ns, "a", lambda o: o is None, timeout=5)


def test_stop_body_error_is_400_before_the_vm_lookup(kv: Any, ns: str) -> None:
    expect(kv, ns, "vm", "nope", "stop", 400, "Can not unmarshal Request body to struct, error: json: cannot "
           "unmarshal string into Go struct field StopOptions.gracePeriod of type int64", body={"gracePeriod": "x"})


# ---------------------------------------------------------------- restart


def test_restart_grace_period_checks_come_first(kv: Any, ns: str) -> None:
    expect(kv, ns, "vm", "nope", "restart", 400, "For force restart, only gracePeriod=0 is supported for now",
           body={"gracePeriodSeconds": 5})
    expect(kv, ns, "vm", "nope", "restart", 400, "gracePeriod has to be greater or equal to 0",
           body={"gracePeriodSeconds": -1})
    expect(kv, ns, "vm", "nope", "restart", 404, 'virtualmachine.kubevirt.io "nope" not found')


def test_restart_with_volumes_change_is_409(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "v", "Manual")
    kv.wait_vm(ns, "v", lambda o: ps(o) == "Stopped")
    kv.patch_status(VMS, ns, "v", {"conditions": [{"type": "VolumesChange", "status": "True"}]})
    expect(kv, ns, "vm", "v", "restart", 409, conflict(
        "virtualmachine", "v", "VM recovery required: Volume migration failed, leaving some volumes pointing to "
        "non-consistent targets; manual intervention is needed to reassign them to their original volumes."))


def test_restart_halted_and_once_are_409(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "h", "Halted")
    expect(kv, ns, "vm", "h", "restart", 409, conflict(
        "virtualmachine", "h", "RunStategy Halted does not support manual restart requests"))
    kv.create_vm(ns, "o", "Once")
    expect(kv, ns, "vm", "o", "restart", 409, conflict(
        "virtualmachine", "o", "RunStategy Once does not support manual restart requests"))


def test_restart_without_vmi_is_409_not_running_halted(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "m", "Manual")
    expect(kv, ns, "vm", "m", "restart", 409, conflict("virtualmachine", "m", "VM is not running: Halted"))


def test_two_restarts_in_flight_give_500_already_underway(slow_kv: Any, slow_ns: str) -> None:
    kv, ns = slow_kv, slow_ns
    kv.running(ns, "a")
    assert kv.sub(ns, "vm", "a", "restart")[0] == 202
    doc = expect(kv, ns, "vm", "a", "restart", 500,
                 "Internal error occurred: unable to complete request: stop/start already underway")
    assert doc["reason"] == "InternalError"
    expect(kv, ns, "vm", "a", "start", 409, conflict("virtualmachine", "a", "VM is already running"))


# ---------------------------------------------------------------- pause / unpause


def test_pause_of_a_stopped_vm_is_404(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "s", "Halted")
    doc = expect(kv, ns, "vmi", "s", "pause", 404, 'virtualmachineinstance.kubevirt.io "s" not found')
    assert doc["details"]["kind"] == "virtualmachineinstance"


def test_pause_of_a_vmi_not_running_is_409(kv: Any, ns: str) -> None:
    unschedulable(kv, ns, "u")
    expect(kv, ns, "vmi", "u", "pause", 409, conflict("virtualmachineinstance", "u", "VM is not running"))


def test_pause_with_a_liveness_probe_is_403(kv: Any, ns: str) -> None:
    body = kv.vmi_body("l", livenessProbe={"httpGet": {"port": 1500}, "initialDelaySeconds": 120})
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMIS, body)
    kv.wait_vmi(ns, "l", lambda o: phase(o) == "Running")
    doc = expect(kv, ns, "vmi", "l", "pause", 403, 'virtualmachineinstance.kubevirt.io "l" is forbidden: '
                 "Pausing VMIs with a non-GuestAgentPing LivenessProbe is not supported")
    assert doc["reason"] == "Forbidden"


def test_pause_twice_is_409_already_paused(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    assert kv.sub(ns, "vmi", "a", "pause", {"dryRun": ["All"]}) == (200, "")
    assert not has_cond(kv.vmi(ns, "a"), "Paused")
    assert kv.sub(ns, "vmi", "a", "pause") == (200, "")
    expect(kv, ns, "vmi", "a", "pause", 409, conflict("virtualmachineinstance", "a", "VMI is already paused"))
    kv.wait_vmi(ns, "a", lambda o: has_cond(o, "Paused"))
    expect(kv, ns, "vmi", "a", "pause", 409, conflict("virtualmachineinstance", "a", "VMI is already paused"))


def test_unpause_preconditions(kv: Any, ns: str) -> None:
    expect(kv, ns, "vmi", "nope", "unpause", 404, 'virtualmachineinstance.kubevirt.io "nope" not found')
    unschedulable(kv, ns, "u")
    expect(kv, ns, "vmi", "u", "unpause", 409, conflict("virtualmachineinstance", "u", "VMI is not running"))
    kv.running(ns, "a")
    expect(kv, ns, "vmi", "a", "unpause", 409, conflict("virtualmachineinstance", "a", "VMI is not paused"))


def test_unpause_during_a_snapshot_is_409(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    kv.ok(ns, "vmi", "a", "pause")
    kv.wait_vmi(ns, "a", lambda o: has_cond(o, "Paused"))
    kv.patch_status(VMS, ns, "a", {"snapshotInProgress": "snap-1"})
    expect(kv, ns, "vmi", "a", "unpause", 409, conflict("virtualmachine", "a", "VM snapshot is in progress"))


# ---------------------------------------------------------------- migrate


def test_migrate_preconditions(kv: Any, ns: str) -> None:
    expect(kv, ns, "vm", "nope", "migrate", 404, 'virtualmachine.kubevirt.io "nope" not found')
    kv.create_vm(ns, "h", "Halted")
    expect(kv, ns, "vm", "h", "migrate", 404, 'virtualmachineinstance.kubevirt.io "h" not found')
    unschedulable(kv, ns, "u")
    expect(kv, ns, "vm", "u", "migrate", 409, conflict("virtualmachine", "u", "VM is not running"))


def test_migrate_of_a_bridge_vm_is_500_from_the_webhook(kv: Any, ns: str) -> None:
    kv.running(ns, "b", interface=None)  # no interfaces: the default is bridge
    doc = expect(kv, ns, "vm", "b", "migrate", 500,
                 'Internal error occurred: admission webhook "migration-create-validator.kubevirt.io" denied the '
                 "request: Cannot migrate VMI, Reason: InterfaceNotLiveMigratable, Message: cannot migrate VMI "
                 "which does not use masquerade or a migratable plugin to connect to the pod network")
    assert doc["reason"] == "InternalError"


def test_migrate_dry_run_creates_nothing(kv: Any, ns: str) -> None:
    kv.running(ns, "a")
    assert kv.sub(ns, "vm", "a", "migrate", {"dryRun": ["All"]}) == (202, "")
    assert kv.vmims(ns) == []


# ---------------------------------------------------------------- softreboot, guestosinfo


def test_softreboot_preconditions(kv: Any, ns: str) -> None:
    expect(kv, ns, "vmi", "nope", "softreboot", 404, 'virtualmachineinstance.kubevirt.io "nope" not found')
    unschedulable(kv, ns, "u")
    expect(kv, ns, "vmi", "u", "softreboot", 409, conflict("virtualmachineinstance", "u", "VM is not running"))
    kv.running(ns, "a")
    kv.ok(ns, "vmi", "a", "pause")
    kv.wait_vmi(ns, "a", lambda o: has_cond(o, "Paused"))
    expect(kv, ns, "vmi", "a", "softreboot", 409, conflict("virtualmachineinstance", "a", "VMI is paused"))
    body = kv.vm_body("n", "Always")
    body["spec"]["template"]["spec"]["domain"]["features"] = {"acpi": {"enabled": False}}
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMS, body)
    kv.wait_vm(ns, "n", lambda o: ps(o) == "Running")
    expect(kv, ns, "vmi", "n", "softreboot", 409, conflict(
        "virtualmachineinstance", "n", "VMI neither have the agent connected nor the ACPI feature enabled"))


def test_guestosinfo_errors_are_plain_text_500(kv: Any, ns: str) -> None:
    status, text = kv.sub(ns, "vmi", "nope", "guestosinfo", method="GET")
    assert (status, text) == (500, 'virtualmachineinstance.kubevirt.io "nope" not found')
    unschedulable(kv, ns, "u")
    status, text = kv.sub(ns, "vmi", "u", "guestosinfo", method="GET")
    assert (status, text) == (500, conflict("virtualmachineinstance", "u", "VMI is not running"))
    kv.running(ns, "c")  # cirros: no guest agent
    status, text = kv.sub(ns, "vmi", "c", "guestosinfo", method="GET")
    assert (status, text) == (500, conflict("virtualmachineinstance", "c", "VMI does not have guest agent connected"))
