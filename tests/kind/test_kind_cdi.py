"""``--cluster kind --vm-source datasource:…``: CDI and the boot source of ``clusters/kind/cdi/`` installed by
``src/vmconform/kind/cdi.py``, offline — the real kubectl applies the manifests (upstream URLs read from a
local mirror) to an emulated cluster that plays CDI, and the install waits for what a real one would."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from vmconform.emulator import EmulatedCluster, Options
from vmconform.kind.cdi import load_cdi_plan, install_cdi
from vmconform.kind.plan import PlanError
from vmconform.kube.client import Cluster
from vmconform.provisioning import DATASOURCE, DATAVOLUME

KUBECTL = shutil.which("kubectl")
PLAN = load_cdi_plan()
# what the mirror holds instead of the release URLs: the CDI CR as v1.66.0 renders it
# (manifests/templates/release/cdi-cr.yaml.in) and the operator manifest cut down to its namespace
MIRROR = {
    "cdi-operator.yaml": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cdi"}},
    "cdi-cr.yaml": {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": {"name": "cdi"},
                    "spec": {"config": {"featureGates": ["HonorWaitForFirstConsumer"]},
                             "imagePullPolicy": "IfNotPresent",
                             "infra": {"nodeSelector": {"kubernetes.io/os": "linux"}},
                             "workload": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
}
NFS_CLASS = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "nfs-rwx"},
             "provisioner": "shared.csi.vmconform.io", "volumeBindingMode": "Immediate"}


def test_plan_reads_the_pinned_release() -> None:
    assert PLAN.version == "v1.66.0"
    assert PLAN.operator == ("https://github.com/kubevirt/containerized-data-importer/releases/download/"
                             "v1.66.0/cdi-operator.yaml")
    assert PLAN.vm_source == "datasource:kubevirt-os-images/fedora"
    docs = [d for d in yaml.safe_load_all(Path(PLAN.boot_manifest).read_text()) if d]
    assert [d["kind"] for d in docs] == ["Namespace", "DataVolume", "DataSource"]
    assert docs[2]["spec"]["source"]["pvc"] == {"namespace": PLAN.namespace, "name": PLAN.datavolume}


def test_broken_plan_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "cdi").mkdir()
    (tmp_path / "cdi" / "install.yaml").write_text("cdi: {version: 1.66}\n")
    with pytest.raises(PlanError, match="KubeVirt version must look like|is not usable"):
        load_cdi_plan(tmp_path)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_install_applies_cdi_and_waits_for_the_boot_source(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, doc in MIRROR.items():
        (mirror / name).write_text(yaml.safe_dump(doc))
    (tmp_path / "nfs.yaml").write_text(yaml.safe_dump(NFS_CLASS))
    plan = dataclasses.replace(PLAN, operator=str(mirror / "cdi-operator.yaml"), cr=str(mirror / "cdi-cr.yaml"))
    applied: list[str] = []
    lines: list[str] = []
    with EmulatedCluster(Options(extra={"cdi_boot_sources": False}), kubeconfig_path=tmp_path / "kc") as c:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(c.kubeconfig_path)}

        def apply(source: str) -> Any:
            assert KUBECTL is not None
            applied.append(source)
            proc = subprocess.run([KUBECTL, "apply", "--server-side", "--force-conflicts",
                                   "--field-manager=vmconform", "-f", source], env=env, capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        apply(str(tmp_path / "nfs.yaml"))  # the NFS class of clusters/kind/storage, installed before CDI
        client = Cluster.from_kubeconfig(c.kubeconfig_path, backend="kind")
        try:
            assert client.get(DATASOURCE, PLAN.namespace, PLAN.datasource) is None
            vm_source = install_cdi(apply, client, plan, lines.append, scale=0.05)
            dv = client.get(DATAVOLUME, PLAN.namespace, PLAN.datavolume)
            ds = client.get(DATASOURCE, PLAN.namespace, PLAN.datasource)
        finally:
            client.close()
    assert vm_source == "datasource:kubevirt-os-images/fedora"
    assert applied[1:] == [plan.operator, plan.cr, plan.boot_manifest]
    assert dv is not None and dv["status"]["phase"] == "Succeeded" and dv["status"]["progress"] == "100.0%"
    assert ds is not None and any(cnd["type"] == "Ready" and cnd["status"] == "True"
                                  for cnd in ds["status"]["conditions"])
    assert lines[-1].endswith("--vm-source datasource:kubevirt-os-images/fedora")
