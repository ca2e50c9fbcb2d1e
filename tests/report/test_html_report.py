"""The HTML report, looked at in a real (headless) browser.

Runs a tiny pytest-bdd feature (one passing, one failing scenario) with
allure-pytest-bdd, builds the single-file Allure 3 report twice into the same
directory (so history is kept), opens it from disk in headless Chromium and
checks what a reader sees: the scenario names, the failure's message and the
environment.  Screenshots land in reports/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from vmconform.report import build_html
from vmconform.report.browser import file_url, find_chromium, render_until, screenshot, tree_leaves, visible_text

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "reports"

PASSING = "Start a stopped VM"
FAILING = "Stop a running VM"
MESSAGE = "VM did not reach Stopped: observed Running"
ENVIRONMENT = {"backend": "emulated", "kubevirt.version": "v1.9.0", "kubernetes.version": "v1.33.1"}

FEATURE = f"""\
Feature: 2.1 VM control

  Scenario: {PASSING}
    Given a VM "demo" that is Stopped
    When I start it
    Then it reaches Running

  Scenario: {FAILING}
    Given a VM "demo" that is Running
    When I stop it
    Then it reaches Stopped
"""

STEPS = """\
from pytest_bdd import given, parsers, scenarios, then, when

scenarios("features/vm_control.feature")


@given(parsers.parse('a VM "{name}" that is {phase}'), target_fixture="vm")
def vm(name, phase):
    return {"name": name, "phase": phase}


@when("I start it")
def start(vm):
    vm["phase"] = "Running"


@when("I stop it")
def stop(vm):
    pass  # the fault: the VM ignores the stop request


@then(parsers.parse("it reaches {phase}"))
def reaches(vm, phase):
    assert vm["phase"] == phase, f"VM did not reach {phase}: observed {vm['phase']}"
"""


def _require_tools() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if find_chromium() is None:
        missing.append("chromium (run .ci/install-chromium)")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to build and view the HTML report")


@pytest.fixture
def allure_results(pytester: pytest.Pytester) -> Path:
    """Allure results of a real pytest-bdd run: one pass, one failure."""
    (pytester.path / "features").mkdir()
    (pytester.path / "features" / "vm_control.feature").write_text(FEATURE)
    pytester.makepyfile(test_vm_control=STEPS)
    results = pytester.path / "allure-results"
    run = pytester.runpytest_subprocess(
        "-p", "allure_pytest_bdd", f"--alluredir={results}",
        "-p", "no:vmconform", "-p", "no:cacheprovider",
    )  # fmt: skip
    run.assert_outcomes(passed=1, failed=1)
    (results / "environment.properties").write_text("".join(f"{k}={v}\n" for k, v in ENVIRONMENT.items()))
    return results


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

    failure_url = file_url(index, leaves[FAILING].id)
    failure = visible_text(render_until(failure_url, lambda dom: MESSAGE in visible_text(dom)))
    assert MESSAGE in failure, failure[:2000]
    assert re.search(r"History\s*\d+", failure), "the failed scenario has no history tab"

    # Trends: the charts view plots the runs kept in history.
    charts = visible_text(render_until(file_url(index, "charts"), lambda dom: "Status dynamics" in visible_text(dom)))
    assert "Status dynamics" in charts, charts[:2000]

    for name, url in (("allure-report-screenshot.png", file_url(index)), ("allure-report-failure-screenshot.png", failure_url)):
        shot = screenshot(url, SCREENSHOTS / name)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
