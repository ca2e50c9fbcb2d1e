"""The emulated "kind" cluster's stand-ins for what really runs on kind, as far as the kind backend can see.

``FakeVirtOperator`` plays virt-operator and virt-handler (``pkg/virt-operator/kubevirt.go`` and
``util/client.go`` @ v1.9.0): it installs the release of its own Deployment's image tag; a new CR is
``Deploying`` then ready; a CR already at another release stays ``Deployed`` while it updates
(``Available=True, Progressing=True``, the old ``observedKubeVirtVersion``) before it reports the new
one; and its update webhook (``kubevirt-update-validator.kubevirt.io``, served by the operator's pods)
refuses spec changes while the operator Deployment has no available pods.

``FakeWorkloads`` plays the kubelets, controllers and the NFS CSI driver: Deployments and DaemonSets
roll out after a delay, except that the NFS server is ready only when its readiness probe would pass
(it reads ``/proc/fs/nfsd/threads``) — a server without a probe is "ready" whether or not it serves;
``nfs-rwx`` claims bind only while the host's kernel NFS server serves; a pod with ``nodeName`` runs
to ``Succeeded`` when its claims are bound (and, for NFS, served), else it stays ``ContainerCreating``.
The host (``host.json`` of the stubs) is read at each decision.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmconform.emulator import errors
from vmconform.emulator.resources import DAEMONSETS, DEPLOYMENTS, EVENTS, KUBEVIRTS, NODES, PODS, PVCS, PVS

Obj = dict[str, Any]
NFS_PROVISIONER_CLASS = "nfs-rwx"
NFSD_PROBE_FILE = "/proc/fs/nfsd/threads"
UPDATE_WEBHOOK = "kubevirt-update-validator.kubevirt.io"
OPERATOR = ("kubevirt", "virt-operator")


def read_host(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def deployment_available(obj: Obj | None) -> bool:
    if obj is None:
        return False
    s, want = obj.get("status") or {}, (obj.get("spec") or {}).get("replicas", 1)
    return s.get("observedGeneration", 0) >= obj["metadata"].get("generation", 1) and s.get("availableReplicas", 0) >= want


def _image_tag(obj: Obj) -> str | None:
    for c in ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        image = str(c.get("image", ""))
        if ":" in image.rsplit("/", 1)[-1]:
            return image.rsplit(":", 1)[1]
    return None


def _condition(kind: str, status: str, reason: str, message: str) -> Obj:
    return {"type": kind, "status": status, "reason": reason, "message": message}


@dataclass
class FakeVirtOperator:
    workers: list[str]
    host_file: Path  # "operator_seconds": how long deploying or updating takes
    _handles: list[asyncio.TimerHandle] = field(default_factory=list)
    _pending: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # CR -> (target, generation)

    async def start(self, emulator: Any) -> None:
        self.store = emulator.store
        self.loop = asyncio.get_running_loop()
        self.store.listen(self._on_event)
        self.store.admitters.append(self._update_webhook)

    async def stop(self) -> None:
        for h in self._handles:
            h.cancel()

    # ------------------------------------------------------------ the operator's update webhook

    def _update_webhook(self, op: str, res: Any, new: Obj, old: Obj | None) -> None:
        if res.key != KUBEVIRTS.key or op != "UPDATE" or old is None or new.get("spec") == old.get("spec"):
            return
        if not deployment_available(self.store.peek(DEPLOYMENTS, *OPERATOR)):
            raise errors.ApiError(500, "InternalError", (
                f'Internal error occurred: failed calling webhook "{UPDATE_WEBHOOK}": failed to call webhook: '
                'Post "https://kubevirt-operator-webhook.kubevirt.svc:443/kubevirt-validate-update?timeout=10s": '
                'no endpoints available for service "kubevirt-operator-webhook"'))

    # ------------------------------------------------------------ reconciling

    def _target(self) -> str | None:
        op = self.store.peek(DEPLOYMENTS, *OPERATOR)
        return _image_tag(op) if op is not None and deployment_available(op) else None

    def _on_event(self, ev: Any) -> None:
        if ev.type == "DELETED":
            return
        if ev.res.key == DEPLOYMENTS.key and (ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"]) == OPERATOR:
            for kv in self.store.list(KUBEVIRTS, None, None):
                self.loop.call_soon(self._reconcile, (kv["metadata"]["namespace"], kv["metadata"]["name"]))
        elif ev.res.key == KUBEVIRTS.key:
            meta, status = ev.obj["metadata"], ev.obj.get("status") or {}
            if ev.type == "ADDED" or status.get("observedGeneration") != meta["generation"]:
                self.loop.call_soon(self._reconcile, (meta["namespace"], meta["name"]))

    def _reconcile(self, key: tuple[str, str]) -> None:
        obj, target = self.store.peek(KUBEVIRTS, *key), self._target()
        if obj is None or target is None:
            return
        status = obj.get("status") or {}
        observed = status.get("observedKubeVirtVersion")
        generation = obj["metadata"]["generation"]
        if observed == target and status.get("observedGeneration") == generation:
            return
        if self._pending.get(key) == (target, generation):
            return  # already on its way
        if observed is None:
            now = {"phase": "Deploying", "conditions": [
                _condition("Available", "False", "DeploymentInProgress", f"Deploying version {target} with registry quay.io/kubevirt"),
                _condition("Progressing", "True", "DeploymentInProgress", f"Deploying version {target} with registry quay.io/kubevirt"),
                _condition("Degraded", "False", "DeploymentInProgress", f"Deploying version {target} with registry quay.io/kubevirt")]}
        elif observed != target:
            msg = f"Transitioning from previous version {observed} with registry quay.io/kubevirt to target version {target} using registry quay.io/kubevirt"
            now = {"phase": "Deployed", "observedKubeVirtVersion": observed, "observedGeneration": status.get("observedGeneration"),
                   "conditions": [_condition("Available", "True", "UpdateInProgress", msg),
                                  _condition("Progressing", "True", "UpdateInProgress", msg),
                                  _condition("Degraded", "True", "UpdateInProgress", msg)]}
        else:
            now = dict(status)
        now = {k: v for k, v in now.items() if v is not None}
        now.update({"targetKubeVirtVersion": target, "operatorVersion": target})
        self._pending[key] = (target, generation)
        self.store.mutate(KUBEVIRTS, key[0], key[1], lambda o: o.__setitem__("status", now), status=True)
        delay = float(read_host(self.host_file)["operator_seconds"])
        self._handles.append(self.loop.call_later(delay, self._deployed, key, target, generation))

    def _deployed(self, key: tuple[str, str], target: str, generation: int) -> None:
        obj = self.store.peek(KUBEVIRTS, *key)
        if obj is None or self._target() != target or self._pending.get(key) != (target, generation):
            return
        self._pending.pop(key, None)
        status = {
            "phase": "Deployed", "observedGeneration": generation, "observedKubeVirtVersion": target,
            "targetKubeVirtVersion": target, "operatorVersion": target,
            "conditions": [_condition("Available", "True", "AllComponentsReady", "All components are ready."),
                           _condition("Progressing", "False", "AllComponentsReady", "All components are ready."),
                           _condition("Degraded", "False", "AllComponentsReady", "All components are ready.")],
        }
        self.store.mutate(KUBEVIRTS, key[0], key[1], lambda o: o.__setitem__("status", status), status=True)
        for node in self.workers:
            self.store.mutate(NODES, None, node, lambda o: o["metadata"].setdefault("labels", {}).__setitem__(
                "kubevirt.io/schedulable", "true"))


@dataclass
class FakeWorkloads:
    host_file: Path
    delay: float = 0.3
    _handles: list[asyncio.TimerHandle] = field(default_factory=list)

    async def start(self, emulator: Any) -> None:
        self.store = emulator.store
        self.loop = asyncio.get_running_loop()
        self.store.listen(self._on_event)

    async def stop(self) -> None:
        for h in self._handles:
            h.cancel()

    def _later(self, fn: Any, *args: Any) -> None:
        self._handles.append(self.loop.call_later(self.delay, fn, *args))

    def serving(self) -> bool:
        host = read_host(self.host_file)
        return bool(host["nfsd_module"] and host["nfsd_serving"])

    def _on_event(self, ev: Any) -> None:
        if ev.type == "DELETED":
            return
        meta = ev.obj["metadata"]
        key = (meta.get("namespace"), meta["name"])
        observed = (ev.obj.get("status") or {}).get("observedGeneration")
        if ev.res.key in (DEPLOYMENTS.key, DAEMONSETS.key) and observed != meta.get("generation"):
            self._later(self._roll_out, ev.res, key)
        elif ev.res.key == PVCS.key and ev.type == "ADDED":
            self._later(self._provision, key)
        elif ev.res.key == PODS.key and ev.type == "ADDED":
            self._later(self._run_pod, key)

    # ------------------------------------------------------------ Deployments and DaemonSets

    def _ready(self, obj: Obj) -> bool:
        if obj["metadata"]["name"] != "nfs-server":
            return True
        for c in obj["spec"]["template"]["spec"].get("containers") or []:
            probe = c.get("readinessProbe")
            if probe is None:
                return True  # Running counts as ready: nfsd.sh only watches rpc.mountd
            command = " ".join((probe.get("exec") or {}).get("command") or [])
            return NFSD_PROBE_FILE in command and self.serving()
        return True

    def _roll_out(self, res: Any, key: tuple[str, str]) -> None:
        obj = self.store.peek(res, *key)
        if obj is None:
            return
        gen = obj["metadata"].get("generation", 1)
        ready = self._ready(obj)
        if res.key == DEPLOYMENTS.key:
            want = obj["spec"].get("replicas", 1)
            status = {"observedGeneration": gen, "replicas": want, "updatedReplicas": want,
                      "readyReplicas": want if ready else 0, "availableReplicas": want if ready else 0}
        else:
            workers = [n["metadata"]["name"] for n in self.store.list(NODES, None, None)
                       if "node-role.kubernetes.io/control-plane" not in (n["metadata"].get("labels") or {})]
            want = len(workers)
            status = {"observedGeneration": gen, "desiredNumberScheduled": want, "currentNumberScheduled": want,
                      "updatedNumberScheduled": want, "numberReady": want if ready else 0,
                      "numberAvailable": want if ready else 0}
        self.store.mutate(res, key[0], key[1], lambda o: o.__setitem__("status", status), status=True)

    # ------------------------------------------------------------ the NFS CSI driver and the kubelets

    def _provision(self, key: tuple[str, str]) -> None:
        pvc = self.store.peek(PVCS, *key)
        if pvc is None or pvc["spec"].get("storageClassName") != NFS_PROVISIONER_CLASS:
            return
        if not self.serving():  # the driver's mount of the share times out: the claim stays Pending
            self.store.create(EVENTS, {
                "metadata": {"generateName": f"{key[1]}.", "namespace": key[0]},
                "involvedObject": {"kind": "PersistentVolumeClaim", "namespace": key[0], "name": key[1],
                                   "uid": pvc["metadata"]["uid"]},
                "type": "Warning", "reason": "ProvisioningFailed",
                "message": f'failed to provision volume with StorageClass "{NFS_PROVISIONER_CLASS}": rpc error: '
                           "code = Internal desc = failed to mount nfs server: mount.nfs: Connection timed out",
                "source": {"component": "nfs.csi.k8s.io"}})
            return
        pv_name = f"pvc-{pvc['metadata']['uid']}"
        self.store.create(PVS, {"metadata": {"name": pv_name}, "spec": {
            "capacity": pvc["spec"]["resources"]["requests"], "accessModes": pvc["spec"]["accessModes"],
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": NFS_PROVISIONER_CLASS,
            "csi": {"driver": "nfs.csi.k8s.io", "volumeHandle": f"nfs-server.nfs-server.svc.cluster.local##{pv_name}##"},
            "claimRef": {"namespace": key[0], "name": key[1], "uid": pvc["metadata"]["uid"]}}})
        self.store.mutate(PVCS, key[0], key[1], lambda o: o["spec"].__setitem__("volumeName", pv_name))
        self.store.mutate(PVCS, key[0], key[1], lambda o: o.__setitem__("status", {
            "phase": "Bound", "accessModes": o["spec"]["accessModes"], "capacity": o["spec"]["resources"]["requests"]}),
            status=True)

    def _run_pod(self, key: tuple[str, str]) -> None:
        pod = self.store.peek(PODS, *key)
        if pod is None or not pod["spec"].get("nodeName"):
            return
        runs = True
        for v in pod["spec"].get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is None:
                continue
            pvc = self.store.peek(PVCS, key[0], claim)
            bound = pvc is not None and (pvc.get("status") or {}).get("phase") == "Bound"
            nfs = pvc is not None and pvc["spec"].get("storageClassName") == NFS_PROVISIONER_CLASS
            reachable = pod["spec"]["nodeName"] not in read_host(self.host_file)["nfs_unreachable_from"]
            runs = runs and bound and (not nfs or (self.serving() and reachable))
        name = pod["spec"]["containers"][0]["name"]
        if runs:
            status = {"phase": "Succeeded", "containerStatuses": [
                {"name": name, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        else:
            status = {"phase": "Pending", "containerStatuses": [
                {"name": name, "state": {"waiting": {"reason": "ContainerCreating"}}}]}
        self.store.mutate(PODS, key[0], key[1], lambda o: o.__setitem__("status", status), status=True)
