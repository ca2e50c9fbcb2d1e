"""API discovery documents: aggregated (apidiscovery.k8s.io/v2) and legacy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .resources import Registry, ResourceType

AGGREGATED_CT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@dataclass(frozen=True)
class ExtraGroup:
    """An aggregated API group served outside the store (e.g. subresources.kubevirt.io)."""

    group: str
    versions: tuple[str, ...]
    # resource name → (kind, verbs, namespaced); "parent/sub" names are subresources
    resources: dict[str, tuple[str, tuple[str, ...], bool]] = field(default_factory=dict)


def wants_aggregated(accept: str) -> bool:
    return "as=APIGroupDiscoveryList" in accept and "g=apidiscovery.k8s.io" in accept


# Subresources served outside the store, as kube-apiserver advertises them: (group, plural) →
# (subresource, its group, version, kind, verbs). ``kubectl drain`` evicts only when it finds pods/eviction.
SERVED_SUBRESOURCES: dict[tuple[str, str], tuple[tuple[str, str, str, str, tuple[str, ...]], ...]] = {
    ("", "pods"): (("eviction", "policy", "v1", "Eviction", ("create",)),),
}


def _aggregated_resource(res: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": res.plural,
        "responseKind": {"group": res.group, "version": res.version, "kind": res.kind},
        "scope": "Namespaced" if res.namespaced else "Cluster",
        "singularResource": res.singular,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    if res.has_status:
        entry["subresources"] = [{
            "subresource": "status",
            "responseKind": {"group": res.group, "version": res.version, "kind": res.kind},
            "verbs": ["get", "patch", "update"],
        }]
    for sub, group, version, kind, verbs in SERVED_SUBRESOURCES.get(res.key, ()):
        entry.setdefault("subresources", []).append({
            "subresource": sub, "responseKind": {"group": group, "version": version, "kind": kind},
            "verbs": list(verbs)})
    return entry


def _aggregated_extra(extra: ExtraGroup, version: str) -> list[dict[str, Any]]:
    parents: dict[str, dict[str, Any]] = {}
    for name, (kind, verbs, namespaced) in extra.resources.items():
        parent, _, sub = name.partition("/")
        entry = parents.setdefault(parent, {
            "resource": parent,
            "responseKind": {"group": extra.group, "version": version, "kind": kind if not sub else ""},
            "scope": "Namespaced" if namespaced else "Cluster",
            "singularResource": parent.rstrip("s"),
            "verbs": [],
        })
        if sub:
            entry.setdefault("subresources", []).append({
                "subresource": sub,
                "responseKind": {"group": extra.group, "version": version, "kind": kind},
                "verbs": list(verbs),
            })
        else:
            entry["verbs"] = list(verbs)
    return list(parents.values())


def aggregated(registry: Registry, core: bool, extras: tuple[ExtraGroup, ...] = ()) -> dict[str, Any]:
    items = []
    if core:
        items.append({
            "metadata": {"name": ""},
            "versions": [{"version": "v1", "freshness": "Current",
                          "resources": [_aggregated_resource(r) for r in registry.in_group_version("", "v1")]}],
        })
    else:
        for group, versions in registry.groups().items():
            items.append({
                "metadata": {"name": group},
                "versions": [{"version": v, "freshness": "Current",
                              "resources": [_aggregated_resource(r) for r in registry.in_group_version(group, v)]}
                             for v in versions],
            })
        for extra in extras:
            items.append({
                "metadata": {"name": extra.group},
                "versions": [{"version": v, "freshness": "Current", "resources": _aggregated_extra(extra, v)}
                             for v in extra.versions],
            })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}


def legacy_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def _group_doc(group: str, versions: list[str] | tuple[str, ...]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def legacy_groups(registry: Registry, extras: tuple[ExtraGroup, ...] = ()) -> dict[str, Any]:
    groups = [_group_doc(g, v) for g, v in registry.groups().items()]
    groups += [_group_doc(e.group, e.versions) for e in extras]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def legacy_group(registry: Registry, group: str, extras: tuple[ExtraGroup, ...] = ()) -> dict[str, Any] | None:
    versions = registry.groups().get(group)
    if versions is None:
        extra = next((e for e in extras if e.group == group), None)
        if extra is None:
            return None
        versions = list(extra.versions)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def resource_list(registry: Registry, group: str, version: str,
                  extras: tuple[ExtraGroup, ...] = ()) -> dict[str, Any] | None:
    gv = f"{group}/{version}" if group else version
    resources: list[dict[str, Any]] = []
    for r in registry.in_group_version(group, version):
        resources.append({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": list(r.verbs), **({"shortNames": list(r.short_names)} if r.short_names else {}),
            **({"categories": list(r.categories)} if r.categories else {}),
        })
        if r.has_status:
            resources.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                              "kind": r.kind, "verbs": ["get", "patch", "update"]})
        for sub, sgroup, sversion, kind, verbs in SERVED_SUBRESOURCES.get(r.key, ()):
            resources.append({"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                              "group": sgroup, "version": sversion, "kind": kind, "verbs": list(verbs)})
    for extra in extras:
        if extra.group == group and version in extra.versions:
            for name, (kind, verbs, namespaced) in extra.resources.items():
                resources.append({"name": name, "singularName": "", "namespaced": namespaced,
                                  "kind": kind, "verbs": list(verbs)})
    if not resources:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
