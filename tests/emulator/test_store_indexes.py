"""The store's ordered buckets and indexes: list order, pagination, garbage collection, pods by node.

The store is used directly (it never blocks, so no event loop is needed) except where the API's
pagination and a whole KubeVirt lifecycle are checked through the ``kv`` cluster.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Iterator

import pytest

from vmconform.emulator.kubevirt import indexes
from vmconform.emulator.kubevirt.scheduler import pods_on
from vmconform.emulator.kubevirt.workqueue import Gates, Key, WorkQueue
from vmconform.emulator.resources import ALL, EVENTS, NAMESPACES, PODS, VMIMS, Registry
from vmconform.emulator.store import Store

Obj = dict[str, Any]


@pytest.fixture
def store() -> Store:
    s = Store(Registry(ALL))
    indexes.install(s)
    return s


def _ns(store: Store, *names: str) -> None:
    for name in names:
        store.create(NAMESPACES, {"metadata": {"name": name}})


def _event(store: Store, ns: str, name: str, owners: list[Obj] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if owners:
        meta["ownerReferences"] = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"],
                                    "uid": o["metadata"]["uid"]} for o in owners]
    return store.create(EVENTS, {"metadata": meta, "reason": "Test"}, ns)


def _pod(store: Store, ns: str, name: str, node: str = "", labels: dict[str, str] | None = None) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return store.create(PODS, {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}, ns)


def _names(objs: list[Obj]) -> list[tuple[str, str]]:
    return [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs]


# ---------------------------------------------------------------- list order


def test_items_are_in_namespace_then_name_order_whatever_the_insertion_order(store: Store) -> None:
    namespaces = ["b", "a", "a-b", "a.b", "ab", "z0"]
    _ns(store, *namespaces)
    keys = [(ns, f"{prefix}{i}") for ns in namespaces for prefix in ("x-", "x.", "X", "x") for i in (10, 2, 1)]
    random.Random(3).shuffle(keys)
    for ns, name in keys:
        _event(store, ns, name)
    assert _names(store.items(EVENTS)) == sorted(keys)
    assert _names(store.items(EVENTS, "a")) == sorted(k for k in keys if k[0] == "a")
    assert store.items(EVENTS, "missing") == []
    gone = set(random.Random(4).sample(keys, len(keys) // 2))
    for ns, name in gone:
        store.delete(EVENTS, ns, name)
    left = sorted(set(keys) - gone)
    assert _names(store.items(EVENTS)) == left
    for ns, name in keys[:5]:
        if (ns, name) in gone:
            _event(store, ns, name)
    assert _names(store.items(EVENTS)) == sorted(set(left) | {k for k in keys[:5]})
    # cluster-scoped kinds: the namespace is "" and the order is by name
    assert _names(store.items(NAMESPACES)) == sorted(("", n) for n in namespaces)
    store.check_indexes()


def test_items_with_a_predicate_keep_the_order(store: Store) -> None:
    _ns(store, "n1", "n2")
    for ns in ("n2", "n1"):
        for name in ("c", "a", "b"):
            _event(store, ns, name)
    odd = store.items(EVENTS, None, lambda o: o["metadata"]["name"] != "b")
    assert _names(odd) == [("n1", "a"), ("n1", "c"), ("n2", "a"), ("n2", "c")]


def test_namespace_finishes_when_its_last_object_goes(store: Store) -> None:
    _ns(store, "keep", "drop")
    _event(store, "keep", "e")
    _event(store, "drop", "e")
    store.delete(NAMESPACES, None, "drop")
    assert store.peek(NAMESPACES, None, "drop") is None
    assert store.peek(NAMESPACES, None, "keep") is not None
    assert _names(store.items(EVENTS)) == [("keep", "e")]
    store.check_indexes()


def test_paging_across_namespaces_keeps_the_order_and_survives_changes(kv: Any) -> None:
    names = [f"page-{i:02d}" for i in (7, 3, 11, 0, 5, 9, 1)]
    spaces = [f"zz-page-{i}" for i in (2, 1)]
    for ns in spaces:
        kv.core.create_namespace({"metadata": {"name": ns}})
    try:
        for ns in spaces:
            for name in names:
                kv.core.create_namespaced_event(ns, {"metadata": {"name": name}, "involvedObject": {},
                                                     "reason": "Paging"})
        selector = "reason=Paging"
        whole = [(e.metadata.namespace, e.metadata.name)
                 for e in kv.core.list_event_for_all_namespaces(field_selector=selector).items]
        assert whole == sorted((ns, n) for ns in spaces for n in names)
        seen: list[tuple[str, str]] = []
        token = None
        first = True
        while True:
            page = kv.core.list_event_for_all_namespaces(field_selector=selector, limit=4, _continue=token)
            seen += [(e.metadata.namespace, e.metadata.name) for e in page.items]
            token = page.metadata._continue
            if first:
                # a change behind the cursor is not served again; one ahead of it is
                kv.core.delete_namespaced_event(whole[0][1], whole[0][0])
                kv.core.delete_namespaced_event(whole[-1][1], whole[-1][0])
                kv.core.create_namespaced_event(spaces[0], {"metadata": {"name": "page-99"}, "involvedObject": {},
                                                            "reason": "Paging"})
                first = False
            if not token:
                break
        assert seen == whole[:4] + sorted([*whole[4:-1], (spaces[0], "page-99")])
    finally:
        for ns in spaces:
            kv.core.delete_namespace(ns)


# ---------------------------------------------------------------- garbage collection


def test_gc_follows_owner_references_as_they_are_now(store: Store) -> None:
    _ns(store, "gc")
    a = _pod(store, "gc", "owner-a")
    b = _pod(store, "gc", "owner-b")
    kept = _event(store, "gc", "e1", [a])
    moved = _event(store, "gc", "e2", [a])
    adopted = _event(store, "gc", "e3")
    both = _event(store, "gc", "e4", [a, b])
    _event(store, "gc", "unrelated")
    del kept
    # e2 now belongs to b only (an update through the API), e3 is adopted by a (a controller write)
    moved["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "owner-b",
                                             "uid": b["metadata"]["uid"]}]
    store.replace(EVENTS, moved)
    store.mutate(EVENTS, "gc", adopted["metadata"]["name"], lambda o: o["metadata"].__setitem__(
        "ownerReferences", [{"apiVersion": "v1", "kind": "Pod", "name": "owner-a", "uid": a["metadata"]["uid"]}]))
    store.check_indexes()
    store.delete(PODS, "gc", "owner-a")
    assert [n for _, n in _names(store.items(EVENTS, "gc"))] == ["e2", "unrelated"]
    assert both["metadata"]["name"] not in {o["metadata"]["name"] for o in store.items(EVENTS, "gc")}
    store.delete(PODS, "gc", "owner-b")
    assert [n for _, n in _names(store.items(EVENTS, "gc"))] == ["unrelated"]
    store.check_indexes()


def test_gc_deletes_dependents_in_list_order_and_orphan_keeps_them(store: Store) -> None:
    _ns(store, "gc2")
    owner = _pod(store, "gc2", "owner")
    for name in ("d3", "d1", "d2"):
        _event(store, "gc2", name, [owner])
    deleted: list[str] = []
    store.listen(lambda ev: deleted.append(ev.obj["metadata"]["name"]) if ev.type == "DELETED" else None)
    store.delete(PODS, "gc2", "owner")
    assert deleted == ["owner", "d1", "d2", "d3"]
    orphaned = _pod(store, "gc2", "parent")
    _event(store, "gc2", "child", [orphaned])
    store.delete(PODS, "gc2", "parent", {"propagationPolicy": "Orphan"})
    assert [n for _, n in _names(store.items(EVENTS, "gc2"))] == ["child"]
    store.check_indexes()


# ---------------------------------------------------------------- pods by node, label indexes


def test_pods_by_node_follow_binding_rebinding_completion_and_deletion(store: Store) -> None:
    _ns(store, "sched")
    _pod(store, "sched", "p2", "n1")
    _pod(store, "sched", "p1", "n1")
    _pod(store, "sched", "pending")
    assert _names(pods_on(store, "n1")) == [("sched", "p1"), ("sched", "p2")]
    store.mutate(PODS, "sched", "pending", lambda o: o["spec"].__setitem__("nodeName", "n2"))
    store.mutate(PODS, "sched", "p2", lambda o: o["spec"].__setitem__("nodeName", "n2"))
    assert _names(pods_on(store, "n1")) == [("sched", "p1")]
    assert _names(pods_on(store, "n2")) == [("sched", "p2"), ("sched", "pending")]
    store.mutate(PODS, "sched", "p2", lambda o: o.setdefault("status", {}).__setitem__("phase", "Succeeded"),
                 status=True)
    assert _names(pods_on(store, "n2")) == [("sched", "pending")]
    store.delete(PODS, "sched", "pending")
    store.delete(PODS, "sched", "p1")
    assert pods_on(store, "n1") == [] and pods_on(store, "n2") == []
    store.check_indexes()


def test_label_indexes_are_per_namespace_and_follow_label_changes(store: Store) -> None:
    _ns(store, "l1", "l2")
    _pod(store, "l1", "a", labels={"kubevirt.io/created-by": "uid-1"})
    _pod(store, "l2", "a", labels={"kubevirt.io/created-by": "uid-1"})
    _pod(store, "l1", "b", labels={"kubevirt.io/created-by": "uid-2"})
    assert _names(store.by_index(PODS, indexes.POD_CREATED_BY, ("l1", "uid-1"))) == [("l1", "a")]
    store.mutate(PODS, "l1", "b", lambda o: o["metadata"]["labels"].__setitem__("kubevirt.io/created-by", "uid-1"))
    assert _names(store.by_index(PODS, indexes.POD_CREATED_BY, ("l1", "uid-1"))) == [("l1", "a"), ("l1", "b")]
    store.mutate(PODS, "l1", "a", lambda o: o["metadata"].__setitem__("labels", {}))
    assert _names(store.by_index(PODS, indexes.POD_CREATED_BY, ("l1", "uid-1"))) == [("l1", "b")]
    assert store.by_index(PODS, indexes.POD_CREATED_BY, ("l1", "uid-2")) == []
    assert store.by_index(PODS, indexes.POD_CREATED_BY, ("l1", {"unhashable": 1})) == []
    store.check_indexes()


def test_an_index_added_late_covers_the_objects_already_stored(store: Store) -> None:
    _ns(store, "late")
    _pod(store, "late", "x", labels={"team": "a"})
    store.add_index(PODS, "team", lambda o: [(o["metadata"].get("labels") or {}).get("team")])
    store.add_index(PODS, "team", lambda o: ["ignored: already registered"])
    assert _names(store.by_index(PODS, "team", "a")) == [("late", "x")]
    store.check_indexes()


def test_vmim_phase_index_tracks_status_writes(store: Store) -> None:
    _ns(store, "m")
    for name in ("m2", "m1"):
        store.create(VMIMS, {"metadata": {"name": name}, "spec": {"vmiName": "vm"}}, "m")
    store.mutate(VMIMS, "m", "m1", lambda o: o.setdefault("status", {}).__setitem__("phase", "Pending"), status=True)
    assert _names(store.by_index(VMIMS, indexes.VMIM_PHASE, "Pending")) == [("m", "m1")]
    assert _names(store.by_index(VMIMS, indexes.VMIM_PHASE, None)) == [("m", "m2")]
    assert _names(store.by_index_any(VMIMS, indexes.VMIM_PHASE, ("Pending", None))) == [("m", "m1"), ("m", "m2")]
    assert _names(store.by_index(VMIMS, indexes.VMIM_VMI, ("m", "vm"))) == [("m", "m1"), ("m", "m2")]
    store.check_indexes()


# ---------------------------------------------------------------- gates by owner


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []

    def transition(self, key: Key, lane: str, stage: str, step: str, start: float, end: float,
                   completed: bool) -> None:
        self.seen.append((lane, stage, completed))


@pytest.fixture
def gates() -> Iterator[tuple[Gates, _Recorder]]:
    loop = asyncio.new_event_loop()
    queue = WorkQueue(loop)
    rec = _Recorder()
    try:
        yield Gates(queue, recorder=rec), rec
    finally:
        queue.close()
        loop.close()


def test_gate_reset_ends_the_owners_lanes_in_the_order_they_started(gates: tuple[Gates, _Recorder]) -> None:
    g, rec = gates
    key: Key = ("vmi", "ns", "x")
    assert not g.ready("u1", "life", "boot", 10, key)
    assert not g.ready("u2", "life", "boot", 10, key)
    assert not g.ready("u1", "pause", "pausing", 10, key)
    assert not g.ready("u1", "life", "run", 10, key)  # a new stage on a started lane keeps its place
    assert not g.ready("u1", "guest", "agent", 10, key)
    assert g.ready("u1", "pause", "other", 0, key)  # zero seconds: the lane ends at once
    rec.seen.clear()
    g.reset("u1")
    assert rec.seen == [("life", "run", False), ("guest", "agent", False)]
    assert not g.has("u1", "life") and g.has("u2", "life")
    g.reset("u2", "life")
    g.reset("u2")
    assert rec.seen[-1] == ("life", "boot", False) and len(rec.seen) == 3
    assert not g.ready("u1", "life", "again", 10, key)
    assert g.has("u1", "life")


# ---------------------------------------------------------------- generateName


def test_generate_name_draws_again_while_the_name_is_taken(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import itertools
    import uuid

    from vmconform.emulator import store as store_mod
    from vmconform.emulator.errors import ApiError

    _ns(store, "gen")
    # name, uid, name (taken), name, uid, then "ccccc" for ever (uids draw from the same source)
    draws = itertools.chain(["aaaaa", "aaaaa", "aaaaa", "bbbbb"], itertools.repeat("ccccc"))
    monkeypatch.setattr(store_mod.uuid, "uuid4", lambda: uuid.UUID(next(draws) + "0" * 27))
    body = {"metadata": {"generateName": "mig-"}, "reason": "Test"}
    assert store.create(EVENTS, body, "gen")["metadata"]["name"] == "mig-aaaaa"
    assert store.create(EVENTS, body, "gen")["metadata"]["name"] == "mig-bbbbb"
    assert store.create(EVENTS, body, "gen")["metadata"]["name"] == "mig-ccccc"
    with pytest.raises(ApiError) as err:
        store.create(EVENTS, body, "gen")  # eight draws, all taken
    assert err.value.code == 409
