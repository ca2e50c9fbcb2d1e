"""Steps about the VM's data volume: ReadWriteOnce vs ReadWriteMany, and who mounts it."""

from __future__ import annotations

from vmconform import specs
from vmconform.kube.kinds import POD, PVC
from vmconform.kube.waits import wait_for
from vmconform.scenario import ScenarioContext
from vmconform.status import RUNNING, STOPPED
from vmconform.vocabulary import given, then, when

from ._support import vm_spec, wait_vm_status

MODES = {"ReadWriteOnce": "rwo", "ReadWriteMany": "rwx"}


def _new_claim(ctx: ScenarioContext, mode: str) -> str:
    facts = ctx.session.facts
    sc = facts.rwx_class if mode == "ReadWriteMany" else facts.rwo_class
    assert sc, f"no storage class for {mode}"
    name = f"data-{MODES[mode]}"
    ctx.create_pvc(specs.new_pvc(name, sc, mode))
    ctx.values["claim"] = name
    return name


def _wait_bound(ctx: ScenarioContext, claim: str) -> None:
    ns = ctx.namespace
    phase = lambda o: "<gone>" if o is None else str((o.get("status") or {}).get("phase"))  # noqa: E731
    wait_for(ctx.cluster, PVC, ns, claim, until=lambda o: phase(o) == "Bound", describe=phase,
             timeout=ctx.timeouts["pvc_bound"], what=f"claim {claim} Bound")


@given("a running VM with a ReadWriteOnce data volume", ko="ReadWriteOnce 데이터 볼륨을 가진 실행 중인 가상머신이 있습니다")
def running_vm_rwo(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    claim = _new_claim(ctx, "ReadWriteOnce")
    vm = ctx.create_vm(vm_spec(ctx, specs.with_pvc_disk(claim)))
    wait_vm_status(ctx, STOPPED)
    ans = vm.start()
    assert ans.ok, f"start refused: {ans.describe()}"
    wait_vm_status(ctx, RUNNING)
    ctx.values["migration_source"] = ((vm.vmi() or {}).get("status") or {}).get("nodeName")


@given("a stopped VM with a ReadWriteMany data volume", ko="ReadWriteMany 데이터 볼륨을 가진 중지된 가상머신이 있습니다")
def stopped_vm_rwx(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    claim = _new_claim(ctx, "ReadWriteMany")
    _wait_bound(ctx, claim)
    ctx.create_vm(vm_spec(ctx, specs.with_pvc_disk(claim)))
    wait_vm_status(ctx, STOPPED)


@when("I stop the VM and move its data volume to ReadWriteMany storage",
      ko="가상머신을 중지하고 데이터 볼륨을 ReadWriteMany 스토리지로 옮깁니다")
def move_to_rwx(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    ans = vm.stop()
    assert ans.ok, f"stop refused: {ans.describe()}"
    wait_vm_status(ctx, STOPPED)
    claim = _new_claim(ctx, "ReadWriteMany")
    _wait_bound(ctx, claim)
    obj = vm.get() or {}
    volumes = obj["spec"]["template"]["spec"]["volumes"]
    for v in volumes:
        if "persistentVolumeClaim" in v:
            v["persistentVolumeClaim"]["claimName"] = claim
    from vmconform.kube.kinds import VM

    ctx.cluster.patch(VM, vm.namespace, vm.name, {"spec": {"template": {"spec": {"volumes": volumes}}}})
    ctx.snapshots.pop("before", None)


def _pods_using(ctx: ScenarioContext, claim: str) -> list[dict]:  # type: ignore[type-arg]
    pods, _ = ctx.cluster.list(POD, ctx.namespace)
    return [p for p in pods
            if (p.get("status") or {}).get("phase") in ("Pending", "Running")
            and any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim
                    for v in (p.get("spec") or {}).get("volumes") or [])]


@then("no pod uses the VM's volume", ko="가상머신의 볼륨을 사용하는 파드가 없습니다")
def no_pod_uses(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    claim = ctx.values["claim"]
    users = [p["metadata"]["name"] for p in _pods_using(ctx, claim)]
    assert not users, f"the stopped VM's volume {claim} is still mounted by: {', '.join(users)}"


@then("only the VM's launcher pod uses the volume", ko="가상머신의 launcher 파드만 볼륨을 사용합니다")
def only_launcher(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    claim = ctx.values["claim"]
    vmi = ctx.require_vm().vmi() or {}
    vmi_uid = vmi.get("metadata", {}).get("uid")
    users = _pods_using(ctx, claim)
    names = [p["metadata"]["name"] for p in users]
    assert len(users) == 1, f"the volume {claim} should be mounted by exactly one pod, it is by {names or 'none'}"
    labels = users[0]["metadata"].get("labels") or {}
    assert labels.get("kubevirt.io/created-by") == vmi_uid, (
        f"the volume {claim} is mounted by {names[0]}, which is not the VM's launcher pod")
