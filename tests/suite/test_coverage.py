"""``vmconform coverage LAB.md``: every step of a lab document covered by tagged scenarios, marked "not verifiable
from the API" in not-verifiable.txt, or reported (exit 1); tags that name a missing section or step are errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from vmconform.cli import exitcodes, main
from vmconform.coverage.lab import parse
from vmconform.coverage.report import lab_coverage_block, run_coverage

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab" / "vm_management.ko.md"


def vmconform(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``vmconform …`` in this process (the command is pure file reading: no subprocess start-up per call)."""
    monkeypatch.chdir(ROOT)

    def call(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return call


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def rows(out: str) -> dict[tuple[str, str], str]:
    """(section, step) → the 'verified by' cell of the printed table."""
    found, section = {}, ""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1] and cells[1][0].isdigit():
            section = cells[0].split()[0] if cells[0] else section
            found[(section, cells[1])] = cells[3]
    return found


def test_the_suites_lab_is_complete(cli: Callable[..., Result]) -> None:
    proc = cli("coverage", str(LAB))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    expected = {("2.1", s) for s in ("1", "2", "3", "3.1", "3.2", "3.3", "4", "5", "6", "7", "8")}
    expected |= {("2.2", s) for s in ("1", "2", "3", "4")}
    assert set(table) == expected
    assert table[("2.1", "1")].startswith("not verifiable from the API: ")
    assert table[("2.1", "5")] == "A stopped VM offers only Start"
    assert table[("2.1", "3.2")].startswith("as step 3: ")
    assert "Migrate moves a running VM to another node" in table[("2.2", "2")]
    assert "not covered" not in proc.stdout.split("\n\n")[-1].replace("0 not covered", "")
    # the Korean twins carry the same tags; their folder uses the marks of the folder above
    ko = cli("coverage", str(LAB), "--features", str(ROOT / "features" / "ko"))
    assert ko.returncode == 0 and rows(ko.stdout)[("2.1", "1")].startswith("not verifiable"), ko.stderr


def test_the_example_lab_is_complete(cli: Callable[..., Result]) -> None:
    proc = cli("coverage", str(ROOT / "examples" / "maintenance_lab.md"), "--features", str(ROOT / "examples"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert table[("3.1", "4")].startswith("not verifiable from the API")
    assert table[("3.1", "1")] == "A VM leaves its node for maintenance without a reboot"


def _lab(tmp_path: Path) -> tuple[Path, Path]:
    lab = tmp_path / "lab.md"
    lab.write_text("# Drill\n\n1. [Intro](#x)\n\n## 1. Drill\n\n### 1.1 Stopping\n\n1. Press **Stop**.\n\n"
                   "2. Wait until `Stopped`.\n\n   1. The pod is gone.\n\n```\n3. not a step (code)\n```\n"
                   "3. Press **Start**.\n")
    features = tmp_path / "features"
    features.mkdir()
    return lab, features


def test_a_missing_step_and_wrong_tags_fail_with_each_named(tmp_path: Path, cli: Callable[..., Result]) -> None:
    lab, features = _lab(tmp_path)
    (features / "drill.feature").write_text(
        "@lab-1.1\nFeature: drill\n\n  @step-1\n  Scenario: stop\n    Given a running VM\n\n"
        "  @step-7\n  Scenario: seven\n    Given a running VM\n")
    (features / "other.feature").write_text("Feature: other\n\n  @lab-9.9 @step-2\n  Scenario: elsewhere\n"
                                            "    Given a running VM\n")
    (features / "not-verifiable.txt").write_text("# why\n@lab-1.1 @step-2.1: the console's pod list\n"
                                                 "@lab-1.1 @step-12: no such step\n")
    proc = cli("coverage", str(lab), "--features", str(features))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert set(table) == {("1.1", "1"), ("1.1", "2"), ("1.1", "2.1"), ("1.1", "3")}
    assert table[("1.1", "1")] == "stop"
    assert table[("1.1", "2.1")] == "not verifiable from the API: the console's pod list"
    assert table[("1.1", "2")] == "**not covered**" and table[("1.1", "3")] == "**not covered**"
    err = proc.stderr
    assert "@step-7: section 1.1 has no step 7 (scenario 'seven')" in err
    assert "@lab-9.9: the lab has no section 9.9 (scenario 'elsewhere')" in err
    assert "not-verifiable.txt:3: @lab-1.1 @step-12: the lab has no step 12 in section 1.1" in err
    assert "not covered: 1.1 step 2 " in err and "not covered: 1.1 step 3 " in err
    assert "Traceback" not in err


def test_marking_the_rest_completes_it(tmp_path: Path, cli: Callable[..., Result]) -> None:
    lab, features = _lab(tmp_path)
    (features / "drill.feature").write_text("@lab-1.1\nFeature: drill\n\n  @step-1 @step-2\n  Scenario: stop\n"
                                            "    Given a running VM\n")
    (features / "not-verifiable.txt").write_text("@lab-1.1 @step-3: only the console shows it\n")
    proc = cli("coverage", str(lab), "--features", str(features))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(proc.stdout)[("1.1", "2.1")] == "as step 2: stop"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    proc = vmconform("coverage", str(tmp_path / "none.md"))
    assert proc.returncode == exitcodes.USAGE and proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    lab, features = _lab(tmp_path)
    (features / "a.feature").write_text("Feature: a\n  Scenario: b\n    Given a running VM\n")
    (features / "not-verifiable.txt").write_text("step 3 cannot\n")
    proc = vmconform("coverage", str(lab), "--features", str(features))
    assert proc.returncode == exitcodes.USAGE and "not-verifiable.txt:1: expected" in proc.stderr
    (tmp_path / "empty.md").write_text("# nothing numbered\n")
    proc = vmconform("coverage", str(tmp_path / "empty.md"))
    assert proc.returncode == exitcodes.USAGE and "no numbered section" in proc.stderr


def test_korean_and_nested_steps_are_read() -> None:
    lab = parse(LAB.read_text(encoding="utf-8"), LAB)
    s = lab.section("2.1")
    assert s is not None and [st.number for st in s.steps][:6] == ["1", "2", "3", "3.1", "3.2", "3.3"]
    assert s.step("3.1") is not None and s.step("3.1").text.startswith("Stop: ")  # type: ignore[union-attr]
    assert lab.section("3") is not None and not lab.section("3").steps  # type: ignore[union-attr]


def test_run_page_takes_each_steps_verdict_from_its_scenarios() -> None:
    behaviours = [
        {"id": "a", "title": "Stop reaches Stopped", "status": "verified", "tags": ["lab-2.1", "step-4"]},
        {"id": "b", "title": "Restart reboots", "status": "violated", "tags": ["lab-2.1", "step-3"]},
        {"id": "c", "title": "Restart guest", "status": "verified", "tags": ["lab-2.1", "step-3"]},
    ]
    page = run_coverage(LAB, ROOT / "features", behaviours)
    by = {(r["section"], r["step"]): r for r in page["rows"]}
    assert by[("2.1", "4")]["verdict"] == "verified"
    assert by[("2.1", "3")]["verdict"] == "violated" and by[("2.1", "3.1")]["verdict"] == "violated"
    assert by[("2.1", "1")]["verdict"] == "not verifiable from the API"
    assert by[("2.1", "8")]["verdict"] == "not run"
    md = "\n".join(lab_coverage_block({"lab_coverage": page}))
    assert "## Lab coverage" in md and "| 2.1 | 3 |" in md and "VIOLATED" in md


def test_run_lab_option_names_a_missing_document_in_one_line(tmp_path: Path) -> None:
    proc = vmconform("run", "--lab", str(tmp_path / "nope.md"), "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == exitcodes.USAGE and proc.stderr.strip() == f"vmconform: --lab {tmp_path / 'nope.md'}: " \
                                                                         "no such file"


def test_a_run_reports_the_lab_coverage_and_the_actions_menu(tmp_path: Path) -> None:
    """A real run of one menu scenario: summary.md has the Actions table and the lab-coverage page (the suite's
    lab by default), the Allure results have the page and the table attached to the scenario."""
    report = tmp_path / "report"
    proc = vmconform("run", "--no-html", "--report-dir", str(report), "-k", "offers_only")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((report / "summary.json").read_text())
    rows = {(r["section"], r["step"]): r for r in summary["lab_coverage"]["rows"]}
    assert rows[("2.1", "5")]["verdict"] == "verified" and rows[("2.1", "4")]["verdict"] == "not run"
    menu = summary["behaviours"][0]["actions"]
    assert menu[0]["offered"] == ["Start"] and [r[0] for r in menu[0]["rows"]] == [
        "Start", "Stop", "Restart", "Pause", "Unpause"]
    md = (report / "summary.md").read_text()
    assert "## Actions menus (dry runs)" in md and "| Start | 202 | - |" in md
    assert "| Restart | 409 | " in md and "RunStategy Halted does not support manual restart requests" in md
    assert "## Lab coverage" in md and "| 2.1 | 5 | " in md
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    page = next(r for r in results if r["name"] == "Lab coverage")
    assert page["status"] == "skipped"  # most steps did not run
    scenario = next(r for r in results if r["name"] == "A stopped VM offers only Start")
    attached = [a for s in scenario.get("steps", []) for a in s.get("attachments", [])] + scenario.get(
        "attachments", [])
    assert any(a["name"] == "Actions menu: stopped VM" for a in attached), attached
