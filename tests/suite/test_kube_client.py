"""Cluster.from_kubeconfig: the kubernetes client's per-request credential refresh only where it can matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmconform.kube.client import Cluster, _refreshes_credentials

KUBECONFIG = """apiVersion: v1
kind: Config
current-context: static
contexts:
- name: static
  context: {cluster: c, user: token-user}
- name: plugin
  context: {cluster: c, user: exec-user}
- name: provider
  context: {cluster: c, user: provider-user}
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: token-user
  user: {token: abc}
- name: exec-user
  user: {exec: {command: "true", apiVersion: client.authentication.k8s.io/v1}}
- name: provider-user
  user: {auth-provider: {name: oidc, config: {id-token: x, idp-issuer-url: "https://127.0.0.1:2"}}}
"""


@pytest.mark.parametrize(("context", "refreshes"), [(None, False), ("static", False), ("plugin", True),
                                                    ("provider", True), ("no-such-context", True)])
def test_which_users_get_expiring_credentials(tmp_path: Path, context: str | None, refreshes: bool) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    assert _refreshes_credentials(path, context) is refreshes


def test_an_unreadable_kubeconfig_keeps_the_refresh(tmp_path: Path) -> None:
    assert _refreshes_credentials(tmp_path / "missing", None) is True


def test_a_static_token_is_not_reapplied_before_every_request(tmp_path: Path) -> None:
    """The kubernetes client installs a refresh hook for every token user; for a token that cannot expire it
    only re-reads the kubeconfig's settings (and the proxy environment) before each request."""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    cluster = Cluster.from_kubeconfig(path, "static")
    try:
        assert cluster.api_client.configuration.refresh_api_key_hook is None
        assert cluster.api_client.configuration.api_key["BearerToken"] == "Bearer abc"
    finally:
        cluster.close()
