"""Level-triggered reconciliation on the emulator's loop: a deduplicating work queue and step gates.

Store listeners only *enqueue* keys; the queue drains them on the next loop iteration,
so a write made inside a reconcile never recurses into another reconcile.  A gate holds a
transition back until its sampled duration has elapsed and then re-queues the object.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

log = logging.getLogger("vmconform.emulator.kubevirt")

Key = tuple[str, str, str]  # (kind, namespace, name)
Handler = Callable[[str, str], None]

# One drain runs reconciles for at most this long, then lets the HTTP side in (request latency
# under load: a reconcile takes ~0.1-5 ms, and 1,000 VMs started at once queue thousands of them).
DRAIN_BUDGET_SECONDS = 0.005


class WorkQueue:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._handlers: dict[str, Handler] = {}
        self._pending: dict[Key, None] = {}
        self._scheduled = False
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._timer_ids = itertools.count()
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
        # A bound method and a number, not a closure over its own handle: no reference cycle per
        # timer for the garbage collector to find (pending migrations requeue thousands a second).
        timer = next(self._timer_ids)
        self._timers[timer] = self.loop.call_later(delay, self._fire, timer, kind, namespace, name)

    def _fire(self, timer: int, kind: str, namespace: str, name: str) -> None:
        self._timers.pop(timer, None)
        self.add(kind, namespace, name)

    def _drain(self) -> None:
        self._scheduled = False
        deadline = time.monotonic() + DRAIN_BUDGET_SECONDS
        while self._pending and not self.closed:
            if time.monotonic() >= deadline:  # let the HTTP side breathe, continue next iteration
                self._scheduled = True
                self.loop.call_soon(self._drain)
                return
            key = next(iter(self._pending))
            del self._pending[key]
            handler = self._handlers.get(key[0])
            if handler is None:
                continue
            try:
                handler(key[1], key[2])
            except Exception:  # noqa: BLE001 - a controller bug must not stop the emulator
                log.exception("reconcile of %s %s/%s failed", *key)

    def close(self) -> None:
        self.closed = True
        for handle in list(self._timers.values()):
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
        self._lanes: dict[str, dict[str, None]] = {}  # owner → its lanes with a gate, in _gates order

    def _drop(self, owner: str, lane: str) -> _Gate | None:
        gate = self._gates.pop((owner, lane), None)
        if gate is not None:
            lanes = self._lanes[owner]
            del lanes[lane]
            if not lanes:
                del self._lanes[owner]
        return gate

    def ready(self, owner: str, lane: str, stage: str, seconds: float, key: Key, step: str = "") -> bool:
        now = self.queue.loop.time()
        gate = self._gates.get((owner, lane))
        if gate is None or gate.stage != stage:
            if gate is not None:
                self._record(lane, gate, now, completed=False)
            if seconds <= 0:
                self._drop(owner, lane)
                return True
            if gate is None:
                self._lanes.setdefault(owner, {})[lane] = None
            self._gates[(owner, lane)] = _Gate(stage, now + seconds, now, step, key)
            self.queue.add_after(seconds, *key)
            return False
        if now + self.TOLERANCE >= gate.at:
            self._drop(owner, lane)
            self._record(lane, gate, now, completed=True)
            return True
        return False

    def _record(self, lane: str, gate: _Gate, now: float, completed: bool) -> None:
        if self.recorder is not None:
            self.recorder.transition(gate.key, lane, gate.stage, gate.step, gate.started, now, completed)

    def reset(self, owner: str, lane: str | None = None) -> None:
        now = self.queue.loop.time()
        lanes = list(self._lanes.get(owner, ())) if lane is None else [lane]
        for name in lanes:
            gate = self._drop(owner, name)
            if gate is not None:
                self._record(name, gate, now, completed=False)

    def has(self, owner: str, lane: str) -> bool:
        return (owner, lane) in self._gates
