"""Verdicts per lab behaviour and overall; ``summary.json`` (schema ``vmconform.summary/v1``) and ``summary.md``."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .trend.rules import MIN_RUNS, SLOWDOWN_FACTOR, WINDOW

VERIFIED = "verified"
VIOLATED = "violated"
NOT_VERIFIED = "not-verified"

CONFORMANT = "conformant"
NOT_CONFORMANT = "not-conformant"
INCOMPLETE = "incomplete"
# a run that did not finish is never a pass, whatever its finished scenarios said
INTERRUPTED = "interrupted"  # SIGINT, SIGTERM or SIGHUP
CLUSTER_LOST = "cluster-lost"  # the cluster stopped answering mid-run
ERROR = "error"  # the suite itself failed (pytest internal error)
UNFINISHED = (INTERRUPTED, CLUSTER_LOST, ERROR)

# summary.json "ended.how"
COMPLETED = "completed"

NOT_RUN_INTERRUPTED = "not run: interrupted"
INTERRUPTED_WHILE_RUNNING = "interrupted while it ran"
NOT_RUN_CLUSTER_LOST = "not run: the cluster stopped answering"
NOT_RUN_ERROR = "not run: the suite stopped on an internal error"
NOT_RUN = {INTERRUPTED: NOT_RUN_INTERRUPTED, CLUSTER_LOST: NOT_RUN_CLUSTER_LOST, ERROR: NOT_RUN_ERROR}


class NotVerifiable(Exception):
    """A behaviour that could not be checked because of what the operator chose (e.g. a guest login the
    image refuses): the behaviour is ``not-verified`` with this message as its reason, never ``violated``."""

SCHEMA = "vmconform.summary/v1"
EMULATED_NOTICE = ("This run used the embedded EMULATED cluster: it checks the suite and the lab's "
                   "instructions, it is not a certification of any real cluster.")

SLOWER_RULE = (f"a transition is slower than usual when it took more than {SLOWDOWN_FACTOR:g}× the median of the "
               f"same behaviour's transition over the last {WINDOW} earlier runs on the same cluster, with at least "
               f"{MIN_RUNS} such runs (`vmconform trend` charts them; `--fail-on-slowdown` exits 1).")

SECTION_TITLES = {"2.1": "2.1 VM control", "2.2": "2.2 Live migration",
                  "2.2-maintenance": "2.2 Live migration: node maintenance"}
# the lab's own headings (vm_management.ko.md)
SECTION_TITLES_KO = {"2.1": "2.1 가상머신 제어", "2.2": "2.2 가상머신 라이브 마이그레이션",
                     "2.2-maintenance": "2.2 가상머신 라이브 마이그레이션: 노드 유지보수"}


def _number(text: str) -> tuple[float, ...]:
    """``2.10`` → (2, 10): lab numbers compare as numbers; anything else after every number."""
    parts = text.split(".")
    if not text or not all(part.isdigit() for part in parts):
        return (float("inf"),)
    return tuple(float(part) for part in parts)


def lab_order(section: str, steps: Iterable[str], language: str = "en", title: str = "") -> tuple[Any, ...]:
    """The lab's order: section (the English feature before its translations), then its first step, title last.
    A section with a suffix (``2.2-maintenance``) follows its base section."""
    base, _, suffix = section.partition("-")
    numbers = sorted(_number(s) for s in steps) or [(float("inf"),)]
    return (_number(base), suffix, language != "en", language, numbers[0], title)


def behaviour_order(b: Behaviour | dict[str, Any]) -> tuple[Any, ...]:
    d = asdict(b) if isinstance(b, Behaviour) else b
    return lab_order(d.get("lab_section", ""), d.get("lab_steps") or [], d.get("language", "en"), d.get("title", ""))


def section_title(section: str, language: str = "en") -> str:
    titles = SECTION_TITLES_KO if language == "ko" else SECTION_TITLES
    return titles.get(section, "")


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
    language: str = "en"
    actions: list[dict[str, Any]] = field(default_factory=list)  # Actions-menu tables (steps/actions.py)


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
    worst.actions = old.actions + [a for a in new.actions if a not in old.actions]
    return worst


def build_summary(behaviours: list[Behaviour], cluster: dict[str, Any], run: dict[str, Any],
                  ended: dict[str, Any] | None = None) -> dict[str, Any]:
    """``ended``: ``{"how": completed|interrupted|cluster-lost|error, "message": str, "signal": str|None}``;
    a run that did not complete has that as its verdict."""
    ended = ended or {"how": COMPLETED, "message": "", "signal": None}
    verdict = ended["how"] if ended["how"] in UNFINISHED else overall(behaviours)
    emulated = cluster.get("backend") == "emulated"
    counts = {s: sum(1 for b in behaviours if b.status == s) for s in (VERIFIED, VIOLATED, NOT_VERIFIED)}
    return {
        "schema": SCHEMA,
        "verdict": verdict,
        "emulated": emulated,
        "notice": EMULATED_NOTICE if emulated else "",
        "ended": ended,
        "run": run,
        "cluster": cluster,
        "counts": counts,
        "behaviours": [asdict(b) for b in sorted(behaviours, key=behaviour_order)],
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
    ended = summary.get("ended") or {}
    if ended.get("how") in UNFINISHED:
        lines += [f"> **The run did not finish: {ended.get('message') or ended['how']}.** Behaviours it did not "
                  f"get to are listed as not verified; this is not a verdict on the cluster.", ""]
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
    heading = None
    for b in summary["behaviours"]:
        head = section_title(b["lab_section"], b.get("language", "en")) or b["lab_section"] or "other"
        if head != heading:  # the lab's sections, in the lab's order
            lines += ([""] if heading is not None else []) + [f"### {head}", ""]
            heading = head
        timing = ""
        if b.get("transitions"):
            timing = " (" + ", ".join(f"{k} took {v:.2f} s" for k, v in b["transitions"].items()) + ")"
        line = f"- **{_step_ref(b)} — {b['title']}**: {mark[b['status']]}{timing}"
        if b["status"] != VERIFIED and b.get("reason"):
            line += f"\n  - {b['reason']}"
        lines.append(line)
    slow = summary.get("slower_than_usual") or []
    if slow:  # a note, not a violation (src/vmconform/trend/rules.py has the rule)
        lines += ["", "## Slower than usual", "",
                  f"> A note, not a violation: {SLOWER_RULE}", ""]
        lines += [f"- {s['message']}" for s in slow]
    skipped = [b for b in summary["behaviours"] if b["status"] == NOT_VERIFIED]
    if skipped:
        lines += ["", "## Not verified", ""]
        lines += [f"- {_step_ref(b)} — {b['title']}: {b.get('reason') or 'no reason given'}" for b in skipped]
    from .coverage.report import actions_block, lab_coverage_block  # separate blocks (lab authors, issue 21)
    lines += actions_block(summary) + lab_coverage_block(summary)
    lines.append("")
    return "\n".join(lines)


def write(report_dir: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    j = report_dir / "summary.json"
    m = report_dir / "summary.md"
    j.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    m.write_text(render_markdown(summary))
    return j, m


def display_width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def terminal_table(summary: dict[str, Any]) -> list[str]:
    rows = [(f"{_step_ref(b)}", b["title"], b["status"]) for b in summary["behaviours"]]
    w0 = max([display_width(r[0]) for r in rows] + [3])
    w1 = max([display_width(r[1]) for r in rows] + [9])
    out = [f"{_pad('lab', w0)}  {_pad('behaviour', w1)}  verdict"]
    out += [f"{_pad(a, w0)}  {_pad(b, w1)}  {c}" for a, b, c in rows]
    out += [f"slower than usual: {s['message']}" for s in summary.get("slower_than_usual") or []]
    tail = f"overall: {summary['verdict']}"
    ended = summary.get("ended") or {}
    if ended.get("how") in UNFINISHED and ended.get("message"):
        tail += f" ({ended['message']})"
    if summary.get("emulated"):
        tail += " (emulated cluster — not a certification)"
    out.append(tail)
    return out
