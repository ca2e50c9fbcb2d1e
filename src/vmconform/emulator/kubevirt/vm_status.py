"""VirtualMachine status from its VMI (§2.1) and printableStatus with §2.2's precedence."""

from __future__ import annotations

from typing import Any, Callable

from ..resources import PVCS, dig
from ..store import Store
from . import constants as C
from .datavolumes import data_volume_error, has_data_volume_provisioning
from .util import copy_condition, get_condition, has_condition, remove_condition, set_condition
from .vmi_spec import RunStrategyError, pvc_volumes, run_strategy

Obj = dict[str, Any]
VM_ONLY_CONDITIONS = (C.COND_READY, C.COND_FAILURE, C.COND_RESTART_REQUIRED)


def requests(vm: Obj) -> list[Obj]:
    return list(dig(vm, "status", "stateChangeRequests", default=[]) or [])


def has_start_request(vm: Obj) -> bool:
    reqs = requests(vm)
    return bool(reqs) and reqs[0].get("action") == C.START_REQUEST


def start_request_paused(vm: Obj) -> bool:
    reqs = requests(vm)
    return bool(reqs) and reqs[0].get("action") == C.START_REQUEST and \
        dig(reqs[0], "data", "paused") == "true"


def has_stop_request_for(vm: Obj, vmi: Obj | None) -> bool:
    reqs = requests(vm)
    return vmi is not None and bool(reqs) and reqs[0].get("action") == C.STOP_REQUEST and \
        reqs[0].get("uid") == vmi["metadata"]["uid"]


def vmi_final(vmi: Obj | None) -> bool:
    return vmi is not None and dig(vmi, "status", "phase") in C.FINAL_PHASES


def is_set_to_start(vm: Obj, vmi: Obj | None) -> bool:
    try:
        strategy = run_strategy(vm)
    except RunStrategyError:
        return False
    if strategy == C.ALWAYS:
        return True
    if strategy == C.MANUAL:
        return not has_stop_request_for(vm, vmi) if vmi is not None else has_start_request(vm)
    if strategy == C.RERUN_ON_FAILURE:
        if vmi is not None:
            return dig(vmi, "status", "phase") != C.SUCCEEDED
        return has_start_request(vm) or dig(vm, "status", "runStrategy") != strategy
    if strategy == C.ONCE:
        return vmi is None
    return False


def trim_first_request(vm_status: Obj, vmi: Obj | None) -> None:
    """``isTrimFirstChangeRequestNeeded`` + pop."""
    reqs = vm_status.get("stateChangeRequests") or []
    if not reqs:
        return
    first = reqs[0]
    pop = False
    if first.get("action") == C.STOP_REQUEST:
        pop = vmi is None or not first.get("uid") or first.get("uid") != vmi["metadata"]["uid"]
    elif first.get("action") == C.START_REQUEST:
        pop = vmi is not None and not vmi["metadata"].get("deletionTimestamp") and not vmi_final(vmi)
    if pop:
        rest = reqs[1:]
        if rest:
            vm_status["stateChangeRequests"] = rest
        else:
            vm_status.pop("stateChangeRequests", None)


def sync_conditions(vm_status: Obj, vmi: Obj | None) -> None:
    """Ready always present; every other VMI condition copied verbatim while a VMI exists."""
    ready = get_condition(vmi, C.COND_READY) if vmi is not None else None
    if vmi is None:
        set_condition(vm_status, C.COND_READY, "False", *C.REASON_VMI_NOT_EXISTS, probe=True)
    elif ready is None:
        set_condition(vm_status, C.COND_READY, "False", *C.REASON_VMI_COND_MISSING, probe=True)
    else:
        copy_condition(vm_status, ready)
    if vmi is None:
        # The copy step is skipped without a VMI (stale LiveMigratable stays, as upstream); the conditions
        # virt-handler drops when the domain shuts off are gone by then on a real cluster.
        for ctype in (C.COND_PAUSED, C.COND_AGENT_CONNECTED):
            remove_condition(vm_status, ctype)
        return
    vmi_types = set()
    for cond in dig(vmi, "status", "conditions", default=[]) or []:
        if cond.get("type") in VM_ONLY_CONDITIONS:
            continue
        vmi_types.add(cond.get("type"))
        copy_condition(vm_status, cond)
    for cond in list(vm_status.get("conditions") or []):
        if cond.get("type") not in VM_ONLY_CONDITIONS and cond.get("type") not in vmi_types:
            remove_condition(vm_status, cond.get("type", ""))


def is_migrating(vmi: Obj | None) -> bool:
    state = dig(vmi, "status", "migrationState") if vmi is not None else None
    return bool(state and state.get("startTimestamp") and not state.get("endTimestamp"))


def has_unbound_pvc(store: Store, vm: Obj) -> bool:
    ns = vm["metadata"].get("namespace")
    for _vol, claim in pvc_volumes(dig(vm, "spec", "template", "spec", default={}) or {}):
        pvc = store.peek(PVCS, ns, claim)
        if pvc is not None and dig(pvc, "status", "phase") != "Bound":
            return True
    return False


def printable_status(store: Store, vm: Obj, vmi: Obj | None, start_expected: bool = False) -> str:
    """``setPrintableStatus``: first matching predicate wins (§2.2)."""
    phase = dig(vmi, "status", "phase", default="") if vmi is not None else None
    running = phase == C.RUNNING
    paused = has_condition(vmi, C.COND_PAUSED, "True")
    sync = get_condition(vmi, C.COND_SYNCHRONIZED) if vmi is not None else None
    sync_false_reason = sync.get("reason") if sync and sync.get("status") == "False" else None
    try:
        strategy: str | None = run_strategy(vm)
    except RunStrategyError:
        strategy = None
    checks: list[tuple[str, Callable[[], bool]]] = [
        (C.PS_TERMINATING, lambda: bool(vm["metadata"].get("deletionTimestamp"))),
        (C.PS_STOPPING, lambda: vmi is not None and not vmi_final(vmi)
         and bool(vmi["metadata"].get("deletionTimestamp"))),
        (C.PS_MIGRATING, lambda: is_migrating(vmi)),
        (C.PS_PAUSED, lambda: running and paused),
        (C.PS_RUNNING, lambda: running and not paused),
        (C.PS_PVC_NOT_FOUND, lambda: sync_false_reason == C.REASON_FAILED_PVC_NOT_FOUND),
        (C.PS_DATAVOLUME_ERROR, lambda: data_volume_error(store, vm) is not None),
        (C.PS_UNSCHEDULABLE, lambda: has_condition(vmi, C.COND_POD_SCHEDULED, "False", C.REASON_UNSCHEDULABLE)),
        (C.PS_PROVISIONING, lambda: has_data_volume_provisioning(store, vm)),
        (C.PS_WAITING_FOR_VOLUME_BINDING, lambda: is_set_to_start(vm, vmi) and has_unbound_pvc(store, vm)),
        (C.PS_ERR_IMAGE_PULL, lambda: sync_false_reason == C.PS_ERR_IMAGE_PULL),
        (C.PS_IMAGE_PULL_BACKOFF, lambda: sync_false_reason == C.PS_IMAGE_PULL_BACKOFF),
        (C.PS_STARTING, lambda: start_expected if vmi is None else phase in (
            C.PHASE_UNSET, C.PENDING, C.SCHEDULING, C.SCHEDULED)),
        (C.PS_CRASH_LOOP, lambda: (vmi is None or vmi_final(vmi)) and not start_expected
         and int(dig(vm, "status", "startFailure", "consecutiveFailCount", default=0) or 0) > 0
         and strategy in (C.ALWAYS, C.RERUN_ON_FAILURE, C.ONCE)),
        (C.PS_STOPPED, lambda: vmi_final(vmi) if vmi is not None else not start_expected),
    ]
    for value, predicate in checks:
        if predicate():
            return value
    return C.PS_UNKNOWN
