"""Where the suite's cluster comes from: the embedded emulator, or a kubeconfig."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .emulator import EmulatedCluster, Options

BACKENDS = ("emulated", "kind")


@dataclass
class EmulatorSettings:
    nodes: int = 2
    timing: str = "fast"
    seed: int | None = None
    faults: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
    kubevirt_version: str | None = None  # the emulated KubeVirt release (None: the default profile)


class RunningEmulator:
    """An in-process emulated cluster with its kubeconfig in a private temp dir."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="vmconform-emulator-")
        self.kubeconfig = Path(self._tmp.name) / "kubeconfig"
        self.cluster = EmulatedCluster(
            Options(nodes=settings.nodes, timing=settings.timing, seed=settings.seed,
                    faults=tuple(settings.faults), extra=dict(settings.extra),
                    kubevirt_version=settings.kubevirt_version),
            kubeconfig_path=self.kubeconfig,
        )

    def start(self) -> "RunningEmulator":
        self.cluster.start()
        return self

    def close(self) -> None:
        self.cluster.close()
        self._tmp.cleanup()
