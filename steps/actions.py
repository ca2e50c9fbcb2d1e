"""The lab's **Actions** menu, asked of the cluster without side effects.

The console offers an action when KubeVirt would accept it. Each action is sent as a dry run
(``dryRun: ["All"]`` in the subresource body, kubevirt-semantics.md §1.3): virt-api makes every check of the
real request and changes nothing. An answer 2xx means the action is offered; any refusal (409 or 404 —
KubeVirt gives either inside the stop window, §10 W4) means it is not. Migrate is asked only where the lab's
menu lists it: whether a VM can migrate depends on its storage and nodes, which other scenarios check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vmconform import reporting
from vmconform.kube.kinds import VM, VMI, VMIM
from vmconform.kube.waits import WaitFailed, wait_for
from vmconform.ops import condition_is, printable_status
from vmconform.scenario import PROP_ACTIONS, ScenarioContext
from vmconform.vocabulary import Param, then

DRY_RUN = {"dryRun": ["All"]}
# the lab's action names (as the console shows them) → (kind the subresource belongs to, subresource)
ACTIONS: dict[str, tuple[Any, str]] = {
    "Start": (VM, "start"), "Stop": (VM, "stop"), "Restart": (VM, "restart"),
    "Pause": (VMI, "pause"), "Unpause": (VMI, "unpause"), "Migrate": (VM, "migrate"),
}
ALWAYS_ASKED = ("Start", "Stop", "Restart", "Pause", "Unpause")
ATTEMPTS = 3  # probes repeated while KubeVirt's own controllers move a resourceVersion (§10, W12)
_NAME = "|".join(ACTIONS)


def parse_actions(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(","))


MENU = Param("actions", "the Actions menu items the lab shows, comma-separated: " + ", ".join(ACTIONS),
             pattern=rf"(?:{_NAME})(?:, (?:{_NAME}))*", example="Stop, Restart, Pause")


@dataclass(frozen=True)
class Row:
    action: str
    code: int
    message: str

    @property
    def offered(self) -> bool:
        return 200 <= self.code < 300


# what a carried-out action would change first, so what is read right after its dry run (all of it at the end)
TOUCHES = {"Start": ("vm",), "Stop": ("vm",), "Restart": ("vm",), "Pause": ("vmi",), "Unpause": ("vmi",),
           "Migrate": ("migrations",)}
PARTS = ("vm", "vmi", "migrations")


def _fingerprint(ctx: ScenarioContext, parts: tuple[str, ...] = PARTS,
                 vm_obj: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a carried-out action would change, and the resourceVersions, read for ``parts`` (``vm_obj``: the
    VM if just read)."""
    vm = ctx.require_vm()
    out: dict[str, Any] = {}
    if "vm" in parts:
        obj = vm_obj if vm_obj is not None else (vm.get() or {})
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        out["vm"] = {"runStrategy": spec.get("runStrategy"), "running": spec.get("running"),
                     "stateChangeRequests": status.get("stateChangeRequests") or []}
        out["vm_rv"] = (obj.get("metadata") or {}).get("resourceVersion")
        out["status"] = printable_status(obj)
    if "vmi" in parts:
        vmi = vm.vmi()
        meta = (vmi or {}).get("metadata") or {}
        out["vmi"] = None if vmi is None else {
            "uid": meta.get("uid"),
            "terminationGracePeriodSeconds": (vmi.get("spec") or {}).get("terminationGracePeriodSeconds"),
            "paused": condition_is(vmi, "Paused"),
            "ending": bool(meta.get("deletionTimestamp"))
            or ((vmi.get("status") or {}).get("phase") in ("Succeeded", "Failed")),
        }
        out["vmi_rv"] = meta.get("resourceVersion")
    if "migrations" in parts:
        migrations, _ = ctx.cluster.list(VMIM, vm.namespace)
        out["migrations"] = sorted(m["metadata"]["name"] for m in migrations)
    return out


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Changes a dry run could have made, in the parts read both times (a final VMI that KubeVirt removes
    meanwhile is not one)."""
    out = []
    if "vm" in before and "vm" in after:
        out += [f"{k}: {before['vm'][k]!r} → {after['vm'][k]!r}" for k in before["vm"]
                if before["vm"][k] != after["vm"][k]]
    if "migrations" in before and "migrations" in after and before["migrations"] != after["migrations"]:
        out.append(f"migrations: {before['migrations']!r} → {after['migrations']!r}")
    if "vmi" in before and "vmi" in after:
        b, a = before["vmi"], after["vmi"]
        if b is None and a is not None:
            out.append(f"a VMI appeared ({a['uid']})")
        elif b is not None and a is None and not b["ending"]:
            out.append(f"the VMI {b['uid']} is gone")
        elif b is not None and a is not None:
            out += [f"VMI {k}: {b[k]!r} → {a[k]!r}" for k in ("uid", "terminationGracePeriodSeconds", "paused")
                    if b[k] != a[k]]
    return out


def _settle(ctx: ScenarioContext) -> dict[str, Any] | None:
    """The menu is read once no state change request is pending (a restart or a paused start in flight
    answers 500 "already underway" to any other request until the VM controller takes it)."""
    vm = ctx.require_vm()
    try:
        obj, _ = wait_for(ctx.cluster, VM, vm.namespace, vm.name,
                          until=lambda o: not ((o or {}).get("status") or {}).get("stateChangeRequests"),
                          describe=lambda o: f"{len(((o or {}).get('status') or {}).get('stateChangeRequests') or [])}"
                                             " state change requests pending",
                          timeout=ctx.timeouts["status_lag"],
                          what=f"VM {vm.name} has no pending state change request")
        return obj  # what the wait read last: the VM as the probe starts from it
    except WaitFailed:
        return None  # still pending: the table shows what KubeVirt answers meanwhile


def _probe(ctx: ScenarioContext, names: list[str], state: str,
           before: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """Each action as a dry run. Right after each accepted one, the object it would change first is read again
    (a change there is that action's); at the end everything is read again (a later change is one of the dry
    runs')."""
    vm = ctx.require_vm()
    rows: list[Row] = []
    seen = dict(before)

    def check(now: dict[str, Any], by: str) -> None:
        changed = _changes(seen, now)
        if changed:
            reporting.attach_text(f"Actions menu: {state} VM", table(rows))
        assert not changed, (f"a dry run of {by} changed the {state} VM (dryRun: [\"All\"] was carried "
                             f"out): " + "; ".join(changed))
        seen.update(now)

    for name in names:
        kind, sub = ACTIONS[name]
        ans = ctx.cluster.subresource(kind, vm.namespace, vm.name, sub, dict(DRY_RUN))
        rows.append(Row(name, ans.code, ans.message))
        if ans.ok:  # a refusal changes nothing by itself; whatever changed anyway, the final read shows
            check(_fingerprint(ctx, TOUCHES[name]), name.lower())
    after = _fingerprint(ctx)
    check(after, " or ".join(n.lower() for n in names))
    return rows, after


def table(rows: list[Row]) -> str:
    lines = ["| action | HTTP answer | message |", "| --- | --- | --- |"]
    lines += [f"| {r.action} | {r.code} | {r.message.replace('|', '/') or '-'} |" for r in rows]
    return "\n".join(lines) + "\n"


@then("the Actions offered are: {actions}", ko="Actions 메뉴에서 사용 가능한 옵션: {actions}", params=[MENU])
def actions_offered(vmconform_scenario: ScenarioContext, actions: str) -> None:
    """Each action of the lab as a dry run: exactly the listed ones are accepted, and nothing changed."""
    ctx = vmconform_scenario
    listed = parse_actions(actions)
    names = [n for n in ACTIONS if n in ALWAYS_ASKED or n in listed]
    before = _fingerprint(ctx, vm_obj=_settle(ctx))
    state = str(before["status"]).lower() or "new"
    note = ""
    for _attempt in range(ATTEMPTS):
        rows, after = _probe(ctx, names, state, before)
        if (before["vm_rv"], before["vmi_rv"]) == (after["vm_rv"], after["vmi_rv"]):
            note = ""
            break
        note = ("resourceVersions moved during every probe (KubeVirt's controllers were still writing, §10); "
                "nothing a dry run could change did")
        before = after
    offered = [r.action for r in rows if r.offered]
    doc = f"Actions menu of the {state} VM (each action sent as a dry run)\n\n{table(rows)}"
    if note:
        doc += f"\n{note}\n"
    reporting.attach_text(f"Actions menu: {state} VM", doc)
    ctx.node.user_properties.append((PROP_ACTIONS, {
        "state": state, "expected": list(listed), "offered": offered,
        "rows": [[r.action, r.code, r.message] for r in rows]}))
    wrong = [f"{r.action.lower()} of a {state} VM was accepted (HTTP {r.code})" for r in rows
             if r.offered and r.action not in listed]
    wrong += [f"{r.action.lower()} of a {state} VM was rejected (HTTP {r.code}: {r.message})" for r in rows
              if not r.offered and r.action in listed]
    assert not wrong, (f"the Actions menu offers {', '.join(offered) or 'nothing'}, the lab shows "
                       f"{', '.join(listed)}: " + "; ".join(wrong))
