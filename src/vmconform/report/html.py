"""Build the single-file Allure 3 HTML report from raw Allure results.

The Allure 3 CLI is an npm package pinned in the project's ``package.json`` /
``package-lock.json``; it is installed with ``npm ci`` on first use.  The report
is the Awesome plugin's single-file variant, so ``<report_dir>/index.html``
opens straight from disk (``file://``) without a web server.  History is kept
in ``<report_dir>/history.jsonl`` (Allure 3's ``historyPath``): every build
appends one entry and embeds the history in the page, which is what the
report's per-test history, transitions (new / fixed / regressed) and trend
charts are computed from.

Nothing here raises for an expected failure (no node, npm or Allure error):
the outcome and a one-line message are returned in :class:`BuildResult`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ALLURE_PACKAGE", "BuildResult", "build_html", "allure_command"]

ALLURE_PACKAGE = "allure"
HISTORY_FILE = "history.jsonl"
DEFAULT_HISTORY_LIMIT = 30
NPM_CI_TIMEOUT = 600.0
GENERATE_TIMEOUT = 180.0

Status = Literal["built", "node-missing", "no-results", "failed"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(frozen=True)
class BuildResult:
    """Outcome of :func:`build_html`.

    ``status`` is ``"built"`` (``index`` is the HTML file), ``"node-missing"``
    (node or npm not on PATH; the raw results are untouched), ``"no-results"``
    (nothing to report) or ``"failed"`` (npm or Allure failed).  ``message`` is
    always a single line suitable for printing as is.
    """

    status: Status
    message: str
    index: Path | None = None
    history: Path | None = None
    allure_version: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "built"


def _display(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (or the cwd) when it is inside it."""
    path = Path(path)
    for root in (base, Path.cwd()):
        try:
            return str(path.resolve().relative_to(Path(root).resolve()))
        except ValueError:
            continue
    return str(path)


def _one_line(text: str, limit: int = 300) -> str:
    """The most telling line of a tool's output: no colours, no stack traces."""
    lines = [_ANSI.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("at ")]
    if not lines:
        return ""
    npm = [line[len("npm error") :].strip() for line in lines if line.lower().startswith("npm error")]
    npm = [line for line in npm if line and not line.startswith("A complete log")]
    if npm:
        code = next((line for line in npm if line.startswith("code ")), None)
        what = next((line for line in npm if not line.startswith(("code ", "errno "))), None)
        pick = ": ".join(part for part in (code, what) if part)
    else:
        pick = next((line for line in lines if re.search(r"\berr(or)?\b", line, re.I)), lines[-1])
    return pick if len(pick) <= limit else pick[: limit - 1] + "…"


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "NO_COLOR": "1",
            "FORCE_COLOR": "0",
            "NO_UPDATE_NOTIFIER": "1",
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
        }
    )
    return env


def _run(argv: list[str], cwd: Path, timeout: float) -> tuple[int, str]:
    """Run a tool, returning (exit code, combined output); never raises."""
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=_tool_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return 124, f"{Path(argv[0]).name} timed out after {timeout:.0f} s"
    except OSError as exc:
        return 127, f"cannot run {argv[0]}: {exc.strerror or exc}"
    return proc.returncode, proc.stdout or ""


def _locked_version(project_root: Path) -> str | None:
    try:
        lock = json.loads((project_root / "package-lock.json").read_text())
        return lock["packages"][f"node_modules/{ALLURE_PACKAGE}"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _installed_version(project_root: Path) -> str | None:
    try:
        meta = json.loads((project_root / "node_modules" / ALLURE_PACKAGE / "package.json").read_text())
        return meta.get("version")
    except (OSError, ValueError, AttributeError):
        return None


def _cli_js(project_root: Path) -> Path:
    return project_root / "node_modules" / ALLURE_PACKAGE / "cli.js"


def allure_command(
    node: str,
    project_root: Path,
    results_dir: Path,
    report_dir: Path,
    config: Path,
) -> list[str]:
    """The ``allure generate`` argv (equivalent to ``npx allure generate ...``)."""
    return [
        node,
        str(_cli_js(project_root)),
        "generate",
        "--config",
        str(config),
        "--output",
        str(report_dir),
        str(results_dir),
    ]


def _allure_config(name: str, report_dir: Path, history_limit: int | None) -> dict:
    config: dict = {
        "name": name,
        "output": str(report_dir),
        "historyPath": str(report_dir / HISTORY_FILE),
        "plugins": {
            # Only the Awesome report plugin, so Allure 3.18 writes the page at
            # <output>/index.html (several report plugins get <output>/<id>/).
            "awesome": {
                "options": {
                    "singleFile": True,
                    "reportName": name,
                    "reportLanguage": "en",
                    # the tree opens on the lab's sections ("2.1 VM control", "2.2 Live migration"),
                    # each holding its scenarios (src/vmconform/reporting.py labels them)
                    "groupBy": ["feature"],
                }
            }
        },
    }
    if history_limit:
        config["historyLimit"] = int(history_limit)
    return config


def cluster_label(cluster: dict) -> str:
    """How a report names the cluster it judged: "emulated cluster", "kind cluster" or the API server."""
    backend = cluster.get("backend", "")
    if backend == "emulated":
        return "emulated cluster"
    if backend == "kind":
        return "kind cluster"
    return str(cluster.get("host") or cluster.get("context") or "real cluster")


def report_title(summary: dict | None) -> str:
    """The Allure report's title: "vmconform — <verdict> — <cluster>" (just "vmconform" without a summary)."""
    if not summary or not summary.get("verdict"):
        return "vmconform"
    return f"vmconform — {summary['verdict']} — {cluster_label(summary.get('cluster') or {})}"


def _summary_beside(results_dir: Path) -> dict | None:
    """The run's summary.json, which ``vmconform run`` writes next to allure-results/."""
    try:
        return json.loads((results_dir.parent / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def _has_results(results_dir: Path) -> bool:
    try:
        return any(results_dir.glob("*-result.json"))
    except OSError:
        return False


def build_html(
    results_dir: Path,
    report_dir: Path,
    *,
    project_root: Path,
    name: str | None = None,
    history_limit: int | None = DEFAULT_HISTORY_LIMIT,
) -> BuildResult:
    """Build ``report_dir/index.html`` (single file) from ``results_dir``.

    Installs the pinned Allure CLI with ``npm ci`` in ``project_root`` when it
    is missing or differs from the lockfile.  Keeps ``report_dir/history.jsonl``
    between builds (at most ``history_limit`` runs) so the report shows trends.
    Never raises for tool failures; see :class:`BuildResult`.  ``name`` (the report's title) defaults to
    :func:`report_title` of the run's ``summary.json`` beside ``results_dir``.
    """
    project_root = Path(project_root).resolve()
    results_dir = Path(results_dir).resolve()
    if name is None:
        name = report_title(_summary_beside(results_dir))
    report_dir = Path(report_dir).resolve()
    raw = _display(results_dir, project_root)

    if not _has_results(results_dir):
        return BuildResult("no-results", f"no Allure results in {raw}: nothing to build a report from")

    node = shutil.which("node")
    if node is None:
        return BuildResult(
            "node-missing",
            f"node is not installed: raw Allure results are in {raw}; install Node.js to build the HTML report",
        )

    locked = _locked_version(project_root)
    if locked is None:
        return BuildResult(
            "failed",
            f"cannot build the HTML report: {_display(project_root / 'package-lock.json', project_root)} "
            f"is missing or does not pin {ALLURE_PACKAGE}; raw Allure results are in {raw}",
        )

    if _installed_version(project_root) != locked or not _cli_js(project_root).is_file():
        npm = shutil.which("npm")
        if npm is None:
            return BuildResult(
                "node-missing",
                f"npm is not installed: raw Allure results are in {raw}; install npm to build the HTML report",
            )
        code, out = _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], project_root, NPM_CI_TIMEOUT)
        if code != 0 or not _cli_js(project_root).is_file():
            detail = _one_line(out) or f"exit code {code}"
            return BuildResult(
                "failed",
                f"npm ci failed ({detail}); raw Allure results are in {raw}",
            )

    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return BuildResult("failed", f"cannot create {_display(report_dir, project_root)}: {exc.strerror or exc}")

    index = report_dir / "index.html"
    with tempfile.TemporaryDirectory(prefix="vmconform-allurerc-") as tmp:
        config = Path(tmp) / "allurerc.json"
        settings = _allure_config(name, report_dir, history_limit)
        categories = results_dir / "categories.json"
        if categories.is_file():  # written by the suite: violated / infrastructure / suite defect / not verified
            try:
                settings["categories"] = json.loads(categories.read_text())
            except ValueError:
                pass
        config.write_text(json.dumps(settings, indent=2))
        code, out = _run(allure_command(node, project_root, results_dir, report_dir, config), project_root, GENERATE_TIMEOUT)

    if code != 0 or not index.is_file():
        detail = _one_line(out) or (f"exit code {code}" if code else "it wrote no index.html")
        return BuildResult("failed", f"allure generate failed ({detail}); raw Allure results are in {raw}")

    history = report_dir / HISTORY_FILE
    return BuildResult(
        "built",
        f"HTML report: {_display(index, project_root)}",
        index=index,
        history=history if history.is_file() else None,
        allure_version=locked,
    )
