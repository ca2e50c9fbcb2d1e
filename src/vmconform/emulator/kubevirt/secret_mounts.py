"""Secrets a launcher pod mounts, and what kubelet does when one is missing.

virt-controller renders each cloud-init ``UserDataSecretRef`` (JSON field ``secretRef``) and
``networkDataSecretRef`` (NoCloud and ConfigDrive) as a Secret volume ``<volume>-udata`` / ``<volume>-ndata`` of the launcher pod
(``pkg/virt-controller/services/rendervolumes.go`` ``handleCloudInitNoCloud`` /
``handleCloudInitConfigDrive`` @ v1.9.0). A Secret that does not exist is not checked by KubeVirt:
kubelet cannot set the volume up, the pod stays ``ContainerCreating`` with a ``FailedMount`` warning,
and the VMI stays ``Scheduling`` until the Secret is created.
"""

from __future__ import annotations

from typing import Any

from ..resources import SECRETS, dig
from ..store import Store

Obj = dict[str, Any]
_SOURCES = (("cloudInitNoCloud", "secretRef", "udata"), ("cloudInitNoCloud", "networkDataSecretRef", "ndata"),
            ("cloudInitConfigDrive", "secretRef", "udata"),
            ("cloudInitConfigDrive", "networkDataSecretRef", "ndata"))


def secret_volumes(vmi_spec: Obj) -> list[Obj]:
    """The launcher pod's Secret volumes for the VMI's cloud-init secret references."""
    out: list[Obj] = []
    for vol in vmi_spec.get("volumes") or []:
        for source, ref, suffix in _SOURCES:
            name = dig(vol, source, ref, "name")
            if name:
                out.append({"name": f"{vol.get('name', '')}-{suffix}", "secret": {"secretName": name}})
    return out


def missing_secret(store: Store, pod: Obj) -> tuple[str, str] | None:
    """(volume, secret) of the first Secret volume whose Secret does not exist, or None."""
    ns = pod["metadata"].get("namespace")
    for vol in dig(pod, "spec", "volumes", default=[]) or []:
        secret = dig(vol, "secret", "secretName")
        if secret and store.peek(SECRETS, ns, secret) is None:
            return vol.get("name", ""), secret
    return None


def failed_mount_message(volume: str, secret: str) -> str:
    return f'MountVolume.SetUp failed for volume "{volume}" : secret "{secret}" not found'
