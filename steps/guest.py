"""Proof from inside the guest, over the serial console: memory kept, no reboot, clock frozen while paused."""

from __future__ import annotations

import secrets
import time

from vmconform import reporting
from vmconform.console import ConsoleError, SerialConsole, login_for
from vmconform.sources import login_hint
from vmconform.kube.kinds import VM
from vmconform.kube.waits import observe_unchanged
from vmconform.ops import printable_status
from vmconform.scenario import ScenarioContext
from vmconform.status import PAUSED
from vmconform.vocabulary import given, then, when

MARKER_FILE = "/dev/shm/vmconform-marker"
# KubeVirt's own check (test_id:3090) pauses 10 s and allows 4 s of rounding; this pause is shorter
PAUSE_SECONDS = 3.0
CLOCK_TOLERANCE = 1.0


def _console(ctx: ScenarioContext) -> SerialConsole:
    """The scenario's console, reconnected and logged in again when the session was closed."""
    con: SerialConsole | None = ctx.values.get("console")
    vm = ctx.require_vm()
    s = ctx.session.settings
    login = login_for(login_hint(s.image, getattr(s, "vm_source", "containerdisk")), s.guest_user, s.guest_password)
    assert login is not None, "no login is known for this image"
    if con is None or con.ws is None:
        if con is not None:
            ctx.values.setdefault("transcripts", []).append(con.transcript.text())
        con = SerialConsole(ctx.cluster, vm.namespace, vm.name).open(ctx.timeouts["console_connect"])
        ctx.values["console"] = con
        ctx.node.user_properties.append(("vmconform.console", True))
    con.login(login, ctx.timeouts["console_login"])
    return con


def _run(ctx: ScenarioContext, command: str) -> str:
    try:
        out = _console(ctx).run(command, ctx.timeouts["console_command"])
    except ConsoleError:
        # a console session ends on migration or when another one opens: reconnect once
        ctx.values["console"].close()
        out = _console(ctx).run(command, ctx.timeouts["console_command"])
    reporting.attach_text(f"console: {command}", ctx.values["console"].transcript.text())
    return out


def _uptime(ctx: ScenarioContext) -> tuple[float, float]:
    """(guest uptime, host monotonic time) read together."""
    host = time.monotonic()
    guest = float(_run(ctx, "cat /proc/uptime").split()[0])
    return guest, host


@given("I am logged in to the VM's serial console", ko="가상머신의 시리얼 콘솔에 로그인되어 있습니다")
def logged_in(vmconform_scenario: ScenarioContext) -> None:
    _console(vmconform_scenario)


@when("I write a marker into the guest's memory", ko="게스트 메모리에 표식을 기록합니다")
def write_marker(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    marker = f"vmconform-{secrets.token_hex(6)}"
    _run(ctx, f"echo {marker} > {MARKER_FILE}")
    ctx.values["marker"] = marker
    ctx.values["boot_id"] = _run(ctx, "cat /proc/sys/kernel/random/boot_id").strip()


@when("I note the guest's clock", ko="게스트의 시계를 기록합니다")
def note_clock(vmconform_scenario: ScenarioContext) -> None:
    vmconform_scenario.values["clock_before"] = _uptime(vmconform_scenario)


@then("the VM stays Paused for a few seconds", ko="가상머신이 몇 초 동안 Paused 상태를 유지합니다")
def stays_paused(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vm = ctx.require_vm()
    observe_unchanged(ctx.cluster, VM, vm.namespace, vm.name, holds=lambda o: printable_status(o) == PAUSED,
                      describe=printable_status, seconds=PAUSE_SECONDS, what=f"VM {vm.name} stays Paused")


@then("the guest still holds the marker", ko="게스트에 표식이 그대로 남아 있습니다")
def holds_marker(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    marker = ctx.values["marker"]
    try:
        content = _run(ctx, f"cat {MARKER_FILE}").strip()
    except ConsoleError as exc:
        raise AssertionError(f"the marker written into the guest's memory is gone: {exc}") from None
    assert content == marker, f"the guest's memory lost the marker: {MARKER_FILE} holds {content!r}, not {marker!r}"


@then("the guest did not reboot", ko="게스트가 재부팅되지 않았습니다")
def did_not_reboot(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    now = _run(ctx, "cat /proc/sys/kernel/random/boot_id").strip()
    assert now == ctx.values["boot_id"], f"the guest rebooted: boot_id {ctx.values['boot_id']} → {now}"


@then("the guest rebooted and lost the marker", ko="게스트가 재부팅되어 표식이 사라졌습니다")
def rebooted(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    now = _run(ctx, "cat /proc/sys/kernel/random/boot_id").strip()
    assert now != ctx.values["boot_id"], f"the guest did not reboot: boot_id is still {now}"
    try:
        content = _run(ctx, f"cat {MARKER_FILE}").strip()
    except ConsoleError:
        return
    raise AssertionError(f"after a reboot the guest still holds the marker {content!r} in RAM")


@then("the guest's clock stood still while it was paused", ko="일시 중지된 동안 게스트의 시계가 멈춰 있었습니다")
def clock_stood_still(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    g1, h1 = ctx.values["clock_before"]
    g2, h2 = _uptime(ctx)
    host, guest = h2 - h1, g2 - g1
    lag = host - guest
    assert guest >= 0, f"the guest's uptime went backwards ({g1:.2f} → {g2:.2f} s): it rebooted"
    assert lag >= PAUSE_SECONDS - CLOCK_TOLERANCE, (
        f"the guest's clock kept running while paused: over {host:.1f} s it advanced {guest:.1f} s "
        f"(lag {lag:.1f} s, expected at least {PAUSE_SECONDS - CLOCK_TOLERANCE:.1f} s)")


@then("the guest runs on the new node", ko="게스트는 새 노드에서 실행됩니다")
def guest_on_new_node(vmconform_scenario: ScenarioContext) -> None:
    ctx = vmconform_scenario
    vmi = ctx.require_vm().vmi() or {}
    node = (vmi.get("status") or {}).get("nodeName")
    assert node != ctx.values.get("migration_source"), f"the VMI is still on {node}"
    assert _run(ctx, "echo alive").strip() == "alive", "the guest does not answer after the migration"
