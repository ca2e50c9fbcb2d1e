"""Steps about the VM's data volume: ReadWriteOnce vs ReadWriteMany, and who mounts it.

With a containerDisk VM (``--vm-source containerdisk``) the data volume is a claim of its own beside the
root disk; with a DataVolume source it is the VM's root DataVolume, the disk the lab means.
"""

from __future__ import annotations

from typing import Any

from vmconform import provisioning, sources, specs
from vmconform.kube.kinds import POD, PVC, VM
from vmconform.kube.waits import wait_for, wait_for_list
from vmconform.ops import describe_pod, name_of, owned_by_vmi_named, pod_ended, uid
from vmconform.scenario import ScenarioContext
from vmconform.status import LABEL_CREATED_BY, LABEL_LAUNCHER, RUNNING, STOPPED
from vmconform.vocabulary import given, then, when

from ._support import vm_spec, wait_vm_status

MODES = {"ReadWriteOnce": "rwo", "ReadWriteMany": "rwx"}
VM_NAME = "vm"


def _root_source(ctx: ScenarioContext) -> sources.VmSource | None:
    """The VM source when the VM's root disk is a DataVolume (then that is the lab's data volume)."""
    source = sources.source_of(ctx.session.settings)
    return source if source.uses_data_volume else None


def _root_storage(ctx: ScenarioContext, mode: str) -> specs.Spec:
    """The root DataVolume's ``storage:``: the access mode the lab needs; the class only when given
    (``--rwx/--rwo-storage-class``), else the cluster's (virt) default; the StorageProfile picks the rest."""
    s = ctx.session.settings
    return sources.storage_request(s.rwx_class if mode == "ReadWriteMany" else s.rwo_class, mode)


def _check_root_claim(ctx: ScenarioContext, claim: str, mode: str) -> None:
    """The provisioned root claim has the access mode its DataVolume asked for; else say why it matters."""
    pvc = ctx.cluster.get(PVC, ctx.namespace, claim) or {}
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    got = list(status.get("accessModes") or spec.get("accessModes") or [])
    if mode in got:
        return
    cls = spec.get("storageClassName") or "(none)"
    profile = ctx.cluster.get(provisioning.STORAGEPROFILE, None, cls) if cls != "(none)" else None
    offers = ", ".join(f"{'/'.join(p.get('accessModes') or [])} {p.get('volumeMode', '')}".strip()
                       for p in ((profile or {}).get("status") or {}).get("claimPropertySets") or []) or "nothing"
    raise AssertionError(
        f"the root DataVolume {claim} asked for {mode} on storage class {cls} (its StorageProfile offers "
        f"{offers}) but its claim was provisioned {', '.join(got) or 'without access modes'}: "
        + ("a disk that is not ReadWriteMany cannot be live-migrated" if mode == "ReadWriteMany"
           else f"the lab needs a {mode} disk here"))


def _root_vm(ctx: ScenarioContext, mode: str) -> str:
    """Create the VM with its root DataVolume in ``mode``; wait until it is provisioned and Stopped."""
    ctx.create_vm(vm_spec(ctx, root_storage=_root_storage(ctx, mode)))
    wait_vm_status(ctx, STOPPED)
    claim = sources.root_dv_name(VM_NAME)
    _check_root_claim(ctx, claim, mode)
    ctx.values["claim"] = claim
    return claim


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
    if _root_source(ctx) is not None:
        _root_vm(ctx, "ReadWriteOnce")
        vm = ctx.require_vm()
    else:
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
    if _root_source(ctx) is not None:
        _root_vm(ctx, "ReadWriteMany")
        return
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
    if _root_source(ctx) is not None:
        _move_root_to_rwx(ctx)
        ctx.snapshots.pop("before", None)
        return
    claim = _new_claim(ctx, "ReadWriteMany")
    _wait_bound(ctx, claim)
    obj = vm.get() or {}
    volumes = obj["spec"]["template"]["spec"]["volumes"]
    for v in volumes:
        if "persistentVolumeClaim" in v:
            v["persistentVolumeClaim"]["claimName"] = claim
    ctx.cluster.patch(VM, vm.namespace, vm.name, {"spec": {"template": {"spec": {"volumes": volumes}}}})
    ctx.snapshots.pop("before", None)


def _move_root_to_rwx(ctx: ScenarioContext) -> None:
    """Clone the stopped VM's root claim into a ReadWriteMany DataVolume (a new dataVolumeTemplates entry)
    and point the root disk at it; the VM controller provisions it (the VM shows Provisioning meanwhile)."""
    vm = ctx.require_vm()
    old = ctx.values["claim"]
    new = f"{sources.root_dv_name(VM_NAME)}-rwx"
    template = sources.data_volume_template(new, sources.VmSource(sources.PVC, ctx.namespace, old),
                                            _root_storage(ctx, "ReadWriteMany"), ctx.labels())
    obj = vm.get() or {}
    sources.retarget_root(obj, template)
    ctx.cluster.patch(VM, vm.namespace, vm.name, {"spec": {
        "dataVolumeTemplates": obj["spec"]["dataVolumeTemplates"],
        "template": {"spec": {"volumes": obj["spec"]["template"]["spec"]["volumes"]}}}})
    provisioning.wait_vm_data_volumes(ctx, vm.name)
    _check_root_claim(ctx, new, "ReadWriteMany")
    ctx.values["claim"] = new


def _users(pods: list[dict[str, Any]], claim: str) -> list[dict[str, Any]]:
    """Pods that mount the claim and have not ended (a Terminating pod still mounts it)."""
    return [p for p in pods
            if not pod_ended(p) and any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim
                                        for v in (p.get("spec") or {}).get("volumes") or [])]


def _is_launcher_of(pod: dict[str, Any], vm_name: str) -> bool:
    return (pod["metadata"].get("labels") or {}).get(LABEL_LAUNCHER) == "virt-launcher" \
        and owned_by_vmi_named(pod, vm_name)


def _names(pods: list[dict[str, Any]]) -> str:
    return ", ".join(name_of(p) for p in pods)


@then("no pod uses the VM's volume", ko="가상머신의 볼륨을 사용하는 파드가 없습니다")
def no_pod_uses(vmconform_scenario: ScenarioContext) -> None:
    """Waits (vm_stop) for the VM's own launcher pods to let go of the claim — KubeVirt shows Stopped
    while they are still Terminating (§10 W1, W2) — and fails at once on any other pod that mounts it."""
    ctx = vmconform_scenario
    claim = ctx.values["claim"]
    vm = ctx.require_vm()

    def strangers(pods: list[dict[str, Any]]) -> str | None:
        others = [p for p in _users(pods, claim) if not _is_launcher_of(p, vm.name)]
        return f"the stopped VM's volume {claim} is still mounted by: {_names(others)}" if others else None

    wait_for_list(ctx.cluster, POD, ctx.namespace, labels=None, until=lambda pods: not _users(pods, claim),
                  describe=lambda pods: ", ".join(describe_pod(p) for p in _users(pods, claim)) or "no users",
                  timeout=ctx.timeouts["vm_stop"], what=f"the stopped VM's volume {claim} is released",
                  terminal=strangers)


@then("only the VM's launcher pod uses the volume", ko="가상머신의 launcher 파드만 볼륨을 사용합니다")
def only_launcher(vmconform_scenario: ScenarioContext) -> None:
    """Exactly the running VMI's launcher pod mounts the claim; launcher pods of an earlier VMI of this VM
    may still be Terminating (§10 W2) and are waited out (vm_stop); any other pod fails at once."""
    ctx = vmconform_scenario
    claim = ctx.values["claim"]
    vm = ctx.require_vm()
    vmi_uid = uid(vm.vmi())

    def current(p: dict[str, Any]) -> bool:
        return (p["metadata"].get("labels") or {}).get(LABEL_CREATED_BY) == vmi_uid

    def strangers(pods: list[dict[str, Any]]) -> str | None:
        others = [p for p in _users(pods, claim) if not _is_launcher_of(p, vm.name)]
        return (f"the volume {claim} should be mounted only by the VM's launcher pod, it is also by "
                f"{_names(others)}, which is not the VM's launcher pod") if others else None

    wait_for_list(ctx.cluster, POD, ctx.namespace, labels=None,
                  until=lambda pods: [current(p) for p in _users(pods, claim)] == [True],
                  describe=lambda pods: ", ".join(describe_pod(p) for p in _users(pods, claim)) or "no users",
                  timeout=ctx.timeouts["vm_stop"],
                  what=f"only the launcher pod of VMI {vmi_uid} mounts the volume {claim}", terminal=strangers)
