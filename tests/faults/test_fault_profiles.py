"""The suite proves it can fail: each fault profile of the emulated cluster (src/vmconform/emulator/faults.py)
is caught by exactly the scenarios of its ``caught_by``, with a reason that names the broken behaviour, and
every other scenario still passes; under a transport fault the verdict stays conformant.

Each case runs the whole suite in a subprocess (``vmconform run --emulator-fault NAME -n 4``).  Faults that
make a wait run out (nothing ever happens) run with a ``--timeout-scale``: the timeout table is for real
clusters (minutes), while the fast emulated cluster finishes every transition in well under a second, so
the scale only shortens how long the suite waits for something that never comes.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vmconform.cli import exitcodes
from vmconform.emulator import faults as F
from vmconform.labels import slug

ROOT = Path(__file__).resolve().parents[2]
SUITE_TIMEOUT = 300  # seconds for one whole suite run (a hung run fails instead of blocking CI)
WAIT_RAN_OUT = r"not reached within \d+ s; observed "
T = r"\([\d.]+s\)"  # a timeline sample's time


@dataclass(frozen=True)
class Case:
    reason: str | dict[str, str]  # regex found in every violated reason, or one per behaviour id
    timeout_scale: float = 1.0  # < 1 only where the fault makes a wait run out
    extra: tuple[str, ...] = ()  # further `vmconform run` arguments the fault's scenarios need

    def pattern(self, behaviour: str) -> str:
        return self.reason if isinstance(self.reason, str) else self.reason[behaviour]


MEMORY_GONE = re.escape("the marker written into the guest's memory is gone")
STILL_ON_NODE = r"the (migration succeeded but the )?VMI is still on (node )?\S+$"
REPLACED = r"the VMI was replaced during migration \(UID \S+ → \S+\): the VM was restarted, not live-migrated"
EVACUATION_RAN_OUT = rf"VM \S+ is live-migrated away from \S+: {WAIT_RAN_OUT}"
DRAIN_RAN_OUT = r"drain of node \S+: pods still there after \d+ s"
NOT_MIGRATABLE_EVICTION = r"denied the request: VMI \S+ is configured with an eviction strategy but is not live-migratable"
DATASOURCE_RUN = ("--vm-source", "datasource:kubevirt-os-images/alpine")
CLONE_RWO = (r"the root DataVolume \S+ asked for ReadWriteMany on storage class \S+ \(its StorageProfile offers "
             r"ReadWriteMany [^)]*\) but its claim was provisioned ReadWriteOnce: a disk that is not ReadWriteMany "
             r"cannot be live-migrated|migrate (request )?was rejected: .*DisksNotLiveMigratable.*PVC vm-root is not "
             r"shared|migrate of a running VM was rejected \(HTTP 500: .*DisksNotLiveMigratable.*PVC vm-root is not "
             r"shared")  # the last: the Actions menu's dry run of migrate (steps/actions.py)

# fault → how its failures must read (the scenarios are FAULTS[fault].caught_by)
CASES: dict[str, Case] = {
    "stop-keeps-running": Case(rf"VM \S+ reaches Stopped: {WAIT_RAN_OUT}Running {T}$", 0.05),
    "stop-hangs": Case(rf"VM \S+ reaches Stopped: {WAIT_RAN_OUT}(Running {T} → )?Stopping {T}$", 0.05),
    "start-accepted-when-running": Case({F.START_ONLY_STOPPED: re.escape(
        'start of a running VM was accepted (HTTP 202); KubeVirt rejects it with 409 "VM is already running"'),
        **dict.fromkeys((F.RESTART, F.UNPAUSE, F.MIGRATE),  # the Actions menu (a dry run) offers Start
                        r"the Actions menu offers Start, .*: start of a (running|paused) VM was accepted \(HTTP 202\)")}),
    "stopped-vm-accepts-pause-restart": Case(re.escape("restart of a stopped VM was accepted (HTTP 202)")),
    "pause-noop": Case(rf"VM \S+ reaches Paused: {WAIT_RAN_OUT}Running {T}$", 0.1),
    "unpause-noop": Case(rf"VM \S+ reaches Running: {WAIT_RAN_OUT}Paused {T}$", 0.05),
    "pause-replaces-vmi": Case({F.PAUSE: r"the VM's VMI was replaced \(UID \S+ → \S+\): the VM was restarted",
                                F.GUEST_PAUSE: MEMORY_GONE}),
    "pause-reboots-guest": Case(MEMORY_GONE),
    "guest-clock-runs-while-paused": Case(re.escape("the guest's clock kept running while paused")),
    "restart-keeps-vmi": Case(rf"VM \S+ restarts into a new VMI: {WAIT_RAN_OUT}same VMI Running {T}$", 0.05),
    "restart-keeps-guest-memory": Case(r"the guest did not reboot: boot_id is still \S+$"),
    # the drain's target pods must land on the cordoned source node: the drain never ends (scaled wait)
    "migration-same-node": Case({**dict.fromkeys((F.MIGRATE, F.GUEST_MIGRATE, F.RWX), STILL_ON_NODE),
                                 F.EVICT_LM: r"stopped early, the migration succeeded but the VMI is still on node \S+;",
                                 F.DRAIN: DRAIN_RAN_OUT}, 0.05),
    "migration-restarts-vm": Case({F.MIGRATE: REPLACED, F.EVICT_LM: REPLACED, F.GUEST_MIGRATE: MEMORY_GONE,
                                   F.DRAIN: r"the VMI of \S+ was replaced during the drain \(UID \S+ → \S+\): "
                                            r"the VM was restarted, not live-migrated"}),
    "migration-stuck": Case({**dict.fromkeys((F.MIGRATE, F.GUEST_MIGRATE, F.RWX, F.OWN_VOLUME),
                                             rf"migration \S+ of VM \S+ succeeds: {WAIT_RAN_OUT}.*→ Running {T}$"),
                             F.EVICT_LM: EVACUATION_RAN_OUT, F.DRAIN: DRAIN_RAN_OUT}, 0.05),
    # a 6 s transfer, longer than status_lag (5 s, a tolerance: never narrowed by the scale)
    "migration-never-shown-migrating": Case(r"the VM never showed Migrating although its VMI was migrating "
                                            r"\(startTimestamp set, no endTimestamp\) for [\d.]+ s"),
    "rwo-migratable": Case({F.RWX: re.escape("a VMI with a ReadWriteOnce volume is reported LiveMigratable=True"),
                            F.EVICT_RWO_LM: re.escape("the eviction was refused, but not because the VM cannot be "
                                                      "live-migrated: HTTP 429") + r".*Eviction triggered evacuation",
                            F.EVICT_RWO_IFP: re.escape("the eviction of a VM that cannot be live-migrated, with "
                                                       "LiveMigrateIfPossible, was refused: HTTP 429")}),
    "volume-mounted-everywhere": Case(r"the stopped VM's volume \S+ is still mounted by: "
                                      r"datastore-mount-\S+"),
    "eviction-kills-vm": Case({F.EVICT_LM: re.escape("the eviction of a LiveMigrate VM's launcher pod was granted "
                                                     "(HTTP 201)"),
                               F.DRAIN: r"the VMI of \S+ was replaced during the drain \(UID \S+ → \S+\): "
                                        r"the VM was restarted, not live-migrated"}),
    "evacuation-ignored": Case({F.EVICT_LM: EVACUATION_RAN_OUT, F.DRAIN: DRAIN_RAN_OUT}, 0.05),
    "dryrun-ignored": Case(r"a dry run of (start|stop) changed the (running|stopped|paused)"
                           + re.escape(' VM (dryRun: ["All"] was carried out): ') + r".*runStrategy"),
    "drain-ignores-limits": Case(r"[3-9] migrations left node \S+ at once; the per-node outbound limit "
                                 r"\(parallelOutboundMigrationsPerNode\) is 2$"),
    # CDI faults: the VMs' root disks are DataVolumes cloned from a boot source
    # the maintenance scenarios' VMs then cannot live-migrate: their evictions are refused as not live-migratable
    "clone-ignores-access-mode": Case({**{b: CLONE_RWO for b in (F.RWX, F.OWN_VOLUME, F.MIGRATE, F.GUEST_MIGRATE)},
                                       F.EVICT_LM: NOT_MIGRATABLE_EVICTION, F.DRAIN: NOT_MIGRATABLE_EVICTION},
                                      0.05, extra=DATASOURCE_RUN),
    "import-stuck": Case(r"the VM's DataVolume vm-root was not provisioned within \d+ s: it is "
                         r"CloneInProgress 40\.00% \(phase, progress\)", 0.02, extra=DATASOURCE_RUN),
}

# Suite gaps reported to the lead (a transport fault the suite should ride out, but does not yet):
# fault → regex every failure reason matches.  Such a run is an xfail, any other failure still fails.

BEHAVIOUR_FAULTS = [n for n, f in F.FAULTS.items() if not f.transport]
TRANSPORT_FAULTS = [n for n, f in F.FAULTS.items() if f.transport]
# slowest first, so that `pytest -n 2` packs the runs well
SLOW_FIRST = sorted(BEHAVIOUR_FAULTS, key=lambda n: (CASES[n].timeout_scale == 1.0, -len(F.FAULTS[n].caught_by)))


def scenario_ids() -> set[str]:
    """The behaviour ids of the suite: slugs of the scenario titles in features/."""
    ids = set()
    for feature in (ROOT / "features").glob("*.feature"):
        for line in feature.read_text().splitlines():
            m = re.match(r"\s*Scenario(?: Outline)?:\s*(.+?)\s*$", line)
            if m:
                ids.add(slug(m.group(1), 80))
    return ids


def run_suite(tmp_path: Path, fault: str, timeout_scale: float = 1.0,
              extra: list[str] | None = None) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "report"
    args = [sys.executable, "-m", "vmconform", "run", "--emulator-fault", fault, "-n", "4", "--no-html",
            "--report-dir", str(report), *(extra or [])]
    if timeout_scale != 1.0:
        args += ["--timeout-scale", str(timeout_scale)]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    summary_file = report / "summary.json"
    assert summary_file.is_file(), f"no summary.json (exit {proc.returncode}):\n{out[-3000:]}"
    return proc.returncode, json.loads(summary_file.read_text()), out


def statuses(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in summary["behaviours"]}


# ---------------------------------------------------------------- the table itself


def test_every_fault_has_a_case_and_names_real_scenarios() -> None:
    assert set(CASES) == set(BEHAVIOUR_FAULTS)
    ids = scenario_ids()
    assert len(ids) >= 12
    for name in BEHAVIOUR_FAULTS:
        caught = F.FAULTS[name].caught_by
        assert caught, f"{name} is caught by no scenario"
        assert len(set(caught)) == len(caught) and set(caught) <= ids, f"{name}: {set(caught) - ids}"
        case = CASES[name]
        if isinstance(case.reason, dict):
            assert set(case.reason) == set(caught), name
    for name in TRANSPORT_FAULTS:
        assert F.FAULTS[name].caught_by == ()
    # every scenario that guards a promise is proven by at least one fault
    guarded = {F.FAULTS[n].guarded_by for n in BEHAVIOUR_FAULTS}
    assert guarded <= ids


# ---------------------------------------------------------------- behaviour faults


@pytest.mark.parametrize("name", SLOW_FIRST)
def test_behaviour_fault_is_caught_by_exactly_its_scenarios(name: str, tmp_path: Path,
                                                            fault_run_args: list[str]) -> None:
    fault, case = F.FAULTS[name], CASES[name]
    code, summary, out = run_suite(tmp_path, name, case.timeout_scale, [*fault_run_args, *case.extra])
    by_id = statuses(summary)
    table = "\n".join(f"  {b['status']:<13} {b['id']}: {b['reason'][:300]}" for b in by_id.values())
    assert code == exitcodes.NOT_CONFORMANT, f"exit {code}\n{table}\n{out[-2000:]}"
    assert summary["verdict"] == "not-conformant"
    assert set(fault.caught_by) <= set(by_id) and len(by_id) >= 12, table
    violated = {i for i, b in by_id.items() if b["status"] == "violated"}
    assert violated == set(fault.caught_by), f"{name}: violated {sorted(violated)}\n{table}"
    others = {i: b["status"] for i, b in by_id.items() if i not in violated and b["status"] != "verified"}
    assert not others, f"{name}: other scenarios did not pass: {others}\n{table}"
    for bid in fault.caught_by:
        reason = by_id[bid]["reason"]
        assert re.search(case.pattern(bid), reason, re.M), f"{name} / {bid}: reason does not name the broken " \
                                                            f"behaviour ({case.pattern(bid)!r}):\n{reason}"


# ---------------------------------------------------------------- transport faults


@pytest.mark.parametrize("name", TRANSPORT_FAULTS)
def test_transport_fault_leaves_the_verdict_conformant(name: str, tmp_path: Path,
                                                       fault_run_args: list[str]) -> None:
    code, summary, out = run_suite(tmp_path, name, extra=fault_run_args)
    failed = {b["id"]: b["reason"] for b in summary["behaviours"] if b["status"] != "verified"}
    assert code == exitcodes.CONFORMANT and summary["verdict"] == "conformant", f"exit {code}: {failed}\n{out[-2000:]}"
    assert len(summary["behaviours"]) >= 12


# ---------------------------------------------------------------- the command line


def test_run_with_an_unknown_fault_is_one_line_and_exit_4(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vmconform", "run", "--emulator-fault", "no-such-fault",
                           "--no-html", "--report-dir", str(tmp_path / "r")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == exitcodes.USAGE
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "unknown fault profile 'no-such-fault'" in lines[0] and "stop-hangs" in lines[0]
    assert not (tmp_path / "r" / "summary.json").exists()


def test_emulator_with_an_unknown_fault_is_one_line_and_exit_4(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(tmp_path / "kc"),
                           "--fault", "no-such-fault"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == exitcodes.USAGE
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown fault profile 'no-such-fault'" in lines[0], lines
    assert not (tmp_path / "kc").exists()


def test_emulator_accepts_every_known_fault(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    args = [sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(kc)]
    for name in F.FAULTS:
        args += ["--fault", name]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, proc.kill)  # a silent emulator must not hang the test
    watchdog.start()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert "ready" in line, line + (proc.stderr.read() if proc.poll() is not None else "")
        assert kc.is_file()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
