"""Allure's environment.properties and categories.json, written beside the results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATEGORIES = [
    {"name": "Cluster behaviour violated", "matchedStatuses": ["failed"],
     "messageRegex": "[\\s\\S]*"},
    {"name": "Cluster unreachable or infrastructure", "matchedStatuses": ["broken"],
     "messageRegex": "[\\s\\S]*(ClusterUnreachable|cannot reach|connection|Unauthorized|timed out)[\\s\\S]*"},
    {"name": "Suite defect", "matchedStatuses": ["broken"], "messageRegex": "[\\s\\S]*"},
    {"name": "Not verified", "matchedStatuses": ["skipped"], "messageRegex": "[\\s\\S]*"},
]


def write(alluredir: Path, summary: dict[str, Any]) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    c = summary.get("cluster") or {}
    env = {
        "backend": c.get("backend", ""),
        "api.server": c.get("host", ""),
        "kubernetes.version": c.get("kubernetes_version", ""),
        "kubevirt.version": c.get("kubevirt_version", ""),
        "nodes": ", ".join(c.get("nodes") or []),
        "storage.classes": ", ".join(c.get("storage_classes") or []),
        "suite.version": summary["run"].get("suite_version", ""),
        "run.id": summary["run"].get("id", ""),
        "verdict": summary.get("verdict", ""),
    }
    if summary.get("emulated"):
        env["notice"] = "emulated cluster - not a certification"
    lines = [f"{k}={_escape(str(v))}" for k, v in env.items()]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n")
    (alluredir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", " ")
