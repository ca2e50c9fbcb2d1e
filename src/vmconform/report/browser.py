"""Look at the HTML report the way a person does: in headless Chromium.

Plain Chromium CLI, no driver: ``--dump-dom`` prints the DOM after the page's
JavaScript has run, ``--screenshot`` saves a PNG.  ``--virtual-time-budget``
lets the single-page app render without waiting in real time: Chromium
fast-forwards its timers and exits once the budget is used or the page is idle.
The Allure 3 app routes by URL hash, so ``index.html#<test result id>`` opens a
test result's page (its error message, steps, history).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

__all__ = [
    "BrowserError",
    "TreeLeaf",
    "dump_dom",
    "file_url",
    "find_chromium",
    "render_until",
    "screenshot",
    "tree_leaves",
    "visible_text",
]

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
DEFAULT_BUDGET_MS = 10_000
DEFAULT_TIMEOUT = 60.0

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
)


class BrowserError(RuntimeError):
    """Chromium is missing, failed or timed out (message is one line)."""


def find_chromium() -> str | None:
    """Path of the Chromium binary (Debian's ``chromium``), or None."""
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _chromium(extra: Iterable[str], url: str, *, timeout: float) -> str:
    binary = find_chromium()
    if binary is None:
        raise BrowserError("chromium is not installed (run .ci/install-chromium)")
    with tempfile.TemporaryDirectory(prefix="vmconform-chromium-") as profile:
        argv = [binary, *_FLAGS, f"--user-data-dir={profile}", *extra, url]
        env = dict(os.environ)
        # Keep Chromium from looking for a session bus / desktop.
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Chromium forks helpers; end its whole process group (ours alone).
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            raise BrowserError(f"chromium did not finish within {timeout:.0f} s on {url}") from None
        if proc.returncode != 0:
            last = [line for line in err.splitlines() if line.strip()]
            detail = last[-1].strip() if last else f"exit code {proc.returncode}"
            raise BrowserError(f"chromium failed on {url}: {detail}")
        return out


def file_url(path: Path, fragment: str = "") -> str:
    url = Path(path).resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


def dump_dom(url: str, *, budget_ms: int = DEFAULT_BUDGET_MS, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The rendered DOM of ``url`` after ``budget_ms`` of virtual time."""
    return _chromium([f"--virtual-time-budget={budget_ms}", "--dump-dom"], url, timeout=timeout)


def screenshot(
    url: str,
    path: Path,
    *,
    size: tuple[int, int] = (1400, 1000),
    budget_ms: int = DEFAULT_BUDGET_MS,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Save a PNG of ``url`` rendered at ``size`` to ``path``."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    _chromium(
        [
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={path}",
        ],
        url,
        timeout=timeout,
    )
    if not path.is_file():
        raise BrowserError(f"chromium wrote no screenshot to {path}")
    return path


def render_until(
    url: str,
    ready: Callable[[str], bool],
    *,
    budgets_ms: Iterable[int] = (5_000, 15_000, 45_000),
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Dump the DOM with growing virtual-time budgets until ``ready(dom)``.

    Returns the last DOM even when it never became ready, so the caller's
    assertion can show what was rendered.
    """
    dom = ""
    for budget in budgets_ms:
        dom = dump_dom(url, budget_ms=budget, timeout=timeout)
        if ready(dom):
            break
    return dom


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag in self._SKIP:
            self._skipping += 1
        else:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        else:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def visible_text(dom: str) -> str:
    """The page's text (no scripts or styles), whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(dom)
    parser.close()
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


@dataclass(frozen=True)
class TreeLeaf:
    """One test result in the Allure 3 (Awesome) results tree."""

    id: str
    title: str
    status: str


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _TreeParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.leaves: list[TreeLeaf] = []
        self._leaf: dict | None = None
        self._depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        attr = dict(attrs)
        testid = attr.get("data-testid") or ""
        if self._leaf is None:
            if testid == "tree-leaf":
                self._leaf = {"id": attr.get("id") or attr.get("data-tree-node-id") or "", "title": "", "status": ""}
                self._depth = 1
            return
        if tag not in _VOID:
            self._depth += 1
        if testid.startswith("tree-leaf-status-"):
            self._leaf["status"] = testid.removeprefix("tree-leaf-status-")
        elif testid == "tree-leaf-title":
            self._in_title = True

    def handle_startendtag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if self._leaf is not None and (attrs_testid := dict(attrs).get("data-testid") or "").startswith(
            "tree-leaf-status-"
        ):
            self._leaf["status"] = attrs_testid.removeprefix("tree-leaf-status-")

    def handle_endtag(self, tag: str) -> None:
        if self._leaf is None or tag in _VOID:
            return
        self._in_title = False
        self._depth -= 1
        if self._depth == 0:
            leaf = self._leaf
            self.leaves.append(TreeLeaf(leaf["id"], re.sub(r"\s+", " ", leaf["title"]).strip(), leaf["status"]))
            self._leaf = None

    def handle_data(self, data: str) -> None:
        if self._leaf is not None and self._in_title:
            self._leaf["title"] += data


def tree_leaves(dom: str) -> list[TreeLeaf]:
    """The test results listed in the rendered report's tree."""
    parser = _TreeParser()
    parser.feed(dom)
    parser.close()
    return parser.leaves
