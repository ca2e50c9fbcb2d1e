"""The serial console subresource through the real WebSocket (§1.5 console row, §1.6, §2.3, §6.3, §6.5, §7).

Raw-protocol checks use ``websocket-client`` directly; guest checks use the suite's own
:class:`vmconform.console.SerialConsole`.  No sleeps: every wait is a watch or console output
with a timeout.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import time
from typing import Any, Callable, Iterator

import pytest
import websocket

from vmconform.console import PROMPT, ConsoleError, LoginRefused, SerialConsole, login_for
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import POD, VM, VMI, VMIM
from vmconform.kube.waits import GONE, observe_unchanged, wait_for, wait_jsonpath
from vmconform.ops import VirtualMachine, printable_status, uid, vmi_phase
from vmconform.specs import (
    ALPINE_IMAGE, CIRROS_IMAGE, FEDORA_IMAGE, new_vm, with_cloud_init, with_container_disk,
    with_masquerade_network, with_memory, with_run_strategy,
)

Obj = dict[str, Any]
SUBPROTOCOL = "plain.kubevirt.io"
CIRROS_BANNER = "login as 'cirros' user. default password: 'gocubsgo'. use 'sudo' for root."
RET_ZERO = "\r\n0\r\n"  # KubeVirt's RetValue("0")
MARKER_FILE = "/dev/shm/vmconform-marker"
T = 10.0  # every wait's timeout (the fast emulator answers in well under a second)
PAUSE_SECONDS = 2.0
ALPINE_LOGIN, CIRROS_LOGIN = login_for(ALPINE_IMAGE), login_for(CIRROS_IMAGE)
assert ALPINE_LOGIN is not None and CIRROS_LOGIN is not None
CLOCK_TOLERANCE = 0.5  # /proc/uptime has two decimals; the host reading brackets the guest's


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture(scope="module")
def api(kv: Any) -> Iterator[Cluster]:
    """The suite's API client, built from the emulated cluster's kubeconfig."""
    c = Cluster.from_kubeconfig(kv.cluster.kubeconfig_path, backend="emulated")
    yield c
    c.close()


def running_vm(api: Cluster, ns: str, name: str, image: str = ALPINE_IMAGE, strategy: str = "Always",
               devices: Obj | None = None) -> VirtualMachine:
    spec = new_vm(name, with_container_disk(image), with_cloud_init(), with_masquerade_network(),
                  with_run_strategy(strategy))
    if devices:
        spec["spec"]["template"]["spec"]["domain"]["devices"].update(devices)
    api.create(VM, ns, spec)
    if strategy == "Manual":
        assert VirtualMachine(api, ns, name).start().ok
    wait_running(api, ns, name)
    return VirtualMachine(api, ns, name)


def wait_running(api: Cluster, ns: str, name: str) -> None:
    wait_jsonpath(api, VM, ns, name, "jsonpath={.status.printableStatus}=Running", timeout=T)
    wait_jsonpath(api, VMI, ns, name, "jsonpath={.status.phase}=Running", timeout=T)


def url(api: Cluster, ns: str, name: str) -> str:
    host = api.configuration.host.replace("https://", "wss://")
    return f"{host}/apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{name}/console"


def raw_connect(api: Cluster, ns: str, name: str, *, token: str | None = "kubeconfig") -> websocket.WebSocket:
    """A plain ``websocket-client`` connection, verifying the cluster CA like the API client does."""
    cfg = api.configuration
    headers = []
    if token == "kubeconfig":
        headers.append(f"Authorization: {cfg.get_api_key_with_prefix('BearerToken')}")
    elif token is not None:
        headers.append(f"Authorization: Bearer {token}")
    return websocket.create_connection(url(api, ns, name), timeout=T, subprotocols=[SUBPROTOCOL], header=headers,
                                       sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": cfg.ssl_ca_cert})


def refused(api: Cluster, ns: str, name: str, **kw: Any) -> tuple[int, Obj]:
    """The HTTP status and JSON body of a refused upgrade."""
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        raw_connect(api, ns, name, **kw).close()
    body = info.value.resp_body
    return info.value.status_code, json.loads(body.decode() if isinstance(body, bytes) else body)


def read_until(ws: websocket.WebSocket, pattern: str, timeout: float = T) -> tuple[str, list[int]]:
    """Collect frames until ``pattern`` matches the text so far; returns (text, opcodes seen).

    Every frame must carry bytes: a raw stream has no empty messages (many clients read one as EOF)."""
    rx = re.compile(pattern)
    text, opcodes = "", []
    deadline = time.monotonic() + timeout
    while not rx.search(text):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{pattern!r} not seen within {timeout} s; got {text!r}"
        ws.settimeout(remaining)
        opcode, data = ws.recv_data()
        assert opcode != websocket.ABNF.OPCODE_CLOSE, f"stream closed before {pattern!r}; got {text!r}"
        assert data, f"empty {websocket.ABNF.OPCODE_MAP.get(opcode)} frame after {text!r}"
        opcodes.append(opcode)
        text += data.decode("utf-8", "replace")
    return text, opcodes


def stream_ends(ws: websocket.WebSocket, timeout: float = T) -> str:
    """Read until the server ends the stream (close frame or closed socket); returns what came before."""
    text = ""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the console stream did not end within {timeout} s; got {text!r}"
        ws.settimeout(remaining)
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketConnectionClosedException:
            return text
        except websocket.WebSocketTimeoutException:
            continue
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return text
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            text += data.decode("utf-8", "replace")


def console(api: Cluster, ns: str, name: str, image: str = ALPINE_IMAGE) -> SerialConsole:
    con = SerialConsole(api, ns, name).open(T)
    login = login_for(image)
    assert login is not None
    con.login(login, T)
    return con



def guest_uptime(con: SerialConsole) -> tuple[float, float]:
    """(guest /proc/uptime, host monotonic time) read together."""
    host = time.monotonic()
    return float(con.run("cat /proc/uptime", T).split()[0]), host


def boot_id(con: SerialConsole) -> str:
    value = con.run("cat /proc/sys/kernel/random/boot_id", T).strip()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value), value
    return value


def vm_is(status: str) -> Callable[[Obj | None], bool]:
    return lambda o: printable_status(o) == status


# ------------------------------------------------------------------ the raw protocol (§1.6)


def test_subprotocol_is_plain_kubevirt_io_and_frames_are_binary(api: Cluster, ns: str) -> None:
    running_vm(api, ns, "vm1")
    ws = raw_connect(api, ns, "vm1")
    try:
        assert ws.getstatus() == 101
        assert ws.getsubprotocol() == SUBPROTOCOL
        assert ws.getheaders()["sec-websocket-protocol"] == SUBPROTOCOL
        ws.send_binary(b"\n")  # nothing is shown until Enter, like a real serial line
        text, opcodes = read_until(ws, r"login: $")
        assert text.endswith("vm1 login: "), text
        ws.send_binary(b"root\n")
        text2, opcodes2 = read_until(ws, r"\# $")
        ws.send_binary(b"echo $?\n")
        text3, opcodes3 = read_until(ws, r"\# $")
        assert RET_ZERO in text3
        assert set(opcodes + opcodes2 + opcodes3) == {websocket.ABNF.OPCODE_BINARY}
        assert "\r\n" in text and "\n" not in text.replace("\r\n", "")  # terminal line endings
        # raw bytes: a command split across frames, one byte per frame, is one line to the guest
        for b in b"echo split\n":
            ws.send_binary(bytes([b]))
        text4, _ = read_until(ws, r"split\r\n.*\# $")
        assert "split\r\nvm1:~# " in text4
    finally:
        ws.close()


def test_unauthenticated_upgrade_is_401(api: Cluster, ns: str) -> None:
    running_vm(api, ns, "vm1")
    for token in (None, "not-the-token"):
        status, body = refused(api, ns, "vm1", token=token)
        assert status == 401
        assert (body["kind"], body["reason"], body["code"]) == ("Status", "Unauthorized", 401)


def test_console_of_stopped_vm_is_404(api: Cluster, ns: str) -> None:
    api.create(VM, ns, new_vm("stopped", with_container_disk(ALPINE_IMAGE), with_masquerade_network()))
    wait_jsonpath(api, VM, ns, "stopped", "jsonpath={.status.printableStatus}=Stopped", timeout=T)
    status, body = refused(api, ns, "stopped")
    assert status == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'virtualmachineinstance.kubevirt.io "stopped" not found'
    assert body["details"]["kind"] == "virtualmachineinstance" and body["details"]["group"] == "kubevirt.io"
    # the suite's client fails at once on anything but 400
    started = time.monotonic()
    with pytest.raises(ConsoleError, match="HTTP 404"):
        SerialConsole(api, ns, "stopped").open(3.0)
    assert time.monotonic() - started < 1.0


def test_console_of_unschedulable_vmi_is_400_not_running(api: Cluster, ns: str) -> None:
    api.create(VM, ns, new_vm("huge", with_container_disk(ALPINE_IMAGE), with_masquerade_network(),
                              with_memory("64Ti"), with_run_strategy("Always")))
    wait_jsonpath(api, VM, ns, "huge", "jsonpath={.status.printableStatus}=ErrorUnschedulable", timeout=T)
    phase = vmi_phase(api.get(VMI, ns, "huge"))
    assert phase in ("Pending", "Scheduling"), phase
    status, body = refused(api, ns, "huge")
    assert (status, body["reason"], body["message"]) == (400, "BadRequest", "VMI is not running")
    # virtctl retries every second while it gets 400, until its connection timeout
    started = time.monotonic()
    with pytest.raises(ConsoleError, match="HTTP 400 .*VMI is not running"):
        SerialConsole(api, ns, "huge").open(1.2)
    assert 1.0 <= time.monotonic() - started < 2.5


def test_console_without_serial_console_is_400(api: Cluster, ns: str) -> None:
    running_vm(api, ns, "noserial", devices={"autoattachSerialConsole": False})
    status, body = refused(api, ns, "noserial")
    assert (status, body["reason"], body["message"]) == (400, "BadRequest", "No serial consoles are present.")


def test_console_of_failed_vmi_is_409(api: Cluster, ns: str) -> None:
    vm = running_vm(api, ns, "failing", strategy="Manual")
    vmi = vm.vmi()
    pods = vm.launcher_pods(uid(vmi))
    assert len(pods) == 1
    api.delete(POD, ns, pods[0]["metadata"]["name"])  # the launcher pod vanishes under the VMI
    wait_jsonpath(api, VMI, ns, "failing", "jsonpath={.status.phase}=Failed", timeout=T)
    status, body = refused(api, ns, "failing")
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["message"] == ('Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "failing": '
                               "VMI is in failed status")


def test_client_retries_while_vmi_starts(api: Cluster, ns: str) -> None:
    """Like virtctl, the client retries on 400 until the VMI runs (§1.5)."""
    api.create(VM, ns, new_vm("early", with_container_disk(ALPINE_IMAGE), with_masquerade_network(),
                              with_run_strategy("Always")))
    wait_for(api, VMI, ns, "early", until=lambda o: o is not None, describe=vmi_phase, timeout=T,
             what="VMI early created")  # before that the console is 404, which fails at once
    con = SerialConsole(api, ns, "early").open(T)
    try:
        assert vmi_phase(api.get(VMI, ns, "early")) == "Running"
        con.login(ALPINE_LOGIN, T)
        assert con.run("hostname", T) == "early"
    finally:
        con.close()


def test_second_session_closes_the_first(api: Cluster, ns: str) -> None:
    running_vm(api, ns, "vm1")
    first = raw_connect(api, ns, "vm1")
    second = None
    try:
        first.send_binary(b"\n")
        read_until(first, r"login: $")
        first.send_binary(b"root\n")
        read_until(first, r"\# $")
        second = raw_connect(api, ns, "vm1")
        assert second.getsubprotocol() == SUBPROTOCOL
        stream_ends(first)  # test_id:1591: the first stream ends with EOF
        # the serial line is the same: the second session finds the shell still logged in
        second.send_binary(b"\n")
        text, _ = read_until(second, r"(login: |\# )$")
        assert text.endswith("vm1:~# "), text
        second.send_binary(b"echo $?\n")
        assert RET_ZERO in read_until(second, r"\# $")[0]
    finally:
        first.close()
        if second is not None:
            second.close()


# ------------------------------------------------------------------ demo images (§6.5, §7)


@pytest.mark.parametrize("image", [ALPINE_IMAGE, CIRROS_IMAGE, FEDORA_IMAGE], ids=["alpine", "cirros", "fedora"])
def test_login_to_demo_image(api: Cluster, ns: str, image: str) -> None:
    running_vm(api, ns, "demo", image=image)
    login = login_for(image)
    assert login is not None
    con = SerialConsole(api, ns, "demo").open(T)
    try:
        # KubeVirt's LoginToX helpers, step by step
        con.send("\n")
        if "cirros" in image:
            con.expect(re.escape(CIRROS_BANNER), T)
            assert (login.user, login.password) == ("cirros", "gocubsgo")
        else:
            assert (login.user, login.password) == (("root", None) if "alpine" in image else ("fedora", "fedora"))
        con.expect(r"(localhost|demo) login: $", T)
        con.send(login.user + "\n")
        if login.password is not None:
            con.expect(r"Password: $", T)
            con.send(login.password + "\n")
        con.expect(PROMPT, T)
        con.send("echo $?\n")
        con.expect(re.escape(RET_ZERO), T)
        con.expect(PROMPT, T)
        if "fedora" in image:  # LoginToFedora then becomes root
            con.run("sudo su", T)
            assert con.run("whoami", T) == "root"
        for setup in ("stty cols 500 rows 500", "dmesg -n 1"):  # configureConsole
            con.run(setup, T)
        assert con.run("hostname", T) == "demo"
        assert con.run("cat /etc/hostname", T) == "demo"
        assert con.run("uname", T) == "Linux"
        # the client's login returns early at a prompt
        con.login(login, T)
        # a wrong command fails with a non-zero status
        out, rc = con.run_status("no-such-command", T)
        assert rc == 127 and "not found" in out
    finally:
        con.close()


def test_wrong_password_is_refused(api: Cluster, ns: str) -> None:
    running_vm(api, ns, "demo", image=CIRROS_IMAGE)
    con = SerialConsole(api, ns, "demo").open(T)
    try:
        bad = login_for(CIRROS_IMAGE, "cirros", "wrong")
        assert bad is not None
        with pytest.raises(LoginRefused, match="refused"):  # an operator setting: not-verified, not violated
            con.login(bad, T)
        con.login(CIRROS_LOGIN, T)
        assert con.run("whoami", T) == "cirros"
    finally:
        con.close()


# ------------------------------------------------------------------ guest state follows the machine (§6.3, §6.4)


def test_uptime_stands_still_while_paused(api: Cluster, ns: str) -> None:
    vm = running_vm(api, ns, "vm1")
    con = console(api, ns, "vm1")
    try:
        before = boot_id(con)
        g1, h1 = guest_uptime(con)
        assert vm.pause().code == 200
        wait_jsonpath(api, VM, ns, "vm1", "jsonpath={.status.printableStatus}=Paused", timeout=T)
        frozen_from = time.monotonic()
        # the console can still be opened while paused (test_id:3083); it replaces the old session
        old, con = con, SerialConsole(api, ns, "vm1").open(T)
        stream_ends(old.ws)  # type: ignore[arg-type]
        old.close()
        # input typed while paused is not answered (the vCPUs are stopped) ...
        con.send("echo while-paused\n")
        with pytest.raises(ConsoleError, match="not seen"):
            con.expect(r"while-paused\r\n", 0.3)
        observe_unchanged(api, VM, ns, "vm1", holds=vm_is("Paused"), describe=printable_status,
                          seconds=PAUSE_SECONDS, what="VM vm1 stays Paused")
        frozen_until = time.monotonic()
        assert vm.unpause().code == 200
        wait_jsonpath(api, VM, ns, "vm1", "jsonpath={.status.printableStatus}=Running", timeout=T)
        # ... until it is unpaused
        con.expect(r"while-paused\r\n", T)
        con.expect(PROMPT, T)
        g2, h2 = guest_uptime(con)
        lag = (h2 - h1) - (g2 - g1)
        paused_for = frozen_until - frozen_from
        assert paused_for >= PAUSE_SECONDS
        assert lag >= paused_for - CLOCK_TOLERANCE, f"guest clock lagged {lag:.2f}s over a {paused_for:.2f}s pause"
        assert lag <= (h2 - h1) + CLOCK_TOLERANCE
        assert g2 > g1, "the guest rebooted"
        assert boot_id(con) == before
    finally:
        con.close()


def test_ram_survives_live_migration_but_not_restart(api: Cluster, ns: str) -> None:
    vm = running_vm(api, ns, "vm1")
    vmi = vm.vmi()
    source = vmi["status"]["nodeName"]  # type: ignore[index]
    marker = f"vmconform-{secrets.token_hex(6)}"
    con = console(api, ns, "vm1")
    try:
        con.run(f"echo {marker} > {MARKER_FILE}", T)
        assert con.run(f"cat {MARKER_FILE}", T) == marker
        first_boot = boot_id(con)
        g1, _ = guest_uptime(con)
    finally:
        con.close()

    assert vm.migrate().code == 202
    migrations = vm.migrations() or []
    assert len(migrations) == 1
    wait_jsonpath(api, VMIM, ns, migrations[0]["metadata"]["name"], "jsonpath={.status.phase}=Succeeded", timeout=T)
    moved = vm.vmi()
    assert uid(moved) == uid(vmi)
    assert moved["status"]["nodeName"] != source  # type: ignore[index]
    assert moved["status"]["migrationState"]["completed"] is True  # type: ignore[index]

    con = SerialConsole(api, ns, "vm1").open(T)
    try:
        con.send("\n")
        con.expect(PROMPT, T)  # still logged in: the guest kept running
        assert con.run(f"cat {MARKER_FILE}", T) == marker
        assert boot_id(con) == first_boot
        assert guest_uptime(con)[0] >= g1
    finally:
        con.close()

    assert vm.restart().code == 202
    wait_for(api, VMI, ns, "vm1", until=lambda o: o is not None and uid(o) != uid(vmi) and vmi_phase(o) == "Running",
             describe=lambda o: f"{uid(o)} {vmi_phase(o)}", timeout=T, what="new VMI Running")
    wait_running(api, ns, "vm1")
    con = SerialConsole(api, ns, "vm1").open(T)
    try:
        con.send("\n")
        con.expect(r"vm1 login: $", T)  # a fresh boot: logged out
        con.login(ALPINE_LOGIN, T)
        assert boot_id(con) != first_boot
        out, rc = con.run_status(f"cat {MARKER_FILE}", T)
        assert rc == 1 and "No such file or directory" in out
    finally:
        con.close()


def test_stop_and_start_gives_a_new_boot(api: Cluster, ns: str) -> None:
    vm = running_vm(api, ns, "vm1")
    con = console(api, ns, "vm1")
    try:
        con.run(f"echo kept > {MARKER_FILE}", T)
        first_boot = boot_id(con)
        assert vm.stop().code == 202
        stream_ends(con.ws)  # type: ignore[arg-type]  # the console ends with the VMI
    finally:
        con.close()
    wait_jsonpath(api, VM, ns, "vm1", "jsonpath={.status.printableStatus}=Stopped", timeout=T)
    assert vm.start().code == 202
    wait_running(api, ns, "vm1")
    con = console(api, ns, "vm1")
    try:
        assert boot_id(con) != first_boot
        assert con.run_status(f"cat {MARKER_FILE}", T)[1] == 1
    finally:
        con.close()


# ------------------------------------------------------------------ guest-initiated power events (§2.3)


@pytest.mark.parametrize("strategy", ["Always", "Manual", "Once", "RerunOnFailure"])
def test_guest_poweroff_per_run_strategy(api: Cluster, ns: str, strategy: str) -> None:
    vm = running_vm(api, ns, "vm1", strategy=strategy)
    old = vm.vmi()
    con = console(api, ns, "vm1")
    try:
        con.buffer = ""
        con.send("poweroff\n")
        said = stream_ends(con.ws)  # type: ignore[arg-type]  # the console ends when the guest is off
        assert "The system is going down" in con.buffer + said
    finally:
        con.close()

    if strategy == "Always":  # test_id:1528: a new VMI comes up
        new, _ = wait_for(api, VMI, ns, "vm1",
                          until=lambda o: o is not None and uid(o) != uid(old) and vmi_phase(o) == "Running",
                          describe=lambda o: GONE if o is None else f"{uid(o)} {vmi_phase(o)}", timeout=T,
                          what="VMI vm1 replaced and Running")
        wait_running(api, ns, "vm1")
        assert vm.get()["spec"]["runStrategy"] == "Always"  # type: ignore[index]
        con = console(api, ns, "vm1")
        try:
            assert con.run("hostname", T) == "vm1"
        finally:
            con.close()
        return

    wait_jsonpath(api, VM, ns, "vm1", "jsonpath={.status.printableStatus}=Stopped", timeout=T)
    if strategy in ("Manual", "Once"):  # "should not remove a succeeded VMI"
        wait_jsonpath(api, VMI, ns, "vm1", "jsonpath={.status.phase}=Succeeded", timeout=T)
        observe_unchanged(api, VMI, ns, "vm1", holds=lambda o: uid(o) == uid(old) and vmi_phase(o) == "Succeeded",
                          describe=lambda o: f"{uid(o)} {vmi_phase(o)}", seconds=1.0, what="VMI stays Succeeded")
    else:  # RerunOnFailure: the Succeeded VMI is deleted, not restarted
        wait_for(api, VMI, ns, "vm1", until=lambda o: o is None, describe=vmi_phase, timeout=T,
                 what="VMI vm1 deleted")
        observe_unchanged(api, VMI, ns, "vm1", holds=lambda o: o is None, describe=vmi_phase, seconds=1.0,
                          what="VMI vm1 not recreated")
    got = vm.get()
    assert printable_status(got) == "Stopped"
    assert not got["status"].get("ready")  # type: ignore[index]
    assert got["spec"]["runStrategy"] == strategy  # type: ignore[index]
    status, body = refused(api, ns, "vm1")
    if strategy == "RerunOnFailure":
        assert (status, body["message"]) == (404, 'virtualmachineinstance.kubevirt.io "vm1" not found')
    else:
        assert (status, body["message"]) == (400, "VMI is not running")


def test_guest_reboot_keeps_the_vmi_and_boots_anew(api: Cluster, ns: str) -> None:
    """A reboot inside the guest restarts the domain in place: same VMI (UID, pod, node), new boot."""
    vm = running_vm(api, ns, "vm1")
    vmi = vm.vmi()
    pods = [p["metadata"]["name"] for p in vm.launcher_pods(uid(vmi))]
    con = console(api, ns, "vm1")
    try:
        con.run(f"echo kept > {MARKER_FILE}", T)
        first_boot = boot_id(con)
        con.buffer = ""
        con.send("reboot\n")
        con.expect(r"The system is going down", T)
        con.expect(r"Linux version", T)  # the boot log arrives on the same console session
        con.expect(r"vm1 login: $", T)
        con.login(ALPINE_LOGIN, T)
        assert boot_id(con) != first_boot
        assert con.run_status(f"cat {MARKER_FILE}", T)[1] == 1
    finally:
        con.close()
    after: Obj = vm.vmi() or {}
    assert uid(after) == uid(vmi) and vmi_phase(after) == "Running"
    assert [t["phase"] for t in after["status"]["phaseTransitionTimestamps"]].count("Running") == 1
    assert after["status"]["nodeName"] == (vmi or {})["status"]["nodeName"]
    assert [p["metadata"]["name"] for p in vm.launcher_pods(uid(vmi))] == pods
    assert printable_status(vm.get()) == "Running"


def test_shell_commands_for_checks(api: Cluster, ns: str) -> None:
    """The commands the guest checks rely on behave like busybox sh."""
    running_vm(api, ns, "vm1")
    con = console(api, ns, "vm1")
    try:
        con.run("echo one > /dev/shm/f", T)
        con.run("echo two >> /dev/shm/f", T)
        assert con.run("cat /dev/shm/f", T) == "one\ntwo"
        out, rc = con.run_status("echo x > /etc/x", T)
        assert rc == 1 and "Read-only file system" in out
        assert con.run("echo a > /dev/shm/g; cat /dev/shm/g", T) == "a"
        assert con.run("false; echo $?", T) == "1"
        assert con.run("echo '$?' \"$?\"", T) == "$? 0"
        assert con.run("echo 'a;b'", T) == "a;b"
        assert con.run("uname -n -r", T).startswith("vm1 ")
        assert re.fullmatch(r"\d+\.\d\d \d+\.\d\d", con.run("cat /proc/uptime", T))
    finally:
        con.close()


def test_client_uses_the_api_clients_credentials(kv: Any, api: Cluster, ns: str) -> None:
    """The console refreshes the token like the API client (exec/OIDC credentials) and keeps its TLS settings."""
    running_vm(api, ns, "vm1")
    c = Cluster.from_kubeconfig(kv.cluster.kubeconfig_path)
    try:
        cfg = c.configuration
        good = cfg.api_key["BearerToken"]
        cfg.refresh_api_key_hook = None
        cfg.api_key["BearerToken"] = "Bearer expired"
        with pytest.raises(ConsoleError, match="HTTP 401"):
            SerialConsole(c, ns, "vm1").open(T)

        def refresh(conf: Any) -> None:
            conf.api_key["BearerToken"] = good

        cfg.refresh_api_key_hook = refresh
        con = SerialConsole(c, ns, "vm1").open(T)
        con.login(ALPINE_LOGIN, T)
        con.close()

        cfg.verify_ssl, cfg.cert_file, cfg.key_file, cfg.tls_server_name = False, "/c.crt", "/c.key", "api.lab"
        opt = SerialConsole(c, ns, "vm1")._sslopt()
        assert opt["cert_reqs"] == ssl.CERT_NONE and opt["check_hostname"] is False
        assert (opt["certfile"], opt["keyfile"], opt["server_hostname"]) == ("/c.crt", "/c.key", "api.lab")
    finally:
        c.close()
