"""The virt-launcher pod (§3.6): its manifest and the status kubelet would report for it."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ..resources import dig
from ..timeutil import now_rfc3339
from .constants import (
    ANNO_DOMAIN, ANNO_MIGRATION_JOB_NAME, DEFAULT_GRACE_PERIOD_S, LABEL_APP, LABEL_CREATED_BY, LABEL_HOSTNAME,
    LABEL_MIGRATION_JOB_UID, LABEL_SCHEDULABLE, LABEL_VM_NAME_DEPRECATED, LABEL_VMI_ID, LAUNCHER_GRACE_PADDING_S,
    LAUNCHER_VALUE, READINESS_GATE_UNPAUSED,
)
from .releases import CONSOLE_LOG_CONTAINER, DEFAULT_RELEASE, POD_FAILED, Release
from .util import set_condition
from .secret_mounts import secret_volumes
from .vmi_spec import hostname, launcher_requests, pvc_volumes

Obj = dict[str, Any]

GATE_NOT_PAUSED = ("NotPaused", "the virtual machine is not paused")
GATE_PAUSED = ("Paused", "the virtual machine is paused")


def grace_period(vmi: Obj) -> int:
    value = dig(vmi, "spec", "terminationGracePeriodSeconds")
    return int(value) if value is not None else DEFAULT_GRACE_PERIOD_S


def vmi_id(name: str) -> str:
    """The ``vmi.kubevirt.io/id`` value: the name, or for names over 63 characters its first 54 and
    8 hex digits of its SHA-1 (pkg/apimachinery/labels.go CalculateVirtualMachineInstanceID, v1.7+)."""
    if len(name) <= 63:
        return name
    return f"{name[:54]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def console_log_enabled(spec: Obj) -> bool:
    """serialconsolelog.go isSerialConsoleLogEnabled (the cluster-wide switch is never set here)."""
    devices = dig(spec, "domain", "devices", default={}) or {}
    if devices.get("autoattachSerialConsole") is False:
        return False
    if devices.get("logSerialConsole") is not None:
        return bool(devices["logSerialConsole"])
    return True


def console_log_container(vmi: Obj, release: Release) -> Obj:
    """serialconsolelog.go generateSerialConsoleLogContainer at the release's tag."""
    args = ["--logfile", f"/var/run/kubevirt-private/{vmi['metadata']['uid']}/virt-serial0-log"]
    container: Obj = {
        "name": CONSOLE_LOG_CONTAINER, "image": release.launcher_image, "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/bin/virt-tail"], "args": args,
        "env": [{"name": "VIRT_LAUNCHER_LOG_VERBOSITY", "value": "2"}],
        "volumeMounts": [{"name": "private", "mountPath": "/var/run/kubevirt-private", "readOnly": True}],
        "resources": {"requests": {"cpu": "5m", "memory": "35M"}, "limits": {"cpu": "15m", "memory": "60M"}},
        "securityContext": {"runAsUser": 107, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if release.console_log_sidecar:
        container["restartPolicy"] = "Always"  # a native sidecar (v1.6+)
    elif release.at_least("v1.5.0"):  # v1.5.0 only: virt-tail waits for the socket as long as QEMU may
        args += ["--socket-timeout", "321s"]
    return container


def launcher_pod(vmi: Obj, migration: Obj | None = None, added_selector: dict[str, str] | None = None,
                 anti_affinity: bool = True, release: Release = DEFAULT_RELEASE) -> Obj:
    meta = vmi["metadata"]
    spec = vmi.get("spec") or {}
    name = meta["name"]
    labels = dict(meta.get("labels") or {})
    labels.update({
        LABEL_APP: LAUNCHER_VALUE, LABEL_CREATED_BY: meta["uid"], LABEL_VM_NAME_DEPRECATED: hostname(vmi),
    })
    if release.vmi_id_label:
        labels[LABEL_VMI_ID] = vmi_id(name)
    annotations = {ANNO_DOMAIN: name, "kubectl.kubernetes.io/default-container": "compute",
                   "kubevirt.io/migrationTransportUnix": "true",
                   "descheduler.alpha.kubernetes.io/request-evict-only": ""}
    node_selector = {**(spec.get("nodeSelector") or {}), LABEL_SCHEDULABLE: "true"}
    affinity = dict(spec.get("affinity") or {})
    if migration is not None:
        labels[LABEL_MIGRATION_JOB_UID] = migration["metadata"]["uid"]
        annotations[ANNO_MIGRATION_JOB_NAME] = migration["metadata"]["name"]
        node_selector.update(added_selector or {})
        if anti_affinity:
            anti = dict(affinity.get("podAntiAffinity") or {})
            anti["requiredDuringSchedulingIgnoredDuringExecution"] = list(
                anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []) + [{
                    "labelSelector": {"matchExpressions": [
                        {"key": LABEL_CREATED_BY, "operator": "In", "values": [meta["uid"]]}]},
                    "topologyKey": LABEL_HOSTNAME}]
            affinity["podAntiAffinity"] = anti
    requests = launcher_requests(spec)
    containers: list[Obj] = [{
        "name": "compute", "image": release.launcher_image,
        "command": ["/usr/bin/virt-launcher-monitor", "--qemu-timeout", "321s", "--name", name,
                    "--uid", meta["uid"], "--namespace", meta["namespace"]],
        "resources": {"requests": requests, "limits": {"devices.kubevirt.io/kvm": "1",
                                                        "devices.kubevirt.io/tun": "1",
                                                        "devices.kubevirt.io/vhost-net": "1"}},
        "securityContext": {"runAsUser": 107, "runAsGroup": 107, "runAsNonRoot": True,
                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }]
    for vol in spec.get("volumes") or []:
        image = dig(vol, "containerDisk", "image")
        if image:
            containers.append({
                "name": f"volume{vol.get('name', '')}", "image": image,
                "command": ["/usr/bin/container-disk"],
                "resources": {"requests": {"cpu": "1m", "memory": "1M"}, "limits": {"cpu": "10m", "memory": "40M"}},
            })
    init_containers: list[Obj] = []
    if console_log_enabled(spec):
        (init_containers if release.console_log_sidecar else containers).append(console_log_container(vmi, release))
    volumes: list[Obj] = [{"name": "private", "emptyDir": {}}, {"name": "public", "emptyDir": {}}]
    for vol_name, claim in pvc_volumes(spec):
        volumes.append({"name": vol_name, "persistentVolumeClaim": {"claimName": claim}})
    volumes += secret_volumes(spec)
    pod_spec: Obj = {
        "containers": containers,
        "volumes": volumes,
        "nodeSelector": node_selector,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": grace_period(vmi) + 2 * LAUNCHER_GRACE_PADDING_S,  # padding + kill-after
        "readinessGates": [{"conditionType": READINESS_GATE_UNPAUSED}],
        "hostname": hostname(vmi),
        "automountServiceAccountToken": False,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": False,
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "securityContext": {"runAsUser": 107, "runAsGroup": 107, "fsGroup": 107, "runAsNonRoot": True},
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
        ] + list(spec.get("tolerations") or []),
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    if affinity:
        pod_spec["affinity"] = affinity
    if spec.get("subdomain"):
        pod_spec["subdomain"] = spec["subdomain"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": f"virt-launcher-{name}-", "namespace": meta["namespace"],
            "labels": labels, "annotations": annotations,
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": name,
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": pod_spec,
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }


# ---------------------------------------------------------------- kubelet-side status


def _container_names(pod: Obj, key: str = "containers") -> list[tuple[str, str]]:
    return [(c.get("name", ""), c.get("image", "")) for c in dig(pod, "spec", key, default=[]) or []]


def _init_statuses(pod: Obj, state: Obj, ready: bool, started: bool, ids: bool = True) -> None:
    """initContainerStatuses for the pod's init containers (here only native sidecars, which run
    alongside the containers); the field is absent when the pod has none."""
    names = _container_names(pod, "initContainers")
    if not names:
        return
    pod.setdefault("status", {})["initContainerStatuses"] = [
        {"name": n, "image": i, "imageID": f"{i}@sha256:{'0' * 64}" if ids else "", "ready": ready,
         "restartCount": 0, "started": started, "state": dict(state),
         **({"containerID": f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}"} if ids else {})}
        for n, i in names]


def mark_unschedulable(pod: Obj, message: str) -> None:
    st = pod.setdefault("status", {})
    st["phase"] = "Pending"
    set_condition(st, "PodScheduled", "False", "Unschedulable", message, probe=True)


def mark_scheduled(pod: Obj, node: str, host_ip: str) -> None:
    pod["spec"]["nodeName"] = node
    st = pod.setdefault("status", {})
    st.update({"phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "startTime": now_rfc3339()})
    set_condition(st, "PodScheduled", "True")
    set_condition(st, "Initialized", "True")
    set_condition(st, "PodReadyToStartContainers", "False")
    set_condition(st, "ContainersReady", "False", "ContainersNotReady", "containers with unready status: [compute]")
    set_condition(st, "Ready", "False", "ContainersNotReady", "containers with unready status: [compute]")
    st["containerStatuses"] = [
        {"name": n, "image": i, "imageID": "", "ready": False, "restartCount": 0, "started": False,
         "state": {"waiting": {"reason": "ContainerCreating"}}} for n, i in _container_names(pod)]
    _init_statuses(pod, {"waiting": {"reason": "PodInitializing"}}, False, False, ids=False)


def mark_running(pod: Obj, ip: str, paused: bool = False) -> None:
    st = pod.setdefault("status", {})
    now = now_rfc3339()
    st.update({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]})
    set_condition(st, "PodReadyToStartContainers", "True")
    set_condition(st, "ContainersReady", "True")
    st["containerStatuses"] = [
        {"name": n, "image": i, "imageID": f"{i}@sha256:{'0' * 64}", "ready": True, "restartCount": 0,
         "started": True, "containerID": f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}",
         "state": {"running": {"startedAt": now}}} for n, i in _container_names(pod)]
    _init_statuses(pod, {"running": {"startedAt": now}}, True, True)
    set_readiness_gate(pod, paused)


def set_readiness_gate(pod: Obj, paused: bool) -> None:
    """virt-controller's ``syncPausedConditionToPod`` and the resulting pod Ready condition."""
    st = pod.setdefault("status", {})
    reason, message = GATE_PAUSED if paused else GATE_NOT_PAUSED
    set_condition(st, READINESS_GATE_UNPAUSED, "False" if paused else "True", reason, message, probe=True)
    if st.get("phase") != "Running":
        return
    if paused:
        set_condition(st, "Ready", "False", "ReadinessGatesNotReady",
                      f'the status of pod readiness gate "{READINESS_GATE_UNPAUSED}" is not "True", but False')
    else:
        set_condition(st, "Ready", "True")


def mark_finished(pod: Obj, succeeded: bool, failing: tuple[str, ...] | None = None) -> None:
    """The pod's containers have exited: those in ``failing`` with 1 (default: all of them when not
    ``succeeded``), the others with 0."""
    st = pod.setdefault("status", {})
    now = now_rfc3339()
    st["phase"] = "Succeeded" if succeeded else "Failed"
    reason = "PodCompleted" if succeeded else "PodFailed"
    set_condition(st, "PodReadyToStartContainers", "False")
    set_condition(st, "ContainersReady", "False", reason)
    set_condition(st, "Ready", "False", reason)
    started = dig(pod, "status", "startTime", default=now)

    def terminated(name: str) -> Obj:
        bad = (not succeeded) if failing is None else name in failing
        return {"terminated": {"exitCode": 1 if bad else 0, "reason": "Error" if bad else "Completed",
                               "startedAt": started, "finishedAt": now}}

    for key, status_key in (("containers", "containerStatuses"), ("initContainers", "initContainerStatuses")):
        names = _container_names(pod, key)
        if names or status_key == "containerStatuses":
            st[status_key] = [
                {"name": n, "image": i, "imageID": f"{i}@sha256:{'0' * 64}", "ready": False, "restartCount": 0,
                 "started": False, "state": terminated(n)} for n, i in names]


def finish_migration_source(pod: Obj, release: Release) -> None:
    """The source launcher pod after a successful migration: Succeeded, or on releases whose
    guest-console-log is a regular container, Failed by that container's exit code 1 (§10 W9)."""
    regular = [n for n, _ in _container_names(pod)]
    if release.source_pod_phase_after_migration == POD_FAILED and CONSOLE_LOG_CONTAINER in regular:
        mark_finished(pod, False, failing=(CONSOLE_LOG_CONTAINER,))
    else:
        mark_finished(pod, True)


ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF = "ErrImagePull", "ImagePullBackOff"


def unpullable(image: str) -> bool:
    """Images that cannot be pulled here: a repository named ``no-such-image`` or a ``.invalid`` registry."""
    path = image.split("@")[0]
    repo = path.rsplit("/", 1)[-1].split(":")[0]
    host = path.split("/", 1)[0] if "/" in path else ""
    return repo == "no-such-image" or host.split(":")[0].endswith(".invalid")


def image_pull_message(reason: str, image: str) -> str:
    if reason == IMAGE_PULL_BACKOFF:
        return f'Back-off pulling image "{image}"'
    ref = image if "/" in image.split(":")[0] else f"docker.io/library/{image}"
    if ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": pull access denied, '
            f"repository does not exist or may require authorization")


def image_pull_state(pod: Obj) -> tuple[str, str, str] | None:
    """(container, waiting reason, message) of a container stuck pulling its image, if any."""
    for cs in dig(pod, "status", "containerStatuses", default=[]) or []:
        waiting = dig(cs, "state", "waiting", default={}) or {}
        if waiting.get("reason") in (ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF):
            return cs.get("name", ""), waiting["reason"], waiting.get("message", "")
    return None


def mark_image_pull(pod: Obj, container: str, reason: str) -> None:
    for cs in dig(pod, "status", "containerStatuses", default=[]) or []:
        if cs.get("name") == container:
            cs["state"] = {"waiting": {"reason": reason, "message": image_pull_message(reason, cs.get("image", ""))}}


def pod_ready(pod: Obj | None) -> bool:
    if pod is None:
        return False
    for cond in dig(pod, "status", "conditions", default=[]) or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def pod_final(pod: Obj) -> bool:
    return dig(pod, "status", "phase") in ("Succeeded", "Failed")
