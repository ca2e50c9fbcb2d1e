"""Verdicts per lab behaviour and overall; ``summary.json`` (schema ``vmconform.summary/v1``) and ``summary.md``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

VERIFIED = "verified"
VIOLATED = "violated"
NOT_VERIFIED = "not-verified"

CONFORMANT = "conformant"
NOT_CONFORMANT = "not-conformant"
INCOMPLETE = "incomplete"

SCHEMA = "vmconform.summary/v1"
EMULATED_NOTICE = ("This run used the embedded EMULATED cluster: it checks the suite and the lab's "
                   "instructions, it is not a certification of any real cluster.")

SECTION_TITLES = {"2.1": "2.1 VM control", "2.2": "2.2 Live migration"}


@dataclass
class Behaviour:
    id: str
    lab_section: str
    title: str
    status: str
    reason: str = ""
    lab_steps: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    transitions: dict[str, float] = field(default_factory=dict)
    nodeid: str = ""


def overall(behaviours: Iterable[Behaviour]) -> str:
    statuses = [b.status for b in behaviours]
    if not statuses:
        return INCOMPLETE
    if VIOLATED in statuses:
        return NOT_CONFORMANT
    if NOT_VERIFIED in statuses:
        return INCOMPLETE
    return CONFORMANT


def merge(old: Behaviour | None, new: Behaviour) -> Behaviour:
    """Outcomes of one behaviour's phases (setup/call/teardown): the worst wins."""
    if old is None:
        return new
    rank = {VERIFIED: 0, NOT_VERIFIED: 1, VIOLATED: 2}
    worst = new if rank[new.status] > rank[old.status] else old
    worst.transitions = {**old.transitions, **new.transitions}
    worst.duration_seconds = old.duration_seconds + new.duration_seconds
    return worst


def build_summary(behaviours: list[Behaviour], cluster: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    verdict = overall(behaviours)
    emulated = cluster.get("backend") == "emulated"
    counts = {s: sum(1 for b in behaviours if b.status == s) for s in (VERIFIED, VIOLATED, NOT_VERIFIED)}
    return {
        "schema": SCHEMA,
        "verdict": verdict,
        "emulated": emulated,
        "notice": EMULATED_NOTICE if emulated else "",
        "run": run,
        "cluster": cluster,
        "counts": counts,
        "behaviours": [asdict(b) for b in sorted(behaviours, key=lambda b: (b.lab_section, b.id))],
    }


def _step_ref(b: dict[str, Any]) -> str:
    steps = b.get("lab_steps") or []
    ref = b["lab_section"]
    if steps:
        ref += " step " + ", ".join(steps)
    return ref


def render_markdown(summary: dict[str, Any]) -> str:
    c = summary["cluster"]
    lines = [f"# vmconform verdict: {summary['verdict'].upper()}", ""]
    if summary.get("emulated"):
        lines += [f"> **{EMULATED_NOTICE}**", ""]
    lines += [
        "| cluster | |", "| --- | --- |",
        f"| backend | {c.get('backend', '')} |",
        f"| API server | {c.get('host', '')} |",
        f"| Kubernetes | {c.get('kubernetes_version', '')} |",
        f"| KubeVirt | {c.get('kubevirt_version', '')} |",
        f"| nodes | {', '.join(c.get('nodes') or [])} (schedulable: {', '.join(c.get('schedulable_nodes') or []) or 'none'}) |",
        f"| storage classes | {', '.join(c.get('storage_classes') or [])} (RWX: {c.get('rwx_storage_class') or '-'}, RWO: {c.get('rwo_storage_class') or '-'}) |",
        f"| run | {summary['run'].get('id', '')} |",
        "",
        "## Lab behaviours", "",
    ]
    mark = {VERIFIED: "verified", VIOLATED: "VIOLATED", NOT_VERIFIED: "not verified"}
    for b in summary["behaviours"]:
        timing = ""
        if b.get("transitions"):
            timing = " (" + ", ".join(f"{k} took {v:.2f} s" for k, v in b["transitions"].items()) + ")"
        line = f"- **{_step_ref(b)} — {b['title']}**: {mark[b['status']]}{timing}"
        if b["status"] != VERIFIED and b.get("reason"):
            line += f"\n  - {b['reason']}"
        lines.append(line)
    skipped = [b for b in summary["behaviours"] if b["status"] == NOT_VERIFIED]
    if skipped:
        lines += ["", "## Not verified", ""]
        lines += [f"- {_step_ref(b)} — {b['title']}: {b.get('reason') or 'no reason given'}" for b in skipped]
    lines.append("")
    return "\n".join(lines)


def write(report_dir: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    j = report_dir / "summary.json"
    m = report_dir / "summary.md"
    j.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    m.write_text(render_markdown(summary))
    return j, m


def terminal_table(summary: dict[str, Any]) -> list[str]:
    rows = [(f"{_step_ref(b)}", b["title"], b["status"]) for b in summary["behaviours"]]
    w0 = max([len(r[0]) for r in rows] + [3])
    w1 = max([len(r[1]) for r in rows] + [9])
    out = [f"{'lab':<{w0}}  {'behaviour':<{w1}}  verdict"]
    out += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    tail = f"overall: {summary['verdict']}"
    if summary.get("emulated"):
        tail += " (emulated cluster — not a certification)"
    out.append(tail)
    return out
