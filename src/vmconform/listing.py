"""``vmconform run --list``: the scenarios a run would select, in the lab's order, without running any.

pytest collects the feature files with the run's own selection (``-k``, ``-m``, ``--lang``, ``--features``);
nothing reaches a cluster because the suite's session (and the emulated cluster, kind, the Lease) only
opens when a scenario is set up, and ``--collect-only`` sets none up.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from . import verdict


@dataclass
class Listed:
    title: str
    lab_section: str
    lab_steps: list[str]
    tags: list[str]
    language: str
    feature_file: str

    def order(self) -> tuple[Any, ...]:
        return verdict.lab_order(self.lab_section, self.lab_steps, self.language, self.title)


@dataclass
class Lister:
    """A pytest plugin object that keeps the collected scenarios."""

    items: list[Listed] = field(default_factory=list)

    def pytest_collection_finish(self, session: Any) -> None:
        from .controller import behaviour_meta, scenario_of

        for item in session.items:
            meta = behaviour_meta(item)
            if meta is None:
                continue
            filename = Path(scenario_of(item).feature.filename)
            try:
                shown = str(filename.resolve().relative_to(session.config.rootpath.resolve()))
            except ValueError:
                shown = str(filename)
            self.items.append(Listed(meta["title"], meta["lab_section"], meta["lab_steps"], meta["tags"],
                                     meta.get("language", "en"), shown))


def collect(argv: Sequence[str]) -> tuple[int, list[Listed], str]:
    """Collect only; pytest's exit code, the scenarios in the lab's order and pytest's own output."""
    import pytest

    lister = Lister()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = int(pytest.main([*argv, "--collect-only", "-q"], plugins=[lister]))
    return code, sorted(lister.items, key=Listed.order), out.getvalue()


def render(items: list[Listed]) -> list[str]:
    """One heading per lab section, one line per scenario: its lab steps, title, tags and feature file."""
    lines: list[str] = []
    heading = None
    for it in items:
        head = verdict.section_title(it.lab_section, it.language) or (
            f"lab {it.lab_section}" if it.lab_section else "outside the lab's sections")
        if head != heading:
            if lines:
                lines.append("")
            lines.append(head)
            heading = head
        steps = ("step " + ", ".join(it.lab_steps)) if it.lab_steps else "-"
        lines.append(f"  {steps:<12} {it.title}")
        lines.append(f"  {'':<12} {' '.join('@' + t for t in it.tags)}  ({it.feature_file})")
    lines.append("")
    lines.append(f"{len(items)} scenario{'s' if len(items) != 1 else ''} selected")
    return lines
