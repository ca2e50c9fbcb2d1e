"""VMI subresources: pause, unpause, softreboot, guestosinfo, userlist, filesystemlist (§1.5)."""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from .. import errors
from ..resources import VMS, dig
from . import constants as C
from .guest_info import agent_info, filesystem_list, user_list
from .subresource_api import (
    PAUSE_OPTIONS, UNPAUSE_OPTIONS, SubresourceCall, SubresourceRoutes, is_dry_run, json_body, ok_empty,
)
from .subresource_vm import VM_RES, VMI_RES, conflict, require
from .util import has_condition
from .vmi_spec import guest_image, hostname

Obj = dict[str, Any]


def _controller(call: SubresourceCall) -> Any:
    vc = call.ctx.vmi_controller
    if vc is None:
        raise errors.internal("virt-handler is not available")
    return vc


async def pause(call: SubresourceCall) -> web.StreamResponse:
    ctx, ns, name = call.ctx, call.namespace, call.name
    opts = await call.options(PAUSE_OPTIONS)
    vmi = require(ctx, VMI_RES, ns, name)
    if dig(vmi, "status", "phase") != C.RUNNING:
        raise conflict(VMI_RES, name, C.MSG_NOT_RUNNING)
    probe = dig(vmi, "spec", "livenessProbe")
    if ctx.release.pause_checks_liveness_probe and probe is not None and probe.get("guestAgentPing") is None:
        raise errors.forbidden(VMI_RES, name, C.MSG_PAUSE_LIVENESS, C.GROUP)
    vc = _controller(call)
    if has_condition(vmi, C.COND_PAUSED) or vc.pause_pending(vmi):
        raise conflict(VMI_RES, name, C.MSG_VMI_ALREADY_PAUSED)
    if not is_dry_run(opts):
        vc.request_pause(ns, name, True)
    return ok_empty()


async def unpause(call: SubresourceCall) -> web.StreamResponse:
    ctx, ns, name = call.ctx, call.namespace, call.name
    vm = ctx.store.peek(VMS, ns, name)
    if ctx.release.unpause_checks_snapshot and vm is not None and dig(vm, "status", "snapshotInProgress") is not None:
        raise conflict(VM_RES, name, C.MSG_SNAPSHOT_IN_PROGRESS)
    opts = await call.options(UNPAUSE_OPTIONS)
    vmi = require(ctx, VMI_RES, ns, name)
    if dig(vmi, "status", "phase") != C.RUNNING:
        raise conflict(VMI_RES, name, C.MSG_VMI_NOT_RUNNING)
    if not has_condition(vmi, C.COND_PAUSED):
        raise conflict(VMI_RES, name, C.MSG_VMI_NOT_PAUSED)
    if not is_dry_run(opts):
        _controller(call).request_pause(ns, name, False)
    return ok_empty()


async def softreboot(call: SubresourceCall) -> web.StreamResponse:
    ctx, ns, name = call.ctx, call.namespace, call.name
    vmi = require(ctx, VMI_RES, ns, name)
    if dig(vmi, "status", "phase") != C.RUNNING:
        raise conflict(VMI_RES, name, C.MSG_NOT_RUNNING)
    if has_condition(vmi, C.COND_PAUSED, "True"):
        raise conflict(VMI_RES, name, C.MSG_VMI_PAUSED)
    if not has_condition(vmi, C.COND_AGENT_CONNECTED) and \
            dig(vmi, "spec", "domain", "features", "acpi", "enabled") is False:
        raise conflict(VMI_RES, name, C.MSG_NO_AGENT_NO_ACPI)
    _controller(call).request_softreboot(ns, name)
    return ok_empty()


def _agent_get(body: Callable[[Obj], Obj]) -> Callable[[SubresourceCall], Any]:
    """GET handlers through ``httpGetRequestHandler``: every validation error is a plain-text 500."""

    async def handler(call: SubresourceCall) -> web.StreamResponse:
        try:
            vmi = require(call.ctx, VMI_RES, call.namespace, call.name)
            if dig(vmi, "status", "phase") != C.RUNNING:
                raise conflict(VMI_RES, call.name, C.MSG_VMI_NOT_RUNNING)
            if not has_condition(vmi, C.COND_AGENT_CONNECTED):
                raise conflict(VMI_RES, call.name, C.MSG_NO_AGENT)
        except errors.ApiError as err:
            return web.Response(status=500, text=err.message, content_type="text/plain")
        return json_body(body(vmi))

    return handler


def _guestosinfo(vmi: Obj) -> Obj:
    return agent_info(guest_image(vmi.get("spec") or {}), hostname(vmi))


def _userlist(vmi: Obj) -> Obj:
    return user_list(guest_image(vmi.get("spec") or {}))


def _filesystemlist(_vmi: Obj) -> Obj:
    return filesystem_list()


def register(routes: SubresourceRoutes) -> None:
    for sub, handler in (("pause", pause), ("unpause", unpause), ("softreboot", softreboot)):
        routes.register("virtualmachineinstances", sub, ("PUT",), handler)
    for sub, fn in (("guestosinfo", _guestosinfo), ("userlist", _userlist), ("filesystemlist", _filesystemlist)):
        routes.register("virtualmachineinstances", sub, ("GET",), _agent_get(fn))
