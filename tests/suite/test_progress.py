"""Progress of a run: one plain line per finished step without a terminal, a live line on one, none with -q."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STOP = "Stop reaches Stopped"


def _steps_after(lines: list[str], start: int) -> list[str]:
    steps = []
    for line in lines[start + 1:]:
        text = line.strip()
        if text.startswith(("@", "Scenario")):
            break
        if text.split(" ", 1)[0] in ("Given", "When", "Then", "And", "But"):
            steps.append(text)
    return steps


def scenario_steps(feature: Path, title: str) -> list[str]:
    """The steps of one scenario as written in its feature file, its feature's Background first."""
    lines = feature.read_text().splitlines()
    background = next((i for i, line in enumerate(lines) if line.strip().startswith("Background:")), None)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"Scenario: {title}")
    return (_steps_after(lines, background) if background is not None else []) + _steps_after(lines, start)


def run(*args: str, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(report),
                           "-k", "Stop_reaches", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_without_a_terminal_each_finished_step_is_one_line_with_its_duration(tmp_path: Path) -> None:
    proc = run(report=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "\r" not in proc.stdout and "\x1b[" not in proc.stdout
    lines = [line for line in proc.stdout.splitlines() if line.startswith(f"{STOP} ▸ ")]
    expected = scenario_steps(ROOT / "features" / "vm_control.feature", STOP)
    assert [re.sub(r": \d+\.\d s$", "", line) for line in lines] == [f"{STOP} ▸ {s}" for s in expected], lines
    assert all(re.search(r": \d+\.\d s$", line) for line in lines), lines


def test_quiet_keeps_pytests_dots_only(tmp_path: Path) -> None:
    proc = run("-q", report=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "▸" not in proc.stdout + proc.stderr
    assert proc.stdout.lstrip().startswith(".")  # today's output: a dot per scenario


def _read_all(master: int, proc: subprocess.Popen[bytes], timeout: float) -> str:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    else:
        proc.kill()
        raise AssertionError("the run did not finish in time")
    proc.wait(timeout=30)
    return b"".join(chunks).decode("utf-8", "replace")


def test_on_a_terminal_a_live_line_shows_the_wait_with_elapsed_and_limit(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 300, 0, 0))
    # the memory transfer lasts 2.5 s, so the live line ticks while the migration wait runs
    proc = subprocess.Popen([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(tmp_path),
                             "-k", "Migrate_moves", "--emulator-step", "migration.transfer=2.5"],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        out = _read_all(master, proc, 240)
    finally:
        os.close(master)
    assert proc.returncode == 0, out[-3000:]
    draws = [d for d in out.split("\r\x1b[K") if d.strip()]
    waiting = [d for d in draws if "▸ And the migration succeeds: waiting for" in d]
    assert waiting, draws[:20]
    limits = {m.group(2) for d in waiting if (m := re.search(r"  (\d+) s / (\d+) s$", d.strip()))}
    # the timeout table's limits: migration, then vmi_running_after_migration
    assert "240" in limits and limits <= {"240", "60"}, waiting
    assert any(re.search(r"  [1-9]\d* s / 240 s$", d.strip()) for d in waiting), waiting  # the clock ticks
    assert "Migrate moves a running VM" in waiting[0]
    # on a terminal a finished step leaves no line behind
    assert not re.search(r"the migration succeeds: \d+\.\d s", out)
