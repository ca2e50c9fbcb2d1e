"""The labels every object of a run carries; cleanup selects by them only."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "vmconform"
RUN_ID = "vmconform.io/run-id"
SCENARIO = "vmconform.io/scenario"
ROLE = "vmconform.io/role"  # "run": the namespace that holds the run's Lease
ROLE_RUN = "run"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def run_labels(run_id: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGED_BY_VALUE, RUN_ID: run_id}


def run_selector(run_id: str | None = None) -> str:
    sel = f"{MANAGED_BY}={MANAGED_BY_VALUE}"
    return f"{sel},{RUN_ID}={run_id}" if run_id else sel


def slug(text: str, limit: int = 30) -> str:
    """An ASCII name part (namespaces, label values); text without ASCII letters gets a stable short hash."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(s) < 3 and text.strip():
        s = (s + "-" if s else "s-") + hashlib.sha1(text.encode()).hexdigest()[:8]
    return s[:limit].rstrip("-") or "x"


def text_id(text: str, limit: int = 80) -> str:
    """A readable id in any script (summary entries, evidence files): words joined by '-'."""
    s = re.sub(r"[\W_]+", "-", text.lower()).strip("-")
    return s[:limit].rstrip("-") or "x"
