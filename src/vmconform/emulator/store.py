"""The object store: one resourceVersion counter, watch history, finalizers, garbage collection.

All methods run on the emulator's event loop thread; they never block.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable

from . import errors
from .resources import NAMESPACES, Registry, ResourceType, clone
from .selectors import Predicate
from .store_index import Bucket, IndexFn
from .timeutil import now_rfc3339

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace, name)

OWNER_INDEX = "ownerReferences.uid"  # every kind: the UIDs of an object's owners (garbage collection)


def _owner_uids(obj: Obj) -> Iterable[Hashable]:
    return [r.get("uid") for r in obj["metadata"].get("ownerReferences") or []]


@dataclass
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    rv: int
    res: ResourceType
    obj: Obj  # the object as stored by this write (read-only)
    old: Obj | None = None  # MODIFIED: the state before (read-only), for selector transitions


class Watcher:
    def __init__(self, res: ResourceType, namespace: str | None, pred: Predicate) -> None:
        self.res = res
        self.namespace = namespace
        self.pred = pred
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def translate(self, ev: Event) -> Event | None:
        """The event as this watcher sees it, or None. Like the API server's watch cache, an object
        that starts matching the selector arrives as ADDED and one that stops matching as DELETED
        (its previous state at the new resourceVersion)."""
        if ev.res.key != self.res.key:
            return None
        if self.namespace and ev.obj["metadata"].get("namespace") != self.namespace:
            return None
        now = self.pred(ev.obj)
        if ev.type != "MODIFIED" or ev.old is None:
            return ev if now else None
        before = self.pred(ev.old)
        if now:
            return ev if before else Event("ADDED", ev.rv, ev.res, ev.obj, ev.old)
        if before:
            gone = clone(ev.old)
            gone["metadata"]["resourceVersion"] = str(ev.rv)
            return Event("DELETED", ev.rv, ev.res, gone, ev.old)
        return None

    def offer(self, ev: Event) -> None:
        out = self.translate(ev)
        if out is not None:
            self.queue.put_nowait(out)

    def close(self) -> None:
        self.queue.put_nowait(None)


# A hook decides what happens on DELETE for a kind; returning True means "handled, keep the object".
DeleteHook = Callable[[ResourceType, Obj, dict[str, Any]], bool]
AdmitHook = Callable[[str, ResourceType, Obj, Obj | None], None]
Listener = Callable[[Event], None]


class Store:
    def __init__(self, registry: Registry, history: int = 2000) -> None:
        self.registry = registry
        self.rv = 1
        self._buckets: dict[Key, Bucket] = {k.key: Bucket() for k in registry.kinds}
        for b in self._buckets.values():
            b.add_index(OWNER_INDEX, _owner_uids)
        self._history: deque[Event] = deque(maxlen=history)
        self._watchers: set[Watcher] = set()
        self._listeners: list[Listener] = []
        self.delete_hooks: dict[Key, DeleteHook] = {}
        self.admitters: list[AdmitHook] = []
        self._orphan_uids: set[str] = set()

    # ------------------------------------------------------------ plumbing

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _publish(self, type_: str, res: ResourceType, obj: Obj, old: Obj | None = None) -> None:
        # The stored object itself, not a copy: stored objects are never changed in place (every
        # write stores a new one), so the event, its history entry and ``old`` stay as they were.
        ev = Event(type_, int(obj["metadata"]["resourceVersion"]), res, obj, old)
        self._history.append(ev)
        for w in list(self._watchers):
            w.offer(ev)
        for listener in list(self._listeners):
            listener(ev)

    def listen(self, fn: Listener) -> None:
        """Controllers: called synchronously after every write (including their own)."""
        self._listeners.append(fn)

    @property
    def oldest_rv(self) -> int:
        return self._history[0].rv if self._history else self.rv

    def expire_history(self) -> None:
        """Forget all watch history (fault injection and tests): older resourceVersions answer 410."""
        self._history.clear()

    # ------------------------------------------------------------ reads

    def bucket(self, res: ResourceType) -> dict[ObjKey, Obj]:
        """A kind's stored objects by (namespace, name): read only (writes go through the store)."""
        return self._buckets[res.key].objects

    def add_index(self, res: ResourceType, name: str, fn: IndexFn) -> None:
        """Index ``res`` objects by the values ``fn`` returns (kept up to date on every write;
        registering a name again is a no-op)."""
        self._buckets[res.key].add_index(name, fn)

    def by_index(self, res: ResourceType, index: str, value: Hashable) -> list[Obj]:
        """Stored objects (not copies) with ``value`` in ``index``, sorted by namespace and name."""
        return self._buckets[res.key].indexed(index, value)

    def by_index_any(self, res: ResourceType, index: str, values: Iterable[Hashable]) -> list[Obj]:
        """Stored objects (not copies) with any of ``values`` in ``index``, sorted by namespace and name."""
        return self._buckets[res.key].indexed_any(index, values)

    def kind_version(self, res: ResourceType) -> int:
        """A number that moves whenever an object of ``res`` is written (to cache what is derived from them)."""
        return self._buckets[res.key].version

    def index_generation(self, res: ResourceType, index: str) -> int:
        """A number that moves whenever ``index`` changes (an object gains or loses a value)."""
        return self._buckets[res.key].indexes[index].generation

    def index_keys(self, res: ResourceType, index: str, value: Hashable) -> Iterable[ObjKey]:
        """The (namespace, name) keys with ``value`` in ``index``, unordered (do not keep the answer)."""
        return self._buckets[res.key].indexes[index].keys(value)

    def check_indexes(self) -> None:
        """Assert that every bucket's order and indexes agree with its objects (tests)."""
        for b in self._buckets.values():
            b.check()

    def get(self, res: ResourceType, namespace: str | None, name: str) -> Obj | None:
        obj = self.bucket(res).get((namespace or "", name))
        return clone(obj) if obj is not None else None

    def peek(self, res: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """Read without copying; callers must not mutate the result."""
        return self.bucket(res).get((namespace or "", name))

    def require(self, res: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.get(res, namespace, name)
        if obj is None:
            raise errors.not_found(res.plural, name, res.group)
        return obj

    def items(self, res: ResourceType, namespace: str | None = None,
              pred: Predicate | None = None) -> list[Obj]:
        """Stored objects (not copies), sorted by namespace and name."""
        objs = self._buckets[res.key].sorted_values(namespace)
        if pred is None:
            return objs
        return [obj for obj in objs if pred(obj)]

    def list(self, res: ResourceType, namespace: str | None = None,
             pred: Predicate | None = None) -> list[Obj]:
        return [clone(o) for o in self.items(res, namespace, pred)]

    # ------------------------------------------------------------ writes

    def create(self, res: ResourceType, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj:
        obj = clone(obj)
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            ns = namespace or meta.get("namespace") or "default"
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = ns
            nsobj = self.peek(NAMESPACES, None, ns)
            if nsobj is None:
                raise errors.not_found("namespaces", ns)
            if nsobj["metadata"].get("deletionTimestamp"):
                raise errors.ApiError(
                    403, "Forbidden",
                    f'{res.plural}{"." + res.group if res.group else ""} "{meta.get("name") or meta.get("generateName", "")}" '
                    f"is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                )
        else:
            meta.pop("namespace", None)
            ns = ""
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = self._generate_name(res, ns, meta["generateName"])
            else:
                raise errors.invalid(res.kind, "", [("metadata.name", "Required value: name or generateName is required")])
        name = meta["name"]
        if (ns, name) in self.bucket(res):
            raise errors.already_exists(res.plural, name, res.group)
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        for hook in self.admitters:
            hook("CREATE", res, obj, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        meta.pop("resourceVersion", None)
        if res is NAMESPACES:
            obj.setdefault("status", {})["phase"] = "Active"
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if dry_run:
            return obj
        meta["resourceVersion"] = str(self._next_rv())
        self._buckets[res.key].put((ns, name), obj)
        self._publish("ADDED", res, obj)
        return clone(obj)

    def _generate_name(self, res: ResourceType, ns: str, prefix: str) -> str:
        """``prefix`` + 5 random characters, drawn again while taken (like kube-apiserver ≥ 1.31's
        RetryGenerateName: 8 tries; a name still taken then answers AlreadyExists)."""
        bucket = self._buckets[res.key].objects
        name = prefix + uuid.uuid4().hex[:5]
        for _ in range(7):
            if (ns, name) not in bucket:
                break
            name = prefix + uuid.uuid4().hex[:5]
        return name

    def replace(self, res: ResourceType, obj: Obj, *, subresource: str = "", check_rv: bool = True,
                dry_run: bool = False) -> Obj:
        """PUT semantics (main resource or /status)."""
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "") if res.namespaced else ""
        name = meta.get("name", "")
        current = self.bucket(res).get((ns, name))
        if current is None:
            raise errors.not_found(res.plural, name, res.group)
        sent_rv = meta.get("resourceVersion")
        if check_rv and sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                res.plural, name,
                "the object has been modified; please apply your changes to the latest version and try again",
                res.group,
            )
        new = clone(obj)
        new["apiVersion"] = res.api_version
        new["kind"] = res.kind
        if subresource == "status":
            merged = clone(current)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        else:
            nmeta = new.setdefault("metadata", {})
            for immutable in ("uid", "creationTimestamp", "namespace", "deletionTimestamp", "generation"):
                if immutable in current["metadata"]:
                    nmeta[immutable] = current["metadata"][immutable]
                else:
                    nmeta.pop(immutable, None)
            if res.has_status:
                if "status" in current:
                    new["status"] = clone(current["status"])
                else:
                    new.pop("status", None)
            if res is NAMESPACES:
                new["status"] = clone(current.get("status", {}))
            for hook in self.admitters:
                hook("UPDATE", res, new, current)
            if self._spec_of(new) != self._spec_of(current):
                nmeta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return self._commit(res, current, new, dry_run=dry_run)

    @staticmethod
    def _spec_of(obj: Obj) -> Any:
        rest = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
        return rest

    def _commit(self, res: ResourceType, current: Obj, new: Obj, *, dry_run: bool = False) -> Obj:
        if new == current:
            return clone(current)
        if dry_run:
            return new
        meta = new["metadata"]
        meta["resourceVersion"] = str(self._next_rv())
        key = (meta.get("namespace", "") if res.namespaced else "", meta["name"])
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._ns_finalizers_pending(res, new) \
                and not self._terminating_gracefully(res, new):
            self._buckets[res.key].remove(key)
            self._publish("DELETED", res, new)
            self._after_delete(res, new)
            return clone(new)
        self._buckets[res.key].put(key, new)
        self._publish("MODIFIED", res, new, current)
        return clone(new)

    @staticmethod
    def _terminating_gracefully(res: ResourceType, obj: Obj) -> bool:
        """A pod deleted with a grace period stays (Terminating) until its kubelet ends it
        (``finish_delete``); only pods have graceful deletion (kube-apiserver's pod strategy)."""
        return res.group == "" and res.plural == "pods" and \
            int(obj["metadata"].get("deletionGracePeriodSeconds") or 0) > 0

    def _ns_finalizers_pending(self, res: ResourceType, obj: Obj) -> bool:
        return res is NAMESPACES and bool((obj.get("spec") or {}).get("finalizers"))

    def mutate(self, res: ResourceType, namespace: str | None, name: str,
               fn: Callable[[Obj], None | Obj], *, status: bool = False) -> Obj | None:
        """Controllers: change an object in place through ``fn`` and publish it. ``None`` if it is gone.

        ``status=True`` keeps generation; otherwise generation moves when anything but status changes.
        """
        current = self.bucket(res).get((namespace or "" if res.namespaced else "", name))
        if current is None:
            return None
        new = clone(current)
        out = fn(new)
        if out is not None:
            new = out
        if not status and self._spec_of(new) != self._spec_of(current):
            new["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return self._commit(res, current, new)

    def delete(self, res: ResourceType, namespace: str | None, name: str,
               options: dict[str, Any] | None = None, *, dry_run: bool = False) -> Obj:
        options = options or {}
        ns = namespace or "" if res.namespaced else ""
        current = self.bucket(res).get((ns, name))
        if current is None:
            raise errors.not_found(res.plural, name, res.group)
        precond = options.get("preconditions") or {}
        if precond.get("uid") and precond["uid"] != current["metadata"]["uid"]:
            raise errors.conflict(res.plural, name, "Precondition failed: UID in precondition does not match", res.group)
        if precond.get("resourceVersion") and precond["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                res.plural, name,
                f"Precondition failed: ResourceVersion in precondition: {precond['resourceVersion']}, "
                f"ResourceVersion in object meta: {current['metadata']['resourceVersion']}", res.group)
        if dry_run:
            return clone(current)
        for hook in self.admitters:
            hook("DELETE", res, current, current)
        hook_fn = self.delete_hooks.get(res.key)
        if hook_fn is not None and hook_fn(res, current, options):
            return self.get(res, ns, name) or clone(current)
        return self.finish_delete(res, ns, name, options)

    def finish_delete(self, res: ResourceType, namespace: str, name: str,
                      options: dict[str, Any] | None = None) -> Obj:
        """Mark for deletion; remove now unless finalizers (or a namespace's content) hold it."""
        options = options or {}
        current = self.bucket(res)[(namespace, name)]
        new = clone(current)
        meta = new["metadata"]
        if options.get("propagationPolicy") == "Orphan":
            self._orphan_uids.add(meta["uid"])
        if res is NAMESPACES:
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339()
                new.setdefault("status", {})["phase"] = "Terminating"
                self._commit(res, current, new)
                self._drain_namespace(name)
            return self.get(res, None, name) or new
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return clone(current)
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            return self._commit(res, current, new)
        meta.setdefault("deletionTimestamp", now_rfc3339())
        meta["resourceVersion"] = str(self._next_rv())
        self._buckets[res.key].remove((namespace, name))
        self._publish("DELETED", res, new)
        self._after_delete(res, new)
        return clone(new)

    # ------------------------------------------------------------ cascades

    def _after_delete(self, res: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        if meta["uid"] in self._orphan_uids:
            self._orphan_uids.discard(meta["uid"])
        else:
            self._collect_dependents(meta["uid"], meta.get("namespace", ""))
        ns = meta.get("namespace")
        if ns:
            self._maybe_finish_namespace(ns)

    def _collect_dependents(self, owner_uid: str, namespace: str) -> None:
        """Delete what ``owner_uid`` owns: kind by kind, each in (namespace, name) order (owner index)."""
        for kind in self.registry.kinds:
            for obj in self._buckets[kind.key].indexed(OWNER_INDEX, owner_uid):
                m = obj["metadata"]
                if m.get("deletionTimestamp") and kind.key not in self.delete_hooks:
                    continue
                try:
                    self.delete(kind, m.get("namespace"), m["name"], {"propagationPolicy": "Background"})
                except errors.ApiError:
                    pass

    def _drain_namespace(self, ns: str) -> None:
        for kind in self.registry.kinds:
            if not kind.namespaced:
                continue
            for obj in list(self.items(kind, ns)):
                m = obj["metadata"]
                if m.get("deletionTimestamp") and kind.key not in self.delete_hooks:
                    continue
                try:
                    self.delete(kind, ns, m["name"], {"propagationPolicy": "Background"})
                except errors.ApiError:
                    pass
        self._maybe_finish_namespace(ns)

    def _maybe_finish_namespace(self, ns: str) -> None:
        nsobj = self.bucket(NAMESPACES).get(("", ns))
        if nsobj is None or not nsobj["metadata"].get("deletionTimestamp"):
            return
        for kind in self.registry.kinds:
            if kind.namespaced and self._buckets[kind.key].has_namespace(ns):
                return
        new = clone(nsobj)
        new.setdefault("spec", {})["finalizers"] = []
        new["metadata"]["finalizers"] = []
        self._commit(NAMESPACES, nsobj, new)

    # ------------------------------------------------------------ watch

    def watch(self, res: ResourceType, namespace: str | None, pred: Predicate,
              since: int | None) -> tuple[Watcher, list[Event]]:
        """Register a watcher. ``since=None``: synthetic ADDED for current state. Raises 410 if too old."""
        w = Watcher(res, namespace, pred)
        backlog: list[Event] = []
        if since is None:
            for obj in self.items(res, namespace, pred):
                backlog.append(Event("ADDED", int(obj["metadata"]["resourceVersion"]), res, clone(obj)))
        elif since < self.rv:
            if not self._history or since < self._history[0].rv - 1:
                raise errors.gone(f"too old resource version: {since} ({self.oldest_rv})")
            for ev in self._history:
                if ev.rv > since:
                    seen = w.translate(ev)
                    if seen is not None:
                        backlog.append(seen)
        self._watchers.add(w)
        return w, backlog

    def unwatch(self, w: Watcher) -> None:
        self._watchers.discard(w)

    def drop_watchers(self) -> int:
        """Close every open watch (fault injection: dropped connections)."""
        ws = list(self._watchers)
        for w in ws:
            w.close()
        return len(ws)

    def all_objects(self) -> Iterable[tuple[ResourceType, Obj]]:
        for kind in self.registry.kinds:
            for obj in self.items(kind):
                yield kind, obj
