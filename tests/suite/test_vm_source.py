"""``--vm-source``: the option's check, the VM builders per source, the provisioning wait (phase and progress
in the failure), and the lab run on a DataVolume root disk cloned from a boot source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vmconform import sources, specs
from vmconform.cli import exitcodes
from vmconform.emulator import EmulatedCluster, Options
from vmconform.kube.client import Cluster
from vmconform.kube.waits import WaitFailed
from vmconform.provisioning import DATAVOLUME, data_volume_names, wait_data_volume

from .conftest import ROOT

BOOT = "kubevirt-os-images"


def vmconform(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmconform", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("value, text", [
    ("foo", "--vm-source must be containerdisk, datasource:NAMESPACE/NAME or pvc:NAMESPACE/NAME, not 'foo'"),
    ("datasource:fedora", "--vm-source must be containerdisk"),
    ("datasource:Bad_NS/fedora", "'Bad_NS' is not a namespace name"),
    ("pvc:golden/", "'' is not a valid pvc name"),
])
def test_bad_vm_source_is_one_line_exit_4(value: str, text: str, tmp_path: Path) -> None:
    proc = vmconform("run", "--no-html", "--report-dir", str(tmp_path), "--vm-source", value)
    assert proc.returncode == exitcodes.USAGE, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert text in lines[0]
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("args, text", [
    (["--instancetype", "U1 Small"], "--instancetype must be the name of an instance type such as u1.small"),
    (["--preference", "Fedora_9"], "--preference must be the name of a preference"),
])
def test_bad_instancetype_or_preference(args: list[str], text: str, tmp_path: Path) -> None:
    proc = vmconform("run", "--no-html", "--report-dir", str(tmp_path), *args)
    assert proc.returncode == exitcodes.USAGE and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert text in proc.stderr


def test_instancetype_replaces_the_memory() -> None:
    vm = specs.new_vm("vm", specs.with_memory("1Gi"), sources.with_instancetype("u1.small"),
                      sources.with_preference("fedora"))
    assert vm["spec"]["instancetype"] == {"kind": "VirtualMachineClusterInstancetype", "name": "u1.small"}
    assert vm["spec"]["preference"] == {"kind": "VirtualMachineClusterPreference", "name": "fedora"}
    assert "memory" not in vm["spec"]["template"]["spec"]["domain"]["resources"]["requests"]


def test_parse_sources() -> None:
    assert sources.parse("containerdisk") == sources.VmSource()
    assert sources.parse("datasource:os-images/fedora") == sources.VmSource("datasource", "os-images", "fedora")
    assert str(sources.parse("pvc:golden/rhel9.6")) == "pvc:golden/rhel9.6"


def _vm(source: str, storage: dict[str, Any] | None = None) -> specs.Spec:
    return specs.new_vm("vm", sources.with_root_disk(sources.parse(source), "vm", "quay.io/x/alpine", storage,
                                                     {"run": "1"}), specs.with_memory("1Gi"))


def test_builders_per_source() -> None:
    cd = _vm("containerdisk")
    assert "dataVolumeTemplates" not in cd["spec"]
    assert cd["spec"]["template"]["spec"]["volumes"][0] == {"name": "rootdisk",
                                                            "containerDisk": {"image": "quay.io/x/alpine"}}
    ds = _vm("datasource:os/fedora")
    (tmpl,) = ds["spec"]["dataVolumeTemplates"]
    assert tmpl == {"metadata": {"name": "vm-root", "labels": {"run": "1"}},
                    "spec": {"storage": {}, "sourceRef": {"kind": "DataSource", "namespace": "os", "name": "fedora"}}}
    assert ds["spec"]["template"]["spec"]["volumes"][0] == {"name": "rootdisk", "dataVolume": {"name": "vm-root"}}
    assert data_volume_names(ds) == ["vm-root"]
    pvc = _vm("pvc:golden/img", sources.storage_request("fast", "ReadWriteMany"))
    assert pvc["spec"]["dataVolumeTemplates"][0]["spec"] == {
        "storage": {"storageClassName": "fast", "accessModes": ["ReadWriteMany"]},
        "source": {"pvc": {"namespace": "golden", "name": "img"}}}
    moved = sources.data_volume_template("vm-root-rwx", sources.VmSource("pvc", "ns", "vm-root"), {})
    sources.retarget_root(ds, moved)
    assert [t["metadata"]["name"] for t in ds["spec"]["dataVolumeTemplates"]] == ["vm-root-rwx"]
    assert data_volume_names(ds) == ["vm-root-rwx"]


def test_cloud_init_sets_the_known_password_on_cloud_images() -> None:
    def settings(source: str) -> Any:
        return SimpleNamespace(image=sources.CONTAINERDISK and "quay.io/kubevirt/alpine-container-disk-demo",
                               vm_source=source, guest_user=None, guest_password=None)

    assert sources.cloud_init_user_data(settings("containerdisk")) == "#cloud-config\n"
    fedora = sources.cloud_init_user_data(settings(f"datasource:{BOOT}/fedora"))
    assert "user: fedora\npassword: fedora\n" in fedora
    assert sources.login_hint("img", f"datasource:{BOOT}/fedora") == f"datasource:{BOOT}/fedora"


def test_stuck_provisioning_fails_with_phase_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with EmulatedCluster(Options(faults=("import-stuck",)), kubeconfig_path=tmp_path / "kc") as c:
        cluster = Cluster.from_kubeconfig(c.kubeconfig_path, backend="emulated")
        try:
            cluster.call("POST", "/api/v1/namespaces", {"metadata": {"name": "p"}})
            tmpl = sources.data_volume_template("d", sources.parse(f"datasource:{BOOT}/fedora"), {})
            cluster.create(DATAVOLUME, "p", {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", **tmpl})
            with pytest.raises(WaitFailed) as err:
                wait_data_volume(cluster, "p", "d", 5.6)  # one progress line after 5 s
            assert "the VM's DataVolume d was not provisioned within 6 s: it is CloneInProgress 40.00%" \
                in str(err.value)
            assert "vmconform: provisioning: DataVolume p/d CloneInProgress 40.00% 5 s / 6 s" in capsys.readouterr().err
        finally:
            cluster.close()


@pytest.mark.parametrize("extra", [[], ["--rwx-storage-class", "shared-rwx-block"]], ids=["filesystem", "block"])
def test_lab_on_a_boot_source_is_conformant(extra: list[str], tmp_path: Path) -> None:
    report = tmp_path / "report"
    proc = vmconform("run", "--vm-source", f"datasource:{BOOT}/alpine", "--no-html", "--report-dir", str(report),
                     "-n", "2", *extra, timeout=600)
    summary = json.loads((report / "summary.json").read_text())
    assert proc.returncode == 0 and summary["verdict"] == "conformant", proc.stdout[-3000:] + proc.stderr[-2000:]
    for b in summary["behaviours"]:  # every scenario's VM booted from its own DataVolume clone
        assert "DataVolume vm-root provisioning" in (b.get("transitions") or {}), b["id"]


def test_missing_boot_source_is_one_line_exit_3(tmp_path: Path) -> None:
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "kc") as c:
        proc = vmconform("run", "--kubeconfig", str(c.kubeconfig_path), "--report-dir", str(tmp_path / "r"),
                         "--no-html", "--vm-source", f"datasource:{BOOT}/nosuch")
    assert proc.returncode == exitcodes.CLUSTER_UNCHECKABLE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"--vm-source datasource:{BOOT}/nosuch: the DataSource {BOOT}/nosuch does not exist" in lines[0]


def test_preflight_reports_boot_sources_and_instancetypes(tmp_path: Path) -> None:
    from vmconform.preflight import check

    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "kc") as c:
        cluster = Cluster.from_kubeconfig(c.kubeconfig_path, backend="emulated")
        try:
            facts = check(cluster)
        finally:
            cluster.close()
    caps = facts.capabilities
    assert caps["boot-sources"].ok and f"{BOOT}/fedora" in caps["boot-sources"].reason
    assert f"--vm-source datasource:{BOOT}/fedora is the natural choice here" in caps["boot-sources"].reason
    assert caps["datavolume"].ok and caps["instancetypes"].ok and "u1.small" in caps["instancetypes"].reason


def test_natural_source_prefers_openshift_boot_sources() -> None:
    from vmconform.preflight_cdi import natural_source

    assert natural_source([("kubevirt-os-images", "fedora"), ("openshift-virtualization-os-images", "rhel9"),
                           ("openshift-virtualization-os-images", "centos-stream9")]) == \
        ("openshift-virtualization-os-images", "centos-stream9")
    assert natural_source([]) is None


def test_unknown_instancetype_is_one_line_exit_3(tmp_path: Path) -> None:
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "kc") as c:
        proc = vmconform("run", "--kubeconfig", str(c.kubeconfig_path), "--report-dir", str(tmp_path / "r"),
                         "--no-html", "--instancetype", "u9.tiny")
    assert proc.returncode == exitcodes.CLUSTER_UNCHECKABLE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--instancetype u9.tiny: no cluster instance type of that name" in lines[0], proc.stderr
