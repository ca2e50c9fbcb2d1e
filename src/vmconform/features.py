"""Which feature files a run binds: the lab's own (``--lang en|ko|all``) or a lab author's (``--features``).

``features/test_lab.py`` asks :func:`selected` for the files; the plugin sets the selection from
the options before collection (in every pytest-xdist worker too, which gets the same options).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LANGS = ("en", "ko", "all")
_LANGUAGE_LINE = re.compile(r"^\s*#\s*language\s*:\s*([\w-]+)\s*$")


class SelectionError(ValueError):
    """A selection that cannot run; the message is one line for the user."""


@dataclass(frozen=True)
class Selection:
    files: tuple[Path, ...]
    lang: str
    source: Path


@dataclass(frozen=True)
class Choice:
    """What the options asked for: ``source`` None means the lab's own features."""

    source: Path | None = None
    lang: str | None = None


_choice = Choice()


def language_of(path: Path) -> str:
    """The Gherkin language a feature file declares (``# language: ko``), ``en`` when it declares none."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            m = _LANGUAGE_LINE.match(line)
            if m:
                return m.group(1)
            if not line.lstrip().startswith("#"):
                break
    return "en"


def select(builtin: Path, source: Path | None = None, lang: str | None = None) -> Selection:
    """The feature files to run.

    ``source`` is a feature file or a folder searched recursively (default: ``builtin``, the
    lab's own features: English at the top, each translation in its own folder); ``lang`` keeps
    the files written in that language (``all`` keeps every file; default ``en`` for the lab's
    own features, ``all`` for a lab author's).
    """
    root = (source or builtin).expanduser()
    if lang is None:
        lang = "en" if source is None else "all"
    if lang not in LANGS:
        raise SelectionError(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    if not root.exists():
        raise SelectionError(f"--features {root}: no such file or folder")
    if root.is_file():
        if root.suffix != ".feature":
            raise SelectionError(f"--features {root}: not a .feature file")
        found = [root.resolve()]
    else:
        found = sorted(p.resolve() for p in root.rglob("*.feature"))
    if not found:
        raise SelectionError(f"--features {root}: no .feature files there")
    try:
        langs = {p: language_of(p) for p in found}
    except (OSError, UnicodeDecodeError) as exc:
        raise SelectionError(f"cannot read the feature files under {root}: {exc}") from None
    files = tuple(p for p in found if lang == "all" or langs[p] == lang)
    if not files:
        there = ", ".join(sorted(set(langs.values())))
        raise SelectionError(f"no feature files in {lang!r} under {root} (its files are in: {there}); "
                             f"choose --lang {' or '.join(sorted(set(langs.values())))} or all")
    return Selection(files=files, lang=lang, source=root)


def choose(choice: Choice) -> None:
    """Set what the next collection binds (the plugin calls this from the options)."""
    global _choice
    _choice = choice


def selected(builtin: Path) -> tuple[str, ...]:
    """The files ``features/test_lab.py`` binds; ``builtin`` is the lab's own features folder."""
    return tuple(str(p) for p in select(builtin, _choice.source, _choice.lang).files)
