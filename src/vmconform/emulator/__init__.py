"""The embedded emulated KubeVirt cluster: a real HTTPS Kubernetes API server on loopback."""

from __future__ import annotations

from .cluster import EmulatedCluster, Emulator, Options

__all__ = ["EmulatedCluster", "Emulator", "Options"]
