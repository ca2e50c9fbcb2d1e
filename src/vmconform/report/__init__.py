"""Human-readable reports built from the suite's Allure results."""

from __future__ import annotations

from .html import BuildResult, build_html

__all__ = ["BuildResult", "build_html"]
