"""The KubeVirt CR of ``--cluster kind``: rendered with ``useEmulation`` explicit, and when it counts as ready.

Ready for the requested release means what virt-operator reports once every component of THAT
release is up (``pkg/virt-operator/util/client.go`` and ``kubevirt.go`` @ v1.9.0; KubeVirt's own
``EnsureKubevirtReadyWithTimeout``): ``status.observedKubeVirtVersion`` is the requested version,
``Available=True``, ``Progressing=False``, phase ``Deployed`` and the latest generation observed.
``phase: Deployed`` alone is not enough: a kept cluster asked for another release stays ``Deployed``
while the operator updates it (``Progressing=True``, the old ``observedKubeVirtVersion``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
DEPLOYED = "Deployed"
AVAILABLE, PROGRESSING = "Available", "Progressing"


def render_cr(template: Path, *, use_emulation: bool) -> Obj:
    """The CR of ``template`` with ``spec.configuration.developerConfiguration.useEmulation`` set explicitly."""
    cr: Obj = yaml.safe_load(template.read_text())
    dev = cr.setdefault("spec", {}).setdefault("configuration", {}).setdefault("developerConfiguration", {})
    dev["useEmulation"] = bool(use_emulation)
    return cr


def write_cr(cr: Obj, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(cr, sort_keys=False))
    return dest


def _condition(status: Obj, kind: str) -> str | None:
    for c in status.get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return None


def kubevirt_ready(version: str) -> Any:
    """A predicate over the CR: ready for ``version`` (see the module text)."""
    def ready(obj: Obj | None) -> bool:
        if obj is None:
            return False
        status = obj.get("status") or {}
        observed, generation = status.get("observedGeneration"), obj["metadata"].get("generation")
        caught_up = observed is not None and generation is not None and int(observed) >= int(generation)
        return (status.get("phase") == DEPLOYED and caught_up
                and status.get("observedKubeVirtVersion") == version
                and _condition(status, AVAILABLE) == "True" and _condition(status, PROGRESSING) == "False")
    return ready


def describe_kubevirt(obj: Obj | None) -> str:
    if obj is None:
        return "<absent>"
    status = obj.get("status") or {}
    parts = [str(status.get("phase") or "<no phase>"),
             f"observed {status.get('observedKubeVirtVersion') or '<none>'}"]
    if status.get("targetKubeVirtVersion"):
        parts[-1] += f" (target {status['targetKubeVirtVersion']})"
    for kind in (AVAILABLE, PROGRESSING):
        value = _condition(status, kind)
        if value is not None:
            parts.append(f"{kind}={value}")
    return ", ".join(parts)
