"""KubeVirt's own components in the install namespace, as virt-operator deploys them (facts from
``pkg/virt-operator/resource/generate/components/{deployments,daemonsets,serviceaccountnames}.go``
@ v1.9.0; the virt-operator Deployment itself comes from the install manifest, same file):

* Deployments ``virt-api`` and ``virt-controller`` (2 replicas each; labels ``kubevirt.io``,
  ``app.kubernetes.io/name``; selector ``kubevirt.io: <name>``) and ``virt-operator`` (2 replicas;
  selector ``kubevirt.io: virt-operator``), each through a ReplicaSet, with PodDisruptionBudgets
  ``<name>-pdb`` (minAvailable replicas-1) for virt-api and virt-controller.
* DaemonSet ``virt-handler`` (selector ``kubevirt.io: virt-handler``): one pod per schedulable node.
* Pod labels: ``kubevirt.io: <name>``, ``prometheus.kubevirt.io: "true"``,
  ``np.kubevirt.io/allow-access-cluster-services: "true"`` (virt-operator also ``name: virt-operator``),
  plus ``pod-template-hash`` (Deployment pods) or ``controller-revision-hash`` and
  ``pod-template-generation`` (DaemonSet pods), as kube-controller-manager adds them.

Every pod is Running and Ready from the start (the cluster is installed before the suite looks).
The pods request no node capacity here, so they never change where a VM can be scheduled.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..resources import DAEMONSETS, DEPLOYMENTS, NODES, PDBS, PODS, REPLICASETS, SERVICEACCOUNTS, dig
from ..store import Store
from ..timeutil import now_rfc3339
from .constants import INSTALL_NAMESPACE, KUBEVIRT_REGISTRY, KUBEVIRT_VERSION, LABEL_SCHEDULABLE

Obj = dict[str, Any]

APP_LABEL = "kubevirt.io"
APP_NAME_LABEL = "app.kubernetes.io/name"
PROMETHEUS_LABEL = "prometheus.kubevirt.io"
NP_LABEL = "np.kubevirt.io/allow-access-cluster-services"
MIGRATION_CN_LABEL = "kubevirt.io/supports-migration-cn-types"
HANDLER = "virt-handler"
# name → (service account, replicas)
DEPLOYMENTS_SPEC: dict[str, tuple[str, int]] = {
    "virt-api": ("kubevirt-apiserver", 2),
    "virt-controller": ("kubevirt-controller", 2),
    "virt-operator": ("kubevirt-operator", 2),
}
HANDLER_SERVICE_ACCOUNT = "kubevirt-handler"
_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery util/rand's alphanumerics


def _suffix(seed: str, length: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_RAND_ALPHABET[b % len(_RAND_ALPHABET)] for b in digest[:length])


def _owner(obj: Obj) -> Obj:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _pod_labels(name: str) -> dict[str, str]:
    labels = {APP_LABEL: name, PROMETHEUS_LABEL: "true", NP_LABEL: "true"}
    if name == "virt-operator":
        labels["name"] = name
    return labels


def _template(name: str, service_account: str) -> Obj:
    return {
        "metadata": {"labels": _pod_labels(name)},
        "spec": {
            "priorityClassName": "kubevirt-cluster-critical",
            "serviceAccountName": service_account,
            "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
            "containers": [{"name": name, "image": f"{KUBEVIRT_REGISTRY}/{name}:{KUBEVIRT_VERSION}",
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePolicy": "FallbackToLogsOnError"}],
        },
    }


def _running_pod(name: str, template: Obj, labels: dict[str, str], owner: Obj, node: Obj, used: dict[str, int]) -> Obj:
    """A Running, Ready pod on ``node``; its IP is the node's next of .2–.9 (launcher pods use .10 up)."""
    now = now_rfc3339()
    node_name = node["metadata"]["name"]
    host_ip = next((a["address"] for a in dig(node, "status", "addresses", default=[]) or []
                    if a.get("type") == "InternalIP"), "")
    cidr = dig(node, "spec", "podCIDR", default="10.244.0.0/24")
    used[node_name] = used.get(node_name, 1) + 1
    pod_ip = cidr.split("/")[0].rsplit(".", 1)[0] + f".{min(used[node_name], 9)}"
    spec = dict(template["spec"], nodeName=node_name, restartPolicy="Always", dnsPolicy="ClusterFirst",
                schedulerName="default-scheduler", terminationGracePeriodSeconds=30)
    container = template["spec"]["containers"][0]
    conds = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {
        "metadata": {"name": name, "namespace": INSTALL_NAMESPACE, "labels": labels, "ownerReferences": [owner]},
        "spec": spec,
        "status": {
            "phase": "Running", "conditions": conds, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": now, "qosClass": "Burstable",
            "containerStatuses": [{
                "name": container["name"], "image": container["image"], "imageID": container["image"],
                "containerID": "containerd://" + hashlib.sha256(name.encode()).hexdigest(),
                "ready": True, "started": True, "restartCount": 0, "state": {"running": {"startedAt": now}},
            }],
        },
    }


def _deployment(store: Store, name: str, service_account: str, replicas: int, workers: list[Obj],
                used: dict[str, int]) -> None:
    labels = {APP_LABEL: name} if name == "virt-operator" else {APP_LABEL: name, APP_NAME_LABEL: name}
    template = _template(name, service_account)
    dep = store.create(DEPLOYMENTS, {
        "metadata": {"name": name, "namespace": INSTALL_NAMESPACE, "labels": labels,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {APP_LABEL: name}},
                 "strategy": {"type": "RollingUpdate"}, "template": template},
    })
    ready = {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
             "readyReplicas": replicas, "availableReplicas": replicas}
    store.mutate(DEPLOYMENTS, INSTALL_NAMESPACE, name, lambda o: o.update(status=dict(ready)), status=True)
    pod_hash = _suffix(f"{name}/template", 10)
    pod_labels = {**template["metadata"]["labels"], "pod-template-hash": pod_hash}
    rs_name = f"{name}-{pod_hash}"
    rs = store.create(REPLICASETS, {
        "metadata": {"name": rs_name, "namespace": INSTALL_NAMESPACE, "labels": dict(pod_labels),
                     "ownerReferences": [_owner(dep)],
                     "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                     "deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {APP_LABEL: name, "pod-template-hash": pod_hash}},
                 "template": {**template, "metadata": {"labels": dict(pod_labels)}}},
    })
    rs_status = {"observedGeneration": 1, "replicas": replicas, "fullyLabeledReplicas": replicas,
                 "readyReplicas": replicas, "availableReplicas": replicas}
    store.mutate(REPLICASETS, INSTALL_NAMESPACE, rs_name, lambda o: o.update(status=dict(rs_status)), status=True)
    for i in range(replicas):
        node = workers[i % len(workers)]
        store.create(PODS, _running_pod(f"{rs_name}-{_suffix(f'{rs_name}/{i}', 5)}", template, dict(pod_labels),
                                        _owner(rs), node, used))
    if name != "virt-operator":
        pdb_name = f"{name}-pdb"
        store.create(PDBS, {
            "metadata": {"name": pdb_name, "namespace": INSTALL_NAMESPACE, "labels": {APP_LABEL: pdb_name}},
            "spec": {"minAvailable": replicas - 1, "selector": {"matchLabels": {APP_LABEL: name}}},
        })
        pdb_status = {"observedGeneration": 1, "currentHealthy": replicas, "desiredHealthy": replicas - 1,
                      "disruptionsAllowed": 1, "expectedPods": replicas,
                      "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                      "message": "", "observedGeneration": 1, "lastTransitionTime": now_rfc3339()}]}
        store.mutate(PDBS, INSTALL_NAMESPACE, pdb_name, lambda o: o.update(status=dict(pdb_status)), status=True)


def _handlers(store: Store, nodes: list[Obj], used: dict[str, int]) -> None:
    template = _template(HANDLER, HANDLER_SERVICE_ACCOUNT)
    template["spec"]["hostPID"] = True
    ds = store.create(DAEMONSETS, {
        "metadata": {"name": HANDLER, "namespace": INSTALL_NAMESPACE,
                     "labels": {APP_LABEL: HANDLER, MIGRATION_CN_LABEL: "true"},
                     "annotations": {"deprecated.daemonset.template.generation": "1"}},
        "spec": {"selector": {"matchLabels": {APP_LABEL: HANDLER}}, "template": template,
                 "updateStrategy": {"type": "RollingUpdate"}, "revisionHistoryLimit": 10},
    })
    count = len(nodes)
    status = {"observedGeneration": 1, "desiredNumberScheduled": count, "currentNumberScheduled": count,
              "numberReady": count, "updatedNumberScheduled": count, "numberAvailable": count,
              "numberMisscheduled": 0}
    store.mutate(DAEMONSETS, INSTALL_NAMESPACE, HANDLER, lambda o: o.update(status=dict(status)), status=True)
    revision = _suffix(f"{HANDLER}/revision", 10)
    labels = {**template["metadata"]["labels"], "controller-revision-hash": revision, "pod-template-generation": "1"}
    for node in nodes:
        pod = _running_pod(f"{HANDLER}-{_suffix(node['metadata']['name'], 5)}", template, dict(labels),
                           _owner(ds), node, used)
        # The DaemonSet controller pins each pod to its node through node affinity.
        pod["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                    "values": [node["metadata"]["name"]]}]}]}}}
        store.create(PODS, pod)


def install(store: Store) -> None:
    """Create the component objects once (a restarted emulator that kept its store keeps them)."""
    if store.peek(DAEMONSETS, INSTALL_NAMESPACE, HANDLER) is not None:
        return
    nodes = store.items(NODES)
    schedulable = [n for n in nodes if (n["metadata"].get("labels") or {}).get(LABEL_SCHEDULABLE) == "true"]
    placement = schedulable or nodes
    for account in sorted({sa for sa, _ in DEPLOYMENTS_SPEC.values()} | {HANDLER_SERVICE_ACCOUNT}):
        if store.peek(SERVICEACCOUNTS, INSTALL_NAMESPACE, account) is None:
            store.create(SERVICEACCOUNTS, {"metadata": {"name": account, "namespace": INSTALL_NAMESPACE,
                                                        "labels": {APP_LABEL: ""}}})
    used: dict[str, int] = {}
    for name, (account, replicas) in DEPLOYMENTS_SPEC.items():
        _deployment(store, name, account, replicas, placement, used)
    _handlers(store, schedulable, used)
