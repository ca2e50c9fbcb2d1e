"""An emulated guest operating system behind a VM's serial console.

A synchronous object: the emulator feeds it console bytes and writes back what
:meth:`Guest.feed` returns (echo included).  It models enough of KubeVirt's demo
images (Cirros, Alpine, Fedora) for KubeVirt's console login helpers and simple
state checks (boot id, uptime, RAM files).  ``poweroff``/``reboot`` typed in the
shell go to ``on_power``; the emulator decides the consequences (and calls
:meth:`Guest.boot` for a reboot).  Text is ``\\n`` inside, ``\\r\\n`` on the wire.
"""

from __future__ import annotations

import codecs
import re
import shlex
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

CIRROS_BANNER = "login as 'cirros' user. default password: 'gocubsgo'. use 'sudo' for root."
PROMPT_RE = re.compile(r"(\$ |\# )")
WRITABLE_PREFIXES = ("/dev/shm/", "/tmp/")
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"

LOGIN, PASSWORD, SHELL, DOWN = "login", "password", "shell", "down"

Result = tuple[str, str, int]  # stdout, stderr, exit status


@dataclass(frozen=True)
class Profile:
    """What one demo image looks like on its console."""

    name: str
    user: str
    password: str | None  # None: no password prompt for ``user``
    issue: tuple[str, ...]  # printed before the login prompt
    kernel: str
    user_prompt: str  # str.format fields: host, user
    root_prompt: str


PROFILES: dict[str, Profile] = {
    "cirros": Profile(
        "cirros", "cirros", "gocubsgo", (CIRROS_BANNER,), "5.3.0-26-generic", "$ ", "# "
    ),
    "alpine": Profile(
        "alpine", "root", None,
        ("Welcome to Alpine Linux 3.19", "Kernel 6.6.14-0-virt on an x86_64 (/dev/ttyS0)"),
        "6.6.14-0-virt", "{host}:~$ ", "{host}:~# ",
    ),
    "fedora": Profile(
        "fedora", "fedora", "fedora",
        ("Fedora Linux 39 (Cloud Edition)", "Kernel 6.5.6-300.fc39.x86_64 on an x86_64 (ttyS0)"),
        "6.5.6-300.fc39.x86_64", "[{user}@{host} ~]$ ", "[root@{host} fedora]# ",
    ),
    # a CentOS Stream cloud image: its default user cloud-user, password set by the VM's cloud-init
    "centos": Profile(
        "centos", "cloud-user", "centos",
        ("CentOS Stream 9", "Kernel 5.14.0-570.el9.x86_64 on an x86_64"),
        "5.14.0-570.el9.x86_64", "[{user}@{host} ~]$ ", "[root@{host} cloud-user]# ",
    ),
    "generic": Profile(
        "generic", "root", None, ("Welcome to Linux",), "6.1.0-generic", "{host}:~$ ", "{host}:~# "
    ),
}


def profile_for(image: str) -> Profile:
    """The profile for a containerDisk image (substring match, case-insensitive)."""
    low = image.lower()
    for key in ("cirros", "alpine", "fedora", "centos"):
        if key in low:
            return PROFILES[key]
    return PROFILES["generic"]


def _unquote(word: str) -> str:
    try:
        parts = shlex.split(word)
    except ValueError:
        return word
    return parts[0] if parts else ""


def _unquoted(line: str) -> Iterator[tuple[int, str]]:
    """The characters of ``line`` outside single or double quotes, with their index (quotes excluded)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        else:
            yield i, ch


def split_redirect(line: str) -> tuple[str, str | None, bool]:
    """Split ``cmd > FILE`` / ``cmd >> FILE`` into (cmd, FILE, append).

    FILE is None when there is no unquoted ``>``, "" when it is missing.
    """
    for i, ch in _unquoted(line):
        if ch == ">":
            append = line[i + 1 : i + 2] == ">"
            target = line[i + 1 + int(append) :].strip()
            return line[:i], _unquote(target), append
    return line, None, False


def split_commands(line: str) -> list[str]:
    """Split a command line at unquoted ``;``."""
    parts, start = [], 0
    for i, ch in _unquoted(line):
        if ch == ";":
            parts.append(line[start:i])
            start = i + 1
    parts.append(line[start:])
    return parts


def expand_status(line: str, status: int) -> str:
    """Replace ``$?`` with the last exit status, except inside single quotes (as sh does)."""
    out, quote, i = [], "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        if ch == "$" and line[i + 1 : i + 2] == "?" and quote != "'":
            out.append(str(status))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_words(cmd: str) -> list[str]:
    try:
        return shlex.split(cmd)
    except ValueError:
        return cmd.split()


class Guest:
    """A small emulated guest OS: login, a busybox-like shell, RAM files."""

    def __init__(
        self,
        image: str,
        hostname: str,
        clock: Callable[[], float] = time.monotonic,
        on_power: Callable[[str], None] | None = None,
    ) -> None:
        self.image = image
        self.hostname = hostname
        self.profile = profile_for(image)
        self.on_power = on_power
        # Fault hook: the guest's uptime keeps counting while paused.
        self.clock_runs_while_paused: bool = False
        self._clock = clock
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._commands: dict[str, Callable[[list[str]], Result]] = {
            "echo": self._cmd_echo, "cat": self._cmd_cat,
            "uname": self._cmd_uname, "sudo": self._cmd_sudo,
            "hostname": lambda _: (self.hostname + "\n", "", 0),
            "whoami": lambda _: (self._users[-1] + "\n", "", 0),
            "exit": self._cmd_exit, "logout": self._cmd_exit,
            "poweroff": self._cmd_power, "reboot": self._cmd_power,
            "true": lambda _: ("", "", 0), "false": lambda _: ("", "", 1),
            "stty": lambda _: ("", "", 0), "dmesg": lambda _: ("", "", 0),
        }
        self._pending = bytearray()
        self._reset()

    # ----------------------------------------------------------- machine state

    def _reset(self) -> None:
        self._boot_id = str(uuid.uuid4())
        self._booted_at = self._clock()
        self._paused = False
        self._paused_since: float | None = None
        self._paused_total = 0.0
        self._pending.clear()
        self._files: dict[str, str] = {}
        self._stage = LOGIN
        self._users: list[str] = []
        self._pending_user = ""
        self._line: list[str] = []
        self._after_cr = False
        self._status = 0
        self._power_request: str | None = None
        self._decoder.reset()

    def boot(self) -> bytes:
        """Start a fresh boot and return the console output up to the login prompt."""
        self._reset()
        log = (
            f"[    0.000000] Linux version {self.profile.kernel}\n"
            "[    0.000000] Command line: console=ttyS0\n"
            f"[    1.000000] Run /sbin/init as init process\n\n"
        )
        if self.autologin:  # an image whose console starts logged in (e.g. a getty with --autologin)
            return _wire(log + self._start_session(self.profile.user))
        return _wire(log + self._login_prompt(issue=True))

    @property
    def autologin(self) -> bool:
        """Images named ``…autologin…`` start with their user logged in on the console."""
        return "autologin" in self.image.lower()

    def pause(self) -> None:
        """Freeze the guest: its uptime stops and input is buffered."""
        if not self._paused:
            self._paused = True
            self._paused_since = self._clock()

    def unpause(self) -> bytes:
        """Resume; returns the output produced by input buffered while paused."""
        if not self._paused:
            return b""
        if not self.clock_runs_while_paused and self._paused_since is not None:
            self._paused_total += self._clock() - self._paused_since
        self._paused = False
        self._paused_since = None
        data = bytes(self._pending)
        self._pending.clear()
        return self.feed(data) if data else b""

    def migrate(self) -> None:
        """Live migration: RAM files, boot id, uptime and the session all survive."""

    def uptime(self) -> float:
        """Seconds since boot, not counting time spent paused."""
        now = self._clock()
        frozen = self._paused_total
        if self._paused_since is not None and not self.clock_runs_while_paused:
            frozen += now - self._paused_since
        return max(0.0, now - self._booted_at - frozen)

    # ------------------------------------------------------------- properties

    @property
    def boot_id(self) -> str:
        return self._boot_id

    @property
    def files(self) -> dict[str, str]:
        """A copy of the files written in RAM (path -> content)."""
        return dict(self._files)

    @property
    def logged_in_user(self) -> str | None:
        """The effective user of the shell (``root`` after ``sudo su``), else None."""
        return self._users[-1] if self._stage == SHELL and self._users else None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def state(self) -> str:
        """One of ``login``, ``password``, ``shell``, ``down``."""
        return self._stage

    # ------------------------------------------------------------------ input

    def attach(self) -> bytes:
        """What a newly attached console sees: nothing until Enter is pressed."""
        return b""

    def feed(self, data: bytes) -> bytes:
        """Process console input; return what the guest writes back (echo included).

        A power request typed in the shell is reported through ``on_power``
        after the input is processed, before this returns.
        """
        if self._paused:
            self._pending += data
            return b""
        out: list[str] = []
        for ch in self._decoder.decode(data):
            self._feed_char(ch, out)
        result = _wire("".join(out))
        request, self._power_request = self._power_request, None
        if request and self.on_power is not None:
            self.on_power(request)
        return result

    def _feed_char(self, ch: str, out: list[str]) -> None:
        if self._stage == DOWN:
            return
        if ch == "\n" and self._after_cr:
            self._after_cr = False
            return
        self._after_cr = ch == "\r"
        echo = self._stage != PASSWORD
        if ch in "\r\n":
            line = "".join(self._line)
            self._line.clear()
            out.append("\n" + self._on_line(line))
        elif ch in "\x7f\x08":
            if self._line:
                self._line.pop()
                if echo:
                    out.append("\b \b")
        elif ch == "\x03":
            self._line.clear()
            out.append("^C\n" + self._current_prompt())
        elif ch >= " " or ch == "\t":
            self._line.append(ch)
            if echo:
                out.append(ch)

    def _on_line(self, line: str) -> str:
        if self._stage == LOGIN:
            return self._login_line(line)
        if self._stage == PASSWORD:
            return self._password_line(line)
        return self._shell_line(line)

    # ------------------------------------------------------------------ login

    def _login_prompt(self, issue: bool) -> str:
        head = "".join(f"{text}\n" for text in self.profile.issue) + "\n" if issue else ""
        return f"{head}{self.hostname} login: "

    def _current_prompt(self) -> str:
        if self._stage == SHELL:
            return self._prompt()
        if self._stage == PASSWORD:
            self._stage = LOGIN
        return self._login_prompt(issue=False)

    def _login_line(self, line: str) -> str:
        user = line.strip()
        if not user:
            return self._login_prompt(issue=True)
        if user == self.profile.user and self.profile.password is None:
            return self._start_session(user)
        self._pending_user = user
        self._stage = PASSWORD
        return "Password: "

    def _password_line(self, password: str) -> str:
        user, self._pending_user = self._pending_user, ""
        if user == self.profile.user and password == self.profile.password:
            return self._start_session(user)
        self._stage = LOGIN
        return "Login incorrect\n" + self._login_prompt(issue=False)

    def _start_session(self, user: str) -> str:
        self._stage = SHELL
        self._users = [user]
        self._status = 0
        return self._prompt()

    def _prompt(self) -> str:
        user = self._users[-1]
        template = self.profile.root_prompt if user == "root" else self.profile.user_prompt
        return template.format(host=self.hostname, user=user)

    # ------------------------------------------------------------------ shell

    def _shell_line(self, line: str) -> str:
        out, err, status = self._run(line)
        self._status = status
        return out + err + (self._prompt() if self._stage == SHELL else "")

    def _run(self, line: str) -> Result:
        """Run a command line: ``;``-separated commands in turn (``$?`` sees the previous one)."""
        parts = split_commands(line)
        if len(parts) < 2:
            return self._run_one(line)
        out: list[str] = []
        for part in parts:
            o, e, self._status = self._run_one(part)
            out.append(o + e)
            if self._stage != SHELL:  # exit, poweroff, reboot
                break
        return "".join(out), "", self._status

    def _run_one(self, line: str) -> Result:
        line = expand_status(line, self._status).strip()
        if not line:
            return "", "", self._status
        cmd, target, append = split_redirect(line)
        if target is None:
            return self._exec(_split_words(cmd))
        if not target:
            return "", "sh: syntax error: unexpected newline\n", 2
        if not target.startswith(WRITABLE_PREFIXES):
            return "", f"sh: can't create {target}: Read-only file system\n", 1
        out, err, status = self._exec(_split_words(cmd))
        self._files[target] = (self._files.get(target, "") if append else "") + out
        return "", err, status

    def _exec(self, argv: list[str]) -> Result:
        if not argv:
            return "", "", 0
        handler = self._commands.get(argv[0])
        if handler is None:
            return "", f"sh: {argv[0]}: not found\n", 127
        return handler(argv)

    def _read(self, path: str) -> str | None:
        if path == "/proc/uptime":
            up = self.uptime()
            return "%.2f %.2f\n" % (up, up * 0.97)
        if path == BOOT_ID_PATH:
            return self._boot_id + "\n"
        if path == "/etc/hostname":
            return self.hostname + "\n"
        return self._files.get(path)

    def _cmd_echo(self, argv: list[str]) -> Result:
        args = argv[1:]
        if args and args[0] == "-n":
            return " ".join(args[1:]), "", 0
        return " ".join(args) + "\n", "", 0

    def _cmd_cat(self, argv: list[str]) -> Result:
        out, err, status = [], [], 0
        for path in argv[1:]:
            content = self._read(path)
            if content is None:
                err.append(f"cat: can't open '{path}': No such file or directory\n")
                status = 1
            else:
                out.append(content)
        return "".join(out), "".join(err), status

    def _cmd_uname(self, argv: list[str]) -> Result:
        fields = {
            "-s": "Linux", "-n": self.hostname, "-r": self.profile.kernel, "-m": "x86_64",
            "-a": f"Linux {self.hostname} {self.profile.kernel} #1 SMP x86_64 GNU/Linux",
        }
        flags = argv[1:] or ["-s"]
        unknown = [f for f in flags if f not in fields]
        if unknown:
            return "", f"uname: unrecognized option '{unknown[0]}'\n", 1
        return " ".join(fields[f] for f in flags) + "\n", "", 0

    def _cmd_sudo(self, argv: list[str]) -> Result:
        args = argv[1:]
        if not args:
            return "", "usage: sudo command\n", 1
        if args[0] in ("su", "-i", "-s"):
            self._users.append("root")
            return "", "", 0
        if args[0] in ("exit", "logout", "sudo"):
            return "", f"sudo: {args[0]}: command not found\n", 1
        self._users.append("root")
        try:
            return self._exec(args)
        finally:
            self._users.pop()

    def _cmd_exit(self, argv: list[str]) -> Result:
        self._users.pop()
        if self._users:
            return "", "", 0
        self._stage = LOGIN
        return "\n" + self._login_prompt(issue=True), "", 0

    def _cmd_power(self, argv: list[str]) -> Result:
        self._stage = DOWN
        self._power_request = argv[0]
        return f"The system is going down NOW!\nRequesting system {argv[0]}\n", "", 0


def _wire(text: str) -> bytes:
    """Terminal line endings: every ``\\n`` goes out as ``\\r\\n``."""
    return text.replace("\n", "\r\n").encode("utf-8")
