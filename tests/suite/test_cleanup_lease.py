"""``vmconform cleanup`` never deletes a live run: two processes against one ``vmconform emulator``.

A run holds a Lease (``coordination.k8s.io/v1``) renewed while it runs; cleanup skips that run and
says so in one line; ``--force`` deletes it anyway; a finished run deletes its Lease itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from vmconform.cli import exitcodes
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import LEASE
from vmconform.labels import run_selector
from vmconform.lease import LEASE_NAME

from .conftest import ROOT, labelled_namespaces, scenario_namespaces, start_emulator, start_run, stop_emulator, until

TWO_SCENARIOS = "Stop_reaches_Stopped or Unpause_resumes_the_VM"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    kc = tmp_path_factory.mktemp("lease") / "kubeconfig"
    proc = start_emulator(kc, "--step", "vmi.boot=3")
    yield kc
    stop_emulator(proc)


def leases(kubeconfig: Path) -> list[dict[str, Any]]:
    cluster = Cluster.from_kubeconfig(kubeconfig)
    try:
        return cluster.list(LEASE, None, labels=run_selector())[0]
    finally:
        cluster.close()


def cleanup(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", "cleanup", "--kubeconfig", str(kubeconfig), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cleanup_skips_a_live_run_which_stays_conformant(emulator: Path, tmp_path: Path) -> None:
    run = start_run(emulator, tmp_path, "-k", TWO_SCENARIOS)
    try:
        until(lambda: bool(scenario_namespaces(emulator)) and bool(leases(emulator)), timeout=60)
        lease = leases(emulator)[0]
        assert lease["metadata"]["name"] == LEASE_NAME
        assert lease["spec"]["holderIdentity"].endswith(f"/{run.pid}")
        assert lease["spec"]["leaseDurationSeconds"] == 30
        first_renewal = lease["spec"]["renewTime"]
        kubectl = subprocess.run(["kubectl", "get", "leases", "-A"], capture_output=True, text=True, timeout=60,
                                 env=dict(os.environ, KUBECONFIG=str(emulator)))
        assert kubectl.returncode == 0 and LEASE_NAME in kubectl.stdout, kubectl.stderr

        proc = cleanup(emulator)
        assert proc.returncode == 0, proc.stderr
        skipped = [line for line in proc.stdout.splitlines() if "still running" in line]
        assert len(skipped) == 1 and "--force" in skipped[0], proc.stdout
        assert "deleting namespace" not in proc.stdout

        # the Lease is renewed while the run goes on
        until(lambda: any(le["spec"]["renewTime"] != first_renewal for le in leases(emulator)), timeout=20)
        out, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == exitcodes.CONFORMANT, out[-2000:] + err[-2000:]
    assert json.loads((tmp_path / "summary.json").read_text())["verdict"] == "conformant"
    assert leases(emulator) == [], "a finished run deletes its Lease"
    assert labelled_namespaces(emulator) == []


def test_cleanup_force_deletes_a_live_run(emulator: Path, tmp_path: Path) -> None:
    run = start_run(emulator, tmp_path, "-k", TWO_SCENARIOS)
    try:
        until(lambda: bool(scenario_namespaces(emulator)) and bool(leases(emulator)), timeout=60)
        proc = cleanup(emulator, "--force")
        assert proc.returncode == 0, proc.stderr
        assert "still running" not in proc.stdout
        assert "deleting namespace" in proc.stdout
        until(lambda: not leases(emulator), timeout=30)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
        run.communicate(timeout=180)
    until(lambda: labelled_namespaces(emulator) == [], timeout=60)
