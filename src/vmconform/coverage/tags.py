"""What the feature files claim to verify (their ``@lab-X.Y`` and ``@step-N`` tags) and the steps an author
marks "not verifiable from the API" in ``not-verifiable.txt`` beside the features.

``not-verifiable.txt`` (beside the features, or in the folder above a translation folder) — one line per step,
the step written as its tags, then why::

    # lab steps no scenario can check through the Kubernetes API
    @lab-2.1 @step-1: navigating the console's menu (Virtualization → VirtualMachines)

A section tag with a suffix (``@lab-2.2-maintenance``) marks scenarios that go beyond the document's steps
(they are listed apart, their step tags are not the document's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MARKS_FILE = "not-verifiable.txt"
_TAG = re.compile(r"@([^\s@]+)")
_FEATURE = re.compile(r"^\s*(Feature|기능)\s*:\s*(.*)$")
_SCENARIO = re.compile(r"^\s*(Scenario Outline|Scenario Template|Scenario|Example|시나리오 개요|시나리오)\s*:\s*(.*)$")
_SECTION = re.compile(r"^lab-(\d+(?:\.\d+)*)(-[\w.-]+)?$")
_STEP = re.compile(r"^step-(\d+(?:\.\d+)*)$")
_MARK = re.compile(r"^\s*@lab-(\S+)\s+@step-(\S+?)\s*:\s*(.+?)\s*$")


class TagError(ValueError):
    """Feature files or marks that cannot be read; one line for the user."""


@dataclass
class Scenario:
    title: str
    file: Path
    line: int
    sections: list[str] = field(default_factory=list)  # "2.1"
    extensions: list[str] = field(default_factory=list)  # "2.2-maintenance"
    steps: list[str] = field(default_factory=list)  # "3", "3.1"


@dataclass(frozen=True)
class Mark:
    section: str
    step: str
    reason: str
    file: Path
    line: int


def feature_files(source: Path) -> list[Path]:
    """The feature files of a folder (not its sub-folders: those hold translations with the same tags)."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise TagError(f"--features {source}: no such file or folder")
    files = sorted(source.glob("*.feature"))
    if not files:
        raise TagError(f"--features {source}: no .feature files there")
    return files


def read_scenarios(path: Path) -> list[Scenario]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TagError(f"cannot read {path}: {exc}") from None
    pending: list[str] = []
    feature_tags: list[str] = []
    out: list[Scenario] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("@"):
            pending += _TAG.findall(stripped.split("#", 1)[0])
            continue
        if _FEATURE.match(line):
            feature_tags, pending = pending, []
            continue
        m = _SCENARIO.match(line)
        if m:
            out.append(_scenario(m.group(2), path, number, feature_tags + pending))
            pending = []
    return out


def _scenario(title: str, path: Path, line: int, tags: list[str]) -> Scenario:
    sc = Scenario(title, path, line)
    for tag in tags:
        s = _SECTION.match(tag)
        if s:
            (sc.extensions if s.group(2) else sc.sections).append(s.group(1) + (s.group(2) or ""))
            continue
        st = _STEP.match(tag)
        if st:
            sc.steps.append(st.group(1))
    return sc


def read_marks(folder: Path) -> list[Mark]:
    """The folder's marks; a translation folder (``features/ko``) without its own uses its parent's."""
    path = next((f / MARKS_FILE for f in (folder, folder.parent) if (f / MARKS_FILE).is_file()), None)
    if path is None:
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TagError(f"cannot read {path}: {exc}") from None
    marks = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _MARK.match(line)
        if not m:
            raise TagError(f"{path}:{number}: expected '@lab-X.Y @step-N: why it cannot be verified', "
                           f"got {line.strip()!r}")
        marks.append(Mark(m.group(1), m.group(2), m.group(3), path, number))
    return marks
