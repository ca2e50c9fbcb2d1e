"""PersistentVolumeClaims: default class, dynamic provisioning by access mode, protection finalizers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..resources import PODS, PVCS, PVS, STORAGECLASSES, ResourceType, dig
from ..store import Event
from .constants import (
    ANNO_DEFAULT_CLASS, EV_NORMAL, EV_WARNING, FINALIZER_PV_PROTECTION, FINALIZER_PVC_PROTECTION,
)
from .context import KubeVirtContext, context_of
from .indexes import POD_CLAIM
from .util import add_finalizer, remove_finalizers

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]

SHARED_PROVISIONER = "shared.csi.vmconform.io"
LOCAL_PROVISIONER = "local.csi.vmconform.io"
# shared block storage (like Ceph RBD): ReadWriteMany only for volumeMode Block
BLOCK_PROVISIONER = "block.csi.vmconform.io"
ALL_MODES = frozenset({"ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"})
# What each emulated provisioner can give.
PROVISIONER_MODES: dict[str, frozenset[str]] = {
    SHARED_PROVISIONER: ALL_MODES,
    LOCAL_PROVISIONER: frozenset({"ReadWriteOnce", "ReadWriteOncePod"}),
    BLOCK_PROVISIONER: ALL_MODES,
}
# provisioners that give multi-node access modes only to Block volumes
MULTI_NODE_NEEDS_BLOCK = frozenset({BLOCK_PROVISIONER})
MULTI_NODE_MODES = frozenset({"ReadWriteMany", "ReadOnlyMany"})
PV_CONTROLLER = "persistentvolume-controller"


def default_class(ctx: KubeVirtContext) -> str | None:
    for sc in ctx.store.items(STORAGECLASSES):
        if (sc["metadata"].get("annotations") or {}).get(ANNO_DEFAULT_CLASS) == "true":
            return sc["metadata"]["name"]
    return None


def pvc_access_modes(pvc: Obj) -> list[str]:
    """The modes a bound claim has (status), else what it asks for (spec)."""
    return list(dig(pvc, "status", "accessModes", default=None) or dig(pvc, "spec", "accessModes", default=[]) or [])


def pvc_in_use(ctx: KubeVirtContext, ns: str, claim: str) -> bool:
    return any(dig(pod, "status", "phase") not in ("Succeeded", "Failed")
               for pod in ctx.store.by_index(PODS, POD_CLAIM, (ns, claim)))


class StorageController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.store.admitters.append(self._admit)
        ctx.queue.register("pvc", self.reconcile)
        ctx.queue.register("pv", self.reconcile_pv)
        ctx.watch(PVCS, self._on_pvc)
        ctx.watch(PVS, self._on_pv)
        ctx.watch(PODS, self._on_pod)

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    # ------------------------------------------------------------ admission (DefaultStorageClass, defaults)

    def _admit(self, op: str, res: ResourceType, obj: Obj, old: Obj | None) -> None:
        if res is not PVCS or op != "CREATE" or self.ctx is None:
            return
        spec = obj.setdefault("spec", {})
        if "storageClassName" not in spec or spec.get("storageClassName") is None:
            cls = default_class(self.ctx)
            if cls:
                spec["storageClassName"] = cls
        spec.setdefault("volumeMode", "Filesystem")
        add_finalizer(obj, FINALIZER_PVC_PROTECTION)
        obj["status"] = {"phase": "Pending"}

    # ------------------------------------------------------------ events

    def _on_pvc(self, ev: Event) -> None:
        if self.ctx is None:
            return
        m = ev.obj["metadata"]
        if ev.type != "DELETED":
            self.ctx.queue.add("pvc", m["namespace"], m["name"])
        elif dig(ev.obj, "spec", "volumeName"):
            self.ctx.queue.add("pv", "", ev.obj["spec"]["volumeName"])

    def _on_pv(self, ev: Event) -> None:
        if ev.type != "DELETED" and self.ctx is not None:
            self.ctx.queue.add("pv", "", ev.obj["metadata"]["name"])

    def _on_pod(self, ev: Event) -> None:
        """A pod going away may release a claim that is being deleted."""
        if self.ctx is None or ev.type == "ADDED":
            return
        ns = ev.obj["metadata"].get("namespace", "")
        for vol in dig(ev.obj, "spec", "volumes", default=[]) or []:
            claim = dig(vol, "persistentVolumeClaim", "claimName")
            if claim:
                self.ctx.queue.add("pvc", ns, claim)

    # ------------------------------------------------------------ reconcile

    def reconcile(self, ns: str, name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        pvc = ctx.store.peek(PVCS, ns, name)
        if pvc is None:
            return
        ctx.behaviour.datastore_mounts(pvc)
        meta = pvc["metadata"]
        if meta.get("deletionTimestamp"):
            if FINALIZER_PVC_PROTECTION in (meta.get("finalizers") or []) and not pvc_in_use(ctx, ns, name):
                volume = dig(pvc, "spec", "volumeName")
                ctx.store.mutate(PVCS, ns, name, lambda o: remove_finalizers(o, FINALIZER_PVC_PROTECTION))
                if volume:
                    ctx.queue.add("pv", "", volume)
            return
        if dig(pvc, "status", "phase") == "Bound" or dig(pvc, "spec", "volumeName"):
            return
        cls_name = dig(pvc, "spec", "storageClassName")
        key = ("pvc", ns, name)
        if not cls_name:
            return  # static binding is not emulated: waits for a matching PV forever, like no default class
        sc = ctx.store.peek(STORAGECLASSES, None, cls_name)
        if sc is None:
            ctx.events.record(pvc, EV_WARNING, "ProvisioningFailed",
                              f'storageclass.storage.k8s.io "{cls_name}" not found', PV_CONTROLLER)
            return
        provisioner = sc.get("provisioner", "")
        modes = PROVISIONER_MODES.get(provisioner)
        if modes is None:
            ctx.events.record(pvc, EV_NORMAL, "ExternalProvisioning",
                              f"Waiting for a volume to be created either by the external provisioner "
                              f"'{provisioner}' or manually by the system administrator. If volume creation is "
                              f"delayed, please verify that the provisioner is running and correctly registered.",
                              PV_CONTROLLER)
            return
        wanted = pvc_access_modes(pvc) or ["ReadWriteOnce"]
        unsupported = [m for m in wanted if m not in modes]
        if provisioner in MULTI_NODE_NEEDS_BLOCK and dig(pvc, "spec", "volumeMode") != "Block":
            unsupported += [m for m in wanted if m in MULTI_NODE_MODES]
        if unsupported:
            ctx.events.record(
                pvc, EV_WARNING, "ProvisioningFailed",
                f'failed to provision volume with StorageClass "{cls_name}": rpc error: code = InvalidArgument '
                f'desc = access mode {unsupported[0]} is not supported by {provisioner}', provisioner)
            return
        first = not ctx.gates.has(meta["uid"], "bind")
        if not ctx.gate(meta["uid"], "bind", "bind", "pvc.bind", key):
            if first:
                ctx.events.record(pvc, EV_NORMAL, "Provisioning",
                                  f'External provisioner is provisioning volume for claim "{ns}/{name}"', provisioner)
            return
        self._bind(pvc, sc, wanted)

    def _bind(self, pvc: Obj, sc: Obj, modes: list[str]) -> None:
        ctx = self.ctx
        assert ctx is not None
        meta = pvc["metadata"]
        ns, name = meta["namespace"], meta["name"]
        storage = dig(pvc, "spec", "resources", "requests", "storage", default="1Gi")
        pv_name = f"pvc-{meta['uid']}"
        provisioner = sc.get("provisioner", "")
        if ctx.store.peek(PVS, None, pv_name) is None:
            ctx.store.create(PVS, {
                "metadata": {"name": pv_name, "finalizers": [FINALIZER_PV_PROTECTION],
                             "annotations": {"pv.kubernetes.io/provisioned-by": provisioner,
                                             "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                                             "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""}},
                "spec": {
                    "accessModes": modes, "capacity": {"storage": storage},
                    "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns,
                                 "name": name, "uid": meta["uid"],
                                 "resourceVersion": meta.get("resourceVersion", "")},
                    "csi": {"driver": provisioner, "volumeHandle": pv_name, "fsType": "ext4"},
                    "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                    "storageClassName": sc["metadata"]["name"],
                    "volumeMode": dig(pvc, "spec", "volumeMode", default="Filesystem"),
                },
                "status": {"phase": "Bound"},
            })

        def bind(o: Obj) -> None:
            o["spec"]["volumeName"] = pv_name
            ann = o["metadata"].setdefault("annotations", {})
            ann.update({"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                        "volume.beta.kubernetes.io/storage-provisioner": provisioner,
                        "volume.kubernetes.io/storage-provisioner": provisioner})
            o["status"] = {"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}}

        ctx.store.mutate(PVCS, ns, name, bind)
        ctx.events.record(pvc, EV_NORMAL, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}",
                          provisioner)

    def reconcile_pv(self, _ns: str, name: str) -> None:
        """Reclaim policy Delete: a PV whose claim is gone is deleted (its protection finalizer dropped)."""
        ctx = self.ctx
        assert ctx is not None
        pv = ctx.store.peek(PVS, None, name)
        if pv is None:
            return
        ref = dig(pv, "spec", "claimRef")
        if not ref:
            return
        claim = ctx.store.peek(PVCS, ref.get("namespace"), ref.get("name", ""))
        if claim is not None and claim["metadata"]["uid"] == ref.get("uid"):
            return
        if pv["metadata"].get("deletionTimestamp"):
            ctx.store.mutate(PVS, None, name, lambda o: remove_finalizers(o, FINALIZER_PV_PROTECTION))
            return
        if dig(pv, "spec", "persistentVolumeReclaimPolicy") == "Delete":
            ctx.store.delete(PVS, None, name)
        elif dig(pv, "status", "phase") != "Released":
            ctx.store.mutate(PVS, None, name, lambda o: o.setdefault("status", {}).update({"phase": "Released"}),
                             status=True)
