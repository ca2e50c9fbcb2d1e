"""State shared by the KubeVirt controllers of one emulator: options, timing, faults, queue, registries."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, Callable

from ..resources import PODS, VMIMS, ResourceType
from ..store import Event, Store
from .behaviour import Behaviour
from .events import EventRecorder
from .guests import GuestHandle, GuestRegistry
from .indexes import install as install_indexes
from .releases import Release, release_of
from .subresource_api import SubresourceRoutes
from .timing import ADVERSARIAL, Timing
from .workqueue import Gates, Key, WorkQueue

if TYPE_CHECKING:
    from ..cluster import Emulator
    from .migration_controller import MigrationController
    from .vmi_controller import VMIController

Obj = dict[str, Any]
EventFn = Callable[[Event], None]

_ATTR = "_kubevirt_context"
_DRAW_KINDS = {"vmim": VMIMS, "launcher-pod": PODS}  # work-queue kinds whose objects may have generated names
# pkg/controller/controller.go SetLatestApiVersionAnnotation (ApiLatestVersion, ApiStorageVersion: v1)
ANNO_LATEST_OBSERVED = "kubevirt.io/latest-observed-api-version"
ANNO_STORAGE_OBSERVED = "kubevirt.io/storage-observed-api-version"
API_VERSION_OBSERVED = {ANNO_LATEST_OBSERVED: "v1", ANNO_STORAGE_OBSERVED: "v1"}


class KubeVirtContext:
    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        self.store: Store = emulator.store
        install_indexes(self.store)
        self.options = emulator.options
        self.release: Release = release_of(self.options)  # the emulated KubeVirt release (§11)
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = asyncio.get_event_loop()
        self.faults: frozenset[str] = frozenset(getattr(self.options, "faults", ()) or ())
        self.timing = Timing.from_options(self.options)
        self.rng = random.Random(self.timing.seed)
        self.behaviour = Behaviour(self.faults, self)
        self.queue = WorkQueue(self.loop)
        self.gates = Gates(self.queue, recorder=getattr(emulator, "metrics", None))
        self.events = EventRecorder(self.store)
        self.guests = GuestRegistry()
        self.subresources = SubresourceRoutes()
        self.vmi_controller: VMIController | None = None
        self.migration_controller: MigrationController | None = None
        self._watchers: dict[tuple[str, str], list[EventFn]] = {}
        # Values derived from stored objects, with what they were derived from: name → (version, value).
        self.memo: dict[str, tuple[Any, Any]] = {}
        self.store.listen(self._dispatch)

    # ------------------------------------------------------------ events → work

    def watch(self, res: ResourceType, fn: EventFn) -> None:
        self._watchers.setdefault(res.key, []).append(fn)

    def _dispatch(self, ev: Event) -> None:
        for fn in self._watchers.get(ev.res.key, ()):
            fn(ev)

    def gate(self, owner: str, lane: str, stage: str, step: str | float, key: Key) -> bool:
        """True once the step's duration has passed since ``stage`` was first asked for (then consumed)."""
        seconds = step if isinstance(step, (int, float)) else self.duration(step, key)
        return self.gates.ready(owner, lane, stage, float(seconds), key, step if isinstance(step, str) else "")

    def observe_api_version(self, res: ResourceType, obj: Obj) -> bool:
        """A controller's first step on an object (§10 W12): stamp the API versions it observed, as an
        update of its own, and stop there (the update's event brings the object back).  True if it wrote."""
        annotations = obj["metadata"].get("annotations") or {}
        if annotations.get(ANNO_LATEST_OBSERVED) == API_VERSION_OBSERVED[ANNO_LATEST_OBSERVED]:
            return False

        def stamp(o: Obj) -> None:
            o["metadata"]["annotations"] = {**(o["metadata"].get("annotations") or {}), **API_VERSION_OBSERVED}

        meta = obj["metadata"]
        self.store.mutate(res, meta.get("namespace"), meta["name"], stamp)
        return True

    def duration(self, step: str, key: Key | None = None) -> float:
        """A step's duration for the object ``key`` (seeded per object under the adversarial profile).

        Objects named by the server (``generateName``: launcher pods, migrations of the migrate
        subresource) draw under their prefix, so a replay with the same seed draws the same."""
        if key is not None and self.timing.profile == ADVERSARIAL:
            res = _DRAW_KINDS.get(key[0])
            obj = self.store.peek(res, key[1], key[2]) if res is not None else None
            prefix = obj["metadata"].get("generateName") if obj is not None else None
            if prefix and key[2].startswith(prefix):
                key = (key[0], key[1], prefix)
        return self.timing.duration(step, key)

    def close(self) -> None:
        self.queue.close()


def context_of(emulator: "Emulator") -> KubeVirtContext:
    """The KubeVirt context of an emulator, created on first use (inside its event loop)."""
    ctx = getattr(emulator, _ATTR, None)
    if ctx is None:
        ctx = KubeVirtContext(emulator)
        setattr(emulator, _ATTR, ctx)
    return ctx


def find_guest(emulator: "Emulator", namespace: str, vmi_name: str) -> GuestHandle | None:
    """The guest of a running VMI, for the serial console; None when there is none."""
    ctx = getattr(emulator, _ATTR, None)
    if ctx is None:
        return None
    return ctx.guests.get(namespace, vmi_name)
