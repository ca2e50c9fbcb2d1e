"""kubectl drives the lab end to end: apply the testvm, start/pause/unpause/migrate/stop through
``kubectl replace --raw`` (PUT) and ``kubectl wait`` (a watch) — each step asserted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
SUB = "/apis/subresources.kubevirt.io/v1/namespaces/{ns}/{res}/testvm/{sub}"


@pytest.fixture
def kubectl(kv: Any, tmp_path: Path) -> Any:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "KUBECONFIG": str(kv.cluster.kubeconfig_path), "KUBECACHEDIR": str(tmp_path / "cache")}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        proc = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        if check:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc

    return run


def test_lab_with_kubectl(kubectl: Any, kv: Any, tmp_path: Path) -> None:
    ns = "lab"
    kubectl("create", "namespace", ns)
    vm = kv.vm_body("testvm", "Halted")
    (tmp_path / "vm.json").write_text(json.dumps(vm))
    (tmp_path / "body.json").write_text("{}")

    def put(res: str, sub: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return kubectl("replace", "--raw", SUB.format(ns=ns, res=res, sub=sub), "-f", "body.json", check=check)

    def wait_status(value: str) -> None:
        kubectl("-n", ns, "wait", "vm/testvm", f"--for=jsonpath={{.status.printableStatus}}={value}",
                "--timeout=20s")

    def get(kind: str, path: str) -> str:
        return kubectl("-n", ns, "get", kind, "testvm", "-o", f"jsonpath={path}").stdout

    assert "created" in kubectl("-n", ns, "apply", "-f", "vm.json").stdout
    wait_status("Stopped")
    put("virtualmachines", "start")
    wait_status("Running")
    assert get("vm", "{.spec.runStrategy}") == "Always"
    assert get("vmi", "{.status.phase}") == "Running"
    node = get("vmi", "{.status.nodeName}")

    put("virtualmachineinstances", "pause")
    wait_status("Paused")
    assert get("vmi", "{.status.conditions[?(@.type=='Paused')].status}") == "True"
    put("virtualmachineinstances", "unpause")
    wait_status("Running")

    put("virtualmachines", "migrate")
    kubectl("-n", ns, "wait", "vmim", "--all", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=20s")
    assert get("vmi", "{.status.nodeName}") not in ("", node)
    table = kubectl("-n", ns, "get", "vmim").stdout
    assert "Succeeded" in table and "testvm" in table

    put("virtualmachines", "stop")
    wait_status("Stopped")
    kubectl("-n", ns, "wait", "vmi/testvm", "--for=delete", "--timeout=20s")
    again = put("virtualmachines", "stop", check=False)
    assert again.returncode != 0 and "VM is not running" in again.stderr
    describe = kubectl("-n", ns, "describe", "vm", "testvm").stdout
    assert "SuccessfulCreate" in describe and "SuccessfulDelete" in describe
    kubectl("delete", "namespace", ns, "--wait=false")
