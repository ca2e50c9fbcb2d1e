"""Creating VMs and driving them: stop, start, restart, pause, unpause (named as virtctl names them)."""

from __future__ import annotations

import time

from vmconform import reporting
from vmconform.scenario import ScenarioContext
from vmconform.status import HALTED, PAUSED, RUNNING, STOPPED
from vmconform.vocabulary import given, then, when

from ._params import AMOUNT, CODE, CODE2, MESSAGE, MESSAGE2, REQUEST, STATUS, UNIT, VERB
from ._support import LAST_VERB, snapshot, vm_spec, wait_vm_status


def _accepted_then(ctx: ScenarioContext, verb: str, state: str, status: str) -> None:
    """Do a verb the VM must accept in this state, and wait for the status it leads to."""
    ctx.values[LAST_VERB] = verb
    ans = getattr(ctx.require_vm(), verb)()
    assert ans.ok, f"{verb} of a {state} VM was refused: {ans.describe()}"
    wait_vm_status(ctx, status)


@given("a running VM", ko="실행 중인 가상머신이 있습니다")
def running_vm(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    ctx.create_vm(vm_spec(ctx))
    wait_vm_status(ctx, STOPPED)
    _accepted_then(ctx, "start", "new, stopped", RUNNING)


@given("the VM is stopped", ko="가상머신이 중지되어 있습니다")
def vm_is_stopped(vmconform_scenario: ScenarioContext) -> None:
    _accepted_then(vmconform_scenario, "stop", "running", STOPPED)


@given("the VM is paused", ko="가상머신이 일시 중지되어 있습니다")
def vm_is_paused(vmconform_scenario: ScenarioContext) -> None:
    _accepted_then(vmconform_scenario, "pause", "running", PAUSED)


@given("I note the VM's VMI, node and launcher pod", ko="가상머신의 VMI, 노드, launcher 파드를 기록합니다")
def note_vm(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    snap = snapshot(ctx.require_vm())
    assert snap.vmi_uid, "the VM has no VMI to note"
    ctx.snapshots["before"] = snap


VERBS = ("stop", "start", "restart", "pause", "unpause")


@when("I {verb} the VM", ko="가상머신을 {verb}합니다", params=[VERB])
def do_verb(vmconform_scenario: ScenarioContext, verb: str) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    ctx.values["verb_started"] = (verb, time.monotonic())
    ctx.values[LAST_VERB] = verb
    ctx.answer = getattr(vm, verb)()
    ctx.answers[verb] = ctx.answer


@then("the {verb} is accepted", ko="{verb} 요청이 수락됩니다", params=[REQUEST])
def verb_accepted(vmconform_scenario: ScenarioContext, verb: str) -> None:
    ans = vmconform_scenario.answer
    assert ans is not None, "no request was made"
    assert ans.ok, f"{verb.split()[0]} was rejected: {ans.describe()}"


@then('the {verb} is rejected with {code} "{text}"', ko='{verb} 요청이 {code} "{text}" 오류로 거부됩니다',
      params=[VERB, CODE, MESSAGE], example={"verb": "start"})
def verb_rejected(vmconform_scenario: ScenarioContext, verb: str, code: str, text: str) -> None:
    _rejected(vmconform_scenario, verb, [(int(code), text)])


@then('the {verb} is rejected with {code} "{text}" or {code2} "{text2}"',
      ko='{verb} 요청이 {code} "{text}" 또는 {code2} "{text2}" 오류로 거부됩니다',
      params=[VERB, CODE, MESSAGE, CODE2, MESSAGE2], example={"verb": "pause", "code": "404", "text": "not found"})
def verb_rejected_either(vmconform_scenario: ScenarioContext, verb: str, code: str, text: str, code2: str,
                         text2: str) -> None:
    """KubeVirt answers one of two ways in this state (e.g. §10 W4: inside the stop window the final VMI
    still exists); either is right, and the report says which one came."""
    _rejected(vmconform_scenario, verb, [(int(code), text), (int(code2), text2)])


def _rejected(ctx: ScenarioContext, verb: str, accepted: list[tuple[int, str]]) -> None:
    ans = ctx.answer
    assert ans is not None, "no request was made"
    state = _state_phrase(ctx)
    expected = " or ".join(f'{code} "{text}"' for code, text in accepted)
    reporting.attach_text(f"{verb} answer", f"answered {ans.describe()}\naccepted: {expected}\n")
    assert not ans.ok, (f"{verb} of a {state} VM was accepted (HTTP {ans.code}); "
                        f"KubeVirt rejects it with {expected}")
    assert any(ans.code == code and text in ans.message for code, text in accepted), (
        f"{verb} of a {state} VM was rejected, but with {ans.describe()} instead of {expected}")


def _state_phrase(ctx: ScenarioContext) -> str:
    before = ctx.snapshots.get("before")
    if before is not None:
        return before.vm_status.lower()
    vm = ctx.require_vm().get()
    return str(((vm or {}).get("status") or {}).get("printableStatus", "")).lower() or "stopped"


@then("the VM reaches {status}", ko="가상머신이 {status} 상태가 됩니다", params=[STATUS])
def vm_reaches(vmconform_scenario: ScenarioContext, status: str) -> None:
    _reach(vmconform_scenario, status)


@then("within {amount} {unit} the VM is {status}", ko="{amount}{unit} 안에 가상머신이 {status} 상태가 됩니다",
      params=[AMOUNT, UNIT, STATUS], example={"status": "Stopped"})
def vm_reaches_within(vmconform_scenario: ScenarioContext, amount: int, unit: str, status: str) -> None:
    """The lab's own bound ("wait until it is Stopped") instead of the timeout table's."""
    _reach(vmconform_scenario, status, seconds=amount * (60 if unit.startswith("minute") else 1))


def _reach(ctx: ScenarioContext, status: str, seconds: float | None = None) -> None:
    """Wait for the status; record how long the last verb took to get there."""
    started = ctx.values.pop("verb_started", None)
    wait_vm_status(ctx, status, seconds=seconds)
    if started is not None:
        verb, at = started
        ctx.transition(verb, time.monotonic() - at)


@then("the VM's run strategy is Halted", ko="가상머신의 실행 전략(runStrategy)이 Halted입니다")
def run_strategy_halted(vmconform_scenario: ScenarioContext) -> None:
    vm = vmconform_scenario.require_vm().get() or {}
    strategy = (vm.get("spec") or {}).get("runStrategy")
    assert strategy == HALTED, f"after stop the VM's spec.runStrategy is {strategy!r}, not {HALTED!r}"
