"""Evidence for a failed scenario: YAML of what it touched, its events, and the timelines it saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .kube.client import ApiCallFailed, Cluster, ClusterUnreachable
from .kube.kinds import EVENT, POD, PVC, VM, VMI, VMIM
from .kube.waits import Timeline


def collect(cluster: Cluster, namespace: str, timelines: list[Timeline]) -> dict[str, str]:
    """Named text documents describing the namespace's state now."""
    docs: dict[str, str] = {}
    for kind, name in ((VM, "vms"), (VMI, "vmis"), (VMIM, "migrations"), (POD, "launcher-pods"), (PVC, "pvcs")):
        try:
            items, _ = cluster.list(kind, namespace)
        except (ApiCallFailed, ClusterUnreachable) as exc:
            docs[f"{name}.yaml"] = f"# could not list {kind.plural}: {exc}\n"
            continue
        docs[f"{name}.yaml"] = yaml.safe_dump_all(items, sort_keys=False) if items else "# none\n"
    try:
        events, _ = cluster.list(EVENT, namespace)
        events.sort(key=lambda e: (e.get("lastTimestamp") or e.get("metadata", {}).get("creationTimestamp") or ""))
        docs["events.txt"] = "\n".join(_event_line(e) for e in events) + "\n" if events else "(no events)\n"
    except (ApiCallFailed, ClusterUnreachable) as exc:
        docs["events.txt"] = f"could not list events: {exc}\n"
    if timelines:
        docs["timeline.md"] = "\n\n".join(t.table() for t in timelines) + "\n"
    return docs


def _event_line(e: dict[str, Any]) -> str:
    obj = e.get("involvedObject") or {}
    when = e.get("lastTimestamp") or (e.get("metadata") or {}).get("creationTimestamp") or ""
    return f"{when} {e.get('type', '')} {e.get('reason', '')} {obj.get('kind', '')}/{obj.get('name', '')}: {e.get('message', '')}"


def write(report_dir: Path, scenario_slug: str, docs: dict[str, str]) -> Path:
    target = report_dir / "evidence" / scenario_slug
    target.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (target / name).write_text(text)
    return target
