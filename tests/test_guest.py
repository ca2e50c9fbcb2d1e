"""Tests for the emulated guest OS behind the serial console (fake clock, no sleeps)."""

from __future__ import annotations

import re
import uuid

import pytest

from vmconform.emulator.guest import CIRROS_BANNER, PROMPT_RE, Guest

HOST = "testvm"


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(image: str, clock: FakeClock, on_power=None) -> Guest:
    guest = Guest(image, HOST, clock=clock, on_power=on_power)
    guest.boot()
    return guest


def login(guest: Guest) -> bytes:
    """Log in the way KubeVirt's console helpers do; returns the last output."""
    guest.feed(b"\n")
    user, password = {
        "cirros": ("cirros", "gocubsgo"),
        "fedora": ("fedora", "fedora"),
    }.get(guest.profile.name, ("root", None))
    out = guest.feed(user.encode() + b"\n")
    if password is not None:
        assert out.endswith(b"Password: ")
        out = guest.feed(password.encode() + b"\n")
    return out


def run(guest: Guest, command: str) -> bytes:
    return guest.feed(command.encode() + b"\n")


def output_of(guest: Guest, command: str) -> str:
    """The command's output lines, without the echo and the next prompt."""
    text = run(guest, command).decode()
    assert text.startswith(command + "\r\n")
    body = text[len(command) + 2 :]
    end = body.rfind("\r\n")  # the prompt is the last, unterminated line
    return body[: end + 2] if end >= 0 else ""


# --------------------------------------------------------------------- login


def test_cirros_login_banner_and_password(clock: FakeClock) -> None:
    guest = make("quay.io/kubevirt/cirros-container-disk-demo:v1.1.0", clock)
    first = guest.feed(b"\n").decode()
    assert CIRROS_BANNER in first
    assert first.endswith(f"{HOST} login: ")
    assert guest.feed(b"cirros\n") == b"cirros\r\nPassword: "
    out = guest.feed(b"gocubsgo\n")
    assert b"gocubsgo" not in out  # passwords are not echoed
    assert out == b"\r\n$ "
    assert guest.logged_in_user == "cirros"


def test_cirros_banner_reprinted_on_every_enter_at_login(clock: FakeClock) -> None:
    guest = make("cirros", clock)
    for _ in range(2):
        assert CIRROS_BANNER in guest.feed(b"\n").decode()


def test_alpine_login_without_password(clock: FakeClock) -> None:
    guest = make("quay.io/kubevirt/alpine-container-disk-demo", clock)
    first = guest.feed(b"\n").decode()
    assert re.search(r"Welcome to Alpine Linux 3\.\d+", first)
    assert first.endswith(f"{HOST} login: ")
    out = guest.feed(b"root\n")
    assert b"Password" not in out
    assert out.endswith(f"{HOST}:~# ".encode())
    assert guest.logged_in_user == "root"


def test_fedora_login_sudo_su_and_exit(clock: FakeClock) -> None:
    guest = make("quay.io/containerdisks/fedora:39", clock)
    assert login(guest).endswith(f"[fedora@{HOST} ~]$ ".encode())
    assert guest.logged_in_user == "fedora"
    assert run(guest, "sudo su").endswith(f"[root@{HOST} fedora]# ".encode())
    assert guest.logged_in_user == "root"
    assert run(guest, "exit").endswith(f"[fedora@{HOST} ~]$ ".encode())
    assert run(guest, "exit").endswith(f"{HOST} login: ".encode())
    assert guest.logged_in_user is None


def test_unknown_image_is_generic_root_without_password(clock: FakeClock) -> None:
    guest = make("registry.example/ubuntu:22.04", clock)
    assert "Welcome to Linux" in guest.feed(b"\n").decode()
    assert guest.feed(b"root\n").endswith(f"{HOST}:~# ".encode())


@pytest.mark.parametrize("image", ["cirros", "alpine", "fedora"])
def test_wrong_password_is_refused(clock: FakeClock, image: str) -> None:
    guest = make(image, clock)
    guest.feed(b"\n")
    guest.feed(b"nobody\n")
    out = guest.feed(b"wrong\n").decode()
    assert "Login incorrect\r\n" in out
    assert out.endswith(f"{HOST} login: ")
    assert guest.logged_in_user is None
    assert login(guest)  # a correct login still works afterwards
    assert guest.logged_in_user is not None


def test_wrong_password_for_right_user(clock: FakeClock) -> None:
    guest = make("fedora", clock)
    guest.feed(b"fedora\n")
    assert b"Login incorrect" in guest.feed(b"gocubsgo\n")


@pytest.mark.parametrize("image", ["cirros", "alpine", "fedora", "debian"])
def test_prompt_matches_kubevirt_regex(clock: FakeClock, image: str) -> None:
    guest = make(image, clock)
    assert PROMPT_RE.search(login(guest).decode())
    assert not re.search(r"\$", guest.feed(b"exit\n").decode().split("\r\n")[-1])


def test_enter_reprints_prompt(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    login(guest)
    assert guest.feed(b"\r") == f"\r\n{HOST}:~# ".encode()


def test_attach_shows_nothing_until_enter(clock: FakeClock) -> None:
    guest = make("cirros", clock)
    assert guest.attach() == b""
    assert guest.feed(b"\n").endswith(f"{HOST} login: ".encode())


# --------------------------------------------------------------------- shell


def test_exit_status_of_true_and_false(clock: FakeClock) -> None:
    guest = make("cirros", clock)
    login(guest)
    run(guest, "true")
    assert b"\r\n0\r\n" in run(guest, "echo $?")
    run(guest, "false")
    assert b"\r\n1\r\n" in run(guest, "echo $?")


def test_unknown_command(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    login(guest)
    assert output_of(guest, "frobnicate now") == "sh: frobnicate: not found\r\n"
    assert output_of(guest, "echo $?") == "127\r\n"


def test_console_setup_commands_are_noops(clock: FakeClock) -> None:
    guest = make("fedora", clock)
    login(guest)
    for command in ("stty cols 500", "dmesg -n 1"):
        assert output_of(guest, command) == ""
        assert output_of(guest, "echo $?") == "0\r\n"


def test_echo_strips_quotes(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    login(guest)
    assert output_of(guest, "echo 'hello world' \"x\"") == "hello world x\r\n"


def test_write_and_read_ram_file(clock: FakeClock) -> None:
    guest = make("cirros", clock)
    login(guest)
    assert output_of(guest, "echo marker-1 > /dev/shm/marker") == ""
    assert output_of(guest, "cat /dev/shm/marker") == "marker-1\r\n"
    run(guest, "echo marker-2 >> /dev/shm/marker")
    assert output_of(guest, "cat /dev/shm/marker") == "marker-1\r\nmarker-2\r\n"
    assert guest.files == {"/dev/shm/marker": "marker-1\nmarker-2\n"}


def test_write_outside_ram_is_read_only(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    login(guest)
    assert output_of(guest, "echo x > /etc/x") == (
        "sh: can't create /etc/x: Read-only file system\r\n"
    )
    assert output_of(guest, "echo $?") == "1\r\n"
    assert guest.files == {}


def test_cat_missing_file(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    login(guest)
    assert output_of(guest, "cat /tmp/nope") == (
        "cat: can't open '/tmp/nope': No such file or directory\r\n"
    )
    assert output_of(guest, "echo $?") == "1\r\n"


def test_proc_files_and_identity(clock: FakeClock) -> None:
    guest = make("cirros", clock)
    login(guest)
    clock.advance(12.5)
    assert re.fullmatch(r"12\.50 \d+\.\d\d\r\n", output_of(guest, "cat /proc/uptime"))
    boot_id = output_of(guest, "cat /proc/sys/kernel/random/boot_id").strip()
    assert boot_id == guest.boot_id and uuid.UUID(boot_id).version == 4
    assert output_of(guest, "cat /etc/hostname") == f"{HOST}\r\n"
    assert output_of(guest, "hostname") == f"{HOST}\r\n"
    assert output_of(guest, "uname") == "Linux\r\n"
    assert output_of(guest, "uname -a").startswith(f"Linux {HOST} ")


# ------------------------------------------------------------- machine state


def test_reboot_via_boot_loses_ram_and_changes_boot_id(clock: FakeClock) -> None:
    guest = make("cirros", clock)
    login(guest)
    run(guest, "echo hi > /dev/shm/marker")
    old_id = guest.boot_id
    clock.advance(30)
    banner = guest.boot()
    assert CIRROS_BANNER.encode() in banner and banner.endswith(f"{HOST} login: ".encode())
    assert guest.files == {}
    assert guest.boot_id != old_id
    assert guest.uptime() == 0.0
    assert guest.logged_in_user is None
    login(guest)
    assert b"No such file" in run(guest, "cat /dev/shm/marker")


def test_pause_makes_uptime_lag_host(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    host_start = clock()
    clock.advance(5)
    guest.pause()
    clock.advance(10)
    assert guest.uptime() == pytest.approx(5)
    guest.unpause()
    clock.advance(3)
    assert guest.uptime() == pytest.approx(clock() - host_start - 10)


def test_fault_clock_runs_while_paused_removes_lag(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    guest.clock_runs_while_paused = True
    host_start = clock()
    guest.pause()
    clock.advance(10)
    assert guest.uptime() == pytest.approx(10)
    guest.unpause()
    assert guest.uptime() == pytest.approx(clock() - host_start)


def test_input_while_paused_is_buffered_until_unpause(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    login(guest)
    guest.pause()
    assert guest.feed(b"echo hi\n") == b""
    assert guest.unpause() == f"echo hi\r\nhi\r\n{HOST}:~# ".encode()


def test_migrate_keeps_everything(clock: FakeClock) -> None:
    guest = make("fedora", clock)
    login(guest)
    run(guest, "sudo su")
    run(guest, "echo kept > /tmp/marker")
    clock.advance(7)
    boot_id, uptime = guest.boot_id, guest.uptime()
    guest.migrate()
    assert guest.boot_id == boot_id
    assert guest.uptime() == uptime
    assert guest.files == {"/tmp/marker": "kept\n"}
    assert guest.logged_in_user == "root"
    assert output_of(guest, "cat /tmp/marker") == "kept\r\n"


@pytest.mark.parametrize("command", ["poweroff", "reboot", "sudo poweroff", "sudo reboot"])
def test_power_commands_call_back(clock: FakeClock, command: str) -> None:
    calls: list[str] = []
    guest = make("cirros", clock, on_power=calls.append)
    login(guest)
    out = run(guest, command)
    assert b"The system is going down NOW!\r\n" in out
    assert calls == [command.split()[-1]]
    assert guest.state == "down"
    assert guest.feed(b"echo ignored\n") == b""  # nothing runs until boot()
    guest.boot()
    assert guest.feed(b"\n").endswith(f"{HOST} login: ".encode())


# ------------------------------------------------------------- input framing


def test_input_split_into_single_bytes(clock: FakeClock) -> None:
    guest = make("cirros", clock)
    out = b""
    script = b"\r\ncirros\r\ngocubsgo\r\necho $?\r\n"
    for i in range(len(script)):
        out += guest.feed(script[i : i + 1])
    assert guest.logged_in_user == "cirros"
    assert out.endswith(b"echo $?\r\n0\r\n$ ")
    assert out.count(b"login: ") == 1  # \r\n is one line end, not two


def test_backspace_deletes_a_character(clock: FakeClock) -> None:
    guest = make("alpine", clock)
    login(guest)
    out = guest.feed(b"echo abX\x7fc\n")
    assert out == f"echo abX\b \bc\r\nabc\r\n{HOST}:~# ".encode()
