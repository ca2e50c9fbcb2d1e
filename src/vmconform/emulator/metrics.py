"""What the emulated cluster did: timed transitions, API requests by namespace and verb, watches.

One :class:`Metrics` per :class:`~vmconform.emulator.cluster.Emulator` (``emulator.metrics``).
The API server counts every request in its middleware (``record_request``), the KubeVirt step
gates report every transition that actually waited (``transition``), and a store listener notes
when each namespace was created, asked to go, and went (``on_store_event``).  A subprocess
emulator serves the same as JSON on ``GET /debug/vmconform/metrics`` (bearer token required, not
part of discovery, not counted itself); ``?transitions=0`` leaves the transition log out, and
``DELETE`` on the same path starts the counts afresh.

All times are ``time.monotonic()`` seconds of the emulator's process (the clock of its event
loop); ``snapshot()["clock"]`` pairs one monotonic reading with ``time.time()`` so a consumer can
put them on the wall clock.  Memory is bounded: the transition log keeps the newest
``max_transitions`` entries (``transitions_dropped`` counts the rest) and at most
``max_namespaces`` namespaces are tracked (the oldest are forgotten first).

Namespaces follow Kubernetes' request attribution: a namespaced path counts under its
namespace, a request on a Namespace object (``/api/v1/namespaces/NAME``, or a list/watch of
namespaces with the field selector ``metadata.name=NAME``) under NAME, everything else
(cluster-scoped kinds, discovery, OpenAPI, access reviews) under ``""``.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

from aiohttp import web

from .query import flag as query_flag

DEBUG_PREFIX = "/debug/vmconform/"
METRICS_PATH = "/debug/vmconform/metrics"
SCHEMA = "vmconform.emulator-metrics/v1"
SUBRESOURCE_GROUP = "subresources.kubevirt.io"
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}

Key = tuple[str, str, str]  # (kind, namespace, name), as the work queue spells it


@dataclass(frozen=True)
class RequestInfo:
    namespace: str
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection, or resource/subresource
    resource: str  # "virtualmachines", "pods/status", or the path of a non-resource request


@dataclass
class Transition:
    namespace: str
    kind: str  # the work-queue kind of the object that waited (vmi, vmim, pvc, …)
    name: str
    lane: str  # the gate's lane: life, pod, pause, mig, …
    stage: str
    step: str  # the timing step (kubevirt/timing.py) or "" when the duration was computed by the caller
    start: float
    end: float
    completed: bool  # False: the wait was cut short (object deleted, or a new stage on the lane)


@dataclass
class NamespaceLife:
    created: float | None = None
    deleting: float | None = None  # first seen with a deletionTimestamp
    deleted: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    transitions: int = 0
    transition_seconds: float = 0.0  # plain sum; the union is for the consumer to compute


def classify(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Namespace, verb and resource of one request, the way the API server's RequestInfo sees it."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        top = "/" + "/".join(parts[:2]) if parts else "/"
        return RequestInfo("", method.lower(), top)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = "/".join(rest[2:])
    if resource == "namespaces" and name is None:
        selector = query.get("fieldSelector", "")
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if key.strip() == "metadata.name" and value.strip("= "):
                namespace = value.strip("= ")
    if group == SUBRESOURCE_GROUP and sub:
        return RequestInfo(namespace, f"{resource}/{sub}", f"{resource}/{sub}")
    if method == "GET":
        if name is None or query_flag(query, "watch"):
            verb = "watch" if query_flag(query, "watch") else "list"
        else:
            verb = "get"
    elif method == "DELETE":
        verb = "delete" if name is not None else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return RequestInfo(namespace, verb, f"{resource}/{sub}" if sub else resource)


class Metrics:
    def __init__(self, max_transitions: int = 20000, max_namespaces: int = 5000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.max_namespaces = max_namespaces
        self.requests: dict[str, Counter[str]] = {}
        self.resources: dict[str, Counter[str]] = {}
        self.watches: Counter[str] = Counter()
        self.transitions: deque[Transition] = deque(maxlen=max_transitions)
        self.transitions_dropped = 0
        self.steps: dict[str, list[float]] = {}  # step (or lane:stage) -> [count, seconds]
        self.namespaces: OrderedDict[str, NamespaceLife] = OrderedDict()

    # ------------------------------------------------------------ recording

    def record_request(self, method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
        info = classify(method, path, query)
        by_verb = self.requests.get(info.namespace)
        if by_verb is None:
            by_verb = self.requests[info.namespace] = Counter()
            self.resources[info.namespace] = Counter()
        by_verb[info.verb] += 1
        self.resources[info.namespace][f"{info.verb} {info.resource}"] += 1
        if info.verb == "watch":
            self.watches[info.namespace] += 1
        return info

    def transition(self, key: Key, lane: str, stage: str, step: str, start: float, end: float,
                   completed: bool) -> None:
        kind, namespace, name = key
        if len(self.transitions) == self.transitions.maxlen:
            self.transitions_dropped += 1
        self.transitions.append(Transition(namespace, kind, name, lane, stage, step, start, end, completed))
        agg = self.steps.setdefault(step or f"{lane}:{stage.split(':')[0]}", [0, 0.0])
        agg[0] += 1
        agg[1] += end - start
        life = self.namespaces.get(namespace)
        if life is not None:
            life.transitions += 1
            life.transition_seconds += end - start

    def on_store_event(self, ev: Any) -> None:
        """Store listener: the life of every namespace (created, deletion asked, gone)."""
        if ev.res.key != ("", "namespaces"):
            return
        meta = ev.obj.get("metadata") or {}
        name = meta.get("name", "")
        now = self.clock()
        life = self.namespaces.get(name)
        if ev.type == "ADDED" or life is None:
            life = self.namespaces[name] = NamespaceLife(created=now if ev.type == "ADDED" else None,
                                                         labels=dict(meta.get("labels") or {}))
            self._evict()
        if meta.get("deletionTimestamp") and life.deleting is None:
            life.deleting = now
        if ev.type == "DELETED":
            life.deleted = now

    def _evict(self) -> None:
        while len(self.namespaces) > self.max_namespaces:
            gone = next((n for n, life in self.namespaces.items() if life.deleted is not None),
                        next(iter(self.namespaces)))
            del self.namespaces[gone]

    def reset(self) -> None:
        """Forget everything recorded so far (namespaces that still exist stay known)."""
        self.requests.clear()
        self.resources.clear()
        self.watches.clear()
        self.transitions.clear()
        self.transitions_dropped = 0
        self.steps.clear()
        for name in [n for n, life in self.namespaces.items() if life.deleted is not None]:
            del self.namespaces[name]
        self.started = self.clock()

    # ------------------------------------------------------------ reading

    def snapshot(self, transitions: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "clock": {"monotonic": self.clock(), "wall": time.time(), "since": self.started},
            "requests": {ns: dict(c) for ns, c in self.requests.items()},
            "requests_by_resource": {ns: dict(c) for ns, c in self.resources.items()},
            "watches": dict(self.watches),
            "steps": {s: {"count": int(c), "seconds": round(sec, 6)} for s, (c, sec) in sorted(self.steps.items())},
            "namespaces": {n: asdict(life) for n, life in self.namespaces.items()},
            "transitions_recorded": len(self.transitions),
            "transitions_dropped": self.transitions_dropped,
        }
        if transitions:
            out["transitions"] = [asdict(t) for t in self.transitions]
        return out

    def total_requests(self, namespace: str | None = None) -> int:
        if namespace is not None:
            return sum(self.requests.get(namespace, Counter()).values())
        return sum(sum(c.values()) for c in self.requests.values())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /debug/vmconform/metrics[?transitions=0]`` (the API server's token guards it)."""
        path = request.path.rstrip("/")
        if path != METRICS_PATH:
            return _status(404, "NotFound", "the server could not find the requested resource")
        if request.method == "DELETE":
            self.reset()
            return _status(200, "", "metrics reset", success=True)
        if request.method != "GET":
            return _status(405, "MethodNotAllowed", f"{request.method} is not supported on {METRICS_PATH}")
        with_log = request.query.get("transitions", "1") not in ("0", "false")
        return web.json_response(self.snapshot(transitions=with_log))


def _status(code: int, reason: str, message: str, success: bool = False) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success" if success else "Failure",
            "message": message, "code": code}
    if reason:
        body["reason"] = reason
    return web.json_response(body, status=code)


def install(emulator: Any) -> Metrics:
    """Attach a :class:`Metrics` to an emulator: request counting, namespace lives, the endpoint."""
    metrics = Metrics()
    emulator.api.metrics = metrics
    emulator.api.extensions.append((METRICS_PATH, metrics.handle))
    emulator.store.listen(metrics.on_store_event)
    return metrics
