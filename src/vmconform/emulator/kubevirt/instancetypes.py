"""Instance types and preferences (instancetype.kubevirt.io/v1beta1), as KubeVirt v1.9.0 keeps and expands them.

* The common cluster instance types (``u1.*``, ``o1.*``: vCPUs and guest memory from
  pkg/virt-operator/.../common-instancetypes bundles) and a few common preferences are there at start.
* Before a VM with ``spec.instancetype``/``spec.preference`` starts, the VM controller stores what they
  were as ControllerRevisions owned by the VM (named ``<vm>-<object>-<version>-<uid>-<generation>``,
  pkg/instancetype/revision/store.go) and points ``status.instancetypeRef``/``preferenceRef`` at them.
* The VMI gets the stored instance type expanded into it: ``domain.cpu`` (sockets = vCPUs, cores and
  threads 1: the default preferred topology), ``domain.memory.guest``, and the
  ``kubevirt.io/cluster-instancetype-name`` / ``kubevirt.io/cluster-preference-name`` annotations; the
  preference's preferred disk bus fills disks that name none.  A template that sets what the instance type
  sets (guest memory, CPU topology) conflicts: the VM gets a Failure condition and no VMI.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..resources import AGE, VMS, ResourceType, dig
from .context import KubeVirtContext, context_of
from .util import owner_ref

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]
GROUP, VERSION = "instancetype.kubevirt.io", "v1beta1"

CLUSTER_INSTANCETYPES = ResourceType(
    GROUP, VERSION, "virtualmachineclusterinstancetypes", "virtualmachineclusterinstancetype",
    "VirtualMachineClusterInstancetype", False, ("vmclusterinstancetype", "vmclusterinstancetypes", "vmcf", "vmcfs"),
    custom=True, has_status=False, columns=(AGE,))
CLUSTER_PREFERENCES = ResourceType(
    GROUP, VERSION, "virtualmachineclusterpreferences", "virtualmachineclusterpreference",
    "VirtualMachineClusterPreference", False, ("vmcp", "vmcps"), custom=True, has_status=False, columns=(AGE,))
INSTANCETYPES = ResourceType(
    GROUP, VERSION, "virtualmachineinstancetypes", "virtualmachineinstancetype", "VirtualMachineInstancetype", True,
    ("vminstancetype", "vminstancetypes", "vmf", "vmfs"), custom=True, has_status=False, columns=(AGE,))
PREFERENCES = ResourceType(
    GROUP, VERSION, "virtualmachinepreferences", "virtualmachinepreference", "VirtualMachinePreference", True,
    ("vmpref", "vmprefs", "vmp", "vmps"), custom=True, has_status=False, columns=(AGE,))
CONTROLLER_REVISIONS = ResourceType(
    "apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", True, has_status=False,
    columns=(AGE,))
KINDS: tuple[ResourceType, ...] = (CLUSTER_INSTANCETYPES, CLUSTER_PREFERENCES, INSTANCETYPES, PREFERENCES,
                                   CONTROLLER_REVISIONS)

ANNO_CLUSTER_INSTANCETYPE = "kubevirt.io/cluster-instancetype-name"
ANNO_INSTANCETYPE = "kubevirt.io/instancetype-name"
ANNO_CLUSTER_PREFERENCE = "kubevirt.io/cluster-preference-name"
ANNO_PREFERENCE = "kubevirt.io/preference-name"
LABEL_PREFIX = "instancetype.kubevirt.io/object-"  # -generation, -kind, -name, -uid, -version

# the common-instancetypes bundle of v1.9.0: name → (vCPUs, guest memory)
_SIZES = {"nano": (1, "512Mi"), "micro": (1, "1Gi"), "small": (1, "2Gi"), "medium": (1, "4Gi"),
          "2xmedium": (2, "4Gi"), "large": (2, "8Gi"), "xlarge": (4, "16Gi"), "2xlarge": (8, "32Gi"),
          "4xlarge": (16, "64Gi"), "8xlarge": (32, "128Gi")}
COMMON_INSTANCETYPES: dict[str, Obj] = {
    **{f"u1.{size}": {"cpu": {"guest": cpu}, "memory": {"guest": mem}} for size, (cpu, mem) in _SIZES.items()},
    **{f"o1.{size}": {"cpu": {"guest": cpu}, "memory": {"guest": mem, "overcommitPercent": 50}}
       for size, (cpu, mem) in _SIZES.items() if size != "2xmedium"},
}
_LINUX = {"annotations": {"vm.kubevirt.io/os": "linux"},
          "devices": {"preferredDiskBus": "virtio", "preferredInterfaceModel": "virtio", "preferredRng": {}}}
COMMON_PREFERENCES: dict[str, Obj] = {
    "alpine": {**_LINUX, "requirements": {"cpu": {"guest": 1}, "memory": {"guest": "512Mi"}}},
    "cirros": {**_LINUX, "requirements": {"cpu": {"guest": 1}, "memory": {"guest": "256Mi"}}},
    "fedora": {**_LINUX, "requirements": {"cpu": {"guest": 1}, "memory": {"guest": "2Gi"}}},
    "centos.stream9": {**_LINUX, "requirements": {"cpu": {"guest": 1}, "memory": {"guest": "1.5Gi"}}},
    "rhel.9": {**_LINUX, "requirements": {"cpu": {"guest": 1}, "memory": {"guest": "1.5Gi"}}},
}
COMMON_LABELS = {"instancetype.kubevirt.io/vendor": "kubevirt.io",
                 "app.kubernetes.io/managed-by": "virt-operator"}


class InstancetypeError(RuntimeError):
    """The VM's instance type or preference cannot be found or applied."""


def _kind_of(matcher: Obj, cluster: ResourceType, namespaced: ResourceType) -> ResourceType:
    kind = str(matcher.get("kind") or "").lower()
    if kind in ("", cluster.singular, cluster.plural):
        return cluster
    if kind in (namespaced.singular, namespaced.plural):
        return namespaced
    raise InstancetypeError(f"got unexpected kind in matcher: {matcher.get('kind')}")


def _revision_name(vm: Obj, obj: Obj, version: str) -> str:
    meta = obj["metadata"]
    return f"{vm['metadata']['name']}-{meta['name']}-{version}-{meta['uid']}-{meta.get('generation', 1)}"


def _store(ctx: KubeVirtContext, vm: Obj, field: str, cluster: ResourceType, namespaced: ResourceType) -> Obj | None:
    """The status ref of ``spec.<field>`` with its ControllerRevision (created once); None without a matcher."""
    matcher = dig(vm, "spec", field)
    if not matcher:
        return None
    ns = vm["metadata"]["namespace"]
    res = _kind_of(matcher, cluster, namespaced)
    ref = dig(vm, "status", f"{field}Ref", default=None) or {}
    held = dig(ref, "controllerRevisionRef", "name")
    if held and ref.get("name") == matcher.get("name") and ref.get("kind") == res.kind and \
            ctx.store.peek(CONTROLLER_REVISIONS, ns, held) is not None:
        return ref
    obj = ctx.store.peek(res, None if res is cluster else ns, str(matcher.get("name", "")))
    if obj is None:
        raise InstancetypeError(f'{res.plural}.{GROUP} "{matcher.get("name", "")}" not found')
    name = _revision_name(vm, obj, VERSION)
    if ctx.store.peek(CONTROLLER_REVISIONS, ns, name) is None:
        data = {"apiVersion": f"{GROUP}/{VERSION}", "kind": res.kind,
                "metadata": {k: v for k, v in obj["metadata"].items()
                             if k in ("name", "namespace", "uid", "generation", "creationTimestamp",
                                      "resourceVersion")},
                "spec": copy.deepcopy(obj.get("spec") or {})}
        meta = obj["metadata"]
        ctx.store.create(CONTROLLER_REVISIONS, {
            "metadata": {"name": name, "ownerReferences": [owner_ref({**vm, "apiVersion": "kubevirt.io/v1",
                                                                      "kind": "VirtualMachine"})],
                         "labels": {f"{LABEL_PREFIX}generation": str(meta.get("generation", 1)),
                                    f"{LABEL_PREFIX}kind": res.kind, f"{LABEL_PREFIX}name": meta["name"],
                                    f"{LABEL_PREFIX}uid": meta["uid"], f"{LABEL_PREFIX}version": VERSION}},
            "data": data, "revision": 0}, ns)
    return {"name": matcher.get("name"), "kind": res.kind, "controllerRevisionRef": {"name": name}}


def store_revisions(ctx: KubeVirtContext, vm: Obj) -> None:
    """``revisionHandler.Store``: ControllerRevisions of the VM's instance type and preference, referenced
    from its status. Raises InstancetypeError."""
    refs = {"instancetypeRef": _store(ctx, vm, "instancetype", CLUSTER_INSTANCETYPES, INSTANCETYPES),
            "preferenceRef": _store(ctx, vm, "preference", CLUSTER_PREFERENCES, PREFERENCES)}
    if refs["instancetypeRef"] is not None:  # a last conflict check, as upstream does before storing
        _conflicts(dig(vm, "spec", "template", "spec", "domain", default={}) or {})
    if all(dig(vm, "status", key) == value for key, value in refs.items() if value is not None):
        return

    def fn(o: Obj) -> None:
        st = o.setdefault("status", {})
        for key, value in refs.items():
            if value is not None:
                st[key] = value

    meta = vm["metadata"]
    ctx.store.mutate(VMS, meta["namespace"], meta["name"], fn, status=True)


def _revision_spec(ctx: KubeVirtContext, vm: Obj, key: str) -> tuple[Obj, str] | None:
    ref = dig(vm, "status", key)
    if not ref:
        return None
    rev = ctx.store.peek(CONTROLLER_REVISIONS, vm["metadata"]["namespace"],
                         dig(ref, "controllerRevisionRef", "name", default=""))
    if rev is None:
        raise InstancetypeError(f"the ControllerRevision of {key} {ref.get('name')} is gone")
    return dig(rev, "data", "spec", default={}) or {}, str(ref.get("kind", ""))


def _conflicts(domain: Obj) -> None:
    """What a template may not set beside an instance type (pkg/instancetype/apply cpu.go, memory.go)."""
    conflicts = [p for p, present in (
        ("spec.template.spec.domain.memory.guest", dig(domain, "memory", "guest") is not None),
        ("spec.template.spec.domain.resources.requests.memory",
         dig(domain, "resources", "requests", "memory") is not None),
        ("spec.template.spec.domain.cpu.sockets", dig(domain, "cpu", "sockets") is not None)) if present]
    if conflicts:
        raise InstancetypeError(f"VM field(s) {', '.join(conflicts)} conflicts with selected instance type")


def expand_into_vmi(ctx: KubeVirtContext, vm: Obj, vmi: Obj) -> None:
    """Apply the stored instance type and preference to a new VMI. Raises InstancetypeError on a conflict."""
    itype = _revision_spec(ctx, vm, "instancetypeRef")
    pref = _revision_spec(ctx, vm, "preferenceRef")
    spec = vmi.setdefault("spec", {})
    domain = spec.setdefault("domain", {})
    annotations = vmi.setdefault("metadata", {}).setdefault("annotations", {})
    if itype is not None:
        it_spec, kind = itype
        _conflicts(domain)
        vcpus = int(dig(it_spec, "cpu", "guest", default=1) or 1)
        domain["cpu"] = {**(domain.get("cpu") or {}), "sockets": vcpus, "cores": 1, "threads": 1}
        domain["memory"] = {**(domain.get("memory") or {}), "guest": dig(it_spec, "memory", "guest")}
        name_anno = ANNO_CLUSTER_INSTANCETYPE if kind == CLUSTER_INSTANCETYPES.kind else ANNO_INSTANCETYPE
        annotations[name_anno] = dig(vm, "spec", "instancetype", "name")
    if pref is not None:
        p_spec, kind = pref
        bus = dig(p_spec, "devices", "preferredDiskBus")
        for disk in dig(domain, "devices", "disks", default=[]) or []:
            if bus and "disk" in disk and not disk["disk"].get("bus"):
                disk["disk"]["bus"] = bus
        name_anno = ANNO_CLUSTER_PREFERENCE if kind == CLUSTER_PREFERENCES.kind else ANNO_PREFERENCE
        annotations[name_anno] = dig(vm, "spec", "preference", "name")


class InstancetypeBootstrap:
    """virt-operator's deployment of the common cluster instance types and preferences."""

    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        for res, table in ((CLUSTER_INSTANCETYPES, COMMON_INSTANCETYPES), (CLUSTER_PREFERENCES, COMMON_PREFERENCES)):
            for name, spec in table.items():
                if ctx.store.peek(res, None, name) is None:
                    ctx.store.create(res, {"metadata": {"name": name, "labels": dict(COMMON_LABELS)},
                                           "spec": copy.deepcopy(spec)})

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()
