"""In the cluster: the manifests apply (server-side, dry run) to the emulated cluster, the Job's command
runs as the pod would (in-cluster environment, the service account the manifests bind), and
``vmconform collect`` unpacks what it printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from vmconform.emulator import EmulatedCluster, Options

from .conftest import ROOT
from .incluster_env import container_argv, pod_environment

NS = "vmconform-ci"


def vmconform(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
              cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], capture_output=True, text=True, env=env,
                          input=stdin, cwd=cwd, timeout=600)


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          input=stdin, timeout=120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatedCluster, Path]]:
    path = Path(tmp_path_factory.mktemp("incluster")) / "kubeconfig"
    with EmulatedCluster(Options(), kubeconfig_path=path) as c:
        yield c, path


def manifests(*args: str) -> tuple[str, list[dict[str, Any]]]:
    out = vmconform("manifests", "--namespace", NS, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout, list(yaml.safe_load_all(out.stdout))


def test_the_manifests_apply_server_side_as_a_dry_run(cluster: tuple[EmulatedCluster, Path]) -> None:
    _, kubeconfig = cluster
    text, docs = manifests("--image", "registry.example/vmconform:1")
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Job"]
    job = docs[-1]["spec"]["template"]["spec"]
    assert job["serviceAccountName"] == "vmconform" and job["containers"][0]["image"] == "registry.example/vmconform:1"
    # a dry run cannot create the namespace its objects go into (kube-apiserver answers NotFound too)
    assert kubectl(kubeconfig, "create", "namespace", NS).returncode == 0
    out = kubectl(kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", "-", stdin=text)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("serverside-applied (server dry run)") == 5, out.stdout
    for kind in ("clusterrole/vmconform", f"serviceaccount/vmconform -n {NS}", f"job/vmconform -n {NS}"):
        assert kubectl(kubeconfig, "get", *kind.split()).returncode == 1, f"{kind} exists after a dry run"


def test_the_job_runs_the_suite_with_its_service_account_and_collect_unpacks_it(
        cluster: tuple[EmulatedCluster, Path], tmp_path: Path) -> None:
    c, kubeconfig = cluster
    text, docs = manifests("--run-arg=-k", "--run-arg=stop_reaches_stopped or start_is_offered")
    applied = kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=text)
    assert applied.returncode == 0, applied.stderr
    env = pod_environment(c, tmp_path, NS, "vmconform")
    container = docs[-1]["spec"]["template"]["spec"]["containers"][0]
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    run = subprocess.run(container_argv(container), capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"as the pod's service account (namespace {NS})" in run.stdout
    log = tmp_path / "pod.log"
    log.write_text(run.stdout)
    got = vmconform("collect", str(log), "--out", str(tmp_path / "collected"))
    assert got.returncode == 0, got.stderr
    assert "verdict conformant, exit code 0" in got.stdout
    summary = json.loads((tmp_path / "collected" / "summary.json").read_text())
    assert summary["verdict"] == "conformant" and not summary["emulated"]
    assert {b["id"] for b in summary["behaviours"]} == {"stop-reaches-stopped",
                                                         "start-is-offered-only-when-the-vm-is-stopped"}
    assert (tmp_path / "collected" / "junit.xml").is_file()
    assert any((tmp_path / "collected" / "allure-results").iterdir())
    # the same log through stdin
    again = vmconform("collect", "-", "--out", str(tmp_path / "again"), stdin=run.stdout)
    assert again.returncode == 0 and (tmp_path / "again" / "summary.json").is_file()


def test_without_the_binding_the_service_account_may_do_nothing(cluster: tuple[EmulatedCluster, Path],
                                                                 tmp_path: Path) -> None:
    c, _ = cluster
    env = pod_environment(c, tmp_path, "elsewhere", "vmconform")  # no ClusterRoleBinding names this account
    run = vmconform("job", "--", "-k", "stop_reaches_stopped", env=env)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    got = vmconform("collect", "-", "--out", str(tmp_path / "out"), stdin=run.stdout)
    assert got.returncode == 2
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["behaviours"][0]["reason"].startswith("missing permission: list nodes")


def test_outside_a_pod_the_job_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith("KUBERNETES_SERVICE") and k != "VMCONFORM_SERVICEACCOUNT_DIR"}
    run = vmconform("job", env=env)
    assert run.returncode == 5
    assert run.stderr.strip() == ("vmconform: unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                                  "KUBERNETES_SERVICE_PORT must be defined")
    env.update({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
                "VMCONFORM_SERVICEACCOUNT_DIR": str(tmp_path)})
    run = vmconform("job", env=env)
    assert run.returncode == 5 and run.stderr.count("\n") == 1 and "no service-account token at" in run.stderr


@pytest.mark.parametrize(("log", "message"), [
    ("just a pod log\n", "no results in this log"),
    ("----- BEGIN VMCONFORM RESULTS -----\nH4sIAAAA\n", "cut off"),
    ("----- BEGIN VMCONFORM RESULTS -----\n!!!\n----- END VMCONFORM RESULTS -----\n", "cannot be unpacked"),
])
def test_collect_refuses_a_log_without_whole_results_in_one_line(tmp_path: Path, log: str, message: str) -> None:
    got = vmconform("collect", "-", "--out", str(tmp_path / "out"), stdin=log)
    assert got.returncode == 4 and got.stderr.count("\n") == 1 and message in got.stderr, got.stderr
    assert "Traceback" not in got.stderr
