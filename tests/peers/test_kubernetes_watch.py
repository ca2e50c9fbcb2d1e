"""The ``kubernetes`` client's own watch helpers receive events from the emulator: it sends
``watch=True`` (capitalised), which kube-apiserver reads as true."""

from __future__ import annotations

import threading
from typing import Any

from kubernetes import client, watch
from kubernetes.dynamic import DynamicClient

from .conftest import vm_body

GROUP, VERSION, VMS = "kubevirt.io", "v1", "virtualmachines"


def _label_later(custom: client.CustomObjectsApi, ns: str, name: str, opened: threading.Event) -> threading.Thread:
    def run() -> None:
        if opened.wait(10):
            custom.patch_namespaced_custom_object(GROUP, VERSION, ns, VMS, name, {"metadata": {"labels": {"n": "1"}}})

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_watch_stream_of_list_namespaced_custom_object(api_client: client.ApiClient, ns: str) -> None:
    custom = client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("w1"))
    opened = threading.Event()
    writer = _label_later(custom, ns, "w1", opened)
    w = watch.Watch()
    seen: list[tuple[str, Any]] = []
    for ev in w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, ns, VMS, timeout_seconds=10):
        seen.append((ev["type"], (ev["object"]["metadata"].get("labels") or {}).get("n")))
        opened.set()
        if ev["type"] == "MODIFIED":
            w.stop()
    writer.join(10)
    assert seen == [("ADDED", None), ("MODIFIED", "1")]


def test_dynamic_client_watch(api_client: client.ApiClient, ns: str, tmp_path: Any) -> None:
    dyn = DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    vms = dyn.resources.get(api_version="kubevirt.io/v1", kind="VirtualMachine")
    custom = client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, VMS, vm_body("w2"))
    opened = threading.Event()
    writer = _label_later(custom, ns, "w2", opened)
    seen: list[tuple[str, str]] = []
    for ev in vms.watch(namespace=ns, timeout=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        opened.set()
        if ev["type"] == "MODIFIED":
            break
    writer.join(10)
    assert seen == [("ADDED", "w2"), ("MODIFIED", "w2")]
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    handlers = pods.get(namespace="kubevirt", label_selector="kubevirt.io=virt-handler")
    assert len(handlers.items) == 2
