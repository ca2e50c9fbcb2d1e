"""The VM controller's DataVolume side (pkg/virt-controller/watch/vm/vm.go handleDataVolumes, and
pkg/storage/types/dv.go at v1.9.0): DataVolumes made from ``spec.dataVolumeTemplates`` and the
Provisioning / DataVolumeError predicates of printableStatus."""

from __future__ import annotations

import copy
from typing import Any

from .. import errors
from ..cdi.constants import (
    COND_BOUND, COND_RUNNING, FAILED, LABEL_CREATED_BY, PENDING_POPULATION, SUCCEEDED, WAIT_FOR_FIRST_CONSUMER,
)
from ..cdi.kinds import DATASOURCES, DATAVOLUMES
from ..resources import PVCS, dig
from ..store import Store
from . import constants as C
from .context import KubeVirtContext
from .util import get_condition, owner_ref

Obj = dict[str, Any]
ANNO_ALLOW_CLAIM_ADOPTION = "cdi.kubevirt.io/allowClaimAdoption"
EV_SUCCESSFUL_DV_CREATE = "SuccessfulDataVolumeCreate"
EV_FAILED_DV_CREATE = "FailedDataVolumeCreate"
EV_FAILED_DV_IMPORT = "FailedDataVolumeImport"
DV_DONE = (SUCCEEDED, WAIT_FOR_FIRST_CONSUMER, PENDING_POPULATION)


class DataVolumeError(RuntimeError):
    """The DataVolumes of a VM could not be made (the VM gets a Failure condition)."""


def _resolved_source(store: Store, ns: str, spec: Obj) -> Obj | None:
    """``GetResolvedCloneSource``: a sourceRef to a DataSource becomes ``source.pvc``."""
    ref = spec.get("sourceRef")
    source = spec.get("source")
    src_ns = ns
    if ref and ref.get("kind") == "DataSource":
        src_ns = ref.get("namespace") or ns
        ds = store.peek(DATASOURCES, src_ns, ref.get("name", ""))
        if ds is None:
            raise DataVolumeError(f'datasources.cdi.kubevirt.io "{ref.get("name", "")}" not found')
        pvc = dig(ds, "spec", "source", "pvc")
        source = {"pvc": dict(pvc)} if pvc else None
    if not source or not source.get("pvc"):
        return None
    source = copy.deepcopy(source)
    source["pvc"].setdefault("namespace", src_ns)
    if not source["pvc"]["namespace"]:
        source["pvc"]["namespace"] = src_ns
    return source


def data_volume_from_template(store: Store, vm: Obj, template: Obj) -> Obj:
    meta = vm["metadata"]
    tmeta = copy.deepcopy(template.get("metadata") or {})
    spec = copy.deepcopy(template.get("spec") or {})
    labels = dict(tmeta.get("labels") or {})
    labels[LABEL_CREATED_BY] = meta["uid"]
    annotations = dict(tmeta.get("annotations") or {})
    annotations[ANNO_ALLOW_CLAIM_ADOPTION] = "true"
    resolved = _resolved_source(store, meta["namespace"], spec)
    if resolved is not None:
        spec.pop("sourceRef", None)
        spec["source"] = resolved
    vm_ref = owner_ref({**vm, "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine"})
    return {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
            "metadata": {"name": tmeta.get("name", ""), "labels": labels, "annotations": annotations,
                         "ownerReferences": [vm_ref]},
            "spec": spec}


def handle_data_volumes(ctx: KubeVirtContext, vm: Obj) -> bool:
    """Create the VM's missing DataVolumes; True when all of them are populated. Raises DataVolumeError."""
    ready = True
    ns = vm["metadata"]["namespace"]
    for template in dig(vm, "spec", "dataVolumeTemplates", default=[]) or []:
        name = dig(template, "metadata", "name", default="")
        dv = ctx.store.peek(DATAVOLUMES, ns, name)
        if dv is None:
            ready = False
            body = data_volume_from_template(ctx.store, vm, template)
            try:
                created = ctx.store.create(DATAVOLUMES, body, ns)
            except errors.ApiError as err:
                if ctx.store.peek(PVCS, ns, name) is not None and err.code == 409:
                    continue
                ctx.events.record(vm, C.EV_WARNING, EV_FAILED_DV_CREATE,
                                  f"Error creating DataVolume {name}: {err.message}", C.COMPONENT_VM)
                raise DataVolumeError(f"failed to create DataVolume: {err.message}") from None
            ctx.events.record(vm, C.EV_NORMAL, EV_SUCCESSFUL_DV_CREATE,
                              f"Created DataVolume {created['metadata']['name']}", C.COMPONENT_VM)
            continue
        phase = dig(dv, "status", "phase")
        if phase in DV_DONE:
            continue
        if phase == FAILED:
            ctx.events.record(vm, C.EV_WARNING, EV_FAILED_DV_IMPORT,
                              f"DataVolume {name} failed to import disk image", C.COMPONENT_VM)
        ready = False
    return ready


def _template_dvs(store: Store, vm: Obj) -> list[Obj]:
    ns = vm["metadata"]["namespace"]
    out = []
    for vol in dig(vm, "spec", "template", "spec", "volumes", default=[]) or []:
        name = dig(vol, "dataVolume", "name")
        dv = store.peek(DATAVOLUMES, ns, name) if name else None
        if dv is not None:
            out.append(dv)
    return out


def has_data_volume_provisioning(store: Store, vm: Obj) -> bool:
    """``HasDataVolumeProvisioning``: a DataVolume volume not Succeeded/PendingPopulation (WFFC unbound excepted)."""
    for dv in _template_dvs(store, vm):
        phase = dig(dv, "status", "phase")
        if phase in (SUCCEEDED, PENDING_POPULATION):
            continue
        bound = (get_condition(dv, COND_BOUND) or {}).get("status") == "True"
        if bound or phase != WAIT_FOR_FIRST_CONSUMER:
            return True
    return False


def data_volume_error(store: Store, vm: Obj) -> str | None:
    """``HasDataVolumeErrors``: a Failed DataVolume, or one whose Running condition is False for an error."""
    for dv in _template_dvs(store, vm):
        name = dv["metadata"]["name"]
        if dig(dv, "status", "phase") == FAILED:
            return f"DataVolume {name} is in Failed phase"
        running = get_condition(dv, COND_RUNNING) or {}
        if running.get("status") == "False" and running.get("reason") in ("Error", "ImagePullFailed"):
            return f"DataVolume {name} importer has stopped running due to an error: {running.get('message', '')}"
    return None


def booted_image(store: Store, ns: str, spec: Obj) -> str:
    """What the guest boots: the containerDisk image, else the image CDI put on the root claim (its
    import endpoint, carried over by a clone), else the claim's name."""
    from ..cdi.constants import ANNO_IMPORT_ENDPOINT
    from .vmi_spec import guest_image, pvc_volumes

    image = guest_image(spec)
    claims = [claim for _vol, claim in pvc_volumes(spec)]
    if claims and image == claims[0]:
        pvc = store.peek(PVCS, ns, image)
        endpoint = ((pvc or {}).get("metadata", {}).get("annotations") or {}).get(ANNO_IMPORT_ENDPOINT)
        if endpoint:
            return str(endpoint)
    return image
