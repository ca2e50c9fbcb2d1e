"""What each removed permission must skip, written by hand from the lab's feature files (not derived
from the permissions table, which is what the tests check)."""

from __future__ import annotations

STOP = "stop-reaches-stopped"
STOPPED_OFFERS_START = "a-stopped-vm-offers-only-start"
START_ONLY_WHEN_STOPPED = "start-is-offered-only-when-the-vm-is-stopped"
PAUSE = "pause-keeps-the-vm-s-memory-allocated"
UNPAUSE = "unpause-resumes-the-vm"
RESTART = "restart-reboots-the-vm-into-a-new-instance"
MIGRATE = "migrate-moves-a-running-vm-to-another-node-and-it-returns-to-running"
NEEDS_RWX = "live-migration-requires-readwritemany-storage"
OWN_VOLUME = "each-vm-disk-is-its-own-volume-mounted-only-when-needed"
GUEST_PAUSE = "guest-pause-keeps-memory"
GUEST_MIGRATE = "guest-live-migration-keeps-the-guest-running"
GUEST_RESTART = "guest-restart-reboots-the-guest"
# features/maintenance.feature
EVICT_MIGRATES = "evicting-the-launcher-pod-of-a-livemigrate-vm-live-migrates-the-vm-instead"
NEVER_EVICTED = "a-livemigrate-vm-whose-disks-cannot-move-is-never-evicted"
EVICTED_RESTARTS = "with-livemigrateifpossible-a-vm-whose-disks-cannot-move-is-evicted-and-restarts"
DRAIN = "draining-a-node-moves-its-vms-away-within-the-migration-limits"
MAINTENANCE = frozenset({EVICT_MIGRATES, NEVER_EVICTED, EVICTED_RESTARTS, DRAIN})
ALL = frozenset({STOP, STOPPED_OFFERS_START, START_ONLY_WHEN_STOPPED, PAUSE, UNPAUSE, RESTART, MIGRATE, NEEDS_RWX,
                 OWN_VOLUME, GUEST_PAUSE, GUEST_MIGRATE, GUEST_RESTART}) | MAINTENANCE
NONE: frozenset[str] = frozenset()

# (verb, resource) of a row → the scenarios that must skip without it, on a containerDisk run (the default)
SKIPPED: dict[tuple[str, str], frozenset[str]] = {
    ("list", "nodes"): ALL,
    ("list", "storageclasses"): ALL,
    ("create", "namespaces"): ALL,
    ("create", "leases"): ALL,
    ("create", "virtualmachines"): ALL,
    ("get", "virtualmachineinstances"): ALL,
    ("list", "pods"): ALL,
    ("update", "virtualmachines/start"): ALL,  # every scenario starts its VM (the drain starts several)
    ("update", "virtualmachines/stop"): frozenset({STOP, STOPPED_OFFERS_START, NEEDS_RWX, OWN_VOLUME}),
    ("update", "virtualmachines/restart"): frozenset({STOPPED_OFFERS_START, RESTART, GUEST_RESTART}),
    ("update", "virtualmachineinstances/pause"): frozenset({STOPPED_OFFERS_START, PAUSE, UNPAUSE, GUEST_PAUSE}),
    ("update", "virtualmachineinstances/unpause"): frozenset({STOPPED_OFFERS_START, UNPAUSE, GUEST_PAUSE}),
    ("update", "virtualmachines/migrate"): frozenset({MIGRATE, NEEDS_RWX, OWN_VOLUME, GUEST_MIGRATE}),
    # the drain watches the migrations its evictions start
    ("list", "virtualmachineinstancemigrations"): frozenset({MIGRATE, NEEDS_RWX, OWN_VOLUME, GUEST_MIGRATE, DRAIN}),
    ("get", "virtualmachineinstances/console"): frozenset({GUEST_PAUSE, GUEST_MIGRATE, GUEST_RESTART}),
    # the two maintenance scenarios tagged @needs-rwo make a ReadWriteOnce claim
    ("create", "persistentvolumeclaims"): frozenset({NEEDS_RWX, OWN_VOLUME, NEVER_EVICTED, EVICTED_RESTARTS}),
    ("list", "events"): frozenset({NEEDS_RWX, OWN_VOLUME}),
    ("patch", "virtualmachines"): frozenset({NEEDS_RWX}),
    ("create", "pods/eviction"): MAINTENANCE,  # each one evicts; the drain evicts every launcher pod
    ("patch", "nodes"): frozenset({DRAIN}),  # only the drain marks, cordons and uncordons a node
    # needed only with --vm-source datasource:/pvc: (below)
    ("list", "datavolumes"): NONE,
    ("get", "persistentvolumeclaims"): NONE,
    ("get", "storageprofiles"): NONE,
    ("get", "datasources"): NONE,
}

# --vm-source → the rows whose skips differ from SKIPPED's on such a run: every VM's root disk is a
# DataVolume (awaited), the storage scenarios read its claim back, the preflight reads the source
ROOT_CLAIM = frozenset({NEEDS_RWX, OWN_VOLUME})  # "a running VM with a RWO…" / "a stopped VM with a RWX…"
WITH_SOURCE: dict[str, dict[tuple[str, str], frozenset[str]]] = {
    "datasource": {
        ("list", "datavolumes"): ALL,
        ("get", "persistentvolumeclaims"): ROOT_CLAIM,
        ("get", "storageprofiles"): ROOT_CLAIM,
        ("get", "datasources"): ALL,
    },
    "pvc": {
        ("list", "datavolumes"): ALL,
        ("get", "persistentvolumeclaims"): ALL,  # the source claim itself
        ("get", "storageprofiles"): ROOT_CLAIM,
    },
}
SOURCES = {"containerdisk": "containerdisk", "datasource": "datasource:kubevirt-os-images/alpine",
           "pvc": "pvc:kubevirt-os-images/alpine-3-19"}


def key(verbs: tuple[str, ...], resource: str) -> tuple[str, str]:
    return (verbs[0], resource)


def skipped(row_key: tuple[str, str], source: str = "containerdisk") -> frozenset[str]:
    """The scenarios a run with ``--vm-source`` of this kind must skip without the row."""
    return WITH_SOURCE.get(source, {}).get(row_key, SKIPPED[row_key])
