"""Live-migration steps: migrate, wait for the migration, and what must be true afterwards."""

from __future__ import annotations

import time
from typing import Any

import pytest

from vmconform import reporting
from vmconform.kube.kinds import POD, VM, VMI, VMIM
from vmconform.kube.waits import (Recorder, SetRecorder, begin_all, observe_unchanged, wait_for,
                                  wait_for_list)
from vmconform.ops import (condition, describe_pod, exit_code, pod_ended, pod_live, pod_node, pod_phase,
                           printable_status, uid, vmi_phase)
from vmconform.scenario import ScenarioContext
from vmconform.status import (COND_LIVE_MIGRATABLE, CONTAINER_COMPUTE, LABEL_CREATED_BY, LABEL_NODE_NAME, MIG_FAILED,
                              MIG_SUCCEEDED, MSG_RWX_REQUIRED, POD_FAILED, POD_RUNNING,
                              REASON_DISKS_NOT_LIVE_MIGRATABLE, RUNNING, SELECT_LAUNCHERS)
from vmconform.vocabulary import then, when

from ._migrating import judge, vmi_migration_state
from ._support import snapshot_of

# ctx.values["recorded"] holds the recorders' timelines in this order
RECORDED_VM, RECORDED_PODS, RECORDED_VMI = 0, 1, 2


def _pods_summary(claim: str | None):  # type: ignore[no-untyped-def]
    def summarize(pods: list[dict[str, Any]]) -> str:
        rows = []
        for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
            if claim is not None and not _uses_claim(p, claim):
                continue
            rows.append(f"{p['metadata']['name']}@{(p.get('spec') or {}).get('nodeName', '?')}:"
                        f"{(p.get('status') or {}).get('phase', '?')}")
        return ", ".join(rows) or "no pods"
    return summarize


def _uses_claim(pod: dict[str, Any], claim: str) -> bool:
    return any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim
               for v in (pod.get("spec") or {}).get("volumes") or [])


@when("I migrate the VM", ko="가상머신을 마이그레이션합니다")
def migrate(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    claim = ctx.values.get("claim")
    rec = Recorder(ctx.cluster, VM, vm.namespace, vm.name, printable_status, f"VM {vm.name} during migration")
    pods = SetRecorder(ctx.cluster, POD, vm.namespace, _pods_summary(claim),
                       "launcher pods during migration" + (f" (claim {claim})" if claim else ""),
                       labels=SELECT_LAUNCHERS)
    vmi = Recorder(ctx.cluster, VMI, vm.namespace, vm.name, vmi_migration_state, f"VMI {vm.name} during migration")
    recorders = (rec, pods, vmi)
    begin_all(recorders)
    # what the VM was before the migration: the recorders' first LISTs (VM, launcher pods, VMI)
    before = snapshot_of(next(iter(rec.initial), None), next(iter(vmi.initial), None), pods.initial)
    ctx.snapshots.setdefault("before", before)
    ctx.values["migration_source"] = before.vmi_node
    ctx.values["recorders"] = recorders
    ctx.values["migration_started"] = time.monotonic()
    try:
        ctx.answer = vm.migrate()
    finally:
        for r in recorders:  # their watches start from before the request: nothing is missed
            r.follow()
    ctx.answers["migrate"] = ctx.answer


def _stop_recorders(ctx: ScenarioContext) -> None:
    recs = ctx.values.pop("recorders", None)
    if recs:
        ctx.values["recorded"] = [r.stop() for r in recs]


@then("the migrate request is rejected", ko="마이그레이션 요청이 거부됩니다")
def migrate_rejected(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    _stop_recorders(ctx)
    ans = ctx.answer
    assert ans is not None
    assert not ans.ok, (f"migration of a VM with a ReadWriteOnce volume was accepted (HTTP {ans.code}); "
                        f"live migration needs ReadWriteMany storage")
    assert REASON_DISKS_NOT_LIVE_MIGRATABLE in ans.message, (
        f"the migrate request was rejected, but not for its disks: {ans.describe()}")


@then("the migration succeeds", ko="마이그레이션이 성공합니다")
def migration_succeeds(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    ans = ctx.answer
    assert ans is not None and ans.ok, f"the migrate request was rejected: {ans.describe() if ans else 'none'}"
    migs = vm.migrations()
    assert migs, "the migrate request created no VirtualMachineInstanceMigration"
    mig = sorted(migs, key=lambda m: m["metadata"].get("creationTimestamp", ""))[-1]
    name = mig["metadata"]["name"]
    ctx.values["migration"] = name

    def phase(o: Any) -> str:
        return "<gone>" if o is None else str((o.get("status") or {}).get("phase") or "<unset>")

    try:
        wait_for(ctx.cluster, VMIM, vm.namespace, name, until=lambda o: phase(o) == MIG_SUCCEEDED, describe=phase,
                 timeout=ctx.timeouts["migration"], what=f"migration {name} of VM {vm.name} succeeds",
                 terminal=lambda o: "the migration Failed" if phase(o) == MIG_FAILED else
                 ("the migration object disappeared" if o is None else None))
        ctx.transition("migration", time.monotonic() - ctx.values.get("migration_started", time.monotonic()))
        wait_for(ctx.cluster, VM, vm.namespace, vm.name, until=lambda o: printable_status(o) == RUNNING,
                 describe=printable_status, timeout=ctx.timeouts["vmi_running_after_migration"],
                 what=f"VM {vm.name} Running after migration")
    finally:
        _stop_recorders(ctx)


@then("the migration was reported in progress (Migrating) and the VM is Running again",
      ko="마이그레이션이 진행 중(Migrating)으로 보고된 뒤 가상머신이 다시 Running 상태로 돌아갑니다")
def reported_migrating(vmconform_scenario: ScenarioContext) -> None:
    """The VM showed Migrating — or its VMI's memory transfer was shorter than a VM status update may take
    (``status_lag``), see steps/_migrating.py and docs/fidelity.md (suite); the report says which."""
    ctx = vmconform_scenario
    recorded = ctx.values["recorded"]
    vm_tl, vmi_tl = recorded[RECORDED_VM], recorded[RECORDED_VMI]
    vm = ctx.require_vm()
    j = judge(vm_tl, vmi_tl, vm.vmi(), ctx.timeouts["status_lag"])
    reporting.attach_text("Migrating: evidence", f"{j.verdict}: {j.explanation}\n\nVM: {vm_tl.render()}\n"
                                                 f"VMI: {vmi_tl.render()}\n")
    if j.verdict == "inconclusive":
        pytest.skip(j.explanation)
    assert j.passed, f"{j.explanation}; observed VM {vm_tl.render()}; VMI {vmi_tl.render()}"
    assert vm_tl.states[-1] == RUNNING, f"after migration the VM is {vm_tl.states[-1]}, not Running"


@then("the VMI runs on another node than before", ko="VMI는 이전과 다른 노드에서 실행됩니다")
def other_node(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vmi = ctx.require_vm().vmi()
    source = ctx.values["migration_source"]
    node = ((vmi or {}).get("status") or {}).get("nodeName")
    assert node and node != source, f"the migration succeeded but the VMI is still on node {source}"
    label = ((vmi or {}).get("metadata", {}).get("labels") or {}).get(LABEL_NODE_NAME)
    assert label == node, f"the VMI's kubevirt.io/nodeName label is {label}, its status.nodeName {node}"


@then("the VMI's migration state is completed, not failed, from the old node to the new node",
      ko="VMI의 마이그레이션 상태는 실패 없이 완료이고 이전 노드에서 새 노드로 기록됩니다")
def migration_state(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vmi = ctx.require_vm().vmi() or {}
    ms = (vmi.get("status") or {}).get("migrationState") or {}
    assert ms, "the VMI has no status.migrationState after the migration"
    assert ms.get("completed") is True, f"migrationState.completed is {ms.get('completed')}"
    assert not ms.get("failed"), f"migrationState.failed is {ms.get('failed')}"
    assert ms.get("sourceNode") == ctx.values["migration_source"], (
        f"migrationState.sourceNode is {ms.get('sourceNode')}, the VMI ran on {ctx.values['migration_source']}")
    assert ms.get("targetNode") == (vmi.get("status") or {}).get("nodeName"), (
        f"migrationState.targetNode {ms.get('targetNode')} differs from the VMI's node")
    for key in ("startTimestamp", "endTimestamp"):
        assert ms.get(key), f"migrationState.{key} is missing"


@then("the VMI is the same instance, not restarted", ko="VMI는 재시작되지 않은 같은 인스턴스입니다")
def same_instance(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    before = ctx.snapshots["before"]
    vmi = ctx.require_vm().vmi()
    assert uid(vmi) == before.vmi_uid, (
        f"the VMI was replaced during migration (UID {before.vmi_uid} → {uid(vmi)}): the VM was restarted, "
        f"not live-migrated")


@then("the target launcher pod is Running on the new node and the source pod has ended",
      ko="대상 launcher 파드는 새 노드에서 Running이고 소스 파드는 종료되었습니다")
def pods_after_migration(vmconform_scenario: ScenarioContext) -> None:
    """The target pod runs on the new node; the source pod ends *after* the migration succeeded (§10 W9),
    so this waits (``source_pod_end``) for it to be Completed (Succeeded), Failed with a compute container
    that exited 0 (the console-log container's exit fails it on KubeVirt v1.1–v1.5), or gone."""
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    vmi = vm.vmi() or {}
    node = (vmi.get("status") or {}).get("nodeName")
    source = ctx.values["migration_source"]
    before = ctx.snapshots["before"]

    def target(pods: list[dict[str, Any]]) -> bool:
        return any(pod_node(p) == node and pod_live(p) for p in pods)

    def sources(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for p in pods if uid(p) in before.pod_uids]

    def failed_compute(pods: list[dict[str, Any]]) -> str | None:
        for p in sources(pods):
            code = exit_code(p, CONTAINER_COMPUTE)
            if pod_phase(p) == POD_FAILED and code not in (None, 0):
                return f"the source launcher pod {describe_pod(p)} failed: its compute container exited {code}"
        return None

    describe = lambda pods: ", ".join(describe_pod(p) for p in pods) or "no pods"  # noqa: E731
    pods, _ = wait_for_list(ctx.cluster, POD, vm.namespace, labels=f"{LABEL_CREATED_BY}={uid(vmi)}",
                            until=lambda pods: target(pods) and all(pod_ended(p) for p in sources(pods))
                            and failed_compute(pods) is None,
                            describe=describe, timeout=ctx.timeouts["source_pod_end"],
                            what=f"the source launcher pod on {source} ends after the migration",
                            terminal=failed_compute)
    ended = sources(pods)
    reporting.attach_text("source launcher pod", ", ".join(
        f"{describe_pod(p)} (compute exited {exit_code(p, CONTAINER_COMPUTE)})" for p in ended) or "gone")


@then("the VMI is not live-migratable because its disks are not shared",
      ko="디스크가 공유되지 않으므로 VMI는 라이브 마이그레이션할 수 없습니다")
def not_migratable(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vmi = ctx.require_vm().vmi()
    cond = condition(vmi, COND_LIVE_MIGRATABLE)
    assert cond is not None, "the VMI has no LiveMigratable condition"
    assert cond.get("status") == "False", (
        f"a VMI with a ReadWriteOnce volume is reported LiveMigratable={cond.get('status')}; "
        f"live migration needs ReadWriteMany storage")
    assert cond.get("reason") == REASON_DISKS_NOT_LIVE_MIGRATABLE, f"LiveMigratable reason is {cond.get('reason')}"
    assert MSG_RWX_REQUIRED in (cond.get("message") or ""), f"LiveMigratable message: {cond.get('message')}"


@then("the VMI is live-migratable", ko="VMI는 라이브 마이그레이션할 수 있습니다")
def migratable(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    wait_for(ctx.cluster, VMI, vm.namespace, vm.name,
             until=lambda o: (condition(o, COND_LIVE_MIGRATABLE) or {}).get("status") == "True",
             describe=lambda o: f"LiveMigratable={(condition(o, COND_LIVE_MIGRATABLE) or {}).get('status', 'missing')}",
             timeout=ctx.timeouts["vm_start"], what=f"VMI {vm.name} is live-migratable")


@then("the VM stays Running on the same node", ko="가상머신이 같은 노드에서 Running 상태를 유지합니다")
def stays_on_node(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    source = ctx.values["migration_source"]
    observe_unchanged(ctx.cluster, VMI, vm.namespace, vm.name,
                      holds=lambda o: vmi_phase(o) == "Running" and (o.get("status") or {}).get("nodeName") == source,
                      describe=lambda o: f"{vmi_phase(o)} on {((o or {}).get('status') or {}).get('nodeName')}",
                      seconds=ctx.timeouts["unchanged"], what=f"VM {vm.name} stays on {source}")
    assert printable_status(vm.get()) == RUNNING


@then("during the migration the source and target launcher pods used the volume at the same time",
      ko="마이그레이션 중에 소스와 대상 launcher 파드가 볼륨을 동시에 사용했습니다")
def both_pods_used_volume(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    pods_tl = ctx.values["recorded"][1]
    source = ctx.values["migration_source"]
    both = [s for s in pods_tl.states
            if s.count(f":{POD_RUNNING}") >= 2 and f"@{source}:{POD_RUNNING}" in s]
    assert both, (f"the source and target launcher pods never used the claim at the same time: "
                  f"observed {pods_tl.render()}")
