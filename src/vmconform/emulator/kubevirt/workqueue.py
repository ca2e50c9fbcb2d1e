"""Level-triggered reconciliation on the emulator's loop: a deduplicating work queue and step gates.

Store listeners only *enqueue* keys; the queue drains them on the next loop iteration,
so a write made inside a reconcile never recurses into another reconcile.  A gate holds a
transition back until its sampled duration has elapsed and then re-queues the object.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

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
    started: float = 0.0
    step: str = ""
    key: Key = ("", "", "")


class TransitionRecorder(Protocol):
    """Told about every gate that waited: ``completed`` False when it was cut short."""

    def transition(self, key: Key, lane: str, stage: str, step: str, start: float, end: float,
                   completed: bool) -> None: ...


class Gates:
    """``ready(owner, lane, stage, seconds, key)``: False until ``seconds`` after the stage was first asked for.

    ``owner`` is usually an object's UID; one object can wait on several lanes at once
    (e.g. its lifecycle and a pending pause).  Asking for a different stage on a lane
    restarts that lane's clock.  A gate that answers True is consumed: the caller makes
    the transition right away, and asking for the same stage again starts a new wait.
    A ``recorder`` (the emulator's metrics) hears of every wait when it ends.
    """

    TOLERANCE = 1e-3

    def __init__(self, queue: WorkQueue, recorder: TransitionRecorder | None = None) -> None:
        self.queue = queue
        self.recorder = recorder
        self._gates: dict[tuple[str, str], _Gate] = {}

    def ready(self, owner: str, lane: str, stage: str, seconds: float, key: Key, step: str = "") -> bool:
        now = self.queue.loop.time()
        gate = self._gates.get((owner, lane))
        if gate is None or gate.stage != stage:
            if gate is not None:
                self._record(lane, gate, now, completed=False)
            if seconds <= 0:
                self._gates.pop((owner, lane), None)
                return True
            self._gates[(owner, lane)] = _Gate(stage, now + seconds, now, step, key)
            self.queue.add_after(seconds, *key)
            return False
        if now + self.TOLERANCE >= gate.at:
            del self._gates[(owner, lane)]
            self._record(lane, gate, now, completed=True)
            return True
        return False

    def _record(self, lane: str, gate: _Gate, now: float, completed: bool) -> None:
        if self.recorder is not None:
            self.recorder.transition(gate.key, lane, gate.stage, gate.step, gate.started, now, completed)

    def reset(self, owner: str, lane: str | None = None) -> None:
        now = self.queue.loop.time()
        keys = [k for k in self._gates if k[0] == owner] if lane is None else [(owner, lane)]
        for k in keys:
            gate = self._gates.pop(k, None)
            if gate is not None:
                self._record(k[1], gate, now, completed=False)

    def has(self, owner: str, lane: str) -> bool:
        return (owner, lane) in self._gates
