"""``kubectl drain`` against the emulated cluster, as an operator runs it: the node is cordoned, the launcher
pod of a LiveMigrate VM is evicted (429 while KubeVirt migrates the VM, retried every 5 s), and the drain
ends once the VM runs elsewhere — the output reads like KubeVirt's ``docs/handling-eviction-requests.md``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def test_kubectl_drain_live_migrates_a_livemigrate_vm(kv_factory: Any, tmp_path: Path) -> None:
    from vmconform.emulator import Options

    with kv_factory(Options(nodes=2, seed=9)) as kv:
        ns = "drain"
        kv.core.create_namespace({"metadata": {"name": ns}})
        body = kv.vm_body("vm", "Always")
        body["spec"]["template"]["spec"]["evictionStrategy"] = "LiveMigrate"
        kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", body)
        vmi = kv.wait_vmi(ns, "vm", lambda o: (o or {}).get("status", {}).get("phase") == "Running")
        assert vmi is not None
        node = vmi["status"]["nodeName"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
               "KUBECONFIG": str(kv.cluster.kubeconfig_path), "KUBECACHEDIR": str(tmp_path / "cache")}
        assert KUBECTL is not None
        proc = subprocess.run([KUBECTL, "drain", node, "--pod-selector=kubevirt.io=virt-launcher",
                               "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s"],
                              env=env, capture_output=True, text=True, timeout=90)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert f"node/{node} cordoned" in out and f"node/{node} drained" in out, out
        assert (f'admission webhook "virt-launcher-eviction-interceptor.kubevirt.io" denied the request: '
                f'Eviction triggered evacuation of VMI "{ns}/vm"') in out, out
        after = kv.vmi(ns, "vm")
        assert after is not None and after["metadata"]["uid"] == vmi["metadata"]["uid"]
        assert after["status"]["nodeName"] != node and after["status"]["phase"] == "Running"
        assert kv.core.read_node(node).spec.unschedulable is True
        kv.core.patch_node(node, {"spec": {"unschedulable": None}})
