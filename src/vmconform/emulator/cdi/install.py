"""CDI as installed: its namespace, the CDI CR (Deployed) and the boot sources a cluster offers at start.

The boot sources are what a DataImportCron leaves behind on a real cluster: in the boot-source
namespace, one imported "golden" PVC per operating system (its image in the import-endpoint
annotation) and a DataSource of the OS's name pointing at it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kubevirt.context import KubeVirtContext, context_of
from ..kubevirt.util import set_condition
from ..resources import NAMESPACES, PVCS
from .constants import (
    ANNO_IMPORT_ENDPOINT, APP, BOOT_SOURCE_NAMESPACE, CDI_CR_NAME, CDI_NAMESPACE, CDI_VERSION, LABEL_APP,
)
from .kinds import CDIS, DATASOURCES

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]
GOLDEN_SIZE = "5Gi"

# DataSource name → (golden PVC name, the image it was imported from)
BOOT_SOURCES: dict[str, tuple[str, str]] = {
    "fedora": ("fedora-41", "docker://quay.io/containerdisks/fedora:41"),
    "centos-stream9": ("centos-stream9-2025", "docker://quay.io/containerdisks/centos-stream:9"),
    "alpine": ("alpine-3-19", "docker://quay.io/kubevirt/alpine-container-disk-demo"),
}


def cdi_cr() -> Obj:
    return {"metadata": {"name": CDI_CR_NAME},
            "spec": {"imagePullPolicy": "IfNotPresent", "infra": {}, "workload": {},
                     "config": {"featureGates": ["HonorWaitForFirstConsumer"]}}}


def deployed(cr: Obj) -> None:
    st = cr.setdefault("status", {})
    st.update({"phase": "Deployed", "operatorVersion": CDI_VERSION, "targetVersion": CDI_VERSION,
               "observedVersion": CDI_VERSION})
    for ctype, value in (("Available", "True"), ("Progressing", "False"), ("Degraded", "False")):
        set_condition(st, ctype, value, "", "", probe=True)


def golden_pvc(name: str, endpoint: str) -> Obj:
    return {"metadata": {"name": name, "labels": {LABEL_APP: APP, "app.kubernetes.io/managed-by": "cdi-controller"},
                         "annotations": {ANNO_IMPORT_ENDPOINT: endpoint,
                                         "cdi.kubevirt.io/storage.pod.phase": "Succeeded"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": GOLDEN_SIZE}}}}


def data_source(name: str, claim: str, namespace: str) -> Obj:
    return {"metadata": {"name": name, "labels": {"instancetype.kubevirt.io/default-preference": name}},
            "spec": {"source": {"pvc": {"namespace": namespace, "name": claim}}}}


class CDIInstall:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        store = ctx.store
        for ns in (CDI_NAMESPACE, BOOT_SOURCE_NAMESPACE):
            if store.peek(NAMESPACES, None, ns) is None:
                store.create(NAMESPACES, {"metadata": {"name": ns}})
        if store.peek(CDIS, None, CDI_CR_NAME) is None:
            store.create(CDIS, cdi_cr())
            store.mutate(CDIS, None, CDI_CR_NAME, deployed, status=True)
        if not (getattr(emulator.options, "extra", None) or {}).get("cdi_boot_sources", True):
            return  # a cluster whose boot sources are still to be imported (tests of the kind install)
        for ds_name, (claim, endpoint) in BOOT_SOURCES.items():
            if store.peek(PVCS, BOOT_SOURCE_NAMESPACE, claim) is None:
                store.create(PVCS, golden_pvc(claim, endpoint), BOOT_SOURCE_NAMESPACE)
            if store.peek(DATASOURCES, BOOT_SOURCE_NAMESPACE, ds_name) is None:
                store.create(DATASOURCES, data_source(ds_name, claim, BOOT_SOURCE_NAMESPACE), BOOT_SOURCE_NAMESPACE)

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()
