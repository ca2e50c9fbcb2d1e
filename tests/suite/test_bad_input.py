"""Bad input before anything runs: one line, exit 4, never a traceback, never a run that tests nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vmconform.cli import exitcodes
from vmconform.emulator import EmulatedCluster, Options

from .conftest import ROOT


def vmconform(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def usage_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == exitcodes.USAGE, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("args, text", [
    (["--vm-memory", "abc"], "--vm-memory must be a Kubernetes quantity"),
    (["--vm-memory", "12Zi"], "--vm-memory must be a Kubernetes quantity"),
    (["--vm-memory", "0"], "--vm-memory must be more than 0"),
    (["--timeout-scale", "1e308"], "--timeout-scale must be between 0.01 and 100"),
    (["--timeout-scale", "1e-300"], "--timeout-scale must be between 0.01 and 100"),
    (["--emulator-storage", "foo"], "--emulator-storage must be rwx,rwo or rwo"),
    (["--emulator-nodes", "3", "--kubeconfig", "/x/kubeconfig"], "--emulator-nodes only apply to the emulated"),
    (["--emulator-fault", "pause-noop", "--kubeconfig", "/x/kubeconfig"], "--emulator-fault only apply"),
    (["--emulator-timing", "fast", "--kubeconfig", "/x/kubeconfig"], "--emulator-timing only apply"),
    (["--kubevirt-version", "v1.9.0", "--kubeconfig", "/x/kubeconfig"], "--kubevirt-version only apply"),
    (["-k", "no_such_scenario_at_all"], "no scenario selected by -k 'no_such_scenario_at_all'"),
    (["-m", "no_such_tag"], "no scenario selected by -m 'no_such_tag'"),
])
def test_bad_values_are_refused_up_front(args: list[str], text: str, tmp_path: Path) -> None:
    assert text in usage_line(vmconform("run", "--no-html", "--report-dir", str(tmp_path), *args))
    assert not (tmp_path / "summary.json").exists()


def test_report_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert "is a file" in usage_line(vmconform("run", "--report-dir", str(tmp_path / "file")))
    assert "cannot write reports" in usage_line(vmconform("run", "--report-dir", str(tmp_path / "file" / "sub")))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_report_dir_that_is_read_only(tmp_path: Path) -> None:
    tmp_path.joinpath("ro").mkdir(mode=0o555)
    assert "cannot write reports" in usage_line(vmconform("run", "--report-dir", str(tmp_path / "ro")))


def test_a_feature_file_without_scenarios(tmp_path: Path) -> None:
    (tmp_path / "empty.feature").write_text("Feature: Nothing here\n  Only a description.\n")
    line = usage_line(vmconform("run", "--report-dir", str(tmp_path / "r"),
                                "--features", str(tmp_path / "empty.feature")))
    assert "empty.feature:1: no scenarios" in line


@pytest.fixture
def kubeconfigs(tmp_path: Path) -> dict[str, Path]:
    """A garbage kubeconfig and a good one (of an emulated cluster that is not running: never reached)."""
    garbage = tmp_path / "garbage"
    garbage.write_text("this: is: not: a kubeconfig: [")
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "good", controllers=[]) as c:
        assert c.kubeconfig_path is not None
        good = c.kubeconfig_path
        yaml.safe_load(good.read_text())
    return {"garbage": garbage, "good": good}


@pytest.mark.parametrize("command", ["run", "cleanup"])
def test_bad_kubeconfig_and_unknown_context(command: str, kubeconfigs: dict[str, Path], tmp_path: Path) -> None:
    extra = ["--report-dir", str(tmp_path / "r")] if command == "run" else []
    line = usage_line(vmconform(command, "--kubeconfig", str(kubeconfigs["garbage"]), *extra))
    assert f"cannot use kubeconfig {kubeconfigs['garbage']}" in line
    line = usage_line(vmconform(command, "--kubeconfig", str(kubeconfigs["good"]), "--context", "nope", *extra))
    assert "has no context 'nope'" in line
    line = usage_line(vmconform(command, "--kubeconfig", str(tmp_path), *extra))
    assert "does not exist" in line
