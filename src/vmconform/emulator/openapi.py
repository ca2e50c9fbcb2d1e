"""OpenAPI v3 documents, enough for ``kubectl apply`` to validate server-side without flags."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources as pkg_resources
from typing import Any

import yaml

from .resources import Registry, ResourceType

_SCHEMA_FILES = {
    ("kubevirt.io", "VirtualMachine"): "virtualmachine.openapiv3.yaml",
    ("kubevirt.io", "VirtualMachineInstance"): "virtualmachineinstance.openapiv3.yaml",
    ("kubevirt.io", "VirtualMachineInstanceMigration"): "virtualmachineinstancemigration.openapiv3.yaml",
    ("kubevirt.io", "KubeVirt"): "kubevirt.openapiv3.yaml",
}


@lru_cache(maxsize=None)
def crd_schema(group: str, kind: str) -> dict[str, Any] | None:
    """KubeVirt's published openAPIV3Schema for a kind (packaged data), or None."""
    fname = _SCHEMA_FILES.get((group, kind))
    if fname is None:
        return None
    text = pkg_resources.files("vmconform.emulator").joinpath("schemas", fname).read_text()
    # libyaml's loader when PyYAML has it: the pure-Python one takes most of an emulator's start.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)["openAPIV3Schema"]  # noqa: S506 - a safe loader


def _schema_name(res: ResourceType) -> str:
    group = ".".join(reversed(res.group.split("."))) if res.group else "io.k8s.api.core"
    return f"{group}.{res.version}.{res.kind}"


def _gvk(res: ResourceType) -> dict[str, str]:
    return {"group": res.group, "version": res.version, "kind": res.kind}


def _params(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True} for n in names]


def _ref(res: ResourceType) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{_schema_name(res)}"}}}}


def _paths_for(res: ResourceType) -> dict[str, Any]:
    base = res.path_prefix()
    coll = f"{base}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{base}/{res.plural}"
    item = f"{coll}/{{name}}"
    gvk = _gvk(res)
    write_params = _params(["dryRun", "fieldManager", "fieldValidation"])
    ok = {"200": {"description": "OK", **_ref(res)}}
    created = {"201": {"description": "Created", **_ref(res)}, **ok}

    def op(action: str, responses: dict[str, Any], params: list[dict[str, Any]],
           body: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "operationId": f"{action}{res.kind}", "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": responses,
        }
        if body:
            out["requestBody"] = _ref(res)
        return out

    patch_body = {"content": {ct: {"schema": {"type": "object"}} for ct in (
        "application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml",
    )}}
    patch_op = op("patch", created, write_params + _params(["force"]))
    patch_op["requestBody"] = patch_body
    paths = {
        coll: {
            "get": op("list", ok, _params(["labelSelector", "fieldSelector", "limit", "continue",
                                           "resourceVersion", "watch", "timeoutSeconds"])),
            "post": op("post", created, write_params, body=True),
        },
        item: {
            "get": op("get", ok, []),
            "put": op("put", created, write_params, body=True),
            "patch": patch_op,
            "delete": op("delete", ok, _params(["gracePeriodSeconds", "propagationPolicy", "dryRun"])),
        },
    }
    if res.has_status:
        paths[f"{item}/status"] = {"get": op("get", ok, []), "put": op("put", ok, write_params, body=True),
                                   "patch": dict(patch_op)}
    return paths


def _schema_for(res: ResourceType) -> dict[str, Any]:
    schema = crd_schema(res.group, res.kind)
    if schema is None:
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema = dict(schema)
    schema["x-kubernetes-group-version-kind"] = [_gvk(res)]
    return schema


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    kinds = registry.in_group_version(group, version)
    if not kinds:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for res in kinds:
        paths.update(_paths_for(res))
        schemas[_schema_name(res)] = _schema_for(res)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (vmconform emulator)", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


class OpenAPI:
    """Caches the rendered documents and their hashes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._docs: dict[str, bytes] = {}
        for group, versions in {"": ["v1"], **registry.groups()}.items():
            for v in versions:
                doc = group_version_document(registry, group, v)
                if doc is not None:
                    key = f"apis/{group}/{v}" if group else f"api/{v}"
                    self._docs[key] = json.dumps(doc).encode()

    def index(self) -> dict[str, Any]:
        return {"paths": {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={self._hash(key)}"}
                          for key in self._docs}}

    def _hash(self, key: str) -> str:
        return hashlib.sha512(self._docs[key]).hexdigest()[:64].upper()

    def document(self, key: str) -> bytes | None:
        return self._docs.get(key.strip("/"))
