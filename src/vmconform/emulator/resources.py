"""The kinds the emulated API server serves, with their discovery and printer-column data."""

from __future__ import annotations

import copy
import marshal
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

_T = TypeVar("_T")


def clone(obj: _T) -> _T:
    """A deep copy of a JSON-shaped object (dicts, lists, strings, numbers, booleans, None).

    marshal's C round trip is 4-5 times faster than ``copy.deepcopy`` on API objects, and the
    store copies every object it hands out or takes in; anything else falls back to deepcopy.
    """
    try:
        return marshal.loads(marshal.dumps(obj))  # type: ignore[no-any-return]
    except ValueError:
        return copy.deepcopy(obj)

Getter = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Column:
    """A printer column: ``kubectl get`` shows it; ``priority`` 1 only with ``-o wide``."""

    name: str
    type: str
    get: Getter
    priority: int = 0
    format: str = ""
    description: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = True
    custom: bool = False  # a CRD: strategic-merge patch answers 415
    columns: tuple[Column, ...] = ()
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )
    extra_subresources: tuple[str, ...] = field(default=())
    # metadata.name rule (validation.meta): "subdomain" (most kinds), "label" (namespaces), "dns1035" (services)
    name_rule: str = "subdomain"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the stored kind, independent of the served version."""
        return (self.group, self.plural)

    def path_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


# ---------------------------------------------------------------- column helpers


def dig(obj: Any, *path: Any, default: Any = None) -> Any:
    """Follow keys and indexes; ``default`` when any step is missing."""
    cur = obj
    for step in path:
        try:
            cur = cur[step]
        except (KeyError, IndexError, TypeError):
            return default
    return cur


def condition_status(obj: dict[str, Any], ctype: str) -> str | None:
    for cond in dig(obj, "status", "conditions", default=[]) or []:
        if cond.get("type") == ctype:
            return cond.get("status")
    return None


def _age(obj: dict[str, Any]) -> Any:
    return dig(obj, "metadata", "creationTimestamp")


AGE = Column("Age", "date", _age)


def _pod_ready(pod: dict[str, Any]) -> str:
    statuses = dig(pod, "status", "containerStatuses", default=[]) or []
    total = len(dig(pod, "spec", "containers", default=[]) or []) or len(statuses)
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{total}"


def _pod_status(pod: dict[str, Any]) -> str:
    if dig(pod, "metadata", "deletionTimestamp"):
        return "Terminating"
    phase = dig(pod, "status", "phase", default="Pending")
    for s in dig(pod, "status", "containerStatuses", default=[]) or []:
        waiting = dig(s, "state", "waiting", "reason")
        if waiting:
            return waiting
        terminated = dig(s, "state", "terminated", "reason")
        if terminated:
            return terminated
    return phase


def _pod_restarts(pod: dict[str, Any]) -> int:
    return sum(int(s.get("restartCount", 0)) for s in dig(pod, "status", "containerStatuses", default=[]) or [])


def _node_status(node: dict[str, Any]) -> str:
    ready = condition_status(node, "Ready")
    text = "Ready" if ready == "True" else "NotReady"
    if dig(node, "spec", "unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(node: dict[str, Any]) -> str:
    labels = dig(node, "metadata", "labels", default={}) or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _modes(obj: dict[str, Any], *path: str) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadWriteMany": "RWX", "ReadOnlyMany": "ROX", "ReadWriteOncePod": "RWOP"}
    return ",".join(short.get(m, m) for m in dig(obj, *path, default=[]) or [])


def _event_object(ev: dict[str, Any]) -> str:
    kind = dig(ev, "involvedObject", "kind", default="")
    return f"{kind.lower()}/{dig(ev, 'involvedObject', 'name', default='')}"


# ---------------------------------------------------------------- the kinds

NAMESPACES = ResourceType(
    "", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), name_rule="label",
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    columns=(Column("Status", "string", lambda o: dig(o, "status", "phase", default="Active")), AGE),
)
NODES = ResourceType(
    "", "v1", "nodes", "node", "Node", False, ("no",),
    columns=(
        Column("Status", "string", _node_status),
        Column("Roles", "string", _node_roles),
        AGE,
        Column("Version", "string", lambda o: dig(o, "status", "nodeInfo", "kubeletVersion", default="")),
        Column("Internal-IP", "string", lambda o: next(
            (a.get("address") for a in dig(o, "status", "addresses", default=[]) or [] if a.get("type") == "InternalIP"),
            "<none>"), priority=1),
    ),
)
PODS = ResourceType(
    "", "v1", "pods", "pod", "Pod", True, ("po",), ("all",),
    columns=(
        Column("Ready", "string", _pod_ready),
        Column("Status", "string", _pod_status),
        Column("Restarts", "integer", _pod_restarts),
        AGE,
        Column("IP", "string", lambda o: dig(o, "status", "podIP", default="<none>"), priority=1),
        Column("Node", "string", lambda o: dig(o, "spec", "nodeName", default="<none>"), priority=1),
    ),
)
EVENTS = ResourceType(
    "", "v1", "events", "event", "Event", True, ("ev",), has_status=False,
    columns=(
        Column("Last Seen", "date", lambda o: o.get("lastTimestamp") or dig(o, "metadata", "creationTimestamp")),
        Column("Type", "string", lambda o: o.get("type", "")),
        Column("Reason", "string", lambda o: o.get("reason", "")),
        Column("Object", "string", _event_object),
        Column("Message", "string", lambda o: o.get("message", "")),
    ),
)
PVCS = ResourceType(
    "", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", True, ("pvc",),
    columns=(
        Column("Status", "string", lambda o: dig(o, "status", "phase", default="Pending")),
        Column("Volume", "string", lambda o: dig(o, "spec", "volumeName", default="")),
        Column("Capacity", "string", lambda o: dig(o, "status", "capacity", "storage", default="")),
        Column("Access Modes", "string", lambda o: _modes(o, "status", "accessModes")),
        Column("StorageClass", "string", lambda o: dig(o, "spec", "storageClassName", default="<unset>")),
        AGE,
    ),
)
PVS = ResourceType(
    "", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False, ("pv",),
    columns=(
        Column("Capacity", "string", lambda o: dig(o, "spec", "capacity", "storage", default="")),
        Column("Access Modes", "string", lambda o: _modes(o, "spec", "accessModes")),
        Column("Reclaim Policy", "string", lambda o: dig(o, "spec", "persistentVolumeReclaimPolicy", default="")),
        Column("Status", "string", lambda o: dig(o, "status", "phase", default="")),
        Column("Claim", "string", lambda o: (
            f"{dig(o, 'spec', 'claimRef', 'namespace')}/{dig(o, 'spec', 'claimRef', 'name')}"
            if dig(o, "spec", "claimRef") else "")),
        Column("StorageClass", "string", lambda o: dig(o, "spec", "storageClassName", default="")),
        AGE,
    ),
)
STORAGECLASSES = ResourceType(
    "storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", False, ("sc",), has_status=False,
    columns=(
        Column("Provisioner", "string", lambda o: o.get("provisioner", "")),
        Column("ReclaimPolicy", "string", lambda o: o.get("reclaimPolicy", "Delete")),
        Column("VolumeBindingMode", "string", lambda o: o.get("volumeBindingMode", "Immediate")),
        Column("AllowVolumeExpansion", "string", lambda o: str(bool(o.get("allowVolumeExpansion", False))).lower()),
        AGE,
    ),
)

# a run's liveness record (src/vmconform/lease.py); columns as kubectl shows them for leases
LEASES = ResourceType(
    "coordination.k8s.io", "v1", "leases", "lease", "Lease", True, has_status=False,
    columns=(Column("Holder", "string", lambda o: dig(o, "spec", "holderIdentity", default="")), AGE),
)


def _ports(svc: dict[str, Any]) -> str:
    out = []
    for p in dig(svc, "spec", "ports", default=[]) or []:
        text = f"{p.get('port')}:{p['nodePort']}" if p.get("nodePort") else str(p.get("port"))
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _selector(obj: dict[str, Any], *path: str) -> str:
    sel = dig(obj, *path, default=None) or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"


def _ready_replicas(obj: dict[str, Any]) -> str:
    return f"{dig(obj, 'status', 'readyReplicas', default=0)}/{dig(obj, 'spec', 'replicas', default=1)}"


def _budget(obj: dict[str, Any], key: str) -> Any:
    value = dig(obj, "spec", key)
    return "N/A" if value is None else str(value)


CONFIGMAPS = ResourceType(
    "", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",), has_status=False,
    columns=(Column("Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})), AGE),
)
SECRETS = ResourceType(
    "", "v1", "secrets", "secret", "Secret", True, has_status=False,
    columns=(Column("Type", "string", lambda o: o.get("type", "Opaque")),
             Column("Data", "integer", lambda o: len(o.get("data") or {})), AGE),
)
SERVICES = ResourceType(
    "", "v1", "services", "service", "Service", True, ("svc",), ("all",), name_rule="dns1035",
    columns=(
        Column("Type", "string", lambda o: dig(o, "spec", "type", default="ClusterIP")),
        Column("Cluster-IP", "string", lambda o: dig(o, "spec", "clusterIP", default="<none>")),
        Column("External-IP", "string", lambda o: dig(o, "spec", "externalName")
               or ",".join(i.get("ip", "") for i in dig(o, "status", "loadBalancer", "ingress", default=[]) or [])
               or "<none>"),
        Column("Port(s)", "string", _ports),
        AGE,
        Column("Selector", "string", lambda o: _selector(o, "spec", "selector"), priority=1),
    ),
)
SERVICEACCOUNTS = ResourceType(
    "", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",), has_status=False,
    columns=(Column("Secrets", "integer", lambda o: len(o.get("secrets") or [])), AGE),
)
PDBS = ResourceType(
    "policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True, ("pdb",),
    columns=(
        Column("Min Available", "string", lambda o: _budget(o, "minAvailable")),
        Column("Max Unavailable", "string", lambda o: _budget(o, "maxUnavailable")),
        Column("Allowed Disruptions", "integer", lambda o: dig(o, "status", "disruptionsAllowed", default=0)),
        AGE,
    ),
)
DEPLOYMENTS = ResourceType(
    "apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), ("all",),
    columns=(
        Column("Ready", "string", _ready_replicas),
        Column("Up-to-date", "integer", lambda o: dig(o, "status", "updatedReplicas", default=0)),
        Column("Available", "integer", lambda o: dig(o, "status", "availableReplicas", default=0)),
        AGE,
        Column("Selector", "string", lambda o: _selector(o, "spec", "selector", "matchLabels"), priority=1),
    ),
)
REPLICASETS = ResourceType(
    "apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",), ("all",),
    columns=(
        Column("Desired", "integer", lambda o: dig(o, "spec", "replicas", default=1)),
        Column("Current", "integer", lambda o: dig(o, "status", "replicas", default=0)),
        Column("Ready", "integer", lambda o: dig(o, "status", "readyReplicas", default=0)),
        AGE,
    ),
)
DAEMONSETS = ResourceType(
    "apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",), ("all",),
    columns=(
        Column("Desired", "integer", lambda o: dig(o, "status", "desiredNumberScheduled", default=0)),
        Column("Current", "integer", lambda o: dig(o, "status", "currentNumberScheduled", default=0)),
        Column("Ready", "integer", lambda o: dig(o, "status", "numberReady", default=0)),
        Column("Up-to-date", "integer", lambda o: dig(o, "status", "updatedNumberScheduled", default=0)),
        Column("Available", "integer", lambda o: dig(o, "status", "numberAvailable", default=0)),
        Column("Node Selector", "string", lambda o: _selector(o, "spec", "template", "spec", "nodeSelector")),
        AGE,
    ),
)

# stored and served only (no Job controller): `vmconform manifests` applies one (dry run) in tests
JOBS = ResourceType(
    "batch", "v1", "jobs", "job", "Job", True, categories=("all",),
    columns=(
        Column("Status", "string", lambda o: "Complete" if dig(o, "status", "succeeded") else "Running"),
        Column("Completions", "string", lambda o: f"{dig(o, 'status', 'succeeded', default=0)}/"
                                                  f"{dig(o, 'spec', 'completions', default=1)}"),
        AGE,
    ),
)

KUBEVIRT_GROUP = "kubevirt.io"

VMS = ResourceType(
    KUBEVIRT_GROUP, "v1", "virtualmachines", "virtualmachine", "VirtualMachine", True, ("vm", "vms"), ("all",),
    custom=True,
    columns=(
        AGE,
        Column("Status", "string", lambda o: dig(o, "status", "printableStatus", default="")),
        Column("Ready", "string", lambda o: condition_status(o, "Ready") or ""),
    ),
)
VMIS = ResourceType(
    KUBEVIRT_GROUP, "v1", "virtualmachineinstances", "virtualmachineinstance", "VirtualMachineInstance", True,
    ("vmi", "vmis"), ("all",), custom=True,
    columns=(
        AGE,
        Column("Phase", "string", lambda o: dig(o, "status", "phase", default="")),
        Column("IP", "string", lambda o: dig(o, "status", "interfaces", 0, "ipAddress", default="")),
        Column("NodeName", "string", lambda o: dig(o, "status", "nodeName", default="")),
        Column("Ready", "string", lambda o: condition_status(o, "Ready") or ""),
        Column("Live-Migratable", "string", lambda o: condition_status(o, "LiveMigratable") or "", priority=1),
        Column("Paused", "string", lambda o: condition_status(o, "Paused") or "", priority=1),
    ),
)
VMIMS = ResourceType(
    KUBEVIRT_GROUP, "v1", "virtualmachineinstancemigrations", "virtualmachineinstancemigration",
    "VirtualMachineInstanceMigration", True, ("vmim", "vmims"), ("all",), custom=True,
    columns=(
        Column("Phase", "string", lambda o: dig(o, "status", "phase", default="")),
        Column("VMI", "string", lambda o: dig(o, "spec", "vmiName", default="")),
    ),
)
KUBEVIRTS = ResourceType(
    KUBEVIRT_GROUP, "v1", "kubevirts", "kubevirt", "KubeVirt", True, ("kv", "kvs"), ("all",), custom=True,
    columns=(AGE, Column("Phase", "string", lambda o: dig(o, "status", "phase", default=""))),
)

# One entry per served kind: adding a kind is one ResourceType above and one name here.
ALL: tuple[ResourceType, ...] = (
    NAMESPACES, NODES, PODS, EVENTS, PVCS, PVS, CONFIGMAPS, SECRETS, SERVICES, SERVICEACCOUNTS,
    STORAGECLASSES, LEASES, PDBS, DEPLOYMENTS, REPLICASETS, DAEMONSETS, VMS, VMIS, VMIMS, KUBEVIRTS,
    JOBS,
)


class Registry:
    """Lookup of served kinds by URL pieces."""

    def __init__(self, kinds: tuple[ResourceType, ...] = ALL) -> None:
        self.kinds = kinds
        self._by_path = {(k.group, k.version, k.plural): k for k in kinds}
        self._by_kind = {(k.group, k.kind): k for k in kinds}

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, kind))

    def groups(self) -> dict[str, list[str]]:
        """Named API groups → served versions, in registration order."""
        out: dict[str, list[str]] = {}
        for k in self.kinds:
            if k.group:
                versions = out.setdefault(k.group, [])
                if k.version not in versions:
                    versions.append(k.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [k for k in self.kinds if k.group == group and k.version == version]
