"""Steps that wait out KubeVirt's windows (§10) pass inside them and still fail on the broken behaviour.

Each step runs unchanged against the bare emulated API server while the test writes the objects in an
order real KubeVirt shows (the step must pass) and in a broken one (the step must fail, and say why).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from steps import migration, storage, vm_lifecycle, vm_state
from steps._support import LAST_VERB
from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import PODS, VMIS
from vmconform.kube.client import Answer, Cluster
from vmconform.kube.waits import WaitFailed
from vmconform.scenario import Snapshot

from .steplab import Lab, cond, context, new_uid, terminated

# scales of the timeout table for these tests: vm_stop 300 s → 3 s, pause 30 s → 0.3 s (broken cases fail fast)
STOP_SCALE = 0.01
PAUSE_SCALE = 0.02


@pytest.fixture
def lab(bare: EmulatedCluster) -> Iterator[Lab]:
    lab = Lab(bare)
    yield lab
    lab.close()


def _stopped_with_final_vmi(lab: Lab) -> str:
    """The stop window W1/W2: VM Stopped and created, final VMI deleting, its launcher pod Terminating."""
    lab.vm("Stopped", created=True)
    vmi_uid = lab.vmi("Succeeded", hold=True)
    lab.pod("virt-launcher-vm-abcde", vmi_uid, hold=True)
    lab.delete(VMIS, "vm")
    lab.delete(PODS, "virt-launcher-vm-abcde")
    return vmi_uid


# ---------------------------------------------------------------- the VM has no VMI and no launcher pod


def test_no_vmi_no_pod_waits_for_the_final_vmi_and_the_terminating_pod(lab: Lab, client: Cluster) -> None:
    _stopped_with_final_vmi(lab)
    fut = lab.start(vm_state.no_vmi_no_pod, context(client, STOP_SCALE))
    assert not fut.done()
    lab.release(PODS, "virt-launcher-vm-abcde")  # the kubelet confirms: the pod goes, then the VMI
    lab.release(VMIS, "vm")
    fut.result(timeout=10)


def test_no_vmi_no_pod_fails_when_the_pod_never_goes(lab: Lab, client: Cluster) -> None:
    _stopped_with_final_vmi(lab)
    fut = lab.start(vm_state.no_vmi_no_pod, context(client, STOP_SCALE))
    lab.c.call(lambda: lab.c.store.mutate(VMIS, "default", "vm", lambda o: o["metadata"].update(finalizers=[]),
                                          status=True))
    with pytest.raises(WaitFailed, match=r"launcher pods of the stopped VM vm are gone: not reached within 3 s; "
                                         r"observed virt-launcher-vm-abcde@node01:Running/Terminating"):
        fut.result(timeout=10)


def test_no_vmi_no_pod_fails_at_once_on_a_live_vmi(lab: Lab, client: Cluster) -> None:
    lab.vm("Stopped")
    lab.vmi("Running")
    with pytest.raises(WaitFailed, match="stopped early, the stopped VM has a live VMI in phase Running"):
        vm_state.no_vmi_no_pod(context(client, 1.0))


# ---------------------------------------------------------------- the VM stays Stopped with no VMI


def test_stays_stopped_waits_for_the_final_vmi_and_created_false(lab: Lab, client: Cluster) -> None:
    _stopped_with_final_vmi(lab)
    fut = lab.start(vm_state.stays_stopped, context(client, STOP_SCALE))
    lab.release(PODS, "virt-launcher-vm-abcde")
    lab.release(VMIS, "vm")
    lab.vm_status(created=False)  # the VM controller sees the VMI gone
    fut.result(timeout=10)


def test_stays_stopped_fails_at_once_when_the_vm_starts(lab: Lab, client: Cluster) -> None:
    lab.vm("Stopped")
    fut = lab.start(vm_state.stays_stopped, context(client, STOP_SCALE), watches=1)
    lab.vm_status(printableStatus="Starting", created=True)
    with pytest.raises(WaitFailed, match="changed to Starting created=True|the VM is Starting after rejected"):
        fut.result(timeout=10)


def test_stays_stopped_fails_when_created_stays_true(lab: Lab, client: Cluster) -> None:
    lab.vm("Stopped", created=True)  # no VMI, but the VM still claims one
    with pytest.raises(WaitFailed, match=r"VM vm shows Stopped with no VMI: not reached within 3 s; "
                                         r"observed Stopped created=True"):
        vm_state.stays_stopped(context(client, STOP_SCALE))


# ---------------------------------------------------------------- Ready after pause and stop


def test_vm_not_ready_waits_for_ready_to_follow_the_pause(lab: Lab, client: Cluster) -> None:
    lab.vm("Paused", created=True, ready=True)  # §10 W7: Paused shows before Ready turns False
    ctx = context(client, PAUSE_SCALE * 10)
    ctx.values[LAST_VERB] = "pause"
    fut = lab.start(vm_state.vm_not_ready, ctx)
    assert not fut.done()
    lab.vm_status(ready=False, conditions=[cond("Ready", "False")])
    fut.result(timeout=10)


def test_vm_not_ready_fails_when_the_paused_vm_stays_ready(lab: Lab, client: Cluster) -> None:
    lab.vm("Paused", created=True, ready=True)
    ctx = context(client, PAUSE_SCALE)
    ctx.values[LAST_VERB] = "pause"
    with pytest.raises(WaitFailed, match=r"VM vm is not Ready: not reached within 1 s; "
                                         r"observed Ready=True status.ready=True"):
        vm_state.vm_not_ready(ctx)


def test_paused_vmi_waits_for_ready_false(lab: Lab, client: Cluster) -> None:
    lab.vmi("Running", conditions=[cond("Paused", "True", "PausedByUser"), cond("Ready", "True")])
    fut = lab.start(vm_state.vmi_paused_condition, context(client, PAUSE_SCALE * 10))
    assert not fut.done()
    lab.vmi_status(conditions=[cond("Paused", "True", "PausedByUser"), cond("Ready", "False", "PodNotReady")])
    fut.result(timeout=10)


def test_paused_vmi_that_stays_ready_fails(lab: Lab, client: Cluster) -> None:
    lab.vmi("Running", conditions=[cond("Paused", "True", "PausedByUser"), cond("Ready", "True")])
    with pytest.raises(WaitFailed, match="a paused VMI is no longer Ready: not reached within"):
        vm_state.vmi_paused_condition(context(client, PAUSE_SCALE))


def test_a_vmi_without_paused_true_fails_at_once(lab: Lab, client: Cluster) -> None:
    lab.vmi("Running", conditions=[cond("Ready", "False")])
    with pytest.raises(AssertionError, match="the VMI has no Paused=True condition"):
        vm_state.vmi_paused_condition(context(client, 1.0))


# ---------------------------------------------------------------- rejections with either of two answers


def _status(code: int, message: str) -> Answer:
    return Answer(code, {"kind": "Status", "status": "Failure", "code": code, "message": message})


@pytest.mark.parametrize("answer", [
    _status(404, 'virtualmachineinstance.kubevirt.io "vm" not found'),
    _status(409, 'Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "vm": VM is not running'),
])
def test_pause_of_a_stopped_vm_accepts_both_answers_kubevirt_gives(lab: Lab, client: Cluster, answer: Answer) -> None:
    lab.vm("Stopped")
    ctx = context(client, 1.0)
    ctx.answer = answer
    vm_lifecycle.verb_rejected_either(ctx, "pause", "404", "not found", "409", "VM is not running")


@pytest.mark.parametrize("answer,message", [
    (Answer(200, {}), r'pause of a stopped VM was accepted \(HTTP 200\); KubeVirt rejects it with '
                      r'404 "not found" or 409 "VM is not running"'),
    (_status(409, "VMI is already paused"), r'pause of a stopped VM was rejected, but with HTTP 409 : VMI is already '
                                            r'paused instead of 404 "not found" or 409 "VM is not running"'),
    (_status(404, 'virtualmachine.kubevirt.io "vm" is not running'), "instead of"),
])
def test_pause_of_a_stopped_vm_fails_on_any_other_answer(lab: Lab, client: Cluster, answer: Answer,
                                                         message: str) -> None:
    lab.vm("Stopped")
    ctx = context(client, 1.0)
    ctx.answer = answer
    with pytest.raises(AssertionError, match=message):
        vm_lifecycle.verb_rejected_either(ctx, "pause", "404", "not found", "409", "VM is not running")


# ---------------------------------------------------------------- restart: the new VMI's launcher pod


def _restarted(lab: Lab, client: Cluster, *, new_pod: bool) -> Any:
    old_uid, old_pod = new_uid(), "virt-launcher-vm-old"
    lab.vm("Running", created=True, ready=True)
    vmi_uid = lab.vmi("Running")
    pod_uid = lab.pod(old_pod, old_uid, hold=True)
    lab.delete(PODS, old_pod)  # the old launcher pod is still Terminating (§10 W2, W6)
    if new_pod:
        lab.pod("virt-launcher-vm-new", vmi_uid)
    else:  # broken: the old pod is handed to the new VMI
        lab.pod_meta(old_pod, labels={"kubevirt.io": "virt-launcher", "kubevirt.io/created-by": vmi_uid},
                     deletionTimestamp=None)
    ctx = context(client, STOP_SCALE)
    ctx.snapshots["before"] = Snapshot("Running", old_uid, "node01", [pod_uid], ["node01"], [""])
    ctx.values["new_vmi_uid"] = vmi_uid
    return ctx


def test_new_pod_is_found_by_the_new_vmi_uid_while_the_old_pod_terminates(lab: Lab, client: Cluster) -> None:
    vm_state.new_pod(_restarted(lab, client, new_pod=True))


def test_new_pod_fails_when_the_new_vmi_runs_in_the_old_pod(lab: Lab, client: Cluster) -> None:
    with pytest.raises(AssertionError, match="the restarted VM runs in the old launcher pod"):
        vm_state.new_pod(_restarted(lab, client, new_pod=False))


# ---------------------------------------------------------------- after the migration: the source pod ends


def _migrated(lab: Lab, client: Cluster, **source: Any) -> tuple[Any, str]:
    lab.vm("Running", created=True, ready=True)
    vmi_uid = lab.vmi("Running", node="node02")
    src_uid = lab.pod("virt-launcher-vm-src", vmi_uid, node="node01", **source)
    lab.pod("virt-launcher-vm-tgt", vmi_uid, node="node02")
    ctx = context(client, 0.05)  # source_pod_end 60 s → 3 s
    ctx.snapshots["before"] = Snapshot("Running", vmi_uid, "node01", [src_uid], ["node01"], [""])
    ctx.values["migration_source"] = "node01"
    return ctx, "virt-launcher-vm-src"


def test_the_source_pod_may_end_after_the_migration_succeeded(lab: Lab, client: Cluster) -> None:
    ctx, src = _migrated(lab, client)  # §10 W9: VMIM Succeeded while the source pod still runs
    fut = lab.start(migration.pods_after_migration, ctx)
    assert not fut.done()
    lab.pod_status(src, phase="Succeeded", containerStatuses=[terminated("compute", 0)])
    fut.result(timeout=10)


def test_a_source_pod_failed_by_its_console_log_container_is_accepted(lab: Lab, client: Cluster) -> None:
    ctx, _ = _migrated(lab, client, phase="Failed",
                       statuses=[terminated("compute", 0), terminated("guest-console-log", 1)])
    migration.pods_after_migration(ctx)  # KubeVirt v1.1–v1.5: kubevirt issues #10695, #15134


def test_a_source_pod_whose_compute_container_failed_fails_at_once(lab: Lab, client: Cluster) -> None:
    ctx, _ = _migrated(lab, client, phase="Failed", statuses=[terminated("compute", 2)])
    with pytest.raises(WaitFailed, match="stopped early, the source launcher pod virt-launcher-vm-src@node01:Failed "
                                         "failed: its compute container exited 2"):
        migration.pods_after_migration(ctx)


def test_a_source_pod_that_keeps_running_fails(lab: Lab, client: Cluster) -> None:
    ctx, _ = _migrated(lab, client)
    with pytest.raises(WaitFailed, match=r"the source launcher pod on node01 ends after the migration: not reached "
                                         r"within 3 s; observed virt-launcher-vm-src@node01:Running"):
        migration.pods_after_migration(ctx)


# ---------------------------------------------------------------- the stopped VM's volume


def test_the_volume_is_released_once_the_terminating_launcher_pod_goes(lab: Lab, client: Cluster) -> None:
    lab.vm("Stopped", created=True)
    vmi_uid = lab.vmi("Succeeded")
    lab.pod("virt-launcher-vm-abcde", vmi_uid, claim="data-rwx", hold=True)
    lab.delete(PODS, "virt-launcher-vm-abcde")
    ctx = context(client, STOP_SCALE)
    ctx.values["claim"] = "data-rwx"
    fut = lab.start(storage.no_pod_uses, ctx)
    assert not fut.done()
    lab.release(PODS, "virt-launcher-vm-abcde")
    fut.result(timeout=10)


def test_another_pod_mounting_the_stopped_vms_volume_fails_at_once(lab: Lab, client: Cluster) -> None:
    lab.vm("Stopped")
    lab.pod("datastore-mount-data-rwx-node01", new_uid(), claim="data-rwx", launcher=False)
    ctx = context(client, 1.0)
    ctx.values["claim"] = "data-rwx"
    with pytest.raises(WaitFailed, match="the stopped VM's volume data-rwx is still mounted by: "
                                         "datastore-mount-data-rwx-node01"):
        storage.no_pod_uses(ctx)
