"""Reading and defaulting VMI specs: run strategy, memory, volumes, interfaces, migratability (§3.4)."""

from __future__ import annotations

import copy
import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..resources import PVCS, dig
from ..store import Store
from .constants import (
    ALWAYS, ANNO_ALLOW_BRIDGE_MIGRATION, COND_LIVE_MIGRATABLE, COND_STORAGE_LIVE_MIGRATABLE, HALTED,
    MSG_HOSTDISK_NOT_SHARED, MSG_INTERFACE_NOT_MIGRATABLE, MSG_PVC_NOT_SHARED, MSG_PVC_UNKNOWN_SHARED,
    REASON_DISKS_NOT_MIGRATABLE, REASON_INTERFACE_NOT_MIGRATABLE, REASON_NOT_MIGRATABLE,
)
from .util import MI, parse_quantity

if TYPE_CHECKING:
    from .behaviour import Behaviour

Obj = dict[str, Any]

DEFAULT_GUEST_MEMORY = Decimal(128 * MI)
LAUNCHER_OVERHEAD = Decimal(220 * MI)
AGENT_IMAGE_MARKERS = ("with-test-tooling", "guest-agent", "qemu-ga")


class RunStrategyError(ValueError):
    pass


def run_strategy(vm: Obj) -> str:
    """``vm.RunStrategy()``: running and runStrategy are exclusive; running:true ⇒ Always."""
    spec = vm.get("spec") or {}
    running, strategy = spec.get("running"), spec.get("runStrategy")
    if running is not None and strategy is not None:
        raise RunStrategyError("running and runstrategy are mutually exclusive")
    if running is not None:
        return ALWAYS if running else HALTED
    return strategy or HALTED


# ---------------------------------------------------------------- defaults (mutating webhook / VM controller)


def apply_defaults(spec: Obj) -> None:
    """What KubeVirt's mutators add to a VMI spec: default pod interface (bridge), machine, guest memory."""
    domain = spec.setdefault("domain", {})
    devices = domain.setdefault("devices", {})
    if devices.get("autoattachPodInterface", True) is not False:
        if not spec.get("networks") and not devices.get("interfaces"):
            devices["interfaces"] = [{"name": "default", "bridge": {}}]
            spec["networks"] = [{"name": "default", "pod": {}}]
    machine = domain.setdefault("machine", {})
    machine.setdefault("type", "q35")
    memory = domain.get("memory") or {}
    if not memory.get("guest"):
        req = dig(domain, "resources", "requests", "memory") or dig(domain, "resources", "limits", "memory")
        if req:
            domain["memory"] = {**memory, "guest": req}
    for vol in spec.get("volumes") or []:
        cd = vol.get("containerDisk")
        if cd is not None and not cd.get("imagePullPolicy"):
            cd["imagePullPolicy"] = "Always" if str(cd.get("image", "")).endswith(":latest") or ":" not in str(
                cd.get("image", "")).rsplit("/", 1)[-1] else "IfNotPresent"


def guest_memory(spec: Obj) -> Decimal:
    domain = spec.get("domain") or {}
    for value in (dig(domain, "memory", "guest"), dig(domain, "resources", "requests", "memory"),
                  dig(domain, "resources", "limits", "memory")):
        if value:
            return parse_quantity(value, DEFAULT_GUEST_MEMORY)
    return DEFAULT_GUEST_MEMORY


def vcpus(spec: Obj) -> int:
    cpu = dig(spec, "domain", "cpu", default={}) or {}
    return max(1, int(cpu.get("sockets", 1) or 1) * int(cpu.get("cores", 1) or 1) * int(cpu.get("threads", 1) or 1))


def launcher_requests(spec: Obj) -> dict[str, str]:
    mem = guest_memory(spec) + LAUNCHER_OVERHEAD
    cpu_req = dig(spec, "domain", "resources", "requests", "cpu")
    cpu = str(cpu_req) if cpu_req else f"{100 * vcpus(spec)}m"
    return {"cpu": cpu, "memory": str(int(mem)), "ephemeral-storage": "50M"}


# ---------------------------------------------------------------- volumes


def claim_of(volume: Obj) -> str | None:
    return dig(volume, "persistentVolumeClaim", "claimName") or dig(volume, "dataVolume", "name")


def pvc_volumes(spec: Obj) -> list[tuple[str, str]]:
    """(volume name, claim name) for every PVC or DataVolume volume."""
    out = []
    for vol in spec.get("volumes") or []:
        claim = claim_of(vol)
        if claim:
            out.append((vol.get("name", ""), claim))
    return out


def _disk_targets(spec: Obj) -> dict[str, str]:
    targets: dict[str, str] = {}
    counters = {"vd": 0, "sd": 0}
    for disk in dig(spec, "domain", "devices", "disks", default=[]) or []:
        if "cdrom" in disk:
            bus = dig(disk, "cdrom", "bus", default="sata")
        elif "lun" in disk:
            bus = dig(disk, "lun", "bus", default="scsi")
        else:
            bus = dig(disk, "disk", "bus", default="virtio")
        prefix = "vd" if bus == "virtio" else "sd"
        targets[disk.get("name", "")] = prefix + chr(ord("a") + counters[prefix] % 26)
        counters[prefix] += 1
    return targets


def volume_status(store: Store, namespace: str, spec: Obj) -> list[Obj]:
    """status.volumeStatus as virt-controller/virt-handler fill it (PVC info drives §3.4)."""
    targets = _disk_targets(spec)
    out: list[Obj] = []
    for vol in spec.get("volumes") or []:
        name = vol.get("name", "")
        entry: Obj = {"name": name, "target": targets.get(name, "")}
        claim = claim_of(vol)
        if claim:
            pvc = store.peek(PVCS, namespace, claim)
            if pvc is not None:
                storage = dig(pvc, "status", "capacity", "storage") or dig(pvc, "spec", "resources", "requests",
                                                                           "storage", default="0")
                entry["persistentVolumeClaimInfo"] = {
                    "claimName": claim,
                    "accessModes": list(dig(pvc, "status", "accessModes", default=None)
                                        or dig(pvc, "spec", "accessModes", default=[]) or []),
                    "volumeMode": dig(pvc, "spec", "volumeMode", default="Filesystem"),
                    "capacity": {"storage": storage},
                    "requests": {"storage": dig(pvc, "spec", "resources", "requests", "storage", default=storage)},
                    "filesystemOverhead": "0.055",
                }
        elif "containerDisk" in vol:
            digest = hashlib.sha256(str(vol["containerDisk"].get("image", "")).encode()).hexdigest()
            entry["containerDiskVolume"] = {"checksum": int(digest[:8], 16)}
        elif "cloudInitNoCloud" in vol or "cloudInitConfigDrive" in vol:
            entry["size"] = 1048576
        out.append(entry)
    return out


def _is_read_only_disk(spec: Obj, volume_name: str) -> bool:
    for disk in dig(spec, "domain", "devices", "disks", default=[]) or []:
        if disk.get("name") == volume_name and "cdrom" in disk:
            return dig(disk, "cdrom", "readonly", default=True) is not False
    return False


def _filesystems(spec: Obj) -> set[str]:
    return {fs.get("name", "") for fs in dig(spec, "domain", "devices", "filesystems", default=[]) or []}


def check_volumes(vmi: Obj, behaviour: "Behaviour") -> tuple[bool, str | None]:
    """``checkVolumesForMigration``: (block migration?, reason the disks block migration or None)."""
    spec = vmi.get("spec") or {}
    statuses = {s.get("name"): s for s in dig(vmi, "status", "volumeStatus", default=[]) or []}
    block = False
    filesystems = _filesystems(spec)
    for vol in spec.get("volumes") or []:
        name = vol.get("name", "")
        claim = claim_of(vol)
        if claim:
            info = (statuses.get(name) or {}).get("persistentVolumeClaimInfo")
            if info is None:
                return True, MSG_PVC_UNKNOWN_SHARED.format(claim=claim)
            if not behaviour.pvc_is_shared(list(info.get("accessModes") or [])):
                return True, MSG_PVC_NOT_SHARED.format(claim=claim)
        elif "hostDisk" in vol:
            if not dig(vol, "hostDisk", "shared", default=False):
                return True, MSG_HOSTDISK_NOT_SHARED
        else:
            if name in filesystems or _is_read_only_disk(spec, name):
                continue
            block = True
    return block, None


def check_interfaces(vmi: Obj) -> str | None:
    """``VerifyVMIMigratable``: the pod network must use masquerade/passt (or an allowed bridge)."""
    spec = vmi.get("spec") or {}
    ifaces = dig(spec, "domain", "devices", "interfaces", default=[]) or []
    if not ifaces:
        return None
    pod_net = next((n for n in spec.get("networks") or [] if "pod" in n), None)
    if pod_net is None:
        return None
    primary = next((i for i in ifaces if i.get("name") == pod_net.get("name")), None)
    if primary is None:
        return f"no primary interface found for network {pod_net.get('name')}"
    if "masquerade" in primary or "passtBinding" in primary:
        return None
    if "bridge" in primary and ANNO_ALLOW_BRIDGE_MIGRATION in (vmi["metadata"].get("annotations") or {}):
        return None
    if "binding" in primary and dig(primary, "binding", "name") == "passt":
        return None
    return MSG_INTERFACE_NOT_MIGRATABLE


def check_devices(vmi: Obj) -> list[tuple[str, str]]:
    """(reason, message) for what ``calculateLiveMigrationCondition`` checks between network and disks."""
    spec = vmi.get("spec") or {}
    devices = dig(spec, "domain", "devices", default={}) or {}
    out: list[tuple[str, str]] = []
    gpus = devices.get("gpus") or []
    if devices.get("hostDevices"):
        out.append(("HostDeviceNotLiveMigratable", "VMI specifies non-migratable generic PCI host device"))
    elif len(gpus) > 1:
        out.append(("HostDeviceNotLiveMigratable", "VMI specifies too many GPUs"))
    elif len(gpus) == 1:
        out.append(("HostDeviceNotLiveMigratable",
                    "VMI specifies a GPU but feature gate VGPULiveMigration is not enabled"))
    security = dig(spec, "domain", "launchSecurity", default={}) or {}
    if "sev" in security:
        out.append(("SEVNotLiveMigratable", "VMI uses SEV"))
    elif "tdx" in security:
        out.append(("TDXNotLiveMigratable", "VMI uses TDX"))
    if dig(spec, "domain", "features", "hypervPassthrough", "enabled"):
        out.append(("HypervPassthroughNotLiveMigratable", "VMI uses hyperv passthrough"))
    return out


def migratability(vmi: Obj, behaviour: "Behaviour") -> tuple[Obj, Obj, bool]:
    """(LiveMigratable condition, StorageLiveMigratable condition, block migration?) per §3.4:
    network first, then devices, then disks; the storage condition lists every non-disk reason."""
    block, disk_err = check_volumes(vmi, behaviour)
    problems: list[tuple[str, str]] = []
    iface_err = check_interfaces(vmi)
    if iface_err:
        problems.append((REASON_INTERFACE_NOT_MIGRATABLE, iface_err))
    problems += check_devices(vmi)
    if problems:
        live = {"type": COND_LIVE_MIGRATABLE, "status": "False", "reason": problems[0][0],
                "message": problems[0][1]}
    elif disk_err:
        live = {"type": COND_LIVE_MIGRATABLE, "status": "False", "reason": REASON_DISKS_NOT_MIGRATABLE,
                "message": disk_err}
    else:
        live = {"type": COND_LIVE_MIGRATABLE, "status": "True"}
    if problems:
        storage = {"type": COND_STORAGE_LIVE_MIGRATABLE, "status": "False", "reason": REASON_NOT_MIGRATABLE,
                   "message": ", ".join(f"{r}: {m}" for r, m in problems)}
    else:
        storage = {"type": COND_STORAGE_LIVE_MIGRATABLE, "status": "True"}
    return live, storage, block


# ---------------------------------------------------------------- guest identity


def guest_image(spec: Obj) -> str:
    """The image the guest boots (first containerDisk; else the first claim's name)."""
    for vol in spec.get("volumes") or []:
        image = dig(vol, "containerDisk", "image")
        if image:
            return str(image)
    for _name, claim in pvc_volumes(spec):
        return claim
    return ""


def hostname(vmi: Obj) -> str:
    spec = vmi.get("spec") or {}
    if spec.get("hostname"):
        return str(spec["hostname"])
    return vmi["metadata"]["name"].split(".")[0][:63]


def has_guest_agent(image: str) -> bool:
    low = image.lower()
    return any(marker in low for marker in AGENT_IMAGE_MARKERS)


def vmi_from_vm(vm: Obj, start_paused: bool) -> Obj:
    """``SetupVMIFromVM``: name = VM name, labels exactly the template's, owner = the VM."""
    meta = vm["metadata"]
    tmpl = dig(vm, "spec", "template", default={}) or {}
    tmeta = tmpl.get("metadata") or {}
    spec = copy.deepcopy(tmpl.get("spec") or {})
    if start_paused:
        spec["startStrategy"] = "Paused"
    annotations = dict(tmeta.get("annotations") or {})
    annotations["kubevirt.io/vm-generation"] = str(meta.get("generation", 1))
    out: Obj = {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "annotations": annotations,
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
            "finalizers": ["kubevirt.io/virtualMachineControllerFinalize"],
        },
        "spec": spec,
    }
    if tmeta.get("labels"):
        out["metadata"]["labels"] = dict(tmeta["labels"])
    return out
