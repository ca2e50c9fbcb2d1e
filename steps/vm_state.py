"""Then-steps about a VM's instance, pod and conditions."""

from __future__ import annotations

import time
from typing import Any

from vmconform.kube.kinds import POD, VM, VMI
from vmconform.kube.waits import observe_unchanged, wait_for, wait_for_list
from vmconform.ops import (condition, deleting, describe_pod, is_final, is_ready, owned_by_vmi_named, pod_live,
                           printable_status, uid, vmi_phase)
from vmconform.scenario import ScenarioContext
from vmconform.status import (COND_PAUSED, LABEL_CREATED_BY, PHASE_RUNNING, REASON_PAUSED_BY_USER, RUNNING,
                              SELECT_LAUNCHERS, STOPPED)
from vmconform.vocabulary import then

from ._support import after_verb_timeout, snapshot, wait_vm_status


def _vmi_state(o: Any) -> str:
    if o is None:
        return "<gone>"
    return f"{vmi_phase(o)}{' (deleting)' if deleting(o) else ''}"


def _created(o: Any) -> bool:
    return bool(((o or {}).get("status") or {}).get("created"))


def _wait_vmi_gone(ctx: ScenarioContext, timeout: float, what: str) -> None:
    """A Stopped VM's VMI is final but may still exist until its launcher pods are gone (§10 W1, W2).

    It only ever goes: a VMI that is not final (a new one) means something started the VM again."""
    vm = ctx.require_vm()
    wait_for(ctx.cluster, VMI, vm.namespace, vm.name, until=lambda o: o is None, describe=_vmi_state,
             timeout=timeout, what=what,
             terminal=lambda o: None if o is None or is_final(o) else
             f"the stopped VM has a live VMI in phase {vmi_phase(o)}")


@then("the VM has no VMI and no launcher pod", ko="가상머신에 VMI도 launcher 파드도 없습니다")
def no_vmi_no_pod(vmconform_scenario: ScenarioContext) -> None:
    """Waits (vm_stop) for the final VMI and its Terminating launcher pods to go: KubeVirt shows Stopped
    as soon as the VMI is final, before either is removed (§10 W1, W2)."""
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    deadline = time.monotonic() + ctx.timeouts["vm_stop"]
    _wait_vmi_gone(ctx, ctx.timeouts["vm_stop"], f"the VMI of the stopped VM {vm.name} is gone")

    def mine(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for p in pods if owned_by_vmi_named(p, vm.name)]

    wait_for_list(ctx.cluster, POD, vm.namespace, labels=SELECT_LAUNCHERS, until=lambda pods: not mine(pods),
                  describe=lambda pods: ", ".join(describe_pod(p) for p in mine(pods)) or "no launcher pods",
                  timeout=max(0.0, deadline - time.monotonic()),
                  what=f"the launcher pods of the stopped VM {vm.name} are gone")


@then("the VM is not Ready", ko="가상머신의 Ready 조건이 True가 아닙니다")
def vm_not_ready(vmconform_scenario: ScenarioContext) -> None:
    """Waits for Ready to turn False: the VM copies the VMI's Ready, which follows the pod's readiness
    (after pause: §10 W7) or lingers on a final VMI (after stop, W1) — KubeVirt's own tests use Eventually."""
    ctx = vmconform_scenario
    vm = ctx.require_vm()

    def ready_fields(o: Any) -> str:
        st = (o or {}).get("status") or {}
        return f"Ready={(condition(o, 'Ready') or {}).get('status', 'missing')} status.ready={bool(st.get('ready'))}"

    wait_for(ctx.cluster, VM, vm.namespace, vm.name,
             until=lambda o: not is_ready(o) and not ((o or {}).get("status") or {}).get("ready"),
             describe=ready_fields, timeout=after_verb_timeout(ctx, "vm_stop"), what=f"VM {vm.name} is not Ready")


@then("the VM becomes Ready", ko="가상머신의 Ready 조건이 True가 됩니다")
def vm_becomes_ready(vmconform_scenario: ScenarioContext) -> None:
    """Waits, bounded by the last verb's timeout (unpause: pause, start: vm_start): Ready follows the
    pod's readiness (§10 W8)."""
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    wait_for(ctx.cluster, VM, vm.namespace, vm.name, until=is_ready,
             describe=lambda o: f"Ready={(condition(o, 'Ready') or {}).get('status', 'missing')}",
             timeout=after_verb_timeout(ctx, "pause"), what=f"VM {vm.name} becomes Ready")


@then("the VM stays Stopped with no VMI", ko="가상머신이 VMI 없이 Stopped 상태를 유지합니다")
def stays_stopped(vmconform_scenario: ScenarioContext) -> None:
    """The rejected requests changed nothing: the VM stays Stopped throughout, its final VMI goes (§10 W1)
    and ``status.created`` turns false once the VM controller sees it gone; then nothing changes."""
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    deadline = time.monotonic() + ctx.timeouts["vm_stop"]
    _wait_vmi_gone(ctx, ctx.timeouts["vm_stop"], f"the final VMI of the stopped VM {vm.name} is gone")

    def describe(o: Any) -> str:
        return f"{printable_status(o)} created={_created(o)}"

    wait_for(ctx.cluster, VM, vm.namespace, vm.name, until=lambda o: printable_status(o) == STOPPED and not _created(o),
             describe=describe, timeout=max(0.0, deadline - time.monotonic()),
             what=f"VM {vm.name} shows Stopped with no VMI",
             terminal=lambda o: None if printable_status(o) == STOPPED else
             f"the VM is {printable_status(o)} after rejected requests")
    observe_unchanged(ctx.cluster, VM, vm.namespace, vm.name,
                      holds=lambda o: printable_status(o) == STOPPED and not _created(o), describe=describe,
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
    """Paused=True is certain once the VM shows Paused (the VM derives Paused from it); the VMI's Ready
    turns False later, through the pod's readiness gate (§10 W7), so that part waits (pause)."""
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    vmi = vm.vmi()
    assert vmi is not None, "the paused VM has no VMI"
    assert vmi_phase(vmi) == PHASE_RUNNING, f"a paused VMI must stay phase Running, it is {vmi_phase(vmi)}"
    cond = condition(vmi, COND_PAUSED)
    assert cond is not None and cond.get("status") == "True", (
        f"the VMI has no Paused=True condition (Paused={cond}): the VM was not paused")
    assert cond.get("reason") == REASON_PAUSED_BY_USER, (
        f"the VMI's Paused reason is {cond.get('reason')!r}, not {REASON_PAUSED_BY_USER!r}")

    def describe(o: Any) -> str:
        return (f"{_vmi_state(o)} Paused={(condition(o, COND_PAUSED) or {}).get('status', 'missing')} "
                f"Ready={(condition(o, 'Ready') or {}).get('status', 'missing')}")

    def left_pause(o: Any) -> str | None:
        if o is None or uid(o) != uid(vmi) or vmi_phase(o) != PHASE_RUNNING \
                or (condition(o, COND_PAUSED) or {}).get("status") != "True":
            return f"the paused VMI changed to {describe(o)}"
        return None

    wait_for(ctx.cluster, VMI, vm.namespace, vm.name, until=lambda o: o is not None and not is_ready(o),
             describe=describe, timeout=ctx.timeouts["pause"], what="a paused VMI is no longer Ready",
             terminal=left_pause)


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

    def replaced(o):  # type: ignore[no-untyped-def]
        return o is not None and uid(o) != before.vmi_uid and vmi_phase(o) == PHASE_RUNNING

    obj, _ = wait_for(ctx.cluster, VMI, vm.namespace, vm.name, until=replaced,
                      describe=lambda o: "<gone>" if o is None else
                      f"{'same' if uid(o) == before.vmi_uid else 'new'} VMI {vmi_phase(o)}",
                      timeout=ctx.timeouts["vm_restart"], what=f"VM {vm.name} restarts into a new VMI")
    ctx.values["new_vmi_uid"] = uid(obj)


@then("the new VMI runs in a new launcher pod", ko="새 VMI는 새 launcher 파드에서 실행됩니다")
def new_pod(vmconform_scenario: ScenarioContext) -> None:
    """The new VMI's pods are the ones labelled with its UID (kubevirt.io/created-by); the old launcher
    pod may still be Terminating next to them (§10 W2, W6) and is no concern of this step."""
    ctx = vmconform_scenario
    before = ctx.snapshots["before"]
    vm = ctx.require_vm()
    new_uid = ctx.values.get("new_vmi_uid") or uid(vm.vmi())
    assert new_uid and new_uid != before.vmi_uid, "the VMI was not replaced"
    pods, _ = wait_for_list(ctx.cluster, POD, vm.namespace, labels=f"{LABEL_CREATED_BY}={new_uid}",
                            until=lambda pods: any(pod_live(p) for p in pods),
                            describe=lambda pods: ", ".join(describe_pod(p) for p in pods) or "no pods",
                            timeout=ctx.timeouts["vm_restart"], what=f"a launcher pod of the new VMI {new_uid} runs")
    running = sorted(uid(p) or "" for p in pods if pod_live(p))
    assert not set(running) & set(before.pod_uids), (
        f"the restarted VM runs in the old launcher pod {before.pod_uids}")
    wait_vm_status(ctx, RUNNING)
