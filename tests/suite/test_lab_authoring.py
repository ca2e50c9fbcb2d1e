"""Lab authors: the Korean lab, the step vocabulary, ``vmconform steps``, ``--lang`` and ``--features``.

The Korean feature files must say exactly what the English ones say: they are checked to bind,
step for step, to the same implementations with the same tags, so every fault the English
scenarios are shown to catch (tests/faults) is caught by the Korean ones too; one fault run in
Korean shows it end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from pytest_bdd.parser import FeatureParser

from vmconform.cli import exitcodes
from vmconform.emulator import faults as F
from vmconform.features import language_of
from vmconform.labels import slug, text_id
from vmconform.stepcheck import check, loaded_steps
from vmconform.vocabulary import StepDef, find

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ROOT / "features"
EXAMPLES = ROOT / "examples"
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def defs() -> Iterator[list[StepDef]]:
    with loaded_steps(ROOT) as loaded:
        yield loaded


def vmconform(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def parse(path: Path) -> Any:
    return FeatureParser(str(path.parent), path.name).parse()


def lab_pairs() -> list[tuple[Path, Path]]:
    english = sorted(FEATURES.glob("*.feature"))
    assert english
    return [(en, FEATURES / "ko" / en.name) for en in english]


def translations() -> dict[str, str]:
    """English behaviour id → the id of its Korean scenario (same file name, same position)."""
    out = {}
    for en, ko in lab_pairs():
        for a, b in zip(parse(en).scenarios.values(), parse(ko).scenarios.values()):
            out[text_id(a.name)] = f"ko/{text_id(b.name)}"
    return out


# ---------------------------------------------------------------- the vocabulary


def test_every_step_has_both_phrasings_and_its_example_lines_bind_to_it(defs: list[StepDef]) -> None:
    assert len(defs) >= 40
    for d in defs:
        for lang in ("en", "ko"):
            assert d.phrasings[lang].strip(), f"{d.function}: no {lang} phrasing"
            keyword, text = d.example(lang).split(" ", 1)
            matching = [o.function for o in defs if o.kind == d.kind and o.matches(text)]
            assert matching == [d.function], f"{d.example(lang)!r} binds to {matching}, not [{d.function}]"


def test_a_korean_argument_reaches_the_implementation_in_english(defs: list[StepDef]) -> None:
    d = find("then", '일시 중지 해제 요청이 404 "not found" 오류로 거부됩니다')
    assert d is not None and d.function == "verb_rejected"
    regex = d.regexes["ko"]
    m = regex.fullmatch('일시 중지 해제 요청이 404 "not found" 오류로 거부됩니다')
    assert m and m.group("verb") == "일시 중지 해제"
    verb = next(p for p in d.params if p.name == "verb")
    convert = verb.converter("ko")
    assert convert is not None and convert("일시 중지 해제") == "unpause" and convert("일시 중지") == "pause"


# ---------------------------------------------------------------- the Korean lab


@pytest.mark.parametrize("en,ko", lab_pairs(), ids=lambda p: p.name)
def test_korean_feature_mirrors_the_english_one_step_for_step(en: Path, ko: Path, defs: list[StepDef]) -> None:
    assert ko.is_file(), f"{ko} is missing"
    assert language_of(ko) == "ko" and language_of(en) == "en"
    fe, fk = parse(en), parse(ko)
    assert fk.keyword == "기능" and fe.tags == fk.tags
    assert len(fe.scenarios) == len(fk.scenarios)
    for a, b in zip(fe.scenarios.values(), fk.scenarios.values()):
        assert b.keyword == "시나리오" and a.tags == b.tags, (a.name, b.name)
        assert all(t.isascii() for t in b.tags), b.tags
        sa, sb = a.steps, b.steps
        assert [s.type for s in sa] == [s.type for s in sb], (a.name, b.name)
        for x, y in zip(sa, sb):
            dx, dy = find(x.type, x.name), find(y.type, y.name)
            assert dx is not None and dy is not None, (x.name, y.name)
            assert dx.function == dy.function, f"{b.name}: {y.name!r} is {dy.function}, {x.name!r} is {dx.function}"
            px = dx.regexes["en"].fullmatch(x.name)
            py = dy.regexes["ko"].fullmatch(y.name)
            assert px and py
            for p in dx.params:
                conv = p.converter("ko")
                value = conv(py.group(p.name)) if conv else py.group(p.name)
                assert str(value) == px.group(p.name), f"{b.name}: {p.name} {value!r} ≠ {px.group(p.name)!r}"


def test_the_lab_and_the_examples_have_only_known_steps_and_ascii_tags(defs: list[StepDef]) -> None:
    files = sorted(FEATURES.rglob("*.feature")) + sorted(EXAMPLES.rglob("*.feature"))
    assert len(files) >= 8
    assert check(files, defs) == []
    for f in files:
        feature = parse(f)
        for sc in feature.scenarios.values():
            for tag in sc.tags | feature.tags:
                assert tag.isascii() and tag.split("-")[0] in ("lab", "step", "needs", "guest"), (f.name, tag)


def test_korean_scenario_names_make_valid_namespace_names() -> None:
    name = "Stop을 누르면 가상머신이 Stopped 상태가 됩니다"
    assert slug(name, 30) == "stop-stopped"
    hashed = slug("가상머신 제어", 30)
    assert hashed.startswith("s-") and len(hashed) == 10 and hashed.isascii()
    assert text_id(name) == "stop을-누르면-가상머신이-stopped-상태가-됩니다"


# ---------------------------------------------------------------- vmconform steps


def test_vmconform_steps_prints_both_languages_with_parameters_and_examples() -> None:
    proc = vmconform("steps")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ("When I stop the VM", "만일 가상머신을 중지합니다", "I {verb} the VM", "가상머신을 {verb}합니다",
                 "{verb}: a VM action", "unpause / 일시 중지 해제", "Then within 2 minutes the VM is Stopped",
                 "그러면 2분 안에 가상머신이 Stopped 상태가 됩니다"):
        assert line in out, line
    ko_only = vmconform("steps", "--lang", "ko").stdout
    assert "만일 가상머신을 중지합니다" in ko_only and "When I stop the VM" not in ko_only


def test_docs_step_list_is_what_vmconform_steps_prints() -> None:
    proc = vmconform("steps", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert (ROOT / "docs" / "steps.md").read_text() == proc.stdout, \
        "docs/steps.md is stale: python -m vmconform steps --format markdown > docs/steps.md"


def test_a_misspelt_step_fails_before_anything_runs_and_suggests_the_closest(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "mine.feature").write_text(
        "Feature: my lab\n  Scenario: stop\n    Given a running VM\n    When I stpo the VM\n"
        "    Then the VM reachs Stopped\n")
    (lab / "mine_ko.feature").write_text(
        "# language: ko\n기능: 내 실습\n  시나리오: 중지\n    조건 실행 중인 가상머신이 있습니다\n    만일 가상머신을 정지합니다\n")
    report = tmp_path / "report"
    proc = vmconform("run", "--features", str(lab), "--report-dir", str(report))
    assert proc.returncode == exitcodes.USAGE, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in proc.stderr, lines
    assert lines[0].endswith('mine.feature:4: unknown step: When I stpo the VM — did you mean '
                             '"When I stop the VM" or "When I migrate the VM"?'), lines[0]
    assert 'did you mean "Then the VM reaches Stopped"' in lines[1]
    assert 'mine_ko.feature:5: unknown step: 만일 가상머신을 정지합니다 — did you mean "만일 가상머신을 중지합니다"' in lines[2]
    assert not report.exists(), "a refused run must create nothing"
    # the same check stands alone
    alone = vmconform("steps", "--check", str(lab))
    assert alone.returncode == exitcodes.USAGE and alone.stderr.strip().splitlines() == lines


def test_a_scenario_without_steps_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "empty.feature"
    f.write_text("Feature: typo\n  Scenario: nothing\n    Gven a running VM\n")
    proc = vmconform("run", "--features", str(f), "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == exitcodes.USAGE
    assert proc.stderr.strip() == (f'vmconform: {f}:2: scenario "nothing" has no steps, so it could never fail; '
                                   '"Gven a running VM" was read as its description: is a keyword misspelt?')


@pytest.mark.parametrize("args,message", [
    (["--lang", "fr"], "argument --lang: invalid choice: 'fr'"),
    (["--features", "/no/such/lab"], "--features /no/such/lab: no such file or folder"),
    (["--features", "examples/maintenance_lab.feature", "--lang", "ko"], "no feature files in 'ko' under"),
])
def test_bad_selection_is_one_line_and_exit_4(args: list[str], message: str, tmp_path: Path) -> None:
    proc = vmconform("run", *args, "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == exitcodes.USAGE
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr


def test_plain_pytest_fails_an_unknown_step_at_setup_with_the_suggestion(tmp_path: Path) -> None:
    (tmp_path / "x.feature").write_text("Feature: f\n  Scenario: s\n    Given a runing VM\n")
    report = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "pytest", "features", "-p", "no:cacheprovider", "-q",
                           f"--features={tmp_path}", f"--rootdir={Path('/')}", f"--report-dir={report}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 1, proc.stdout[-2000:]
    summary = json.loads((report / "summary.json").read_text())
    [b] = summary["behaviours"]
    assert b["status"] == "not-verified"
    assert 'x.feature:3: unknown step: Given a runing VM — did you mean "Given a running VM"' in b["reason"]


# ---------------------------------------------------------------- whole runs


def test_the_korean_lab_passes_and_allure_names_it_in_korean(tmp_path: Path) -> None:
    report = tmp_path / "report"
    proc = vmconform("run", "--lang", "ko", "-n", "2", "--no-html", "--report-dir", str(report))
    assert proc.returncode == exitcodes.CONFORMANT, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = json.loads((report / "summary.json").read_text())
    ids = {b["id"] for b in summary["behaviours"]}
    assert ids == set(translations().values())
    assert {b["language"] for b in summary["behaviours"]} == {"ko"}
    results = [json.loads(p.read_text()) for p in (report / "allure-results").glob("*-result.json")]
    names = {r["name"] for r in results}
    names -= {"Lab coverage"}  # the run's lab-coverage page (src/vmconform/coverage/run_page.py)
    assert "Stop을 누르면 가상머신이 Stopped 상태가 됩니다" in names and len(names) == len(ids)
    labels = {(lb["name"], lb["value"]) for r in results for lb in r["labels"]}
    assert ("feature", "2.1 가상머신 제어") in labels and ("feature", "2.2 가상머신 라이브 마이그레이션") in labels
    steps = {s["name"] for r in results for s in r.get("steps", [])}
    assert any("가상머신을 중지합니다" in s for s in steps), sorted(steps)[:5]


def test_a_fault_turns_the_korean_scenarios_red_like_the_english_ones(tmp_path: Path) -> None:
    fault = F.FAULTS["pause-replaces-vmi"]
    report = tmp_path / "report"
    proc = vmconform("run", "--lang", "ko", "--emulator-fault", "pause-replaces-vmi", "-n", "2", "--no-html",
                     "--report-dir", str(report))
    assert proc.returncode == exitcodes.NOT_CONFORMANT, proc.stdout[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    violated = {b["id"] for b in summary["behaviours"] if b["status"] == "violated"}
    assert violated == {translations()[c] for c in fault.caught_by}
    assert all(b["status"] == "verified" for b in summary["behaviours"] if b["id"] not in violated)


def test_the_example_lab_runs_from_its_own_folder_and_fails_on_a_broken_cluster(tmp_path: Path) -> None:
    good = vmconform("run", "--features", str(EXAMPLES), "-n", "2", "--no-html", "--report-dir", str(tmp_path / "a"))
    assert good.returncode == exitcodes.CONFORMANT, good.stdout[-3000:] + good.stderr[-2000:]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert len(summary["behaviours"]) == 8 and {b["language"] for b in summary["behaviours"]} == {"en", "ko"}
    bad = vmconform("run", "--features", str(EXAMPLES / "maintenance_lab.feature"), "--emulator-fault",
                    "migration-restarts-vm", "--no-html", "--report-dir", str(tmp_path / "b"))
    assert bad.returncode == exitcodes.NOT_CONFORMANT, bad.stdout[-3000:]
    broken = {b["id"]: b["reason"] for b in json.loads((tmp_path / "b" / "summary.json").read_text())["behaviours"]
              if b["status"] != "verified"}
    assert list(broken) == ["a-vm-leaves-its-node-for-maintenance-without-a-reboot"], broken
    assert "the VMI was replaced during migration" in broken["a-vm-leaves-its-node-for-maintenance-without-a-reboot"]
