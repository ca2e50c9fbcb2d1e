"""Fault profiles: clusters that break one promise of the lab while looking normal elsewhere.

Behaviour faults are played by the KubeVirt controllers (they read ``emulator.options.faults``);
transport faults — which a healthy cluster also shows now and then — are played here.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from .errors import ApiError

if TYPE_CHECKING:
    from .cluster import Emulator


@dataclass(frozen=True)
class Fault:
    name: str
    breaks: str  # what the broken cluster does
    caught_by: tuple[str, ...]  # behaviour ids (scenario slugs) that must fail; () for transport faults
    transport: bool = False


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("stop-keeps-running", "stop is accepted (202) but the VMI keeps running",
          ("stop-reaches-stopped",)),
    Fault("stop-hangs", "stop never finishes: the VM stays in Stopping",
          ("stop-reaches-stopped",)),
    Fault("start-accepted-when-running", "start on a running VM is accepted (202) instead of 409",
          ("start-is-offered-only-when-the-vm-is-stopped",)),
    Fault("stopped-vm-accepts-pause-restart", "pause and restart of a stopped VM are accepted",
          ("a-stopped-vm-offers-only-start",)),
    Fault("pause-noop", "pause answers 200 but nothing is paused",
          ("pause-keeps-the-vm-s-memory-allocated",)),
    Fault("unpause-noop", "unpause answers 200 but the VM stays Paused",
          ("unpause-resumes-the-vm",)),
    Fault("pause-replaces-vmi", "pause silently replaces the VMI and its pod (memory lost, statuses look right)",
          ("pause-keeps-the-vm-s-memory-allocated",)),
    Fault("pause-reboots-guest", "pause reboots the guest (new boot_id); API objects untouched",
          ("guest-pause-keeps-memory",)),
    Fault("guest-clock-runs-while-paused", "the guest's clock keeps running while paused",
          ("guest-pause-keeps-memory",)),
    Fault("restart-keeps-vmi", "restart answers 202 but keeps the same VMI",
          ("restart-reboots-the-vm-into-a-new-instance",)),
    Fault("migration-same-node", "migration succeeds but the VMI stays on the same node",
          ("migrate-moves-a-running-vm-to-another-node-and-it-returns-to-running",)),
    Fault("migration-restarts-vm", "migration is done as stop and start (new VMI UID)",
          ("migrate-moves-a-running-vm-to-another-node-and-it-returns-to-running",)),
    Fault("migration-stuck", "migration stays Running forever",
          ("migrate-moves-a-running-vm-to-another-node-and-it-returns-to-running",)),
    Fault("rwo-migratable", "an RWO volume is reported live-migratable and migrated",
          ("live-migration-requires-readwritemany-storage",)),
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
                if request.path in ("/version", "/api", "/apis") or request.query.get("watch") == "true":
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
