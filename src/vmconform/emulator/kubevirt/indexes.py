"""The store indexes the KubeVirt controllers look objects up by (instead of scanning a kind).

Each index maps a value to the objects that have it; namespaced lookups carry the namespace in the
value (``(namespace, x)``). :func:`install` registers them all (idempotent); the context does so
when it is created, before any controller runs.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable

from ..resources import PODS, VMIMS, VMIS, dig
from ..store import Store
from .constants import LABEL_CREATED_BY, LABEL_MIGRATION_JOB_UID, LABEL_VMI_NAME

Obj = dict[str, Any]

POD_CREATED_BY = "pod:created-by"  # (namespace, label kubevirt.io/created-by): a VMI's launcher pods
POD_MIGRATION_JOB = "pod:migration-job"  # (namespace, label kubevirt.io/migrationJobUID): target pods
POD_NODE = "pod:node"  # spec.nodeName: the pods bound to a node
POD_CLAIM = "pod:claim"  # (namespace, claimName): the pods mounting a PersistentVolumeClaim
VMIM_VMI = "vmim:vmi"  # (namespace, spec.vmiName)
VMIM_VMI_LABEL = "vmim:vmi-label"  # (namespace, label kubevirt.io/vmi-name)
VMIM_UID = "vmim:uid"  # (namespace, metadata.uid)
VMIM_PHASE = "vmim:phase"  # status.phase (None while unset)
VMI_PHASE = "vmi:phase"  # status.phase (None while unset)


def _label(key: str) -> Callable[[Obj], Iterable[Hashable]]:
    def values(obj: Obj) -> Iterable[Hashable]:
        labels = obj["metadata"].get("labels") or {}
        if key not in labels:
            return ()
        return ((obj["metadata"].get("namespace"), labels[key]),)
    return values


def _node(pod: Obj) -> Iterable[Hashable]:
    node = dig(pod, "spec", "nodeName")
    return (node,) if node else ()


def _claims(pod: Obj) -> Iterable[Hashable]:
    ns = pod["metadata"].get("namespace")
    return [(ns, claim) for vol in dig(pod, "spec", "volumes", default=[]) or []
            if (claim := dig(vol, "persistentVolumeClaim", "claimName"))]


def _vmi_name(mig: Obj) -> Iterable[Hashable]:
    return ((mig["metadata"].get("namespace"), dig(mig, "spec", "vmiName")),)


def _uid(obj: Obj) -> Iterable[Hashable]:
    return ((obj["metadata"].get("namespace"), obj["metadata"].get("uid")),)


def _phase(obj: Obj) -> Iterable[Hashable]:
    return (dig(obj, "status", "phase"),)


def install(store: Store) -> None:
    store.add_index(PODS, POD_CREATED_BY, _label(LABEL_CREATED_BY))
    store.add_index(PODS, POD_MIGRATION_JOB, _label(LABEL_MIGRATION_JOB_UID))
    store.add_index(PODS, POD_NODE, _node)
    store.add_index(PODS, POD_CLAIM, _claims)
    store.add_index(VMIMS, VMIM_VMI, _vmi_name)
    store.add_index(VMIMS, VMIM_VMI_LABEL, _label(LABEL_VMI_NAME))
    store.add_index(VMIMS, VMIM_UID, _uid)
    store.add_index(VMIMS, VMIM_PHASE, _phase)
    store.add_index(VMIS, VMI_PHASE, _phase)
