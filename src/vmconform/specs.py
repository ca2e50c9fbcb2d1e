"""VirtualMachine specs built from small composable options, like KubeVirt's libvmi.

Builders never call the API: they return plain dicts.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from .status import HALTED

Spec = dict[str, Any]
Option = Callable[[Spec], None]

ALPINE_IMAGE = "quay.io/kubevirt/alpine-container-disk-demo"
CIRROS_IMAGE = "quay.io/kubevirt/cirros-container-disk-demo"
FEDORA_IMAGE = "quay.io/kubevirt/fedora-with-test-tooling-container-disk"


def _tmpl(spec: Spec) -> Spec:
    return spec["spec"]["template"]["spec"]


def new_vm(name: str, *options: Option) -> Spec:
    vm: Spec = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": {}},
        "spec": {
            "runStrategy": HALTED,
            "template": {
                "metadata": {"labels": {"kubevirt.io/domain": name}},
                "spec": {
                    "domain": {"devices": {"disks": [], "interfaces": []},
                               "resources": {"requests": {"memory": "128Mi"}}},
                    "networks": [],
                    "volumes": [],
                    "terminationGracePeriodSeconds": 0,
                },
            },
        },
    }
    for opt in options:
        opt(vm)
    return vm


def with_run_strategy(strategy: str) -> Option:
    def apply(vm: Spec) -> None:
        vm["spec"]["runStrategy"] = strategy
    return apply


def with_labels(labels: dict[str, str]) -> Option:
    def apply(vm: Spec) -> None:
        vm["metadata"].setdefault("labels", {}).update(labels)
        vm["spec"]["template"]["metadata"].setdefault("labels", {}).update(labels)
    return apply


def with_memory(quantity: str) -> Option:
    def apply(vm: Spec) -> None:
        _tmpl(vm)["domain"]["resources"]["requests"]["memory"] = quantity
    return apply


def with_container_disk(image: str, name: str = "containerdisk") -> Option:
    def apply(vm: Spec) -> None:
        t = _tmpl(vm)
        t["domain"]["devices"]["disks"].append({"name": name, "disk": {"bus": "virtio"}})
        t["volumes"].append({"name": name, "containerDisk": {"image": image}})
    return apply


def with_cloud_init(user_data: str = "#cloud-config\n", name: str = "cloudinitdisk") -> Option:
    def apply(vm: Spec) -> None:
        t = _tmpl(vm)
        t["domain"]["devices"]["disks"].append({"name": name, "disk": {"bus": "virtio"}})
        t["volumes"].append({"name": name, "cloudInitNoCloud": {"userData": user_data}})
    return apply


def with_masquerade_network() -> Option:
    def apply(vm: Spec) -> None:
        t = _tmpl(vm)
        t["domain"]["devices"]["interfaces"] = [{"name": "default", "masquerade": {}}]
        t["networks"] = [{"name": "default", "pod": {}}]
    return apply


def with_pvc_disk(claim: str, name: str = "datadisk") -> Option:
    def apply(vm: Spec) -> None:
        t = _tmpl(vm)
        t["domain"]["devices"]["disks"].append({"name": name, "disk": {"bus": "virtio"}})
        t["volumes"].append({"name": name, "persistentVolumeClaim": {"claimName": claim}})
    return apply


def new_pvc(name: str, storage_class: str, access_mode: str, size: str = "1Gi",
            labels: dict[str, str] | None = None) -> Spec:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {
            "accessModes": [access_mode],
            "resources": {"requests": {"storage": size}},
            "storageClassName": storage_class,
            "volumeMode": "Filesystem",
        },
    }


def new_migration(vmi_name: str, labels: dict[str, str] | None = None) -> Spec:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": "vmconform-migration-", "labels": dict(labels or {})},
        "spec": {"vmiName": vmi_name},
    }


def copy_spec(spec: Spec) -> Spec:
    return copy.deepcopy(spec)
