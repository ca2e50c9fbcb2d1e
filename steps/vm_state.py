"""Then-steps about a VM's instance, pod and conditions."""

from __future__ import annotations

from vmconform.kube.kinds import VM
from vmconform.kube.waits import observe_unchanged, wait_for
from vmconform.ops import condition, is_ready, printable_status, uid, vmi_phase
from vmconform.scenario import ScenarioContext
from vmconform.status import COND_PAUSED, PHASE_RUNNING, REASON_PAUSED_BY_USER, RUNNING, STOPPED
from vmconform.vocabulary import then

from ._support import snapshot, wait_vm_status


@then("the VM has no VMI and no launcher pod", ko="가상머신에 VMI도 launcher 파드도 없습니다")
def no_vmi_no_pod(vmconform_scenario: ScenarioContext) -> None:
    vm = vmconform_scenario.require_vm()
    vmi = vm.vmi()
    assert vmi is None, f"the stopped VM still has a VMI in phase {vmi_phase(vmi)}"
    pods = [p["metadata"]["name"] for p in vm.all_launcher_pods()]
    assert not pods, f"the stopped VM still has launcher pods: {', '.join(pods)}"


@then("the VM is not Ready", ko="가상머신의 Ready 조건이 True가 아닙니다")
def vm_not_ready(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    obj = vm.get()
    ready_cond = condition(obj, "Ready")
    assert not is_ready(obj), f"the VM is still Ready (Ready={ready_cond})"
    assert not (obj or {}).get("status", {}).get("ready"), "the VM's status.ready is still true"


@then("the VM becomes Ready", ko="가상머신의 Ready 조건이 True가 됩니다")
def vm_becomes_ready(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    wait_for(ctx.cluster, VM, vm.namespace, vm.name, until=is_ready,
             describe=lambda o: f"Ready={(condition(o, 'Ready') or {}).get('status', 'missing')}",
             timeout=ctx.timeouts["pause"], what=f"VM {vm.name} becomes Ready")


@then("the VM stays Stopped with no VMI", ko="가상머신이 VMI 없이 Stopped 상태를 유지합니다")
def stays_stopped(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    observe_unchanged(ctx.cluster, VM, vm.namespace, vm.name,
                      holds=lambda o: printable_status(o) == STOPPED and not (o or {}).get("status", {}).get("created"),
                      describe=lambda o: f"{printable_status(o)} created={bool((o or {}).get('status', {}).get('created'))}",
                      seconds=ctx.timeouts["unchanged"], what=f"VM {vm.name} stays Stopped after rejected requests")
    vmi = vm.vmi()
    assert vmi is None, f"a rejected request still created a VMI (phase {vmi_phase(vmi)})"


def _compare(ctx: ScenarioContext, now_status: str) -> None:
    before = ctx.snapshots.get("before")
    assert before is not None, "no earlier note of the VM to compare with"
    now = snapshot(ctx.require_vm())
    assert now.vmi_uid == before.vmi_uid, (
        f"the VM's VMI was replaced (UID {before.vmi_uid} → {now.vmi_uid}): the VM was restarted, "
        f"its memory was not kept")
    assert now.vmi_node == before.vmi_node, f"the VMI moved from node {before.vmi_node} to {now.vmi_node}"
    assert now.pod_uids == before.pod_uids, (
        f"the launcher pod was replaced ({before.pod_uids} → {now.pod_uids}): the VM's process did not survive")
    assert now.vm_status == now_status, f"the VM is {now.vm_status}, expected {now_status}"


@then("the VM stays Running on the same VMI, node and launcher pod",
      ko="가상머신이 같은 VMI, 노드, launcher 파드에서 Running 상태를 유지합니다")
def stays_running_same(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    observe_unchanged(ctx.cluster, VM, vm.namespace, vm.name,
                      holds=lambda o: printable_status(o) == RUNNING, describe=printable_status,
                      seconds=ctx.timeouts["unchanged"], what=f"VM {vm.name} stays Running after a rejected start")
    _compare(ctx, RUNNING)


@then("the VM is on the same VMI, node and launcher pod", ko="가상머신이 같은 VMI, 노드, launcher 파드에 있습니다")
def same_vmi_pod(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    _compare(ctx, printable_status(ctx.require_vm().get()))


@then("the VMI is still Running with Paused=True because PausedByUser",
      ko="VMI는 여전히 Running이고 PausedByUser 사유로 Paused=True입니다")
def vmi_paused_condition(vmconform_scenario: ScenarioContext) -> None:
    vmi = vmconform_scenario.require_vm().vmi()
    assert vmi is not None, "the paused VM has no VMI"
    assert vmi_phase(vmi) == PHASE_RUNNING, f"a paused VMI must stay phase Running, it is {vmi_phase(vmi)}"
    cond = condition(vmi, COND_PAUSED)
    assert cond is not None and cond.get("status") == "True", (
        f"the VMI has no Paused=True condition (Paused={cond}): the VM was not paused")
    assert cond.get("reason") == REASON_PAUSED_BY_USER, (
        f"the VMI's Paused reason is {cond.get('reason')!r}, not {REASON_PAUSED_BY_USER!r}")
    assert not is_ready(vmi), "a paused VMI is still Ready"


@then("the launcher pod is still Running, not restarted, with the same memory request",
      ko="launcher 파드는 재시작 없이 여전히 Running이고 메모리는 할당된 상태로 유지됩니다")
def pod_kept(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    before = ctx.snapshots["before"]
    now = snapshot(ctx.require_vm())
    assert now.pod_uids == before.pod_uids, f"the launcher pod changed: {before.pod_uids} → {now.pod_uids}"
    assert now.pod_nodes == before.pod_nodes, f"the launcher pod moved: {before.pod_nodes} → {now.pod_nodes}"
    assert now.pod_memory == before.pod_memory, (
        f"the launcher pod's memory request changed: {before.pod_memory} → {now.pod_memory}")
    for pod in ctx.require_vm().launcher_pods(now.vmi_uid):
        restarts = sum(int(s.get("restartCount", 0)) for s in (pod.get("status") or {}).get("containerStatuses") or [])
        assert restarts == 0, f"the launcher pod {pod['metadata']['name']} restarted {restarts} time(s)"


@then("the VMI has no Paused condition", ko="VMI에 Paused 조건이 없습니다")
def no_paused_condition(vmconform_scenario: ScenarioContext) -> None:
    vmi = vmconform_scenario.require_vm().vmi()
    cond = condition(vmi, COND_PAUSED)
    assert cond is None or cond.get("status") != "True", f"the VMI still has Paused={cond.get('status')} after unpause"


@then("the VM gets a new VMI with the same name", ko="가상머신에 같은 이름의 새 VMI가 생깁니다")
def new_vmi(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    before = ctx.snapshots["before"]
    vm = ctx.require_vm()
    from vmconform.kube.kinds import VMI

    def replaced(o):  # type: ignore[no-untyped-def]
        return o is not None and uid(o) != before.vmi_uid and vmi_phase(o) == PHASE_RUNNING

    wait_for(ctx.cluster, VMI, vm.namespace, vm.name, until=replaced,
             describe=lambda o: "<gone>" if o is None else f"{'same' if uid(o) == before.vmi_uid else 'new'} VMI {vmi_phase(o)}",
             timeout=ctx.timeouts["vm_restart"], what=f"VM {vm.name} restarts into a new VMI")


@then("the new VMI runs in a new launcher pod", ko="새 VMI는 새 launcher 파드에서 실행됩니다")
def new_pod(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    before = ctx.snapshots["before"]
    now = snapshot(ctx.require_vm())
    assert now.vmi_uid != before.vmi_uid, "the VMI was not replaced"
    assert now.pod_uids and not set(now.pod_uids) & set(before.pod_uids), (
        f"the restarted VM runs in the old launcher pod {before.pod_uids}")
    wait_vm_status(ctx, RUNNING)
