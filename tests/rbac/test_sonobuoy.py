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
    assert config["result-format"] == "junit" and config["result-files"] == ["behaviours.xml"]
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
    assert (sent / "junit.xml").is_file()
    junit = ET.parse(sent / plugin()["sonobuoy-config"]["result-files"][0]).getroot()
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    assert set(cases) == {"[lab 2.1 step 4] Stop reaches Stopped", "[lab 2.1 step 5] A stopped VM offers only Start"}
    assert all(case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
               for case in cases.values())
    assert (sent / "summary.json").is_file() and (sent / "exit-code").read_text().strip() == "0"


def test_the_behaviour_junit_marks_violations_and_skips_with_their_reasons() -> None:
    from vmconform.cli.incluster_cmd import behaviour_junit

    xml = behaviour_junit({"verdict": "not-conformant", "behaviours": [
        {"id": "a", "title": "Stop reaches Stopped", "lab_section": "2.1", "lab_steps": ["4"], "status": "violated",
         "reason": "the VM stayed Running"},
        {"id": "b", "title": "Migrate", "lab_section": "2.2", "lab_steps": ["1"], "status": "not-verified",
         "reason": "missing permission: update virtualmachines/migrate (subresources.kubevirt.io)"},
        {"id": "c", "title": "Unpause", "lab_section": "2.1", "lab_steps": ["8"], "status": "verified"}]})
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["[lab 2.1 step 4] Stop reaches Stopped"].find("failure")
    assert failure is not None and failure.get("message") == "the VM stayed Running"
    skipped = cases["[lab 2.2 step 1] Migrate"].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("missing permission: update virtualmachines/migrate")
    assert list(cases["[lab 2.1 step 8] Unpause"]) == []
