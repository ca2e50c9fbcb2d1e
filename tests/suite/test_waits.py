"""Waits follow a watch, resume after a dropped connection, re-list after 410, and record timelines."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import VMS
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import VM
from vmconform.kube.waits import WaitFailed, observe_unchanged, wait_for, wait_jsonpath
from vmconform.ops import printable_status

from .conftest import until


def _vm(c: EmulatedCluster, name: str = "vm1", status: str = "Stopped") -> None:
    c.call(lambda: c.store.create(VMS, {"metadata": {"name": name, "namespace": "default"},
                                        "spec": {"runStrategy": "Halted"}}))
    _set(c, name, status)


def _set(c: EmulatedCluster, name: str, status: str) -> None:
    def put(o: dict[str, Any]) -> None:
        o.setdefault("status", {})["printableStatus"] = status
    c.call(lambda: c.store.mutate(VMS, "default", name, put, status=True))


def _watchers(c: EmulatedCluster) -> int:
    return c.call(lambda: len(c.store._watchers))


def _wait_running(client: Cluster, timeout: float = 20) -> Any:
    return wait_jsonpath(client, VM, "default", "vm1", "jsonpath={.status.printableStatus}=Running", timeout=timeout)


def test_wait_sees_a_change_on_the_watch_and_records_the_timeline(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare)
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(_wait_running, client)
        until(lambda: _watchers(bare) == 1)
        _set(bare, "vm1", "Starting")
        _set(bare, "vm1", "Running")
        obj, tl = fut.result(timeout=20)
    assert printable_status(obj) == "Running"
    assert tl.states == ["Stopped", "Starting", "Running"]


def test_wait_resumes_after_a_dropped_connection(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare)
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(_wait_running, client)
        until(lambda: _watchers(bare) == 1)
        _set(bare, "vm1", "Starting")
        bare.call(bare.store.drop_watchers)
        _set(bare, "vm1", "Running")  # happens while no watch is open: must come from the resumed watch
        obj, tl = fut.result(timeout=20)
    assert tl.states == ["Stopped", "Starting", "Running"]
    assert any("resuming from resourceVersion" in n for n in tl.notes)
    assert not any("re-listing" in n for n in tl.notes)


def test_wait_relists_after_410_gone(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare)
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(_wait_running, client)
        until(lambda: _watchers(bare) == 1)

        def expire() -> None:
            c = bare.store
            c.drop_watchers()
            # writes to other objects move the resourceVersion past the history the wait knows
            for i in range(3):
                c.create(VMS, {"metadata": {"name": f"other{i}", "namespace": "default"}, "spec": {"runStrategy": "Halted"}})
            c.expire_history()
        bare.call(expire)
        _set(bare, "vm1", "Running")
        bare.call(bare.store.expire_history)
        obj, tl = fut.result(timeout=20)
    assert printable_status(obj) == "Running"
    assert any("410" in n and "re-listing" in n for n in tl.notes), tl.notes


def test_wait_times_out_with_the_observed_timeline(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare)
    with pytest.raises(WaitFailed) as err:
        _wait_running(client, timeout=1)
    assert "not reached within 1 s" in str(err.value)
    assert "Stopped" in str(err.value)


def test_wait_stops_early_on_a_terminal_state(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare, status="ErrorUnschedulable")
    with pytest.raises(WaitFailed) as err:
        wait_for(client, VM, "default", "vm1", until=lambda o: printable_status(o) == "Running",
                 describe=printable_status, timeout=60, what="VM vm1 Running",
                 terminal=lambda o: "unschedulable" if printable_status(o) == "ErrorUnschedulable" else None)
    assert "stopped early, unschedulable" in str(err.value)


def test_wait_for_deletion_sees_the_object_go(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare)
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(wait_for, client, VM, "default", "vm1", until=lambda o: o is None,
                          describe=printable_status, timeout=20, what="vm1 gone")
        until(lambda: _watchers(bare) == 1)
        bare.call(lambda: bare.store.delete(VMS, "default", "vm1"))
        obj, tl = fut.result(timeout=20)
    assert obj is None and tl.states[-1] == "<gone>"


def test_observe_unchanged_fails_as_soon_as_the_state_changes(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare)
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(observe_unchanged, client, VM, "default", "vm1",
                          holds=lambda o: printable_status(o) == "Stopped", describe=printable_status,
                          seconds=30, what="vm1 stays Stopped")
        until(lambda: _watchers(bare) == 1)
        _set(bare, "vm1", "Starting")
        with pytest.raises(WaitFailed) as err:
            fut.result(timeout=20)
    assert "changed to Starting" in str(err.value)


def test_observe_unchanged_passes_when_nothing_changes(bare: EmulatedCluster, client: Cluster) -> None:
    _vm(bare)
    tl = observe_unchanged(client, VM, "default", "vm1", holds=lambda o: printable_status(o) == "Stopped",
                           describe=printable_status, seconds=1, what="vm1 stays Stopped")
    assert tl.states == ["Stopped"]
