#!/usr/bin/env python3
"""Parallel scaling: the whole suite serially and with ``-n 2``, ``-n 4``, ``-n 8`` — wall time and speed-up.

    .venv/bin/python benchmarks/parallel_scaling.py [--workers 1,2,4,8] [--timing realistic] [--seed 1]
                                                    [--emulator inprocess|subprocess]
                                                    [--json reports/benchmarks/parallel_scaling.json]

Each run is ``vmconform run --emulator-timing T --emulator-seed S [-n N] --no-html`` from a fresh
process, timed from start to exit (interpreter start-up, collection, preflight, every scenario,
cleanup and the reports; no HTML).  ``--emulator inprocess`` (default) is what a user runs: the
emulated cluster lives in the pytest process (with ``-n``, in the xdist controller, shared by the
workers); ``subprocess`` runs ``vmconform emulator`` in a child process and gives the suite
``--kubeconfig`` instead.  Every run uses the same seed, so the sampled step durations have the
same distribution (with ``-n`` they are drawn in a different order).

Besides the speed-up over the serial run, the table shows the bound that scheduling allows: no
run can be shorter than its longest scenario, nor than (Σ scenario times) / N, plus what the run
spends outside scenarios — taken from the serial run's own per-scenario times (junit.xml) — and
"idle at end": how long the first worker to run out of scenarios waited for the last one (the
JSON has each worker's schedule).  ``--dist`` passes a pytest-xdist distribution mode through.
Target: ``-n 4`` at least 3× faster than serial.  Exits 0 when every run was conformant (whether
the target was met is printed), 1 otherwise, 2 when it could not measure.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from _suite_runs import (OUT_DIR, BenchError, SubprocessEmulator, SuiteRun, machine, main_guard, parse_workers,
                         run_suite, table, write_json)

TARGET_WORKERS, TARGET_SPEEDUP = 4, 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts; 1 = serial (default 1,2,4,8)")
    p.add_argument("--timing", choices=("fast", "realistic"), default="realistic", help="emulator timing profile")
    p.add_argument("--seed", type=int, default=1, help="emulator jitter seed (default 1)")
    p.add_argument("--emulator", choices=("inprocess", "subprocess"), default="inprocess",
                   help="where the emulated cluster runs (default inprocess, as `vmconform run`)")
    p.add_argument("--dist", choices=("default", "load", "worksteal", "loadfile", "loadscope"), default="default",
                   help="pytest-xdist distribution mode passed to the -n runs (default: what vmconform run uses)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR", help="only scenarios matching EXPR")
    p.add_argument("--json", type=Path, default=OUT_DIR / "parallel_scaling.json", help="where to write the JSON")
    p.add_argument("--report-dir", type=Path, default=OUT_DIR / "runs" / "parallel_scaling",
                   help="parent of each run's report directory (kept for inspection)")
    args = p.parse_args(argv)
    try:
        args.worker_list = parse_workers(args.workers)
    except BenchError as exc:
        p.error(str(exc))
    return args


def scenario_times(report_dir: Path) -> list[float]:
    junit = report_dir / "junit.xml"
    if not junit.is_file():
        return []
    return [float(c.get("time", "0") or 0) for c in ET.parse(junit).getroot().iter("testcase")]


def worker_schedule(report_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Which scenarios each worker ran, when (seconds from the first scenario's start; Allure results)."""
    results = [json.loads(p.read_text()) for p in (report_dir / "allure-results").glob("*-result.json")]
    if not results:
        return {}
    t0 = min(r["start"] for r in results)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(results, key=lambda r: r["start"]):
        thread = next((lab["value"] for lab in r.get("labels", []) if lab.get("name") == "thread"), "?")
        out.setdefault(thread.split("-")[0], []).append(
            {"scenario": r["name"], "start": round((r["start"] - t0) / 1000, 2), "stop": round((r["stop"] - t0) / 1000, 2)})
    return out


def imbalance(schedule: dict[str, list[dict[str, Any]]]) -> float | None:
    """Last worker's finish minus first worker's finish: how long some workers sat idle at the end."""
    ends = [runs[-1]["stop"] for runs in schedule.values() if runs]
    return max(ends) - min(ends) if len(ends) > 1 else None


def one(args: argparse.Namespace, workers: int) -> SuiteRun:
    report = args.report_dir / f"n{workers}"
    extra = ["--", "--dist", args.dist] if workers > 1 and args.dist != "default" else []
    if args.emulator == "subprocess":
        with SubprocessEmulator(args.timing, args.seed) as emu:
            return run_suite(report, timing=args.timing, workers=workers, kubeconfig=emu.kubeconfig,
                             select=args.select, extra=extra)
    return run_suite(report, timing=args.timing, seed=args.seed, workers=workers, select=args.select, extra=extra)


def run(args: argparse.Namespace) -> int:
    load_before = machine()
    print(f"parallel_scaling: {args.timing} profile, seed {args.seed}, emulator {args.emulator}, workers "
          f"{args.worker_list}, xdist --dist {args.dist} (load {load_before['load_1_5_15']}, {load_before['cpus']} CPUs) …", flush=True)
    runs: list[tuple[int, SuiteRun, dict[str, Any]]] = []
    for n in args.worker_list:
        r = one(args, n)
        if r.verdict == "<no summary>":
            raise BenchError(f"the run with {n} worker(s) wrote no summary (exit {r.exit_code}): {r.tail}")
        times = scenario_times(r.report_dir)
        schedule = worker_schedule(r.report_dir)
        print(f"  {n} worker(s): {r.seconds:.1f} s, verdict {r.verdict} (load {machine()['load_1_5_15']})", flush=True)
        runs.append((n, r, {"scenario_seconds": times, "load_after": machine()["load_1_5_15"],
                            "worker_schedule": schedule, "idle_at_end_seconds": imbalance(schedule)}))
    base = next((r for n, r, _ in runs if n == 1), None)
    serial_times = next((m["scenario_seconds"] for n, _, m in runs if n == 1), None)
    rows, out = [], []
    for n, r, meta in runs:
        speedup = base.seconds / r.seconds if base is not None else None
        bound = None
        if serial_times and base is not None:
            outside = base.seconds - sum(serial_times)
            bound = max(max(serial_times), sum(serial_times) / n) + outside
        rows.append([str(n) if n > 1 else "1 (serial)", r.seconds, speedup if speedup is not None else "-",
                     bound if bound is not None else "-",
                     (base.seconds / bound) if (bound and base is not None) else "-",
                     meta["idle_at_end_seconds"] if meta["idle_at_end_seconds"] is not None else "-",
                     r.verdict, sum(r.counts.values()) if r.counts else 0])
        out.append({"workers": n, **r.as_dict(), "speedup": speedup, "bound_seconds": bound, **meta})
    print(table(["workers", "wall s", "speed-up", "bound s", "max speed-up", "idle at end s", "verdict", "scenarios"],
                rows))
    target = next((o for o in out if o["workers"] == TARGET_WORKERS), None)
    met = None
    if target is not None and target["speedup"] is not None:
        met = target["speedup"] >= TARGET_SPEEDUP
        print(f"\ntarget: -n {TARGET_WORKERS} at least {TARGET_SPEEDUP:.0f}× faster than serial: "
              f"{target['speedup']:.2f}× — {'MET' if met else 'NOT MET'}")
    if serial_times:
        print(f"serial run: Σ scenarios {sum(serial_times):.1f} s, longest {max(serial_times):.1f} s, "
              f"outside the scenarios {base.seconds - sum(serial_times):.1f} s" if base else "")
    load_after = machine()
    print(f"load average before {load_before['load_1_5_15']}, after {load_after['load_1_5_15']}")
    doc = {"benchmark": "parallel_scaling", "timing": args.timing, "seed": args.seed, "emulator": args.emulator,
           "dist": args.dist,
           "machine": {"before": load_before, "after": load_after}, "target": {
               "workers": TARGET_WORKERS, "speedup": TARGET_SPEEDUP, "met": met}, "runs": out}
    write_json(args.json, doc)
    print(f"JSON: {args.json}")
    return 0 if all(r.verdict == "conformant" for _, r, _ in runs) else 1


def main(argv: list[str] | None = None) -> int:
    return main_guard("parallel_scaling", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
