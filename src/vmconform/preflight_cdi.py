"""Preflight for VM sources and sizes (CDI, instance types): what the cluster offers, which boot source a
run would use, and the permissions CDI cloning needs. Called from ``preflight.check`` (one line) and,
for the run's own ``--vm-source``, from the controller (``require_source``).

Results go into ``facts.capabilities`` (and so into summary.json): ``boot-sources`` (the Ready DataSources,
and the one ``--vm-source datasource:…`` would naturally name: an OpenShift cluster's
``openshift-virtualization-os-images`` first), ``instancetypes``, and ``datavolume`` (``create datavolumes``;
``create datavolumes/source`` in each boot-source namespace, which a clone into another namespace needs).
Caveat: KubeVirt v1.9.0 authorises a template clone for the VM's service account (``pkg/virt-controller/watch/
vm/vm.go`` ``authorizeDataVolume``), not for the user creating the VM; the self-check here is a proxy (clusters
usually grant the boot-source namespaces' view role to all authenticated users, service accounts included).
"""

from __future__ import annotations

from typing import Any

from .kube.client import Cluster
from .provisioning import DATASOURCE
from .sources import DATASOURCE as DATASOURCE_KIND
from .sources import PVC as PVC_KIND
from .sources import parse

BOOT_SOURCE_NAMESPACES = ("openshift-virtualization-os-images", "kubevirt-os-images")
PREFERRED_OS = ("fedora", "centos-stream9", "rhel9")
CLUSTER_INSTANCETYPES = "/apis/instancetype.kubevirt.io/v1beta1/virtualmachineclusterinstancetypes"
CLUSTER_PREFERENCES = "/apis/instancetype.kubevirt.io/v1beta1/virtualmachineclusterpreferences"


def _ready(ds: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (ds.get("status") or {}).get("conditions") or [])


def natural_source(sources: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The boot source a run on this cluster would use: the boot-source namespaces first, then the OS."""
    def rank(item: tuple[str, str]) -> tuple[int, int, str]:
        ns, name = item
        ns_rank = BOOT_SOURCE_NAMESPACES.index(ns) if ns in BOOT_SOURCE_NAMESPACES else len(BOOT_SOURCE_NAMESPACES)
        os_rank = PREFERRED_OS.index(name) if name in PREFERRED_OS else len(PREFERRED_OS)
        return ns_rank, os_rank, f"{ns}/{name}"
    return min(sources, key=rank) if sources else None


def _allowed(cluster: Cluster, verb: str, resource: str, sub: str = "", namespace: str = "") -> bool:
    from .preflight import access_review

    ans = access_review(cluster, verb, "cdi.kubevirt.io", resource, sub, namespace)
    return bool(ans.ok and (ans.body.get("status") or {}).get("allowed"))


def check(cluster: Cluster, facts: Any) -> None:
    """Fill the ``boot-sources``, ``instancetypes`` and ``datavolume`` capabilities (when the APIs are served)."""
    from .preflight import Capability

    ans = cluster.call("GET", DATASOURCE.collection(None))
    if ans.code == 404:
        pass  # no CDI: nothing to report (a containerDisk run needs none; require_source stops a run that does)
    elif ans.code == 403:  # information only: a least-privilege role need not list them (permissions.TABLE)
        facts.capabilities["boot-sources"] = Capability(True, "not listed: no permission to list DataSources")
    elif not ans.ok:
        facts.capabilities["boot-sources"] = facts.capabilities["datavolume"] = Capability(
            False, f"DataSources cannot be listed: {ans.describe()}")
    else:
        ready = sorted((d["metadata"].get("namespace", ""), d["metadata"]["name"])
                       for d in ans.body.get("items") or [] if _ready(d))
        best = natural_source(ready)
        listed = ", ".join(f"{ns}/{n}" for ns, n in ready) or "none"
        facts.capabilities["boot-sources"] = Capability(  # information: a containerDisk run needs none
            True, f"Ready DataSources: {listed}" + (f"; --vm-source datasource:{best[0]}/{best[1]} is the "
                                                           f"natural choice here" if best else ""))
        missing = [] if _allowed(cluster, "create", "datavolumes") else ["create datavolumes"]
        for ns in sorted({ns for ns, _ in ready}):
            if not _allowed(cluster, "create", "datavolumes", "source", ns):
                missing.append(f"create datavolumes/source in {ns} (a clone from there)")
        facts.capabilities["datavolume"] = Capability(not missing, "missing permission: " + "; ".join(missing)
                                                      if missing else "")
    types = cluster.call("GET", CLUSTER_INSTANCETYPES)
    prefs = cluster.call("GET", CLUSTER_PREFERENCES)
    if types.ok and prefs.ok:
        names = sorted(i["metadata"]["name"] for i in types.body.get("items") or [])
        pnames = sorted(p["metadata"]["name"] for p in prefs.body.get("items") or [])
        facts.capabilities["instancetypes"] = Capability(  # information: --vm-memory runs need none
            True, f"{len(names)} cluster instance types ({', '.join(n for n in names if n.startswith('u1.'))}"
                         f"…), {len(pnames)} preferences")
    elif 403 in (types.code, prefs.code):  # information only, as above
        facts.capabilities["instancetypes"] = Capability(True, "not listed: no permission to list instance types")
    elif types.code != 404:
        facts.capabilities["instancetypes"] = Capability(False, f"instance types cannot be listed: {types.describe()}")


def require_source(cluster: Cluster, vm_source: str) -> str | None:
    """Why the run's ``--vm-source`` cannot be used on this cluster (one line), or None."""
    from .kube.kinds import PVC

    source = parse(vm_source)
    if not source.uses_data_volume:
        return None
    kind, what = (DATASOURCE, "DataSource") if source.kind == DATASOURCE_KIND else (PVC, "PVC")
    ans = cluster.call("GET", kind.item(source.namespace, source.name))
    if ans.code == 404 and source.kind == DATASOURCE_KIND and \
            cluster.call("GET", DATASOURCE.collection(None)).code == 404:
        return f"--vm-source {vm_source}: CDI is not installed (the cdi.kubevirt.io/v1beta1 API is not served)"
    if ans.code == 404:
        return f"--vm-source {vm_source}: the {what} {source.namespace}/{source.name} does not exist"
    if not ans.ok:
        return f"--vm-source {vm_source}: cannot read the {what}: {ans.describe()}"
    if source.kind == PVC_KIND:
        return None
    if not _ready(ans.body):
        return f"--vm-source {vm_source}: the DataSource is not Ready"
    return None


def require_sizes(cluster: Cluster, instancetype: str | None, preference: str | None) -> str | None:
    """Why ``--instancetype``/``--preference`` cannot be used on this cluster (one line), or None."""
    for flag, name, path, what in (("--instancetype", instancetype, CLUSTER_INSTANCETYPES, "cluster instance type"),
                                   ("--preference", preference, CLUSTER_PREFERENCES, "cluster preference")):
        if not name:
            continue
        ans = cluster.call("GET", f"{path}/{name}")
        if ans.code == 404:
            return f"{flag} {name}: no {what} of that name on this cluster"
        if not ans.ok:
            return f"{flag} {name}: cannot read the {what}: {ans.describe()}"
    return None


def require(cluster: Cluster, settings: Any) -> str | None:
    """What the run's VM options ask of the cluster and it lacks (one line), or None."""
    return (require_source(cluster, getattr(settings, "vm_source", "containerdisk"))
            or require_sizes(cluster, getattr(settings, "instancetype", None), getattr(settings, "preference", None)))
