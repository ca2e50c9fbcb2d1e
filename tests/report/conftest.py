"""Enable pytest's own ``pytester`` fixture for the report tests.

``pytest_plugins = ["pytester"]`` is only allowed in a top-level conftest, and
this directory is not one when the whole suite runs, so register the plugin
when this conftest is loaded (pytest replays ``pytest_addoption`` and
``pytest_configure`` for late plugins).  If a top-level conftest or ``-p
pytester`` already enabled it, this does nothing.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
