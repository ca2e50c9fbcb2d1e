"""Release profiles (kubevirt-semantics.md §11): each emulated KubeVirt release shows its own differences.

Per profile: start the emulated cluster with ``kubevirt_version``, start a VM, migrate it, stop it, and read
with the official ``kubernetes`` client what differs between releases. The expected values are written out
here per release (from the tags' source, docs/fidelity.md ``releases``), not read from releases.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest
from kubernetes import client, config

from vmconform.emulator import Options

Obj = dict[str, Any]
VMIMS = "virtualmachineinstancemigrations"
ROOT = Path(__file__).resolve().parents[2]


class Expect(NamedTuple):
    finalizer: str
    id_label: bool
    sidecar: bool  # guest-console-log is a native sidecar init container
    source_target_state: bool
    storage_live_migratable: bool
    source_pod_phase: str  # the source launcher pod after a successful migration


OLD, NEW = "foregroundDeleteVirtualMachine", "kubevirt.io/foregroundDeleteVirtualMachine"
EXPECT = {
    "v1.3.0": Expect(OLD, False, False, False, False, "Failed"),
    "v1.4.0": Expect(OLD, False, False, False, True, "Failed"),
    "v1.5.0": Expect(OLD, False, False, False, True, "Failed"),
    "v1.6.0": Expect(OLD, False, True, True, True, "Succeeded"),
    "v1.7.0": Expect(NEW, True, True, True, True, "Succeeded"),
    "v1.9.0": Expect(NEW, True, True, True, True, "Succeeded"),
}


def _cond(o: Obj | None, ctype: str) -> Obj | None:
    return next((c for c in (o or {}).get("status", {}).get("conditions", []) or [] if c["type"] == ctype), None)


def _names(containers: list[Obj] | None) -> list[str]:
    return [c["name"] for c in containers or []]


def _launcher(kv: Any, ns: str, vmi: Obj) -> Obj:
    pods = kv.pods(ns, f"kubevirt.io/created-by={vmi['metadata']['uid']}")
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def _wait_pod(kv: Any, ns: str, name: str, pred: Callable[[Obj], bool]) -> Obj:
    return kv.wait_core(kv.core.list_namespaced_pod, lambda p: p["metadata"]["name"] == name and pred(p), ns)


@pytest.mark.parametrize("version", list(EXPECT))
def test_release_profile(version: str, kv_factory: Any) -> None:
    want = EXPECT[version]
    with kv_factory(Options(nodes=2, seed=3, kubevirt_version=version)) as kv:
        cr = kv.custom.get_namespaced_custom_object("kubevirt.io", "v1", "kubevirt", "kubevirts", "kubevirt")
        st = cr["status"]
        assert (st["observedKubeVirtVersion"], st["targetKubeVirtVersion"], st["operatorVersion"]) == (
            version, version, version)
        # migration settings added in v1.5.0 (allowWorkloadDisruption) and v1.8.0 (utilityVolumesTimeout)
        newer = {"allowWorkloadDisruption": version >= "v1.5.0", "utilityVolumesTimeout": version >= "v1.8.0"}
        migrations = cr["spec"]["configuration"]["migrations"]
        assert {k: k in migrations for k in newer} == newer, migrations
        status, text = kv.call("GET", "/apis/subresources.kubevirt.io/v1/version")
        assert status == 200 and json.loads(text)["gitVersion"] == version

        ns = "rel"
        kv.core.create_namespace({"metadata": {"name": ns}})
        vmi = kv.running(ns, "vm")
        assert vmi["metadata"]["finalizers"].count(want.finalizer) == 1, vmi["metadata"]["finalizers"]
        other = NEW if want.finalizer == OLD else OLD
        assert other not in vmi["metadata"]["finalizers"]
        assert vmi["status"]["launcherContainerImageVersion"] == f"quay.io/kubevirt/virt-launcher:{version}"
        assert (_cond(vmi, "StorageLiveMigratable") is not None) == want.storage_live_migratable
        assert _cond(vmi, "LiveMigratable")["status"] == "True"  # type: ignore[index]

        pod = _launcher(kv, ns, vmi)
        labels = pod["metadata"]["labels"]
        assert (labels.get("vmi.kubevirt.io/id") == "vm") == want.id_label, labels
        assert ("vmi.kubevirt.io/id" in labels) == want.id_label
        regular, init = pod["spec"]["containers"], pod["spec"].get("initContainers") or []
        compute = next(c for c in regular if c["name"] == "compute")
        assert compute["image"] == f"quay.io/kubevirt/virt-launcher:{version}"
        if want.sidecar:
            assert "guest-console-log" not in _names(regular)
            log = next(c for c in init if c["name"] == "guest-console-log")
            assert log["restartPolicy"] == "Always"
            running = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
            assert running["guest-console-log"]["ready"] is True and "running" in running["guest-console-log"]["state"]
        else:
            assert "guest-console-log" not in _names(init)
            log = next(c for c in regular if c["name"] == "guest-console-log")
            assert "restartPolicy" not in log
            ready = {s["name"]: s["ready"] for s in pod["status"]["containerStatuses"]}
            assert ready["guest-console-log"] is True
        assert log["command"] == ["/usr/bin/virt-tail"]
        assert (log["args"][-2:] == ["--socket-timeout", "321s"]) == (version == "v1.5.0")

        # migrate: migrationState fields, and how the source pod ends (§10 W9)
        kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMIMS, {
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": "mig"}, "spec": {"vmiName": "vm"}})
        done = kv.wait_vmim(ns, "mig", lambda o: (o or {}).get("status", {}).get("phase") in ("Succeeded", "Failed"))
        assert done is not None and done["status"]["phase"] == "Succeeded"
        after = kv.vmi(ns, "vm")
        state = after["status"]["migrationState"]
        assert state["completed"] is True and state["sourcePod"] == pod["metadata"]["name"]
        assert ("sourceState" in state, "targetState" in state) == (want.source_target_state,) * 2, state
        assert ("sourceState" in done["status"]["migrationState"]) == want.source_target_state
        assert {k: k in state["migrationConfiguration"] for k in newer} == newer, state["migrationConfiguration"]
        if want.source_target_state:
            assert state["sourceState"]["pod"] == pod["metadata"]["name"]
            assert state["targetState"]["node"] == after["status"]["nodeName"]
        source = _wait_pod(kv, ns, pod["metadata"]["name"],
                           lambda p: p["status"].get("phase") in ("Succeeded", "Failed"))
        assert source["status"]["phase"] == want.source_pod_phase
        exits = {s["name"]: s["state"]["terminated"]["exitCode"]
                 for s in source["status"]["containerStatuses"] + (source["status"].get("initContainerStatuses") or [])}
        assert exits["compute"] == 0
        assert exits["guest-console-log"] == (1 if want.source_pod_phase == "Failed" else 0)

        # stop: the VMI (with its release's finalizer) goes away
        kv.ok(ns, "vm", "vm", "stop")
        assert kv.wait_vmi(ns, "vm", lambda o: o is None, timeout=20.0) is None
        kv.wait_vm(ns, "vm", lambda o: o.get("status", {}).get("printableStatus") == "Stopped")


@pytest.mark.parametrize("version, accepted", [("v1.4.0", True), ("v1.6.0", True), ("v1.7.0", False)])
def test_migration_priority_field(version: str, accepted: bool, kv_factory: Any) -> None:
    """``spec.priority`` exists from v1.7.0 (and users may not set it); before, the field is pruned."""
    with kv_factory(Options(nodes=2, seed=5, kubevirt_version=version)) as kv:
        ns = "prio"
        kv.core.create_namespace({"metadata": {"name": ns}})
        kv.running(ns, "vm")
        body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
                "metadata": {"name": "mig"}, "spec": {"vmiName": "vm", "priority": "user-triggered"}}
        try:
            created = kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, VMIMS, body)
        except client.ApiException as exc:
            assert not accepted and exc.status == 422
            assert "only virt-controller is allowed to set priority field" in json.loads(exc.body)["message"]
            return
        assert accepted and "priority" not in created["spec"]


def test_pause_liveness_probe_check_is_v1_9(kv_factory: Any) -> None:
    """Pausing a VMI with a non-GuestAgentPing liveness probe: 403 on v1.9.0, allowed before."""
    probe = {"livenessProbe": {"tcpSocket": {"port": 22}, "initialDelaySeconds": 120}}
    answers = {}
    for version in ("v1.8.0", "v1.9.0"):
        with kv_factory(Options(nodes=1, seed=9, kubevirt_version=version)) as kv:
            ns = "probe"
            kv.core.create_namespace({"metadata": {"name": ns}})
            body = kv.vm_body("vm", "Always")
            body["spec"]["template"]["spec"].update(probe)
            kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", body)
            kv.wait_vm(ns, "vm", lambda o: o.get("status", {}).get("ready") is True)
            answers[version] = kv.sub(ns, "vmi", "vm", "pause")[0]
    assert answers == {"v1.8.0": 200, "v1.9.0": 403}


def test_default_profile_is_v1_9(kv: Any) -> None:
    cr = kv.custom.get_namespaced_custom_object("kubevirt.io", "v1", "kubevirt", "kubevirts", "kubevirt")
    assert cr["status"]["observedKubeVirtVersion"] == "v1.9.0"


# ---------------------------------------------------------------- command line


def _vmconform(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("cmd", ["run", "emulator"])
@pytest.mark.parametrize("version", ["v1.2.0", "v2.0.0", "latest"])
def test_unsupported_version_is_one_line(cmd: str, version: str, tmp_path: Path) -> None:
    extra = ["--report-dir", str(tmp_path)] if cmd == "run" else ["--write-kubeconfig", str(tmp_path / "kc")]
    proc = _vmconform(cmd, "--kubevirt-version", version, *extra)
    line = _one_line(proc)
    assert proc.returncode == 4, proc.stderr  # USAGE
    assert f"no profile for KubeVirt {version!r}" in line
    assert "supported: v1.3.0, v1.4.0, v1.5.0, v1.6.0, v1.7.0, v1.8.0, v1.9.0" in line
    assert not (tmp_path / "kc").exists() and not (tmp_path / "summary.json").exists()


def test_emulator_command_serves_the_selected_release(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "vmconform", "emulator", "--kubevirt-version", "v1.4.0",
                             "--write-kubeconfig", str(kubeconfig)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()  # blocks until the ready line (or exit)
        assert "vmconform emulator ready" in ready, ready + (proc.stderr.read() if proc.poll() is not None else "")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            cr = client.CustomObjectsApi(api).get_namespaced_custom_object(
                "kubevirt.io", "v1", "kubevirt", "kubevirts", "kubevirt")
        finally:
            api.close()
        assert cr["status"]["observedKubeVirtVersion"] == "v1.4.0"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
