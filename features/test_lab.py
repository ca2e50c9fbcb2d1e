"""Binds the selected feature files (``--lang``, ``--features``) to the step vocabulary in ``steps/``."""

from __future__ import annotations

from pathlib import Path

from pytest_bdd import scenarios

from vmconform.features import selected

scenarios(*selected(Path(__file__).parent))
