"""Progress of a run that takes minutes: a live line on a terminal, one line per finished step in CI.

On a terminal (the run's stdout is a TTY) one line is redrawn in place::

    Live migration … ▸ Then migration succeeds: waiting for VMIM … Running  14 s / 240 s

naming the scenario, its step and — while a wait (``kube/waits.py``) runs — what it waits for, the
state it last saw, the seconds elapsed and the wait's limit (from ``timeouts.py``). Without a terminal
each finished step is one plain line with its duration (and a failed one says so). ``vmconform run -q``
turns this off (pytest's dots only, as before). It writes to a copy of the terminal's file descriptor
taken before pytest captures output, so it is seen while a scenario runs.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

from .kube import waits

REDRAW_SECONDS = 1.0  # the live line's clock ticks this often (a redraw, not a wait for any state)
ARROW = "▸"


def _step_text(step: Any) -> str:
    return f"{str(getattr(step, 'keyword', '')).strip()} {step.name}".strip()


class Progress:
    """A pytest plugin (the main process of a serial run) that shows what the suite is doing."""

    def __init__(self, out: IO[str] | None = None) -> None:
        if out is None:
            out = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace", buffering=1)
        self.out = out
        try:
            self.live = os.isatty(out.fileno())
        except (OSError, ValueError, AttributeError):
            self.live = False
        self._lock = threading.Lock()
        self.scenario = ""
        self.step = ""
        self.step_started = 0.0
        self.wait: tuple[waits.Timeline, float] | None = None
        self._shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # ------------------------------------------------------------ the line

    def line(self) -> str:
        """What the live line says now."""
        head = f"{self.scenario} {ARROW} {self.step}"
        if self.wait is not None:
            tl, limit = self.wait
            state = tl.samples[-1].state if tl.samples else ""
            return (f"{head}: waiting for {tl.what}" + (f" ({state})" if state else "")
                    + f"  {tl.elapsed:.0f} s / {limit:.0f} s")
        return f"{head}  {time.monotonic() - self.step_started:.0f} s"

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        return columns if columns > 20 else 120  # a terminal that does not say its size

    def _draw(self) -> None:
        with self._lock:
            if not self.live or not self.step:
                return
            text = self.line()
            width = self._width() - 1
            if len(text) > width:
                text = text[: max(0, width - 1)] + "…"
            self.out.write("\r\x1b[K" + text)
            self.out.flush()
            self._shown = True

    def _clear(self) -> None:
        with self._lock:
            if self.live and self._shown:
                self.out.write("\r\x1b[K")
                self.out.flush()
                self._shown = False

    def _print(self, text: str) -> None:
        with self._lock:
            if sys.__stdout__ is not None:
                sys.__stdout__.flush()  # what pytest wrote before comes first
            self.out.write(text + "\n")
            self.out.flush()

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            self._draw()

    # ------------------------------------------------------------ waits

    def _wait_started(self, tl: waits.Timeline, limit: float) -> None:
        self.wait = (tl, limit)
        self._draw()

    def _wait_ended(self, tl: waits.Timeline) -> None:
        if self.wait is not None and self.wait[0] is tl:
            self.wait = None
            self._draw()

    # ------------------------------------------------------------ pytest and pytest-bdd hooks

    def pytest_sessionstart(self, session: Any) -> None:
        waits.wait_start_listeners.append(self._wait_started)
        waits.timeline_listeners.append(self._wait_ended)
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="vmconform-progress", daemon=True)
            self._ticker.start()

    def pytest_sessionfinish(self, session: Any) -> None:
        self._stop.set()
        self._clear()
        if self._wait_started in waits.wait_start_listeners:
            waits.wait_start_listeners.remove(self._wait_started)
        if self._wait_ended in waits.timeline_listeners:
            waits.timeline_listeners.remove(self._wait_ended)

    def pytest_report_teststatus(self, report: Any, config: Any) -> Any:
        """No pytest dot for a scenario: the progress lines say it (the counts at the end stay)."""
        if report.nodeid.startswith(_feature_prefix(config)) and report.when == "call":
            outcome = "failed" if report.failed else report.outcome
            return outcome, "", outcome.upper()
        return None

    def pytest_bdd_before_scenario(self, request: Any, feature: Any, scenario: Any) -> None:
        self.scenario = scenario.name

    def pytest_bdd_before_step(self, request: Any, feature: Any, scenario: Any, step: Any, step_func: Any) -> None:
        self.scenario = scenario.name
        self.step = _step_text(step)
        self.step_started = time.monotonic()
        self.wait = None
        self._draw()

    def _finished(self, scenario: Any, step: Any, failed: bool) -> None:
        took = time.monotonic() - self.step_started
        self.wait = None
        if self.live:
            self._clear()
            self.step = ""
            if failed:
                self._print(f"{scenario.name} {ARROW} {_step_text(step)}: failed after {took:.1f} s")
            return
        self.step = ""
        self._print(f"{scenario.name} {ARROW} {_step_text(step)}: "
                    + (f"failed after {took:.1f} s" if failed else f"{took:.1f} s"))

    def pytest_bdd_after_step(self, request: Any, feature: Any, scenario: Any, step: Any, step_func: Any,
                              step_func_args: Any) -> None:
        self._finished(scenario, step, failed=False)

    def pytest_bdd_step_error(self, request: Any, feature: Any, scenario: Any, step: Any, step_func: Any,
                              step_func_args: Any, exception: BaseException) -> None:
        self._finished(scenario, step, failed=True)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self._clear()


def _feature_prefix(config: Any) -> str:
    return "features/" if (config.rootpath / "features").is_dir() else ""
