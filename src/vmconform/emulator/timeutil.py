"""Timestamps as the API writes them, and kubectl's humanised ages."""

from __future__ import annotations

from datetime import datetime, timezone


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def human_age(text: str | None) -> str:
    """kubectl's short duration: 5s, 3m, 2m30s, 4h, 3d."""
    if not text:
        return "<unknown>"
    secs = int((datetime.now(timezone.utc) - parse_rfc3339(text)).total_seconds())
    secs = max(secs, 0)
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        s = secs % 60
        return f"{mins}m{s}s" if s else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"
