"""A pod's view of the emulated cluster, for running the Job's and the plugin's command in a subprocess:
the service-account token and CA as files, the service host and port as environment variables."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.rbac import service_account


def pod_environment(c: EmulatedCluster, tmp: Path, namespace: str, sa: str) -> dict[str, str]:
    """A token for ``system:serviceaccount:<namespace>:<sa>`` (no binding: the manifests grant it) and
    the files and variables client-go's in-cluster configuration reads."""
    assert c.emulator is not None
    emu = c.emulator
    token = c.call(lambda: emu.rbac.add_token(service_account(namespace, sa)))
    mount = tmp / "serviceaccount"
    mount.mkdir(parents=True, exist_ok=True)
    (mount / "token").write_text(token)
    (mount / "ca.crt").write_bytes(emu.credentials.ca_pem)
    (mount / "namespace").write_text(namespace)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
    env.update({"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(emu.port),
                "VMCONFORM_SERVICEACCOUNT_DIR": str(mount), "HOME": str(tmp)})
    return env


def container_argv(container: dict[str, Any]) -> list[str]:
    """The container's command and args, with the image's ``vmconform`` entrypoint as this interpreter's."""
    argv = [*container.get("command", []), *container.get("args", [])]
    assert argv and argv[0] == "vmconform", argv
    return [sys.executable, "-m", "vmconform", *argv[1:]]
