"""Scenarios that change the cluster for everyone (cordon and drain a node) run alone.

A reader-writer lock shared by the processes of one run (pytest-xdist workers on this machine): every
scenario holds it shared while it runs; a disruptive scenario holds it exclusively. A writer first takes
a gate that new readers must pass, so it is not starved by scenarios that keep starting on other workers.
Both are ``flock`` locks on files named after the run id, released when the scenario ends (or the
process dies).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def _lock_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "vmconform-locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Held:
    files: list[IO[bytes]]

    def release(self) -> None:
        for f in reversed(self.files):
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            finally:
                f.close()
        self.files.clear()


def acquire(run_id: str, *, exclusive: bool) -> Held:
    """Block until this scenario may run: shared with the others, or alone (``exclusive``)."""
    base = _lock_dir() / "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id)
    gate = open(f"{base}.gate", "ab")  # noqa: SIM115 - held until release()
    main = open(f"{base}.lock", "ab")  # noqa: SIM115
    if exclusive:
        fcntl.flock(gate.fileno(), fcntl.LOCK_EX)
        fcntl.flock(main.fileno(), fcntl.LOCK_EX)
        return Held([gate, main])
    fcntl.flock(gate.fileno(), fcntl.LOCK_SH)
    try:
        fcntl.flock(main.fileno(), fcntl.LOCK_SH)
    finally:
        fcntl.flock(gate.fileno(), fcntl.LOCK_UN)
        gate.close()
    return Held([main])


def remove(run_id: str) -> None:
    """Remove the run's lock files (the run's controller, at its end)."""
    base = _lock_dir() / "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id)
    for suffix in (".gate", ".lock"):
        try:
            os.unlink(f"{base}{suffix}")
        except OSError:
            pass
