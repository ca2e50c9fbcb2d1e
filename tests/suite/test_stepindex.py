"""The step index (vmconform.stepindex) finds the same definitions as pytest-bdd's own search."""

from __future__ import annotations

import pytest

from vmconform import stepindex

pytest_plugins = ["pytester"]

FEATURE = """Feature: values
  Scenario: a value
    Given a value
    Then the value is {expected}
"""

MODULE = '''
from pytest_bdd import given, parsers, scenarios, then

scenarios("{name}.feature")

{override}

@then(parsers.parse("the value is {{expected:d}}"))
def _check(value, expected):
    assert value == expected
'''

OVERRIDE = '''
@given("a value", target_fixture="value")
def _value():
    return {value}
'''

CONFTEST = '''
from pytest_bdd import given

@given("a value", target_fixture="value")
def _shared_value():
    return 0
'''


@pytest.fixture(autouse=True)
def _index_installed() -> None:
    assert stepindex.install(), "the pinned pytest-bdd should get the index"


def test_each_module_sees_its_own_definitions(pytester: pytest.Pytester) -> None:
    """The same step text is defined in the conftest and again in two of three modules: each module's
    scenario runs the definition pytest picks for it, whatever ran before."""
    pytester.makeconftest(CONFTEST)
    for name, value in (("one", 1), ("two", 2), ("three", None)):
        pytester.makefile(".feature", **{name: FEATURE.format(expected=0 if value is None else value)})
        override = "" if value is None else OVERRIDE.format(value=value)
        pytester.makepyfile(**{f"test_{name}": MODULE.format(name=name, override=override)})
    result = pytester.runpytest("-p", "no:vmconform", "-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=3)


def test_an_undefined_step_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makefile(".feature", lone="Feature: f\n  Scenario: s\n    Given a step nobody defined\n")
    pytester.makepyfile(test_lone='from pytest_bdd import scenarios\nscenarios("lone.feature")\n')
    result = pytester.runpytest("-p", "no:vmconform", "-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*StepDefinitionNotFoundError*a step nobody defined*"])


def test_an_unchecked_pytest_bdd_keeps_its_own_search(monkeypatch: pytest.MonkeyPatch) -> None:
    def own(step, fixturemanager, node):  # type: ignore[no-untyped-def]
        return iter(())

    monkeypatch.setattr(stepindex.bdd_scenario, "find_fixturedefs_for_step", own)
    monkeypatch.setattr(stepindex, "version", lambda name: "10.0.0")
    assert stepindex.install() is False
    assert stepindex.bdd_scenario.find_fixturedefs_for_step is own
