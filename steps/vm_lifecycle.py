"""Creating VMs and driving them: stop, start, restart, pause, unpause (named as virtctl names them)."""

from __future__ import annotations

import time

from pytest_bdd import given, parsers, then, when

from vmconform.scenario import ScenarioContext
from vmconform.status import HALTED, PAUSED, RUNNING, STOPPED

from ._support import snapshot, vm_spec, wait_vm_status


def _accepted_then(ctx: ScenarioContext, verb: str, state: str, status: str) -> None:
    """Do a verb the VM must accept in this state, and wait for the status it leads to."""
    ans = getattr(ctx.require_vm(), verb)()
    assert ans.ok, f"{verb} of a {state} VM was refused: {ans.describe()}"
    wait_vm_status(ctx, status)


@given("a running VM")
def running_vm(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    ctx.create_vm(vm_spec(ctx))
    wait_vm_status(ctx, STOPPED)
    _accepted_then(ctx, "start", "new, stopped", RUNNING)


@given("the VM is stopped")
def vm_is_stopped(vmconform_scenario: ScenarioContext) -> None:
    _accepted_then(vmconform_scenario, "stop", "running", STOPPED)


@given("the VM is paused")
def vm_is_paused(vmconform_scenario: ScenarioContext) -> None:
    _accepted_then(vmconform_scenario, "pause", "running", PAUSED)


@given("I note the VM's VMI, node and launcher pod")
def note_vm(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    snap = snapshot(ctx.require_vm())
    assert snap.vmi_uid, "the VM has no VMI to note"
    ctx.snapshots["before"] = snap


VERBS = ("stop", "start", "restart", "pause", "unpause")


@when(parsers.re(r"I (?P<verb>stop|start|restart|pause|unpause) the VM"))
def do_verb(vmconform_scenario: ScenarioContext, verb: str) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    ctx.values["verb_started"] = (verb, time.monotonic())
    ctx.answer = getattr(vm, verb)()
    ctx.answers[verb] = ctx.answer


@then(parsers.re(r"the (?P<verb>stop|start|restart|pause|unpause|migrate request) is accepted"))
def verb_accepted(vmconform_scenario: ScenarioContext, verb: str) -> None:
    ans = vmconform_scenario.answer
    assert ans is not None, "no request was made"
    assert ans.ok, f"{verb.split()[0]} was rejected: {ans.describe()}"


@then(parsers.re(r'the (?P<verb>stop|start|restart|pause|unpause) is rejected with (?P<code>\d+) "(?P<text>[^"]+)"'))
def verb_rejected(vmconform_scenario: ScenarioContext, verb: str, code: str, text: str) -> None:
    ans = vmconform_scenario.answer
    assert ans is not None, "no request was made"
    state = _state_phrase(vmconform_scenario)
    assert not ans.ok, (f"{verb} of a {state} VM was accepted (HTTP {ans.code}); "
                        f"KubeVirt rejects it with {code} \"{text}\"")
    assert ans.code == int(code) and text in ans.message, (
        f"{verb} of a {state} VM was rejected, but with {ans.describe()} instead of {code} \"{text}\"")


def _state_phrase(ctx: ScenarioContext) -> str:
    before = ctx.snapshots.get("before")
    if before is not None:
        return before.vm_status.lower()
    vm = ctx.require_vm().get()
    return str(((vm or {}).get("status") or {}).get("printableStatus", "")).lower() or "stopped"


@then(parsers.parse("the VM reaches {status}"))
def vm_reaches(vmconform_scenario: ScenarioContext, status: str) -> None:
    ctx = vmconform_scenario
    started = ctx.values.pop("verb_started", None)
    wait_vm_status(ctx, status)
    if started is not None:
        verb, at = started
        ctx.transition(verb, time.monotonic() - at)


@then("the VM's run strategy is Halted")
def run_strategy_halted(vmconform_scenario: ScenarioContext) -> None:
    vm = vmconform_scenario.require_vm().get() or {}
    strategy = (vm.get("spec") or {}).get("runStrategy")
    assert strategy == HALTED, f"after stop the VM's spec.runStrategy is {strategy!r}, not {HALTED!r}"
