"""The "slower than usual" rule and the statistics of the trend table.

Rule: a transition of a behaviour is *slower than usual* when it took more than
:data:`SLOWDOWN_FACTOR` (2) times the median of the same behaviour's same transition over the last
:data:`WINDOW` (10) earlier runs on the same cluster, and at least :data:`MIN_RUNS` (5) such runs
exist. It is a note in the reports, not a violation; ``--fail-on-slowdown`` makes it exit 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

SLOWDOWN_FACTOR = 2.0
WINDOW = 10
MIN_RUNS = 5

Entry = dict[str, Any]


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    if n == 0:
        return math.nan
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def p90(values: list[float]) -> float:
    """The 90th percentile, nearest rank."""
    s = sorted(values)
    if not s:
        return math.nan
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


@dataclass(frozen=True)
class Slowdown:
    behaviour: str
    title: str
    transition: str
    seconds: float
    median: float
    runs: int  # earlier runs the median is over

    def message(self) -> str:
        return (f"{self.transition} of \"{self.title}\" took {self.seconds:.2f} s, "
                f"{self.seconds / self.median:.1f}× the median {self.median:.2f} s of the last {self.runs} runs")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message()}


def series(entries: Iterable[Entry], behaviour: str, transition: str) -> list[float]:
    """One behaviour's transition over the runs, oldest first (runs without it are left out)."""
    out = []
    for e in entries:
        value = (e.get("transitions") or {}).get(behaviour, {}).get(transition)
        if isinstance(value, (int, float)):
            out.append(float(value))
    return out


def slowdowns(earlier: list[Entry], current: Entry) -> list[Slowdown]:
    """What ``current`` did slower than usual, judged against ``earlier`` runs (same cluster, oldest first)."""
    found = []
    for behaviour, transitions in (current.get("transitions") or {}).items():
        for name, seconds in transitions.items():
            previous = series(earlier, behaviour, name)[-WINDOW:]
            if len(previous) < MIN_RUNS:
                continue
            m = median(previous)
            if m > 0 and seconds > SLOWDOWN_FACTOR * m:
                title = (current.get("titles") or {}).get(behaviour, behaviour)
                found.append(Slowdown(behaviour, title, name, float(seconds), m, len(previous)))
    return found
