"""Where the scenarios' VM gets its root disk (``--vm-source``), as small composable spec options.

* ``containerdisk`` — the ``--vm-image`` containerDisk (the default).
* ``datasource:NAMESPACE/NAME`` — a ``dataVolumeTemplates`` entry whose ``sourceRef`` names the DataSource
  (a cluster's boot source) with CDI's ``storage:`` API: the StorageProfile of the class picks access and
  volume mode unless the scenario (or ``--rwx/--rwo-storage-class``) says otherwise.
* ``pvc:NAMESPACE/NAME`` — the same, cloned from an existing (golden) PVC.

Builders never call the API: they return spec options (see :mod:`vmconform.specs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .specs import Option, Spec, with_container_disk

CONTAINERDISK, DATASOURCE, PVC = "containerdisk", "datasource", "pvc"
ROOT_DISK = "rootdisk"  # the disk and volume name of the root disk in every source
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
USAGE = "containerdisk, datasource:NAMESPACE/NAME or pvc:NAMESPACE/NAME"


class SourceError(ValueError):
    pass


@dataclass(frozen=True)
class VmSource:
    kind: str = CONTAINERDISK
    namespace: str = ""
    name: str = ""

    @property
    def uses_data_volume(self) -> bool:
        return self.kind != CONTAINERDISK

    def __str__(self) -> str:
        return self.kind if self.kind == CONTAINERDISK else f"{self.kind}:{self.namespace}/{self.name}"


def parse(text: str) -> VmSource:
    """``--vm-source``'s value. Raises SourceError with a one-line reason."""
    text = (text or "").strip()
    if text == CONTAINERDISK:
        return VmSource()
    kind, sep, rest = text.partition(":")
    namespace, slash, name = rest.partition("/")
    if kind not in (DATASOURCE, PVC) or not sep or not slash:
        raise SourceError(f"--vm-source must be {USAGE}, not {text!r}")
    if not _DNS_LABEL.match(namespace):
        raise SourceError(f"--vm-source {text!r}: {namespace!r} is not a namespace name")
    if not _DNS_SUBDOMAIN.match(name):
        raise SourceError(f"--vm-source {text!r}: {name!r} is not a valid {kind} name")
    return VmSource(kind, namespace, name)


def check(text: str) -> str | None:
    """The option table's check (``src/vmconform/optcheck.py``)."""
    try:
        parse(text)
    except SourceError as exc:
        return str(exc)
    return None


def root_dv_name(vm_name: str) -> str:
    return f"{vm_name}-root"


def storage_request(storage_class: str | None = None, access_mode: str | None = None, size: str | None = None) -> Spec:
    """CDI's ``storage:`` API: only what is asked; the StorageProfile completes the rest."""
    out: Spec = {}
    if storage_class:
        out["storageClassName"] = storage_class
    if access_mode:
        out["accessModes"] = [access_mode]
    if size:
        out["resources"] = {"requests": {"storage": size}}
    return out


def data_volume_template(name: str, source: VmSource, storage: Spec, labels: dict[str, str] | None = None) -> Spec:
    spec: Spec = {"storage": dict(storage)}
    if source.kind == DATASOURCE:
        spec["sourceRef"] = {"kind": "DataSource", "namespace": source.namespace, "name": source.name}
    elif source.kind == PVC:
        spec["source"] = {"pvc": {"namespace": source.namespace, "name": source.name}}
    else:
        raise SourceError(f"a {source.kind} source has no DataVolume")
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": spec}


def with_root_data_volume(template: Spec) -> Option:
    """The VM's root disk on the DataVolume ``template`` (a ``dataVolumeTemplates`` entry)."""
    def apply(vm: Spec) -> None:
        vm["spec"].setdefault("dataVolumeTemplates", []).append(template)
        t = vm["spec"]["template"]["spec"]
        t["domain"]["devices"]["disks"].insert(0, {"name": ROOT_DISK, "disk": {"bus": "virtio"}})
        t["volumes"].insert(0, {"name": ROOT_DISK, "dataVolume": {"name": template["metadata"]["name"]}})
    return apply


def with_root_disk(source: VmSource, vm_name: str, image: str, storage: Spec | None = None,
                   labels: dict[str, str] | None = None) -> Option:
    """The root disk from ``source``: the containerDisk ``image``, or a DataVolume named ``<vm>-root``."""
    if not source.uses_data_volume:
        return with_container_disk(image, ROOT_DISK)
    return with_root_data_volume(data_volume_template(root_dv_name(vm_name), source, storage or {}, labels))


def retarget_root(vm: Spec, template: Spec) -> None:
    """Point the VM's root disk at another DataVolume template (replacing the old template)."""
    old = next((v["dataVolume"]["name"] for v in vm["spec"]["template"]["spec"]["volumes"]
                if v.get("name") == ROOT_DISK and "dataVolume" in v), None)
    vm["spec"]["dataVolumeTemplates"] = [t for t in vm["spec"].get("dataVolumeTemplates") or []
                                         if t["metadata"]["name"] != old] + [template]
    for v in vm["spec"]["template"]["spec"]["volumes"]:
        if v.get("name") == ROOT_DISK:
            v["dataVolume"] = {"name": template["metadata"]["name"]}


def login_hint(image: str, vm_source: str) -> str:
    """What names the guest's OS for its console login: the image, or the DataSource/PVC a DataVolume clones."""
    source = parse(vm_source)
    return image if not source.uses_data_volume else str(source)


def cloud_init_user_data(settings: object) -> str:
    """cloud-init user data of the scenarios' VMs. A cloud image (a DataVolume's root disk) has no password
    for its default user: when the login is known, cloud-init sets it, as KubeVirt's user guide does."""
    from .console import login_for

    image = str(getattr(settings, "image", ""))
    source = str(getattr(settings, "vm_source", CONTAINERDISK))
    if not parse(source).uses_data_volume:
        return "#cloud-config\n"
    login = login_for(login_hint(image, source), getattr(settings, "guest_user", None),
                      getattr(settings, "guest_password", None))
    if login is None or not login.password:
        return "#cloud-config\n"
    return (f"#cloud-config\nuser: {login.user}\npassword: {login.password}\n"
            f"chpasswd: {{ expire: False }}\n")


def name_check(flag: str, what: str) -> Callable[[str], str | None]:
    """The option table's check of an object name (``--instancetype``, ``--preference``)."""
    def check_name(text: str) -> str | None:
        if not _DNS_SUBDOMAIN.match(text):
            return f"{flag} must be the name of {what} such as u1.small or fedora, not {text!r}"
        return None
    return check_name


def with_instancetype(name: str) -> Option:
    """A cluster instance type instead of the template's memory (KubeVirt refuses both at once)."""
    def apply(vm: Spec) -> None:
        vm["spec"]["instancetype"] = {"kind": "VirtualMachineClusterInstancetype", "name": name}
        resources = vm["spec"]["template"]["spec"]["domain"].get("resources") or {}
        (resources.get("requests") or {}).pop("memory", None)
    return apply


def with_preference(name: str) -> Option:
    def apply(vm: Spec) -> None:
        vm["spec"]["preference"] = {"kind": "VirtualMachineClusterPreference", "name": name}
    return apply


def source_of(settings: object) -> VmSource:
    """The run's VM source (``--vm-source``; containerDisk for settings that predate the option)."""
    return parse(str(getattr(settings, "vm_source", CONTAINERDISK) or CONTAINERDISK))
