"""A run's "lab coverage" page: each step of the lab document with this run's verdict, in summary.json/.md
(``summary["lab_coverage"]``) and as a page of its own in the Allure report."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from .lab import LabError
from .report import RUN_MARK, lab_coverage_block, run_coverage
from .table import MARKED
from .tags import TagError

Obj = dict[str, Any]
SUITE_LAB = Path("lab") / "vm_management.ko.md"  # in the checkout, beside features/
PAGE_NAME = "Lab coverage"


def lab_and_features(config: Any) -> tuple[Path, Path] | None:
    """``--lab`` (with ``--features`` or the suite's features), else the suite's lab for the suite's features."""
    root = Path(str(config.rootpath))
    lab = config.getoption("vmconform_lab", None)
    features = config.getoption("vmconform_features", None)
    suite_features = next((p / "features" for p in (Path.cwd(), root) if (p / SUITE_LAB).is_file()), None)
    if lab:
        source = Path(features) if features else suite_features
        return (Path(lab), source) if source is not None else None
    if features or suite_features is None:
        return None
    return suite_features.parent / SUITE_LAB, suite_features


def add_lab_coverage(config: Any, summary: Obj) -> None:
    """Put the page into the summary and, when Allure records, into its results. Never fails the run."""
    found = lab_and_features(config)
    if found is None:
        return
    lab, features = found
    try:
        page = run_coverage(lab, features, summary["behaviours"])
    except (LabError, TagError, OSError) as exc:
        summary["lab_coverage"] = {"lab": str(lab), "title": "", "rows": [], "errors": [str(exc)]}
        return
    summary["lab_coverage"] = page
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        write_allure_page(Path(alluredir), page)


def _status(verdicts: set[str]) -> str:
    if "violated" in verdicts:
        return "failed"
    return "passed" if verdicts <= {"verified", MARKED} else "skipped"


def write_allure_page(alluredir: Path, page: Obj) -> None:
    """One Allure result named "Lab coverage": a step per lab step with its verdict, the table attached."""
    alluredir.mkdir(parents=True, exist_ok=True)
    attachment = f"{uuid.uuid4()}-attachment.txt"
    (alluredir / attachment).write_text("\n".join(lab_coverage_block({"lab_coverage": page})).strip() + "\n")
    steps = []
    for row in page["rows"]:
        verdict = RUN_MARK.get(row["verdict"], row["verdict"])
        steps.append({"name": f"{row['section']} step {row['step']}: {row['text']} — {verdict}",
                      "status": _status({row["verdict"]}), "stage": "finished"})
    result = {
        "uuid": str(uuid.uuid4()), "historyId": "vmconform-lab-coverage", "name": PAGE_NAME,
        "fullName": f"{PAGE_NAME}: {Path(page['lab']).name}", "status": _status({r["verdict"] for r in page["rows"]}),
        "stage": "finished", "description": f"Each step of {Path(page['lab']).name} ({page.get('title', '')}) "
                                            f"and its verdict in this run.",
        "steps": steps,
        "attachments": [{"name": PAGE_NAME, "source": attachment, "type": "text/plain"}],
        "labels": [{"name": "epic", "value": "VM management lab"}, {"name": "feature", "value": PAGE_NAME},
                   {"name": "suite", "value": PAGE_NAME}],
    }
    (alluredir / f"{result['uuid']}-result.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
