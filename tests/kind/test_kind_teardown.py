"""Issue 16 point 4: teardown cannot hang — the run's namespaces go first, `kind delete` has a timeout."""

from __future__ import annotations

from pathlib import Path

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import NAMESPACES
from vmconform.labels import MANAGED_BY

from .conftest import CLUSTER, Stubs, run_pytest


def vmconform_namespaces(emulated_kind: EmulatedCluster) -> list[str]:
    return emulated_kind.call(lambda: [n["metadata"]["name"] for n in emulated_kind.store.list(NAMESPACES, None, None)
                                       if MANAGED_BY in (n["metadata"].get("labels") or {})])


def test_the_runs_namespaces_are_deleted_before_the_cluster(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    # --keep=always keeps the scenario namespaces for inspection; a cluster that is deleted anyway
    # must not take pods with NFS mounts down with it
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}", "--keep=always")
    assert r.returncode == 0, r.stdout + r.stderr
    err = r.stderr
    assert "vmconform namespace(s) before the cluster: vmconform-" in err, err
    assert err.index("before the cluster") < err.index(f"deleting kind cluster {CLUSTER}")
    assert vmconform_namespaces(emulated_kind) == []
    assert stubs.clusters == []


def test_a_kind_delete_that_hangs_is_stopped_and_reported(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.host(kind_delete_hangs=True)
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}", "--timeout-scale=0.03")  # kind delete: 9 s
    assert r.returncode == 0, r.stdout + r.stderr  # the verdict stands
    lines = [ln for ln in r.stderr.splitlines() if "could not delete kind cluster" in ln]
    assert len(lines) == 1, r.stderr
    assert (f"could not delete kind cluster {CLUSTER}: `kind delete cluster --name={CLUSTER}` did not finish in 9 s. "
            "Its node containers may be stuck (e.g. on an NFS mount): remove them with `docker rm -f $(docker ps -aq "
            f"--filter label=io.x-k8s.kind.cluster={CLUSTER})`, then run `kind delete cluster --name {CLUSTER}`") \
        in lines[0]
