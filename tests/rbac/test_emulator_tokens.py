"""``vmconform emulator --token NAME=CLUSTERROLE``: a context per user in the kubeconfig, the admin stays current."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT


def kubectl(kc: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(kc), *args], capture_output=True, text=True, timeout=60)


def test_tokens_are_contexts_bound_to_their_cluster_roles(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(kc),
                             "--nodes", "1", "--token", "ci=vmconform", "--token", "auditor=view"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "ready" in line and "contexts ci, auditor for --token" in line, line
        config = yaml.safe_load(kc.read_text())
        assert config["current-context"] == "vmconform-emulated"
        assert [c["name"] for c in config["contexts"]] == ["vmconform-emulated", "ci", "auditor"]
        # ci: the suite's own role, preloaded; auditor: view
        assert kubectl(kc, "--context", "ci", "auth", "can-i", "create", "virtualmachines.kubevirt.io").stdout.strip() == "yes"
        assert kubectl(kc, "--context", "ci", "auth", "can-i", "delete", "nodes").stdout.strip() == "no"
        assert kubectl(kc, "--context", "auditor", "auth", "can-i", "list", "pods").stdout.strip() == "yes"
        assert kubectl(kc, "--context", "auditor", "auth", "can-i", "create", "virtualmachines.kubevirt.io").stdout.strip() == "no"
        assert kubectl(kc, "auth", "can-i", "delete", "nodes").stdout.strip() == "yes"  # the admin
        rules = yaml.safe_load(kubectl(kc, "get", "clusterrole", "vmconform", "-o", "yaml").stdout)["rules"]
        from vmconform.permissions import cluster_role

        assert rules == cluster_role()["rules"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


@pytest.mark.parametrize(("value", "message"), [
    ("ci", "--token must be NAME=CLUSTERROLE, not 'ci'"),
    ("=view", "--token must be NAME=CLUSTERROLE, not '=view'"),
    ("vmconform-emulated=view", "--token vmconform-emulated: that name is already taken"),
])
def test_a_bad_token_option_is_one_line(tmp_path: Path, value: str, message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(tmp_path / "kc"),
                          "--token", value], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 4 and out.stderr == f"vmconform: error: {message}\n"
