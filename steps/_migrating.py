"""What "the migration was reported in progress (Migrating)" means on a healthy cluster (§10 W11).

KubeVirt shows the VM ``Migrating`` only while the VMI's ``migrationState`` has a ``startTimestamp`` and
no ``endTimestamp`` (``migrations.IsMigrating``), and only if the VM controller reconciles inside that
window; a small idle guest's memory transfer can take less than a second, and the controller's work queue
coalesces updates, so a healthy cluster may never show it. KubeVirt's own e2e tests never assert it.

The decision (docs/fidelity.md, section ``suite``):

* the VM showed ``Migrating`` → reported;
* otherwise the VMI's transfer window is what counts — as observed on the VMI's watch (start set, end
  not), or, when no event fell inside it, from its own start/end timestamps (second resolution: one
  second is taken off) — and a window shorter than the table's ``status_lag`` is accepted: a healthy VM
  controller may not have reconciled inside it;
* a window of ``status_lag`` or longer with no ``Migrating`` on the VM is a violation: the cluster hid a
  migration that lasted seconds;
* if the VM's watch lost events (re-listed after 410 Gone) during such a long window, nothing can be
  said either way: the step is inconclusive (skipped, with that reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vmconform.kube.waits import GONE, Timeline
from vmconform.ops import vmi_phase
from vmconform.status import MIGRATING

TRANSFERRING = "transferring"  # migrationState.startTimestamp set, endTimestamp not
RESOLUTION_SECONDS = 1.0  # metav1.Time serialises whole seconds


def vmi_migration_state(vmi: dict[str, Any] | None) -> str:
    """A VMI as the migration timeline records it: phase, node and where its migrationState stands."""
    if vmi is None:
        return GONE
    st = vmi.get("status") or {}
    ms = st.get("migrationState") or {}
    if ms.get("startTimestamp") and not ms.get("endTimestamp"):
        where = TRANSFERRING
    elif ms.get("endTimestamp"):
        where = "transfer ended"
    elif ms:
        where = "preparing"
    else:
        where = "no migration"
    return f"{vmi_phase(vmi)} on {st.get('nodeName') or '?'}, {where}"


@dataclass(frozen=True)
class Judgement:
    verdict: str  # "reported", "accepted" (too short to show), "violated", "inconclusive"
    explanation: str

    @property
    def passed(self) -> bool:
        return self.verdict in ("reported", "accepted")


def transfer_seconds(vmi_tl: Timeline, vmi: dict[str, Any] | None) -> tuple[float, str]:
    """How long the VMI's memory transfer lasted, and how that was measured."""
    samples = vmi_tl.samples
    for i, s in enumerate(samples):
        if s.state.endswith(TRANSFERRING):
            end = next((later.at for later in samples[i + 1:] if not later.state.endswith(TRANSFERRING)),
                       round(vmi_tl.elapsed, 3))
            return end - s.at, "observed on the VMI's watch"
    ms = ((vmi or {}).get("status") or {}).get("migrationState") or {}
    start, end = _time(ms.get("startTimestamp")), _time(ms.get("endTimestamp"))
    if start is None or end is None:
        return 0.0, "the VMI records no transfer"
    return max(0.0, (end - start).total_seconds() - RESOLUTION_SECONDS), \
        "from the VMI's migrationState timestamps (no watch event fell inside the transfer)"


def judge(vm_tl: Timeline, vmi_tl: Timeline, vmi: dict[str, Any] | None, bound: float) -> Judgement:
    at = vm_tl.reached_at(MIGRATING)
    if at is not None:
        return Judgement("reported", f"the VM showed {MIGRATING} at {at:.2f} s")
    seconds, how = transfer_seconds(vmi_tl, vmi)
    if seconds < bound:
        return Judgement("accepted", (
            f"the VM did not show {MIGRATING}; its VMI's memory transfer lasted {seconds:.2f} s ({how}), "
            f"less than the {bound:.1f} s a healthy VM controller may take to show it (§10 W11)"))
    if any("re-listing" in n for n in vm_tl.notes):
        return Judgement("inconclusive", (
            f"the VMI's memory transfer lasted {seconds:.2f} s ({how}), but the VM's watch lost events "
            f"(re-listed) during the migration: whether the VM showed {MIGRATING} is unknown"))
    return Judgement("violated", (
        f"the VM never showed {MIGRATING} although its VMI was migrating (startTimestamp set, no endTimestamp) "
        f"for {seconds:.2f} s ({how}), at least the {bound:.1f} s a healthy VM controller takes to show it"))


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
