"""Issue 16 point 6: the offline stubs are no kinder than the real tools where the kind backend depends on it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from vmconform.emulator import EmulatedCluster
from vmconform.kind.plan import load_plan
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import EVENT, NAMESPACE, PVC
from vmconform.kube.waits import wait_for, wait_for_list

from .conftest import Stubs, run_env, run_pytest

PLAN = load_plan()


def stub(stubs: Stubs, tool: str, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = run_env(stubs)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run([str(stubs.dir / tool), *args], env=env, capture_output=True, text=True, timeout=60)


def test_an_old_docker_cli_exits_0_with_an_empty_server_version_when_the_daemon_is_down(tmp_path: Path) -> None:
    stubs = Stubs.make(tmp_path / "bin")
    stubs.host(docker_down=True, old_cli=True)
    r = stub(stubs, "docker", "info", "--format", "{{json .}}")
    assert r.returncode == 0 and json.loads(r.stdout)["ServerVersion"] == ""
    stubs.host(old_cli=False)
    assert stub(stubs, "docker", "info", "--format", "{{json .}}").returncode == 1


def test_kubectl_rollout_status_times_out_and_wait_fails_for_an_unknown_crd(
        stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.host(nfsd_serving=False)
    kubeconfig = emulated_kind.kubeconfig_path
    assert stub(stubs, "kubectl", "apply", "--server-side", "-f", str(PLAN.directory / "storage/nfs-server.yaml"),
                kubeconfig=kubeconfig).returncode == 0
    r = stub(stubs, "kubectl", "-n", "nfs-server", "rollout", "status", "deployment/nfs-server", "--timeout=2s",
             kubeconfig=kubeconfig)
    assert (r.returncode, r.stderr.strip()) == (1, "error: timed out waiting for the condition")
    r = stub(stubs, "kubectl", "wait", "--for=condition=established", "--timeout=2s", "crd/kubevirts.kubevirt.io",
             kubeconfig=kubeconfig)
    assert r.returncode == 1 and "NotFound" in r.stderr


def test_a_crd_that_never_becomes_established_fails_the_install_in_one_line(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.host(crd_established=False)
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}")
    assert r.returncode == 3, r.stdout + r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "vmconform: cluster could not be checked" in ln]
    assert len(lines) == 1 and ("`kubectl wait --for=condition=established --timeout=120s crd/kubevirts.kubevirt.io` "
                                "failed (exit 1): error: timed out waiting for the condition on "
                                "customresourcedefinitions/kubevirts.kubevirt.io") in lines[0], r.stdout + r.stderr
    assert stubs.clusters == []


def test_the_rwx_class_binds_only_while_the_nfs_server_serves(stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.host(nfsd_serving=False)
    client = Cluster.from_kubeconfig(str(emulated_kind.kubeconfig_path), backend="kind")
    try:
        client.create(NAMESPACE, None, {"metadata": {"name": "t"}})
        for name in ("before", "after"):
            if name == "after":
                stubs.host(nfsd_serving=True)
            client.create(PVC, "t", {"metadata": {"name": name}, "spec": {
                "accessModes": ["ReadWriteMany"], "storageClassName": PLAN.rwx_class,
                "resources": {"requests": {"storage": "1Gi"}}}})
            if name == "before":  # the driver tried and failed, as the real one reports it
                events, _ = wait_for_list(client, EVENT, "t", labels=None, until=lambda evs: len(evs) > 0,
                                          describe=lambda evs: f"{len(evs)} events", timeout=10,
                                          what="ProvisioningFailed")
                assert events[0]["reason"] == "ProvisioningFailed" and events[0]["involvedObject"]["name"] == "before"
                assert (client.get(PVC, "t", "before") or {}).get("status", {}).get("phase", "Pending") == "Pending"
        wait_for(client, PVC, "t", "after", until=lambda o: (o or {}).get("status", {}).get("phase") == "Bound",
                 describe=lambda o: str((o or {}).get("status")), timeout=10, what="claim Bound")
    finally:
        client.close()
