"""§10 W1–W6 and graceful deletion: what a watching client sees while a VM stops or restarts.

Each test watches the emulator (VMs, VMIs, pods of its namespace, merged by resourceVersion) and
asserts KubeVirt's order; the windows are held open by step overrides (``_windows_timeline.HELD_OPEN``).
"""

from __future__ import annotations

import json
from typing import Any

from _windows_timeline import Seen, Timeline, condition, first, status, wkv, wns  # noqa: F401 - fixtures

VMS, VMIS, PODS = "virtualmachines", "virtualmachineinstances", "pods"
FINALIZER = "kubevirt.io/foregroundDeleteVirtualMachine"


def _is(e: Seen, kind: str, type_: str | None = None) -> bool:
    return e.kind == kind and (type_ is None or e.type == type_)


def _stop_and_watch(kv: Any, ns: str) -> tuple[list[Seen], str]:
    vmi = kv.running(ns, "a")
    timeline = Timeline(kv, ns)
    kv.ok(ns, "vm", "a", "stop")
    kv.wait_vm(ns, "a", lambda o: o["status"].get("printableStatus") == "Stopped" and not o["status"].get("created"))
    return timeline.events(), vmi["metadata"]["uid"]


def test_w1_vm_reads_stopped_while_the_final_vmi_still_exists(wkv: Any, wns: str) -> None:
    events, uid = _stop_and_watch(wkv, wns)
    stopped = first(events, lambda e: _is(e, VMS) and status(e.obj, "printableStatus") == "Stopped",
                    "VM Stopped")
    assert status(stopped.obj, "created") is True  # created = vmi != nil
    vmi_gone = first(events, lambda e: _is(e, VMIS, "DELETED"), "VMI DELETED")
    assert stopped.rv < vmi_gone.rv, "the VM read Stopped only after its VMI was gone (the tidy order)"
    # what the VMI was when the VM said Stopped: final, marked for deletion, still there
    vmi_then = [e for e in events if _is(e, VMIS) and e.rv < stopped.rv][-1]
    assert vmi_then.type == "MODIFIED" and vmi_then.obj["metadata"]["uid"] == uid
    assert status(vmi_then.obj, "phase") == "Succeeded" and vmi_then.obj["metadata"].get("deletionTimestamp")
    # created turns false only once the VMI is gone
    not_created = first(events, lambda e: _is(e, VMS) and e.rv > stopped.rv and not status(e.obj, "created"),
                        "VM created false")
    assert not_created.rv > vmi_gone.rv


def test_w2_pod_terminates_before_it_goes_and_the_finalizer_waits_for_it(wkv: Any, wns: str) -> None:
    events, uid = _stop_and_watch(wkv, wns)
    pod_events = [e for e in events if _is(e, PODS) and e.obj["metadata"]["labels"].get("kubevirt.io/created-by")
                  == uid]
    terminating = first(pod_events, lambda e: e.type == "MODIFIED" and e.obj["metadata"].get("deletionTimestamp"),
                        "launcher pod Terminating")
    assert terminating.obj["metadata"]["deletionGracePeriodSeconds"] == 60  # 30 + 15 + 15
    pod_gone = first(pod_events, lambda e: e.type == "DELETED", "launcher pod DELETED")
    assert terminating.rv < pod_gone.rv
    final_vmi = first(events, lambda e: _is(e, VMIS) and status(e.obj, "phase") == "Succeeded", "VMI Succeeded")
    assert terminating.rv < final_vmi.rv < pod_gone.rv, "the pod must still be listed when the VMI is final"
    # the finalizer stays on while the pod exists; the VMI goes only after the pod
    for e in events:
        if _is(e, VMIS, "MODIFIED") and e.rv < pod_gone.rv:
            assert FINALIZER in (e.obj["metadata"].get("finalizers") or []), e.rv
    vmi_gone = first(events, lambda e: _is(e, VMIS, "DELETED"), "VMI DELETED")
    assert vmi_gone.rv > pod_gone.rv


def test_w3_vmi_ready_reads_pod_terminating(wkv: Any, wns: str) -> None:
    events, _uid = _stop_and_watch(wkv, wns)
    first(events, lambda e: _is(e, VMIS) and (condition(e.obj, "Ready") or {}).get("reason") == "PodTerminating"
          and condition(e.obj, "Ready").get("message") == "virt-launcher pod is terminating"
          and status(e.obj, "phase") == "Running", "VMI Ready=False PodTerminating while Running")
    assert not any(_is(e, VMIS) and e.obj["metadata"].get("deletionTimestamp")
                   and (condition(e.obj, "Ready") or {}).get("reason") == "PodNotExists" for e in events)


def test_w4_subresources_inside_w1_answer_409_and_404_only_after_the_vmi_is_gone(wkv: Any, wns: str) -> None:
    wkv.running(wns, "a")
    wkv.ok(wns, "vm", "a", "stop")
    vm = wkv.wait_vm(wns, "a", lambda o: o["status"].get("printableStatus") == "Stopped")
    assert vm["status"].get("created") is True, "the window is held open: the VMI must still exist"
    vmi = wkv.vmi(wns, "a")
    assert vmi is not None and vmi["metadata"].get("deletionTimestamp") and vmi["status"]["phase"] == "Succeeded"
    answers = {sub: wkv.sub(wns, res, "a", sub) for res, sub in (("vmi", "pause"), ("vmi", "unpause"),
                                                                   ("vm", "stop"))}
    assert wkv.vmi(wns, "a") is not None, "the window closed during the requests"
    for sub, message in (("pause", "VM is not running"), ("unpause", "VMI is not running"),
                         ("stop", "VM is not running")):
        code, body = answers[sub]
        assert code == 409 and json.loads(body)["message"].endswith(message), (sub, code, body)
    wkv.wait_vmi(wns, "a", lambda o: o is None)
    for sub in ("pause", "unpause"):
        assert wkv.sub(wns, "vmi", "a", sub)[0] == 404, sub


def test_w5_stopping_until_the_vmi_is_final_never_stopped_while_it_runs(wkv: Any, wns: str) -> None:
    events, _uid = _stop_and_watch(wkv, wns)
    stopping = first(events, lambda e: _is(e, VMS) and status(e.obj, "printableStatus") == "Stopping", "Stopping")
    final_vmi = first(events, lambda e: _is(e, VMIS) and status(e.obj, "phase") == "Succeeded", "VMI Succeeded")
    assert stopping.rv < final_vmi.rv
    for e in events:
        if _is(e, VMS) and e.rv < final_vmi.rv and e.rv > stopping.rv:
            assert status(e.obj, "printableStatus") == "Stopping", (e.rv, status(e.obj, "printableStatus"))


def test_w6_restart_old_vmi_final_then_new_vmi_same_name_new_uid(wkv: Any, wns: str) -> None:
    old = wkv.running(wns, "a")
    timeline = Timeline(wkv, wns)
    wkv.ok(wns, "vm", "a", "restart")
    new = wkv.wait_vmi(wns, "a", lambda o: o is not None and o["metadata"]["uid"] != old["metadata"]["uid"]
                       and o["status"].get("phase") == "Running")
    assert new is not None and new["metadata"]["name"] == "a"
    wkv.wait_vm(wns, "a", lambda o: o["status"].get("printableStatus") == "Running" and o["status"].get("ready"))
    events = timeline.events()
    old_final = first(events, lambda e: _is(e, VMIS) and e.obj["metadata"]["uid"] == old["metadata"]["uid"]
                      and status(e.obj, "phase") == "Succeeded", "old VMI Succeeded")
    old_gone = first(events, lambda e: _is(e, VMIS, "DELETED"), "old VMI DELETED")
    new_added = first(events, lambda e: _is(e, VMIS, "ADDED"), "new VMI ADDED")
    assert old_final.rv < old_gone.rv < new_added.rv
    assert new_added.obj["metadata"]["uid"] == new["metadata"]["uid"]
    statuses = [status(e.obj, "printableStatus") for e in events if _is(e, VMS)]
    collapsed = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert collapsed == ["Running", "Stopping", "Stopped", "Starting", "Running"], collapsed


def test_graceful_deletion_keeps_a_pod_terminating_and_drops_other_kinds_at_once(wkv: Any, wns: str) -> None:
    node = wkv.core.list_node(label_selector="kubevirt.io/schedulable=true").items[0].metadata.name
    pod = {"metadata": {"name": "plain"}, "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5,
                                                   "containers": [{"name": "c", "image": "busybox"}]}}
    wkv.core.create_namespaced_pod(wns, pod)
    wkv.core.create_namespaced_event(wns, {"metadata": {"name": "ev"}, "reason": "Test", "message": "m",
                                           "involvedObject": {"kind": "Pod", "name": "plain", "namespace": wns}})
    timeline = Timeline(wkv, wns)
    wkv.core.delete_namespaced_pod("plain", wns)
    still = wkv.core.read_namespaced_pod("plain", wns)  # right after the DELETE: listed, Terminating
    assert still.metadata.deletion_timestamp is not None and still.metadata.deletion_grace_period_seconds == 5
    wkv.core.delete_namespaced_event("ev", wns, grace_period_seconds=30)  # no graceful deletion but for pods
    assert all(e.metadata.name != "ev" for e in wkv.core.list_namespaced_event(wns).items)
    wkv.wait_gone(wkv.core.list_namespaced_pod, "plain", wns, timeout=10)
    pod_events = [e for e in timeline.events() if _is(e, PODS) and e.name == "plain"]
    assert [e.type for e in pod_events] == ["MODIFIED", "DELETED"]
    # grace 0 goes at once
    wkv.core.create_namespaced_pod(wns, {**pod, "metadata": {"name": "forced"}})
    wkv.core.delete_namespaced_pod("forced", wns, grace_period_seconds=0)
    assert all(p.metadata.name != "forced" for p in wkv.core.list_namespaced_pod(wns).items)
