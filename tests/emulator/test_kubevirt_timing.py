"""Timing profiles (one step table, fast vs realistic, seeded) and clean-up of whole namespaces."""

from __future__ import annotations

import time
from typing import Any

import pytest

from vmconform.emulator import Options
from vmconform.emulator.kubevirt.timing import STEPS, Timing


def test_fast_steps_are_tens_of_milliseconds_and_realistic_ones_seconds() -> None:
    fast, real = Timing("fast", seed=1), Timing("realistic", seed=1)
    for step, spec in STEPS.items():
        if spec.window:  # a window KubeVirt lets be as short as nothing (§10): may be zero in fast
            assert 0 <= fast.base(step) <= 0.1 and 0 < real.base(step) <= 2.0, step
            continue
        assert 0 < fast.base(step) <= 0.1, step
        assert real.base(step) >= 0.3, step
    assert sum(real.base(s) for s in ("vmi.pending", "vmi.pod_create", "pod.schedule", "pod.start", "vmi.boot")) > 5


def test_durations_are_seeded_and_jittered() -> None:
    one, two, other = Timing("realistic", seed=42), Timing("realistic", seed=42), Timing("realistic", seed=43)
    seq1 = [one.duration("pod.start") for _ in range(5)]
    seq2 = [two.duration("pod.start") for _ in range(5)]
    assert seq1 == seq2
    assert seq1 != [other.duration("pod.start") for _ in range(5)]
    assert len(set(seq1)) > 1
    assert all(2.0 < d < 6.0 for d in seq1)


def test_overrides_and_unknown_steps() -> None:
    t = Timing("fast", overrides={"migration.transfer": 1.5})
    assert t.duration("migration.transfer") == 1.5
    with pytest.raises(ValueError):
        Timing("fast", overrides={"no.such.step": 1})
    with pytest.raises(ValueError):
        Timing("glacial")


def test_fast_cycle_start_pause_migrate_stop(kv: Any, ns: str) -> None:
    """Each step of the lab is observed, and the whole cycle stays well within seconds."""
    kv.create_vm(ns, "c", "Halted")
    kv.wait_vm(ns, "c", lambda o: o.get("status", {}).get("printableStatus") == "Stopped")
    begin = time.monotonic()
    mark = kv.mark("virtualmachines", ns, "c")
    kv.ok(ns, "vm", "c", "start")
    kv.wait_vm(ns, "c", lambda o: o["status"].get("printableStatus") == "Running" and o["status"].get("ready"))
    kv.ok(ns, "vmi", "c", "pause")
    kv.wait_vm(ns, "c", lambda o: o["status"].get("printableStatus") == "Paused")
    kv.ok(ns, "vmi", "c", "unpause")
    kv.wait_vm(ns, "c", lambda o: o["status"].get("printableStatus") == "Running" and o["status"].get("ready"))
    kv.ok(ns, "vm", "c", "migrate")
    mig = kv.vmims(ns)[0]["metadata"]["name"]
    kv.wait_vmim(ns, mig, lambda o: (o or {}).get("status", {}).get("phase") == "Succeeded")
    kv.ok(ns, "vm", "c", "stop")
    kv.wait_vm(ns, "c", lambda o: o["status"].get("printableStatus") == "Stopped" and not o["status"].get("created"))
    elapsed = time.monotonic() - begin
    assert kv.vm_statuses(ns, "c", mark, kv.back_to("Stopped")) == [
        "Stopped", "Starting", "Running", "Paused", "Running", "Migrating", "Running", "Stopping", "Stopped"]
    assert elapsed < 3.0, f"fast cycle took {elapsed:.2f}s"


def test_realistic_profile_runs_the_same_lifecycle(kv_factory: Any) -> None:
    opts = Options(nodes=2, timing="realistic", seed=5, extra={"timing_scale": 0.02})
    with kv_factory(opts) as kv:
        kv.core.create_namespace({"metadata": {"name": "real"}})
        mark = kv.mark("virtualmachines", "real", "r")
        kv.create_vm("real", "r", "Always")
        seq = kv.vm_statuses("real", "r", mark, lambda o: (o or {}).get("status", {}).get("printableStatus")
                             == "Running")
        assert seq[-2:] == ["Starting", "Running"]
        mark = kv.mark("virtualmachines", "real", "r")
        kv.ok("real", "vm", "r", "stop")
        seq = kv.vm_statuses("real", "r", mark, lambda o: (o or {}).get("status", {}).get("printableStatus")
                             == "Stopped")
        assert seq == ["Running", "Stopping", "Stopped"]


def test_deleting_a_namespace_cleans_up_everything(kv: Any) -> None:
    ns = "doomed"
    kv.core.create_namespace({"metadata": {"name": ns}})
    kv.create_pvc(ns, "disk", "ReadWriteMany")
    kv.running(ns, "a", pvc="disk")
    kv.running(ns, "b")
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachineinstancemigrations", {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"name": "m"}, "spec": {"vmiName": "b"}})
    pv = kv.core.read_namespaced_persistent_volume_claim("disk", ns).spec.volume_name
    kv.core.delete_namespace(ns)
    kv.wait_gone(kv.core.list_namespace, ns, timeout=10)
    kv.wait_gone(kv.core.list_persistent_volume, pv, timeout=10)
