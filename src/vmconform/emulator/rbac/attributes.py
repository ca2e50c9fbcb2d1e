"""A request's authorization attributes, derived from its method and path as kube-apiserver's
RequestInfoFactory does (``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

_VERB_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch", "GET": "get", "HEAD": "get",
                   "DELETE": "delete"}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Attributes:
    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def from_request(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """The attributes of an API request; paths outside /api and /apis are non-resource requests."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attributes(verb=method.lower(), resource_request=False, path=path)
    if not rest:  # /api/v1, /apis/g/v: discovery is a non-resource request
        return Attributes(verb=method.lower(), resource_request=False, path=path)
    watch_prefix = rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    sub = "/".join(rest[2:]) if len(rest) > 2 else ""
    verb = _VERB_BY_METHOD.get(method.upper(), method.lower())
    if verb == "get" and not name:
        verb = "list"
    if verb == "delete" and not name:
        verb = "deletecollection"
    if (watch_prefix or query.get("watch") in ("1", "true")) and verb in ("get", "list"):
        verb = "watch"
    return Attributes(verb=verb, resource_request=True, path=path, group=group, version=version,
                      resource=resource, subresource=sub, namespace=namespace, name=name)


def from_review(spec: Mapping[str, object]) -> Attributes:
    """The attributes a (Self)SubjectAccessReview's spec asks about."""
    res = spec.get("resourceAttributes")
    if isinstance(res, dict):
        return Attributes(verb=str(res.get("verb") or ""), resource_request=True,
                          group=str(res.get("group") or ""), version=str(res.get("version") or ""),
                          resource=str(res.get("resource") or ""), subresource=str(res.get("subresource") or ""),
                          namespace=str(res.get("namespace") or ""), name=str(res.get("name") or ""))
    non = spec.get("nonResourceAttributes")
    non = non if isinstance(non, dict) else {}
    return Attributes(verb=str(non.get("verb") or ""), resource_request=False, path=str(non.get("path") or ""))
