"""A fleet run: three emulated clusters at once, one of them broken (a fault profile), each into its own
report directory, the behaviour × cluster summary, the worst cluster's exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from vmconform.emulator import EmulatedCluster, Options

ROOT = Path(__file__).resolve().parents[2]
SELECT = "stop_reaches_stopped or start_is_offered"
STOP = "stop-reaches-stopped"
START = "start-is-offered-only-when-the-vm-is-stopped"


def emulated_clusters(tmp: Path, named: dict[str, Options]) -> Iterator[list[Path]]:
    """Start one emulated cluster per name, yield their kubeconfigs, close them all."""
    running = [EmulatedCluster(o, kubeconfig_path=tmp / f"{name}.kubeconfig") for name, o in named.items()]
    try:
        for c in running:
            c.start()
        yield [c.kubeconfig_path for c in running if c.kubeconfig_path is not None]
    finally:
        for c in running:
            c.close()


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    yield from emulated_clusters(Path(tmp_path_factory.mktemp("fleet")), {
        "east": Options(), "west": Options(), "broken": Options(faults=("start-accepted-when-running",))})


def vmconform(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def test_three_clusters_one_broken(clusters: list[Path], tmp_path: Path) -> None:
    report = tmp_path / "reports"
    args = [a for k in clusters for a in ("--kubeconfig", str(k))]
    out = vmconform("run", *args, "--no-html", "--report-dir", str(report), "-k", SELECT)
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stdout + out.stderr
    doc = json.loads((report / "summary.json").read_text())
    assert doc["schema"] == "vmconform.fleet/v1"
    assert (doc["verdict"], doc["exit_code"], doc["worst_cluster"]) == ("not-conformant", 1, "broken")
    assert {c["name"]: (c["verdict"], c["exit_code"]) for c in doc["clusters"]} == {
        "east": ("conformant", 0), "west": ("conformant", 0), "broken": ("not-conformant", 1)}
    rows = {b["id"]: {n: v["status"] for n, v in b["clusters"].items()} for b in doc["behaviours"]}
    assert rows == {STOP: {"east": "verified", "west": "verified", "broken": "verified"},
                    START: {"east": "verified", "west": "verified", "broken": "violated"}}
    for name in ("east", "west", "broken"):  # each cluster's own reports
        own = json.loads((report / name / "summary.json").read_text())
        assert own["schema"] == "vmconform.summary/v1" and (report / name / "junit.xml").is_file()
        assert (report / name / "run.log").is_file()
    md = (report / "summary.md").read_text()
    assert "| east | west | broken |" in md and "| violated |" in md
    assert "| 2.1 | Start is offered only when the VM is stopped | verified | verified | violated |" in out.stdout


def test_contexts_of_one_kubeconfig_and_an_uncheckable_one(clusters: list[Path], tmp_path: Path) -> None:
    merged = yaml.safe_load(clusters[0].read_text())
    merged["contexts"][0]["name"] = "east-ctx"
    dead = yaml.safe_load(clusters[1].read_text())
    dead["clusters"][0]["name"] = "dead"
    merged["clusters"].append(dead["clusters"][0])
    merged["users"].append({"name": "dead", "user": {"token": "not-a-token"}})  # the cluster refuses it
    merged["contexts"].append({"name": "dead-ctx", "context": {"cluster": "dead", "user": "dead"}})
    path = tmp_path / "merged.kubeconfig"
    path.write_text(yaml.safe_dump(merged))
    report = tmp_path / "reports"
    out = vmconform("run", "--kubeconfig", str(path), "--context", "east-ctx", "--context", "dead-ctx", "--no-html",
                    "--report-dir", str(report), "-k", "stop_reaches_stopped")
    assert out.returncode == 3, out.stdout[-3000:] + out.stderr[-3000:]
    doc = json.loads((report / "summary.json").read_text())
    by_name = {c["name"]: c for c in doc["clusters"]}
    assert by_name["east-ctx"]["verdict"] == "conformant"
    assert by_name["dead-ctx"]["verdict"] is None and by_name["dead-ctx"]["exit_code"] == 3
    assert "refused our credentials" in by_name["dead-ctx"]["problem"], by_name["dead-ctx"]
    assert doc["worst_cluster"] == "dead-ctx"


@pytest.mark.parametrize(("args", "message"), [
    (["--kubeconfig", "a", "--kubeconfig", "b", "--context", "x"], "2 --kubeconfig and 1 --context values"),
    (["--context", "x", "--context", "y"], "several --context values need --kubeconfig"),
    (["--kubeconfig", "/nope/a", "--kubeconfig", "/nope/b"], "kubeconfig /nope/a does not exist"),
])
def test_a_fleet_that_cannot_be_formed_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = vmconform("run", *args, "--report-dir", str(tmp_path / "r"))
    assert out.returncode == 4 and out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


@pytest.fixture()
def slow_clusters(tmp_path: Path) -> Iterator[list[Path]]:
    """Two clusters whose VMs take 30 s to boot: the runs are surely still going when the signal comes."""
    slow = {"steps": {"vmi.boot": 30.0}}
    yield from emulated_clusters(tmp_path, {"east": Options(extra=slow), "west": Options(extra=slow)})


def test_sigterm_to_the_fleet_reaches_every_cluster_run(slow_clusters: list[Path], tmp_path: Path) -> None:
    """CI cancels by SIGTERM to the fleet process alone: each cluster's run is interrupted and cleans up."""
    import signal
    import threading

    clusters = slow_clusters

    from vmconform.kube.client import Cluster
    from vmconform.kube.kinds import NAMESPACE
    from vmconform.labels import run_selector

    def namespaces(kc: Path) -> list[str]:
        cluster = Cluster.from_kubeconfig(kc)
        try:
            return [n["metadata"]["name"] for n in cluster.list(NAMESPACE, labels=run_selector())[0]]
        finally:
            cluster.close()

    report = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "vmconform", "run", "--kubeconfig", str(clusters[0]),
                             "--kubeconfig", str(clusters[1]), "--no-html", "--report-dir", str(report),
                             "-k", "stop_reaches_stopped"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        gate = threading.Event()
        for _ in range(1200):  # both runs have created something (their Lease namespace at least)
            if all(namespaces(k) for k in clusters[:2]):
                break
            gate.wait(0.1)
        else:
            raise AssertionError("the cluster runs did not start")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out[-2000:] + err[-2000:]
    doc = json.loads((report / "summary.json").read_text())
    assert {c["exit_code"] for c in doc["clusters"]} == {143}
    gate = threading.Event()
    for _ in range(600):
        if not any(namespaces(k) for k in clusters[:2]):
            break
        gate.wait(0.1)
    assert not any(namespaces(k) for k in clusters[:2]), "an interrupted run left its namespaces"
