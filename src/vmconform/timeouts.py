"""The one timeout table (defaults from KubeVirt's own functional tests, §6) and its scale factor."""

from __future__ import annotations

from dataclasses import dataclass

# seconds, before scaling (tests/flags/timeout.go and the lifecycle/migration tests of §6)
DEFAULTS: dict[str, float] = {
    "vm_start": 360.0,  # VM ready after start
    "vm_stop": 300.0,  # VMI gone after stop
    "vm_restart": 240.0,  # new VMI Running after restart
    "pause": 30.0,  # Paused condition after pause / gone after unpause
    "migration": 240.0,  # migration Succeeded
    "vmi_running_after_migration": 60.0,
    "source_pod_end": 60.0,  # migration source launcher pod ends after the VMIM Succeeded (§10 W9; ≤ its grace)
    # how long a healthy VM controller may take to show a VMI's state in the VM's printableStatus: a
    # memory transfer at least this long must show Migrating on the VM (§10 W11, docs/fidelity.md suite)
    "status_lag": 5.0,
    "pvc_bound": 120.0,
    # a VM's DataVolume populated (clone or import; tests/migration/migration.go EventuallyDV(dv, 240, …))
    "dv_provisioned": 240.0,
    "rwx_probe": 30.0,  # preflight: a ReadWriteMany claim on the default class binds or is refused
    "cleanup": 120.0,  # namespace gone after deletion
    "console_connect": 10.0,
    "console_login": 180.0,
    "console_command": 60.0,
    "unchanged": 2.0,  # how long a rejected operation must be seen to leave the VM unchanged
    "cluster_lost": 10.0,  # a cluster that has not answered for this long is lost: the run stops
    "drain": 600.0,  # a node's scenario pods all evicted (kubectl drain has no default; KubeVirt's tests wait minutes)
}

# Entries that bound what a healthy cluster may take (a tolerance), not how long the suite waits: a scale
# above 1 (a slow cluster) widens them, a scale below 1 (shorter waits) never narrows them — shortening
# the waits must not make the suite demand more of KubeVirt than it promises.
TOLERANCES = frozenset({"status_lag"})


# the run's Lease (src/vmconform/lease.py); not scaled: other processes judge its freshness
LEASE_DURATION_SECONDS = 30
LEASE_RENEW_SECONDS = 5.0
# a cluster is judged lost only after this many seconds without an answer, however small the scale
CLUSTER_LOST_MIN_SECONDS = 5.0
# a quiet wait (cleanup) says what it waits for this often
PROGRESS_SECONDS = 5.0
# a drain evicts a refused pod again after this long at most (kubectl drain retries every 5 s)
DRAIN_RETRY_SECONDS = 5.0
# --timeout-scale bounds: below, no real cluster answers in time; above, a stuck wait never ends
SCALE_MIN, SCALE_MAX = 0.01, 100.0


@dataclass(frozen=True)
class Timeouts:
    scale: float = 1.0

    def __getitem__(self, key: str) -> float:
        return DEFAULTS[key] * (max(1.0, self.scale) if key in TOLERANCES else self.scale)

    def get(self, key: str) -> float:
        return self[key]


def parse_scale(text: str) -> float:
    """``--timeout-scale``: a positive number. Raises ValueError with a one-line reason."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"--timeout-scale must be a positive number, not {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"--timeout-scale must be a positive number, not {text!r}")
    if not SCALE_MIN <= value <= SCALE_MAX:
        raise ValueError(f"--timeout-scale must be between {SCALE_MIN:g} and {SCALE_MAX:g}, not {text!r}")
    return value
