"""One emulated guest per running VMI, looked up by the serial console.

``GuestHandle`` wraps :class:`vmconform.emulator.guest.Guest` when that module is present
(and is a no-op shell otherwise).  The console module finds a handle with
``find_guest(emulator, namespace, vmi_name)``, feeds it input through ``handle.guest``,
and receives output produced outside a keystroke (boot messages after a reboot, input
buffered while paused) by subscribing with ``handle.subscribe(fn)``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger("vmconform.emulator.kubevirt")

Output = Callable[[bytes], None]


def _guest_class() -> Any:
    try:
        from ..guest import Guest
    except ImportError:  # the guest module is optional
        return None
    return Guest


class GuestHandle:
    """The guest of one VMI (identified by namespace, name and UID)."""

    def __init__(self, namespace: str, name: str, uid: str, image: str, hostname: str,
                 on_power: Callable[[str], None], has_agent: bool = False) -> None:
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.image = image
        self.hostname = hostname
        self.has_agent = has_agent
        self.running = False
        self._listeners: list[Output] = []
        cls = _guest_class()
        self.guest: Any = cls(image, hostname, on_power=on_power) if cls is not None else None

    # ------------------------------------------------------------ console side

    def subscribe(self, fn: Output) -> Callable[[], None]:
        """Receive unsolicited console output; returns an unsubscribe function."""
        self._listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return unsubscribe

    def emit(self, data: bytes) -> None:
        if not data:
            return
        for fn in list(self._listeners):
            try:
                fn(data)
            except Exception:  # noqa: BLE001 - a broken console must not break the VMI
                log.exception("console listener failed")

    # ------------------------------------------------------------ lifecycle (called by controllers)

    def boot(self) -> None:
        self.running = True
        if self.guest is not None:
            self.emit(self.guest.boot())

    def pause(self) -> None:
        if self.guest is not None:
            self.guest.pause()

    def unpause(self) -> None:
        if self.guest is not None:
            self.emit(self.guest.unpause())

    def migrate(self) -> None:
        if self.guest is not None:
            self.guest.migrate()

    def shutdown(self) -> None:
        self.running = False

    @property
    def paused(self) -> bool:
        return bool(self.guest is not None and self.guest.paused)


class GuestRegistry:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], GuestHandle] = {}

    def put(self, handle: GuestHandle) -> None:
        self._by_key[(handle.namespace, handle.name)] = handle

    def get(self, namespace: str, name: str, uid: str | None = None) -> GuestHandle | None:
        handle = self._by_key.get((namespace, name))
        if handle is None or (uid is not None and handle.uid != uid):
            return None
        return handle

    def drop(self, namespace: str, name: str, uid: str | None = None) -> None:
        handle = self._by_key.get((namespace, name))
        if handle is not None and (uid is None or handle.uid == uid):
            handle.shutdown()
            del self._by_key[(namespace, name)]
