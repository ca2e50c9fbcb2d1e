"""Many clusters in one run: ``vmconform run --kubeconfig A --kubeconfig B`` (or one kubeconfig and
several ``--context``) runs each cluster in a process of its own, at the same time, each into its own
report directory (``<report-dir>/<cluster>/``), then writes a fleet summary — behaviour × cluster — to
``<report-dir>/summary.md``, ``summary.json`` (schema ``vmconform.fleet/v1``) and the terminal, and
exits with the worst cluster's exit code.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import verdict

SCHEMA = "vmconform.fleet/v1"
# exit codes from best to worst; anything unknown (a signal's 128+N) is worse than all of them
SEVERITY = (0, 2, 1, 3, 5, 4, 6)
_STRIP = ("--kubeconfig", "--context", "--report-dir")


class Many(argparse.Action):
    """``--kubeconfig``/``--context`` given more than once: every value in ``<dest>_all``, the last in ``dest``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        every = list(getattr(namespace, self.dest + "_all", None) or [])
        every.append(values)
        setattr(namespace, self.dest + "_all", every)
        setattr(namespace, self.dest, values)


@dataclass
class Target:
    name: str
    kubeconfig: str
    context: str | None
    report_dir: Path = field(default_factory=Path)
    exit_code: int | None = None
    summary: dict[str, Any] | None = None
    last_line: str = ""


def wanted(args: argparse.Namespace) -> bool:
    return len(getattr(args, "kubeconfig_all", None) or []) > 1 or len(getattr(args, "context_all", None) or []) > 1


def targets(args: argparse.Namespace) -> tuple[list[Target], str | None]:
    """The clusters the options name, or a one-line problem."""
    configs = list(getattr(args, "kubeconfig_all", None) or [])
    contexts = list(getattr(args, "context_all", None) or [])
    if not configs:
        return [], "several --context values need --kubeconfig"
    if len(configs) == 1:
        pairs = [(configs[0], c) for c in contexts]
    elif not contexts:
        pairs = [(k, None) for k in configs]
    elif len(contexts) == len(configs):
        pairs = list(zip(configs, contexts))
    else:
        return [], (f"{len(configs)} --kubeconfig and {len(contexts)} --context values: give one kubeconfig with "
                    "several contexts, several kubeconfigs, or one context per kubeconfig")
    out: list[Target] = []
    seen: set[str] = set()
    for kubeconfig, context in pairs:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", context or Path(kubeconfig).stem).strip("-") or "cluster"
        name, n = base, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        out.append(Target(name, kubeconfig, context))
    return out, None


def child_argv(argv: list[str]) -> list[str]:
    """The run's own options without the cluster and report-dir ones (given per cluster)."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--":
            out += argv[i:]
            break
        if arg in _STRIP:
            skip = True
            continue
        if any(arg.startswith(opt + "=") for opt in _STRIP):
            continue
        out.append(arg)
    return out


def rank(code: int | None) -> int:
    if code is None:
        return len(SEVERITY) + 1
    return SEVERITY.index(code) if code in SEVERITY else len(SEVERITY)


def run(args: argparse.Namespace, argv: list[str], report_dir: Path) -> int:
    """Run every target, write the fleet summary, return the worst exit code."""
    found, _ = targets(args)
    base = [sys.executable, "-m", "vmconform", *child_argv(argv)]
    procs: list[tuple[Target, subprocess.Popen[bytes]]] = []
    started = time.monotonic()
    for t in found:
        t.report_dir = report_dir / t.name
        t.report_dir.mkdir(parents=True, exist_ok=True)
        cmd = [*base, "--kubeconfig", t.kubeconfig, "--report-dir", str(t.report_dir)]
        if t.context:
            cmd += ["--context", t.context]
        log = (t.report_dir / "run.log").open("wb")
        procs.append((t, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
        log.close()
    print(f"vmconform: fleet of {len(found)} clusters: " + ", ".join(t.name for t in found)
          + f"; each cluster's output in {report_dir}/<cluster>/run.log", flush=True)

    def forward(signum: int, _frame: Any) -> None:
        # SIGTERM/SIGHUP sent to this process only (how CI cancels): each run cleans up as on its own
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for t, proc in procs:
            t.exit_code = _wait(proc)
            _read(t)
            print(f"vmconform: {t.name}: {describe(t)}", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    doc = fleet_summary(found, time.monotonic() - started)
    (report_dir / "summary.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    table = markdown(doc)
    (report_dir / "summary.md").write_text(table)
    print(table, end="", flush=True)
    print(f"vmconform: fleet verdict {doc['verdict']} (worst exit code {doc['exit_code']}); "
          f"summary {report_dir / 'summary.md'}", flush=True)
    return int(doc["exit_code"])


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """The child's exit code; Ctrl-C reaches the children too (one process group): keep waiting for them."""
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue


def _read(t: Target) -> None:
    path = t.report_dir / "summary.json"
    try:
        t.summary = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        t.summary = None
    try:
        lines = [ln for ln in (t.report_dir / "run.log").read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    t.last_line = next((ln for ln in reversed(lines) if ln.startswith("vmconform:")), lines[-1] if lines else "")


def describe(t: Target) -> str:
    if t.summary is not None:
        return f"verdict {t.summary.get('verdict')} (exit {t.exit_code})"
    return f"no verdict (exit {t.exit_code}): {t.last_line.removeprefix('vmconform: ')}"


def fleet_summary(found: list[Target], seconds: float) -> dict[str, Any]:
    worst = max(found, key=lambda t: rank(t.exit_code))
    behaviours: dict[str, dict[str, Any]] = {}
    for t in found:
        for b in (t.summary or {}).get("behaviours", []):
            row = behaviours.setdefault(b["id"], {"id": b["id"], "title": b.get("title", b["id"]),
                                                  "lab_section": b.get("lab_section", ""), "clusters": {}})
            row["clusters"][t.name] = {"status": b.get("status"), "reason": b.get("reason", "")}
    clusters = [{"name": t.name, "kubeconfig": t.kubeconfig, "context": t.context, "exit_code": t.exit_code,
                 "verdict": (t.summary or {}).get("verdict"), "report_dir": str(t.report_dir),
                 **({} if t.summary is not None else {"problem": t.last_line.removeprefix("vmconform: ")})}
                for t in found]
    worst_verdict = (worst.summary or {}).get("verdict") if worst.summary is not None else "uncheckable"
    if all(t.exit_code == 0 for t in found):
        worst_verdict = verdict.CONFORMANT
    return {"schema": SCHEMA, "verdict": worst_verdict, "exit_code": worst.exit_code, "worst_cluster": worst.name,
            "duration_seconds": round(seconds, 1), "clusters": clusters,
            "behaviours": sorted(behaviours.values(), key=lambda r: (r["lab_section"], r["title"]))}


def markdown(doc: dict[str, Any]) -> str:
    names = [c["name"] for c in doc["clusters"]]
    lines = ["# vmconform fleet summary", "",
             f"Verdict: **{doc['verdict']}** (worst exit code {doc['exit_code']}, cluster {doc['worst_cluster']})", "",
             "| cluster | verdict | exit code | reports |", "| --- | --- | --- | --- |"]
    for c in doc["clusters"]:
        shown = c["verdict"] or f"no verdict: {c.get('problem', '')}"
        lines.append(f"| {c['name']} | {shown} | {c['exit_code']} | {c['report_dir']} |")
    lines += ["", "| lab | behaviour | " + " | ".join(names) + " |", "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
    for b in doc["behaviours"]:
        cells = [b["clusters"].get(n, {}).get("status") or "–" for n in names]
        lines.append(f"| {b['lab_section']} | {b['title']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
