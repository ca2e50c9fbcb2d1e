"""Offline kind runs: stub ``kind``/``kubectl``/``docker`` executables and an emulated cluster behind them.

The stub ``kind create cluster`` writes the emulated cluster's kubeconfig, so the kind backend's
whole flow (create, check the host, install, wait ready, prove RWX, run the suite, delete) runs
against a real HTTPS API. The stubs (``stubs.py``) share a stub host (``host.json``); the cluster's
stand-ins for virt-operator, the kubelets and the NFS CSI driver are in ``fakes.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.resources import NODES, STORAGECLASSES

from .fakes import FakeVirtOperator, FakeWorkloads
from .stubs import HOST, Stubs

CLUSTER = "vmconform"
WORKERS = [f"{CLUSTER}-worker", f"{CLUSTER}-worker2"]
RUN_TIMEOUT = 60  # seconds for one inner pytest run (each takes a few)

# --------------------------------------------------------------------------- the emulated "kind" cluster


def seed_kind_cluster(c: EmulatedCluster) -> None:
    """What ``kind create cluster`` leaves: three nodes and the default ``standard`` class."""
    def seed() -> None:
        s = c.store
        s.create(NODES, {"metadata": {"name": f"{CLUSTER}-control-plane",
                                      "labels": {"node-role.kubernetes.io/control-plane": ""}}})
        for name in WORKERS:
            s.create(NODES, {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
        s.create(STORAGECLASSES, {
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete"})
    c.call(seed)


@pytest.fixture
def emulated_kind(tmp_path: Path) -> Iterator[EmulatedCluster]:
    host = tmp_path / "bin" / "host.json"
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_text(json.dumps(HOST))
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "emulator" / "kubeconfig",
                         controllers=[FakeVirtOperator(WORKERS, host), FakeWorkloads(host)]) as c:  # type: ignore[list-item]
        seed_kind_cluster(c)
        yield c


@pytest.fixture
def stubs(tmp_path: Path, emulated_kind: EmulatedCluster) -> Stubs:
    s = Stubs.make(tmp_path / "bin")
    (s.dir / "emulator-kubeconfig").write_text(str(emulated_kind.kubeconfig_path))
    return s


# --------------------------------------------------------------------------- a tiny suite to run

FEATURE = """\
@kind-smoke
Feature: The kind cluster
  Scenario: The kind cluster is ready for the lab
    Given the suite's cluster
    Then KubeVirt is Deployed with two schedulable workers and RWX storage
"""

STEPS = '''
import json
from pathlib import Path

from pytest_bdd import given, then

from vmconform.kube.kinds import KUBEVIRT


@given("the suite's cluster", target_fixture="suite")
def _suite(vmconform_session):
    return vmconform_session


@then("KubeVirt is Deployed with two schedulable workers and RWX storage")
def _ready(suite):
    kv = suite.cluster.get(KUBEVIRT, "kubevirt", "kubevirt")
    suite.create_namespace("kind smoke")  # a scenario namespace, as every real scenario has
    f = suite.facts
    Path("observed.json").write_text(json.dumps({
        "backend": suite.cluster.backend, "phase": kv["status"]["phase"], "timeout_scale": suite.timeouts.scale,
        "kubevirt": kv["status"].get("observedKubeVirtVersion"),
        "progressing": [c["status"] for c in kv["status"]["conditions"] if c["type"] == "Progressing"],
        "rwx_class": f.rwx_class, "rwo_class": f.rwo_class, "schedulable": f.schedulable_nodes,
        "migration": f.capabilities["migration"].ok, "kubeconfig_host": suite.cluster.host}))
    assert kv["status"]["phase"] == "Deployed"
    assert f.capabilities["migration"].ok and f.capabilities["rwx"].ok, f.capabilities
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout-shaped directory (features/ + steps/) with one scenario, for pytest and `vmconform run`."""
    root = tmp_path / "project"
    (root / "features").mkdir(parents=True)
    (root / "steps").mkdir()
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    kind-smoke: the kind smoke scenario\n")
    (root / "conftest.py").write_text('pytest_plugins = ["steps.kind_steps"]\n')
    (root / "steps" / "__init__.py").write_text("")
    (root / "steps" / "kind_steps.py").write_text(STEPS)
    (root / "features" / "kind_ready.feature").write_text(FEATURE)
    (root / "features" / "test_kind_ready.py").write_text(
        'from pytest_bdd import scenarios\n\nscenarios("kind_ready.feature")\n')
    return root


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a download from it fails at once, like having no network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/kind-linux-amd64"


def run_env(stubs: Stubs) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KIND_EXPERIMENTAL_PROVIDER", "PYTEST_ADDOPTS",
                                                            "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID")}
    env["PATH"] = str(stubs.dir)  # only the stubs: no real docker, kind or kubectl can be reached
    env["KIND_DOWNLOAD_URL"] = closed_port_url()
    env["KUBECTL_DOWNLOAD_URL"] = closed_port_url()
    return env


def run_pytest(project: Path, stubs: Stubs, *args: str) -> subprocess.CompletedProcess[str]:
    """The suite on kind, as a user runs it: a fresh pytest process in the checkout."""
    argv = [sys.executable, "-m", "pytest", "features", "-p", "vmconform.kind.options", "-p", "no:cacheprovider",
            "-q", "--cluster=kind", *args]
    return subprocess.run(argv, cwd=project, env=run_env(stubs), capture_output=True, text=True, timeout=RUN_TIMEOUT)


def run_cli(project: Path, stubs: Stubs, *args: str, pytest_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``vmconform run --cluster kind ...`` in the checkout."""
    argv = [str(Path(sys.executable).with_name("vmconform")), "run", "--cluster=kind", "--no-html", *args]
    if pytest_args:
        argv += ["--", *pytest_args]
    return subprocess.run(argv, cwd=project, env=run_env(stubs), capture_output=True, text=True, timeout=RUN_TIMEOUT)
