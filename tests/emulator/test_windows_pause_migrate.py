"""§10 W7–W12: pause and unpause, the end of a migration, ``Migrating``, the first controller writes.

Each test watches the emulator (VMs, VMIs, VMIMs, pods of its namespace, merged by resourceVersion)
and asserts KubeVirt's order; the windows are held open by step overrides, never by sleeping.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from _windows_timeline import Seen, Timeline, condition, first, status, wkv, wns  # noqa: F401 - fixtures

from vmconform.emulator import Options

VMS, VMIS, VMIMS, PODS = "virtualmachines", "virtualmachineinstances", "virtualmachineinstancemigrations", "pods"
GATE = "kubevirt.io/virtual-machine-unpaused"
OBSERVED = {"kubevirt.io/latest-observed-api-version": "v1", "kubevirt.io/storage-observed-api-version": "v1"}


def _ready(obj: dict[str, Any]) -> str | None:
    return (condition(obj, "Ready") or {}).get("status")


def _launcher(e: Seen, uid: str) -> bool:
    return e.kind == PODS and e.obj["metadata"]["labels"].get("kubevirt.io/created-by") == uid


def _at(events: list[Seen], kind: str, before: int) -> Seen:
    """The last event of ``kind`` before resourceVersion ``before`` (the object as it was then)."""
    return [e for e in events if e.kind == kind and e.rv < before][-1]


def test_w7_pause_paused_first_then_gate_then_pod_ready_then_vmi_ready_then_vm_ready(wkv: Any, wns: str) -> None:
    vmi = wkv.running(wns, "a")
    uid = vmi["metadata"]["uid"]
    timeline = Timeline(wkv, wns)
    wkv.ok(wns, "vmi", "a", "pause")
    wkv.wait_vm(wns, "a", lambda o: o["status"].get("printableStatus") == "Paused" and not o["status"].get("ready"))
    events = timeline.events()
    paused = first(events, lambda e: e.kind == VMIS and (condition(e.obj, "Paused") or {}).get("status") == "True",
                   "VMI Paused=True")
    assert _ready(paused.obj) == "True", "Paused must be written first and alone"
    gate = first(events, lambda e: _launcher(e, uid) and (condition(e.obj, GATE) or {}).get("status") == "False",
                 "pod readiness gate False")
    pod_ready = first(events, lambda e: _launcher(e, uid) and _ready(e.obj) == "False", "pod Ready False")
    vmi_ready = first(events, lambda e: e.kind == VMIS and _ready(e.obj) == "False", "VMI Ready False")
    vm_paused = first(events, lambda e: e.kind == VMS and status(e.obj, "printableStatus") == "Paused", "VM Paused")
    vm_ready = first(events, lambda e: e.kind == VMS and not status(e.obj, "ready"), "VM ready false")
    assert paused.rv < gate.rv < pod_ready.rv < vmi_ready.rv < vm_ready.rv
    assert _ready(gate.obj) == "True", "the kubelet recomputes pod Ready after the gate changed"
    assert vm_paused.rv < vm_ready.rv and status(vm_paused.obj, "ready") is True


def test_w8_unpause_paused_removed_first_ready_returns_later(wkv: Any, wns: str) -> None:
    vmi = wkv.running(wns, "a")
    uid = vmi["metadata"]["uid"]
    wkv.ok(wns, "vmi", "a", "pause")
    wkv.wait_vm(wns, "a", lambda o: o["status"].get("printableStatus") == "Paused" and not o["status"].get("ready"))
    timeline = Timeline(wkv, wns)
    wkv.ok(wns, "vmi", "a", "unpause")
    wkv.wait_vm(wns, "a", lambda o: o["status"].get("printableStatus") == "Running" and o["status"].get("ready"))
    events = timeline.events()
    unpaused = first(events, lambda e: e.kind == VMIS and condition(e.obj, "Paused") is None, "Paused removed")
    assert _ready(unpaused.obj) == "False"
    gate = first(events, lambda e: _launcher(e, uid) and (condition(e.obj, GATE) or {}).get("status") == "True",
                 "pod readiness gate True")
    pod_ready = first(events, lambda e: _launcher(e, uid) and _ready(e.obj) == "True", "pod Ready True")
    vmi_ready = first(events, lambda e: e.kind == VMIS and _ready(e.obj) == "True", "VMI Ready True")
    vm_running = first(events, lambda e: e.kind == VMS and status(e.obj, "printableStatus") == "Running",
                       "VM Running")
    vm_ready = first(events, lambda e: e.kind == VMS and status(e.obj, "ready") is True, "VM ready")
    assert unpaused.rv < gate.rv < pod_ready.rv < vmi_ready.rv < vm_ready.rv
    assert vm_running.rv < vm_ready.rv and not status(vm_running.obj, "ready")


def _migrate(kv: Any, ns: str) -> tuple[list[Seen], dict[str, Any], dict[str, Any]]:
    before = kv.running(ns, "a")
    timeline = Timeline(kv, ns)
    kv.ok(ns, "vm", "a", "migrate")
    mig = kv.vmims(ns)[0]["metadata"]["name"]
    done = kv.wait_vmim(ns, mig, lambda o: (o or {}).get("status", {}).get("phase") == "Succeeded")
    assert done is not None
    source = done["status"]["migrationState"]["sourcePod"]
    kv.wait_core(kv.core.list_namespaced_pod, lambda p: p["metadata"]["name"] == source
                 and p["status"]["phase"] == "Succeeded", ns)
    kv.wait_vm(ns, "a", lambda o: o["status"].get("printableStatus") == "Running")
    return timeline.events(), before, done


def test_w9_vmim_succeeds_before_the_source_pod_ends(wkv: Any, wns: str) -> None:
    events, _before, done = _migrate(wkv, wns)
    source = done["status"]["migrationState"]["sourcePod"]
    completed = first(events, lambda e: e.kind == VMIS and status(e.obj, "migrationState", "completed"),
                      "migrationState.completed")
    succeeded = first(events, lambda e: e.kind == VMIMS and status(e.obj, "phase") == "Succeeded", "VMIM Succeeded")
    source_done = first(events, lambda e: e.kind == PODS and e.name == source
                        and status(e.obj, "phase") == "Succeeded", "source pod Succeeded")
    assert completed.rv < succeeded.rv < source_done.rv
    source_then = [e for e in events if e.kind == PODS and e.name == source and e.rv < succeeded.rv]
    assert not source_then or status(source_then[-1].obj, "phase") == "Running"


def test_w10_target_ack_flips_node_label_and_end_together(wkv: Any, wns: str) -> None:
    events, before, done = _migrate(wkv, wns)
    source_node, target_node = before["status"]["nodeName"], done["status"]["migrationState"]["targetNode"]
    assert source_node != target_node
    ack = first(events, lambda e: e.kind == VMIS and status(e.obj, "migrationState", "endTimestamp"), "ack")
    previous = _at(events, VMIS, ack.rv)
    assert status(previous.obj, "nodeName") == source_node
    assert previous.obj["metadata"]["labels"]["kubevirt.io/nodeName"] == source_node
    assert status(ack.obj, "nodeName") == target_node
    assert ack.obj["metadata"]["labels"]["kubevirt.io/nodeName"] == target_node
    assert "launcherContainerImageVersion" not in ack.obj["status"]
    assert not status(ack.obj, "migrationState", "completed"), "completed comes after the ack"
    refilled = first(events, lambda e: e.kind == VMIS and e.rv > ack.rv
                     and status(e.obj, "launcherContainerImageVersion"), "image version refilled")
    assert refilled.rv > ack.rv


def test_w11_migrating_only_between_start_and_end(wkv: Any, wns: str) -> None:
    events, _before, _done = _migrate(wkv, wns)
    start = first(events, lambda e: e.kind == VMIS and status(e.obj, "migrationState", "startTimestamp"), "start")
    end = first(events, lambda e: e.kind == VMIS and status(e.obj, "migrationState", "endTimestamp"), "end")
    migrating = [e for e in events if e.kind == VMS and status(e.obj, "printableStatus") == "Migrating"]
    assert migrating, "with the transfer held open and no coalescing the VM shows Migrating"
    assert all(start.rv < e.rv < end.rv for e in migrating)


def test_w11_a_coalescing_vm_controller_can_skip_migrating(kv_factory: Callable[[Options], Any]) -> None:
    steps = {"vm.sync": 1.0, "migration.transfer": 0.05, "migration.start": 0.01}
    with kv_factory(Options(nodes=2, seed=5, extra={"steps": steps})) as kv:
        kv.core.create_namespace({"metadata": {"name": "coalesce"}})
        events, _before, _done = _migrate(kv, "coalesce")
    first(events, lambda e: e.kind == VMIS and status(e.obj, "migrationState", "startTimestamp")
          and not status(e.obj, "migrationState", "endTimestamp"), "VMI migrating")
    assert not [e for e in events if e.kind == VMS and status(e.obj, "printableStatus") == "Migrating"]


def _only_annotations_changed(events: list[Seen], kind: str) -> None:
    added = first(events, lambda e: e.kind == kind and e.type == "ADDED", f"{kind} ADDED")
    stamped = first(events, lambda e: e.kind == kind and e.rv > added.rv, f"{kind} first update")
    assert {k: v for k, v in (stamped.obj["metadata"].get("annotations") or {}).items() if k in OBSERVED} == OBSERVED
    strip = copy.deepcopy(stamped.obj), copy.deepcopy(added.obj)
    for obj in strip:
        obj["metadata"].pop("resourceVersion", None)
        obj["metadata"].pop("managedFields", None)
        for k in OBSERVED:
            (obj["metadata"].get("annotations") or {}).pop(k, None)
        if not obj["metadata"].get("annotations"):
            obj["metadata"].pop("annotations", None)
    assert strip[0] == strip[1], f"{kind}: the first controller write changes only the annotations"


def test_w12_first_controller_write_stamps_the_api_version(wkv: Any, wns: str) -> None:
    timeline = Timeline(wkv, wns)
    wkv.running(wns, "a")
    wkv.ok(wns, "vm", "a", "migrate")
    mig = wkv.vmims(wns)[0]["metadata"]["name"]
    wkv.wait_vmim(wns, mig, lambda o: (o or {}).get("status", {}).get("phase") == "Succeeded")
    events = timeline.events()
    for kind in (VMS, VMIS, VMIMS):
        _only_annotations_changed(events, kind)
