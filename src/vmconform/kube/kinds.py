"""The kinds the suite reads and writes, as URL pieces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    def collection(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


VM = Kind("kubevirt.io", "v1", "virtualmachines", "VirtualMachine")
VMI = Kind("kubevirt.io", "v1", "virtualmachineinstances", "VirtualMachineInstance")
VMIM = Kind("kubevirt.io", "v1", "virtualmachineinstancemigrations", "VirtualMachineInstanceMigration")
KUBEVIRT = Kind("kubevirt.io", "v1", "kubevirts", "KubeVirt")
POD = Kind("", "v1", "pods", "Pod")
PVC = Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
EVENT = Kind("", "v1", "events", "Event")
NAMESPACE = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
NODE = Kind("", "v1", "nodes", "Node", namespaced=False)
LEASE = Kind("coordination.k8s.io", "v1", "leases", "Lease")
STORAGECLASS = Kind("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)

SUBRESOURCES = "/apis/subresources.kubevirt.io/v1"
