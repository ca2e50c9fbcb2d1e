"""Small helpers shared by the step modules."""

from __future__ import annotations

import time

from vmconform import provisioning, sources, specs
from vmconform.kube.kinds import POD, VM, VMI
from vmconform.kube.waits import wait_for
from vmconform.ops import VirtualMachine, pod_live, printable_status
from vmconform.scenario import ScenarioContext, Snapshot
from vmconform.status import LABEL_CREATED_BY, MIGRATING, PAUSED, RUNNING, SELECT_LAUNCHERS, STOPPED

# which timeout of the table bounds a wait for each VM status
STATUS_TIMEOUTS = {RUNNING: "vm_start", STOPPED: "vm_stop", PAUSED: "pause", MIGRATING: "migration"}
# which timeout bounds the aftermath of each verb (what follows it in another object: Ready, pods)
VERB_TIMEOUTS = {"stop": "vm_stop", "start": "vm_start", "restart": "vm_restart", "pause": "pause",
                 "unpause": "pause"}
LAST_VERB = "last_verb"  # ctx.values key: the verb the scenario did last


def after_verb_timeout(ctx: ScenarioContext, default: str) -> float:
    """The table's bound for what the scenario's last verb still changes, e.g. Ready after pause."""
    return ctx.timeouts[VERB_TIMEOUTS.get(ctx.values.get(LAST_VERB, ""), default)]


def vm_spec(ctx: ScenarioContext, *extra: specs.Option, root_storage: specs.Spec | None = None) -> specs.Spec:
    """The scenarios' VM: its root disk from ``--vm-source`` (a DataVolume asks ``root_storage``, else only
    the ``--rwx-storage-class`` if given: the StorageProfile picks the rest)."""
    s = ctx.session.settings
    source = sources.source_of(s)
    storage = root_storage if root_storage is not None else sources.storage_request(s.rwx_class)
    instancetype, preference = getattr(s, "instancetype", None), getattr(s, "preference", None)
    sizing = [specs.with_memory(s.memory)] if not instancetype else [sources.with_instancetype(instancetype)]
    if preference:
        sizing.append(sources.with_preference(preference))
    return specs.new_vm(
        "vm", sources.with_root_disk(source, "vm", s.image, storage, ctx.labels()),
        specs.with_cloud_init(sources.cloud_init_user_data(s)), specs.with_masquerade_network(),
        *sizing, *extra,
    )


def wait_vm_status(ctx: ScenarioContext, status: str, timeout_key: str | None = None,
                   seconds: float | None = None) -> float:
    """Wait for the VM's printableStatus; returns the seconds it took.

    The bound is the table's timeout for the status (``timeout_key`` overrides which), or
    ``seconds`` when a step names its own bound (scaled like the table by ``--timeout-scale``).
    """
    vm = ctx.require_vm()
    if sources.source_of(ctx.session.settings).uses_data_volume:
        provisioning.wait_vm_data_volumes(ctx, vm.name)  # a VM is Provisioning until its DataVolumes are
    key = timeout_key or STATUS_TIMEOUTS.get(status, "vm_start")
    timeout = ctx.timeouts[key] if seconds is None else seconds * ctx.timeouts.scale
    started = time.monotonic()
    wait_for(ctx.cluster, VM, vm.namespace, vm.name,
             until=lambda o: printable_status(o) == status, describe=printable_status,
             timeout=timeout, what=f"VM {vm.name} reaches {status}",
             terminal=_terminal_vm(status))
    return time.monotonic() - started


# A bad state may pass (e.g. ErrorUnschedulable while a claim binds); it ends a wait once it has lasted this long.
TERMINAL_GRACE_SECONDS = 10.0


def _terminal_vm(wanted: str):  # type: ignore[no-untyped-def]
    bad = {"ErrorUnschedulable", "ErrorPvcNotFound", "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff",
           "DataVolumeError"}
    since: dict[str, float] = {}

    def check(o):  # type: ignore[no-untyped-def]
        st = printable_status(o)
        if st not in bad or st == wanted:
            since.clear()
            return None
        first = since.setdefault(st, time.monotonic())
        if time.monotonic() - first >= TERMINAL_GRACE_SECONDS:
            return f"the VM has been {st} for {time.monotonic() - first:.0f} s"
        return None

    return check


def snapshot(vm: VirtualMachine) -> Snapshot:
    obj = vm.get()
    vmi = vm.vmi()
    vmi_uid = (vmi or {}).get("metadata", {}).get("uid")
    return snapshot_of(obj, vmi, vm.launcher_pods(vmi_uid) if vmi_uid else [])


def snapshots(vms: list[VirtualMachine]) -> dict[str, Snapshot]:
    """The snapshots of several VMs of one namespace, from three LISTs (VMs, VMIs, launcher pods)."""
    if not vms:
        return {}
    cluster, ns = vms[0].cluster, vms[0].namespace
    objs = {o["metadata"]["name"]: o for o in cluster.list(VM, ns)[0]}
    vmis = {o["metadata"]["name"]: o for o in cluster.list(VMI, ns)[0]}
    pods, _ = cluster.list(POD, ns, labels=SELECT_LAUNCHERS)
    return {vm.name: snapshot_of(objs.get(vm.name), vmis.get(vm.name), pods) for vm in vms}


def snapshot_of(obj: dict | None, vmi: dict | None, pods: list[dict]) -> Snapshot:  # type: ignore[type-arg]
    """The snapshot of objects already read; ``pods``: launcher pods, the VMI's are picked by its UID."""
    vmi_uid = (vmi or {}).get("metadata", {}).get("uid")
    pods = [p for p in pods if vmi_uid and ((p.get("metadata") or {}).get("labels") or {}).get(LABEL_CREATED_BY)
            == vmi_uid]
    # a Terminating pod can still read Running (§10 W2): it is leaving, not the VM's process
    pods = [p for p in pods if pod_live(p)]
    return Snapshot(
        vm_status=printable_status(obj),
        vmi_uid=vmi_uid,
        vmi_node=((vmi or {}).get("status") or {}).get("nodeName"),
        pod_uids=sorted(p["metadata"]["uid"] for p in pods),
        pod_nodes=sorted((p.get("spec") or {}).get("nodeName", "") for p in pods),
        pod_memory=sorted(_memory(p) for p in pods),
    )


def _memory(pod: dict) -> str:  # type: ignore[type-arg]
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == "compute":
            return str(((c.get("resources") or {}).get("requests") or {}).get("memory", ""))
    return ""
