"""SIGTERM and SIGHUP end a run the way Ctrl-C does: a KeyboardInterrupt, so cleanup runs.

CI systems cancel with SIGTERM, a closed terminal sends SIGHUP. Each handler records which
signal arrived (the exit code is 128 + its number) and raises KeyboardInterrupt in the main
thread; pytest then tears down, the suite deletes its namespaces and writes an ``interrupted``
summary. A second signal during that cleanup stops it (and the leftovers are printed).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []
_installed = False


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install() -> bool:
    """Install the handlers (main thread only; idempotent). True when they are in place."""
    global _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    for sig in HANDLED:
        signal.signal(sig, _handler)
    _installed = True
    return True


def received() -> int | None:
    """The first signal that interrupted this process, or None."""
    return _received[0] if _received else None


def name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "SIGINT"


def exit_code(signum: int | None) -> int:
    """128 + the signal's number, the shell's convention (130 for Ctrl-C)."""
    return 128 + int(signum or signal.SIGINT)
