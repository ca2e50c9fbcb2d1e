"""Shared by suite_overhead.py, api_load.py and parallel_scaling.py: run the suite, read what it wrote.

* :class:`SubprocessEmulator` — ``vmconform emulator`` in a child process (its own interpreter, so
  the suite and the cluster do not share a GIL, like a real cluster), with its metrics fetched
  from ``GET /debug/vmconform/metrics``.
* :func:`run_suite` — one ``vmconform run`` in a child process, timed.
* :func:`scenarios` — each scenario of a finished run: title, pytest time (junit.xml), call phase
  and Gherkin steps with their times (Allure results), and its namespace in the emulator's metrics.
* :func:`union`, :func:`subtract` — interval arithmetic for "cluster busy time".
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "reports" / "benchmarks"
METRICS_PATH = "/debug/vmconform/metrics"
SCENARIO_LABEL = "vmconform.io/scenario"
Interval = tuple[float, float]


class BenchError(Exception):
    """A benchmark cannot go on; main() prints it as one line and exits 2."""


def main_guard(name: str, fn: Any) -> int:
    try:
        return int(fn())
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


def parse_workers(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BenchError(f"--workers must be a comma-separated list of positive integers, not {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise BenchError(f"--workers must be a comma-separated list of positive integers, not {text!r}")
    return values


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def machine() -> dict[str, Any]:
    """Load conditions to print beside the figures (the machine may be shared)."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {"cpus": os.cpu_count(), "load_1_5_15": [round(x, 2) for x in load], "python": sys.version.split()[0],
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    text = [[fmt(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in text:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


# ---------------------------------------------------------------- intervals

def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping intervals (sorted, disjoint result)."""
    out: list[list[float]] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def length(intervals: Iterable[Interval]) -> float:
    return sum(b - a for a, b in union(intervals))


def subtract(intervals: Iterable[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` minus ``holes`` (both merged first)."""
    out: list[Interval] = []
    hs = union(holes)
    for a, b in union(intervals):
        cur = a
        for h0, h1 in hs:
            if h1 <= cur or h0 >= b:
                continue
            if h0 > cur:
                out.append((cur, h0))
            cur = max(cur, h1)
        if cur < b:
            out.append((cur, b))
    return out


# ---------------------------------------------------------------- the cluster

class SubprocessEmulator:
    """``with SubprocessEmulator("realistic", seed=1) as emu: ...; emu.metrics()``."""

    def __init__(self, timing: str, seed: int | None = None, nodes: int = 2, ready_timeout: float = 60.0) -> None:
        self.timing, self.seed, self.nodes, self.ready_timeout = timing, seed, nodes, ready_timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="vmconform-bench-")
        self.kubeconfig = Path(self._tmp.name) / "kubeconfig"
        self.proc: subprocess.Popen[str] | None = None
        self._server = self._token = ""
        self._ca = Path(self._tmp.name) / "ca.pem"

    def __enter__(self) -> "SubprocessEmulator":
        cmd = [sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(self.kubeconfig),
               "--timing", self.timing, "--nodes", str(self.nodes)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                self.__exit__()
                raise BenchError(f"the emulator did not get ready within {self.ready_timeout:.0f} s") from None
            if line is None:
                self.__exit__()
                raise BenchError("the emulator exited before it was ready: " + " | ".join(seen[-3:]))
            seen.append(line.strip())
            if "ready at" in line:
                break
        self._read_kubeconfig()
        return self

    def _read_kubeconfig(self) -> None:
        import base64

        import yaml

        cfg = yaml.safe_load(self.kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self._server = cluster["server"]
        self._ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        self._token = cfg["users"][0]["user"]["token"]

    def metrics(self, transitions: bool = True) -> dict[str, Any]:
        import requests

        try:
            resp = requests.get(self._server + METRICS_PATH, params={"transitions": "1" if transitions else "0"},
                                headers={"Authorization": f"Bearer {self._token}"}, verify=str(self._ca), timeout=30)
        except requests.RequestException as exc:
            raise BenchError(f"cannot fetch the emulator's metrics: {exc}") from None
        if resp.status_code != 200:
            raise BenchError(f"the emulator's metrics endpoint answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._tmp.cleanup()


# ---------------------------------------------------------------- the suite

@dataclass
class SuiteRun:
    command: list[str]
    exit_code: int
    seconds: float
    report_dir: Path
    verdict: str = "<no summary>"
    counts: dict[str, int] = field(default_factory=dict)
    tail: str = ""
    cluster: dict[str, Any] = field(default_factory=dict)  # summary.json's "cluster" (facts, preflight_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {"command": " ".join(self.command), "exit_code": self.exit_code, "seconds": round(self.seconds, 2),
                "verdict": self.verdict, "counts": self.counts, "report_dir": str(self.report_dir)}


def run_suite(report_dir: Path, *, timing: str, seed: int | None = None, workers: int = 1,
              kubeconfig: Path | None = None, select: str | None = None, extra: Sequence[str] = ()) -> SuiteRun:
    """``vmconform run`` in a child process (in-process emulator unless ``kubeconfig``), timed."""
    report_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(report_dir)]
    if kubeconfig is not None:  # always the benchmark's own emulator: the drain scenario may cordon its nodes
        cmd += ["--kubeconfig", str(kubeconfig), "--allow-disruptive"]
    else:
        cmd += ["--emulator-timing", timing]
        if seed is not None:
            cmd += ["--emulator-seed", str(seed)]
    if workers > 1:
        cmd += ["-n", str(workers)]
    if select:
        cmd += ["-k", select]
    cmd += list(extra)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    run = SuiteRun(cmd, proc.returncode, time.monotonic() - started, report_dir)
    summary = report_dir / "summary.json"
    if summary.is_file():
        doc = json.loads(summary.read_text())
        run.verdict, run.counts = doc.get("verdict", "<none>"), dict(doc.get("counts") or {})
        run.cluster = dict(doc.get("cluster") or {})
    run.tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return run


@dataclass
class Step:
    name: str
    start: float  # wall clock, seconds
    stop: float


@dataclass
class Scenario:
    title: str
    status: str
    python_name: str
    start: float  # call phase, wall clock seconds
    stop: float
    steps: list[Step]
    pytest_seconds: float | None = None  # setup + call + teardown (junit.xml)
    namespace: str | None = None


def python_name(title: str) -> str:
    """The test function pytest-bdd makes for a scenario title (its own rule, imported)."""
    from pytest_bdd.scenario import make_python_name

    return "test_" + make_python_name(title)


def slug(text: str, limit: int) -> str:
    from vmconform.labels import slug as _slug

    return _slug(text, limit)


def scenarios(report_dir: Path, metrics: dict[str, Any] | None = None) -> list[Scenario]:
    results = sorted((report_dir / "allure-results").glob("*-result.json"))
    if not results:
        raise BenchError(f"no Allure results in {report_dir / 'allure-results'}")
    junit: dict[str, float] = {}
    junit_file = report_dir / "junit.xml"
    if junit_file.is_file():
        for case in ET.parse(junit_file).getroot().iter("testcase"):
            junit[case.get("name", "")] = float(case.get("time", "0") or 0)
    out: list[Scenario] = []
    for path in results:
        doc = json.loads(path.read_text())
        if "start" not in doc or "stop" not in doc:  # a page, not a scenario (the run's "Lab coverage")
            continue
        steps = [Step(s["name"], s["start"] / 1000, s["stop"] / 1000) for s in doc.get("steps", [])
                 if "start" in s and "stop" in s]
        name = python_name(doc["name"])
        out.append(Scenario(doc["name"], doc.get("status", "?"), name, doc["start"] / 1000, doc["stop"] / 1000,
                            steps, junit.get(name)))
    if metrics is not None:
        attach_namespaces(out, metrics)
    return sorted(out, key=lambda s: s.start)


def to_wall(metrics: dict[str, Any], mono: float) -> float:
    clock = metrics["clock"]
    return float(clock["wall"]) + (mono - float(clock["monotonic"]))


def attach_namespaces(items: list[Scenario], metrics: dict[str, Any]) -> None:
    """Each scenario's namespace: by the scenario label the suite puts on it, else by time (the
    namespace whose life contains the scenario's call phase)."""
    spaces = metrics.get("namespaces", {})
    by_label: dict[str, list[str]] = {}
    for ns, life in spaces.items():
        value = (life.get("labels") or {}).get(SCENARIO_LABEL)
        if value:
            by_label.setdefault(value, []).append(ns)
    for sc in items:
        want = slug(sc.python_name.removeprefix("test_"), 60)
        candidates = by_label.get(want, [])
        if len(candidates) != 1:
            candidates = [ns for ns, life in spaces.items() if life.get("created") is not None
                          and to_wall(metrics, life["created"]) <= sc.start
                          and (life.get("deleted") is None or to_wall(metrics, life["deleted"]) >= sc.stop)
                          and (life.get("labels") or {}).get(SCENARIO_LABEL)]
        if len(candidates) == 1:
            sc.namespace = candidates[0]


def transitions_of(metrics: dict[str, Any], namespace: str, exclude_steps: Iterable[str] = ()) -> list[dict[str, Any]]:
    skip = set(exclude_steps)
    return [t for t in metrics.get("transitions", []) if t["namespace"] == namespace and t["step"] not in skip]


def observation_windows(sc: Scenario, pattern: str) -> list[Step]:
    rx = re.compile(pattern)
    return [s for s in sc.steps if rx.search(s.name)]
