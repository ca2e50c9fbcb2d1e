"""Issue 16 point 1: RWX storage is proven before the suite runs, and nfsd is a checked prerequisite."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import NAMESPACES, PODS, PVCS
from vmconform.kind.plan import load_plan
from vmconform.kind.storagecheck import NAMESPACE_NAME, StorageNotReady, prove_rwx
from vmconform.kube.client import Cluster

from .conftest import CLUSTER, WORKERS, Stubs, run_pytest

PLAN = load_plan()
FAST = "--timeout-scale=0.03"  # the install's timeouts (rollout 18 s, claim bound 5 s) so a failure is quick


def one_line(output: str, start: str) -> str:
    lines = [ln for ln in output.splitlines() if start in ln]
    assert len(lines) == 1, output
    return lines[0]


def cluster_calls(stubs: Stubs) -> list[str]:
    return [c[0] for c in stubs.kind_calls if c not in (["get", "clusters"], ["version"])]


def test_the_nfs_server_is_ready_only_when_nfsd_serves() -> None:
    docs = list(yaml.safe_load_all((PLAN.directory / "storage" / "nfs-server.yaml").read_text()))
    server = next(d for d in docs if d["kind"] == "Deployment")
    probe = server["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert "/proc/fs/nfsd/threads" in " ".join(probe["exec"]["command"])
    assert PLAN.check_image == server["spec"]["template"]["spec"]["containers"][0]["image"]  # already pulled


def test_an_nfs_server_that_does_not_serve_stops_the_install_at_its_rollout(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.host(nfsd_serving=False)  # the module is there, the kernel NFS server did not start
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}", FAST)
    assert r.returncode == 3, r.stdout + r.stderr
    line = one_line(r.stdout + r.stderr, "vmconform: cluster could not be checked")
    assert "`kubectl -n nfs-server rollout status deployment/nfs-server --timeout=18s` failed (exit 1): " \
           "error: timed out waiting for the condition; the NFS server never became ready (its readiness probe " \
           "reads /proc/fs/nfsd/threads)" in line
    assert "Traceback" not in r.stdout + r.stderr
    assert cluster_calls(stubs) == ["create", "delete"] and stubs.clusters == []
    assert not (project / "reports" / "summary.json").exists()  # no "not conformant" made up


def test_a_claim_that_does_not_mount_on_every_worker_stops_the_install(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    # the server serves, the claim binds, but the pod on one worker never gets its NFS mount
    stubs.host(nfs_unreachable_from=[WORKERS[1]])
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}", FAST)
    assert r.returncode == 3, r.stdout + r.stderr
    line = one_line(r.stdout + r.stderr, "vmconform: cluster could not be checked")
    assert (f"the RWX claim of nfs-rwx did not mount and write on every worker in 18 s "
            f"(mount-{WORKERS[0]} Succeeded, mount-{WORKERS[1]} Pending (ContainerCreating)): "
            "the in-cluster NFS server is not serving") in line
    assert cluster_calls(stubs) == ["create", "delete"]
    assert not (project / "reports" / "summary.json").exists()


def test_a_good_install_binds_and_mounts_a_claim_on_every_worker_and_removes_it(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    seen: list[tuple[str, str]] = []

    def record(ev: object) -> None:
        if ev.res.key == PODS.key and ev.obj["metadata"].get("namespace") == NAMESPACE_NAME:  # type: ignore[attr-defined]
            seen.append((ev.obj["spec"]["nodeName"], (ev.obj.get("status") or {}).get("phase", "")))  # type: ignore[attr-defined]

    emulated_kind.call(lambda: emulated_kind.store.listen(record))
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}", "--kind-keep")
    assert r.returncode == 0, r.stdout + r.stderr
    assert {node for node, phase in seen if phase == "Succeeded"} == set(WORKERS)
    gone = emulated_kind.call(lambda: (emulated_kind.store.peek(NAMESPACES, None, NAMESPACE_NAME),
                                       emulated_kind.store.list(PVCS, NAMESPACE_NAME, None)))
    assert gone == (None, [])
    assert f"kind cluster {CLUSTER} ready" in r.stderr and "bound and mounted on every worker" in r.stderr


def test_no_nfsd_module_on_the_docker_host_is_a_missing_prerequisite(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.host(nfsd_module=False, nfsd_serving=False)
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}")
    assert r.returncode == 5, r.stdout + r.stderr
    line = one_line(r.stdout + r.stderr, "vmconform: cannot run on kind")
    assert (f"vmconform: cannot run on kind: the nfsd kernel module is not loaded on the docker host (no nfsd in "
            f"/proc/filesystems of {WORKERS[0]}, {WORKERS[1]}); the in-cluster NFS server needs it: run "
            "`sudo modprobe nfsd` on the docker host") in line
    assert ["exec", WORKERS[0], "sh", "-c"] == stubs.docker_calls[1][:4]  # asked inside the node, not here
    assert [c["argv"][0] for c in stubs.kubectl_calls if c["argv"][:1] != ["version"]] == []  # nothing installed
    assert cluster_calls(stubs) == ["create", "delete"] and stubs.clusters == []


def test_a_claim_that_never_binds_is_reported_with_the_drivers_reason(
        stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    """The RWX check on its own (the probe would stop the install earlier): a claim the driver cannot provision."""
    stubs.host(nfsd_serving=False)
    client = Cluster.from_kubeconfig(str(emulated_kind.kubeconfig_path), backend="kind")
    try:
        with pytest.raises(StorageNotReady) as exc:
            prove_rwx(client, rwx_class="nfs-rwx", workers=WORKERS, image=PLAN.check_image,
                      timeouts=lambda key: {"storage_bind": 3.0}.get(key, 30.0), progress=lambda text: None)
    finally:
        client.close()
    assert str(exc.value).startswith(
        f"the RWX class nfs-rwx did not bind a test claim in 3 s (claim {NAMESPACE_NAME}/rwx-check still Pending: "
        "ProvisioningFailed failed to provision volume with StorageClass \"nfs-rwx\": rpc error: code = Internal "
        "desc = failed to mount nfs server: mount.nfs: Connection timed out): the in-cluster NFS server is not serving")
