"""Checking feature files against the step vocabulary before anything runs, with suggestions.

A misspelt step would otherwise surface as pytest-bdd's "Step definition is not found" in the
middle of a run, after a VM was already created.  :func:`check` parses the files with
pytest-bdd's own parser and reports every step no definition matches, with the closest known
phrasings (in the file's language first).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from . import vocabulary
from .vocabulary import KEYWORDS, StepDef

# the modules that define the suite's steps (the checkout's conftest.py loads the same list)
STEP_MODULES = ("steps.vm_lifecycle", "steps.vm_state", "steps.migration", "steps.storage", "steps.guest",
                "steps.maintenance", "steps.actions")


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    keyword: str
    text: str
    suggestions: tuple[str, ...]
    note: str = ""  # set for a problem that is not an unknown step

    def message(self, root: Path | None = None) -> str:
        where = _short(self.file, root)
        if self.note:
            return f"{where}:{self.line}: {self.note}"
        head = f"{where}:{self.line}: unknown step: {self.keyword.strip()} {self.text}"
        if not self.suggestions:
            return head + " (`vmconform steps` lists every step)"
        options = " or ".join(f'"{s}"' for s in self.suggestions)
        return f"{head} — did you mean {options}?"


def _short(path: Path, root: Path | None) -> str:
    try:
        return str(path.relative_to(root or Path.cwd()))
    except ValueError:
        return str(path)


def step_modules(root: Path) -> list[str]:
    """The step modules the checkout at ``root`` loads: its conftest.py's ``pytest_plugins``."""
    conftest = root / "conftest.py"
    if not conftest.is_file():
        return list(STEP_MODULES)
    spec = importlib.util.spec_from_file_location("_vmconform_checkout_conftest", conftest)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugins = getattr(module, "pytest_plugins", [])
    return [plugins] if isinstance(plugins, str) else list(plugins)


@contextmanager
def loaded_steps(root: Path) -> Iterator[list[StepDef]]:
    """Import the step modules of the checkout at ``root`` for a look at the vocabulary, then forget them.

    Forgetting them matters when pytest runs later in the same process: it imports them again
    itself, so that their asserts get rewritten and their step fixtures registered.
    """
    sys.path.insert(0, str(root))
    before = set(sys.modules)
    try:
        modules = step_modules(root)
        if all(name in sys.modules for name in modules):  # inside pytest, which loaded them already
            yield list(vocabulary.REGISTRY)
            return
        saved = list(vocabulary.REGISTRY)
        vocabulary.REGISTRY.clear()
        try:
            for name in modules:
                importlib.import_module(name)
            yield list(vocabulary.REGISTRY)
        finally:
            vocabulary.REGISTRY[:] = saved
    finally:
        sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            if name.split(".")[0] in {m.split(".")[0] for m in STEP_MODULES} | {"_vmconform_checkout_conftest"}:
                del sys.modules[name]


def check_sources(root: Path, sources: Sequence[Path | None], lang: str | None) -> tuple[int, list[str]]:
    """The feature files ``sources`` select (None: the lab's own) against the steps of the checkout at
    ``root``: how many files were checked, and one line per problem (none when every step is known)."""
    from .features import SelectionError, select

    try:
        files = [f for source in sources for f in select(root / "features", source, lang).files]
        with loaded_steps(root) as defs:
            problems = check(files, defs)
    except SelectionError as exc:
        return 0, [str(exc)]
    except Exception as exc:  # noqa: BLE001 - a feature file pytest-bdd cannot parse
        return 0, [f"cannot read the feature files: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"]
    return len(files), [p.message() for p in problems]


def suggest(kind: str, text: str, lang: str, defs: Sequence[StepDef], limit: int = 2) -> tuple[str, ...]:
    """The closest known steps to ``text``, as example lines (with their keyword), best first."""
    langs = [lang] + [other for other in vocabulary.LANGUAGES if other != lang] if lang in KEYWORDS else ["en"]
    scored: list[tuple[float, int, str]] = []
    for d in defs:
        for order, lg in enumerate(langs):
            ratio, line = max((difflib.SequenceMatcher(None, text.lower(), v.lower()).ratio(), v)
                              for v in d.variants(lg))
            # a step of the right type and language is preferred at equal likeness
            bonus = (0.05 if d.kind == kind else 0.0) - 0.1 * order
            scored.append((ratio + bonus, -order, f"{d.keyword(lg)} {line}"))
    scored.sort(reverse=True)
    best: list[str] = []
    for score, _, line in scored:
        if score < 0.5 or line in best:
            continue
        best.append(line)
        if len(best) == limit:
            break
    return tuple(best)


def check(files: Sequence[Path], defs: Sequence[StepDef]) -> list[Problem]:
    """Every step in ``files`` that no definition in ``defs`` matches (outlines checked per example row)."""
    from pytest_bdd.parser import FeatureParser

    problems: list[Problem] = []
    for path in files:
        feature = FeatureParser(str(path.parent), path.name).parse()
        if not feature.scenarios:
            problems.append(Problem(path, 1, "", "", (), note="no scenarios: a feature file needs at least one"))
        for template in feature.scenarios.values():
            problems += check_scenario(template, defs)
    unique = {(str(p.file), p.line, p.text): p for p in problems}
    return sorted(unique.values(), key=lambda p: (str(p.file), p.line))


def check_scenario(template: Any, defs: Sequence[StepDef]) -> list[Problem]:
    """The unknown steps of one pytest-bdd scenario template (background included)."""
    feature = template.feature
    path = Path(feature.filename)
    contexts = [ctx for ex in template.examples for ctx in ex.as_contexts()] or [{}]
    out: list[Problem] = []
    if not template.steps:
        described = (template.description or "").strip().splitlines()
        hint = f'; "{described[0].strip()}" was read as its description: is a keyword misspelt?' if described else ""
        out.append(Problem(path, template.line_number, template.keyword, template.name, (),
                           note=f'scenario "{template.name}" has no steps, so it could never fail{hint}'))
    for context in contexts:
        for step in template.render(context).steps:
            if not _known(step, defs):
                out.append(Problem(path, step.line_number, step.keyword, step.name,
                                   suggest(step.type, step.name, feature.language, defs)))
    return out


def _known(step: Any, defs: Sequence[StepDef]) -> bool:
    if any(d.kind == step.type and d.matches(step.name) for d in defs):
        return True
    # a step defined with pytest-bdd's own decorators (not in the vocabulary) counts as known too
    from pytest_bdd.steps import step_function_context_registry

    return any(c.type in (None, step.type) and c.parser.is_matching(step.name)
               for c in list(step_function_context_registry.values()))
