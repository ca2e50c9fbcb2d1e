"""The adversarial timing profile: seeded per object, zero to seconds, replayable; its CLI options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vmconform.emulator.kubevirt.timing import ADVERSARIAL_CEILING, STEPS, Timing

KEYS = [("vmi", "ns-a", f"vm{i}") for i in range(40)]


def _draws(timing: Timing, step: str, keys: list[tuple[str, str, str]]) -> list[float]:
    return [timing.duration(step, key) for key in keys]


def test_adversarial_is_deterministic_for_a_seed() -> None:
    one, two, other = Timing("adversarial", seed=3), Timing("adversarial", seed=3), Timing("adversarial", seed=4)
    for step in ("vmi.shutdown", "pod.terminate", "vm.sync", "migration.transfer"):
        assert _draws(one, step, KEYS) == _draws(two, step, KEYS), step
    assert _draws(Timing("adversarial", seed=3), "vm.sync", KEYS) != _draws(other, "vm.sync", KEYS)


def test_adversarial_draw_depends_on_the_object_not_on_the_interleaving() -> None:
    """A replay with the same seed gives each object the same windows even if other objects draw in
    another order or in another (per-run) namespace."""
    forward, backward = Timing("adversarial", seed=9), Timing("adversarial", seed=9)
    ahead = _draws(forward, "pod.terminate", KEYS)
    behind = _draws(backward, "pod.terminate", [(k, "ns-b", n) for k, _ns, n in reversed(KEYS)])
    assert ahead == list(reversed(behind))
    # the second draw of the same object is a new one
    again = _draws(forward, "pod.terminate", KEYS)
    assert again != ahead


def test_adversarial_windows_range_from_zero_to_seconds() -> None:
    timing = Timing("adversarial", seed=1)
    keys = [("vm", "ns", f"v{i}") for i in range(400)]
    for step in ("pod.terminate", "vm.sync", "vmi.pause_gate", "migration.source_exit"):
        values = _draws(timing, step, keys)
        low, high = timing.bounds(step)
        assert all(low <= v <= high <= ADVERSARIAL_CEILING for v in values), step
        assert sum(v == 0 for v in values) > 40, step  # some windows are absent
        assert sum(0 < v <= 0.02 for v in values) > 40, step  # some are tiny
        assert max(values) > high * 0.8 >= 0.8, step  # some last most of a second or more
    for step in ("pod.image_backoff", "migration.requeue"):  # loops keep a floor
        assert min(_draws(timing, step, keys)) >= 0.05, step


def test_adversarial_without_seed_picks_and_keeps_one() -> None:
    timing = Timing("adversarial")
    assert isinstance(timing.seed, int)
    replay = Timing("adversarial", seed=timing.seed)
    assert _draws(timing, "vm.sync", KEYS) == _draws(replay, "vm.sync", KEYS)


def test_every_window_step_has_a_range_and_a_meaning() -> None:
    windows = {name for name, step in STEPS.items() if step.window}
    assert {"pod.terminate", "vm.sync", "vmi.pause_gate", "pod.readiness", "vmi.finalize",
            "migration.finalize", "migration.source_exit"} <= windows
    for name in windows:
        assert Timing("adversarial", seed=1).bounds(name)[0] == 0.0, name


@pytest.mark.parametrize("argv, message", [
    (["emulator", "--write-kubeconfig", "/dev/null", "--timing", "glacial"], "invalid choice: 'glacial'"),
    (["run", "--emulator-timing", "glacial"], "--emulator-timing must be fast or realistic or adversarial"),
])
def test_cli_rejects_unknown_profiles_in_one_line(argv: list[str], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "vmconform", *argv], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
