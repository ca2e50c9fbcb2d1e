"""vmconform: a conformance and validation suite for virtual-machine management on KubeVirt."""

from __future__ import annotations

__version__ = "0.1.0"
