"""Watch: resume from a resourceVersion, 410 Expired, timeoutSeconds, bookmarks, selectors, Table events."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest
from kubernetes import client, watch

from vmconform.emulator import EmulatedCluster

from .conftest import GROUP, VERSION, VM_PATH, VMS, Http, vm_body

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


def create_vm(custom: client.CustomObjectsApi, ns: str, name: str, **meta: Any) -> dict[str, Any]:
    return custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body(name, **meta))


def label(custom: client.CustomObjectsApi, ns: str, name: str, **labels: str) -> dict[str, Any]:
    return custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, name, {"metadata": {"labels": labels}})


def test_watch_resumes_from_a_resource_version(custom: client.CustomObjectsApi, ns: str) -> None:
    a = create_vm(custom, ns, "a")
    rv = a["metadata"]["resourceVersion"]
    a2 = label(custom, ns, "a", step="1")
    b = create_vm(custom, ns, "b")
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, VMS, "a")

    w = watch.Watch()
    got = []
    for ev in w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, ns, VMS,
                       resource_version=rv, timeout_seconds=5):
        got.append((ev["type"], ev["object"]["metadata"]["name"], ev["object"]["metadata"]["resourceVersion"]))
        if len(got) == 3:
            w.stop()
    assert got == [
        ("MODIFIED", "a", a2["metadata"]["resourceVersion"]),
        ("ADDED", "b", b["metadata"]["resourceVersion"]),
        ("DELETED", "a", got[2][2]),
    ]
    assert int(got[2][2]) > int(b["metadata"]["resourceVersion"])


def test_watch_without_resource_version_starts_with_current_state(http: Http,
                                                                   custom: client.CustomObjectsApi,
                                                                   ns: str) -> None:
    create_vm(custom, ns, "x")
    create_vm(custom, ns, "y")
    with http.watch(VM_PATH.format(ns=ns), timeout=3) as w:
        it = iter(w)
        first = [next(it), next(it)]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] == [("ADDED", "x"), ("ADDED", "y")]
        label(custom, ns, "x", live="yes")  # a write while the watch is open arrives on it
        ev = next(it)
    assert ev["type"] == "MODIFIED" and ev["object"]["metadata"]["labels"] == {"live": "yes"}


def test_watch_streams_live_events_to_the_python_client(custom: client.CustomObjectsApi, ns: str) -> None:
    start = create_vm(custom, ns, "live")["metadata"]["resourceVersion"]
    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    opened = threading.Event()

    def writer() -> None:
        opened.wait(5)
        label(custom, ns, "live", n="1")
        create_vm(custom, ns, "live-2")

    t = threading.Thread(target=writer)
    t.start()
    try:
        opened.set()
        for ev in w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, ns, VMS,
                           resource_version=start, timeout_seconds=5):
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
            if len(seen) == 2:
                w.stop()
    finally:
        t.join(5)
    assert seen == [("MODIFIED", "live"), ("ADDED", "live-2")]


def test_watch_honours_selectors(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    rv = create_vm(custom, ns, "blue", labels={"color": "blue"})["metadata"]["resourceVersion"]
    create_vm(custom, ns, "red", labels={"color": "red"})
    label(custom, ns, "blue", more="1")
    label(custom, ns, "red", more="1")
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv, "labelSelector": "color=red"}, timeout=1) as w:
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in w] == [("ADDED", "red"), ("MODIFIED", "red")]
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv, "fieldSelector": "metadata.name=blue"},
                    timeout=1) as w:
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in w] == [("MODIFIED", "blue")]
    # A cluster-wide watch filtered by namespace.
    with http.watch("/apis/kubevirt.io/v1/virtualmachines",
                    {"resourceVersion": rv, "fieldSelector": f"metadata.namespace={ns}"}, timeout=1) as w:
        assert [e["object"]["metadata"]["name"] for e in w] == ["red", "blue", "red"]


def test_watch_selector_transitions_are_added_and_deleted(http: Http, custom: client.CustomObjectsApi,
                                                         ns: str) -> None:
    rv = create_vm(custom, ns, "chameleon", labels={"color": "blue"})["metadata"]["resourceVersion"]
    to_red = label(custom, ns, "chameleon", color="red")
    label(custom, ns, "chameleon", color="red", extra="1")
    to_green = label(custom, ns, "chameleon", color="green")
    label(custom, ns, "chameleon", color="yellow")
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv, "labelSelector": "color=red"}, timeout=1) as w:
        events = list(w)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["resourceVersion"] == to_red["metadata"]["resourceVersion"]
    # DELETED carries the last matching state at the resourceVersion of the change.
    gone = events[2]["object"]["metadata"]
    assert gone["labels"] == {"color": "red", "extra": "1"}
    assert gone["resourceVersion"] == to_green["metadata"]["resourceVersion"]

    # The same live, on an open watch.
    with http.watch(VM_PATH.format(ns=ns), {"labelSelector": "color=green"}, timeout=3) as w:
        it = iter(w)
        label(custom, ns, "chameleon", color="green")
        assert next(it)["type"] == "ADDED"
        label(custom, ns, "chameleon", color="blue")
        assert next(it)["type"] == "DELETED"


def test_watch_timeout_seconds_is_honoured(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    rv = create_vm(custom, ns, "quiet")["metadata"]["resourceVersion"]
    t0 = time.monotonic()
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv, "timeoutSeconds": "1"}, timeout=1) as w:
        assert list(w) == []
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 3, elapsed

    t0 = time.monotonic()
    events = list(watch.Watch().stream(custom.list_namespaced_custom_object, GROUP, VERSION, ns, VMS,
                                       resource_version=rv, timeout_seconds=1))
    assert events == []
    assert time.monotonic() - t0 < 3


@pytest.fixture
def fast_bookmarks(cluster: EmulatedCluster) -> Iterator[float]:
    api = cluster.emulator.api  # type: ignore[union-attr]
    before = api.bookmark_seconds
    cluster.call(lambda: setattr(api, "bookmark_seconds", 0.2))
    yield 0.2
    cluster.call(lambda: setattr(api, "bookmark_seconds", before))


def test_bookmarks_only_when_allowed(http: Http, custom: client.CustomObjectsApi, ns: str,
                                     fast_bookmarks: float) -> None:
    rv = create_vm(custom, ns, "bm")["metadata"]["resourceVersion"]
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv, "allowWatchBookmarks": "true"},
                    timeout=3) as w:
        ev = w.until(lambda e: e["type"] == "BOOKMARK")
    obj = ev["object"]
    assert obj["kind"] == "VirtualMachine" and obj["apiVersion"] == "kubevirt.io/v1"
    assert int(obj["metadata"]["resourceVersion"]) >= int(rv)

    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv}, timeout=1) as w:
        assert [e["type"] for e in w] == []


def test_watch_from_expired_resource_version_is_410(http: Http, cluster: EmulatedCluster,
                                                     custom: client.CustomObjectsApi, ns: str) -> None:
    old = create_vm(custom, ns, "old")["metadata"]["resourceVersion"]
    label(custom, ns, "old", n="1")
    cluster.call(cluster.store.expire_history)
    current = custom.list_namespaced_custom_object(GROUP, VERSION, ns, VMS)["metadata"]["resourceVersion"]

    # HTTP: like a real API server, 200 with a single ERROR event carrying a 410 Expired Status.
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": old}, timeout=5) as w:
        assert w.status_code == 200
        events = list(w)
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"

    # The Python client turns it into ApiException(410) when the watch has a timeout (no retry).
    with pytest.raises(client.ApiException) as exc:
        for _ in watch.Watch().stream(custom.list_namespaced_custom_object, GROUP, VERSION, ns, VMS,
                                      resource_version=old, timeout_seconds=5):
            pass
    assert exc.value.status == 410

    # A fresh resourceVersion still watches fine.
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": current}, timeout=3) as w:
        label(custom, ns, "old", n="2")
        ev = w.until(lambda e: e["type"] == "MODIFIED")
    assert ev["object"]["metadata"]["labels"] == {"n": "2"}


def test_watch_events_as_table(http: Http, custom: client.CustomObjectsApi, ns: str) -> None:
    rv = create_vm(custom, ns, "t1")["metadata"]["resourceVersion"]
    create_vm(custom, ns, "t2")
    with http.watch(VM_PATH.format(ns=ns), {"resourceVersion": rv}, timeout=1,
                    headers={"Accept": TABLE_ACCEPT}) as w:
        events = list(w)
    assert [e["type"] for e in events] == ["ADDED"]
    table = events[0]["object"]
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]][:4] == ["Name", "Age", "Status", "Ready"]
    assert len(table["rows"]) == 1 and table["rows"][0]["cells"][0] == "t2"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
