"""Options of the fault matrix: the same fault runs on another timing profile or emulated release.

    pytest tests/faults --fault-timing adversarial --fault-seed 7 --fault-kubevirt-version v1.4.0

By default (CI) the faults run on the ``fast`` profile and the emulator's default release; the longer
matrix (every fault × {oldest, newest release} × {fast, adversarial}) is the documented command in
``benchmarks/README.md`` ("Fault matrix").
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("vmconform-faults", "fault matrix (tests/faults)")
    g.addoption("--fault-timing", default="fast", help="emulated timing profile the fault runs use (default fast)")
    g.addoption("--fault-seed", default=None, help="emulator seed of the fault runs (default: none)")
    g.addoption("--fault-kubevirt-version", default=None,
                help="emulated KubeVirt release of the fault runs (default: the emulator's default)")


@pytest.fixture
def fault_run_args(request: pytest.FixtureRequest) -> list[str]:
    """Extra ``vmconform run`` arguments that place a fault run in the matrix."""
    opt = request.config.getoption
    args = []
    if opt("fault_timing") != "fast":
        args += ["--emulator-timing", opt("fault_timing")]
    if opt("fault_seed") is not None:
        args += ["--emulator-seed", str(opt("fault_seed"))]
    if opt("fault_kubevirt_version"):
        args += ["--kubevirt-version", opt("fault_kubevirt_version")]
    return args
