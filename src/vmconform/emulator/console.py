"""The ``console`` subresource: the VMI's serial console as a WebSocket (subprotocol ``plain.kubevirt.io``).

Binary frames carry raw serial bytes both ways. One session per VMI: a new one closes the old one
(KubeVirt's test_id:1591). Errors follow ``validateVMIForConsole`` (kubevirt-semantics.md §1.5).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from . import errors
from .resources import VMIS
from .store import Event

if TYPE_CHECKING:
    from .kubevirt.context import KubeVirtContext
    from .kubevirt.subresource_api import SubresourceCall

SUBPROTOCOL = "plain.kubevirt.io"


class ConsoleSession:
    """One open console: input goes to the guest; its output (and unsolicited output) to the socket."""

    def __init__(self, ws: web.WebSocketResponse, handle: Any) -> None:
        self.ws = ws
        self.handle = handle
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._feeding = False
        self._deferred: list[bytes] = []
        self._unsubscribe = handle.subscribe(self._unsolicited)

    def _unsolicited(self, data: bytes) -> None:
        if self._feeding:
            self._deferred.append(data)  # e.g. a reboot's boot log: after the command's own echo
        else:
            self.queue.put_nowait(data)

    def feed(self, data: bytes) -> None:
        guest = self.handle.guest
        if guest is None:
            return
        self._feeding = True
        try:
            out = guest.feed(data)
        finally:
            self._feeding = False
        if out:
            self.queue.put_nowait(out)
        for d in self._deferred:
            self.queue.put_nowait(d)
        self._deferred.clear()

    async def writer(self) -> None:
        while True:
            data = await self.queue.get()
            if data is None or self.ws.closed:
                return
            if data:  # a raw byte stream never carries empty messages (a client may read b"" as EOF)
                await self.ws.send_bytes(data)

    def close(self) -> None:
        self._unsubscribe()
        self.queue.put_nowait(None)


class ConsoleService:
    def __init__(self, ctx: "KubeVirtContext") -> None:
        self.ctx = ctx
        self.sessions: dict[tuple[str, str], ConsoleSession] = {}
        ctx.store.listen(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if ev.res.key != VMIS.key:
            return
        meta = ev.obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        session = self.sessions.get(key)
        if session is None:
            return
        phase = (ev.obj.get("status") or {}).get("phase")
        if ev.type == "DELETED" or phase in ("Succeeded", "Failed") or meta.get("uid") != session.handle.uid:
            self._end(key, session)

    def _end(self, key: tuple[str, str], session: ConsoleSession) -> None:
        if self.sessions.get(key) is session:
            del self.sessions[key]
        session.close()
        asyncio.ensure_future(session.ws.close())

    async def handle(self, call: "SubresourceCall") -> web.StreamResponse:
        ns, name = call.namespace, call.name
        vmi = self.ctx.store.peek(VMIS, ns, name)
        if vmi is None:
            raise errors.not_found("virtualmachineinstance", name, "kubevirt.io")
        devices = ((vmi.get("spec") or {}).get("domain") or {}).get("devices") or {}
        if devices.get("autoattachSerialConsole") is False:
            raise errors.bad_request("No serial consoles are present.")
        phase = (vmi.get("status") or {}).get("phase")
        if phase == "Failed":
            raise errors.conflict("virtualmachineinstance", name, "VMI is in failed status", "kubevirt.io")
        if phase != "Running":
            raise errors.bad_request("VMI is not running")
        handle = self.ctx.guests.get(ns, name, vmi["metadata"]["uid"])
        if handle is None or handle.guest is None:
            raise errors.bad_request("VMI is not running")
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=None, max_msg_size=10240 * 16)
        await ws.prepare(call.request)
        key = (ns, name)
        old = self.sessions.get(key)
        if old is not None:
            self._end(key, old)  # only one console session per VMI
        session = ConsoleSession(ws, handle)
        self.sessions[key] = session
        writer = asyncio.ensure_future(session.writer())
        session.queue.put_nowait(handle.guest.attach())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    session.feed(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    session.feed(msg.data.encode())
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            if self.sessions.get(key) is session:
                del self.sessions[key]
            session.close()
            await writer
            await ws.close()
        return ws


def register_subresources(ctx: "KubeVirtContext") -> None:
    """Called by the subresource API at start (it imports this module by name)."""
    service = ConsoleService(ctx)
    ctx.subresources.register("virtualmachineinstances", "console", ("GET",), service.handle)
