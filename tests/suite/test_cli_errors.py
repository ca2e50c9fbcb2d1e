"""Bad input: one clear line, the documented exit code, no traceback, nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vmconform.cli import exitcodes
from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.cluster import free_port
from vmconform.emulator.resources import NAMESPACES

ROOT = Path(__file__).resolve().parents[2]


def vmconform(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert len(err.splitlines()) == 1, f"expected one line, got:\n{proc.stderr}"
    return err


def _namespaces(c: EmulatedCluster) -> set[str]:
    return set(c.call(lambda: [n["metadata"]["name"] for n in c.store.items(NAMESPACES)]))


@pytest.mark.parametrize("args, code, text", [
    (["run", "--cluster", "bogus"], exitcodes.USAGE, "unknown --cluster 'bogus'"),
    (["run", "--timeout-scale", "abc"], exitcodes.USAGE, "--timeout-scale must be a positive number, not 'abc'"),
    (["run", "--timeout-scale", "-1"], exitcodes.USAGE, "--timeout-scale must be a positive number, not '-1'"),
    (["run", "--kubeconfig", "/nonexistent/kubeconfig"], exitcodes.USAGE, "kubeconfig /nonexistent/kubeconfig does not exist"),
    (["run", "--keep", "sometimes"], exitcodes.USAGE, "--keep must be one of never, on-failure, always"),
    (["run", "--no-such-flag"], exitcodes.USAGE, "unrecognized arguments: --no-such-flag"),
])
def test_usage_errors(args: list[str], code: int, text: str, tmp_path: Path) -> None:
    proc = vmconform(*args, "--report-dir", str(tmp_path))
    assert proc.returncode == code, proc.stderr
    assert text in one_line(proc)


def _kubeconfig(c: EmulatedCluster, tmp_path: Path, **changes: str) -> Path:
    assert c.kubeconfig_path is not None
    cfg = yaml.safe_load(c.kubeconfig_path.read_text())
    if "token" in changes:
        cfg["users"][0]["user"]["token"] = changes["token"]
    if "server" in changes:
        cfg["clusters"][0]["cluster"]["server"] = changes["server"]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_closed_port(tmp_path: Path) -> None:
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "kc", controllers=[]) as c:
        path = _kubeconfig(c, tmp_path, server=f"https://127.0.0.1:{free_port()}")
    proc = vmconform("run", "--kubeconfig", str(path), "--report-dir", str(tmp_path))
    assert proc.returncode == exitcodes.CLUSTER_UNCHECKABLE
    assert "cannot reach the cluster" in one_line(proc)


def test_wrong_token_leaves_nothing_behind(tmp_path: Path) -> None:
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "kc", controllers=[]) as c:
        before = _namespaces(c)
        proc = vmconform("run", "--kubeconfig", str(_kubeconfig(c, tmp_path, token="wrong")),
                         "--report-dir", str(tmp_path))
        assert proc.returncode == exitcodes.CLUSTER_UNCHECKABLE
        assert "refused our credentials" in one_line(proc)
        assert _namespaces(c) == before


def test_cluster_without_the_kubevirt_api(tmp_path: Path) -> None:
    with EmulatedCluster(Options(extra={"kubevirt_api": False}), kubeconfig_path=tmp_path / "kc") as c:
        before = _namespaces(c)
        proc = vmconform("run", "--kubeconfig", str(c.kubeconfig_path), "--report-dir", str(tmp_path))
        assert proc.returncode == exitcodes.CLUSTER_UNCHECKABLE
        assert "KubeVirt is not installed" in one_line(proc)
        assert _namespaces(c) == before
