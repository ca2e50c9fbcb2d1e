"""A cluster that stops answering mid-run: exit 3, one line that says so, verdict ``cluster-lost``."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from vmconform import verdict
from vmconform.cli import exitcodes

from .conftest import scenario_namespaces, start_emulator, start_run, until


def test_killing_the_cluster_mid_run_ends_it_as_cluster_lost(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    emulator = start_emulator(kc, "--step", "vmi.boot=2")
    run = start_run(kc, tmp_path / "report", "--timeout-scale", "0.5")
    try:
        until(lambda: bool(scenario_namespaces(kc)), timeout=60)
        emulator.send_signal(signal.SIGKILL)
        emulator.wait(timeout=30)
        out, err = run.communicate(timeout=180)
    finally:
        for proc in (run, emulator):
            if proc.poll() is None:
                proc.kill()
    assert run.returncode == exitcodes.CLUSTER_UNCHECKABLE, out[-2000:] + err[-3000:]
    assert "Traceback" not in err
    lost_lines = [line for line in err.splitlines() if "the cluster stopped answering" in line]
    assert lost_lines, err[-3000:]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["verdict"] == verdict.CLUSTER_LOST
    assert summary["ended"]["how"] == verdict.CLUSTER_LOST
    assert "the cluster stopped answering" in summary["ended"]["message"]
    assert verdict.VIOLATED not in {b["status"] for b in summary["behaviours"]}
    assert any(b["reason"] == verdict.NOT_RUN_CLUSTER_LOST for b in summary["behaviours"])
    md = (tmp_path / "report" / "summary.md").read_text()
    assert "# vmconform verdict: CLUSTER-LOST" in md and "the cluster stopped answering" in md
