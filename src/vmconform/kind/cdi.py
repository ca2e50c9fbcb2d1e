"""CDI and a boot source on the kind cluster (``clusters/kind/cdi/``), for ``--vm-source datasource:…``.

After KubeVirt and the NFS storage: the CDI operator and CR (waiting until the cdi.kubevirt.io API is
served and the CDI CR is Deployed), then the boot source — a DataVolume importing the OS image into
``kubevirt-os-images`` and a DataSource naming it — waiting until the import Succeeded (its phase and
progress printed while it runs) and the DataSource is Ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ..kube.client import Cluster
from ..kube.kinds import Kind
from ..kube.waits import wait_for
from ..provisioning import DATASOURCE, dv_state, wait_data_volume
from .plan import PlanError, check_version, cluster_dir

CDI = Kind("cdi.kubevirt.io", "v1beta1", "cdis", "CDI", namespaced=False)
# seconds, before --timeout-scale (an import pulls the image from quay.io: minutes on a slow link)
CDI_TIMEOUTS: dict[str, float] = {"cdi_api": 300.0, "cdi_deployed": 900.0, "boot_source": 1800.0,
                                  "datasource_ready": 120.0}


@dataclass(frozen=True)
class CdiPlan:
    version: str
    operator: str
    cr: str
    name: str
    boot_manifest: str
    namespace: str
    datasource: str
    datavolume: str

    @property
    def vm_source(self) -> str:
        return f"datasource:{self.namespace}/{self.datasource}"


def load_cdi_plan(directory: Path | None = None) -> CdiPlan:
    """``clusters/kind/cdi/install.yaml`` as a plan. Raises PlanError with one line."""
    base = (directory or cluster_dir()) / "cdi"
    path = base / "install.yaml"
    try:
        data: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        cdi, boot = data["cdi"], data["boot_source"]
        version = check_version(str(cdi["version"]))
        manifest = base / str(boot["manifest"])
        if not manifest.is_file():
            raise PlanError(f"{manifest} (listed in {path}) does not exist")
        return CdiPlan(version=version, operator=str(cdi["operator"]).format(version=version),
                       cr=str(cdi["cr"]).format(version=version), name=str(cdi["name"]),
                       boot_manifest=str(manifest), namespace=str(boot["namespace"]),
                       datasource=str(boot["datasource"]), datavolume=str(boot["datavolume"]))
    except PlanError:
        raise
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise PlanError(f"{path} is not usable: {type(exc).__name__}: {exc}") from None


def _served(cluster: Cluster) -> bool:
    return cluster.call("GET", CDI.collection(None)).ok


def install_cdi(apply: Callable[[str], Any], client: Cluster, plan: CdiPlan, progress: Callable[[str], None],
                scale: float = 1.0) -> str:
    """Install CDI and the boot source; returns the ``--vm-source`` that names it. ``apply(source)`` is
    ``kubectl apply -f source`` on the cluster. Raises WaitFailed when something is not ready in time."""
    t = {k: v * scale for k, v in CDI_TIMEOUTS.items()}
    progress(f"      installing CDI {plan.version}: {plan.operator}")
    apply(plan.operator)
    wait_for(client, CDI, None, plan.name, until=lambda _o: _served(client),
             describe=lambda _o: "served" if _served(client) else "not served yet",
             timeout=t["cdi_api"], what="the cdi.kubevirt.io/v1beta1 API is served")
    apply(plan.cr)
    phase = lambda o: "<absent>" if o is None else str((o.get("status") or {}).get("phase") or "(no phase)")  # noqa: E731
    wait_for(client, CDI, None, plan.name, until=lambda o: phase(o) == "Deployed", describe=phase,
             timeout=t["cdi_deployed"], what=f"CDI {plan.version} Deployed")
    progress(f"      importing the boot source {plan.namespace}/{plan.datavolume} (pulls the image; minutes)")
    apply(plan.boot_manifest)
    seconds = wait_data_volume(client, plan.namespace, plan.datavolume, t["boot_source"])
    ready = lambda o: any(c.get("type") == "Ready" and c.get("status") == "True"  # noqa: E731
                          for c in ((o or {}).get("status") or {}).get("conditions") or [])
    wait_for(client, DATASOURCE, plan.namespace, plan.datasource, until=ready,
             describe=lambda o: "Ready" if ready(o) else dv_state(o), timeout=t["datasource_ready"],
             what=f"DataSource {plan.namespace}/{plan.datasource} Ready")
    progress(f"      boot source ready after {seconds:.0f} s: --vm-source {plan.vm_source}")
    return plan.vm_source
