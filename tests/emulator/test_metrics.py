"""The emulator's own metrics: transitions that waited, requests by namespace and verb, watches,
namespace lives — in-process (``emulator.metrics``) and on ``GET /debug/vmconform/metrics``."""

from __future__ import annotations

import json
import uuid
from typing import Any

from vmconform.emulator.kubevirt.timing import STEPS
from vmconform.emulator.metrics import METRICS_PATH, Metrics, classify

START_STEPS = ("vmi.pending", "vmi.pod_create", "pod.schedule", "pod.start", "vmi.boot")


def snapshot(kv: Any) -> dict[str, Any]:
    emu = kv.cluster.emulator
    return kv.cluster.call(lambda: emu.metrics.snapshot())  # type: ignore[no-any-return]


def test_classify_follows_the_api_servers_request_info() -> None:
    vms = "/apis/kubevirt.io/v1/namespaces/a/virtualmachines"
    cases = {
        ("GET", vms, ""): ("a", "list", "virtualmachines"),
        ("GET", vms, "watch=true"): ("a", "watch", "virtualmachines"),
        ("GET", vms + "/x", ""): ("a", "get", "virtualmachines"),
        ("POST", vms, ""): ("a", "create", "virtualmachines"),
        ("PUT", vms + "/x", ""): ("a", "update", "virtualmachines"),
        ("PATCH", vms + "/x/status", ""): ("a", "patch", "virtualmachines/status"),
        ("DELETE", vms + "/x", ""): ("a", "delete", "virtualmachines"),
        ("DELETE", "/api/v1/namespaces/a/pods", ""): ("a", "deletecollection", "pods"),
        ("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/a/virtualmachines/x/start", ""):
            ("a", "virtualmachines/start", "virtualmachines/start"),
        ("GET", "/api/v1/namespaces/a", ""): ("a", "get", "namespaces"),
        ("PUT", "/api/v1/namespaces/a/finalize", ""): ("a", "update", "namespaces/finalize"),
        ("GET", "/api/v1/namespaces", "watch=1&fieldSelector=metadata.name%3Da"): ("a", "watch", "namespaces"),
        ("POST", "/api/v1/namespaces", ""): ("", "create", "namespaces"),
        ("GET", "/api/v1/nodes", ""): ("", "list", "nodes"),
        ("GET", "/apis", ""): ("", "get", "/apis"),
        ("GET", "/openapi/v3/apis/kubevirt.io/v1", ""): ("", "get", "/openapi/v3"),
    }
    from urllib.parse import parse_qsl

    for (method, path, query), want in cases.items():
        info = classify(method, path, dict(parse_qsl(query)))
        assert (info.namespace, info.verb, info.resource) == want, (method, path, query)


def test_transition_log_and_namespaces_are_bounded() -> None:
    m = Metrics(max_transitions=3, max_namespaces=2)
    for i in range(5):
        m.transition(("vmi", "ns", f"vm{i}"), "life", "boot", "vmi.boot", float(i), i + 0.5, True)
    snap = m.snapshot()
    assert [t["name"] for t in snap["transitions"]] == ["vm2", "vm3", "vm4"]
    assert snap["transitions_dropped"] == 2
    assert snap["steps"]["vmi.boot"] == {"count": 5, "seconds": 2.5}


def test_a_vm_start_records_each_timed_step_of_its_namespace(kv: Any, ns: str) -> None:
    kv.running(ns, "metrics-vm")
    snap = snapshot(kv)
    mine = [t for t in snap["transitions"] if t["namespace"] == ns]
    steps = {t["step"] for t in mine}
    assert set(START_STEPS) <= steps, steps
    for t in mine:
        assert t["end"] >= t["start"]
        if t["completed"] and t["step"] in START_STEPS:
            # the fast profile's jitter is ±20 %: a completed wait lasted at least that long
            assert t["end"] - t["start"] >= STEPS[t["step"]].fast * 0.8 - 1e-3, t
            assert t["kind"] == "vmi" and t["name"] == "metrics-vm"
    life = snap["namespaces"][ns]
    assert life["created"] is not None and life["deleted"] is None
    assert life["transitions"] == len(mine)


def test_requests_and_watches_are_counted_per_namespace_and_verb(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "counted")
    kv.vm(ns, "counted")
    rv = kv.rv("virtualmachines", ns)  # a list
    kv.custom.patch_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", "counted",
                                             {"metadata": {"labels": {"x": "y"}}})
    kv.observe("virtualmachines", ns, "counted", rv, lambda o: None,  # one watch
               lambda o: ((o or {}).get("metadata", {}).get("labels") or {}).get("x") == "y")
    kv.ok(ns, "vm", "counted", "start")
    kv.custom.delete_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", "counted")
    snap = snapshot(kv)
    verbs = snap["requests"][ns]
    assert verbs["create"] == 1 and verbs["patch"] == 1 and verbs["delete"] == 1
    assert verbs["virtualmachines/start"] == 1
    assert verbs["get"] == 1 and verbs["list"] == 1 and verbs["watch"] == 1
    assert snap["watches"][ns] == 1
    assert snap["requests_by_resource"][ns]["create virtualmachines"] == 1


def test_namespace_life_is_recorded_until_it_is_gone(kv: Any) -> None:
    name = f"life-{uuid.uuid4().hex[:6]}"
    kv.core.create_namespace({"metadata": {"name": name, "labels": {"vmconform.io/scenario": "x"}}})
    kv.core.delete_namespace(name)
    kv.wait_gone(kv.core.list_namespace, name)
    life = snapshot(kv)["namespaces"][name]
    assert life["labels"] == {"vmconform.io/scenario": "x"}
    assert life["created"] <= life["deleting"] <= life["deleted"]


def test_the_metrics_endpoint_needs_the_token_and_is_not_counted(kv: Any, ns: str) -> None:
    kv.vmims(ns)
    before = snapshot(kv)
    status, text = kv.call("GET", METRICS_PATH + "?transitions=0")
    assert status == 200, text
    doc = json.loads(text)
    assert doc["schema"] == "vmconform.emulator-metrics/v1" and "transitions" not in doc
    assert doc["requests"][ns] == {"list": 1}
    assert doc["clock"]["monotonic"] >= before["clock"]["monotonic"]
    assert snapshot(kv)["requests"] == before["requests"], "the endpoint counted its own requests"
    url = kv.api.configuration.host + METRICS_PATH
    resp = kv.api.rest_client.pool_manager.request("GET", url, timeout=10.0)
    assert resp.status == 401
    status, text = kv.call("GET", "/apis")
    assert status == 200 and "vmconform" not in text


def test_delete_on_the_endpoint_starts_the_counts_afresh(kv_factory: Any) -> None:
    from vmconform.emulator import Options

    with kv_factory(Options(nodes=1, seed=3)) as other:
        other.core.list_namespace()
        assert snapshot(other)["requests"][""]["list"] >= 1
        status, text = other.call("DELETE", METRICS_PATH)
        assert status == 200, text
        snap = snapshot(other)
        # (CDI's boot-source claims may still be binding from the cluster's start: not requests of anyone's)
        assert snap["requests"] == {} and [t for t in snap["transitions"] if t["namespace"] != "kubevirt-os-images"] == []
        assert "default" in snap["namespaces"], "namespaces that still exist stay known"
