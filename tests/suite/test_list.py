"""``vmconform run --list``, ``-m`` and ``vmconform run --help``: selection the pytest way, described options."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
import xml.etree.ElementTree as ET

import pytest

from vmconform import verdict
from vmconform.cli import build_parser
from vmconform.emulator import EmulatedCluster, Options

ROOT = Path(__file__).resolve().parents[2]


def vmconform(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_every_option_of_run_has_a_description_and_its_default() -> None:
    parser = run_parser()
    formatter = parser._get_formatter()
    missing, no_default = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help or action.help == argparse.SUPPRESS or not action.help.strip():
            missing.append(name)
            continue
        shown = formatter._expand_help(action) if action.option_strings else action.help
        if action.option_strings and "default" not in shown:
            no_default.append(name)
    assert not missing, f"options of `vmconform run` without a help text: {missing}"
    assert not no_default, f"options of `vmconform run` whose help does not say their default: {no_default}"
    text = parser.format_help()
    assert "(default: reports)" in text and "(default: never)" in text and "(default: fast)" in text


def test_list_prints_the_selection_in_the_lab_order_and_touches_no_cluster(tmp_path: Path) -> None:
    writes: list[str] = []

    def record(request: Any) -> None:
        if request.method not in ("GET", "HEAD"):
            writes.append(f"{request.method} {request.path}")

    with EmulatedCluster(Options(),
                         kubeconfig_path=tmp_path / "kubeconfig") as cluster:
        cluster.call(lambda: cluster.emulator.api.request_faults.append(record))  # type: ignore[union-attr]
        report = tmp_path / "reports"
        proc = vmconform("run", "--list", "--kubeconfig", str(tmp_path / "kubeconfig"), "--report-dir", str(report),
                         "-m", "lab-2.1 and not guest")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert writes == [], writes  # (the store's own controllers may still write: RBAC aggregation, CDI)
    assert not report.exists(), "--list must not write reports"
    out = proc.stdout
    assert out.splitlines()[0] == "2.1 VM control"
    assert "2.2" not in out and "Guest" not in out
    assert "@lab-2.1 @step-4  (features/vm_control.feature)" in out
    steps = [int(line.split()[1].rstrip(",")) for line in out.splitlines() if line.startswith("  step ")]
    assert steps == sorted(steps) and steps[0] == 3, out
    assert out.rstrip().endswith("6 scenarios selected")


def test_list_follows_k_and_lang_and_opens_no_emulator(tmp_path: Path) -> None:
    proc = vmconform("run", "--list", "--lang", "all", "-m", "lab-2.2", "-k", "Migrate",
                     "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    heads = [line for line in proc.stdout.splitlines() if line and not line.startswith(" ")]
    assert heads == ["2.2 Live migration", "2.2 가상머신 라이브 마이그레이션", "2 scenarios selected"], proc.stdout
    assert "emulator" not in proc.stderr and not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def lab_2_1_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One run of section 2.1 selected by tag (``-m``), shared by the report checks below."""
    report = tmp_path_factory.mktemp("lab-2.1")
    proc = vmconform("run", "--no-html", "--report-dir", str(report), "-m", "lab-2.1 and not guest", timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return report, proc


def test_m_selects_by_tag_and_every_report_lists_behaviours_in_the_lab_order(lab_2_1_run: Any) -> None:
    report, proc = lab_2_1_run
    listed = vmconform("run", "--list", "-m", "lab-2.1 and not guest")
    summary = json.loads((report / "summary.json").read_text())
    titles = [b["title"] for b in summary["behaviours"]]
    order = [line[15:].strip() for line in listed.stdout.splitlines() if line.startswith("  step ")]
    assert titles == order and len(titles) == 6, (titles, order)
    assert all(b["lab_section"] == "2.1" for b in summary["behaviours"])
    assert [b["lab_steps"][0] for b in summary["behaviours"]] == ["3", "4", "5", "6", "6", "8"]
    md = (report / "summary.md").read_text()
    assert "### 2.1 VM control" in md
    assert [md.index(t) for t in titles] == sorted(md.index(t) for t in titles)
    table = proc.stdout[proc.stdout.index("vmconform verdicts"):]
    assert [table.index(t) for t in titles] == sorted(table.index(t) for t in titles)


def test_junit_testcases_carry_lab_section_steps_and_transition_times(lab_2_1_run: Any) -> None:
    report, _ = lab_2_1_run
    cases = ET.parse(report / "junit.xml").getroot().iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    stop = next(v for k, v in props.items() if "stop_reaches_stopped" in (k or ""))
    assert stop["vmconform.lab_section"] == "2.1" and stop["vmconform.lab_steps"] == "4"
    assert stop["vmconform.tags"] == "@lab-2.1 @step-4"
    assert 0 < float(stop["vmconform.transition.stop_seconds"]) < 60
    pause = next(v for k, v in props.items() if "pause_keeps" in (k or ""))
    assert pause["vmconform.lab_steps"] == "6, 7" and float(pause["vmconform.transition.pause_seconds"]) > 0
    assert all(p["vmconform.lab_section"] == "2.1" for p in props.values()), props


def test_lab_order_compares_numbers_as_numbers() -> None:
    rows = [("2.10", ["1"]), ("2.2", ["10"]), ("2.2", ["9"]), ("", []), ("2.1", ["7", "6"])]
    ordered = sorted(rows, key=lambda r: verdict.lab_order(r[0], r[1]))
    assert ordered == [("2.1", ["7", "6"]), ("2.2", ["9"]), ("2.2", ["10"]), ("2.10", ["1"]), ("", [])]
