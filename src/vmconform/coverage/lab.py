"""A lab document: numbered sections (``### 2.1 …``) and their numbered steps, with nested sub-steps (``3.1``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_HEADING = re.compile(r"^(#{1,6})\s+(\d+(?:\.\d+)*)\.?\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)(\d+)[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>|<br\s*/?>", re.I)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_`]+")
TEXT_WIDTH = 60  # characters of a step's text in the tables


class LabError(ValueError):
    """A document that cannot be read as a lab; one line for the user."""


@dataclass
class Step:
    number: str  # "3", or "3.1" for a sub-step
    text: str

    @property
    def parent(self) -> str | None:
        return self.number.rsplit(".", 1)[0] if "." in self.number else None


@dataclass
class Section:
    number: str  # "2.1"
    title: str
    steps: list[Step] = field(default_factory=list)

    def step(self, number: str) -> Step | None:
        return next((s for s in self.steps if s.number == number), None)


@dataclass
class Lab:
    path: Path
    title: str
    sections: list[Section]

    def section(self, number: str) -> Section | None:
        return next((s for s in self.sections if s.number == number), None)


def plain(text: str) -> str:
    """A line of Markdown as plain text: images and tags dropped, links and emphasis unwrapped."""
    text = _LINK.sub(r"\1", _IMAGE.sub("", text))
    return " ".join(_MARKUP.sub("", text).split())


def shorten(text: str, width: int = TEXT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def parse(text: str, path: Path) -> Lab:
    title, sections, current = "", [], None
    stack: list[tuple[int, str]] = []  # (indent, number) of the open list items
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if not title and line.startswith("# "):
            title = plain(line[2:])
            continue
        h = _HEADING.match(line)
        if h:
            current = Section(h.group(2), plain(h.group(3)))
            sections.append(current)
            stack = []
            continue
        m = _ITEM.match(line)
        if current is None or not m:
            continue
        indent = len(m.group(1).expandtabs(4))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        number = f"{stack[-1][1]}.{m.group(2)}" if stack else m.group(2)
        stack.append((indent, number))
        current.steps.append(Step(number, plain(m.group(3))))
    if not any(s.steps for s in sections):
        raise LabError(f"{path}: no numbered section (## 2.1 …) with numbered steps (1. …) found")
    return Lab(path, title, sections)


def load(path: Path) -> Lab:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(f"cannot read {path}: {exc}") from None
    return parse(text, path)
