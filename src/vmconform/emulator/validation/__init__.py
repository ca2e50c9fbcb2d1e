"""What kube-apiserver checks on a client's create/update before storing: metadata (names, labels,
annotations), a custom resource's structural schema (pruning and validation; fieldValidation), and
the core kinds' own strategies (defaults and rules).

Only client writes go through here (the server calls :func:`admit`); the emulator's controllers
write through the store directly, as KubeVirt's components would write already-valid objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import errors
from ..openapi import crd_schema
from ..resources import ResourceType
from . import core
from .meta import metadata_causes, name_causes
from .schema import check_custom_resource

Obj = dict[str, Any]
FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


@dataclass(frozen=True)
class Strategy:
    """A kind's create/update strategy: defaults (may raise core.DecodeError), then rules."""

    validate: core.Validator = core.no_rules
    defaults: Callable[[Obj, Obj | None], None] | None = None


# (group, plural) → strategy. A kind without an entry gets metadata checks only.
STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("", "configmaps"): Strategy(core.configmap),
    ("", "secrets"): Strategy(core.secret, lambda o, _old: core.secret_defaults(o)),
    ("", "services"): Strategy(core.service, core.service_defaults),
    ("", "pods"): Strategy(core.pod),
    ("", "persistentvolumeclaims"): Strategy(core.pvc),
    ("", "events"): Strategy(core.event),
    ("policy", "poddisruptionbudgets"): Strategy(core.pdb, core.pdb_defaults),
}


_OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


_OBJECT_META = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields"})
_TYPE_META = frozenset({"apiVersion", "kind", "metadata"})
_SPEC_STATUS = frozenset({"spec", "status"})
# Typed kinds' top-level JSON fields (k8s.io/api types.go): anything else does not decode into the Go
# struct — dropped, and reported like a custom resource's unknown fields (Warn / Strict).
TOP_LEVEL: dict[tuple[str, str], frozenset[str]] = {
    ("", "configmaps"): frozenset({"data", "binaryData", "immutable"}),
    ("", "secrets"): frozenset({"data", "stringData", "type", "immutable"}),
    ("", "serviceaccounts"): frozenset({"secrets", "imagePullSecrets", "automountServiceAccountToken"}),
    ("", "events"): frozenset({
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
        "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"}),
    ("storage.k8s.io", "storageclasses"): frozenset({
        "provisioner", "parameters", "reclaimPolicy", "mountOptions", "allowVolumeExpansion", "volumeBindingMode",
        "allowedTopologies"}),
    **{("", plural): _SPEC_STATUS for plural in (
        "pods", "services", "persistentvolumeclaims", "persistentvolumes", "namespaces", "nodes")},
    **{(group, plural): _SPEC_STATUS for group, plural in (
        ("policy", "poddisruptionbudgets"), ("apps", "deployments"), ("apps", "replicasets"),
        ("apps", "daemonsets"), ("coordination.k8s.io", "leases"))},
}


def _unknown_typed_fields(res: ResourceType, obj: Obj) -> list[str]:
    """Drop (and name) top-level fields a typed kind does not have, and unknown ObjectMeta fields."""
    unknown: list[str] = []
    allowed = TOP_LEVEL.get(res.key)
    if allowed is not None:
        for key in [k for k in obj if k not in allowed and k not in _TYPE_META]:
            del obj[key]
            unknown.append(key)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in [k for k in meta if k not in _OBJECT_META]:
            del meta[key]
            unknown.append(f"metadata.{key}")
    return unknown


def field_validation(value: str | None, method: str = "POST") -> str:
    """The ``fieldValidation`` query parameter; the server's default is Warn. Anything else is a 422
    on the request's options (apimachinery ``ValidateFieldValidation``)."""
    if not value:
        return "Warn"
    if value not in FIELD_VALIDATION:
        raise errors.invalid(_OPTIONS_KIND.get(method, "CreateOptions"), "", [(
            "fieldValidation", f'Unsupported value: "{value}": supported values: "Ignore", "Strict", "Warn"')],
            "meta.k8s.io")
    return value


def admit(res: ResourceType, obj: Obj, old: Obj | None, *, validation: str = "Warn",
          status: bool = False) -> list[str]:
    """Default, prune and validate ``obj`` (in place) for a create (``old`` None) or an update.

    Returns the warnings to send (``Warning: 299 - "..."``); raises the 400 or 422 the apiserver answers.
    """
    meta = obj.get("metadata") or {}
    warnings: list[str] = []
    causes = metadata_causes(res.kind, res.version, meta)
    if old is None:
        causes = name_causes(meta, res.name_rule) + causes
    unknown = _unknown_typed_fields(res, obj)
    schema = crd_schema(res.group, res.kind) if res.custom else None
    if schema is not None:
        checker = check_custom_resource(schema, obj, status=status)
        unknown += checker.unknown
        causes += checker.causes
    unknown.sort()
    if unknown and validation == "Strict":
        listed = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise errors.bad_request(f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                                 f"strict decoding error: {listed}")
    if validation == "Warn":
        warnings += [f'unknown field "{path}"' for path in unknown]
    strategy = STRATEGIES.get(res.key)
    if strategy is not None and not status:
        try:
            if strategy.defaults is not None:
                strategy.defaults(obj, old)
            causes += strategy.validate(obj, old)
        except core.DecodeError as exc:
            raise core.decode_failure(res.kind, str(exc)) from None
    if causes:
        raise errors.invalid(res.kind, str(meta.get("name") or meta.get("generateName") or ""), causes, res.group)
    return warnings
