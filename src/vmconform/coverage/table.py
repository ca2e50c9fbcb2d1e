"""The coverage table: each step of the lab with the scenarios that verify it, its mark, or "not covered"."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .lab import Lab, Section, Step
from .tags import Mark, Scenario, feature_files, read_marks, read_scenarios

COVERED = "covered"
MARKED = "not verifiable from the API"
NOT_COVERED = "not covered"


@dataclass
class Row:
    section: Section
    step: Step
    status: str
    scenarios: list[Scenario] = field(default_factory=list)
    via: str = ""  # a sub-step covered by its parent's scenarios: the parent's number
    reason: str = ""  # why a marked step cannot be verified

    @property
    def ref(self) -> str:
        return f"{self.section.number} step {self.step.number}"


@dataclass
class Coverage:
    lab: Lab
    rows: list[Row]
    errors: list[str]  # wrong tags and marks: "file:line: …"
    extensions: dict[str, list[Scenario]]  # "2.2-maintenance" → scenarios beyond the document

    @property
    def uncovered(self) -> list[Row]:
        return [r for r in self.rows if r.status == NOT_COVERED]

    @property
    def complete(self) -> bool:
        return not self.errors and not self.uncovered


def _where(path: Path, line: int) -> str:
    try:
        shown = path.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = path
    return f"{shown}:{line}"


def build(lab: Lab, features: Path) -> Coverage:
    scenarios = [sc for f in feature_files(features) for sc in read_scenarios(f)]
    marks = read_marks(features if features.is_dir() else features.parent)
    errors: list[str] = []
    claims: dict[tuple[str, str], list[Scenario]] = {}
    extensions: dict[str, list[Scenario]] = {}
    for sc in scenarios:
        where = _where(sc.file, sc.line)
        for ext in sc.extensions:
            base = ext.split("-", 1)[0]
            if lab.section(base) is None:
                errors.append(f"{where}: @lab-{ext}: the lab has no section {base} (scenario {sc.title!r})")
            extensions.setdefault(ext, []).append(sc)
        for number in sc.sections:
            section = lab.section(number)
            if section is None:
                errors.append(f"{where}: @lab-{number}: the lab has no section {number} (scenario {sc.title!r})")
                continue
            for step in sc.steps:
                if section.step(step) is None:
                    errors.append(f"{where}: @step-{step}: section {number} has no step {step} "
                                  f"(scenario {sc.title!r})")
                else:
                    claims.setdefault((number, step), []).append(sc)
        if sc.steps and not sc.sections and not sc.extensions:
            errors.append(f"{where}: @step-{sc.steps[0]} without a @lab-X.Y section tag (scenario {sc.title!r})")
    marked: dict[tuple[str, str], Mark] = {}
    for m in marks:
        section = lab.section(m.section)
        if section is None or section.step(m.step) is None:
            what = f"section {m.section}" if section is None else f"step {m.step} in section {m.section}"
            errors.append(f"{_where(m.file, m.line)}: @lab-{m.section} @step-{m.step}: the lab has no {what}")
        else:
            marked[(m.section, m.step)] = m
    rows = []
    for section in lab.sections:
        for step in section.steps:
            key = (section.number, step.number)
            row = Row(section, step, NOT_COVERED, list(claims.get(key, [])))
            if row.scenarios:
                row.status = COVERED
            elif key in marked:
                row.status, row.reason = MARKED, marked[key].reason
            elif step.parent and claims.get((section.number, step.parent)):
                row.status, row.via = COVERED, step.parent
                row.scenarios = list(claims[(section.number, step.parent)])
            elif step.parent and (section.number, step.parent) in marked:
                row.status, row.via, row.reason = MARKED, step.parent, marked[(section.number, step.parent)].reason
            rows.append(row)
    return Coverage(lab, rows, errors, extensions)
