"""KubeVirt's admission webhooks: VM validation (§1.4) and VMIM mutation/validation (§4.1, §4.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors
from ..resources import VMIMS, VMIS, VMS, ResourceType, dig
from . import constants as C
from .indexes import VMIM_VMI_LABEL
from .util import add_finalizer, get_condition

if TYPE_CHECKING:
    from .context import KubeVirtContext

Obj = dict[str, Any]


def webhook_denied(webhook: str, message: str, code: int = 400, reason: str = "BadRequest",
                   causes: list[Obj] | None = None) -> errors.ApiError:
    """How kube-apiserver renders a webhook rejection."""
    return errors.ApiError(code, reason, f'admission webhook "{webhook}" denied the request: {message}',
                           causes=causes)


def run_strategy_causes(spec: Obj) -> list[Obj]:
    """``validateRunStrategy``: the causes (field, message) a VM spec is rejected for."""
    causes: list[Obj] = []
    running, strategy = spec.get("running"), spec.get("runStrategy")
    if running is not None and strategy is not None:
        causes.append({"reason": "FieldValueInvalid", "message": C.MSG_RUN_EXCLUSIVE, "field": "spec.running"})
    if running is None and strategy is None:
        causes.append({"reason": "FieldValueInvalid", "message": C.MSG_RUN_REQUIRED, "field": "spec.running"})
    if strategy is not None and strategy not in C.RUN_STRATEGIES:
        causes.append({"reason": "FieldValueInvalid", "message": C.MSG_RUN_INVALID.format(value=strategy),
                       "field": "spec.runStrategy"})
    return causes


def template_causes(spec: Obj) -> list[Obj]:
    if not isinstance(spec.get("template"), dict):
        return [{"reason": "FieldValueRequired", "message": "missing virtual machine template.",
                 "field": "spec.template"}]
    return []


def memory_causes(spec: Any, path: str) -> list[Obj]:
    """``validateMemoryRequestsNegativeOrNull`` / ``validateMemoryLimitsNegativeOrNull`` (virt-api
    vmi-create-admitter.go @ v1.9.0) for a VMI spec at ``path`` (``spec`` or ``spec.template.spec``).
    Malformed quantities never get here: the CRD schema's pattern rejects them first."""
    resources = dig(spec, "domain", "resources", default={}) or {}
    if not isinstance(resources, dict):
        return []
    req_text = dig(resources, "requests", "memory")
    lim_text = dig(resources, "limits", "memory")
    req, lim = _quantity(req_text), _quantity(lim_text)
    req_field = f"{path}.domain.resources.requests.memory"
    lim_field = f"{path}.domain.resources.limits.memory"
    causes: list[Obj] = []

    def cause(message: str, field: str) -> None:
        causes.append({"reason": "FieldValueInvalid", "message": message, "field": field})

    if req is not None and req < 0:
        cause(f"{req_field} '{req_text}': must be greater than or equal to 0.", req_field)
    elif req is not None and 0 < req < 1_000_000:
        cause(f"{req_field} '{req_text}': must be greater than or equal to 1M.", req_field)
    if lim is not None and lim < 0:
        cause(f"{lim_field} '{lim_text}': must be greater than or equal to 0.", lim_field)
    if lim is not None and req is not None and lim > 0 and req > lim:
        cause(f"{req_field} '{req_text}' is greater than {lim_field} '{lim_text}'", req_field)
    return causes


def _quantity(value: Any) -> Any:
    from ..validation import quantity

    if value is None:
        return None
    try:
        return quantity.parse(value)
    except ValueError:
        return None


class Admission:
    def __init__(self, ctx: "KubeVirtContext") -> None:
        self.ctx = ctx
        ctx.store.admitters.append(self.admit)

    def admit(self, op: str, res: ResourceType, obj: Obj, old: Obj | None) -> None:
        if res is VMS and op in ("CREATE", "UPDATE"):
            self._validate_vm(obj)
        elif res is VMIS and op == "CREATE":
            causes = memory_causes(obj.get("spec") or {}, "spec")
            if causes:
                raise webhook_denied(C.VMI_WEBHOOK, ", ".join(c["message"] for c in causes), 422, "Invalid", causes)
        elif res is VMIMS and op == "CREATE":
            self._mutate_migration(obj)
            self._validate_migration(obj)

    # ------------------------------------------------------------ VirtualMachine

    def _validate_vm(self, vm: Obj) -> None:
        spec = vm.get("spec") or {}
        causes = run_strategy_causes(spec) + template_causes(spec)
        if not template_causes(spec):
            causes += memory_causes(dig(spec, "template", "spec", default={}) or {}, "spec.template.spec")
        if causes:
            message = ", ".join(c["message"] for c in causes)
            raise webhook_denied(C.VM_WEBHOOK, message, 422, "Invalid", causes)

    # ------------------------------------------------------------ VirtualMachineInstanceMigration

    def _mutate_migration(self, mig: Obj) -> None:
        vmi_name = dig(mig, "spec", "vmiName")
        if vmi_name:
            mig["metadata"].setdefault("labels", {})[C.LABEL_VMI_NAME] = vmi_name
        add_finalizer(mig, C.FINALIZER_MIGRATION)
        mig.pop("status", None)
        self.ctx.release.prune("VirtualMachineInstanceMigration", mig)  # spec fields newer than the release

    def _validate_migration(self, mig: Obj) -> None:
        spec = mig.get("spec") or {}
        ns = mig["metadata"].get("namespace", "default")
        vmi_name = spec.get("vmiName") or ""
        if not vmi_name:
            raise webhook_denied(C.MIGRATION_WEBHOOK, C.MSG_MIG_VMI_NAME_MISSING, 422, "Invalid",
                                 [{"reason": "FieldValueRequired", "message": C.MSG_MIG_VMI_NAME_MISSING,
                                   "field": "spec.vmiName"}])
        if spec.get("priority") is not None:
            raise webhook_denied(C.MIGRATION_WEBHOOK, C.MSG_MIG_PRIORITY, 422, "Invalid",
                                 [{"reason": "FieldValueForbidden", "message": C.MSG_MIG_PRIORITY,
                                   "field": "spec.migrationPriority"}])
        vmi = self.ctx.store.peek(VMIS, ns, vmi_name)
        if vmi is None:
            raise webhook_denied(C.MIGRATION_WEBHOOK, C.MSG_MIG_NO_VMI.format(namespace=ns, name=vmi_name))
        if dig(vmi, "status", "phase") in C.FINAL_PHASES:
            raise webhook_denied(C.MIGRATION_WEBHOOK, C.MSG_MIG_FINAL)
        cond = get_condition(vmi, C.COND_LIVE_MIGRATABLE)
        if cond is not None and cond.get("status") == "False":
            raise webhook_denied(C.MIGRATION_WEBHOOK, C.MSG_MIG_NOT_MIGRATABLE.format(
                reason=cond.get("reason", ""), message=cond.get("message", "")))
        for other in self.ctx.store.by_index(VMIMS, VMIM_VMI_LABEL, (ns, vmi_name)):
            if dig(other, "status", "phase") in C.MIG_FINAL:
                continue
            raise webhook_denied(C.MIGRATION_WEBHOOK, C.MSG_MIG_IN_FLIGHT.format(
                uid=other["metadata"]["uid"], name=dig(other, "spec", "vmiName", default=vmi_name)))
