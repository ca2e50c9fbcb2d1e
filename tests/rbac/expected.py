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
ALL = frozenset({STOP, STOPPED_OFFERS_START, START_ONLY_WHEN_STOPPED, PAUSE, UNPAUSE, RESTART, MIGRATE, NEEDS_RWX,
                 OWN_VOLUME, GUEST_PAUSE, GUEST_MIGRATE, GUEST_RESTART})

# (verb, resource) of a row → the scenarios that must skip without it
SKIPPED: dict[tuple[str, str], frozenset[str]] = {
    ("list", "nodes"): ALL,
    ("list", "storageclasses"): ALL,
    ("create", "namespaces"): ALL,
    ("create", "leases"): ALL,
    ("create", "virtualmachines"): ALL,
    ("get", "virtualmachineinstances"): ALL,
    ("list", "pods"): ALL,
    ("update", "virtualmachines/start"): ALL,  # every scenario starts its VM
    ("update", "virtualmachines/stop"): frozenset({STOP, STOPPED_OFFERS_START, NEEDS_RWX, OWN_VOLUME}),
    ("update", "virtualmachines/restart"): frozenset({STOPPED_OFFERS_START, RESTART, GUEST_RESTART}),
    ("update", "virtualmachineinstances/pause"): frozenset({STOPPED_OFFERS_START, PAUSE, UNPAUSE, GUEST_PAUSE}),
    ("update", "virtualmachineinstances/unpause"): frozenset({STOPPED_OFFERS_START, UNPAUSE, GUEST_PAUSE}),
    ("update", "virtualmachines/migrate"): frozenset({MIGRATE, NEEDS_RWX, OWN_VOLUME, GUEST_MIGRATE}),
    ("list", "virtualmachineinstancemigrations"): frozenset({MIGRATE, NEEDS_RWX, OWN_VOLUME, GUEST_MIGRATE}),
    ("get", "virtualmachineinstances/console"): frozenset({GUEST_PAUSE, GUEST_MIGRATE, GUEST_RESTART}),
    ("create", "persistentvolumeclaims"): frozenset({NEEDS_RWX, OWN_VOLUME}),
    ("list", "events"): frozenset({NEEDS_RWX, OWN_VOLUME}),
    ("patch", "virtualmachines"): frozenset({NEEDS_RWX}),
}


def key(verbs: tuple[str, ...], resource: str) -> tuple[str, str]:
    return (verbs[0], resource)
