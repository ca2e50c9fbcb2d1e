"""The emulated cluster: API server + store + controllers, in-process or standalone."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from aiohttp import web

from . import kubeconfig
from . import metrics as metrics_mod
from . import rbac
from .cdi.kinds import CDI_KINDS
from .kubevirt.instancetypes import KINDS as INSTANCETYPE_KINDS
from .resources import ALL, KUBEVIRT_GROUP, NAMESPACES, Registry
from .server import ApiServer
from .store import Store
from .tls import Credentials, make_credentials

T = TypeVar("T")

KUBERNETES_VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "vmconform-emulator",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.6",
    "compiler": "gc", "platform": "linux/amd64",
}


class Controller(Protocol):
    async def start(self, cluster: "Emulator") -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Options:
    nodes: int = 2  # schedulable worker nodes
    timing: str = "fast"
    seed: int | None = None
    faults: tuple[str, ...] = ()
    port: int = 0
    host: str = "127.0.0.1"
    history: int = 2000
    extra: dict[str, Any] = field(default_factory=dict)
    kubevirt_version: str | None = None  # KubeVirt release profile (kubevirt/releases.py); None: the default
    tokens: tuple[tuple[str, str], ...] = ()  # (user name, ClusterRole) → a token each (emulator/rbac)


class Emulator:
    """One emulated cluster on an event loop. Use ``await start()`` / ``await stop()``."""

    def __init__(self, options: Options | None = None,
                 controllers: list[Controller] | None = None) -> None:
        self.options = options or Options()
        kinds = ALL + CDI_KINDS + INSTANCETYPE_KINDS if self.options.extra.get("kubevirt_api", True) else tuple(
            k for k in ALL if k.group != KUBEVIRT_GROUP)
        self.registry = Registry(kinds + rbac.KINDS)
        self.store = Store(self.registry, history=self.options.history)
        self.credentials: Credentials = make_credentials()
        self.api = ApiServer(self.registry, self.store, self.credentials.token, dict(KUBERNETES_VERSION))
        # Transitions, requests by namespace and verb, watches; also GET /debug/vmconform/metrics.
        self.metrics: metrics_mod.Metrics = metrics_mod.install(self)
        self.rbac: rbac.Rbac = rbac.install(self)  # tokens, the authorizer, SelfSubjectAccessReview
        if controllers is None:
            controllers = default_controllers() if self.options.extra.get("kubevirt_api", True) else []
        self.controllers: list[Controller] = list(controllers)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://{self.options.host}:{self.port}"

    def kubeconfig(self, user: str | None = None) -> dict[str, Any]:
        """The admin's kubeconfig with a context per extra token (named after it); ``user``: only that token's."""
        if user is not None:
            return kubeconfig.build(self.url, self.credentials.ca_pem, self.rbac.tokens[user], context=user)
        return kubeconfig.with_tokens(kubeconfig.build(self.url, self.credentials.ca_pem, self.credentials.token),
                                      self.rbac.tokens)

    async def start(self) -> None:
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.peek(NAMESPACES, None, ns) is None:
                self.store.create(NAMESPACES, {"metadata": {"name": ns}})
        self.rbac.start()
        for c in self.controllers:
            await c.start(self)
        self._runner = web.AppRunner(self.api.app(), handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port,
                           ssl_context=self.credentials.server_context())
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        self.store.drop_watchers()
        for c in reversed(self.controllers):
            await c.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def default_controllers() -> list[Controller]:
    from .faults import TransportFaults
    from .policy.disruption import DisruptionController
    from .policy.eviction import EvictionREST

    try:
        from .kubevirt import controllers  # the KubeVirt behaviour
    except ImportError:
        return [DisruptionController(), EvictionREST(), TransportFaults()]
    from .cdi import controllers as cdi_controllers  # CDI, installed beside KubeVirt

    return [*controllers(), *cdi_controllers(), DisruptionController(), EvictionREST(), TransportFaults()]


class EmulatedCluster:
    """Run an :class:`Emulator` on a background thread: ``with EmulatedCluster() as c: ...``."""

    def __init__(self, options: Options | None = None, kubeconfig_path: str | Path | None = None,
                 controllers: list[Controller] | None = None) -> None:
        self.options = options or Options()
        self._controllers = controllers
        self._kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="vmconform-emulator", daemon=True)
        self.emulator: Emulator | None = None
        self.kubeconfig_path: Path | None = None

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop (stores are not thread-safe) and return its result."""
        fut: Future[T] = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout=30)

    def run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)  # type: ignore[arg-type]

    def start(self) -> "EmulatedCluster":
        self._thread.start()

        async def boot() -> Emulator:
            emu = Emulator(self.options, self._controllers)
            await emu.start()
            return emu

        self.emulator = self.run(boot())
        if self._kubeconfig_path is not None:
            self.kubeconfig_path = kubeconfig.write(self._kubeconfig_path, self.emulator.kubeconfig())
        return self

    def close(self) -> None:
        if self.emulator is not None:
            try:
                self.run(self.emulator.stop())
            finally:
                self.emulator = None
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()

    def __enter__(self) -> "EmulatedCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self.emulator is not None
        return self.emulator.url

    @property
    def token(self) -> str:
        assert self.emulator is not None
        return self.emulator.credentials.token

    @property
    def store(self) -> Store:
        assert self.emulator is not None
        return self.emulator.store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
