"""The ClusterRoles and ClusterRoleBindings a cluster starts with: kube-apiserver's bootstrap policy
(``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go``; the parts the emulator serves) and
KubeVirt's (``pkg/virt-operator/resource/generate/rbac/cluster.go`` @ v1.9.0: ``kubevirt.io:default``,
the aggregated ``kubevirt.io:admin``/``edit``/``view`` and ``kubevirt.io:migrate``).
"""

from __future__ import annotations

from typing import Any

from ..store import Store
from .kinds import CLUSTERROLEBINDINGS, CLUSTERROLES, GROUP

Obj = dict[str, Any]
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
KUBEVIRT_LABELS = {"kubevirt.io": ""}
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
SUB = "subresources.kubevirt.io"


def rule(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> Obj:
    out: Obj = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def url_rule(verbs: list[str], urls: list[str]) -> Obj:
    return {"nonResourceURLs": urls, "verbs": verbs}


def cluster_role(name: str, rules: list[Obj], labels: dict[str, str] | None = None,
                 aggregate: str | None = None) -> Obj:
    obj: Obj = {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": dict(labels or BOOTSTRAP_LABELS)}, "rules": rules}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + aggregate: "true"}}]}
        obj["rules"] = []
    return obj


def cluster_binding(name: str, role: str, subjects: list[Obj], labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(labels or BOOTSTRAP_LABELS)},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role}, "subjects": subjects}


def group(name: str) -> Obj:
    return {"apiGroup": GROUP, "kind": "Group", "name": name}


def user(name: str) -> Obj:
    return {"apiGroup": GROUP, "kind": "User", "name": name}


_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                   "/readyz", "/version", "/version/"]
_CORE_READ = ["pods", "pods/log", "pods/status", "persistentvolumeclaims", "persistentvolumeclaims/status",
              "configmaps", "services", "services/status", "serviceaccounts", "events", "endpoints"]


def kubernetes_roles() -> list[Obj]:
    labels_view = {**BOOTSTRAP_LABELS, AGGREGATE_TO + "view": "true"}
    labels_edit = {**BOOTSTRAP_LABELS, AGGREGATE_TO + "edit": "true"}
    labels_admin = {**BOOTSTRAP_LABELS, AGGREGATE_TO + "admin": "true"}
    return [
        cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]),
        cluster_role("system:discovery", [url_rule(["get"], _DISCOVERY_URLS)]),
        cluster_role("system:public-info-viewer", [url_rule(["get"], ["/healthz", "/livez", "/readyz",
                                                                      "/version", "/version/"])]),
        cluster_role("system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        # the user-facing roles aggregate; view → edit → admin, as in the bootstrap policy
        cluster_role("admin", [], {**BOOTSTRAP_LABELS}, aggregate="admin"),
        cluster_role("edit", [], {**BOOTSTRAP_LABELS, AGGREGATE_TO + "admin": "true"}, aggregate="edit"),
        cluster_role("view", [], {**BOOTSTRAP_LABELS, AGGREGATE_TO + "edit": "true"}, aggregate="view"),
        cluster_role("system:aggregate-to-view", [
            rule(READ, [""], _CORE_READ + ["namespaces", "namespaces/status", "replicationcontrollers"]),
            rule(READ, ["apps"], ["deployments", "replicasets", "daemonsets", "statefulsets"]),
            rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        ], labels_view),
        cluster_role("system:aggregate-to-edit", [
            rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy",
                               "persistentvolumeclaims", "configmaps", "services", "secrets", "serviceaccounts"]),
            rule(READ, [""], ["secrets"]),
            rule(["create"], [""], ["pods/eviction"]),
            rule(WRITE, ["apps"], ["deployments", "replicasets", "daemonsets", "statefulsets"]),
            rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
            rule(READ + WRITE, ["coordination.k8s.io"], ["leases"]),
        ], labels_edit),
        cluster_role("system:aggregate-to-admin", [
            rule(READ + WRITE, [GROUP], ["roles", "rolebindings"]),
            rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        ], labels_admin),
    ]


def kubernetes_bindings() -> list[Obj]:
    return [
        cluster_binding("cluster-admin", "cluster-admin", [group("system:masters")]),
        cluster_binding("system:discovery", "system:discovery", [group("system:authenticated")]),
        cluster_binding("system:public-info-viewer", "system:public-info-viewer",
                        [group("system:authenticated"), group("system:unauthenticated")]),
        cluster_binding("system:basic-user", "system:basic-user", [group("system:authenticated")]),
    ]


def kubevirt_roles(migrate_role: bool = True) -> list[Obj]:
    """KubeVirt's roles; before v1.5.0 (``migrate_role`` False) admin and edit may migrate and there is
    no ``kubevirt.io:migrate``."""
    vm_subs_get = ["virtualmachineinstances/console", "virtualmachineinstances/vnc",
                   "virtualmachineinstances/vnc/screenshot", "virtualmachineinstances/portforward",
                   "virtualmachineinstances/guestosinfo", "virtualmachineinstances/filesystemlist",
                   "virtualmachineinstances/userlist", "virtualmachines/objectgraph",
                   "virtualmachineinstances/objectgraph"]
    vmi_subs_update = ["virtualmachineinstances/pause", "virtualmachineinstances/unpause",
                       "virtualmachineinstances/addvolume", "virtualmachineinstances/removevolume",
                       "virtualmachineinstances/freeze", "virtualmachineinstances/unfreeze",
                       "virtualmachineinstances/softreboot", "virtualmachineinstances/reset",
                       "virtualmachineinstances/evacuate/cancel"]
    vm_subs_update = ["virtualmachines/start", "virtualmachines/stop", "virtualmachines/restart",
                      "virtualmachines/addvolume", "virtualmachines/removevolume", "virtualmachines/memorydump",
                      "virtualmachines/evacuate/cancel"]
    if not migrate_role:
        vm_subs_update.append("virtualmachines/migrate")
    workloads = ["virtualmachines", "virtualmachineinstances", "virtualmachineinstancepresets",
                 "virtualmachineinstancereplicasets"]
    kv_admin = {**KUBEVIRT_LABELS, AGGREGATE_TO + "admin": "true"}
    kv_edit = {**KUBEVIRT_LABELS, AGGREGATE_TO + "edit": "true"}
    kv_view = {**KUBEVIRT_LABELS, AGGREGATE_TO + "view": "true"}
    operate = [
        rule(["get"], [SUB], vm_subs_get),
        rule(["update"], [SUB], vmi_subs_update),
        rule(["get"], [SUB], ["virtualmachines/expand-spec", "virtualmachines/portforward"]),
        rule(["update"], [SUB], vm_subs_update),
        rule(["update"], [SUB], ["expand-vm-spec"]),
    ]
    roles = [
        cluster_role("kubevirt.io:default", [rule(["get", "list"], ["kubevirt.io"], ["kubevirts"]),
                                             rule(["get", "list"], [SUB], ["version", "guestfs"])],
                     {**KUBEVIRT_LABELS, **BOOTSTRAP_LABELS}),
        cluster_role("kubevirt.io:admin", operate + [
            rule(READ + WRITE, ["kubevirt.io"], workloads),
            rule(READ, ["kubevirt.io"], ["virtualmachineinstancemigrations"]),
            rule(READ, ["migrations.kubevirt.io"], ["migrationpolicies"]),
        ], kv_admin),
        cluster_role("kubevirt.io:edit", operate + [
            rule(READ + [v for v in WRITE if v != "deletecollection"], ["kubevirt.io"], workloads),
            rule(READ, ["kubevirt.io"], ["virtualmachineinstancemigrations"]),
            rule(["get", "list"], ["kubevirt.io"], ["kubevirts"]),
            rule(READ, ["migrations.kubevirt.io"], ["migrationpolicies"]),
        ], kv_edit),
        cluster_role("kubevirt.io:view", [
            rule(["get", "list"], ["kubevirt.io"], ["kubevirts"]),
            rule(["get"], [SUB], ["virtualmachines/expand-spec", "virtualmachineinstances/guestosinfo",
                                  "virtualmachineinstances/filesystemlist", "virtualmachineinstances/userlist",
                                  "virtualmachines/objectgraph", "virtualmachineinstances/objectgraph"]),
            rule(["update"], [SUB], ["expand-vm-spec"]),
            rule(READ, ["kubevirt.io"], workloads + ["virtualmachineinstancemigrations"]),
            rule(READ, ["migrations.kubevirt.io"], ["migrationpolicies"]),
        ], kv_view),
    ]
    if migrate_role:
        roles.append(cluster_role("kubevirt.io:migrate", [
            rule(["update"], [SUB], ["virtualmachines/migrate"]),
            rule(READ + WRITE, ["kubevirt.io"], ["virtualmachineinstancemigrations"]),
        ], dict(KUBEVIRT_LABELS)))
    return roles


def kubevirt_bindings() -> list[Obj]:
    return [cluster_binding("kubevirt.io:default", "kubevirt.io:default", [group("system:authenticated")],
                            dict(KUBEVIRT_LABELS))]


def install(store: Store, *, kubevirt: bool = True, migrate_role: bool = True) -> None:
    """Create the default roles and bindings that do not exist yet."""
    roles = kubernetes_roles() + (kubevirt_roles(migrate_role) if kubevirt else [])
    bindings = kubernetes_bindings() + (kubevirt_bindings() if kubevirt else [])
    for res, objs in ((CLUSTERROLES, roles), (CLUSTERROLEBINDINGS, bindings)):
        for obj in objs:
            if store.peek(res, None, obj["metadata"]["name"]) is None:
                store.create(res, obj)
