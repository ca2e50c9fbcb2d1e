"""VM subresources: start, stop, restart, migrate (``pkg/virt-api/rest/lifecycle.go``, §1.4–§1.5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import errors
from ..resources import VMIMS, VMIS, VMS, dig
from . import constants as C
from .subresource_api import (
    MIGRATE_OPTIONS, RESTART_OPTIONS, START_OPTIONS, STOP_OPTIONS, SubresourceCall, SubresourceRoutes, accepted,
    is_dry_run,
)
from .util import has_condition
from .vmi_spec import RunStrategyError, run_strategy

if TYPE_CHECKING:
    from .context import KubeVirtContext

Obj = dict[str, Any]
VM_RES, VMI_RES = "virtualmachine", "virtualmachineinstance"


def conflict(resource: str, name: str, message: str) -> errors.ApiError:
    return errors.conflict(resource, name, message, C.GROUP)


def require(ctx: "KubeVirtContext", resource: str, ns: str, name: str) -> Obj:
    store_res = VMS if resource == VM_RES else VMIS
    obj = ctx.store.peek(store_res, ns, name)
    if obj is None:
        raise errors.not_found(resource, name, C.GROUP)
    return obj


def strategy_of(vm: Obj) -> str:
    try:
        return run_strategy(vm)
    except RunStrategyError as exc:
        raise errors.internal(str(exc)) from exc


def is_final(vmi: Obj | None) -> bool:
    return vmi is not None and dig(vmi, "status", "phase") in C.FINAL_PHASES


def change_requests(ctx: "KubeVirtContext", vm: Obj, changes: list[Obj], dry_run: bool) -> None:
    """``getChangeRequestJson`` + status patch: add requests, a lone Stop replaces, else "already underway"."""
    status = vm.get("status") or {}
    existing = status.get("stateChangeRequests") or []
    if existing and not (len(changes) == 1 and changes[0]["action"] == C.STOP_REQUEST):
        raise errors.internal(C.MSG_ALREADY_UNDERWAY)
    if dry_run:
        return

    def fn(o: Obj) -> None:
        st = o.setdefault("status", {})
        st["stateChangeRequests"] = [dict(c) for c in changes]
        st.pop("startFailure", None)

    ctx.store.mutate(VMS, vm["metadata"]["namespace"], vm["metadata"]["name"], fn, status=True)


def running_patch(ctx: "KubeVirtContext", vm: Obj, running: bool, dry_run: bool) -> None:
    """``getRunningPatch``: runStrategy Always/Halted, or running true/false for VMs that use ``running``."""
    if dry_run:
        return

    def fn(o: Obj) -> None:
        spec = o.setdefault("spec", {})
        if spec.get("runStrategy") is not None:
            spec["runStrategy"] = C.ALWAYS if running else C.HALTED
        else:
            spec["running"] = running

    ctx.store.mutate(VMS, vm["metadata"]["namespace"], vm["metadata"]["name"], fn)


def patch_vmi_grace(ctx: "KubeVirtContext", vmi: Obj, grace: int, dry_run: bool) -> None:
    if dry_run:
        return
    ctx.store.mutate(VMIS, vmi["metadata"]["namespace"], vmi["metadata"]["name"],
                     lambda o: o.setdefault("spec", {}).update({"terminationGracePeriodSeconds": grace}))


def _set_vmi_grace(ctx: "KubeVirtContext", vmi: Obj, grace: int | None) -> None:
    def fn(o: Obj) -> None:
        if grace is None:
            o.setdefault("spec", {}).pop("terminationGracePeriodSeconds", None)
        else:
            o.setdefault("spec", {})["terminationGracePeriodSeconds"] = grace

    ctx.store.mutate(VMIS, vmi["metadata"]["namespace"], vmi["metadata"]["name"], fn)


async def start(call: SubresourceCall) -> web.StreamResponse:
    ctx, ns, name = call.ctx, call.namespace, call.name
    vm = require(ctx, VM_RES, ns, name)
    vmi = ctx.store.peek(VMIS, ns, name)
    phase = dig(vmi, "status", "phase", default="") if vmi is not None else None
    if vmi is not None and not is_final(vmi) and phase not in (C.UNKNOWN, C.PHASE_UNSET) \
            and ctx.behaviour.start_rejects_live_vmi(vmi):
        raise conflict(VM_RES, name, C.MSG_ALREADY_RUNNING)
    if has_condition(vm, C.COND_MANUAL_RECOVERY, "True"):
        raise conflict(VM_RES, name, C.MSG_MANUAL_RECOVERY)
    opts = await call.options(START_OPTIONS)
    dry = is_dry_run(opts)
    start_req: Obj = {"action": C.START_REQUEST}
    if opts.get("paused"):
        start_req["data"] = {"paused": "true"}
    strategy = strategy_of(vm)
    if strategy == C.HALTED:
        if opts.get("paused"):
            change_requests(ctx, vm, [start_req], dry)
        else:
            running_patch(ctx, vm, True, dry)
    elif strategy in (C.RERUN_ON_FAILURE, C.MANUAL):
        needs_restart = vmi is not None and (
            (strategy == C.RERUN_ON_FAILURE and phase == C.SUCCEEDED) or (strategy == C.MANUAL and is_final(vmi)))
        if not needs_restart and strategy == C.RERUN_ON_FAILURE and phase == C.FAILED:
            raise conflict(VM_RES, name, C.MSG_RERUN_FAILED)
        changes = [start_req]
        if needs_restart:
            assert vmi is not None
            changes = [{"action": C.STOP_REQUEST, "uid": vmi["metadata"]["uid"]}, start_req]
        change_requests(ctx, vm, changes, dry)
    else:
        raise conflict(VM_RES, name, C.MSG_NO_MANUAL_START.format(strategy=strategy))
    return accepted()


async def stop(call: SubresourceCall) -> web.StreamResponse:
    ctx, ns, name = call.ctx, call.namespace, call.name
    opts = await call.options(STOP_OPTIONS)
    dry = is_dry_run(opts)
    vm = require(ctx, VM_RES, ns, name)
    strategy = strategy_of(vm)
    vmi = ctx.store.peek(VMIS, ns, name)
    grace = opts.get("gracePeriod")
    old_grace = dig(vmi, "spec", "terminationGracePeriodSeconds") if vmi is not None else None
    if vmi is not None and not is_final(vmi) and grace is not None:
        patch_vmi_grace(ctx, vmi, int(grace), dry)  # first, even if a check below rejects the request
    if strategy == C.HALTED:
        if vmi is None or is_final(vmi):
            raise conflict(VM_RES, name, C.MSG_NOT_RUNNING)
        if grace is None or (old_grace is not None and int(grace) >= int(old_grace)):
            raise conflict(VM_RES, name, C.MSG_HALTED_STOP)
        change_requests(ctx, vm, [{"action": C.STOP_REQUEST, "uid": vmi["metadata"]["uid"]}], dry)
    elif strategy in (C.RERUN_ON_FAILURE, C.MANUAL):
        if vmi is None or is_final(vmi):
            raise conflict(VM_RES, name, C.MSG_NOT_RUNNING)
        change_requests(ctx, vm, [{"action": C.STOP_REQUEST, "uid": vmi["metadata"]["uid"]}], dry)
    else:
        running_patch(ctx, vm, False, dry)
    return accepted()


async def restart(call: SubresourceCall) -> web.StreamResponse:
    ctx, ns, name = call.ctx, call.namespace, call.name
    opts = await call.options(RESTART_OPTIONS)
    dry = is_dry_run(opts)
    grace = opts.get("gracePeriodSeconds")
    if grace is not None and grace > 0:
        raise errors.bad_request(C.MSG_FORCE_RESTART_ONLY_ZERO)
    if grace is not None and grace < 0:
        raise errors.bad_request(C.MSG_GRACE_NEGATIVE)
    vm = require(ctx, VM_RES, ns, name)
    if has_condition(vm, C.COND_VOLUMES_CHANGE, "True"):
        raise conflict(VM_RES, name, C.MSG_MANUAL_RECOVERY)
    strategy = strategy_of(vm)
    if strategy in (C.HALTED, C.ONCE):
        raise conflict(VM_RES, name, C.MSG_NO_MANUAL_RESTART.format(strategy=strategy))
    vmi = ctx.store.peek(VMIS, ns, name)
    if vmi is None:
        raise conflict(VM_RES, name, C.MSG_RESTART_NOT_RUNNING)
    force = grace == 0
    old_grace = dig(vmi, "spec", "terminationGracePeriodSeconds")
    if force:
        patch_vmi_grace(ctx, vmi, 1, dry)
    try:
        change_requests(ctx, vm, [{"action": C.STOP_REQUEST, "uid": vmi["metadata"]["uid"]},
                                  {"action": C.START_REQUEST}], dry)
    except errors.ApiError:
        if force and not dry:
            _set_vmi_grace(ctx, vmi, old_grace)
        raise
    return accepted()


async def migrate(call: SubresourceCall) -> web.StreamResponse:
    ctx, ns, name = call.ctx, call.namespace, call.name
    opts = await call.options(MIGRATE_OPTIONS)
    require(ctx, VM_RES, ns, name)
    vmi = require(ctx, VMI_RES, ns, name)
    if dig(vmi, "status", "phase") != C.RUNNING:
        raise conflict(VM_RES, name, C.MSG_NOT_RUNNING)
    spec: Obj = {"vmiName": name}
    if opts.get("addedNodeSelector"):
        spec["addedNodeSelector"] = opts["addedNodeSelector"]
    body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
            "metadata": {"generateName": C.MIGRATE_GENERATE_NAME}, "spec": spec}
    try:
        ctx.store.create(VMIMS, body, ns, dry_run=is_dry_run(opts))
    except errors.ApiError as err:
        raise errors.internal(err.message) from err
    return accepted()


def register(routes: SubresourceRoutes) -> None:
    for sub, handler in (("start", start), ("stop", stop), ("restart", restart), ("migrate", migrate)):
        routes.register("virtualmachines", sub, ("PUT",), handler)
