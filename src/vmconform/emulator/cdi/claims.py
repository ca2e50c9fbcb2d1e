"""A DataVolume's source and the claim CDI renders for it (pkg/controller/datavolume/util.go, v1.66.0).

``spec.pvc`` is taken as written. ``spec.storage`` is completed from the StorageProfile of its class
(the class named, else the default *virt* class, else the cluster's default class): no access mode and
no volume mode → the profile's first claimPropertySet; a volume mode only → the access modes of the
first set with that mode; access modes only → the volume mode of the first set that has them
(else Filesystem). A clone with no size asks for its source's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..resources import PVCS, STORAGECLASSES, dig
from ..store import Store
from .constants import ANNO_DEFAULT_VIRT_CLASS, ANNO_IMPORT_ENDPOINT, MSG_CLONE_WITHOUT_SOURCE
from .datasource import source_pvc
from .kinds import DATASOURCES, STORAGEPROFILES
from .profiles import claim_property_sets

Obj = dict[str, Any]
CLONE, IMPORT = "clone", "import"
ANNO_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class Source:
    kind: str  # CLONE or IMPORT
    namespace: str = ""  # clone: the source PVC
    name: str = ""
    endpoint: str = ""  # what the guest's disk holds (import URL, or the source PVC's)
    problem: str = ""  # the source cannot be used (yet): why
    size: str = ""


class ClaimError(ValueError):
    """The claim cannot be rendered (CDI records ErrClaimNotValid)."""


def resolve_source(store: Store, dv: Obj) -> Source:
    ns = dv["metadata"]["namespace"]
    spec = dv.get("spec") or {}
    ref = spec.get("sourceRef")
    if ref:
        ds_ns = ref.get("namespace") or ns
        ds = store.peek(DATASOURCES, ds_ns, ref.get("name", ""))
        if ref.get("kind") != "DataSource" or ds is None:
            return Source(CLONE, problem=MSG_CLONE_WITHOUT_SOURCE.format(kind="datasource", name=ref.get("name")))
        target = source_pvc(ds)
        if target is None:
            return Source(CLONE, problem=f"DataSource {ds_ns}/{ref.get('name')} has no source PVC")
        return _clone_of(store, *target)
    src = spec.get("source") or {}
    if src.get("pvc"):
        return _clone_of(store, src["pvc"].get("namespace") or ns, src["pvc"].get("name", ""))
    for kind in ("registry", "http", "s3", "gcs"):
        url = dig(src, kind, "url")
        if url:
            return Source(IMPORT, endpoint=str(url))
    return Source(IMPORT)  # blank and the sources the emulator does not fetch from


def _clone_of(store: Store, ns: str, name: str) -> Source:
    pvc = store.peek(PVCS, ns, name)
    if pvc is None:
        return Source(CLONE, ns, name, problem=MSG_CLONE_WITHOUT_SOURCE.format(kind="pvc", name=name))
    return Source(CLONE, ns, name,
                  endpoint=(pvc["metadata"].get("annotations") or {}).get(ANNO_IMPORT_ENDPOINT, ""),
                  size=str(dig(pvc, "spec", "resources", "requests", "storage", default="") or ""))


def _class_for(store: Store, named: str | None) -> Obj | None:
    if named:
        return store.peek(STORAGECLASSES, None, named)
    classes = store.items(STORAGECLASSES)
    for anno in (ANNO_DEFAULT_VIRT_CLASS, ANNO_DEFAULT_CLASS):
        for sc in classes:
            if (sc["metadata"].get("annotations") or {}).get(anno) == "true":
                return sc
    return None


def render_claim_spec(store: Store, dv: Obj, source: Source) -> Obj:
    """The spec of the DataVolume's PVC. Raises ClaimError."""
    spec = dv.get("spec") or {}
    if spec.get("pvc"):
        out = dict(spec["pvc"])
        if not out.get("accessModes"):
            raise ClaimError("DataVolume.spec.pvc.accessModes is required")
        return out
    storage = dict(spec.get("storage") or {})
    sc = _class_for(store, storage.get("storageClassName"))
    if sc is None:
        raise ClaimError(f"storage class {storage.get('storageClassName') or '(default)'} not found")
    cls = sc["metadata"]["name"]
    sets = claim_property_sets(store.peek(STORAGEPROFILES, None, cls))
    modes = list(storage.get("accessModes") or [])
    volume_mode = storage.get("volumeMode")
    if not modes and not volume_mode:
        if not sets:
            raise ClaimError(f"Spec is missing accessMode and volumeMode, cannot get access mode from "
                             f"StorageProfile {cls}")
        modes, volume_mode = list(sets[0]["accessModes"]), sets[0].get("volumeMode") or "Filesystem"
    elif not modes:
        match = next((s for s in sets if s.get("volumeMode") == volume_mode), None)
        if match is None:
            raise ClaimError(f"Spec is missing accessMode and cannot get access mode from StorageProfile {cls}")
        modes = list(match["accessModes"])
    elif not volume_mode:
        match = next((s for s in sets if set(modes) <= set(s.get("accessModes") or [])), None)
        volume_mode = (match or {}).get("volumeMode") or "Filesystem"
    size = dig(storage, "resources", "requests", "storage") or source.size
    if not size:
        raise ClaimError("DataVolume.spec.storage.resources.requests.storage is required for this source")
    return {"accessModes": modes, "volumeMode": volume_mode, "storageClassName": cls,
            "resources": {"requests": {"storage": size}}}
