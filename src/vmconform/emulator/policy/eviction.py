"""The pods' ``eviction`` subresource (policy/v1 ``Eviction``), as kube-apiserver serves it
(kubernetes v1.32 ``pkg/registry/core/pod/storage/eviction.go``: ``EvictionREST.Create``,
``checkAndDecrement``, ``canIgnorePDB``):

1. the body must be an ``Eviction`` named like the pod of the URL (400 otherwise);
2. the validating admission webhooks of the eviction run first (KubeVirt's pod-eviction webhook is
   one: ``register_webhook``); a denial is their Status, e.g. 429;
3. a pod that is Pending, has finished or is already being deleted is deleted without any budget check;
4. otherwise at most one PodDisruptionBudget may select the pod (500 with more); with
   ``disruptionsAllowed`` 0 the answer is 429 ``Cannot evict pod as it would violate the pod's
   disruption budget.`` with a ``DisruptionBudget`` cause; a budget its controller has not yet seen
   (``observedGeneration`` behind) is 429 "still being processed"; otherwise the budget is decremented
   (``disruptedPods``) and
5. the pod gets the ``DisruptionTarget`` condition and is deleted with the eviction's delete options
   (gracefully: it stays Terminating until its kubelet ends it); the answer is 201 ``Success``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from .. import errors
from ..errors import ApiError
from ..resources import PDBS, PODS, dig
from ..timeutil import now_rfc3339
from .disruption import _matches

if TYPE_CHECKING:
    from ..cluster import Emulator
    from ..server import Target

Obj = dict[str, Any]
# (namespace, pod name, the Eviction, dry run) → None, or raise ApiError to deny
Webhook = Callable[[str, str, Obj, bool], None]

MSG_BUDGET = "Cannot evict pod as it would violate the pod's disruption budget."
CAUSE_BUDGET = "DisruptionBudget"
MSG_MANY_BUDGETS = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
COND_DISRUPTION_TARGET = "DisruptionTarget"
REASON_EVICTION_API = "EvictionByEvictionAPI"
MSG_EVICTION_API = "Eviction API: evicting"
EVICTION_KINDS = {("policy/v1", "Eviction"), ("policy/v1beta1", "Eviction")}
_ATTR = "_vmconform_eviction"


def register_webhook(emulator: "Emulator", hook: Webhook) -> None:
    """Add a validating admission webhook for evictions (called in order, before any budget check)."""
    hooks: list[Webhook] = getattr(emulator, _ATTR, None) or []
    hooks.append(hook)
    setattr(emulator, _ATTR, hooks)


def webhooks(emulator: "Emulator") -> list[Webhook]:
    return list(getattr(emulator, _ATTR, None) or [])


def too_many_requests(message: str, cause: str, retry_after: int = 0) -> ApiError:
    return ApiError(429, "TooManyRequests", message, causes=[{"reason": CAUSE_BUDGET, "message": cause}],
                    retry_after=retry_after)


def budget_message(pdb: Obj) -> str:
    """``disruptionDeniedMessage``: why a budget with no disruptions allowed refuses."""
    st = pdb.get("status") or {}
    name = pdb["metadata"]["name"]
    cond = next((c for c in st.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    if cond and cond.get("status") == "False" and cond.get("message") and cond.get("reason") == "SyncFailed":
        return f"The disruption budget {name} does not allow evicting pods currently because it failed sync: " \
               f"{cond['message']}"
    if int(st.get("currentHealthy", 0)) <= int(st.get("desiredHealthy", 0)):
        return (f"The disruption budget {name} needs {int(st.get('desiredHealthy', 0))} healthy pods and has "
                f"{int(st.get('currentHealthy', 0))} currently")
    return f"The disruption budget {name} does not allow evicting pods currently"


def _pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in dig(pod, "status", "conditions", default=[]) or [])


def can_ignore_budget(pod: Obj) -> bool:
    """``canIgnorePDB``: Pending, finished, or already being deleted."""
    return dig(pod, "status", "phase") in ("Succeeded", "Failed", "Pending") \
        or bool(pod["metadata"].get("deletionTimestamp"))


def _mark_disruption_target(pod: Obj) -> None:
    conds = pod.setdefault("status", {}).setdefault("conditions", [])
    for c in conds:
        if c.get("type") == COND_DISRUPTION_TARGET:
            if c.get("status") != "True":
                c["lastTransitionTime"] = now_rfc3339()
            c.update({"status": "True", "reason": REASON_EVICTION_API, "message": MSG_EVICTION_API})
            return
    conds.append({"type": COND_DISRUPTION_TARGET, "status": "True", "reason": REASON_EVICTION_API,
                  "message": MSG_EVICTION_API, "lastTransitionTime": now_rfc3339()})


class EvictionREST:
    """Serves ``POST /api/v1/namespaces/NS/pods/NAME/eviction`` on the emulator's API server."""

    def __init__(self) -> None:
        self.emulator: Emulator | None = None

    async def start(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        emulator.api.subresource_handlers[(PODS.key, "eviction")] = self.handle

    async def stop(self) -> None:
        self.emulator = None

    async def handle(self, request: web.Request, t: "Target") -> web.StreamResponse:
        from .. import bodies
        from ..server import json_response

        if request.method != "POST":
            raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported on pods/eviction")
        raw = await request.read()
        body = bodies.parse(raw, request.headers.get("Content-Type", "")) if raw else {}
        if not isinstance(body, dict) or (body.get("apiVersion"), body.get("kind")) not in EVICTION_KINDS:
            raise errors.bad_request(f"not a Eviction object: {body.get('kind') if isinstance(body, dict) else body}")
        name = dig(body, "metadata", "name", default="")
        if name != t.name:
            raise errors.bad_request("name in URL does not match name in Eviction object")
        options = dict(body.get("deleteOptions") or {})
        dry_run = bool(request.query.getall("dryRun", [])) or bool(options.get("dryRun"))
        assert t.namespace is not None and t.name is not None
        self.evict(t.namespace, t.name, body, options, dry_run)
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "code": 201}, 201)

    def evict(self, ns: str, name: str, eviction: Obj, options: Obj, dry_run: bool) -> None:
        assert self.emulator is not None
        for hook in webhooks(self.emulator):
            hook(ns, name, eviction, dry_run)
        store = self.emulator.store
        pod = store.peek(PODS, ns, name)
        if pod is None:
            raise errors.not_found("pods", name)
        if not can_ignore_budget(pod):
            self._guard(pod, dry_run)
        if dry_run:
            return
        store.mutate(PODS, ns, name, _mark_disruption_target, status=True)
        store.delete(PODS, ns, name, {k: v for k, v in options.items() if k != "dryRun"})

    def _guard(self, pod: Obj, dry_run: bool) -> None:
        assert self.emulator is not None
        store = self.emulator.store
        ns = pod["metadata"]["namespace"]
        labels = pod["metadata"].get("labels") or {}
        pdbs = [p for p in store.items(PDBS, ns) if _matches(dig(p, "spec", "selector"), labels)]
        if len(pdbs) > 1:
            raise errors.internal(MSG_MANY_BUDGETS)
        if not pdbs:
            return
        pdb = pdbs[0]
        st = pdb.get("status") or {}
        if not _pod_ready(pod):
            if dig(pdb, "spec", "unhealthyPodEvictionPolicy") == "AlwaysAllow":
                return
            if int(st.get("currentHealthy", 0)) >= int(st.get("desiredHealthy", 0)) > 0:
                return
        pname = pdb["metadata"]["name"]
        if int(st.get("observedGeneration", 0)) < int(pdb["metadata"].get("generation", 1)):
            raise too_many_requests(MSG_BUDGET, f"The disruption budget {pname} is still being processed by the "
                                                f"server.", 10)
        allowed = int(st.get("disruptionsAllowed", 0))
        if allowed < 0:
            raise errors.forbidden("poddisruptionbudgets", pname, "pdb disruptions allowed is negative", "policy")
        if allowed == 0:
            raise too_many_requests(MSG_BUDGET, budget_message(pdb))
        if dry_run:
            return
        pod_name = pod["metadata"]["name"]

        def decrement(o: Obj) -> None:
            s = o.setdefault("status", {})
            s["disruptionsAllowed"] = int(s.get("disruptionsAllowed", 0)) - 1
            s.setdefault("disruptedPods", {})[pod_name] = now_rfc3339()
            if s["disruptionsAllowed"] == 0:
                for c in s.get("conditions") or []:
                    if c.get("type") == "DisruptionAllowed":
                        c.update({"status": "False", "reason": "InsufficientPods", "lastTransitionTime": now_rfc3339()})

        store.mutate(PDBS, ns, pname, decrement, status=True)
