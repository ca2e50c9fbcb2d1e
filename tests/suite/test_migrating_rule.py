"""The Migrating decision (steps/_migrating.py, docs/fidelity.md suite): a VM that showed Migrating, or a
memory transfer shorter than ``status_lag``, passes; a transfer of seconds that the VM never showed fails."""

from __future__ import annotations

from typing import Any

from steps._migrating import TRANSFERRING, judge, transfer_seconds, vmi_migration_state
from vmconform.kube.waits import Sample, Timeline

BOUND = 5.0


def _tl(*samples: tuple[float, str], notes: tuple[str, ...] = ()) -> Timeline:
    tl = Timeline("t", samples=[Sample(at, state) for at, state in samples])
    tl.notes.extend(notes)
    return tl


def _vmi(start: str | None, end: str | None) -> dict[str, Any]:
    ms = {k: v for k, v in (("startTimestamp", start), ("endTimestamp", end)) if v}
    return {"status": {"phase": "Running", "nodeName": "node02", "migrationState": ms}}


RUNNING_ONLY = _tl((0.0, "Running"), (9.0, "Running"))
SHORT = _tl((0.0, "Running on node01, no migration"), (0.5, "Running on node01, preparing"),
            (1.0, f"Running on node01, {TRANSFERRING}"), (1.4, "Running on node02, transfer ended"))
LONG = _tl((0.0, "Running on node01, no migration"), (1.0, f"Running on node01, {TRANSFERRING}"),
           (7.5, "Running on node02, transfer ended"))
UNSEEN = _tl((0.0, "Running on node01, no migration"), (2.0, "Running on node02, transfer ended"))


def test_the_vm_showing_migrating_is_reported() -> None:
    j = judge(_tl((0.0, "Running"), (1.1, "Migrating"), (1.5, "Running")), LONG, None, BOUND)
    assert j.verdict == "reported" and j.passed and "showed Migrating at 1.10 s" in j.explanation


def test_a_transfer_shorter_than_a_status_update_may_go_unshown() -> None:
    j = judge(RUNNING_ONLY, SHORT, None, BOUND)
    assert j.verdict == "accepted" and j.passed
    assert "lasted 0.40 s (observed on the VMI's watch)" in j.explanation


def test_a_transfer_of_seconds_the_vm_never_showed_is_a_violation() -> None:
    j = judge(RUNNING_ONLY, LONG, None, BOUND)
    assert j.verdict == "violated" and not j.passed
    assert "the VM never showed Migrating although its VMI was migrating" in j.explanation
    assert "for 6.50 s" in j.explanation


def test_without_a_watch_event_inside_the_transfer_its_timestamps_decide() -> None:
    long_ago = _vmi("2026-12-03T10:00:00Z", "2026-12-03T10:00:09Z")
    j = judge(RUNNING_ONLY, UNSEEN, long_ago, BOUND)
    assert j.verdict == "violated" and "8.00 s (from the VMI's migrationState timestamps" in j.explanation
    quick = _vmi("2026-12-03T10:00:00Z", "2026-12-03T10:00:01Z")
    assert judge(RUNNING_ONLY, UNSEEN, quick, BOUND).verdict == "accepted"


def test_lost_vm_events_make_a_long_unshown_transfer_inconclusive() -> None:
    vm = _tl((0.0, "Running"), (9.0, "Running"), notes=("3.000s watch error: re-listing",))
    j = judge(vm, LONG, None, BOUND)
    assert j.verdict == "inconclusive" and not j.passed
    assert judge(vm, SHORT, None, BOUND).verdict == "accepted"  # a short one needs no events


def test_vmi_migration_state_reads_the_window_from_the_timestamps() -> None:
    assert vmi_migration_state(None) == "<gone>"
    assert vmi_migration_state(_vmi(None, None)) == "Running on node02, no migration"
    assert vmi_migration_state(_vmi("2026-12-03T10:00:00Z", None)).endswith(TRANSFERRING)
    assert vmi_migration_state(_vmi("2026-12-03T10:00:00Z", "2026-12-03T10:00:01Z")).endswith("transfer ended")
    assert transfer_seconds(UNSEEN, _vmi(None, None)) == (0.0, "the VMI records no transfer")


def test_status_lag_is_a_tolerance_a_shorter_timeout_scale_never_narrows() -> None:
    from vmconform.timeouts import Timeouts

    assert Timeouts(0.05)["status_lag"] == Timeouts(1.0)["status_lag"] == 5.0
    assert Timeouts(2.0)["status_lag"] == 10.0
    assert Timeouts(0.05)["vm_stop"] == 15.0  # waits do shrink
