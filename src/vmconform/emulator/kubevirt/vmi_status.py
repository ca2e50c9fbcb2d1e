"""VMI status pieces shared by the VMI and migration controllers: phases, Ready, runtime memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..resources import dig
from ..timeutil import now_rfc3339
from . import constants as C
from .util import get_condition, set_condition

Obj = dict[str, Any]


@dataclass
class VmiRuntime:
    """What virt-handler remembers about one VMI between reconciles."""

    uid: str
    want_paused: bool | None = None  # pending pause (True) / unpause (False) request
    power: str | None = None  # "poweroff" / "reboot" typed in the guest
    softreboot: bool = False
    shutdown_signaled: bool = False
    delete_grace: int | None = None
    mac_seed: int = 0


def set_phase(status: Obj, phase: str) -> None:
    status["phase"] = phase
    status.setdefault("phaseTransitionTimestamps", []).append(
        {"phase": phase, "phaseTransitionTimestamp": now_rfc3339()})


def is_final(vmi: Obj | None) -> bool:
    return vmi is not None and dig(vmi, "status", "phase") in C.FINAL_PHASES


def pod_down(pod: Obj) -> bool:
    """``IsPodDownOrGoingDown``: deleted, finished, or its compute container has exited."""
    if pod["metadata"].get("deletionTimestamp") or dig(pod, "status", "phase") in ("Succeeded", "Failed"):
        return True
    return any(cs.get("name") == "compute" and (cs.get("state") or {}).get("terminated") is not None
               for cs in dig(pod, "status", "containerStatuses", default=[]) or [])


def sync_ready(status: Obj, pod: Obj | None) -> None:
    """``syncReadyConditionFromPod`` (§3.3)."""
    if pod is None:
        set_condition(status, C.COND_READY, "False", *C.REASON_POD_NOT_EXISTS)
    elif pod_down(pod):
        set_condition(status, C.COND_READY, "False", *C.REASON_POD_TERMINATING)
    elif status.get("phase") != C.RUNNING:
        set_condition(status, C.COND_READY, "False", *C.REASON_GUEST_NOT_RUNNING)
    else:
        cond = get_condition(pod, "Ready")
        if cond is None:
            set_condition(status, C.COND_READY, "False", *C.REASON_POD_COND_MISSING)
        else:
            set_condition(status, C.COND_READY, cond.get("status", "False"), cond.get("reason", ""),
                          cond.get("message", ""))


def ready_preview(vmi: Obj, pod: Obj) -> Obj | None:
    """The Ready condition ``sync_ready`` would compute now (to write only on change)."""
    st = {"phase": dig(vmi, "status", "phase"),
          "conditions": [dict(c) for c in dig(vmi, "status", "conditions", default=[]) or []]}
    sync_ready(st, pod)
    return get_condition({"status": st}, C.COND_READY)
