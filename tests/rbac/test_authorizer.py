"""The emulated cluster's RBAC authorizer, through real clients: who may do what, and the 403 it answers."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from vmconform.emulator import EmulatedCluster, Options
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import NAMESPACE, Kind

RBAC = "rbac.authorization.k8s.io"
ROLES, ROLEBINDINGS = Kind(RBAC, "v1", "roles", "Role"), Kind(RBAC, "v1", "rolebindings", "RoleBinding")
CLUSTERROLES = Kind(RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False)

from .conftest import add_cluster_role, client_for

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def can(cluster: Cluster, verb: str, resource: str, group: str = "", sub: str = "", namespace: str = "",
        name: str = "") -> dict[str, Any]:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "subresource": sub,
                                            "namespace": namespace, "name": name}}}
    ans = cluster.call("POST", SSAR, body)
    assert ans.code == 201, ans.describe()
    return ans.body["status"]


def status_of(cluster: Cluster, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    ans = cluster.call(method, path, body)
    return ans.code, ans.body if isinstance(ans.body, dict) else {}


def test_forbidden_is_the_apiservers_403_namespaced_and_cluster_scope(rbac_bare: EmulatedCluster) -> None:
    viewer = client_for(rbac_bare, "viewer")
    code, body = status_of(viewer, "POST", "/api/v1/namespaces/default/pods",
                           {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    assert code == 403
    assert body["reason"] == "Forbidden" and body["code"] == 403
    assert body["message"] == ('pods is forbidden: User "viewer" cannot create resource "pods" in API group "" '
                               'in the namespace "default"')
    assert body["details"] == {"kind": "pods"}
    code, body = status_of(viewer, "DELETE", "/api/v1/nodes/node01")
    assert code == 403
    assert body["message"] == ('nodes "node01" is forbidden: User "viewer" cannot delete resource "nodes" in API group "" '
                               "at the cluster scope")
    assert body["details"] == {"name": "node01", "kind": "nodes"}
    code, body = status_of(viewer, "PUT", "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachines/vm1/start", {})
    assert code == 403
    assert body["message"] == ('virtualmachines.subresources.kubevirt.io "vm1" is forbidden: User "viewer" cannot '
                               'update resource "virtualmachines/start" in API group "subresources.kubevirt.io" '
                               'in the namespace "default"')
    code, body = status_of(viewer, "GET", "/debug/vmconform/metrics")
    assert code == 403 and body["message"] == 'forbidden: User "viewer" cannot get path "/debug/vmconform/metrics"'


def test_a_binding_to_a_missing_role_names_it_in_the_reason(rbac_bare: EmulatedCluster) -> None:
    code, body = status_of(client_for(rbac_bare, "nobody"), "GET", "/api/v1/namespaces/default/pods")
    assert code == 403
    assert body["message"].endswith(
        'cannot list resource "pods" in API group "" in the namespace "default": '
        'RBAC: clusterrole.rbac.authorization.k8s.io "does-not-exist" not found')


def test_the_admin_may_do_everything_and_unknown_tokens_are_401(rbac_bare: EmulatedCluster) -> None:
    admin = client_for(rbac_bare)
    assert can(admin, "delete", "nodes")["allowed"] is True
    assert status_of(admin, "GET", "/debug/vmconform/metrics")[0] == 200
    assert status_of(client_for(rbac_bare, "viewer"), "GET", "/version")[0] == 200  # system:discovery
    stranger = subprocess.run(["kubectl", "--kubeconfig", str(rbac_bare.kubeconfig_path), "--token", "not-a-token",
                               "get", "--raw", "/version"], capture_output=True, text=True, timeout=60)
    assert stranger.returncode == 1 and "Unauthorized" in stranger.stderr


def test_self_subject_access_review_answers_from_the_rules(rbac_bare: EmulatedCluster) -> None:
    viewer, kv = client_for(rbac_bare, "viewer"), client_for(rbac_bare, "kv")
    status = can(viewer, "list", "pods", namespace="default")
    assert status == {"allowed": True, "reason": 'RBAC: allowed by ClusterRoleBinding "vmconform-token-viewer" of '
                                                 'ClusterRole "view" to User "viewer"'}
    assert can(viewer, "create", "pods", namespace="default") == {"allowed": False}
    # KubeVirt's edit role: the VM verbs as subresources of subresources.kubevirt.io, migrate not among them
    assert can(kv, "update", "virtualmachines", "subresources.kubevirt.io", "start")["allowed"] is True
    assert can(kv, "update", "virtualmachineinstances", "subresources.kubevirt.io", "pause")["allowed"] is True
    assert can(kv, "update", "virtualmachines", "subresources.kubevirt.io", "migrate")["allowed"] is False
    assert can(kv, "update", "virtualmachines", "kubevirt.io", "start")["allowed"] is False  # wrong group
    assert can(kv, "delete", "virtualmachines", "kubevirt.io")["allowed"] is True
    assert can(viewer, "get", "virtualmachines", "kubevirt.io")["allowed"] is True  # kubevirt.io:view → view


def test_roles_and_rolebindings_grant_in_their_namespace_only(rbac_bare: EmulatedCluster) -> None:
    admin, viewer = client_for(rbac_bare), client_for(rbac_bare, "viewer")
    for ns in ("team-a", "team-b"):
        admin.create(NAMESPACE, None, {"metadata": {"name": ns}})
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "vm-starter"},
            "rules": [{"apiGroups": ["subresources.kubevirt.io"], "resources": ["virtualmachines/start"],
                       "verbs": ["update"], "resourceNames": ["vm1"]},
                      {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "viewer-starts"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "vm-starter"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}]}
    admin.create(ROLES, "team-a", role)
    admin.create(ROLEBINDINGS, "team-a", binding)
    sub = "subresources.kubevirt.io"
    assert can(viewer, "update", "virtualmachines", sub, "start", "team-a", "vm1") == {
        "allowed": True, "reason": 'RBAC: allowed by RoleBinding "viewer-starts/team-a" of Role "vm-starter" to User "viewer"'}
    assert can(viewer, "update", "virtualmachines", sub, "start", "team-a", "vm2")["allowed"] is False  # resourceNames
    assert can(viewer, "update", "virtualmachines", sub, "start", "team-a")["allowed"] is False  # no name: no match
    assert can(viewer, "update", "virtualmachines", sub, "start", "team-b", "vm1")["allowed"] is False
    assert can(viewer, "update", "virtualmachines", sub, "stop", "team-a", "vm1")["allowed"] is False
    assert can(viewer, "create", "pods", "", "eviction", "team-a", "p")["allowed"] is True
    assert can(viewer, "create", "pods", "", "", "team-a")["allowed"] is False
    # the eviction request itself passes the authorizer in team-a and is refused in team-b
    evict = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}}
    assert status_of(viewer, "POST", "/api/v1/namespaces/team-a/pods/p/eviction", evict)[0] != 403
    code, body = status_of(viewer, "POST", "/api/v1/namespaces/team-b/pods/p/eviction", evict)
    assert code == 403 and 'cannot create resource "pods/eviction" in API group "" in the namespace "team-b"' in body["message"]


def test_an_aggregated_role_gains_the_rules_of_the_roles_its_selector_matches(rbac_bare: EmulatedCluster) -> None:
    viewer, admin = client_for(rbac_bare, "viewer"), client_for(rbac_bare)
    assert can(viewer, "list", "widgets", "example.com")["allowed"] is False
    add_cluster_role(rbac_bare, {"metadata": {"name": "widgets-view",
                                              "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                                 "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["list"]}]})
    assert can(viewer, "list", "widgets", "example.com")["allowed"] is True
    # edit aggregates view, admin aggregates edit: the rule reaches both, and the stored rules follow
    rbac_bare.call(lambda: rbac_bare.emulator.rbac._aggregate())  # type: ignore[union-attr]
    stored = admin.get(CLUSTERROLES, None, "admin") or {}
    assert {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["list"]} in stored["rules"]
    assert can(viewer, "delete", "widgets", "example.com")["allowed"] is False


def test_kubectl_reads_the_rbac_kinds_and_checks_access(rbac_bare: EmulatedCluster) -> None:
    kc = str(rbac_bare.kubeconfig_path)
    out = subprocess.run(["kubectl", "--kubeconfig", kc, "get", "clusterrolebinding", "vmconform-token-kv"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ClusterRole/kubevirt.io:edit" in out.stdout
    yes = subprocess.run(["kubectl", "--kubeconfig", kc, "--context", "viewer", "auth", "can-i", "list", "pods"],
                         capture_output=True, text=True, timeout=60)
    no = subprocess.run(["kubectl", "--kubeconfig", kc, "--context", "viewer", "auth", "can-i", "create", "pods"],
                        capture_output=True, text=True, timeout=60)
    assert (yes.returncode, yes.stdout.strip(), no.returncode, no.stdout.strip()) == (0, "yes", 1, "no")
    denied = subprocess.run(["kubectl", "--kubeconfig", kc, "--context", "viewer", "create", "namespace", "x"],
                            capture_output=True, text=True, timeout=60)
    assert denied.returncode == 1
    assert ('namespaces is forbidden: User "viewer" cannot create resource "namespaces" in API group "" '
            "at the cluster scope") in denied.stderr


@pytest.mark.parametrize(("version", "migrate_role"), [("v1.4.0", False), ("v1.5.0", True)])
def test_the_migrate_permission_follows_the_release(tmp_path: Any, version: str, migrate_role: bool) -> None:
    opts = Options(tokens=(("kv", "kubevirt.io:admin"),), kubevirt_version=version)
    with EmulatedCluster(opts, kubeconfig_path=tmp_path / "kc", controllers=[]) as c:
        kv = client_for(c, "kv")
        assert can(kv, "update", "virtualmachines", "subresources.kubevirt.io", "migrate")["allowed"] is not migrate_role
        assert (client_for(c).get(CLUSTERROLES, None, "kubevirt.io:migrate") is not None) is migrate_role


def test_kubectl_creates_roles_and_bindings_its_typed_way(rbac_bare: EmulatedCluster) -> None:
    """kubectl create role/rolebinding/clusterrolebinding send protobuf; the binding then grants."""
    kc = str(rbac_bare.kubeconfig_path)

    def k(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=60)

    assert k("create", "namespace", "team-c").returncode == 0
    made = k("-n", "team-c", "create", "role", "starter", "--verb=get", "--resource=pods", "--resource-name=p1")
    assert made.returncode == 0, made.stderr
    bound = k("-n", "team-c", "create", "rolebinding", "starter", "--role=starter", "--user=viewer")
    assert bound.returncode == 0, bound.stderr
    role = client_for(rbac_bare).get(ROLES, "team-c", "starter") or {}
    assert role["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p1"]}]
    nobody = client_for(rbac_bare, "nobody")
    assert can(nobody, "get", "pods", namespace="team-c", name="p1")["allowed"] is False
    rebound = k("-n", "team-c", "create", "rolebinding", "nobody-starter", "--role=starter", "--user=nobody")
    assert rebound.returncode == 0, rebound.stderr
    assert can(nobody, "get", "pods", namespace="team-c", name="p1")["allowed"] is True
    assert can(nobody, "get", "pods", namespace="team-c", name="p2")["allowed"] is False
    viewer = client_for(rbac_bare, "viewer")
    crb = k("create", "clusterrolebinding", "viewer-edits", "--clusterrole=edit", "--user=viewer")
    assert crb.returncode == 0, crb.stderr
    assert can(viewer, "create", "pods", namespace="team-c")["allowed"] is True
