"""Transition-time trends: the history each run records, the "slower than usual" rule, ``vmconform trend``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from vmconform.trend import history, load, record, slowdowns
from vmconform.trend.rules import median, p90

ROOT = Path(__file__).resolve().parents[2]
MIGRATE = "migrate-moves-a-running-vm-to-another-node-and-it-returns-to-running"
STOP = "stop-reaches-stopped"


def entry(run: int, migration: float, stop: float = 0.1, cluster: str = "emulated (fast)") -> dict[str, Any]:
    return {"run": f"run-{run}", "finished": f"2026-12-{run:02d}T00:00:00Z", "cluster": cluster,
            "verdict": "conformant", "transitions": {MIGRATE: {"migration": migration}, STOP: {"stop": stop}},
            "titles": {MIGRATE: "Migrate moves a running VM", STOP: "Stop reaches Stopped"}}


def vmconform(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def flagged(earlier: list[dict[str, Any]], current: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s.behaviour, s.transition) for s in slowdowns(earlier, current)}


def test_slower_than_usual_needs_five_runs_and_more_than_twice_the_median_of_the_last_ten() -> None:
    usual = [entry(i, 1.0) for i in range(1, 5)]
    assert flagged(usual, entry(9, 5.0)) == set(), "four earlier runs are too few to judge"
    usual.append(entry(5, 1.0))
    assert flagged(usual, entry(9, 2.0)) == set(), "exactly twice the median is not more than twice"
    assert flagged(usual, entry(9, 2.01)) == {(MIGRATE, "migration")}
    # only the last ten runs count: ten fast runs after old slow ones set the median
    old_slow = [entry(i, 10.0) for i in range(1, 20)] + [entry(i, 1.0) for i in range(20, 30)]
    assert flagged(old_slow, entry(31, 3.0)) == {(MIGRATE, "migration")}
    s = slowdowns(usual, entry(9, 2.5, stop=0.1))[0]
    assert "2.50 s" in s.message() and "median 1.00 s of the last 5 runs" in s.message()
    assert median([3, 1, 2]) == 2 and median([1, 2, 3, 4]) == 2.5 and p90(list(range(1, 11))) == 9


def test_history_keeps_the_last_runs_of_each_cluster_apart(tmp_path: Path) -> None:
    for i in range(1, 8):
        record(tmp_path, entry(i, 1.0), keep=5)
    record(tmp_path, entry(99, 9.0, cluster="https://real:6443"), keep=5)
    assert [e["run"] for e in load(tmp_path, "emulated (fast)")] == [f"run-{i}" for i in range(3, 8)]
    assert [e["run"] for e in load(tmp_path, "https://real:6443")] == ["run-99"]
    assert history.history_path(tmp_path).parent.name == "allure-report"  # beside Allure's history.jsonl


def write_history(report: Path, entries: list[dict[str, Any]]) -> None:
    path = history.history_path(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_trend_command_writes_a_chart_per_transition_and_the_table(tmp_path: Path) -> None:
    write_history(tmp_path, [entry(i, 1.0 + i / 100, stop=0.2) for i in range(1, 7)] + [entry(7, 3.0, stop=0.2)])
    proc = vmconform("trend", "--report-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "transition times of 7 runs on emulated (fast)" in out
    row = next(line for line in out.splitlines() if line.startswith("migration"))
    assert row.split()[1:5] == ["7", "1.04s", "3.00s", "3.00s"], row  # runs, median, p90, latest
    assert "slower than usual" in row and "slower than usual" not in next(
        line for line in out.splitlines() if line.startswith("stop"))
    for name in ("migration", "stop"):
        png = tmp_path / "trend" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    page = (tmp_path / "trend" / "index.html").read_text()
    assert 'src="migration.png"' in page and "slower than usual" in page and "last 10 earlier runs" in page

    failing = vmconform("trend", "--report-dir", str(tmp_path), "--fail-on-slowdown")
    assert failing.returncode == 1 and "slower than usual" in failing.stderr, failing.stderr
    assert "Traceback" not in failing.stderr


def test_trend_without_history_is_one_line(tmp_path: Path) -> None:
    proc = vmconform("trend", "--report-dir", str(tmp_path))
    assert proc.returncode == 4 and proc.stderr.count("\n") == 1 and "run `vmconform run` first" in proc.stderr


def test_a_slowed_emulated_migration_is_flagged_and_fails_with_fail_on_slowdown(tmp_path: Path) -> None:
    """The realistic profile (a migration of seconds), then the same with the memory transfer made long
    enough to more than double the whole migration."""
    select = ("-k", "Migrate_moves", "--no-html", "--report-dir", str(tmp_path), "--emulator-timing", "realistic",
              "--emulator-seed", "1")
    first = vmconform("run", *select)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    measured = load(tmp_path)
    assert len(measured) == 1 and measured[0]["cluster"] == "emulated (realistic)"
    usual = measured[0]["transitions"][MIGRATE]["migration"]
    assert 1.0 < usual < 30.0, usual
    # five more usual runs: the first run's own measurement, recorded again
    write_history(tmp_path, [{**measured[0], "run": f"usual-{i}"} for i in range(6)])

    # the memory transfer alone now lasts longer than the whole usual migration (realistic: ~3 s of it)
    slowed = vmconform("run", *select, "--emulator-step", f"migration.transfer={usual * 2:.1f}",
                       "--fail-on-slowdown")
    assert slowed.returncode == 1, slowed.stdout[-2000:] + slowed.stderr[-2000:]
    assert "--fail-on-slowdown: slower than usual: migration of" in slowed.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"] == "conformant"  # a note, not a violation
    notes = {(s["behaviour"], s["transition"]) for s in summary["slower_than_usual"]}
    assert (MIGRATE, "migration") in notes
    assert "## Slower than usual" in (tmp_path / "summary.md").read_text()
    assert "slower than usual: migration of" in slowed.stdout
    assert len(load(tmp_path)) == 7


def test_emulator_step_is_checked_and_refused_with_a_real_cluster(tmp_path: Path) -> None:
    bad = vmconform("run", "--emulator-step", "migration.nothing=1", "--report-dir", str(tmp_path))
    assert bad.returncode == 4 and bad.stderr.strip() == \
        "vmconform: --emulator-step: unknown timing step 'migration.nothing'", bad.stderr
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    real = vmconform("run", "--kubeconfig", str(kubeconfig), "--emulator-step", "migration.transfer=1")
    assert real.returncode == 4 and "--emulator-step only apply to the emulated cluster" in real.stderr, real.stderr
