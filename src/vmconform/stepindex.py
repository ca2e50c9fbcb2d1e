"""A step's definition looked up among the step definitions of its type, once per step text.

pytest-bdd finds the definition of every step it runs by asking pytest, for each fixture name of the
session, which definitions the test can see, and trying those that are step definitions against the
step's text (``pytest_bdd.scenario.find_fixturedefs_for_step``): with the suite's steps in two
languages that is about 1.5 ms a step, the largest part of what the suite itself adds between two
steps (``benchmarks/suite_overhead.py``). Here the same search skips, by name, every fixture that is
not a step definition of the step's type (pytest-bdd names them ``pytestbdd_stepdef_<type>_<text>``,
``*`` for any type), and its answer is kept for the step's text: it only depends on the step and on
which fixtures the test sees, the same for every test of one module and class once collected.

Installed only for the pytest-bdd releases it was checked against (the lookup is pytest-bdd's own
function, not a public API); any other release keeps pytest-bdd's lookup untouched.
"""

from __future__ import annotations

import importlib
import weakref
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Iterable, Iterator

from pytest_bdd.compat import get_fixture_names, getfixturedefs
from pytest_bdd.steps import StepNamePrefix, step_function_context_registry

bdd_scenario = importlib.import_module("pytest_bdd.scenario")  # the module (the package exports a function of that name)

CHECKED_VERSIONS = ("9.0.1",)
MARK = "_vmconform_step_index"

Lookup = Callable[[Any, Any, Any], Iterable[Any]]


def _visibility(node: Any) -> tuple[Any, ...]:
    """Tests that see the same fixtures: one module (its path) and class."""
    cls = getattr(node, "cls", None)
    return (str(getattr(node, "path", "")), getattr(cls, "__qualname__", None))


def _search(step: Any, fixturemanager: Any, node: Any, visible: dict[str, list[Any]]) -> Iterator[Any]:
    """pytest-bdd's search, over the step definitions of the step's type only; ``visible`` keeps, per
    fixture name, the definitions the test's module and class see."""
    prefixes = (f"{StepNamePrefix.step_def.value}_{step.type}_", f"{StepNamePrefix.step_def.value}_*_")
    for name in get_fixture_names(fixturemanager=fixturemanager):
        if not name.startswith(prefixes):
            continue
        defs = visible.get(name)
        if defs is None:
            defs = visible[name] = list(getfixturedefs(fixturemanager, name, node) or [])
        for fixturedef in defs:
            context = step_function_context_registry.get(fixturedef.func)
            if context is None or (context.type is not None and context.type != step.type):
                continue
            if context.parser.is_matching(step.name):
                yield fixturedef


class _Index:
    """Per fixture manager: answers per (module, class, step type, text); definitions per (module, class, name)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[Any, ...], list[Any]] = {}
        self.visible: dict[tuple[Any, ...], dict[str, list[Any]]] = {}


def indexed() -> Lookup:
    """The search with its answers kept per fixture manager, module/class and step."""
    indexes: weakref.WeakKeyDictionary[Any, _Index] = weakref.WeakKeyDictionary()

    def find_fixturedefs_for_step(step: Any, fixturemanager: Any, node: Any) -> Iterator[Any]:
        index = indexes.get(fixturemanager)
        if index is None:
            index = indexes[fixturemanager] = _Index()
        vis = _visibility(node)
        key = (*vis, step.type, step.name)
        found = index.answers.get(key)
        if found is None:
            found = index.answers[key] = list(_search(step, fixturemanager, node, index.visible.setdefault(vis, {})))
        return iter(found)

    setattr(find_fixturedefs_for_step, MARK, True)
    return find_fixturedefs_for_step


def install() -> bool:
    """Use the index for this process; False (and nothing changed) on an unchecked pytest-bdd."""
    current = bdd_scenario.find_fixturedefs_for_step
    if getattr(current, MARK, False):
        return True
    try:
        installed = version("pytest-bdd")
    except PackageNotFoundError:
        return False
    if installed not in CHECKED_VERSIONS:
        return False
    bdd_scenario.find_fixturedefs_for_step = indexed()  # type: ignore[assignment]
    return True
