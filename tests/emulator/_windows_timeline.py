"""What a client watching one namespace saw: every event of its VMs, VMIs, VMIMs and pods, in
resourceVersion order (one counter for all kinds, like etcd's revision), read back with the official
client's watches from a starting resourceVersion.  Used by the §10 window tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from kubernetes import watch

from vmconform.emulator import Options

Obj = dict[str, Any]
GROUP, VERSION = "kubevirt.io", "v1"
KINDS = ("virtualmachines", "virtualmachineinstances", "virtualmachineinstancemigrations", "pods")
IDLE_SECONDS = 1  # a watch that brings nothing new for this long has delivered its history

# Windows held open (seconds) so a test sees them without sleeping; every other step stays fast.
HELD_OPEN = {"pod.terminate": 1.0, "vmi.pause_gate": 0.4, "pod.readiness": 0.4, "migration.transfer": 0.4,
             "migration.finalize": 0.3, "migration.source_exit": 1.0, "vm.sync": 0.0}


@dataclass(frozen=True)
class Seen:
    rv: int
    kind: str  # plural
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


class Timeline:
    def __init__(self, kv: Any, ns: str) -> None:
        self.kv, self.ns = kv, ns
        self.start = kv.core.list_namespaced_pod(ns).metadata.resource_version

    def _stream(self, plural: str) -> list[Seen]:
        if plural == "pods":
            fn, args = self.kv.core.list_namespaced_pod, (self.ns,)
        else:
            fn, args = self.kv.custom.list_namespaced_custom_object, (GROUP, VERSION, self.ns, plural)
        out: list[Seen] = []
        for ev in watch.Watch().stream(fn, *args, resource_version=self.start, timeout_seconds=IDLE_SECONDS):
            obj = ev["object"] if isinstance(ev["object"], dict) else \
                self.kv.api.sanitize_for_serialization(ev["object"])
            out.append(Seen(int(obj["metadata"]["resourceVersion"]), plural, ev["type"], obj))
        return out

    def events(self) -> list["Seen"]:
        """Everything since the start, all kinds merged by resourceVersion."""
        with ThreadPoolExecutor(len(KINDS)) as pool:
            streams = list(pool.map(self._stream, KINDS))
        merged = sorted((s for stream in streams for s in stream), key=lambda s: s.rv)
        assert merged, "the watches brought no events"
        return merged


def first(events: list[Seen], pred: Callable[[Seen], bool], what: str) -> Seen:
    found = next((e for e in events if pred(e)), None)
    assert found is not None, f"never saw {what}; saw {[(e.rv, e.kind, e.type, e.name) for e in events]}"
    return found


def status(obj: Obj, *path: str) -> Any:
    node: Any = obj.get("status") or {}
    for part in path:
        node = (node or {}).get(part)
    return node


def condition(obj: Obj, ctype: str) -> Obj | None:
    return next((c for c in status(obj, "conditions") or [] if c.get("type") == ctype), None)


@pytest.fixture(scope="module")
def wkv(kv_factory: Callable[[Options], Any]) -> Iterator[Any]:
    """A cluster whose §10 windows are held open by step overrides (no sleeps in the tests)."""
    with kv_factory(Options(nodes=2, seed=21, extra={"steps": dict(HELD_OPEN)})) as kv_:
        yield kv_


@pytest.fixture
def wns(wkv: Any) -> Iterator[str]:
    import uuid

    name = f"w-{uuid.uuid4().hex[:8]}"
    wkv.core.create_namespace({"metadata": {"name": name}})
    yield name
    wkv.core.delete_namespace(name)
