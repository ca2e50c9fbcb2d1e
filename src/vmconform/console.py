"""The VM's serial console over KubeVirt's WebSocket (``plain.kubevirt.io``), with expect-style helpers.

It connects with the same credentials and TLS settings as the API client. Login helpers follow
KubeVirt's own (tests/console/login.go): prompt regex ``(\\$ |\\# )``, ``echo $?`` for return codes.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import websocket

from .kube.client import Cluster
from .kube.kinds import SUBRESOURCES
from .verdict import NotVerifiable

PROMPT = re.compile(r"(\$ |\# )")
SUBPROTOCOL = "plain.kubevirt.io"


@dataclass(frozen=True)
class Login:
    user: str
    password: str | None  # None: no password prompt (Alpine root)
    image_hint: str


DEMO_LOGINS = (
    Login("cirros", "gocubsgo", "cirros"),
    Login("root", None, "alpine"),
    Login("fedora", "fedora", "fedora"),
    Login("cloud-user", "centos", "centos"),  # CentOS Stream cloud images: the password the suite's cloud-init sets
)


def login_for(image: str, user: str | None = None, password: str | None = None) -> Login | None:
    """The login of a demo image, or the one given; None when none is known."""
    if user:
        return Login(user, password, "given")
    low = image.lower()
    return next((login for login in DEMO_LOGINS if login.image_hint in low), None)


class ConsoleError(AssertionError):
    """The guest did not answer as expected on its console."""


class LoginRefused(NotVerifiable):
    """The guest refused the login the operator chose (or the image's known one): the behaviour cannot be
    checked, which says nothing about the cluster."""


@dataclass
class Transcript:
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, direction: str, data: str) -> None:
        t = time.monotonic() - self.started
        self.lines.append(f"[{t:7.3f}] {direction} {data!r}")

    def text(self) -> str:
        return "\n".join(self.lines)


class SerialConsole:
    def __init__(self, cluster: Cluster, namespace: str, vmi: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.vmi = vmi
        self.ws: websocket.WebSocket | None = None
        self.buffer = ""
        self.transcript = Transcript()
        self._pause = threading.Event()

    @property
    def url(self) -> str:
        host = self.cluster.configuration.host.replace("https://", "wss://").replace("http://", "ws://")
        return f"{host}{SUBRESOURCES}/namespaces/{self.namespace}/virtualmachineinstances/{self.vmi}/console"

    def _sslopt(self) -> dict[str, Any]:
        """The API client's TLS settings: CA, client certificate (also with insecure-skip-tls-verify), SNI."""
        cfg = self.cluster.configuration
        opt: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED if cfg.verify_ssl else ssl.CERT_NONE}
        if not cfg.verify_ssl:
            opt["check_hostname"] = False
        elif cfg.ssl_ca_cert:
            opt["ca_certs"] = cfg.ssl_ca_cert
        if cfg.cert_file:
            opt["certfile"] = cfg.cert_file
        if cfg.key_file:
            opt["keyfile"] = cfg.key_file
        if getattr(cfg, "tls_server_name", None):
            opt["server_hostname"] = cfg.tls_server_name
        return opt

    def _headers(self) -> list[str]:
        """The API client's bearer token, refreshed first (exec/OIDC credentials expire)."""
        cfg = self.cluster.configuration
        token = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            value = token if token.lower().startswith("bearer ") else f"Bearer {token}"
            return [f"Authorization: {value}"]
        return []

    def open(self, timeout: float) -> "SerialConsole":
        """Connect; like virtctl, retry every second while the API answers 400 (VMI not running yet).

        429 and 5xx are retried too (the request was not served; opening a console changes nothing).
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ws = websocket.create_connection(
                    self.url, timeout=min(10.0, max(1.0, deadline - time.monotonic())),
                    subprotocols=[SUBPROTOCOL], header=self._headers(), sslopt=self._sslopt())
                self.transcript.add("**", f"connected to {self.vmi}")
                return self
            except websocket.WebSocketBadStatusException as exc:
                retryable = exc.status_code in (400, 429) or exc.status_code >= 500
                if not retryable or time.monotonic() >= deadline:
                    raise ConsoleError(f"console of VMI {self.vmi} refused: HTTP {exc.status_code} "
                                       f"{_body(exc)}") from None
            except (OSError, websocket.WebSocketException) as exc:
                if time.monotonic() >= deadline:
                    raise ConsoleError(f"console of VMI {self.vmi} unreachable: {exc}") from None
            # virtctl's retry interval while the VMI is not running yet (never past the deadline)
            self._pause.wait(max(0.0, min(1.0, deadline - time.monotonic())))

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except (OSError, websocket.WebSocketException):
                pass
            self.ws = None

    def send(self, text: str) -> None:
        if self.ws is None:
            raise ConsoleError("console is not connected")
        self.transcript.add(">>", text)
        self.ws.send_binary(text.encode())

    def expect(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        """Read until ``pattern`` matches the unread output; consume through the match."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buffer)
            if m:
                self.buffer = self.buffer[m.end():]
                return m
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.ws is None:
                raise ConsoleError(f"console of VMI {self.vmi}: {rx.pattern!r} not seen within {timeout:.0f} s; "
                                   f"last output {self.buffer[-200:]!r}")
            self.ws.settimeout(remaining)
            try:
                opcode, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException) as exc:
                self.ws = None
                raise ConsoleError(f"console of VMI {self.vmi} closed: {exc}") from None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.ws = None
                raise ConsoleError(f"console of VMI {self.vmi} was closed by the server")
            text = data.decode("utf-8", "replace")
            self.transcript.add("<<", text)
            self.buffer += text

    # ------------------------------------------------------------ helpers like KubeVirt's

    def login(self, login: Login, timeout: float) -> None:
        """Log in. A console already at a shell prompt is used as it is; a user the image logs in without a
        password is logged in even when a password was given; a refused login raises :class:`LoginRefused`."""
        self.buffer = ""
        self.send("\n")
        m = self.expect(r"(login: |\$ |\# )", timeout)
        if m.group(1) != "login: ":
            return
        self.send(login.user + "\n")
        m = self.expect(r"(Password: |\$ |\# |Login incorrect)", timeout)
        if m.group(1) == "Password: ":
            if login.password is None:
                raise LoginRefused(f"the guest of VMI {self.vmi} asks for a password for {login.user!r}: "
                                   f"give --guest-password")
            self.send(login.password + "\n")
            m = self.expect(r"(\$ |\# |Login incorrect)", timeout)
        if m.group(1) == "Login incorrect":
            raise LoginRefused(f"the guest of VMI {self.vmi} refused the login as {login.user!r}: "
                               f"check --guest-user and --guest-password")

    def run(self, command: str, timeout: float) -> str:
        """Run a command at the prompt; return its output; fail unless ``echo $?`` says 0."""
        output, status = self.run_status(command, timeout)
        if status != 0:
            raise ConsoleError(f"`{command}` in the guest exited {status}: {output.strip()!r}")
        return output

    def run_status(self, command: str, timeout: float) -> tuple[str, int]:
        """Run a command at the prompt; return its output and its exit status (``echo $?``)."""
        self.buffer = ""
        self.send(command + "\n")
        m = self.expect(PROMPT, timeout)
        output = self._strip_echo(self.buffer_before(m), command)
        self.send("echo $?\n")
        rc_match = self.expect(r"\r\n(\d+)\r\n", timeout)
        self.expect(PROMPT, timeout)
        return output, int(rc_match.group(1))

    def buffer_before(self, m: re.Match[str]) -> str:
        return m.string[:m.start()]

    @staticmethod
    def _strip_echo(text: str, command: str) -> str:
        text = text.replace("\r", "")
        lines = text.split("\n")
        if lines and lines[0].strip().endswith(command.strip()):
            lines = lines[1:]
        if lines:
            lines = lines[:-1]  # the prompt's own line
        return "\n".join(lines).strip("\n")


def _body(exc: websocket.WebSocketBadStatusException) -> str:
    body = getattr(exc, "resp_body", b"") or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body)[:200]
