"""Binds the lab's feature files to the step vocabulary in ``steps/``."""

from __future__ import annotations

from pytest_bdd import scenarios

scenarios(".")
