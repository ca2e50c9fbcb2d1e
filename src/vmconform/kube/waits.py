"""Waits that follow a watch from a known resourceVersion and read like ``kubectl wait``.

A wait resumes after a dropped connection, re-lists after 410 Gone, re-reads periodically as a
safety net, stops early on terminal states, and records the timeline of states it saw.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .client import ClusterUnreachable, Cluster, Obj
from .kinds import Kind

Describe = Callable[[Obj | None], str]
Predicate = Callable[[Obj | None], bool]
Terminal = Callable[[Obj | None], str | None]

GONE = "<gone>"
RECHECK_SECONDS = 5


@dataclass
class Sample:
    at: float  # seconds since the wait began
    state: str


@dataclass
class Timeline:
    """The states a wait saw, with times; consecutive duplicates are folded."""

    what: str
    samples: list[Sample] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)

    def add(self, state: str) -> None:
        if not self.samples or self.samples[-1].state != state:
            self.samples.append(Sample(round(time.monotonic() - self.started, 3), state))

    def note(self, text: str) -> None:
        self.notes.append(f"{time.monotonic() - self.started:.3f}s {text}")

    @property
    def states(self) -> list[str]:
        return [s.state for s in self.samples]

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def reached_at(self, state: str) -> float | None:
        return next((s.at for s in self.samples if s.state == state), None)

    def render(self) -> str:
        return " → ".join(f"{s.state} ({s.at:.2f}s)" for s in self.samples) or "(nothing observed)"

    def table(self) -> str:
        rows = ["| t (s) | state |", "| ---: | --- |"]
        rows += [f"| {s.at:.3f} | {s.state} |" for s in self.samples]
        if self.notes:
            rows += ["", "notes:"] + [f"- {n}" for n in self.notes]
        return f"{self.what}\n\n" + "\n".join(rows)


class WaitFailed(AssertionError):
    """A wait ended without its condition: a cluster behaviour was not observed."""

    def __init__(self, message: str, timeline: Timeline, last: Obj | None) -> None:
        super().__init__(message)
        self.timeline = timeline
        self.last = last


# Called with every finished timeline (the reporting layer attaches it).
timeline_listeners: list[Callable[[Timeline], None]] = []
# Called when a wait starts, with its timeline and its limit in seconds (src/vmconform/progress.py shows it).
wait_start_listeners: list[Callable[[Timeline, float], None]] = []


def _started(tl: Timeline, limit: float) -> None:
    for fn in list(wait_start_listeners):
        try:
            fn(tl, limit)
        except Exception:  # noqa: BLE001 - showing progress must never break a wait
            pass


def _publish(tl: Timeline) -> None:
    for fn in list(timeline_listeners):
        fn(tl)


class _Follower:
    """Follows one object by name: current value and the resourceVersion to watch from."""

    def __init__(self, cluster: Cluster, kind: Kind, namespace: str | None, name: str) -> None:
        self.cluster = cluster
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.fields = f"metadata.name={name}"
        self.obj: Obj | None = None
        self.rv = ""

    @property
    def value(self) -> Any:
        return self.obj

    def relist(self) -> None:
        items, rv = self.cluster.list(self.kind, self.namespace, fields=self.fields)
        self.obj = items[0] if items else None
        self.rv = rv

    def apply(self, ev: Obj) -> bool:
        """Take in one watch event; True when it changed the object (not a bookmark)."""
        obj = ev.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.rv = rv
        if ev.get("type") == "BOOKMARK":
            return False
        self.obj = None if ev.get("type") == "DELETED" else obj
        return True

    def events(self, seconds: int) -> Any:
        return self.cluster.watch(self.kind, self.namespace, self.rv, fields=self.fields, timeout_seconds=seconds)


class _SetFollower:
    """Follows every object a label selector picks: the current list and the resourceVersion to watch from."""

    def __init__(self, cluster: Cluster, kind: Kind, namespace: str | None, labels: str | None) -> None:
        self.cluster = cluster
        self.kind = kind
        self.namespace = namespace
        self.labels = labels
        self.objects: dict[str, Obj] = {}
        self.rv = ""

    @property
    def value(self) -> list[Obj]:
        return [self.objects[k] for k in sorted(self.objects)]

    def relist(self) -> None:
        items, rv = self.cluster.list(self.kind, self.namespace, labels=self.labels)
        self.objects = {o["metadata"]["name"]: o for o in items}
        self.rv = rv

    def apply(self, ev: Obj) -> bool:
        obj = ev.get("object") or {}
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.rv = meta["resourceVersion"]
        if ev.get("type") == "BOOKMARK" or not meta.get("name"):
            return False
        if ev.get("type") == "DELETED":
            self.objects.pop(meta["name"], None)
        else:
            self.objects[meta["name"]] = obj
        return True

    def events(self, seconds: int) -> Any:
        return self.cluster.watch(self.kind, self.namespace, self.rv, labels=self.labels, timeout_seconds=seconds)


def wait_for(cluster: Cluster, kind: Kind, namespace: str | None, name: str, *, until: Predicate,
             describe: Describe, timeout: float, what: str, terminal: Terminal | None = None) -> tuple[Obj | None, Timeline]:
    """Wait until ``until(obj)`` (obj is None when the object does not exist).

    Watches from the last resourceVersion seen; a dropped stream is resumed from there, a 410 Gone
    (history expired) re-lists, and every RECHECK_SECONDS the object is re-read as a safety net.
    """
    return _follow(_Follower(cluster, kind, namespace, name), until=until, describe=describe, timeout=timeout,
                   what=what, terminal=terminal)


def wait_for_list(cluster: Cluster, kind: Kind, namespace: str | None, *, labels: str | None,
                  until: Callable[[list[Obj]], bool], describe: Callable[[list[Obj]], str], timeout: float,
                  what: str, terminal: Callable[[list[Obj]], str | None] | None = None) -> tuple[list[Obj], Timeline]:
    """``wait_for`` over every object ``labels`` selects: ``until(objects)``, objects sorted by name."""
    return _follow(_SetFollower(cluster, kind, namespace, labels), until=until, describe=describe, timeout=timeout,
                   what=what, terminal=terminal)


def _follow(f: Any, *, until: Callable[[Any], bool], describe: Callable[[Any], str], timeout: float, what: str,
            terminal: Callable[[Any], str | None] | None) -> tuple[Any, Timeline]:
    tl = Timeline(what)
    deadline = time.monotonic() + timeout
    backoff = threading.Event()
    _started(tl, timeout)

    def check() -> bool:
        tl.add(describe(f.value))
        if until(f.value):
            return True
        if terminal is not None:
            why = terminal(f.value)
            if why:
                _publish(tl)
                raise WaitFailed(f"{what}: stopped early, {why}; observed {tl.render()}", tl, f.value)
        return False

    def done() -> tuple[Any, Timeline]:
        _publish(tl)
        return f.value, tl

    listed = False
    while not listed:
        try:
            f.relist()
            listed = True
        except ClusterUnreachable as exc:
            tl.note(f"connection problem: {exc}")
            if time.monotonic() >= deadline:
                _publish(tl)
                raise WaitFailed(f"{what}: the cluster could not be read: {exc}", tl, None) from None
            backoff.wait(0.2)  # retry backoff after a failed read
    if check():
        return done()
    last_read = time.monotonic()
    while time.monotonic() < deadline:
        seconds = max(1, min(RECHECK_SECONDS, math.ceil(deadline - time.monotonic())))
        try:
            for ev in f.events(seconds):
                if time.monotonic() >= deadline:
                    break  # whatever comes now comes too late
                etype = ev.get("type")
                obj = ev.get("object") or {}
                if etype == "ERROR":
                    code = obj.get("code")
                    tl.note(f"watch answered {code} {obj.get('reason', '')}: re-listing")
                    f.relist()
                    last_read = time.monotonic()
                    if check():
                        return done()
                    break
                if f.apply(ev) and check():
                    return done()
            else:
                tl.note(f"watch ended: resuming from resourceVersion {f.rv}")
            if time.monotonic() - last_read >= RECHECK_SECONDS:
                f.relist()  # safety net: re-read now and then
                last_read = time.monotonic()
                if check():
                    return done()
        except ClusterUnreachable as exc:
            tl.note(f"connection problem: {exc}")
            backoff.wait(0.2)  # retry backoff after a dropped connection
    _publish(tl)
    raise WaitFailed(f"{what}: not reached within {timeout:.0f} s; observed {tl.render()}", tl, f.value)


def observe_unchanged(cluster: Cluster, kind: Kind, namespace: str | None, name: str, *, holds: Predicate,
                      describe: Describe, seconds: float, what: str) -> Timeline:
    """Watch for ``seconds`` and fail as soon as ``holds(obj)`` is false (like Gomega's Consistently)."""
    tl = Timeline(what)
    f = _Follower(cluster, kind, namespace, name)
    deadline = time.monotonic() + seconds
    _started(tl, seconds)

    def check() -> None:
        tl.add(describe(f.obj))
        if not holds(f.obj):
            _publish(tl)
            raise WaitFailed(f"{what}: changed to {describe(f.obj)}; observed {tl.render()}", tl, f.obj)

    f.relist()
    check()
    while time.monotonic() < deadline:
        remaining = max(1, math.ceil(deadline - time.monotonic()))
        try:
            for ev in f.events(remaining):
                if time.monotonic() >= deadline:
                    break
                if ev.get("type") == "ERROR":
                    break
                if f.apply(ev):
                    check()
        except ClusterUnreachable as exc:
            tl.note(f"connection problem: {exc}")
        f.relist()
        check()
    _publish(tl)
    return tl


def jsonpath_condition(expr: str) -> tuple[Callable[[Obj | None], Any], str]:
    """Parse ``jsonpath={.status.printableStatus}=Running`` into (getter, expected)."""
    if not expr.startswith("jsonpath={"):
        raise ValueError(f"unsupported condition {expr!r}")
    path, _, expected = expr[len("jsonpath={"):].partition("}=")
    steps = [s for s in path.strip(".").split(".") if s]

    def get(obj: Obj | None) -> Any:
        cur: Any = obj
        for s in steps:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(s)
        return cur

    return get, expected


def wait_jsonpath(cluster: Cluster, kind: Kind, namespace: str | None, name: str, expr: str, *,
                  timeout: float, terminal: Terminal | None = None) -> tuple[Obj | None, Timeline]:
    """``wait_jsonpath(c, VM, ns, "x", "jsonpath={.status.printableStatus}=Running", timeout=...)``."""
    get, expected = jsonpath_condition(expr)
    return wait_for(cluster, kind, namespace, name,
                    until=lambda o: o is not None and str(get(o)) == expected,
                    describe=lambda o: GONE if o is None else str(get(o)),
                    timeout=timeout, what=f"{kind.kind} {name} {expr}", terminal=terminal)


class _BackgroundRecorder:
    """Follows a watch on a thread and records a state per change, until ``stop()``."""

    def __init__(self, cluster: Cluster, kind: Kind, namespace: str | None, what: str, *,
                 fields: str | None = None, labels: str | None = None) -> None:
        self.timeline = Timeline(what)
        self.cluster = cluster
        self.kind = kind
        self.namespace = namespace
        self.fields = fields
        self.labels = labels
        self.rv = ""
        self.initial: list[Obj] = []
        self._stop = threading.Event()
        # Guards the recorded state: stop() takes it to catch up and end the recording, so an event
        # still in flight on the thread can never be recorded after that (no need to wait for the
        # thread's watch to time out).
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{kind.plural}", daemon=True)

    # what a subclass provides
    def _reset(self, items: list[Obj]) -> None:
        raise NotImplementedError

    def _apply(self, etype: str, obj: Obj) -> None:
        raise NotImplementedError

    def _state(self) -> str:
        raise NotImplementedError

    def _relist(self) -> list[Obj]:
        items, self.rv = self.cluster.list(self.kind, self.namespace, fields=self.fields, labels=self.labels)
        self._reset(items)
        self.timeline.add(self._state())
        return items

    def begin(self) -> "_BackgroundRecorder":
        """Read what the recording starts from (before the operation); ``follow()`` then watches from there."""
        self.initial = self._relist()
        return self

    def follow(self) -> None:
        """Watch from the first LIST's resourceVersion on: nothing between the two is missed, so this may
        come after the operation (its connection is set up while the cluster works)."""
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()

    def __enter__(self) -> "_BackgroundRecorder":
        self.begin().follow()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for ev in self.cluster.watch(self.kind, self.namespace, self.rv, fields=self.fields,
                                             labels=self.labels, timeout_seconds=2):
                    with self._lock:
                        if self._stop.is_set():
                            return
                        if not self._take(ev):
                            break
            except ClusterUnreachable as exc:
                self._note(f"connection problem: {exc}")
                self._stop.wait(0.2)  # retry backoff after a dropped connection
            except Exception as exc:  # noqa: BLE001 - recorded, never raised from a thread
                self._note(f"recorder error: {exc}")
                self._stop.wait(0.2)

    def _take(self, ev: Obj) -> bool:
        """Record one watch event (the lock held); False when the watch must be restarted."""
        etype = ev.get("type")
        obj = ev.get("object") or {}
        if etype == "ERROR":
            self.timeline.note("watch error: re-listing")
            self._relist()
            return False
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.rv = rv
        if etype != "BOOKMARK":
            self._apply(str(etype), obj)
            self.timeline.add(self._state())
        return True

    def _note(self, text: str) -> None:
        with self._lock:
            if not self._stop.is_set():
                self.timeline.note(text)

    def stop(self) -> Timeline:
        """Catch up with the current state, then stop recording (at once: the thread's open watch
        ends on its own within its 2 s timeout and records nothing more)."""
        with self._lock:
            if self._stop.is_set():
                return self.timeline
            try:
                self._relist()
            except ClusterUnreachable:
                pass
            self._stop.set()
        _publish(self.timeline)
        return self.timeline


def begin_all(recorders: "tuple[_BackgroundRecorder, ...]") -> None:
    """``begin()`` several recorders; those begun stop again if one fails (no thread is left behind)."""
    for i, r in enumerate(recorders):
        try:
            r.begin()
        except BaseException:
            for done in recorders[:i]:
                done.stop()
            raise


class Recorder(_BackgroundRecorder):
    """Records one object's states, from before an operation until ``stop()``.

    ``with Recorder(c, VM, ns, name, describe, what) as rec: vm.migrate(); ...`` then ``rec.timeline.states``.
    """

    def __init__(self, cluster: Cluster, kind: Kind, namespace: str | None, name: str, describe: Describe,
                 what: str) -> None:
        super().__init__(cluster, kind, namespace, what, fields=f"metadata.name={name}")
        self._describe = describe
        self.obj: Obj | None = None

    def _reset(self, items: list[Obj]) -> None:
        self.obj = items[0] if items else None

    def _apply(self, etype: str, obj: Obj) -> None:
        self.obj = None if etype == "DELETED" else obj

    def _state(self) -> str:
        return self._describe(self.obj)


class SetRecorder(_BackgroundRecorder):
    """Records a summary of a whole selection (e.g. the pods using a claim)."""

    def __init__(self, cluster: Cluster, kind: Kind, namespace: str, summarize: Callable[[list[Obj]], str],
                 what: str, labels: str | None = None) -> None:
        super().__init__(cluster, kind, namespace, what, labels=labels)
        self.summarize = summarize
        self.objects: dict[str, Obj] = {}

    def _reset(self, items: list[Obj]) -> None:
        self.objects = {o["metadata"]["name"]: o for o in items}

    def _apply(self, etype: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj

    def _state(self) -> str:
        return self.summarize(list(self.objects.values()))
