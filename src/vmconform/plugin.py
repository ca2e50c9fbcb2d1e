"""pytest plugin entry point (the conformance suite's options and fixtures)."""

from __future__ import annotations
