"""``vmconform coverage LAB.md [--features PATH]``: which steps of a lab document the scenarios verify."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import exitcodes

UNCOVERED = 1  # a step neither covered nor marked, or a tag naming a section/step the lab does not have


def add_parser(sub: Any) -> None:
    p = sub.add_parser("coverage", help="print which steps of a lab document the scenarios verify (by their tags)",
                       description="Each numbered section and step of LAB.md with the scenarios that verify it "
                                   "(their @lab-X.Y and @step-N tags), 'not verifiable from the API' for the steps "
                                   "listed in not-verifiable.txt beside the features, or 'not covered'. Exit 1 when a "
                                   "step is neither covered nor marked, or a tag names a step the lab does not have.")
    p.add_argument("lab", metavar="LAB.md", help="the lab document (Markdown, Korean or English)")
    p.add_argument("--features", default=None, metavar="PATH",
                   help="feature files: a .feature file or a folder (its sub-folders hold translations and are "
                        "not read); default: the suite's features/")
    p.set_defaults(func=run)


def default_features() -> Path:
    from .run_cmd import project_root

    return project_root() / "features"


def run(args: argparse.Namespace) -> int:
    from ..coverage.lab import LabError, load
    from ..coverage.report import markdown
    from ..coverage.table import build
    from ..coverage.tags import TagError

    features = Path(args.features) if args.features else default_features()
    try:
        cov = build(load(Path(args.lab)), features)
    except (LabError, TagError) as exc:
        print(f"vmconform: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    sys.stdout.write(markdown(cov))
    for err in cov.errors:
        print(f"vmconform: wrong tag: {err}", file=sys.stderr)
    for row in cov.uncovered:
        print(f"vmconform: not covered: {row.ref} ({row.step.text[:50]}): no scenario is tagged "
              f"@lab-{row.section.number} @step-{row.step.number} and {features} has no not-verifiable.txt line "
              f"for it", file=sys.stderr)
    return 0 if cov.complete else UNCOVERED
