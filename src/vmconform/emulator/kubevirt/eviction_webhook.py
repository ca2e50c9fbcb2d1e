"""virt-api's pod-eviction webhook (``virt-launcher-eviction-interceptor.kubevirt.io``), KubeVirt v1.9.0
``pkg/virt-api/webhooks/validating-webhook/admitters/pod-eviction-admitter.go`` (``Admit``,
``admitLauncherPod``, ``admitHotplugPod``, ``markVMI``) and ``docs/handling-eviction-requests.md``.

Every eviction in the cluster passes here before kube-apiserver checks budgets. For the launcher pod
of a VMI whose eviction strategy (its own, else the KubeVirt CR's ``spec.configuration.evictionStrategy``,
else ``None``) asks for it, the eviction is denied with 429 and — the first time — the VMI is marked for
evacuation (``status.evacuationNodeName`` = the pod's node) so the evacuation controller migrates it:

=====================  ===========  =========================================================
strategy               migratable   answer
=====================  ===========  =========================================================
None / unset           either       passes (the eviction goes on: the pod is deleted)
LiveMigrate            yes          429 ``Eviction triggered evacuation of VMI "ns/name"``
LiveMigrate            no           429 ``VMI name is configured with an eviction strategy but is not live-migratable``
LiveMigrateIfPossible  yes / no     429 evacuation / passes
External               either       429 evacuation
=====================  ===========  =========================================================

An already marked VMI answers 429 ``Evacuation in progress: …``; the target pod of a migration
(not on the VMI's node) 429 ``Eviction request for target Pod``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..resources import KUBEVIRTS, PODS, VMIS, dig
from . import constants as C
from .util import get_condition

if TYPE_CHECKING:
    from .context import KubeVirtContext

Obj = dict[str, Any]

WEBHOOK = "virt-launcher-eviction-interceptor.kubevirt.io"
NONE, LIVE_MIGRATE, LIVE_MIGRATE_IF_POSSIBLE, EXTERNAL = "None", "LiveMigrate", "LiveMigrateIfPossible", "External"
STRATEGIES = (NONE, LIVE_MIGRATE, LIVE_MIGRATE_IF_POSSIBLE, EXTERNAL)
ANNO_EVICTION_SOURCE = "kubevirt.io/eviction-source"
ANNO_REQUESTED_BY = "requested-by"  # set by the descheduler on its Eviction objects
DESCHEDULER = "sigs.k8s.io/descheduler"
MSG_EVACUATION = 'Eviction triggered evacuation of VMI "{ns}/{name}"'
MSG_IN_PROGRESS = "Evacuation in progress: " + MSG_EVACUATION
MSG_NOT_MIGRATABLE = "VMI {name} is configured with an eviction strategy but is not live-migratable"
MSG_TARGET_POD = "Eviction request for target Pod"
HOTPLUG_VALUE = "hotplug-disk"


def denied(message: str) -> ApiError:
    """How kube-apiserver renders the webhook's denial (code 429, no reason)."""
    return ApiError(429, "", f'admission webhook "{WEBHOOK}" denied the request: {message}')


def cluster_strategy(ctx: "KubeVirtContext") -> str:
    """``spec.configuration.evictionStrategy`` of the KubeVirt CR, ``None`` by default (virt-config)."""
    for cr in ctx.store.items(KUBEVIRTS):
        value = dig(cr, "spec", "configuration", "evictionStrategy")
        if value:
            return str(value)
    return NONE


def strategy_of(ctx: "KubeVirtContext", vmi: Obj) -> str:
    """``migrations.VMIEvictionStrategy``: the VMI's own, else the cluster-wide one."""
    return str(dig(vmi, "spec", "evictionStrategy") or cluster_strategy(ctx))


def is_migratable(vmi: Obj) -> bool:
    cond = get_condition(vmi, C.COND_LIVE_MIGRATABLE)
    return cond is not None and cond.get("status") == "True"


def migrates_on_eviction(ctx: "KubeVirtContext", vmi: Obj) -> bool:
    """``migrations.VMIMigratableOnEviction``."""
    strategy = strategy_of(ctx, vmi)
    return strategy == LIVE_MIGRATE or strategy == LIVE_MIGRATE_IF_POSSIBLE and is_migratable(vmi)


def _final(pod: Obj) -> bool:
    return dig(pod, "status", "phase") in ("Failed", "Succeeded")


class PodEvictionWebhook:
    def __init__(self, ctx: "KubeVirtContext") -> None:
        self.ctx = ctx

    def __call__(self, ns: str, name: str, eviction: Obj, dry_run: bool) -> None:
        pod = self.ctx.store.peek(PODS, ns, name)
        if pod is None:
            return
        app = (pod["metadata"].get("labels") or {}).get(C.LABEL_APP)
        if app == HOTPLUG_VALUE and len(pod["metadata"].get("ownerReferences") or []) == 1:
            self._hotplug(pod)
        elif app == C.LAUNCHER_VALUE and not _final(pod):
            self._launcher(pod, eviction, dry_run)

    def _hotplug(self, pod: Obj) -> None:
        ns = pod["metadata"]["namespace"]
        owner = self.ctx.store.peek(PODS, ns, pod["metadata"]["ownerReferences"][0].get("name", ""))
        if owner is None or (owner["metadata"].get("labels") or {}).get(C.LABEL_APP) != C.LAUNCHER_VALUE \
                or _final(owner):
            return
        vmi_name = (owner["metadata"].get("annotations") or {}).get(C.ANNO_DOMAIN)
        if vmi_name and self.ctx.store.peek(VMIS, ns, vmi_name) is not None:
            raise denied(f"cannot evict hotplug pod: {pod['metadata']['name']} associated with running vmi: "
                         f"{vmi_name} in namespace {ns}")

    def _launcher(self, pod: Obj, eviction: Obj, dry_run: bool) -> None:
        ctx = self.ctx
        ns = pod["metadata"]["namespace"]
        vmi_name = (pod["metadata"].get("annotations") or {}).get(C.ANNO_DOMAIN)
        if not vmi_name:
            return
        vmi = ctx.store.peek(VMIS, ns, vmi_name)
        if vmi is None:
            raise denied(f'kubevirt failed getting the vmi: virtualmachineinstances.kubevirt.io "{vmi_name}" '
                         f"not found")
        strategy = strategy_of(ctx, vmi)
        migratable = is_migratable(vmi)
        if strategy == LIVE_MIGRATE and not migratable:
            raise denied(MSG_NOT_MIGRATABLE.format(name=vmi_name))
        mark = strategy in (LIVE_MIGRATE, EXTERNAL) or strategy == LIVE_MIGRATE_IF_POSSIBLE and migratable
        if not mark or not ctx.behaviour.eviction_triggers_evacuation(vmi, strategy):
            return  # passes: kube-apiserver goes on with the eviction
        if dig(vmi, "status", "evacuationNodeName"):
            raise denied(MSG_IN_PROGRESS.format(ns=ns, name=vmi_name))
        node = dig(pod, "spec", "nodeName", default="") or ""
        if dig(vmi, "status", "nodeName") != node:
            raise denied(MSG_TARGET_POD)
        if not dry_run:
            descheduler = (dig(eviction, "metadata", "annotations", default={}) or {}).get(ANNO_REQUESTED_BY) \
                == DESCHEDULER

            def mark_vmi(o: Obj) -> None:
                o.setdefault("status", {})["evacuationNodeName"] = node
                if descheduler:
                    o["metadata"].setdefault("annotations", {})[ANNO_EVICTION_SOURCE] = "descheduler"

            ctx.store.mutate(VMIS, ns, vmi_name, mark_vmi, status=not descheduler)
        raise denied(MSG_EVACUATION.format(ns=ns, name=vmi_name))
