"""The HTML report of a real suite run, looked at in a real (headless) browser.

Runs the conformance suite on the emulated cluster with a fault profile that breaks Stop
(so the report has a failure), builds the single-file Allure 3 report twice into the same
directory (so history is kept), opens it from disk in headless Chromium and checks what a
reader sees: the scenario names, the failure's message and the environment. Screenshots
land in reports/.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmconform.report import build_html
from vmconform.report.browser import file_url, find_chromium, render_until, screenshot, tree_leaves, visible_text

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "reports"

PASSING = "Start is offered only when the VM is stopped"
FAILING = "Stop reaches Stopped"
FAILING_KO = "Stop을 누르면 가상머신이 Stopped 상태가 됩니다"  # the same scenario in features/ko/
MENU = "Unpause resumes the VM"  # reads the Actions menu of the paused VM (steps/actions.py)
MESSAGE = "VM vm reaches Stopped: not reached within"
ENVIRONMENT = {"backend": "emulated", "kubevirt.version": "v1.9.0", "kubernetes.version": "v1.32.4"}


def _require_tools() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if find_chromium() is None:
        missing.append("chromium (run .ci/install-chromium)")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build and view the HTML report")


@pytest.fixture
def allure_results(tmp_path: Path) -> Path:
    """Allure results of a real suite run on a cluster whose stop never stops the VM."""
    _require_tools()
    report = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(report),
         "--emulator-fault", "stop-keeps-running", "--timeout-scale", "0.02", "--lang", "all",
         "-k", "Stop_reaches_Stopped or Start_is_offered or Stop을_누르면 or Unpause_resumes"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    assert {b["title"]: b["status"] for b in summary["behaviours"]} == {
        PASSING: "verified", FAILING: "violated", FAILING_KO: "violated", MENU: "verified"}
    return report / "allure-results"


def test_html_report_shows_scenarios_failure_and_environment(allure_results: Path, tmp_path: Path) -> None:
    _require_tools()
    report_dir = tmp_path / "allure-report"

    first = build_html(allure_results, report_dir, project_root=ROOT)
    assert first.ok, first.message
    second = build_html(allure_results, report_dir, project_root=ROOT)
    assert second.ok, second.message
    assert second.index == report_dir / "index.html"
    assert "\n" not in second.message
    # Single file: nothing else the page would have to load next to it.
    assert sorted(p.name for p in report_dir.iterdir() if p.suffix in {".js", ".css"} or p.is_dir()) == []
    # History is kept between builds in the same report dir.
    assert second.history is not None
    assert len(second.history.read_text().splitlines()) == 2

    index = second.index
    overview = render_until(file_url(index), lambda dom: FAILING in visible_text(dom))
    text = visible_text(overview)
    assert PASSING in text and FAILING in text, text[:2000]
    for key, value in ENVIRONMENT.items():
        assert re.search(rf"{re.escape(key)}\s*{re.escape(value)}", text), f"environment {key}={value} not shown"

    leaves = {leaf.title: leaf for leaf in tree_leaves(overview)}
    assert leaves[PASSING].status == "passed"
    assert leaves[FAILING].status == "failed"
    assert leaves[FAILING_KO].status == "failed", sorted(leaves)  # the Korean scenario, by its Korean name
    assert "2.1 가상머신 제어" in text  # grouped under the lab's Korean section title
    # the title says the verdict and the cluster; the tree opens on the lab's sections, not one "epic" node
    assert "vmconform — not-conformant — emulated cluster" in text, text[:1000]
    assert "VM management lab" not in text and text.index("2.1 VM control") < text.index(PASSING), text[:2000]

    # the run's lab-coverage page (step 4 of 2.1 violated) and the Actions menu attached to its scenario
    assert leaves["Lab coverage"].status == "failed", sorted(leaves)
    menu_url = file_url(index, f"{leaves[MENU].id}/attachments")
    menu = visible_text(render_until(menu_url, lambda dom: "Actions menu: paused VM" in visible_text(dom)))
    assert "Actions menu: paused VM" in menu, menu[:2000]

    failure_url = file_url(index, leaves[FAILING].id)
    failure = visible_text(render_until(failure_url, lambda dom: MESSAGE in visible_text(dom)))
    assert MESSAGE in failure, failure[:2000]
    assert "Cluster behaviour violated" in failure, "the failure is not in the suite's category"
    assert re.search(r"History\s*\d+", failure), "the failed scenario has no history tab"

    # Trends: the charts view plots the runs kept in history.
    charts = visible_text(render_until(file_url(index, "charts"), lambda dom: "Status dynamics" in visible_text(dom)))
    assert "Status dynamics" in charts, charts[:2000]

    for name, url in (("allure-report-screenshot.png", file_url(index)), ("allure-report-failure-screenshot.png", failure_url)):
        shot = screenshot(url, SCREENSHOTS / name)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
