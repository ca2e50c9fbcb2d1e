"""KubeVirt release profiles: what a client can see differ between the releases the emulator plays.

One frozen :class:`Release` per supported tag; each fact was read from that tag's own source
(kubevirt-semantics.md §11; the file and function of each is listed in docs/fidelity.md, section
``releases``). The controllers read ``ctx.release`` at the few places where releases differ; everything
else is the same in every profile (and is v1.9.0's behaviour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

REGISTRY = "quay.io/kubevirt"
DEFAULT_VERSION = "v1.9.0"

# VMI finalizer (staging/src/kubevirt.io/api/core/v1/types.go VirtualMachineInstanceFinalizer)
FINALIZER_VMI_OLD = "foregroundDeleteVirtualMachine"
FINALIZER_VMI_QUALIFIED = "kubevirt.io/foregroundDeleteVirtualMachine"
CONSOLE_LOG_CONTAINER = "guest-console-log"
MIGRATE_CLUSTER_ROLE = "kubevirt.io:migrate"

POD_SUCCEEDED, POD_FAILED = "Succeeded", "Failed"

Obj = dict[str, Any]
Version = tuple[int, int, int]

# Fields of the API added after v1.3.0 that the emulator (or a client) may write, with the release that
# added them (types.go at each tag). On an older profile they are pruned, as kube-apiserver prunes
# fields its CRD schema does not know.
FIELDS_SINCE: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("VirtualMachineInstance", ("status", "migrationState", "sourcePersistentStatePVCName"), "v1.4.0"),
    ("VirtualMachineInstance", ("status", "migrationState", "targetPersistentStatePVCName"), "v1.4.0"),
    ("VirtualMachineInstance", ("status", "migrationState", "sourceState"), "v1.6.0"),
    ("VirtualMachineInstance", ("status", "migrationState", "targetState"), "v1.6.0"),
    ("VirtualMachineInstance", ("status", "migrationState", "migrationNetworkType"), "v1.6.0"),
    ("VirtualMachineInstance", ("status", "migrationState", "targetMemoryOverhead"), "v1.8.0"),
    ("VirtualMachineInstance", ("status", "changedBlockTracking"), "v1.7.0"),
    ("VirtualMachineInstanceMigration", ("spec", "addedNodeSelector"), "v1.6.0"),
    ("VirtualMachineInstanceMigration", ("spec", "sendTo"), "v1.6.0"),
    ("VirtualMachineInstanceMigration", ("spec", "receive"), "v1.6.0"),
    ("VirtualMachineInstanceMigration", ("spec", "priority"), "v1.7.0"),
    ("VirtualMachineInstanceMigration", ("status", "synchronizationAddresses"), "v1.6.0"),
    ("VirtualMachineInstanceMigration", ("status", "migrationState", "sourceState"), "v1.6.0"),
    ("VirtualMachineInstanceMigration", ("status", "migrationState", "targetState"), "v1.6.0"),
    ("VirtualMachineInstance", ("status", "migrationState", "migrationConfiguration", "allowWorkloadDisruption"),
     "v1.5.0"),
    ("VirtualMachineInstance", ("status", "migrationState", "migrationConfiguration", "utilityVolumesTimeout"),
     "v1.8.0"),
    ("VirtualMachineInstanceMigration", ("status", "migrationState", "migrationConfiguration",
                                         "allowWorkloadDisruption"), "v1.5.0"),
    ("VirtualMachineInstanceMigration", ("status", "migrationState", "migrationConfiguration",
                                         "utilityVolumesTimeout"), "v1.8.0"),
    ("KubeVirt", ("spec", "configuration", "migrations", "allowWorkloadDisruption"), "v1.5.0"),
    ("KubeVirt", ("spec", "configuration", "migrations", "utilityVolumesTimeout"), "v1.8.0"),
    ("VirtualMachine", ("status", "volumeUpdateState"), "v1.4.0"),
    ("VirtualMachine", ("status", "instancetypeRef"), "v1.5.0"),
    ("VirtualMachine", ("status", "preferenceRef"), "v1.5.0"),
    ("VirtualMachine", ("status", "changedBlockTracking"), "v1.7.0"),
)

_VERSION_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def parse_version(text: str) -> Version | None:
    m = _VERSION_RE.match(text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


@dataclass(frozen=True)
class Release:
    """The client-visible facts of one KubeVirt release that differ between the supported ones."""

    version: str
    # types.go VirtualMachineInstanceFinalizer; added by the VMI mutator (vmi-mutator.go)
    vmi_finalizer: str
    # launcher pod label vmi.kubevirt.io/id (services/template.go, since v1.7.0)
    vmi_id_label: bool
    # guest-console-log: a native sidecar init container (restartPolicy Always, since v1.6.0) or a regular
    # container (services/template.go + serialconsolelog.go)
    console_log_sidecar: bool
    # VMI condition StorageLiveMigratable (virt-handler vm.go, since v1.4.0)
    storage_live_migratable: bool
    # VMIM pod after a successful migration: on v1.1–v1.5 the regular guest-console-log container exits 1
    # and fails the source pod (kubevirt issues #10695, #15134); with the sidecar it ends Succeeded
    source_pod_phase_after_migration: str
    # subresources: unpause answers 409 "VM snapshot is in progress" (lifecycle.go, since v1.7.0)
    unpause_checks_snapshot: bool
    # subresources: pause with a non-GuestAgentPing liveness probe is 403 (lifecycle.go, since v1.9.0)
    pause_checks_liveness_probe: bool
    # migrate permission needs the kubevirt.io:migrate ClusterRole (rbac/cluster.go, since v1.5.0).
    # Recorded only: the emulator has no RBAC.
    migrate_needs_cluster_role: bool
    # where virt-api's lifecycle handlers live (same messages in both)
    subresource_handlers: str

    @property
    def key(self) -> Version:
        parsed = parse_version(self.version)
        assert parsed is not None
        return parsed

    def at_least(self, version: str) -> bool:
        other = parse_version(version)
        assert other is not None, version
        return self.key >= other

    @property
    def registry(self) -> str:
        return REGISTRY

    def image(self, component: str) -> str:
        """A KubeVirt component's image at this release, e.g. ``image("virt-operator")``."""
        return f"{REGISTRY}/{component}:{self.version}"

    @property
    def launcher_image(self) -> str:
        return self.image("virt-launcher")

    @property
    def vmi_finalizers(self) -> tuple[str, ...]:
        """Every VMI finalizer name this release's virt-controller removes (v1.7+ removes both)."""
        if self.vmi_finalizer == FINALIZER_VMI_QUALIFIED:
            return (FINALIZER_VMI_QUALIFIED, FINALIZER_VMI_OLD)
        return (FINALIZER_VMI_OLD,)

    # ------------------------------------------------------------ fields this release does not have

    def pruned_paths(self, kind: str) -> list[tuple[str, ...]]:
        return [path for k, path, since in FIELDS_SINCE if k == kind and not self.at_least(since)]

    def prune(self, kind: str, obj: Obj) -> Obj:
        """Drop (in place) the fields ``kind`` does not have in this release; returns ``obj``."""
        for path in self.pruned_paths(kind):
            node: Any = obj
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
                if node is None:
                    break
            if isinstance(node, dict):
                node.pop(path[-1], None)
        return obj


def _profile(version: str) -> Release:
    v = parse_version(version)
    assert v is not None
    return Release(
        version=version,
        vmi_finalizer=FINALIZER_VMI_QUALIFIED if v >= (1, 7, 0) else FINALIZER_VMI_OLD,
        vmi_id_label=v >= (1, 7, 0),
        console_log_sidecar=v >= (1, 6, 0),
        storage_live_migratable=v >= (1, 4, 0),
        source_pod_phase_after_migration=POD_SUCCEEDED if v >= (1, 6, 0) else POD_FAILED,
        unpause_checks_snapshot=v >= (1, 7, 0),
        pause_checks_liveness_probe=v >= (1, 9, 0),
        migrate_needs_cluster_role=v >= (1, 5, 0),
        subresource_handlers="pkg/virt-api/rest/lifecycle.go" if v >= (1, 6, 0) else "pkg/virt-api/rest/subresource.go",
    )


# v1.3.0 is the oldest profile: before it, migrationState has no sourcePod (v1.3.0) and VM status no
# runStrategy (v1.3.0), which the emulator's controllers rely on.
RELEASES: dict[str, Release] = {r.version: r for r in map(_profile, (
    "v1.3.0", "v1.4.0", "v1.5.0", "v1.6.0", "v1.7.0", "v1.8.0", "v1.9.0"))}
DEFAULT_RELEASE = RELEASES[DEFAULT_VERSION]
SUPPORTED = tuple(RELEASES)


class UnknownRelease(ValueError):
    """A --kubevirt-version the emulator has no profile for; the message is one line."""


def unsupported_message(version: str) -> str:
    return (f"the emulated cluster has no profile for KubeVirt {version!r}; "
            f"supported: {', '.join(SUPPORTED)}")


def release(version: str | None) -> Release:
    """The profile of ``version`` (None → the default); raises UnknownRelease."""
    if version is None or version == "":
        return DEFAULT_RELEASE
    found = RELEASES.get(str(version))
    if found is None:
        raise UnknownRelease(unsupported_message(str(version)))
    return found


def release_of(options: Any) -> Release:
    """The release an emulator's Options select (``kubevirt_version``)."""
    return release(getattr(options, "kubevirt_version", None))
