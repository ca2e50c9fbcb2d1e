"""An interrupted run never reads as a pass: SIGINT, SIGTERM and SIGHUP on a real ``vmconform run``.

The run goes against a ``vmconform emulator`` process whose VMs take 2 s to boot, so a scenario is
still in progress when the signal comes (sent once a scenario namespace exists, seen through the
kubernetes client).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest

from vmconform import verdict
from vmconform.cli import exitcodes

from .conftest import (ROOT, labelled_namespaces, lab_behaviour_ids, scenario_namespaces, start_emulator,
                       start_run, stop_emulator, until)


@pytest.fixture(scope="module")
def slow_boot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    kc = tmp_path_factory.mktemp("slow-boot") / "kubeconfig"
    proc = start_emulator(kc, "--step", "vmi.boot=2")
    yield kc
    stop_emulator(proc)


def junit_counts(path: Path) -> dict[str, int]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {k: int(suite.get(k, "0")) for k in ("tests", "skipped", "failures", "errors")} | {
        "testcases": len(suite.findall("testcase"))}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_mid_run_cleans_up_and_reads_interrupted(sig: signal.Signals, slow_boot: Path,
                                                          tmp_path: Path) -> None:
    proc = start_run(slow_boot, tmp_path)
    try:
        until(lambda: bool(scenario_namespaces(slow_boot)), timeout=60)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, out[-2000:] + err[-2000:]
    assert "Traceback" not in err
    assert labelled_namespaces(slow_boot) == [], "the run left namespaces behind"
    assert "vmconform: cleanup finished: nothing left behind" in err

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"] == verdict.INTERRUPTED
    assert summary["ended"] == {"how": "interrupted", "message": f"interrupted by {sig.name}", "signal": sig.name}
    statuses = {b["id"]: (b["status"], b["reason"]) for b in summary["behaviours"]}
    assert set(statuses) == lab_behaviour_ids(), "every selected behaviour is listed"
    not_run = [i for i, (status, reason) in statuses.items() if reason == verdict.NOT_RUN_INTERRUPTED]
    assert not_run and all(statuses[i][0] == verdict.NOT_VERIFIED for i in not_run)
    assert verdict.VIOLATED not in {s for s, _ in statuses.values()}
    assert "# vmconform verdict: INTERRUPTED" in (tmp_path / "summary.md").read_text()

    junit = junit_counts(tmp_path / "junit.xml")
    assert junit["testcases"] == junit["tests"] == len(statuses), junit
    not_verified = sum(1 for s, _ in statuses.values() if s == verdict.NOT_VERIFIED)
    assert junit["skipped"] + junit["failures"] + junit["errors"] >= not_verified, junit
    # every testcase, run or not, names its lab section for CI dashboards (JUnit properties)
    sections = [{p.get("name"): p.get("value") for p in case.iter("property")}.get("vmconform.lab_section")
                for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")]
    assert sections and all(s in ("2.1", "2.2", "2.2-maintenance") for s in sections), sections


CRASH_PLUGIN = '''
calls = []


def pytest_runtest_logfinish(nodeid, location):
    calls.append(nodeid)
    if len(calls) == 1:
        raise RuntimeError("a bug in a plugin")
'''


def test_an_internal_error_is_never_a_pass(tmp_path: Path) -> None:
    (tmp_path / "crashplugin.py").write_text(CRASH_PLUGIN)
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    report = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(report),
                           "-k", "Stop_reaches_Stopped or Unpause_resumes_the_VM", "--", "-p", "crashplugin"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == exitcodes.INTERNAL_ERROR, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["verdict"] == verdict.ERROR
    statuses = {b["title"]: (b["status"], b["reason"]) for b in summary["behaviours"]}
    assert len(statuses) == 2, statuses
    assert (verdict.NOT_VERIFIED, verdict.NOT_RUN_ERROR) in statuses.values()
    assert "# vmconform verdict: ERROR" in (report / "summary.md").read_text()
