"""Fault profiles: clusters that break one promise of the lab while looking normal elsewhere.

Behaviour faults are played by the KubeVirt controllers through one seam,
:class:`vmconform.emulator.kubevirt.behaviour.Behaviour` (it reads ``emulator.options.faults``);
transport faults — which a healthy cluster also shows now and then — are played here.
``caught_by`` names exactly the scenarios that fail under a fault (``tests/faults`` proves it):
the one that guards the broken promise first, then those that use the broken operation on their way.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from .errors import ApiError
from .query import flag as query_flag

if TYPE_CHECKING:
    from .cluster import Emulator


@dataclass(frozen=True)
class Fault:
    name: str
    breaks: str  # what the broken cluster does
    # behaviour ids (scenario slugs) that must fail, exactly: the scenario that guards the promise first,
    # then those that fail because they use the broken operation on their way; () for transport faults
    caught_by: tuple[str, ...]
    transport: bool = False

    @property
    def guarded_by(self) -> str:
        """The scenario whose promise the fault breaks ("" for transport faults)."""
        return self.caught_by[0] if self.caught_by else ""


STOP = "stop-reaches-stopped"
STOPPED_OFFERS_START = "a-stopped-vm-offers-only-start"
START_ONLY_STOPPED = "start-is-offered-only-when-the-vm-is-stopped"
PAUSE = "pause-keeps-the-vm-s-memory-allocated"
UNPAUSE = "unpause-resumes-the-vm"
RESTART = "restart-reboots-the-vm-into-a-new-instance"
MIGRATE = "migrate-moves-a-running-vm-to-another-node-and-it-returns-to-running"
RWX = "live-migration-requires-readwritemany-storage"
OWN_VOLUME = "each-vm-disk-is-its-own-volume-mounted-only-when-needed"
GUEST_PAUSE = "guest-pause-keeps-memory"
GUEST_MIGRATE = "guest-live-migration-keeps-the-guest-running"
GUEST_RESTART = "guest-restart-reboots-the-guest"
EVICT_LM = "evicting-the-launcher-pod-of-a-livemigrate-vm-live-migrates-the-vm-instead"
EVICT_RWO_LM = "a-livemigrate-vm-whose-disks-cannot-move-is-never-evicted"
EVICT_RWO_IFP = "with-livemigrateifpossible-a-vm-whose-disks-cannot-move-is-evicted-and-restarts"
DRAIN = "draining-a-node-moves-its-vms-away-within-the-migration-limits"

FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("stop-keeps-running", "stop is accepted (202) and the VM set to Halted, but its VMI keeps running",
          (STOP, STOPPED_OFFERS_START, RWX, OWN_VOLUME)),
    Fault("stop-hangs", "stop never finishes: the guest never shuts down, the VM stays in Stopping",
          (STOP, STOPPED_OFFERS_START, RWX, OWN_VOLUME)),
    Fault("start-accepted-when-running", "start on a running VM is accepted (202) instead of 409; nothing happens",
          (START_ONLY_STOPPED, RESTART, UNPAUSE, MIGRATE)),  # the last three: their Actions menu offers Start
    Fault("stopped-vm-accepts-pause-restart",
          "restart (202) and pause (200) of a stopped VM are accepted instead of 409/404; nothing happens",
          (STOPPED_OFFERS_START,)),
    Fault("pause-noop", "pause answers 200 but nothing is paused", (PAUSE, UNPAUSE, GUEST_PAUSE)),
    Fault("unpause-noop", "unpause answers 200 but the VM stays Paused", (UNPAUSE, GUEST_PAUSE)),
    Fault("pause-replaces-vmi", "pause silently stops the VM and starts it again paused: a new VMI and "
          "launcher pod (memory lost), while the VM ends Paused with Paused=True as expected",
          (PAUSE, GUEST_PAUSE)),
    Fault("pause-reboots-guest", "pause reboots the guest (new boot_id, RAM files gone); API objects untouched",
          (GUEST_PAUSE,)),
    Fault("guest-clock-runs-while-paused", "the guest's clock keeps running while paused; API objects untouched",
          (GUEST_PAUSE,)),
    Fault("restart-keeps-vmi", "restart answers 202 and reboots the guest, but inside the same VMI and pod",
          (RESTART, GUEST_RESTART)),
    Fault("restart-keeps-guest-memory", "restart gives a new VMI and launcher pod as usual, but the guest carries "
          "over: same boot_id, RAM files kept, still logged in", (GUEST_RESTART,)),
    Fault("migration-same-node", "migration succeeds (target pod, migrationState, Migrating → Running) but the "
          "target is the source node", (MIGRATE, GUEST_MIGRATE, RWX, EVICT_LM, DRAIN)),
    Fault("migration-restarts-vm", "migration is done as stop and start: the VMI on the target node is a new "
          "object (new UID) with a freshly booted guest; everything else looks migrated",
          (MIGRATE, GUEST_MIGRATE, EVICT_LM, DRAIN)),
    Fault("migration-stuck", "migration stays Running forever (the VM stays Migrating)",
          (MIGRATE, GUEST_MIGRATE, RWX, OWN_VOLUME, EVICT_LM, DRAIN)),
    Fault("migration-never-shown-migrating", "the VM never shows Migrating although the memory transfer lasts "
          "seconds (the VMI's migrationState has a startTimestamp and no endTimestamp for 6 s)", (MIGRATE,)),
    Fault("rwo-migratable", "a VMI with a ReadWriteOnce volume is reported LiveMigratable=True and is migrated",
          (RWX, EVICT_RWO_LM, EVICT_RWO_IFP)),
    Fault("volume-mounted-everywhere", "a monolithic datastore: every Bound ReadWriteMany claim is also mounted by a "
          "Running helper pod on every worker node (owned by the claim, gone with it)", (OWN_VOLUME,)),
    Fault("eviction-kills-vm", "evicting the launcher pod of a LiveMigrate VM is granted (201): the pod is "
          "deleted and the VM restarted as a new VMI instead of live-migrated", (EVICT_LM, DRAIN)),
    Fault("evacuation-ignored", "evicting the launcher pod of a LiveMigrate VM is refused with 429 and the VMI "
          "marked for evacuation, but no migration is ever created: the VM stays where it is", (EVICT_LM, DRAIN)),
    Fault("drain-ignores-limits", "evacuation migrations ignore parallelOutboundMigrationsPerNode and "
          "parallelMigrationsPerCluster: every VM of a drained node migrates at once", (DRAIN,)),
    # CDI faults (emulator/cdi/datavolume.py); their scenarios run with --vm-source datasource:… (a root DataVolume)
    Fault("clone-ignores-access-mode", "CDI provisions every cloned claim ReadWriteOnce, whatever the DataVolume "
          "or the StorageProfile asks (ReadWriteMany): the VM's root disk cannot live-migrate",
          (RWX, OWN_VOLUME, MIGRATE, GUEST_MIGRATE, EVICT_LM, DRAIN)),
    Fault("import-stuck", "every DataVolume import or clone stops at 40 % and never finishes (CloneInProgress)",
          (STOP, STOPPED_OFFERS_START, START_ONLY_STOPPED, PAUSE, UNPAUSE, RESTART, MIGRATE, RWX, OWN_VOLUME,
           GUEST_PAUSE, GUEST_MIGRATE, GUEST_RESTART, EVICT_LM, EVICT_RWO_LM, EVICT_RWO_IFP, DRAIN)),
    # the Actions menu (steps/actions.py) asks every action as a dry run: one carried out for real changes the VM
    Fault("dryrun-ignored", "subresource requests with dryRun: [\"All\"] are checked and then carried out for real "
          "(a dry-run stop stops the VM)", (RESTART, STOPPED_OFFERS_START, UNPAUSE, MIGRATE)),
    Fault("drop-watches", "every open watch connection is dropped every 2 s", (), transport=True),
    Fault("expire-watch-history", "watch history expires every second (resuming answers 410 Gone)", (),
          transport=True),
    Fault("flaky-api", "about 1 request in 8 is answered 429 Too Many Requests, or 500 for reads", (),
          transport=True),
)}


def validate_faults(names: list[str] | tuple[str, ...]) -> str | None:
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        return f"unknown fault profile {unknown[0]!r}; known: {', '.join(sorted(FAULTS))}"
    return None


class TransportFaults:
    """A controller that plays the transport faults named in the emulator's options."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, emulator: "Emulator") -> None:
        faults = set(emulator.options.faults)
        store = emulator.store
        rng = random.Random(emulator.options.seed if emulator.options.seed is not None else 7)
        if "drop-watches" in faults:
            self._tasks.append(asyncio.create_task(self._every(2.0, store.drop_watchers)))
        if "expire-watch-history" in faults:
            def expire() -> None:
                store.expire_history()
                store.drop_watchers()
            self._tasks.append(asyncio.create_task(self._every(1.0, expire)))
        if "flaky-api" in faults:
            def flaky(request: web.Request) -> None:
                if request.path in ("/version", "/api", "/apis") or query_flag(request.query, "watch"):
                    return
                roll = rng.random()
                if roll < 0.0625:
                    raise ApiError(429, "TooManyRequests", "the server has received too many requests and has asked us to try again later")
                if roll < 0.125 and request.method == "GET":
                    raise ApiError(500, "InternalError", "Internal error occurred: injected by the flaky-api fault profile")
            emulator.api.request_faults.append(flaky)

    @staticmethod
    async def _every(seconds: float, fn: object) -> None:
        while True:
            await asyncio.sleep(seconds)
            fn()  # type: ignore[operator]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
