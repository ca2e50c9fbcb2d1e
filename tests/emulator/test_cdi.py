"""CDI on the emulated cluster, through the official client and kubectl: the cdi.kubevirt.io kinds,
StorageProfiles per class, boot sources, DataVolume clone phases and progress, the claim rendered from the
StorageProfile (or as asked), and KubeVirt's VM controller provisioning dataVolumeTemplates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from kubernetes import client, watch

from vmconform.emulator import Options

Obj = dict[str, Any]
CDI, V = "cdi.kubevirt.io", "v1beta1"
BOOT_NS = "kubevirt-os-images"
KUBECTL = shutil.which("kubectl")


def _dv_body(name: str, storage: Obj | None = None, source_ref: str | None = "fedora", **spec: Any) -> Obj:
    body: Obj = {"apiVersion": f"{CDI}/{V}", "kind": "DataVolume", "metadata": {"name": name},
                 "spec": {"storage": storage or {}, **spec}}
    if source_ref:
        body["spec"]["sourceRef"] = {"kind": "DataSource", "name": source_ref, "namespace": BOOT_NS}
    return body


def _rv(kv: Any, ns: str) -> str:
    """The DataVolume list's resourceVersion now: a watch from it sees every later write."""
    return str(kv.custom.list_namespaced_custom_object(CDI, V, ns, "datavolumes")["metadata"]["resourceVersion"])


def _watch_dv(kv: Any, ns: str, name: str, until: Callable[[Obj], bool], timeout: int = 15,
              rv: str = "0") -> list[tuple[str, str]]:
    """(phase, progress) as a watch shows them from ``rv`` (the DataVolume's creation when taken before it;
    "0": its state now) until ``until``."""
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for ev in w.stream(kv.custom.list_namespaced_custom_object, CDI, V, ns, "datavolumes",
                       field_selector=f"metadata.name={name}", resource_version=rv, timeout_seconds=timeout):
        st = ev["object"].get("status") or {}
        pair = (st.get("phase", ""), st.get("progress", ""))
        if not seen or seen[-1] != pair:
            seen.append(pair)
        if until(ev["object"]):
            w.stop()
            return seen
    raise AssertionError(f"DataVolume {ns}/{name}: not reached within {timeout}s; saw {seen}")


def _succeeded(o: Obj) -> bool:
    return (o.get("status") or {}).get("phase") == "Succeeded"


def _pvc(kv: Any, ns: str, name: str) -> Obj:
    return kv.api.sanitize_for_serialization(kv.core.read_namespaced_persistent_volume_claim(name, ns))


def test_storage_profiles_per_class(kv: Any) -> None:
    profiles = {p["metadata"]["name"]: p for p in kv.custom.list_cluster_custom_object(CDI, V, "storageprofiles")["items"]}
    classes = {c.metadata.name for c in kv.storage.list_storage_class().items}
    assert set(profiles) == classes and "shared-rwx-block" in classes
    sets = lambda n: [(s["accessModes"], s["volumeMode"]) for s in profiles[n]["status"]["claimPropertySets"]]  # noqa: E731
    assert sets("shared-rwx-block")[0] == (["ReadWriteMany"], "Block")
    assert sets("shared-rwx")[0] == (["ReadWriteMany"], "Filesystem")
    assert sets("local-rwo") == [(["ReadWriteOnce"], "Filesystem")]
    assert profiles["shared-rwx"]["status"]["provisioner"] == "shared.csi.vmconform.io"


def _profile_status_becomes(kv: Any, name: str, wanted: list[Obj]) -> None:
    w = watch.Watch()
    for ev in w.stream(kv.custom.list_cluster_custom_object, CDI, V, "storageprofiles",
                       field_selector=f"metadata.name={name}", timeout_seconds=10):
        if ev["object"]["status"]["claimPropertySets"] == wanted:
            w.stop()
            return
    raise AssertionError(f"StorageProfile {name}: status.claimPropertySets never became {wanted}")


def test_storage_profile_spec_overrides_status(kv: Any) -> None:
    known = [{"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}]
    wanted = [{"accessModes": ["ReadWriteOnce"], "volumeMode": "Block"}]
    kv.custom.patch_cluster_custom_object(CDI, V, "storageprofiles", "local-rwo", {"spec": {"claimPropertySets": wanted}})
    _profile_status_becomes(kv, "local-rwo", wanted)
    kv.custom.patch_cluster_custom_object(CDI, V, "storageprofiles", "local-rwo", {"spec": {"claimPropertySets": None}})
    _profile_status_becomes(kv, "local-rwo", known)  # back to what CDI knows of the provisioner


def test_boot_sources_ready_at_start(kv: Any) -> None:
    items = kv.custom.list_namespaced_custom_object(CDI, V, BOOT_NS, "datasources")["items"]
    names = {d["metadata"]["name"] for d in items}
    assert {"fedora", "centos-stream9"} <= names
    for ds in items:
        ready = next(c for c in ds["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ds
        claim = ds["spec"]["source"]["pvc"]
        assert kv.core.read_namespaced_persistent_volume_claim(claim["name"], claim["namespace"])


def test_clone_phases_progress_and_profile(kv: Any, ns: str) -> None:
    rv = _rv(kv, ns)
    kv.custom.create_namespaced_custom_object(CDI, V, ns, "datavolumes",
                                              _dv_body("root", {"storageClassName": "shared-rwx-block"}))
    seen = _watch_dv(kv, ns, "root", _succeeded, rv=rv)
    phases = [p for p, _ in seen if p]
    assert phases[0] == "Pending" and phases[-1] == "Succeeded"
    order = ["Pending", "CloneScheduled", "CloneInProgress", "Succeeded"]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == order, seen
    progress = [float(pr.rstrip("%")) for p, pr in seen if p == "CloneInProgress"]
    assert progress == sorted(progress) and len(progress) >= 5, seen
    assert seen[-1][1] == "100.0%"
    pvc = _pvc(kv, ns, "root")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["volumeMode"] == "Block"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"  # the source's size
    owner = pvc["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "DataVolume" and owner["name"] == "root" and owner["controller"] is True
    reasons = [e.reason for e in kv.core.list_namespaced_event(ns).items if e.involved_object.name == "root"]
    assert {"CloneScheduled", "CloneInProgress", "CloneSucceeded"} <= set(reasons)


def test_explicit_access_mode_wins_over_profile(kv: Any, ns: str) -> None:
    body = _dv_body("rwo", {"storageClassName": "shared-rwx", "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "6Gi"}}})
    kv.custom.create_namespaced_custom_object(CDI, V, ns, "datavolumes", body)
    _watch_dv(kv, ns, "rwo", _succeeded)
    pvc = _pvc(kv, ns, "rwo")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"] and pvc["spec"]["volumeMode"] == "Filesystem"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "6Gi"


def test_missing_source_stays_pending(kv: Any, ns: str) -> None:
    kv.custom.create_namespaced_custom_object(CDI, V, ns, "datavolumes",
                                              _dv_body("lost", source=None, source_ref=None) | {
                                                  "spec": {"source": {"pvc": {"namespace": ns, "name": "nope"}},
                                                           "storage": {}}})

    def bound_false(o: Obj) -> bool:
        return any(c["type"] == "Bound" and c.get("reason") == "CloneWithoutSource"
                   for c in (o.get("status") or {}).get("conditions") or [])

    seen = _watch_dv(kv, ns, "lost", bound_false)
    assert seen[-1] == ("Pending", "N/A")
    with pytest.raises(client.ApiException) as err:
        kv.core.read_namespaced_persistent_volume_claim("lost", ns)
    assert err.value.status == 404


def test_block_class_refuses_rwx_filesystem(kv: Any, ns: str) -> None:
    kv.create_pvc(ns, "fs", "ReadWriteMany", "shared-rwx-block")
    ev = kv.wait_event(ns, "ProvisioningFailed", "fs")
    assert "ReadWriteMany" in ev["message"]
    assert _pvc(kv, ns, "fs")["status"]["phase"] == "Pending"


def _vm_with_root(kv: Any, name: str, storage: Obj, run_strategy: str = "Always") -> Obj:
    body = kv.vm_body(name, run_strategy)
    tspec = body["spec"]["template"]["spec"]
    tspec["volumes"][0] = {"name": "containerdisk", "dataVolume": {"name": f"{name}-root"}}
    body["spec"]["dataVolumeTemplates"] = [{"metadata": {"name": f"{name}-root"}, "spec": {
        "sourceRef": {"kind": "DataSource", "name": "fedora", "namespace": BOOT_NS}, "storage": storage}}]
    return body


def test_vm_provisions_its_data_volume_then_runs(kv: Any, ns: str) -> None:
    rv = kv.rv("virtualmachines", ns)
    kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines",
                                              _vm_with_root(kv, "vm", {"storageClassName": "shared-rwx-block"}))
    statuses = kv.vm_statuses(ns, "vm", rv, lambda o: (o or {}).get("status", {}).get("printableStatus") == "Running"
                              and o["status"].get("ready") is True)
    assert statuses.index("Provisioning") < statuses.index("Running"), statuses
    assert "Starting" not in statuses[:statuses.index("Provisioning")]
    dv = kv.custom.get_namespaced_custom_object(CDI, V, ns, "datavolumes", "vm-root")
    vm = kv.vm(ns, "vm")
    assert dv["metadata"]["ownerReferences"][0]["uid"] == vm["metadata"]["uid"]
    assert dv["metadata"]["labels"]["kubevirt.io/created-by"] == vm["metadata"]["uid"]
    assert "sourceRef" not in dv["spec"] and dv["spec"]["source"]["pvc"] == {"namespace": BOOT_NS, "name": "fedora-41"}
    assert dv["status"]["phase"] == "Succeeded"
    kv.wait_event(ns, "SuccessfulDataVolumeCreate", "vm")
    vmi = kv.vmi(ns, "vm")
    assert vmi is not None and any(c["type"] == "LiveMigratable" and c["status"] == "True"
                                   for c in vmi["status"]["conditions"])
    # the VM owns the DataVolume, the DataVolume its claim: deleting the VM takes both
    kv.custom.delete_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines", "vm")
    kv.wait_gone(kv.core.list_namespaced_persistent_volume_claim, "vm-root", ns, timeout=15)


def test_vm_waits_in_provisioning_while_the_clone_runs(kv_factory: Any) -> None:
    with kv_factory(Options(nodes=2, seed=3, extra={"steps": {"dv.transfer": 3600.0}})) as kv:
        ns = "slowclone"
        kv.core.create_namespace({"metadata": {"name": ns}})
        kv.custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachines",
                                                  _vm_with_root(kv, "vm", {}))
        _watch_dv(kv, ns, "vm-root", lambda o: (o.get("status") or {}).get("phase") == "CloneInProgress")
        vm = kv.wait_vm(ns, "vm", lambda o: o.get("status", {}).get("printableStatus") == "Provisioning")
        assert not vm["status"].get("created") and kv.vmi(ns, "vm") is None
        dv = kv.custom.get_namespaced_custom_object(CDI, V, ns, "datavolumes", "vm-root")
        assert dv["status"]["progress"] == "0.00%"


@pytest.mark.parametrize("fault", ["clone-ignores-access-mode", "import-stuck"])
def test_faults(kv_factory: Any, fault: str) -> None:
    with kv_factory(Options(nodes=2, seed=5, faults=(fault,))) as kv:
        ns = "faulty"
        kv.core.create_namespace({"metadata": {"name": ns}})
        kv.custom.create_namespaced_custom_object(CDI, V, ns, "datavolumes",
                                                  _dv_body("root", {"storageClassName": "shared-rwx"}))
        if fault == "clone-ignores-access-mode":
            _watch_dv(kv, ns, "root", _succeeded)
            assert _pvc(kv, ns, "root")["spec"]["accessModes"] == ["ReadWriteOnce"]
        else:
            seen = _watch_dv(kv, ns, "root", lambda o: (o.get("status") or {}).get("progress") == "40.00%")
            assert seen[-1] == ("CloneInProgress", "40.00%")
            with pytest.raises(AssertionError):  # and it never gets further
                _watch_dv(kv, ns, "root", lambda o: (o.get("status") or {}).get("progress") != "40.00%", timeout=2)


@pytest.fixture
def kubectl(kv: Any, tmp_path: Path) -> Iterator[Callable[..., str]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "KUBECONFIG": str(kv.cluster.kubeconfig_path), "KUBECACHEDIR": str(tmp_path / "cache")}

    def run(*args: str) -> str:
        assert KUBECTL is not None
        proc = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    yield run


def test_kubectl_sees_cdi(kubectl: Callable[..., str], kv: Any, ns: str, tmp_path: Path) -> None:
    resources = kubectl("api-resources", "--api-group=cdi.kubevirt.io", "-o", "name")
    assert set(resources.split()) >= {"datavolumes.cdi.kubevirt.io", "datasources.cdi.kubevirt.io",
                                      "storageprofiles.cdi.kubevirt.io", "cdis.cdi.kubevirt.io"}
    assert kubectl("get", "cdi", "cdi", "-o", "jsonpath={.status.phase}") == "Deployed"
    mode = kubectl("get", "storageprofile", "shared-rwx-block", "-o",
                   "jsonpath={.status.claimPropertySets[0].volumeMode}")
    assert mode == "Block"
    (tmp_path / "dv.json").write_text(json.dumps(_dv_body("byctl", {})))
    kubectl("apply", "-n", ns, "-f", str(tmp_path / "dv.json"))
    kubectl("wait", "-n", ns, "dv/byctl", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=20s")
    table = kubectl("get", "dv", "-n", ns)
    assert table.split("\n")[0].split() == ["NAME", "PHASE", "PROGRESS", "RESTARTS", "AGE"]
    assert "Succeeded" in table and "100.0%" in table
