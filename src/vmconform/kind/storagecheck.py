"""RWX storage proven before the suite runs: a test claim of the RWX class binds and mounts on every worker.

The NFS server's rollout alone proves little (its start script only watches ``rpc.mountd``), and the
suite's own RWX probe is skipped on kind because the class is preset. So the install binds one
ReadWriteMany claim of the RWX class and runs one pod per worker (``nodeName``: no scheduler in the
way) that writes its node's name into the shared volume and reads every file back; every pod must
succeed. The namespace is removed afterwards. A failure is one line naming what did not happen.
"""

from __future__ import annotations

from typing import Any, Callable

from ..kube.client import Cluster
from ..kube.client import ApiCallFailed, ClusterUnreachable
from ..kube.kinds import EVENT, NAMESPACE, POD, PVC
from ..kube.waits import WaitFailed, wait_for, wait_for_list
from ..labels import MANAGED_BY, MANAGED_BY_VALUE, ROLE

Obj = dict[str, Any]
NAMESPACE_NAME = "vmconform-kind-storage-check"
ROLE_STORAGE_CHECK = "kind-storage-check"
CLAIM = "rwx-check"
MOUNT = "/mnt/rwx"
NFS_HINT = ("the in-cluster NFS server is not serving: see `kubectl -n nfs-server logs deploy/nfs-server` "
            "and `kubectl -n kube-system logs ds/csi-nfs-node -c nfs`")


class StorageNotReady(Exception):
    """The RWX class did not bind or mount (one line)."""


def _labels() -> dict[str, str]:
    return {MANAGED_BY: MANAGED_BY_VALUE, ROLE: ROLE_STORAGE_CHECK}


def pod_name(node: str) -> str:
    return f"mount-{node}"[:63].rstrip("-")


def check_pod(node: str, image: str) -> Obj:
    script = f"echo {node} > {MOUNT}/{node} && cat {MOUNT}/{node}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(node), "labels": _labels()},
        "spec": {
            "nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "mount", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", script],
                            "volumeMounts": [{"name": "rwx", "mountPath": MOUNT}]}],
            "volumes": [{"name": "rwx", "persistentVolumeClaim": {"claimName": CLAIM}}],
        },
    }


def _claim_phase(obj: Obj | None) -> str:
    return "<absent>" if obj is None else str((obj.get("status") or {}).get("phase") or "Pending")


def _pod_state(pod: Obj) -> str:
    status = pod.get("status") or {}
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            return f"{status.get('phase', 'Pending')} ({waiting.get('reason', 'waiting')})"
    return str(status.get("phase") or "Pending")


def prove_rwx(cluster: Cluster, *, rwx_class: str, workers: list[str], image: str,
              timeouts: Callable[[str], float], progress: Callable[[str], None]) -> None:
    """Bind a claim of ``rwx_class`` and mount it on every worker; raises :class:`StorageNotReady`."""
    remove_check_namespace(cluster, timeouts("storage_cleanup"))
    cluster.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": NAMESPACE_NAME, "labels": _labels()}})
    cluster.create(PVC, NAMESPACE_NAME, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": CLAIM, "labels": _labels()},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": rwx_class,
                 "resources": {"requests": {"storage": "1Gi"}}}})
    t = timeouts("storage_bind")
    try:
        wait_for(cluster, PVC, NAMESPACE_NAME, CLAIM, until=lambda o: _claim_phase(o) == "Bound",
                 describe=_claim_phase, timeout=t, what=f"test claim of {rwx_class} Bound")
    except WaitFailed:
        why = last_warning(cluster)
        raise StorageNotReady(f"the RWX class {rwx_class} did not bind a test claim in {t:.0f} s "
                              f"(claim {NAMESPACE_NAME}/{CLAIM} still Pending{': ' + why if why else ''}): "
                              f"{NFS_HINT}") from None
    progress(f"      test claim of {rwx_class} Bound; mounting it on {', '.join(workers)}")
    for node in workers:
        cluster.create(POD, NAMESPACE_NAME, check_pod(node, image))
    names = {pod_name(n) for n in workers}
    selector = f"{ROLE}={ROLE_STORAGE_CHECK}"

    def done(pods: list[Obj]) -> bool:
        phases = {p["metadata"]["name"]: (p.get("status") or {}).get("phase") for p in pods}
        return all(phases.get(n) == "Succeeded" for n in names)

    def failed(pods: list[Obj]) -> str | None:
        bad = [p["metadata"]["name"] for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        return f"{', '.join(bad)} failed" if bad else None

    def describe(pods: list[Obj]) -> str:
        return ", ".join(f"{p['metadata']['name']} {_pod_state(p)}" for p in pods) or "<no pods>"

    t = timeouts("storage_mount")
    try:
        wait_for_list(cluster, POD, NAMESPACE_NAME, labels=selector, until=done, describe=describe, timeout=t,
                      what=f"{rwx_class} mounted on every worker", terminal=failed)
    except WaitFailed as exc:
        pods, _ = cluster.list(POD, NAMESPACE_NAME, labels=selector)
        raise StorageNotReady(f"the RWX claim of {rwx_class} did not mount and write on every worker in "
                              f"{t:.0f} s ({describe(pods) if pods else str(exc).splitlines()[0]}): {NFS_HINT}") from None
    remove_check_namespace(cluster, timeouts("storage_cleanup"))


def last_warning(cluster: Cluster) -> str:
    """The newest Warning event of the check's namespace (e.g. the driver's ProvisioningFailed), or ""."""
    try:
        events, _ = cluster.list(EVENT, NAMESPACE_NAME)
    except (ApiCallFailed, ClusterUnreachable):
        return ""
    warnings = [e for e in events if e.get("type") == "Warning"]
    if not warnings:
        return ""
    e = warnings[-1]
    return f"{e.get('reason', '')} {str(e.get('message', '')).splitlines()[0][:200] if e.get('message') else ''}".strip()


def remove_check_namespace(cluster: Cluster, timeout: float) -> None:
    """Delete the check's namespace (a leftover of an earlier run too) and wait until it is gone."""
    if cluster.get(NAMESPACE, None, NAMESPACE_NAME) is None:
        return
    cluster.delete(NAMESPACE, None, NAMESPACE_NAME)
    try:
        wait_for(cluster, NAMESPACE, None, NAMESPACE_NAME, until=lambda o: o is None,
                 describe=lambda o: "<gone>" if o is None else str((o.get("status") or {}).get("phase")),
                 timeout=timeout, what=f"namespace {NAMESPACE_NAME} deleted")
    except WaitFailed:
        raise StorageNotReady(f"namespace {NAMESPACE_NAME} (the RWX check) was not deleted in {timeout:.0f} s: "
                              f"the NFS mounts may hang; {NFS_HINT}") from None
