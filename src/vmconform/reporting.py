"""Allure helpers that do nothing when Allure is not recording."""

from __future__ import annotations

from typing import Any

try:
    import allure
except ImportError:  # pragma: no cover - allure-python-commons is a dependency
    allure = None  # type: ignore[assignment]

EPIC = "VM management lab"


def attach_text(name: str, body: str, kind: str = "text") -> None:
    if allure is None:
        return
    types = {"text": allure.attachment_type.TEXT, "yaml": allure.attachment_type.YAML,
             "json": allure.attachment_type.JSON}
    try:
        allure.attach(body, name=name, attachment_type=types.get(kind, allure.attachment_type.TEXT))
    except Exception:  # noqa: BLE001 - reporting must never fail a scenario
        pass


def label_scenario(feature: str, story: str) -> None:
    """Epic, feature (the lab section) and story (the scenario); the Gherkin tags come from allure-pytest-bdd."""
    if allure is None:
        return
    try:
        allure.dynamic.epic(EPIC)
        allure.dynamic.feature(feature)
        allure.dynamic.story(story)
    except Exception:  # noqa: BLE001
        pass


def parameter(name: str, value: Any) -> None:
    if allure is None:
        return
    try:
        allure.dynamic.parameter(name, value)
    except Exception:  # noqa: BLE001
        pass
