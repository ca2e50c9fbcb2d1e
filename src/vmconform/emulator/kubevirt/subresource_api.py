"""The ``subresources.kubevirt.io`` API (virt-api): routing, body decoding, discovery.

Routes live in :class:`SubresourceRoutes`, keyed by (resource, subresource), e.g.
``("virtualmachines", "start")``.  Another module adds one with::

    from vmconform.emulator.kubevirt import context_of
    context_of(emulator).subresources.register(
        "virtualmachineinstances", "console", ("GET",), handler)

where ``handler(call: SubresourceCall)`` is an ``async`` function returning an aiohttp
response (``call.request`` is the raw request, e.g. for a WebSocket upgrade).  Raise
:class:`vmconform.emulator.errors.ApiError` to answer with a Status.  A module listed in
``EXTENSION_MODULES`` that defines ``register_subresources(ctx)`` is imported (if present)
and called when the API starts, so e.g. ``vmconform.emulator.console`` can add ``console``
without any other wiring.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import yaml
from aiohttp import web

from .. import discovery, errors
from ..timeutil import now_rfc3339
from . import constants as C

if TYPE_CHECKING:
    from ..cluster import Emulator
    from .context import KubeVirtContext

Obj = dict[str, Any]
Handler = Callable[["SubresourceCall"], Awaitable[web.StreamResponse]]
PREFIX = f"/apis/{C.SUBRESOURCE_GROUP}/"
EXTENSION_MODULES = ("vmconform.emulator.console",)

# virt-api's own APIResourceList for the group (names only, as virt-api serves it)
ADVERTISED = (
    "expand-vm-spec", "virtualmachineinstances/vnc", "virtualmachineinstances/vnc/screenshot",
    "virtualmachineinstances/console", "virtualmachineinstances/portforward", "virtualmachineinstances/pause",
    "virtualmachineinstances/unpause", "virtualmachineinstances/freeze", "virtualmachineinstances/unfreeze",
    "virtualmachineinstances/reset", "virtualmachineinstances/softreboot", "virtualmachines/start",
    "virtualmachines/stop", "virtualmachines/restart", "virtualmachines/migrate", "virtualmachines/expand-spec",
    "virtualmachines/objectgraph", "virtualmachineinstances/guestosinfo", "virtualmachineinstances/userlist",
    "virtualmachineinstances/filesystemlist", "virtualmachineinstances/addvolume",
    "virtualmachineinstances/removevolume", "virtualmachineinstances/objectgraph",
)


@dataclass(frozen=True)
class OptionsType:
    """A request body type: Go type name and its fields' JSON types (bool, int, list, dict)."""

    go_name: str
    fields: dict[str, type]


START_OPTIONS = OptionsType("StartOptions", {"paused": bool, "dryRun": list})
STOP_OPTIONS = OptionsType("StopOptions", {"gracePeriod": int, "dryRun": list})
RESTART_OPTIONS = OptionsType("RestartOptions", {"gracePeriodSeconds": int, "dryRun": list})
PAUSE_OPTIONS = OptionsType("PauseOptions", {"dryRun": list})
UNPAUSE_OPTIONS = OptionsType("UnpauseOptions", {"dryRun": list})
MIGRATE_OPTIONS = OptionsType("MigrateOptions", {"dryRun": list, "addedNodeSelector": dict})

_GO_TYPES = {bool: "bool", int: "int64", list: "[]string", dict: "map[string]string"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def decode_options(raw: bytes, kind: OptionsType) -> Obj:
    """virt-api's ``decodeBody``: YAML or JSON, empty is fine; errors are 400 with its message."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    try:
        body = json.loads(text) if text[:1] in "{[" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        prefix = "" if text[:1] in "{[" else "error converting YAML to JSON: yaml: "
        raise errors.bad_request(C.MSG_UNMARSHAL.format(err=f"{prefix}{exc}")) from exc
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise errors.bad_request(C.MSG_UNMARSHAL.format(
            err=f"json: cannot unmarshal {_json_kind(body)} into Go value of type v1.{kind.go_name}"))
    out: Obj = {}
    for field, want in kind.fields.items():
        if field not in body or body[field] is None:
            continue
        value = body[field]
        ok = (isinstance(value, bool) if want is bool else
              isinstance(value, int) and not isinstance(value, bool) if want is int else
              isinstance(value, list) and all(isinstance(v, str) for v in value) if want is list else
              isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))
        if want is int and isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
        if not ok:
            raise errors.bad_request(C.MSG_UNMARSHAL.format(
                err=f"json: cannot unmarshal {_json_kind(value)} into Go struct field {kind.go_name}.{field} "
                    f"of type {_GO_TYPES[want]}"))
        out[field] = value
    return out


def is_dry_run(options: Obj) -> bool:
    runs = options.get("dryRun") or []
    return bool(runs) and runs[0] == "All"


@dataclass
class SubresourceCall:
    ctx: "KubeVirtContext"
    request: web.Request
    version: str
    namespace: str
    resource: str
    name: str
    subresource: str

    async def options(self, kind: OptionsType) -> Obj:
        opts = decode_options(await self.request.read(), kind)
        if opts.get("dryRun") and not self.ctx.behaviour.honours_dry_run():
            opts.pop("dryRun")  # dryrun-ignored: the request is carried out for real
        return opts

    async def asks_dry_run(self) -> bool:
        """The body asks ``dryRun: ["All"]`` (read leniently: the handler itself reports a malformed body)."""
        try:
            body = json.loads(await self.request.read() or b"{}")
        except ValueError:
            return False
        return isinstance(body, dict) and isinstance(body.get("dryRun"), list) and is_dry_run(body)


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    handler: Handler


class SubresourceRoutes:
    def __init__(self) -> None:
        self.namespaced: dict[tuple[str, str], Route] = {}
        self.cluster: dict[str, Route] = {}

    def register(self, resource: str, subresource: str, methods: tuple[str, ...], handler: Handler) -> None:
        self.namespaced[(resource, subresource)] = Route(tuple(m.upper() for m in methods), handler)

    def register_cluster(self, name: str, methods: tuple[str, ...], handler: Handler) -> None:
        self.cluster[name] = Route(tuple(m.upper() for m in methods), handler)


def accepted() -> web.Response:
    return web.Response(status=202)


def ok_empty() -> web.Response:
    return web.Response(status=200)


def json_body(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(obj).encode(), content_type="application/json")


def _method_not_allowed() -> errors.ApiError:
    return errors.ApiError(405, "MethodNotAllowed", "405: Method Not Allowed", plain=True)


def _not_found() -> errors.ApiError:
    return errors.ApiError(404, "NotFound", "the server could not find the requested resource")


class SubresourceAPI:
    """Serves the routes of ``ctx.subresources`` under both group versions."""

    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        from . import subresource_vm, subresource_vmi
        from .context import context_of

        ctx = self.ctx = context_of(emulator)
        subresource_vm.register(ctx.subresources)
        subresource_vmi.register(ctx.subresources)
        ctx.subresources.register_cluster("version", ("GET",), _version)
        ctx.subresources.register_cluster("healthz", ("GET",), _healthz)
        for module_name in EXTENSION_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            hook = getattr(module, "register_subresources", None)
            if hook is not None:
                hook(ctx)
        emulator.api.extensions.append((PREFIX, self.handle))
        emulator.api.extra_groups.append(discovery.ExtraGroup(C.SUBRESOURCE_GROUP, C.SUBRESOURCE_VERSIONS))

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.ctx is not None
        parts = request.path.strip("/").split("/")
        if len(parts) < 3 or parts[2] not in C.SUBRESOURCE_VERSIONS:
            raise _not_found()
        version, rest = parts[2], parts[3:]
        if not rest:
            if request.method != "GET":
                raise _method_not_allowed()
            return json_body(_resource_list(version))
        if len(rest) == 1:
            route = self.ctx.subresources.cluster.get(rest[0])
            call = SubresourceCall(self.ctx, request, version, "", "", "", rest[0])
        elif rest[0] == "namespaces" and len(rest) >= 5:
            route = self.ctx.subresources.namespaced.get((rest[2], "/".join(rest[4:])))
            call = SubresourceCall(self.ctx, request, version, rest[1], rest[2], rest[3], "/".join(rest[4:]))
        else:
            route = None
        if route is None:
            raise _not_found()
        if request.method not in route.methods:
            raise _method_not_allowed()
        answer = self.ctx.behaviour.intercept(call, dry_run=await call.asks_dry_run())
        if answer is not None:
            return answer
        return await route.handler(call)


def _resource_list(version: str) -> Obj:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{C.SUBRESOURCE_GROUP}/{version}",
            "resources": [{"name": n, "singularName": "", "namespaced": True, "kind": "", "verbs": None}
                          for n in ADVERTISED]}


async def _version(call: SubresourceCall) -> web.StreamResponse:
    return json_body({"gitVersion": call.ctx.release.version, "gitCommit": "vmconform-emulator",
                      "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.9",
                      "compiler": "gc", "platform": "linux/amd64"})


async def _healthz(call: SubresourceCall) -> web.StreamResponse:
    version = call.ctx.emulator.api.version.get("gitVersion", "")
    return json_body({"apiserver": {"connectivity": "ok", "version": version},
                      "config-resource-version": str(call.ctx.store.rv), "timestamp": now_rfc3339()})
