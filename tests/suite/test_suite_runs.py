"""The whole suite, end to end: backends agree, xdist agrees, capabilities skip, nothing is left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from vmconform.cli import exitcodes
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import NAMESPACE
from vmconform.labels import run_selector

from .conftest import labelled_namespaces, until

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, report: Path, timeout: float = 240) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(report), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    summary_file = report / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, summary, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``vmconform emulator`` in its own process; yields its kubeconfig."""
    kc = tmp_path_factory.mktemp("standalone") / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(kc)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "ready" in line, line + (proc.stderr.read() if proc.poll() is not None else "")
    yield kc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def verdicts(summary: dict[str, Any]) -> dict[str, str]:
    return {b["id"]: b["status"] for b in summary["behaviours"]}


def test_serial_emulated_and_parallel_real_cluster_path_give_the_same_verdict(standalone: Path, tmp_path: Path) -> None:
    code_a, serial, out_a = run(report=tmp_path / "serial")
    # a cluster the run does not own: the drain scenario needs the operator's consent to cordon a node
    code_b, parallel, out_b = run("--kubeconfig", str(standalone), "-n", "4", "--allow-disruptive",
                                  report=tmp_path / "parallel")
    assert code_a == code_b == exitcodes.CONFORMANT, out_a[-2000:] + out_b[-2000:]
    assert serial["verdict"] == parallel["verdict"] == "conformant"
    assert verdicts(serial) == verdicts(parallel)
    assert len(serial["behaviours"]) >= 12
    assert serial["cluster"]["backend"] == "emulated" and serial["emulated"] is True
    assert parallel["cluster"]["backend"] == "kubeconfig" and parallel["emulated"] is False
    assert "not a certification" in out_a and "not a certification" not in out_b
    assert labelled_namespaces(standalone) == []
    assert (tmp_path / "serial" / "junit.xml").is_file()
    assert any((tmp_path / "serial" / "allure-results").glob("*-result.json"))
    assert "EMULATED" in (tmp_path / "serial" / "summary.md").read_text()


def test_one_schedulable_node_skips_migration_with_the_reason(tmp_path: Path) -> None:
    code, summary, out = run("--emulator-nodes", "1", "-n", "4", report=tmp_path)
    assert code == exitcodes.INCOMPLETE, out[-2000:]
    assert summary["verdict"] == "incomplete"
    skipped = {b["id"]: b["reason"] for b in summary["behaviours"] if b["status"] == "not-verified"}
    assert set(skipped) == {b["id"] for b in summary["behaviours"] if "needs-migration" in b["tags"]}
    assert skipped and all(r == "live migration needs 2 schedulable nodes; this cluster has 1" for r in skipped.values())
    assert not [b for b in summary["behaviours"] if b["status"] == "violated"]


def test_without_an_rwx_class_the_rwx_scenarios_are_skipped(tmp_path: Path) -> None:
    code, summary, out = run("--emulator-storage", "rwo", "-n", "4", report=tmp_path)
    assert code == exitcodes.INCOMPLETE, out[-2000:]
    skipped = {b["id"]: b["reason"] for b in summary["behaviours"] if b["status"] == "not-verified"}
    assert set(skipped) == {b["id"] for b in summary["behaviours"] if "needs-rwx" in b["tags"]}
    assert all("cannot provision ReadWriteMany volumes" in r for r in skipped.values())


def test_ctrl_c_cleans_up_and_exits_130(standalone: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(tmp_path),
                             "--kubeconfig", str(standalone)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    cluster = Cluster.from_kubeconfig(standalone)
    try:
        # the run has created its first scenario namespace: interrupt it mid-scenario
        until(lambda: bool(cluster.list(NAMESPACE, labels=run_selector())[0]), timeout=60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == exitcodes.INTERRUPTED, out[-2000:] + err[-2000:]
        assert "Traceback" not in err
        assert labelled_namespaces(standalone) == []
    finally:
        cluster.close()
        if proc.poll() is None:
            proc.kill()


def test_the_kubeconfig_environment_variable_alone_never_selects_a_real_cluster(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, KUBECONFIG=str(tmp_path / "a-real-cluster-kubeconfig"))
    (tmp_path / "a-real-cluster-kubeconfig").write_text("this is not even yaml: [")
    proc = subprocess.run([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(tmp_path / "r"),
                           "-k", "Stop_reaches"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == exitcodes.CONFORMANT, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["cluster"]["backend"] == "emulated"


def test_each_run_starts_its_report_directory_afresh(tmp_path: Path) -> None:
    report = tmp_path / "report"
    for selection in ("Stop_reaches_Stopped", "Unpause_resumes_the_VM"):
        code, summary, out = run("-k", selection, report=report)
        assert code == 0, out
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    scenarios = [r["name"] for r in results if r["name"] != "Lab coverage"]  # the run's lab-coverage page
    assert scenarios == ["Unpause resumes the VM"], "results of the earlier run were kept"
    assert [b["title"] for b in summary["behaviours"]] == ["Unpause resumes the VM"]
