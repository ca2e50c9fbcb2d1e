"""Helpers shared by ``detection_latency.py`` and ``emulator_scale.py``: percentiles, tables,
memory of a process, JSON output and the one-line usage error."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from vmconform.specs import Spec, new_vm, with_cloud_init, with_container_disk, with_masquerade_network, with_memory

IMAGE = "quay.io/kubevirt/alpine-container-disk-demo"


def usage_error(prog: str, message: str) -> NoReturn:
    """Bad input: one clear line on stderr, exit code 2 (argparse's own convention)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (p in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99, mean and max of a list of durations in seconds, as milliseconds."""
    ordered = sorted(s * 1000 for s in seconds)
    if not ordered:
        return {"n": 0}
    return {"n": len(ordered), "p50_ms": round(percentile(ordered, 50), 2),
            "p95_ms": round(percentile(ordered, 95), 2), "p99_ms": round(percentile(ordered, 99), 2),
            "mean_ms": round(sum(ordered) / len(ordered), 2), "max_ms": round(ordered[-1], 2)}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table; numbers right-aligned, floats with two decimals."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.2f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak resident) of a process, in MB, from /proc/<pid>/status."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    mem_total = math.nan
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gb": mem_total, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_at_start": [round(x, 2) for x in load]}


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def run_and_report(prog: str, json_path: Path, produce: Callable[[], dict[str, Any]],
                   show: Callable[[dict[str, Any]], None]) -> int:
    """Run a benchmark (``produce``), print its report (``show``) and write it, with the machine's load."""
    if json_path.is_dir():
        usage_error(prog, f"--json {json_path} is a directory; give a file path")
    host = machine()  # before the run: its load average is the one the run started under
    rep = produce()
    rep["machine"] = host
    show(rep)
    write_json(json_path, rep)
    print(f"wrote {json_path}")
    return 0


def bench_vm(name: str, memory: str = "64Mi") -> Spec:
    """A live-migratable VM as the scenarios create it: containerDisk, cloud-init, masquerade network."""
    return new_vm(name, with_container_disk(IMAGE), with_cloud_init(), with_masquerade_network(), with_memory(memory))
