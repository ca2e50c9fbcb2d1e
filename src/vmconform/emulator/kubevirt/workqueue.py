"""Level-triggered reconciliation on the emulator's loop: a deduplicating work queue and step gates.

Store listeners only *enqueue* keys; the queue drains them on the next loop iteration,
so a write made inside a reconcile never recurses into another reconcile.  A gate holds a
transition back until its sampled duration has elapsed and then re-queues the object.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("vmconform.emulator.kubevirt")

Key = tuple[str, str, str]  # (kind, namespace, name)
Handler = Callable[[str, str], None]

MAX_ITEMS_PER_DRAIN = 2000


class WorkQueue:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._handlers: dict[str, Handler] = {}
        self._pending: dict[Key, None] = {}
        self._scheduled = False
        self._timers: set[asyncio.TimerHandle] = set()
        self.closed = False

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def add(self, kind: str, namespace: str, name: str) -> None:
        if self.closed or kind not in self._handlers:
            return
        self._pending[(kind, namespace, name)] = None
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._drain)

    def add_after(self, delay: float, kind: str, namespace: str, name: str) -> None:
        if self.closed:
            return
        if delay <= 0:
            self.add(kind, namespace, name)
            return
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.add(kind, namespace, name)

        handle = self.loop.call_later(delay, fire)
        self._timers.add(handle)

    def _drain(self) -> None:
        self._scheduled = False
        done = 0
        while self._pending and not self.closed:
            if done >= MAX_ITEMS_PER_DRAIN:  # let the HTTP side breathe, continue next iteration
                self._scheduled = True
                self.loop.call_soon(self._drain)
                return
            key = next(iter(self._pending))
            del self._pending[key]
            done += 1
            handler = self._handlers.get(key[0])
            if handler is None:
                continue
            try:
                handler(key[1], key[2])
            except Exception:  # noqa: BLE001 - a controller bug must not stop the emulator
                log.exception("reconcile of %s %s/%s failed", *key)

    def close(self) -> None:
        self.closed = True
        for handle in list(self._timers):
            handle.cancel()
        self._timers.clear()
        self._pending.clear()


@dataclass
class _Gate:
    stage: str
    at: float


class Gates:
    """``ready(owner, lane, stage, seconds, key)``: False until ``seconds`` after the stage was first asked for.

    ``owner`` is usually an object's UID; one object can wait on several lanes at once
    (e.g. its lifecycle and a pending pause).  Asking for a different stage on a lane
    restarts that lane's clock.  A gate that answers True is consumed: the caller makes
    the transition right away, and asking for the same stage again starts a new wait.
    """

    TOLERANCE = 1e-3

    def __init__(self, queue: WorkQueue) -> None:
        self.queue = queue
        self._gates: dict[tuple[str, str], _Gate] = {}

    def ready(self, owner: str, lane: str, stage: str, seconds: float, key: Key) -> bool:
        now = self.queue.loop.time()
        gate = self._gates.get((owner, lane))
        if gate is None or gate.stage != stage:
            if seconds <= 0:
                self._gates.pop((owner, lane), None)
                return True
            self._gates[(owner, lane)] = _Gate(stage, now + seconds)
            self.queue.add_after(seconds, *key)
            return False
        if now + self.TOLERANCE >= gate.at:
            del self._gates[(owner, lane)]
            return True
        return False

    def reset(self, owner: str, lane: str | None = None) -> None:
        if lane is None:
            for k in [k for k in self._gates if k[0] == owner]:
                del self._gates[k]
        else:
            self._gates.pop((owner, lane), None)

    def has(self, owner: str, lane: str) -> bool:
        return (owner, lane) in self._gates
