"""In-cluster configuration, found as client-go's ``rest.InClusterConfig`` finds it: the API server from
``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT``, the pod's service-account token and CA from
``/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}`` (and its ``namespace``).

The suite takes clusters as kubeconfigs, so the in-cluster configuration is written out as one (the
token by path, ``tokenFile``). ``VMCONFORM_SERVICEACCOUNT_DIR`` moves the mount point (tests; a pod
never needs it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DIR_ENV = "VMCONFORM_SERVICEACCOUNT_DIR"
CONTEXT = "in-cluster"
# client-go's ErrNotInCluster text
NOT_IN_CLUSTER = ("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                  "must be defined")


class NotInCluster(Exception):
    """Not running in a pod (or its service account is not mounted): one line says what is missing."""


@dataclass(frozen=True)
class InCluster:
    server: str
    token_file: Path
    ca_file: Path
    namespace: str

    def kubeconfig(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT, "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.server,
                                                       "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": CONTEXT, "user": {"tokenFile": str(self.token_file)}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT,
                                                      "namespace": self.namespace}}],
        }


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def detect(env: Mapping[str, str] | None = None) -> InCluster:
    """The in-cluster configuration, or :class:`NotInCluster` with client-go's reason."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise NotInCluster(NOT_IN_CLUSTER)
    base = Path(env.get(DIR_ENV) or SERVICEACCOUNT_DIR)
    token, ca = base / "token", base / "ca.crt"
    for path, what in ((token, "token"), (ca, "CA certificate")):
        if not path.is_file():
            raise NotInCluster(f"no service-account {what} at {path}: is a service account mounted in this pod?")
    try:
        token.read_text()
    except OSError as exc:
        raise NotInCluster(f"cannot read the service-account token {token}: {exc.strerror or exc}") from None
    ns_file = base / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
    return InCluster(f"https://{_join_host_port(host, port)}", token, ca, namespace or "default")


def write_kubeconfig(config: InCluster, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.kubeconfig(), sort_keys=False))
    os.chmod(path, 0o600)
    return path
