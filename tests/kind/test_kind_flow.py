"""``--cluster kind`` end to end, offline: create, install, wait ready, run the suite, delete."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import KUBEVIRTS, STORAGECLASSES
from vmconform.kind.plan import load_plan

from .conftest import CLUSTER, WORKERS, Stubs, run_cli, run_pytest

PLAN = load_plan()
KUBECONFIG = f".pytest-kind/{CLUSTER}/kubeconfig"  # where pytest-kind's KindCluster keeps it
APPLY = ["apply", "--server-side", "--force-conflicts", "--field-manager=vmconform", "-f"]


def applied(stubs: Stubs) -> list[str]:
    return [c["source"] for c in stubs.kubectl_calls if "apply" in c["argv"]]


def not_get_clusters(stubs: Stubs) -> list[list[str]]:
    return [c for c in stubs.kind_calls if c not in (["get", "clusters"], ["version"])]


def observed(project: Path) -> dict:
    return json.loads((project / "observed.json").read_text())


def kv_of(emulated_kind: EmulatedCluster) -> dict:
    return emulated_kind.call(lambda: emulated_kind.store.peek(KUBEVIRTS, "kubevirt", "kubevirt"))


def test_the_whole_flow_creates_installs_waits_runs_and_deletes(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}", "--kubevirt-emulation=on")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout

    # kind: asked whether the cluster exists, created it from our multi-node config, deleted it at the end
    assert stubs.kind_calls[0] == ["version"]
    assert stubs.kind_calls[1] == ["get", "clusters"]
    assert not_get_clusters(stubs) == [
        ["create", "cluster", f"--name={CLUSTER}", f"--kubeconfig={KUBECONFIG}", f"--image={PLAN.node_image}",
         "--config", str(PLAN.kind_config)],
        ["delete", "cluster", f"--name={CLUSTER}", f"--kubeconfig={KUBECONFIG}"],
    ]
    config = yaml.safe_load((stubs.dir / f"config-{CLUSTER}.yaml").read_text())
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert stubs.clusters == []

    # kubectl: KubeVirt (operator, CRD wait, operator rollout, CR), then the storage, then the rollouts;
    # all on the kind kubeconfig
    calls = [c for c in stubs.kubectl_calls if c["argv"][:1] != ["version"]]
    assert {c["kubeconfig"] for c in calls} == {KUBECONFIG}  # relative to the checkout, as pytest-kind keeps it
    assert applied(stubs) == [
        f"https://github.com/kubevirt/kubevirt/releases/download/{PLAN.kubevirt_version}/kubevirt-operator.yaml",
        f".pytest-kind/{CLUSTER}/kubevirt-cr.yaml",
        str(PLAN.directory / "storage/nfs-server.yaml"),
        "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/v4.13.4/deploy/v4.13.4/rbac-csi-nfs.yaml",
        "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/v4.13.4/deploy/v4.13.4/csi-nfs-driverinfo.yaml",
        "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/v4.13.4/deploy/v4.13.4/csi-nfs-controller.yaml",
        "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/v4.13.4/deploy/v4.13.4/csi-nfs-node.yaml",
        str(PLAN.directory / "storage/storageclass-nfs-rwx.yaml"),
    ]
    assert all(c["argv"][:len(APPLY)] == APPLY for c in calls if "apply" in c["argv"])
    argvs = [c["argv"] for c in calls]
    assert argvs[1][:2] == ["wait", "--for=condition=established"] and argvs[1][-1] == "crd/kubevirts.kubevirt.io"
    assert argvs[2][:5] == ["-n", "kubevirt", "rollout", "status", "deployment/virt-operator"]
    assert [a[:5] for a in argvs[-3:]] == [
        ["-n", "nfs-server", "rollout", "status", "deployment/nfs-server"],
        ["-n", "kube-system", "rollout", "status", "deployment/csi-nfs-controller"],
        ["-n", "kube-system", "rollout", "status", "daemonset/csi-nfs-node"],
    ]
    by_source = {c["source"]: c for c in calls if "apply" in c["argv"]}
    assert by_source[str(PLAN.directory / "storage/nfs-server.yaml")]["documents"] == [
        "Namespace/nfs-server", "Service/nfs-server", "PersistentVolumeClaim/nfs-data", "Deployment/nfs-server"]

    # what the API really holds: the CR with useEmulation (applied once: generation 1), ready for the
    # release; the RWX class of the NFS CSI driver; the RWX check's namespace gone
    kv = kv_of(emulated_kind)
    assert kv["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is True
    assert kv["status"]["phase"] == "Deployed" and kv["status"]["observedGeneration"] == kv["metadata"]["generation"] == 1
    assert kv["status"]["observedKubeVirtVersion"] == PLAN.kubevirt_version
    sc = emulated_kind.call(lambda: emulated_kind.store.peek(STORAGECLASSES, None, "nfs-rwx"))
    assert sc["provisioner"] == "nfs.csi.k8s.io" and sc["parameters"]["server"] == "nfs-server.nfs-server.svc.cluster.local"

    # the suite ran on it: kind backend, the NFS and standard classes, emulation's timeout scale
    seen = observed(project)
    assert seen == {"backend": "kind", "phase": "Deployed", "kubevirt": PLAN.kubevirt_version, "progressing": ["False"],
                    "timeout_scale": 3.0, "rwx_class": "nfs-rwx",
                    "rwo_class": "standard", "schedulable": WORKERS, "migration": True,
                    "kubeconfig_host": emulated_kind.url}
    summary = json.loads((project / "reports" / "summary.json").read_text())
    assert summary["run"]["timeout_scale"] == 3.0

    # progress, step by step, not swallowed by pytest's capture
    err = r.stderr
    for text in (f"[1/6] creating kind cluster {CLUSTER}: 1 control-plane + 2 workers",
                 f"[2/6] checking the docker host from {WORKERS[0]}, {WORKERS[1]}",
                 "KubeVirt's useEmulation on (--kubevirt-emulation on)",
                 f"[3/6] installing KubeVirt {PLAN.kubevirt_version}", "KubeVirt CR kubevirt/kubevirt with useEmulation true",
                 "[4/6] installing RWX storage", f"[5/6] waiting for KubeVirt {PLAN.kubevirt_version}",
                 f"KubeVirt {PLAN.kubevirt_version} ready after",
                 "[6/6] waiting for the storage and the workers", "test claim of nfs-rwx Bound; mounting it on",
                 "software emulation: timeout scale 1 -> 3", f"deleting kind cluster {CLUSTER}"):
        assert text in err, err
    assert err.index("[1/6]") < err.index("[5/6]") < err.index("deleting kind cluster")


def test_a_kept_cluster_is_reused_and_only_its_creator_may_delete_it(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    first = run_pytest(project, stubs, f"--kind-bin={stubs.kind}", "--kind-keep", "--kubevirt-emulation=on")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [c[0] for c in not_get_clusters(stubs)] == ["create"]  # kept: no delete
    assert stubs.clusters == [CLUSTER]
    assert f"kind cluster {CLUSTER} kept (--kind-keep)" in first.stderr
    assert kv_of(emulated_kind)["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is True
    assert observed(project)["timeout_scale"] == 3.0

    # second run: kind found on PATH, another KubeVirt version asked for, emulation off, the kubeconfig
    # file lost meanwhile. virt-operator takes a while to update; the CR reads Deployed all along, and
    # its update webhook answers only once the new operator pods run.
    (project / KUBECONFIG).unlink()
    stubs.host(operator_seconds=3.0)
    before = len(stubs.kind_calls)
    second = run_pytest(project, stubs, "--kubevirt-version=v1.8.4", "--kubevirt-emulation=off")
    assert second.returncode == 0, second.stdout + second.stderr
    calls = [c for c in stubs.kind_calls[before:] if c not in (["get", "clusters"], ["version"])]
    assert calls == [["export", "kubeconfig", f"--name={CLUSTER}", f"--kubeconfig={KUBECONFIG}"]]  # no create, no delete
    assert stubs.clusters == [CLUSTER]
    assert f"[1/6] reusing kind cluster {CLUSTER} (this run did not create it" in second.stderr
    assert f"kind cluster {CLUSTER} left in place: this run did not create it" in second.stderr
    assert "https://github.com/kubevirt/kubevirt/releases/download/v1.8.4/kubevirt-operator.yaml" in applied(stubs)
    # the suite ran only once the operator had really moved the cluster to v1.8.4
    assert observed(project)["kubevirt"] == "v1.8.4" and observed(project)["progressing"] == ["False"]
    assert observed(project)["timeout_scale"] == 1.0
    kv = kv_of(emulated_kind)
    # the CR went through the operator's update webhook, and a true useEmulation is really turned off
    assert kv["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is False
    assert kv["status"]["observedKubeVirtVersion"] == "v1.8.4"
    # the CR was applied once per run, never patched
    assert [c["argv"][0] for c in stubs.kubectl_calls if c["argv"][:1] == ["patch"]] == []
    assert sum(c.get("source", "").endswith("kubevirt-cr.yaml") for c in stubs.kubectl_calls) == 2


def test_vmconform_run_on_kind_gives_the_verdict_and_removes_the_cluster(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    r = run_cli(project, stubs, f"--kind-bin={stubs.kind}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "vmconform: verdict conformant" in r.stdout
    assert [c[:2] for c in not_get_clusters(stubs)] == [["create", "cluster"], ["delete", "cluster"]]
    assert stubs.clusters == []
    summary = json.loads((project / "reports" / "summary.json").read_text())
    assert summary["cluster"]["backend"] == "kind"
    assert summary["run"]["timeout_scale"] == 1.0  # the stub host's workers have /dev/kvm and /dev/vhost-net


def test_a_failed_install_is_one_line_and_the_new_cluster_is_removed(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.kubectl_fails_on("csi-nfs-node.yaml")
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}")
    assert r.returncode == 3, r.stdout + r.stderr
    url = "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/v4.13.4/deploy/v4.13.4/csi-nfs-node.yaml"
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "vmconform: cluster could not be checked" in ln]
    assert len(lines) == 1, r.stdout + r.stderr
    assert f"`kubectl {' '.join(APPLY)} {url}` failed (exit 1): error: unable to read URL \"{url}\"" in lines[0]
    assert "Traceback" not in r.stdout + r.stderr
    assert [c[0] for c in not_get_clusters(stubs)] == ["create", "delete"] and stubs.clusters == []
    assert not (project / "reports" / "summary.json").exists()
