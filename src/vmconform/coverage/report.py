"""Tables of lab coverage (the ``vmconform coverage`` command, a run's "lab coverage" page) and of the
Actions menus the scenarios saw (``steps/actions.py``), for the terminal, summary.md and Allure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .lab import load, shorten
from .table import COVERED, MARKED, NOT_COVERED, Coverage, Row, build

Obj = dict[str, Any]


def _cell(text: str) -> str:
    return text.replace("|", "/")


def _scenarios_cell(row: Row) -> str:
    if row.status == MARKED:
        via = f" (as step {row.via})" if row.via else ""
        return f"not verifiable from the API{via}: {row.reason}"
    if row.status == NOT_COVERED:
        return "**not covered**"
    via = f"as step {row.via}: " if row.via else ""
    return via + "; ".join(sc.title for sc in row.scenarios)


def markdown(cov: Coverage) -> str:
    """The table ``vmconform coverage`` prints, then the errors and the scenarios beyond the document."""
    lines = [f"Lab coverage of {cov.lab.path.name}" + (f" ({cov.lab.title})" if cov.lab.title else ""), "",
             "| section | step | text | verified by |", "| --- | --- | --- | --- |"]
    for section in cov.lab.sections:
        rows = [r for r in cov.rows if r.section is section]
        if not rows:
            continue
        for i, r in enumerate(rows):
            head = _cell(f"{section.number} {shorten(section.title, 30)}") if i == 0 else ""
            lines.append(f"| {head} | {r.step.number} | {_cell(shorten(r.step.text))} | {_cell(_scenarios_cell(r))} |")
    counts = {s: sum(1 for r in cov.rows if r.status == s) for s in (COVERED, MARKED, NOT_COVERED)}
    lines += ["", f"{len(cov.rows)} steps: {counts[COVERED]} covered, {counts[MARKED]} not verifiable from the API, "
                  f"{counts[NOT_COVERED]} not covered"]
    for ext, scs in sorted(cov.extensions.items()):
        lines.append(f"beyond the document: @lab-{ext}: " + "; ".join(sc.title for sc in scs))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- a run's lab coverage page

RUN_MARK = {"verified": "verified", "violated": "VIOLATED", "not-verified": "not verified"}


def run_coverage(lab_path: Path, features: Path, behaviours: list[Obj]) -> Obj:
    """The coverage of one run: each step's scenarios by their tags (as the run saw them) and its verdict.

    A step's verdict is the worst of its scenarios' ("not run" when none of them ran)."""
    cov = build(load(lab_path), features)
    rows = []
    for r in cov.rows:
        key = r.via or r.step.number
        ran = [b for b in behaviours if f"lab-{r.section.number}" in (b.get("tags") or [])
               and f"step-{key}" in (b.get("tags") or [])]
        if r.status == MARKED:
            verdict = MARKED
        elif not ran:
            verdict = "not run" if r.status == COVERED else NOT_COVERED
        else:
            statuses = {b["status"] for b in ran}
            verdict = next(s for s in ("violated", "not-verified", "verified") if s in statuses)
        rows.append({"section": r.section.number, "section_title": r.section.title, "step": r.step.number,
                     "text": shorten(r.step.text), "verdict": verdict, "reason": r.reason, "via": r.via,
                     "scenarios": [{"id": b["id"], "title": b["title"], "status": b["status"]} for b in ran]})
    return {"lab": str(lab_path), "title": cov.lab.title, "rows": rows, "errors": cov.errors}


def lab_coverage_block(summary: Obj) -> list[str]:
    page = summary.get("lab_coverage")
    if not page:
        return []
    lines = ["", "## Lab coverage", "", f"Each step of {Path(page['lab']).name} and its verdict in this run.", "",
             "| section | step | text | verdict | scenarios |", "| --- | --- | --- | --- | --- |"]
    for row in page["rows"]:
        verdict = RUN_MARK.get(row["verdict"], row["verdict"])
        if row["verdict"] == MARKED and row["reason"]:
            verdict += f": {row['reason']}"
        scs = "; ".join(f"{s['title']} ({RUN_MARK[s['status']]})" for s in row["scenarios"])
        if row["via"] and scs:
            scs = f"as step {row['via']}: {scs}"
        lines.append(f"| {row['section']} | {row['step']} | {_cell(row['text'])} | {_cell(verdict)} | {_cell(scs)} |")
    lines += [f"- tag error: {e}" for e in page.get("errors") or []]
    return lines


def actions_block(summary: Obj) -> list[str]:
    """The Actions menus the scenarios asked of the cluster (dry runs): the lab's screenshots, in words."""
    shown = [(b, a) for b in summary["behaviours"] for a in b.get("actions") or []]
    if not shown:
        return []
    lines = ["", "## Actions menus (dry runs)", ""]
    for b, a in shown:
        ref = b["lab_section"] + (" step " + ", ".join(b["lab_steps"]) if b.get("lab_steps") else "")
        lines += [f"**{ref} — {b['title']}**: the {a['state']} VM offers {', '.join(a['offered']) or 'nothing'} "
                  f"(the lab shows {', '.join(a['expected'])})", "",
                  "| action | HTTP answer | message |", "| --- | --- | --- |"]
        lines += [f"| {act} | {code} | {_cell(msg) or '-'} |" for act, code, msg in a["rows"]]
        lines.append("")
    return lines[:-1]
