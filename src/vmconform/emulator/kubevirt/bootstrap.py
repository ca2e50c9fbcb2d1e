"""The cluster as it looks after install: nodes, storage classes, the KubeVirt CR (phase Deployed)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..resources import KUBEVIRTS, NAMESPACES, NODES, STORAGECLASSES, dig
from ..store import Event
from ..timeutil import now_rfc3339
from .constants import (
    ANNO_DEFAULT_CLASS, FINALIZER_KUBEVIRT, INSTALL_NAMESPACE, KUBEVIRT_CR_NAME, LABEL_HOSTNAME, LABEL_SCHEDULABLE,
)
from . import components
from .context import KubeVirtContext, context_of
from .releases import DEFAULT_RELEASE, Release
from .storage import BLOCK_PROVISIONER, LOCAL_PROVISIONER, SHARED_PROVISIONER
from .util import add_finalizer, remove_finalizers, set_condition

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]

CONTROL_PLANE = "control-plane"
KUBELET_VERSION = "v1.32.4"
NODE_CPU = "8"
NODE_MEMORY = "16Gi"
NODE_PODS = "110"

# §4.4 defaults, written into spec.configuration.migrations of the KubeVirt CR.
MIGRATION_DEFAULTS: dict[str, Any] = {
    "parallelMigrationsPerCluster": 5,
    "parallelOutboundMigrationsPerNode": 2,
    "bandwidthPerMigration": "0Mi",
    "completionTimeoutPerGiB": 150,
    "progressTimeout": 150,
    "allowAutoConverge": False,
    "allowPostCopy": False,
    "allowWorkloadDisruption": False,
    "unsafeMigrationOverride": False,
    "disableTLS": False,
    "matchSELinuxLevelOnMigration": False,
    "nodeDrainTaintKey": "kubevirt.io/drain",
    "utilityVolumesTimeout": 150,
}


def worker_names(count: int) -> list[str]:
    return [f"node{i:02d}" for i in range(1, count + 1)]


def node_object(name: str, index: int, control_plane: bool, memory: str = NODE_MEMORY,
                cpu: str = NODE_CPU) -> Obj:
    labels = {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", LABEL_HOSTNAME: name,
    }
    spec: Obj = {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]}
    capacity = {"cpu": cpu, "memory": memory, "pods": NODE_PODS, "ephemeral-storage": "100Gi"}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    else:
        labels["node-role.kubernetes.io/worker"] = ""
        labels[LABEL_SCHEDULABLE] = "true"
        labels["kubevirt.io/ksm-enabled"] = "false"
        labels["cpu-vendor.node.kubevirt.io/GenuineIntel"] = "true"
        capacity.update({"devices.kubevirt.io/kvm": "1k", "devices.kubevirt.io/tun": "1k",
                         "devices.kubevirt.io/vhost-net": "1k"})
    now = now_rfc3339()
    conds = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    return {
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [{"type": t, "status": s, "reason": r, "message": m,
                            "lastHeartbeatTime": now, "lastTransitionTime": now} for t, s, r, m in conds],
            "addresses": [{"type": "InternalIP", "address": f"192.168.66.{100 + index}"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": str(uuid.uuid4()), "containerRuntimeVersion": "containerd://1.7.24",
                "kernelVersion": "6.8.0-emulated", "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION, "machineID": uuid.uuid4().hex,
                "operatingSystem": "linux", "osImage": "vmconform emulated node", "systemUUID": str(uuid.uuid4()),
            },
        },
    }


def storage_classes(kinds: str = "rwx,rwo") -> list[Obj]:
    """The emulated classes; ``kinds`` "rwo" leaves out the shared (RWX) one and makes local-rwo the default."""
    wanted = {k.strip() for k in kinds.split(",") if k.strip()}
    classes = [
        {"metadata": {"name": "shared-rwx", "annotations": {
            ANNO_DEFAULT_CLASS: "true",
            "description": "emulated shared storage: ReadWriteMany and ReadWriteOnce"}},
         "provisioner": SHARED_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
         "allowVolumeExpansion": True},
        {"metadata": {"name": "local-rwo", "annotations": {
            "description": "emulated node-local storage: ReadWriteOnce only"}},
         "provisioner": LOCAL_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
         "allowVolumeExpansion": False},
    ]
    classes.append(
        {"metadata": {"name": "shared-rwx-block", "annotations": {
            "description": "emulated shared block storage: ReadWriteMany for Block volumes, ReadWriteOnce"}},
         "provisioner": BLOCK_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
         "allowVolumeExpansion": True})
    if "rwx" not in wanted:
        classes = classes[1:2]
        classes[0]["metadata"]["annotations"][ANNO_DEFAULT_CLASS] = "true"
    return classes


def kubevirt_cr() -> Obj:
    return {
        "apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
        "metadata": {"name": KUBEVIRT_CR_NAME, "namespace": INSTALL_NAMESPACE,
                     "annotations": {"kubevirt.io/latest-observed-api-version": "v1",
                                     "kubevirt.io/storage-observed-api-version": "v1"}},
        "spec": {
            "certificateRotateStrategy": {},
            "configuration": {"developerConfiguration": {"featureGates": []},
                              "migrations": dict(MIGRATION_DEFAULTS)},
            "customizeComponents": {},
            "imagePullPolicy": "IfNotPresent",
            "workloadUpdateStrategy": {},
        },
    }


def deployed_status(cr: Obj, release: Release = DEFAULT_RELEASE) -> Obj:
    status = dict(cr.get("status") or {})
    for ctype, value, reason, message in (
        ("Available", "True", "AllComponentsReady", "All components are ready."),
        ("Progressing", "False", "AllComponentsReady", "All components are ready."),
        ("Degraded", "False", "AllComponentsReady", "All components are ready."),
        ("Created", "True", "AllResourcesCreated", "All resources were created."),
    ):
        set_condition(status, ctype, value, reason, message, probe=True)
    deployment_id = status.get("observedDeploymentID") or uuid.uuid4().hex[:16]
    status.update({
        "phase": "Deployed",
        "defaultArchitecture": "amd64",
        "operatorVersion": release.version,
        "targetKubeVirtVersion": release.version, "observedKubeVirtVersion": release.version,
        "targetKubeVirtRegistry": release.registry, "observedKubeVirtRegistry": release.registry,
        "targetDeploymentID": deployment_id, "observedDeploymentID": deployment_id,
        "observedGeneration": int(cr["metadata"].get("generation", 1)),
        "outdatedVirtualMachineInstanceWorkloads": 0,
    })
    return status


class ClusterBootstrap:
    """Creates the install-time objects and plays virt-operator for the KubeVirt CR."""

    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        store = ctx.store
        options = emulator.options
        extra = getattr(options, "extra", None) or {}
        memory = str(extra.get("node_memory", NODE_MEMORY))
        cpu = str(extra.get("node_cpu", NODE_CPU))
        if store.peek(NODES, None, CONTROL_PLANE) is None:
            store.create(NODES, node_object(CONTROL_PLANE, 0, True))
        for i, name in enumerate(worker_names(max(int(options.nodes), 0)), start=1):
            if store.peek(NODES, None, name) is None:
                store.create(NODES, node_object(name, i, False, memory, cpu))
        for sc in storage_classes(str(extra.get("storage", "rwx,rwo"))):
            if store.peek(STORAGECLASSES, None, sc["metadata"]["name"]) is None:
                store.create(STORAGECLASSES, sc)
        if store.peek(NAMESPACES, None, INSTALL_NAMESPACE) is None:
            store.create(NAMESPACES, {"metadata": {"name": INSTALL_NAMESPACE,
                                                   "labels": {"kubevirt.io": ""}}})
        components.install(store)  # virt-api, virt-controller, virt-operator, virt-handler per node
        ctx.queue.register("kubevirt", self.reconcile)
        ctx.watch(KUBEVIRTS, self._on_event)
        if store.peek(KUBEVIRTS, INSTALL_NAMESPACE, KUBEVIRT_CR_NAME) is None:
            cr = store.create(KUBEVIRTS, ctx.release.prune("KubeVirt", kubevirt_cr()), INSTALL_NAMESPACE)
            # Installed before the suite looks: the CR is Deployed from the start.
            self._deploy(cr["metadata"]["namespace"], cr["metadata"]["name"])

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    def _on_event(self, ev: Event) -> None:
        if ev.type != "DELETED":
            meta = ev.obj["metadata"]
            assert self.ctx is not None
            self.ctx.queue.add("kubevirt", meta["namespace"], meta["name"])

    def _deploy(self, ns: str, name: str) -> None:
        assert self.ctx is not None
        release = self.ctx.release

        def fn(cr: Obj) -> None:
            add_finalizer(cr, FINALIZER_KUBEVIRT)
            cr["status"] = deployed_status(cr, release)

        self.ctx.store.mutate(KUBEVIRTS, ns, name, fn, status=True)

    def reconcile(self, ns: str, name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        cr = ctx.store.peek(KUBEVIRTS, ns, name)
        if cr is None:
            return
        meta = cr["metadata"]
        uid = meta["uid"]
        key = ("kubevirt", ns, name)
        if meta.get("deletionTimestamp"):
            phase = dig(cr, "status", "phase")
            if phase not in ("Deleting", "Deleted"):
                def deleting(o: Obj) -> None:
                    st = o.setdefault("status", {})
                    st["phase"] = "Deleting"
                    for ctype, value in (("Available", "False"), ("Progressing", "False"), ("Degraded", "True")):
                        set_condition(st, ctype, value, "DeletionInProgress", "Deletion was triggered", probe=True)
                ctx.store.mutate(KUBEVIRTS, ns, name, deleting, status=True)
                return
            if ctx.gate(uid, "operator", "delete", "kubevirt.reconcile", key):
                def deleted(o: Obj) -> None:
                    o.setdefault("status", {})["phase"] = "Deleted"
                    remove_finalizers(o, FINALIZER_KUBEVIRT)
                ctx.store.mutate(KUBEVIRTS, ns, name, deleted, status=True)
            return
        observed = dig(cr, "status", "observedGeneration")
        if observed == meta.get("generation") and dig(cr, "status", "phase") == "Deployed":
            return
        if ctx.gate(uid, "operator", f"deploy:{meta.get('generation')}", "kubevirt.reconcile", key):
            self._deploy(ns, name)


def migration_config(ctx: KubeVirtContext) -> dict[str, Any]:
    """spec.configuration.migrations of the active KubeVirt CR, with §4.4 defaults filled in
    (worked out again only after a KubeVirt CR changed: pending migrations ask on every retry)."""
    version = ctx.store.kind_version(KUBEVIRTS)
    memo = ctx.memo.get("migration_config")
    if memo is None or memo[0] != version:
        out = dict(MIGRATION_DEFAULTS)
        for cr in ctx.store.items(KUBEVIRTS):
            if cr["metadata"].get("deletionTimestamp"):
                continue
            out.update(dig(cr, "spec", "configuration", "migrations", default={}) or {})
            break
        memo = ctx.memo["migration_config"] = (version, out)
    return dict(memo[1])
