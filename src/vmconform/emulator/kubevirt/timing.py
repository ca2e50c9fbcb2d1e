"""How long each emulated transition takes: one table, two profiles, a seeded jitter.

``fast`` keeps every intermediate state for tens of milliseconds (long enough to be
delivered on a watch and seen by a quick poller) so a whole start, pause, migrate and
stop cycle takes well under a second.  ``realistic`` uses seconds, of the order KubeVirt
on a small cluster shows (virt-launcher image pull and domain boot dominate start-up),
with jitter.  ``Options.extra["steps"]`` ({step: seconds}) overrides single steps, and
``Options.extra["timing_scale"]`` multiplies all of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping

FAST, REALISTIC = "fast", "realistic"


@dataclass(frozen=True)
class Step:
    fast: float
    realistic: float
    description: str


STEPS: dict[str, Step] = {
    # VMI start-up (virt-controller, scheduler, kubelet, virt-handler)
    "vmi.pending": Step(0.02, 0.3, "VMI created → Pending"),
    "vmi.pod_create": Step(0.02, 0.4, "Pending → launcher pod created (Scheduling)"),
    "pod.schedule": Step(0.02, 0.5, "launcher pod bound to a node"),
    "pod.start": Step(0.03, 4.0, "launcher containers started, pod Ready (VMI Scheduled)"),
    "pod.image_backoff": Step(0.05, 10.0, "kubelet alternates ErrImagePull and ImagePullBackOff for a bad image"),
    "vmi.boot": Step(0.03, 2.5, "Scheduled → Running (domain started)"),
    "guest.agent": Step(0.03, 8.0, "guest agent connects after boot"),
    # VMI operations
    "vmi.pause": Step(0.02, 0.4, "pause request → Paused condition"),
    "vmi.unpause": Step(0.02, 0.4, "unpause request → Paused condition removed"),
    "vmi.softreboot": Step(0.02, 1.0, "soft reboot request → guest rebooted"),
    "guest.reboot": Step(0.02, 1.0, "guest-initiated reboot → guest up again"),
    "guest.poweroff": Step(0.02, 1.5, "guest-initiated poweroff → VMI Succeeded"),
    # VMI stop
    "vmi.shutdown": Step(0.04, 3.0, "ACPI shutdown of a deleted VMI (bounded by its grace period)"),
    "vmi.destroy": Step(0.01, 0.3, "forced stop (grace period 0)"),
    "vmi.finalize": Step(0.02, 0.5, "final VMI cleaned up after deletion"),
    "pod.terminate": Step(0.02, 1.0, "a deleted pod goes away"),
    "pod.complete": Step(0.02, 0.5, "pod of a finished VMI reports Succeeded/Failed"),
    # migration
    "migration.pending": Step(0.02, 0.3, "VMIM accepted → Pending, target pod creation"),
    "migration.requeue": Step(0.05, 5.0, "retry of a Pending VMIM held back by the limits"),
    "migration.handoff": Step(0.02, 0.5, "target pod ready → PreparingTarget"),
    "migration.prepare": Step(0.02, 1.0, "target listening → TargetReady"),
    "migration.start": Step(0.02, 0.5, "TargetReady → Running (memory transfer starts)"),
    "migration.transfer": Step(0.06, 3.0, "memory transfer (Migrating)"),
    "migration.abort": Step(0.03, 1.0, "abort of a running migration"),
    # storage
    "pvc.bind": Step(0.02, 1.5, "dynamic provisioning and binding of a PVC"),
    # KubeVirt CR
    "kubevirt.reconcile": Step(0.02, 1.0, "operator observes a KubeVirt CR change"),
}


class Timing:
    """Seeded step durations; ``duration(step)`` samples once per transition."""

    def __init__(self, profile: str = FAST, seed: int | None = None,
                 overrides: Mapping[str, float] | None = None, scale: float = 1.0) -> None:
        if profile not in (FAST, REALISTIC):
            raise ValueError(f"unknown timing profile {profile!r} (expected 'fast' or 'realistic')")
        self.profile = profile
        self.rng = random.Random(seed)
        self.overrides = dict(overrides or {})
        self.scale = scale
        unknown = set(self.overrides) - set(STEPS)
        if unknown:
            raise ValueError(f"unknown timing steps: {', '.join(sorted(unknown))}")

    @classmethod
    def from_options(cls, options: Any) -> "Timing":
        extra = getattr(options, "extra", None) or {}
        return cls(getattr(options, "timing", FAST) or FAST, getattr(options, "seed", None),
                   extra.get("steps"), float(extra.get("timing_scale", 1.0)))

    def base(self, step: str) -> float:
        if step in self.overrides:
            return float(self.overrides[step])
        s = STEPS[step]
        return (s.fast if self.profile == FAST else s.realistic) * self.scale

    def duration(self, step: str) -> float:
        base = self.base(step)
        if step in self.overrides or base <= 0:
            return base
        spread = 0.2 if self.profile == FAST else 0.35
        return base * (1.0 + self.rng.uniform(-spread, spread))
