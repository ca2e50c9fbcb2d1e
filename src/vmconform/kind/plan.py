"""What ``--cluster kind`` installs: ``clusters/kind/install.yaml`` read into one plan."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")


class PlanError(ValueError):
    """install.yaml is missing or malformed: one line says what."""


@dataclass(frozen=True)
class Rollout:
    namespace: str
    kind: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class InstallPlan:
    directory: Path
    kind_config: Path
    node_image: str
    kind_version: str
    kubectl_version: str
    kubevirt_version: str
    kubevirt_operator: str
    kubevirt_cr: str
    kubevirt_namespace: str
    kubevirt_name: str
    rwo_class: str
    rwx_class: str
    storage_manifests: tuple[str, ...]
    rollouts: tuple[Rollout, ...]
    workers: int
    operator_rollout: Rollout
    check_image: str

    def worker_names(self, cluster_name: str) -> list[str]:
        """kind names nodes <cluster>-control-plane, <cluster>-worker, <cluster>-worker2, ..."""
        return [f"{cluster_name}-worker" + (str(i) if i > 1 else "") for i in range(1, self.workers + 1)]


def cluster_dir() -> Path:
    """``clusters/kind`` of the checkout (editable install), else of the current directory."""
    for base in (Path(__file__).resolve().parents[3], Path.cwd()):
        candidate = base / "clusters" / "kind"
        if (candidate / "install.yaml").is_file():
            return candidate
    raise PlanError("clusters/kind/install.yaml not found (run from a vmconform checkout)")


def check_version(text: str) -> str:
    if not VERSION_RE.match(text or ""):
        raise PlanError(f"KubeVirt version must look like v1.9.0, not {text!r}")
    return text


def _source(directory: Path, entry: str) -> str:
    if "://" in entry:
        return entry
    path = directory / entry
    if not path.is_file():
        raise PlanError(f"{path} (listed in install.yaml) does not exist")
    return str(path)


def _rollout(entry: Any) -> Rollout:
    ns, res_kind, name = str(entry).split("/")
    return Rollout(ns, res_kind, name)


def load_plan(kubevirt_version: str | None = None, directory: Path | None = None) -> InstallPlan:
    directory = directory or cluster_dir()
    try:
        data: dict[str, Any] = yaml.safe_load((directory / "install.yaml").read_text()) or {}
        kind, kubectl, kv, storage = data["kind"], data["kubectl"], data["kubevirt"], data["storage"]
        version = check_version(kubevirt_version or str(kv["version"]))
        kind_config = directory / kind["config"]
        config = yaml.safe_load(kind_config.read_text()) or {}
        workers = sum(1 for n in config.get("nodes") or [] if n.get("role") == "worker")
        rollouts = [_rollout(r) for r in storage.get("rollouts") or []]
        return InstallPlan(
            directory=directory, kind_config=kind_config, node_image=str(kind["node_image"]),
            kind_version=str(kind["version"]), kubectl_version=str(kubectl["version"]),
            kubevirt_version=version,
            kubevirt_operator=str(kv["operator"]).format(version=version),
            kubevirt_cr=_source(directory, str(kv["cr"]).format(version=version)),
            kubevirt_namespace=str(kv["namespace"]), kubevirt_name=str(kv["name"]),
            rwo_class=str(storage["rwo_class"]), rwx_class=str(storage["rwx_class"]),
            storage_manifests=tuple(_source(directory, str(m)) for m in storage.get("manifests") or []),
            rollouts=tuple(rollouts), workers=workers, operator_rollout=_rollout(kv["operator_rollout"]),
            check_image=str(storage["check_image"]),
        )
    except PlanError:
        raise
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise PlanError(f"{directory / 'install.yaml'} is not usable: {type(exc).__name__}: {exc}") from None
