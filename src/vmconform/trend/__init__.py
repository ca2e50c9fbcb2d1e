"""Transition-time trends across runs: a per-cluster history beside Allure's, the slowdown rule, charts.

- :mod:`.history` records each run's transition times (``allure-report/transitions.jsonl``);
- :mod:`.rules` holds the "slower than usual" rule and the median / p90 statistics;
- :mod:`.chart` draws a chart per transition (PNG with matplotlib) and an HTML page with the table.
"""

from __future__ import annotations

from .history import HISTORY_FILE, HISTORY_RUNS, cluster_key, entry_of, load, record
from .rules import MIN_RUNS, SLOWDOWN_FACTOR, WINDOW, Slowdown, slowdowns

__all__ = ["HISTORY_FILE", "HISTORY_RUNS", "MIN_RUNS", "SLOWDOWN_FACTOR", "WINDOW", "Slowdown", "cluster_key",
           "entry_of", "load", "record", "slowdowns"]
