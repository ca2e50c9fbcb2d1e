"""Node maintenance: evicting a VM's launcher pod (as ``kubectl drain`` does) and draining a node.

KubeVirt answers an eviction by its VM's eviction strategy (``docs/handling-eviction-requests.md``):
LiveMigrate refuses it with 429 and live-migrates the VM; a VM that cannot be live-migrated is never
evicted with LiveMigrate, and is evicted (then restarted by its run strategy) with LiveMigrateIfPossible.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from vmconform import maintenance, reporting
from vmconform.kube.client import ClusterUnreachable
from vmconform.kube.kinds import KUBEVIRT, NODE, VM, VMI, VMIM
from vmconform.kube.waits import Recorder, SetRecorder, wait_for
from vmconform.ops import VirtualMachine, printable_status, uid, vmi_phase
from vmconform.scenario import ScenarioContext
from vmconform.specs import Spec
from vmconform.status import RUNNING, STOPPED
from vmconform.timeouts import DRAIN_RETRY_SECONDS
from vmconform.vocabulary import Param, given, then, when

from ._support import snapshot, snapshots, vm_spec, wait_vm_status

STRATEGY = Param("strategy", "a VM's eviction strategy (spec.evictionStrategy)",
                 choices={s: s for s in ("LiveMigrate", "LiveMigrateIfPossible", "None", "External")},
                 example="LiveMigrate")
MIG_ACTIVE = ("Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running")
DEFAULT_OUTBOUND_LIMIT, DEFAULT_CLUSTER_LIMIT = 2, 5  # KubeVirt's defaults (virt-config)
MAX_DRAIN_VMS = 6  # a cluster with a larger per-node limit is drained with this many VMs
EVICT = "evict"


def _with_strategy(strategy: str) -> Any:
    def apply(vm: Spec) -> None:
        vm["spec"]["template"]["spec"]["evictionStrategy"] = strategy
    return apply


def _with_node_selector(labels: dict[str, str]) -> Any:
    def apply(vm: Spec) -> None:
        vm["spec"]["template"]["spec"].setdefault("nodeSelector", {}).update(labels)
    return apply


def _describe_vmi(o: Any) -> str:
    if o is None:
        return "<gone>"
    st = o.get("status") or {}
    return (f"{vmi_phase(o)} on {st.get('nodeName') or '-'}, evacuation {st.get('evacuationNodeName') or '-'}, "
            f"uid {str(uid(o))[:8]}")


def _ask_start(ctx: ScenarioContext, vm: VirtualMachine) -> None:
    """Start a new VM once it reads Stopped (``ctx.vm`` is the VM the wait follows)."""
    ctx.vm = vm
    wait_vm_status(ctx, STOPPED)
    ans = vm.start()
    assert ans.ok, f"start of {vm.name} refused: {ans.describe()}"


def _start(ctx: ScenarioContext, vm: VirtualMachine) -> None:
    _ask_start(ctx, vm)
    wait_vm_status(ctx, RUNNING)
    ctx.values["migration_source"] = ((vm.vmi() or {}).get("status") or {}).get("nodeName")


@given("a running VM with eviction strategy {strategy}", ko="퇴거 전략(evictionStrategy)이 {strategy}인 실행 중인 가상머신이 있습니다",
       params=[STRATEGY])
def running_vm_with_strategy(vmconform_scenario: ScenarioContext, strategy: str) -> None:
    ctx = vmconform_scenario
    _start(ctx, ctx.create_vm(vm_spec(ctx, _with_strategy(strategy))))


@given("a running VM with a ReadWriteOnce data volume and eviction strategy {strategy}",
       ko="ReadWriteOnce 데이터 볼륨과 퇴거 전략 {strategy}를 가진 실행 중인 가상머신이 있습니다", params=[STRATEGY])
def running_rwo_vm_with_strategy(vmconform_scenario: ScenarioContext, strategy: str) -> None:
    from vmconform import specs

    ctx = vmconform_scenario
    sc = ctx.session.facts.rwo_class
    assert sc, "no storage class for ReadWriteOnce"
    ctx.create_pvc(specs.new_pvc("data-rwo", sc, "ReadWriteOnce"))
    ctx.values["claim"] = "data-rwo"
    _start(ctx, ctx.create_vm(vm_spec(ctx, specs.with_pvc_disk("data-rwo"), _with_strategy(strategy))))


@when("I evict the VM's launcher pod", ko="가상머신의 launcher 파드를 퇴거(evict)합니다")
def evict_launcher(vmconform_scenario: ScenarioContext) -> None:
    """One policy/v1 Eviction of the running VMI's launcher pod, recording the VMI from just before."""
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    before = snapshot(vm)
    ctx.snapshots.setdefault("before", before)
    assert before.vmi_uid and len(before.pod_uids) == 1, f"the VM has no single launcher pod: {before}"
    pod = next(p for p in vm.launcher_pods(before.vmi_uid) if uid(p) == before.pod_uids[0])
    _, ctx.values["vmi_rv_before"] = ctx.cluster.list(VMI, vm.namespace, fields=f"metadata.name={vm.name}")
    rec = Recorder(ctx.cluster, VMI, vm.namespace, vm.name, _describe_vmi, f"VMI {vm.name} after the eviction")
    rec.__enter__()
    ctx.values["evict_recorder"] = rec
    ctx.values["evicted_pod"] = pod["metadata"]["name"]
    ctx.values["evict_started"] = time.monotonic()
    ctx.answer = maintenance.evict(ctx.cluster, vm.namespace, pod["metadata"]["name"])
    ctx.answers[EVICT] = ctx.answer
    reporting.attach_text("eviction answer", ctx.answer.describe())


def _vmi_timeline(ctx: ScenarioContext) -> str:
    rec = ctx.values.pop("evict_recorder", None)
    if rec is not None:
        ctx.values["vmi_timeline"] = rec.stop()
    tl = ctx.values.get("vmi_timeline")
    return tl.render() if tl is not None else "(not recorded)"


@then("the eviction is refused with 429 and the VM is marked for evacuation",
      ko="퇴거 요청이 429로 거부되고 가상머신이 대피(evacuation) 대상으로 표시됩니다")
def refused_and_marked(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    ans = ctx.answers[EVICT]
    source = ctx.values["migration_source"]
    assert not ans.ok, (f"the eviction of a LiveMigrate VM's launcher pod was granted (HTTP {ans.code}); KubeVirt "
                        f"refuses it with 429 and live-migrates the VM")
    assert ans.code == 429 and "evacuation" in ans.message, (
        f"the eviction was refused, but not by an evacuation: {ans.describe()}")
    vm = ctx.require_vm()
    seen, complete = _changes_since(ctx, vm.name, ctx.values["vmi_rv_before"],
                                    lambda o: ((o or {}).get("status") or {}).get("evacuationNodeName") == source)
    marked = any(f"evacuation {source}," in state for state in seen)
    if not marked and not complete:
        # the watch lost events (history expired): the recorder, which re-lists, may still have seen it
        rec = ctx.values.get("evict_recorder")
        marked = rec is not None and any(f"evacuation {source}," in st for st in rec.timeline.states)
        if not marked:
            reporting.attach_text("evacuation mark", "the VMI's watch lost events after the eviction; the mark is "
                                                     "taken from the 429 answer, which KubeVirt gives after marking")
            return
    assert marked, (f"the VMI was never marked for evacuation from {source} (status.evacuationNodeName); observed "
                    f"{' → '.join(seen) or 'no change'}")


def _changes_since(ctx: ScenarioContext, name: str, rv: str, found: Any) -> tuple[list[str], bool]:
    """Every state of the VMI since ``rv`` (resuming dropped watches) until ``found(obj)`` or ``status_lag``;
    and whether the history was complete (no 410 Gone)."""
    seen: list[str] = []
    deadline = time.monotonic() + ctx.timeouts["status_lag"]
    while time.monotonic() < deadline:
        try:
            for ev in ctx.cluster.watch(VMI, ctx.namespace, rv, fields=f"metadata.name={name}",
                                        timeout_seconds=max(1, int(deadline - time.monotonic()))):
                obj = ev.get("object") or {}
                if ev.get("type") == "ERROR":
                    return seen, False
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if ev.get("type") in ("ADDED", "MODIFIED"):
                    seen.append(_describe_vmi(obj))
                    if found(obj):
                        return seen, True
        except ClusterUnreachable as exc:
            seen.append(f"(watch interrupted: {exc})")
            threading.Event().wait(0.2)  # retry backoff after a dropped connection
    return seen, True


@then("the VM is live-migrated to another node and is Running",
      ko="가상머신이 다른 노드로 라이브 마이그레이션되고 Running 상태가 됩니다")
def migrated_away(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    before = ctx.snapshots["before"]
    source = ctx.values["migration_source"]

    def node(o: Any) -> str:
        return str(((o or {}).get("status") or {}).get("nodeName") or "")

    def terminal(o: Any) -> str | None:
        if o is not None and uid(o) != before.vmi_uid:
            return (f"the VMI was replaced during migration (UID {before.vmi_uid} → {uid(o)}): the VM was "
                    f"restarted, not live-migrated")
        ms = ((o or {}).get("status") or {}).get("migrationState") or {}
        if ms.get("completed") and not ms.get("failed") and node(o) == source:
            return f"the migration succeeded but the VMI is still on node {source}"
        return None

    try:
        wait_for(ctx.cluster, VMI, vm.namespace, vm.name,
                 until=lambda o: o is not None and uid(o) == before.vmi_uid and node(o) not in ("", source)
                 and vmi_phase(o) == RUNNING, describe=_describe_vmi, timeout=ctx.timeouts["migration"],
                 what=f"VM {vm.name} is live-migrated away from {source}", terminal=terminal)
        ctx.transition("evacuation", time.monotonic() - ctx.values.get("evict_started", time.monotonic()))
        wait_for(ctx.cluster, VM, vm.namespace, vm.name,
                 until=lambda o: printable_status(o) == RUNNING, describe=printable_status,
                 timeout=ctx.timeouts["vmi_running_after_migration"], what=f"VM {vm.name} Running after evacuation")
    finally:
        reporting.attach_text("VMI after the eviction", _vmi_timeline(ctx))


@then("the VMI is no longer marked for evacuation", ko="VMI의 대피 표시(evacuationNodeName)가 지워졌습니다")
def evacuation_cleared(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    wait_for(ctx.cluster, VMI, vm.namespace, vm.name,
             until=lambda o: o is not None and not (o.get("status") or {}).get("evacuationNodeName"),
             describe=_describe_vmi, timeout=ctx.timeouts["vmi_running_after_migration"],
             what=f"VMI {vm.name}'s status.evacuationNodeName cleared after the migration")


@then("the eviction is refused with 429 because the VM is not live-migratable",
      ko="가상머신을 라이브 마이그레이션할 수 없으므로 퇴거 요청이 429로 거부됩니다")
def refused_not_migratable(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    ans = ctx.answers[EVICT]
    _vmi_timeline(ctx)
    assert not ans.ok, (f"the eviction of a LiveMigrate VM that cannot be live-migrated was granted (HTTP {ans.code}); "
                        f"KubeVirt never evicts it")
    assert ans.code == 429 and "not live-migratable" in ans.message, (
        f"the eviction was refused, but not because the VM cannot be live-migrated: {ans.describe()}")


@then("the eviction is granted", ko="퇴거 요청이 수락됩니다")
def eviction_granted(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    ans = ctx.answers[EVICT]
    assert ans.ok, (f"the eviction of a VM that cannot be live-migrated, with LiveMigrateIfPossible, was refused: "
                    f"{ans.describe()}; KubeVirt lets it through")


@then("the VM is restarted as a new VMI that runs again", ko="가상머신이 새 VMI로 다시 시작되어 Running 상태가 됩니다")
def restarted(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    before = ctx.snapshots["before"]
    try:
        wait_for(ctx.cluster, VMI, vm.namespace, vm.name,
                 until=lambda o: o is not None and uid(o) != before.vmi_uid and vmi_phase(o) == RUNNING,
                 describe=_describe_vmi, timeout=ctx.timeouts["vm_restart"],
                 what=f"VM {vm.name} restarts into a new VMI after its eviction")
    finally:
        reporting.attach_text("VMI after the eviction", _vmi_timeline(ctx))
    wait_vm_status(ctx, RUNNING, "vm_restart")
    new = vm.vmi() or {}
    reporting.attach_text("restart", f"VMI {before.vmi_uid} on {before.vmi_node} → {uid(new)} on "
                                     f"{(new.get('status') or {}).get('nodeName')}")


# ---------------------------------------------------------------- drain (disruptive: --allow-disruptive)


def migration_limits(ctx: ScenarioContext) -> tuple[int, int]:
    """(parallelOutboundMigrationsPerNode, parallelMigrationsPerCluster) of the KubeVirt CR."""
    items, _ = ctx.cluster.list(KUBEVIRT)
    cfg = (((items[0] if items else {}).get("spec") or {}).get("configuration") or {}).get("migrations") or {}
    return (int(cfg.get("parallelOutboundMigrationsPerNode") or DEFAULT_OUTBOUND_LIMIT),
            int(cfg.get("parallelMigrationsPerCluster") or DEFAULT_CLUSTER_LIMIT))


@given("more running LiveMigrate VMs on one node than it may migrate at once",
       ko="한 노드에 동시에 마이그레이션할 수 있는 수보다 많은, 퇴거 전략이 LiveMigrate인 실행 중인 가상머신이 있습니다")
def vms_on_one_node(vmconform_scenario: ScenarioContext, request: pytest.FixtureRequest) -> None:
    """The VMs are kept on one node by a node selector on a label of the run, put on that node now and
    on the other schedulable nodes once they run (so that they can migrate there)."""
    ctx = vmconform_scenario
    run_id = ctx.session.run_id
    nodes = sorted(ctx.session.facts.schedulable_nodes)
    assert len(nodes) >= 2, f"draining needs 2 schedulable nodes; this cluster has {len(nodes)}"
    request.addfinalizer(lambda: maintenance.restore_nodes(ctx.cluster, run_id, only_holder=maintenance.holder()))
    node = nodes[0]
    maintenance.mark_node(ctx.cluster, node, run_id)
    per_node, per_cluster = migration_limits(ctx)
    count = min(min(per_node, per_cluster) + 1, MAX_DRAIN_VMS)
    vms = []
    for i in range(count):
        spec = vm_spec(ctx, _with_strategy("LiveMigrate"), _with_node_selector({maintenance.LABEL_PLACEMENT: run_id}))
        spec["metadata"]["name"] = f"vm-{i + 1}"
        spec["spec"]["template"]["metadata"]["labels"]["kubevirt.io/domain"] = f"vm-{i + 1}"
        vms.append(ctx.create_vm(spec))
    for vm in vms:  # all started at once: they boot side by side, as a lab's VMs would
        _ask_start(ctx, vm)
    for vm in vms:
        ctx.vm = vm
        wait_vm_status(ctx, RUNNING)
    ctx.values.update(drain_node=node, drain_vms=vms, limits=(per_node, per_cluster),
                      drain_before=snapshots(vms))
    placed = {vm.name: s.vmi_node for vm, s in zip(vms, ctx.values["drain_before"].values())}
    assert set(placed.values()) == {node}, f"the VMs did not all start on {node}: {placed}"
    for other in nodes[1:]:
        maintenance.mark_node(ctx.cluster, other, run_id)


def _migrations_summary(migs: list[dict[str, Any]]) -> str:
    phases = sorted(f"{m['metadata']['name']}:{(m.get('status') or {}).get('phase') or 'new'}" for m in migs)
    active = sum(1 for p in phases if p.rsplit(":", 1)[1] in MIG_ACTIVE)
    return f"{active} migrating | " + ", ".join(phases)


@when("I cordon their node and drain the scenario's pods from it",
      ko="그 노드를 cordon하고 시나리오의 파드를 drain합니다")
def cordon_and_drain(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    node = ctx.values["drain_node"]
    maintenance.cordon(ctx.cluster, node, ctx.session.run_id)
    log = maintenance.DrainLog()
    with SetRecorder(ctx.cluster, VMIM, ctx.namespace, _migrations_summary,
                     f"migrations while {node} drains") as rec:
        ctx.values["started"] = time.monotonic()
        try:
            maintenance.drain(ctx.cluster, ctx.namespace, node, timeout=ctx.timeouts["drain"],
                              retry_seconds=DRAIN_RETRY_SECONDS, log=log)
        finally:
            ctx.values["drain_migrations"] = rec.stop()
            reporting.attach_text("drain: eviction answers", log.render().replace("; ", "\n"))
    ctx.transition("drain", time.monotonic() - ctx.values["started"])


@then("every VM left the node by live migration and runs elsewhere as the same VMI",
      ko="모든 가상머신이 라이브 마이그레이션으로 노드를 떠나 같은 VMI로 다른 노드에서 실행됩니다")
def all_left(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    node = ctx.values["drain_node"]
    for vm in ctx.values["drain_vms"]:
        before = ctx.values["drain_before"][vm.name]
        vmi = vm.vmi()
        assert uid(vmi) == before.vmi_uid, (
            f"the VMI of {vm.name} was replaced during the drain (UID {before.vmi_uid} → {uid(vmi)}): the VM was "
            f"restarted, not live-migrated")
        where = ((vmi or {}).get("status") or {}).get("nodeName")
        assert where and where != node and vmi_phase(vmi) == RUNNING, (
            f"after the drain VM {vm.name} is {vmi_phase(vmi)} on {where}, not Running on another node than {node}")


@then("at most the per-node outbound migration limit migrated at once",
      ko="동시에 마이그레이션된 수는 노드당 아웃바운드 마이그레이션 한도를 넘지 않았습니다")
def within_limit(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    tl = ctx.values["drain_migrations"]
    per_node, per_cluster = ctx.values["limits"]
    limit = min(per_node, per_cluster)
    most = max((int(s.split(" ", 1)[0]) for s in tl.states), default=0)
    reporting.attach_text("migrations at once", f"most at once: {most}; limit {limit}\n{tl.render()}")
    assert most <= limit, (f"{most} migrations left node {ctx.values['drain_node']} at once; the per-node outbound "
                           f"limit (parallelOutboundMigrationsPerNode) is {per_node}")
    assert most >= 1, f"no migration was seen while the node drained: {tl.render()}"


@when("I uncordon the node", ko="노드를 uncordon합니다")
def uncordon(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    maintenance.restore_nodes(ctx.cluster, ctx.session.run_id, only_holder=maintenance.holder())


@then("the node is schedulable again and carries no mark of the run",
      ko="노드는 다시 스케줄 가능하고 실행의 표시가 남아 있지 않습니다")
def node_restored(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    node = ctx.cluster.get(NODE, None, ctx.values["drain_node"]) or {}
    assert not (node.get("spec") or {}).get("unschedulable"), f"node {ctx.values['drain_node']} is still cordoned"
    left = maintenance.marked_nodes(ctx.cluster, ctx.session.run_id)
    assert not left, f"nodes still carry the run's marks: {', '.join(n['metadata']['name'] for n in left)}"

