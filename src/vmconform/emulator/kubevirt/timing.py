"""How long each emulated transition takes: one table, three profiles, a seeded draw.

``fast`` keeps every intermediate state for tens of milliseconds (long enough to be
delivered on a watch and seen by a quick poller) so a whole start, pause, migrate and
stop cycle takes well under a second.  ``realistic`` uses seconds, of the order KubeVirt
on a small cluster shows (virt-launcher image pull and domain boot dominate start-up),
with jitter.  ``adversarial`` draws every step from its own range, seeded: a quarter of
the draws are zero, a quarter tiny (≤ 20 ms), the rest anywhere up to the step's
ceiling (≤ 3 s) — so each window KubeVirt allows is sometimes absent, sometimes seconds
long, and the VM controller's reaction to a VMI change (``vm.sync``) may lag long enough
to coalesce short-lived VMI states (``Migrating`` can be skipped, §10 W11).

The order of the transitions is the controllers' business and is the same in every
profile; a profile only changes how long each window lasts.  An adversarial draw depends
on the seed, the step, the object's kind and name and how many times that object has
drawn that step — not on what else the cluster is doing — so a failing run replays
with the same ``--seed``.

``Options.extra["steps"]`` ({step: seconds}) overrides single steps, and
``Options.extra["timing_scale"]`` multiplies all of them.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Any, Mapping

FAST, REALISTIC, ADVERSARIAL = "fast", "realistic", "adversarial"
PROFILES = (FAST, REALISTIC, ADVERSARIAL)
ADVERSARIAL_CEILING = 3.0  # seconds: no adversarial step lasts longer (a suite run stays within minutes)
TINY = 0.02


@dataclass(frozen=True)
class Step:
    fast: float
    realistic: float
    description: str
    # adversarial range (low, high); None: (0, min(realistic, ADVERSARIAL_CEILING)).  Steps that pace a
    # loop (backoff, requeue) keep a floor above zero.
    adversarial: tuple[float, float] | None = None
    window: bool = False  # a window between two writes that KubeVirt lets be as short as nothing


STEPS: dict[str, Step] = {
    # VMI start-up (virt-controller, scheduler, kubelet, virt-handler)
    "vmi.pending": Step(0.02, 0.3, "VMI created → Pending"),
    "vmi.pod_create": Step(0.02, 0.4, "Pending → launcher pod created (Scheduling)"),
    "pod.schedule": Step(0.02, 0.5, "launcher pod bound to a node"),
    "pod.start": Step(0.03, 4.0, "launcher containers started, pod Ready (VMI Scheduled)"),
    "pod.image_backoff": Step(0.05, 10.0, "kubelet alternates ErrImagePull and ImagePullBackOff for a bad image",
                              adversarial=(0.05, 3.0)),
    "vmi.boot": Step(0.03, 2.5, "Scheduled → Running (domain started)"),
    "guest.agent": Step(0.03, 8.0, "guest agent connects after boot"),
    # VMI operations
    "vmi.pause": Step(0.02, 0.4, "pause request → Paused condition"),
    "vmi.unpause": Step(0.02, 0.4, "unpause request → Paused condition removed"),
    "vmi.pause_gate": Step(0.01, 0.2, "VMI Paused changed → virt-controller patches the pod's readiness gate (W7/W8)",
                           adversarial=(0.0, 2.0), window=True),
    "pod.readiness": Step(0.01, 0.5, "pod readiness gate changed → kubelet recomputes pod Ready (W7/W8)",
                          adversarial=(0.0, 2.0), window=True),
    "vmi.softreboot": Step(0.02, 1.0, "soft reboot request → guest rebooted"),
    "guest.reboot": Step(0.02, 1.0, "guest-initiated reboot → guest up again"),
    "guest.poweroff": Step(0.02, 1.5, "guest-initiated poweroff → VMI Succeeded"),
    # VMI stop
    "vmi.shutdown": Step(0.04, 3.0, "ACPI shutdown of a deleted VMI (bounded by its grace period)"),
    "vmi.destroy": Step(0.01, 0.3, "forced stop (grace period 0)"),
    "vmi.finalize": Step(0.01, 0.1, "all pods of a final VMI gone → its finalizer removed (W2)",
                         adversarial=(0.0, 1.0), window=True),
    "pod.terminate": Step(0.02, 1.0, "a deleted pod's containers have exited → kubelet removes it (W1/W2)",
                          window=True),
    "pod.complete": Step(0.02, 0.5, "pod of a finished VMI reports Succeeded/Failed"),
    # VM controller
    "vm.sync": Step(0.0, 0.02, "a VMI changed → the VM controller reconciles (coalesces what changed meanwhile)",
                    adversarial=(0.0, 1.0), window=True),
    # migration
    "migration.pending": Step(0.02, 0.3, "VMIM accepted → Pending, target pod creation"),
    "migration.requeue": Step(0.05, 5.0, "retry of a Pending VMIM held back by the limits",
                              adversarial=(0.05, 3.0)),
    "migration.handoff": Step(0.02, 0.5, "target pod ready → PreparingTarget"),
    "migration.prepare": Step(0.02, 1.0, "target listening → TargetReady"),
    "migration.start": Step(0.02, 0.5, "TargetReady → Running (memory transfer starts)"),
    "migration.transfer": Step(0.06, 3.0, "memory transfer (Migrating)"),
    "migration.finalize": Step(0.01, 0.2, "target ack (endTimestamp, nodeName) → migrationState.completed (W10)",
                               adversarial=(0.0, 1.0), window=True),
    "migration.source_exit": Step(0.02, 2.0, "VMIM Succeeded → the source launcher pod ends (W9)",
                                  window=True),
    "migration.abort": Step(0.03, 1.0, "abort of a running migration"),
    # storage
    "pvc.bind": Step(0.02, 1.5, "dynamic provisioning and binding of a PVC"),
    # CDI (emulator/cdi): DataVolume population
    "dv.schedule": Step(0.02, 1.0, "DataVolume's claim Bound → importer/cloner pod runs (…Scheduled → …InProgress)"),
    "dv.transfer": Step(0.01, 0.6, "a tenth of a DataVolume's transfer (progress advances 10 %)"),
    # KubeVirt CR
    "kubevirt.reconcile": Step(0.02, 1.0, "operator observes a KubeVirt CR change"),
}


def random_seed() -> int:
    """A fresh seed for a run that was given none (printed, so the run can be replayed)."""
    return random.SystemRandom().randrange(1, 1_000_000)


class Timing:
    """Seeded step durations; ``duration(step, key)`` samples once per transition."""

    def __init__(self, profile: str = FAST, seed: int | None = None,
                 overrides: Mapping[str, float] | None = None, scale: float = 1.0) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown timing profile {profile!r} (expected one of {', '.join(PROFILES)})")
        self.profile = profile
        if seed is None and profile == ADVERSARIAL:
            seed = random_seed()
        self.seed = seed
        self.rng = random.Random(seed)
        self.overrides = dict(overrides or {})
        self.scale = scale
        self._draws: dict[tuple[str, str, str, str], int] = {}
        unknown = set(self.overrides) - set(STEPS)
        if unknown:
            raise ValueError(f"unknown timing steps: {', '.join(sorted(unknown))}")

    @classmethod
    def from_options(cls, options: Any) -> "Timing":
        extra = getattr(options, "extra", None) or {}
        return cls(getattr(options, "timing", FAST) or FAST, getattr(options, "seed", None),
                   extra.get("steps"), float(extra.get("timing_scale", 1.0)))

    def bounds(self, step: str) -> tuple[float, float]:
        """The adversarial range of a step (before scaling)."""
        s = STEPS[step]
        return s.adversarial if s.adversarial is not None else (0.0, min(s.realistic, ADVERSARIAL_CEILING))

    def base(self, step: str) -> float:
        if step in self.overrides:
            return float(self.overrides[step])
        s = STEPS[step]
        if self.profile == FAST:
            return s.fast * self.scale
        if self.profile == REALISTIC:
            return s.realistic * self.scale
        return self.bounds(step)[1] * self.scale

    def duration(self, step: str, key: tuple[str, str, str] | None = None) -> float:
        if step in self.overrides:
            return float(self.overrides[step])
        if self.profile == ADVERSARIAL:
            return self._adversarial(step, key) * self.scale
        base = self.base(step)
        if base <= 0:
            return base
        spread = 0.2 if self.profile == FAST else 0.35
        return base * (1.0 + self.rng.uniform(-spread, spread))

    def _adversarial(self, step: str, key: tuple[str, str, str] | None) -> float:
        low, high = self.bounds(step)
        if key is None:
            rng = self.rng
        else:
            kind, ns, name = key
            count_key = (step, kind, ns, name)
            n = self._draws.get(count_key, 0)
            self._draws[count_key] = n + 1
            # namespaces are per run (random); names, steps and counts are what a replay repeats
            rng = random.Random(zlib.crc32(f"{self.seed}|{step}|{kind}|{name}|{n}".encode()))
        roll = rng.random()
        if roll < 0.25:
            value = 0.0
        elif roll < 0.5:
            value = rng.uniform(0.0, TINY)
        else:
            value = rng.uniform(0.0, high)
        return min(max(value, low), high)
