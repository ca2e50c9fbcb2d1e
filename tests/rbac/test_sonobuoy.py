"""The Sonobuoy plugin: its definition is a job plugin of Sonobuoy's format, and its container, run as
Sonobuoy's job driver would run it (results volume at /tmp/sonobuoy/results, ``SONOBUOY_RESULTS_DIR``),
leaves the JUnit where the worker takes it: a ``done`` file naming what to send."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from vmconform.emulator import EmulatedCluster, Options

from .conftest import ROOT
from .incluster_env import container_argv, pod_environment

PLUGIN = ROOT / "clusters" / "sonobuoy" / "vmconform-plugin.yaml"
RESULTS = "/tmp/sonobuoy/results"  # sonobuoy pkg/plugin/constants.go ResultsDir @ v0.57.5


def plugin() -> dict[str, Any]:
    return yaml.safe_load(PLUGIN.read_text())


def test_the_plugin_is_a_junit_job_plugin_mounting_the_results_dir() -> None:
    doc = plugin()
    assert set(doc) <= {"sonobuoy-config", "spec", "podSpec", "extra-volumes", "config-map"}
    config = doc["sonobuoy-config"]
    assert config["driver"] == "Job" and config["plugin-name"] == "vmconform"
    assert config["result-format"] == "junit" and config["result-files"] == ["junit.xml"]
    spec = doc["spec"]
    assert spec["name"] and spec["image"]
    assert {"mountPath": RESULTS, "name": "results"} in spec["volumeMounts"]
    assert container_argv(spec)[-2:] == ["job", "--sonobuoy"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatedCluster, Path]]:
    path = Path(tmp_path_factory.mktemp("sonobuoy")) / "kubeconfig"
    with EmulatedCluster(Options(tokens=(("sonobuoy-serviceaccount", "cluster-admin"),)), kubeconfig_path=path) as c:
        yield c, path


def test_the_plugin_container_writes_junit_and_the_done_file(cluster: tuple[EmulatedCluster, Path],
                                                              tmp_path: Path) -> None:
    c, _ = cluster
    spec = plugin()["spec"]
    env = pod_environment(c, tmp_path, "sonobuoy", "sonobuoy-serviceaccount")
    # Sonobuoy's default service account is cluster-admin: bind it so in the emulated cluster
    kube = subprocess.run(["kubectl", "--kubeconfig", str(c.kubeconfig_path), "create", "clusterrolebinding",
                           "sonobuoy-serviceaccount-sonobuoy", "--clusterrole=cluster-admin",
                           "--serviceaccount=sonobuoy:sonobuoy-serviceaccount"], capture_output=True, text=True,
                          timeout=60)
    assert kube.returncode == 0, kube.stderr
    results = tmp_path / "results"  # the plugin's emptyDir, mounted at /tmp/sonobuoy/results
    results.mkdir()
    env.update({e["name"]: e["value"] for e in spec.get("env", [])})
    env["SONOBUOY_RESULTS_DIR"] = str(results)
    argv = container_argv(spec) + ["--", "-k", "stop_reaches_stopped or offers_only_start"]
    run = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    done = results / "done"
    assert done.is_file(), "no done file: Sonobuoy's worker would wait until its timeout"
    sent = Path(done.read_text().strip())
    assert sent.is_dir() and results in sent.parents  # a directory: the worker sends it as a tarball
    junit = ET.parse(sent / "junit.xml").getroot()
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    assert len(cases) == 2, list(cases)
    assert all(case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
               for case in cases.values())
    assert (sent / "summary.json").is_file() and (sent / "exit-code").read_text().strip() == "0"
