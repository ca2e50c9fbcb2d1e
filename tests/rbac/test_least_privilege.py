"""The suite on the emulated cluster with a token bound only to the ClusterRole made from the permissions
table: conformant; and with one row taken away, exactly the scenarios needing it are skipped, naming it.

One rule of each kind of need is removed in a run of its own; to keep CI time modest each such run
selects (``-k``) the scenarios expected to skip plus one that must still pass (test_permissions.py checks, for every rule,
the preflight's answer and the skip decision over all scenarios).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from vmconform.emulator import EmulatedCluster, Options
from vmconform.permissions import TABLE, cluster_role, run_needs

from .conftest import ROOT, add_cluster_role, without
from .expected import ALL, NEEDS_RWX, OWN_VOLUME, SOURCES, START_ONLY_WHEN_STOPPED, key, skipped

# scenario id → a -k word selecting it alone
SELECT = {
    "stop-reaches-stopped": "stop_reaches_stopped", "a-stopped-vm-offers-only-start": "offers_only_start",
    "start-is-offered-only-when-the-vm-is-stopped": "start_is_offered", "pause-keeps-the-vm-s-memory-allocated":
    "memory_allocated", "unpause-resumes-the-vm": "unpause_resumes", "restart-reboots-the-vm-into-a-new-instance":
    "reboots_the_vm", "migrate-moves-a-running-vm-to-another-node-and-it-returns-to-running": "migrate_moves",
    "live-migration-requires-readwritemany-storage": "requires_readwritemany",
    "each-vm-disk-is-its-own-volume-mounted-only-when-needed": "its_own_volume",
    "guest-pause-keeps-memory": "guest_pause", "guest-live-migration-keeps-the-guest-running": "guest_live_migration",
    "guest-restart-reboots-the-guest": "guest_restart",
    "evicting-the-launcher-pod-of-a-livemigrate-vm-live-migrates-the-vm-instead": "launcher_pod_of_a_livemigrate",
    "a-livemigrate-vm-whose-disks-cannot-move-is-never-evicted": "never_evicted",
    "with-livemigrateifpossible-a-vm-whose-disks-cannot-move-is-evicted-and-restarts": "evicted_and_restarts",
    "draining-a-node-moves-its-vms-away-within-the-migration-limits": "draining_a_node",
}


def source_of(index: int) -> str:
    """The --vm-source kind of a run that needs the row (containerDisk unless only an option needs it)."""
    row = TABLE[index]
    return next(kind for kind in ("containerdisk", "datasource", "pvc") if row.asked(run_needs(SOURCES[kind])))


def representatives() -> list[int]:
    """The rows removed one at a time in a whole run (CI time): the first row of each ``needed_by``; of the
    rows needed only with a ``--vm-source`` option, the first needed by every scenario of such a run and the
    first needed with a step too (``do:claim+opt:…``). test_permissions.py checks every row's skip decision."""
    seen: set[object] = set()
    out = []
    for i, p in enumerate(TABLE):
        kind: object = p.needed_by
        if not p.asked(()):
            kind = ("opt", "+" in "".join(p.needed_by))
        if kind not in seen:
            seen.add(kind)
            out.append(i)
    return out


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatedCluster, Path]]:
    path = Path(tmp_path_factory.mktemp("least")) / "kubeconfig"
    tokens = (("suite", "vmconform"),) + tuple((f"minus-{i}", f"vmconform-minus-{i}") for i in representatives())
    with EmulatedCluster(Options(tokens=tokens), kubeconfig_path=path) as c:
        for i in representatives():
            add_cluster_role(c, cluster_role(f"vmconform-minus-{i}", without(i)))
        yield c, path


def run_suite(kubeconfig: Path, context: str, report: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "vmconform", "run", "--no-html", "--kubeconfig", str(kubeconfig),
                           "--context", context, "--report-dir", str(report), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    summary = json.loads((report / "summary.json").read_text()) if (report / "summary.json").is_file() else {}
    return proc.returncode, out, summary


def test_the_suite_with_only_the_generated_role_is_conformant(emulated: tuple[EmulatedCluster, Path],
                                                               tmp_path: Path) -> None:
    _, kubeconfig = emulated
    code, out, summary = run_suite(kubeconfig, "suite", tmp_path / "r", "-n", "2", "--allow-disruptive")
    assert code == 0, out[-3000:]
    assert summary["verdict"] == "conformant"
    assert {b["id"] for b in summary["behaviours"] if b["status"] == "verified"} == ALL
    assert "Traceback" not in out


@pytest.mark.parametrize("index", representatives(), ids=[TABLE[i].describe() for i in representatives()])
def test_without_one_rule_exactly_the_scenarios_needing_it_skip(emulated: tuple[EmulatedCluster, Path],
                                                                tmp_path: Path, index: int) -> None:
    _, kubeconfig = emulated
    row = TABLE[index]
    source = source_of(index)
    expected = skipped(key(row.verbs, row.resource), source)
    chosen = set(expected) | {START_ONLY_WHEN_STOPPED}
    selection = " or ".join(SELECT[s] for s in sorted(chosen))
    code, out, summary = run_suite(kubeconfig, f"minus-{index}", tmp_path / "r", "-k", selection,
                                   "--vm-source", SOURCES[source], "--allow-disruptive")
    assert "Traceback" not in out, out[-3000:]
    assert code == 2, out[-3000:]
    assert summary["verdict"] == "incomplete"
    by_id = {b["id"]: b for b in summary["behaviours"]}
    assert set(by_id) == chosen
    skips = {sid for sid, b in by_id.items() if b["status"] != "verified"}
    assert skips == expected, {sid: (b["status"], b.get("reason")) for sid, b in by_id.items()}
    for sid in skips:
        assert by_id[sid]["status"] == "not-verified"
        assert by_id[sid]["reason"].startswith(f"missing permission: {row.describe()}"), by_id[sid]["reason"]


def test_a_datasource_run_with_only_the_generated_role_verifies_its_behaviours(
        emulated: tuple[EmulatedCluster, Path], tmp_path: Path) -> None:
    """``--vm-source datasource:…``: the root DataVolumes awaited, cloned again and their claims read back
    (the two scenarios reading the root claim; the other scenarios need nothing more on such a run)."""
    _, kubeconfig = emulated
    chosen = {NEEDS_RWX, OWN_VOLUME}
    code, out, summary = run_suite(kubeconfig, "suite", tmp_path / "r", "--vm-source", SOURCES["datasource"],
                                   "-k", " or ".join(SELECT[s] for s in sorted(chosen)))
    assert "Traceback" not in out, out[-3000:]
    assert code == 0 and summary["verdict"] == "conformant", out[-3000:]
    assert {b["id"] for b in summary["behaviours"] if b["status"] == "verified"} == chosen
