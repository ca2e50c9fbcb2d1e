"""The transition-time history: one JSON line per run, kept beside Allure's ``history.jsonl``.

A line is ``{"run": id, "finished": iso time, "cluster": key, "verdict": v,
"transitions": {behaviour id: {transition: seconds}}, "titles": {behaviour id: title}}``.
Only the last :data:`HISTORY_RUNS` runs of each cluster are kept; the clusters never mix (a run on
a real cluster is not compared with one on the emulated cluster, nor a fast emulated run with a
realistic one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HISTORY_DIR = "allure-report"  # where Allure keeps its history.jsonl (src/vmconform/report/html.py)
HISTORY_FILE = "transitions.jsonl"
HISTORY_RUNS = 30  # runs kept per cluster (Allure keeps as many: report.html.DEFAULT_HISTORY_LIMIT)

Entry = dict[str, Any]


def history_path(report_dir: Path) -> Path:
    return Path(report_dir) / HISTORY_DIR / HISTORY_FILE


def cluster_key(summary: dict[str, Any]) -> str:
    """Which runs compare: the emulated cluster per timing profile, kind, or a real cluster's API server."""
    cluster = summary.get("cluster") or {}
    backend = cluster.get("backend", "")
    if backend == "emulated":
        timing = ((summary.get("run") or {}).get("emulator_timing") or {}).get("timing") or "fast"
        return f"emulated ({timing})"
    if backend == "kind":
        return "kind"
    return str(cluster.get("host") or backend or "unknown")


def entry_of(summary: dict[str, Any]) -> Entry:
    """A run's history line, from its summary."""
    behaviours = summary.get("behaviours") or []
    return {
        "run": (summary.get("run") or {}).get("id", ""),
        "finished": (summary.get("run") or {}).get("finished", ""),
        "cluster": cluster_key(summary),
        "verdict": summary.get("verdict", ""),
        "transitions": {b["id"]: dict(b["transitions"]) for b in behaviours if b.get("transitions")},
        "titles": {b["id"]: b["title"] for b in behaviours if b.get("transitions")},
    }


def load(report_dir: Path, cluster: str | None = None) -> list[Entry]:
    """The recorded runs, oldest first (of one cluster when given); unreadable lines are skipped."""
    path = history_path(report_dir)
    try:
        text = path.read_text()
    except OSError:
        return []
    entries: list[Entry] = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("transitions"), dict):
            if cluster is None or entry.get("cluster") == cluster:
                entries.append(entry)
    return entries


def record(report_dir: Path, entry: Entry, keep: int = HISTORY_RUNS) -> Path:
    """Append a run, keeping the last ``keep`` runs of each cluster."""
    path = history_path(report_dir)
    entries = load(report_dir) + [entry]
    kept: list[Entry] = []
    counts: dict[str, int] = {}
    for e in reversed(entries):
        key = str(e.get("cluster"))
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= keep:
            kept.append(e)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in reversed(kept)))
    tmp.replace(path)
    return path
