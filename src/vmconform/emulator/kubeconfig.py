"""The kubeconfig an emulated cluster writes for kubectl and the Python client."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "vmconform-emulated"


def build(server: str, ca_pem: bytes, token: str, context: str = CONTEXT) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
        "current-context": context,
        "preferences": {},
    }


def with_tokens(config: dict[str, Any], tokens: dict[str, str]) -> dict[str, Any]:
    """Add a user and a context per named token (same cluster; the current context stays)."""
    cluster = config["clusters"][0]["name"]
    for name, token in tokens.items():
        config["users"].append({"name": name, "user": {"token": token}})
        config["contexts"].append({"name": name, "context": {"cluster": cluster, "user": name, "namespace": "default"}})
    return config


def write(path: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(target)
    return target
