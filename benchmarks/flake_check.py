#!/usr/bin/env python3
"""Flake check: run the whole suite N times against the emulated cluster and compare the verdicts.

    python benchmarks/flake_check.py [--runs 20] [--timing fast|realistic|adversarial[,...]]
                                     [--kubevirt-version V[,V...]] [--seed-base 1]
                                     [-n 4] [--jobs 1] [--fault NAME ...] [--expect conformant]
                                     [--json out.json] [--keep-reports DIR]

``--timing`` and ``--kubevirt-version`` take comma-separated lists: the check then runs ``--runs``
seeds in every cell of timing × version (the matrix of issue 14: e.g. ``--timing
realistic,adversarial --kubevirt-version v1.4.0,v1.9.0 --runs 10`` is 40 runs).  Results are
compared within a cell (the same cluster must give the same verdict whatever the seed); with
``--expect VERDICT`` every run of every cell must also end with that verdict.

Every run is ``vmconform run --emulator-timing T --emulator-seed S -n N --no-html`` with its own
seed (``--seed-base``, ``--seed-base + 1``, …), so each run samples different step durations
(the emulator's jitter) and, with ``-n``, a different interleaving of the scenarios.  ``fast``
(default) keeps every transition in tens of milliseconds (a run takes ~15 s); ``realistic`` uses
seconds per transition, with jitter, as KubeVirt on a small cluster shows (much slower).
``--jobs J`` runs J suites at a time (extra load, a harsher check); ``--fault NAME`` checks that
a fault profile is caught the same way every time.

Prints one line per run and a summary: how many runs gave the most common verdict, and every
behaviour whose status differed between runs (with how often, and one reason).  Exits 0 when all
runs gave identical results (the verdict and every behaviour's status), 1 when they differed,
2 when a run produced no summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    index: int
    seed: int
    exit_code: int
    timing: str
    version: str
    seconds: float
    verdict: str = "<no summary>"
    statuses: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.verdict, tuple(sorted(self.statuses.items()))


def run_once(index: int, seed: int, timing: str, version: str, args: argparse.Namespace, reports: Path) -> Run:
    report = reports / f"run-{index:03d}-{timing}-{version or 'default'}-seed-{seed}"
    cmd = [sys.executable, "-m", "vmconform", "run", "--emulator-timing", timing, "--emulator-seed", str(seed),
           "-n", str(args.n), "--no-html", "--report-dir", str(report)]
    if version:
        cmd += ["--kubevirt-version", version]
    for fault in args.fault:
        cmd += ["--emulator-fault", fault]
    if args.timeout_scale:
        cmd += ["--timeout-scale", args.timeout_scale]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    run = Run(index, seed, proc.returncode, timing, version, round(time.monotonic() - started, 1))
    summary_file = report / "summary.json"
    if summary_file.is_file():
        summary: dict[str, Any] = json.loads(summary_file.read_text())
        run.verdict = summary.get("verdict", "<none>")
        for b in summary.get("behaviours", []):
            run.statuses[b["id"]] = b["status"]
            if b.get("reason"):
                run.reasons[b["id"]] = b["reason"].splitlines()[0][:200]
    else:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        run.reasons["<run>"] = " | ".join(tail)
    return run


def report_line(run: Run) -> str:
    odd = {i: s for i, s in run.statuses.items() if s != "verified"}
    extra = ", ".join(f"{i}={s}" for i, s in sorted(odd.items())) or "all verified"
    cell = f"{run.timing}/{run.version or 'default'}"
    return (f"run {run.index:3d}  {cell:<20} seed {run.seed:<6d} exit {run.exit_code}  {run.seconds:6.1f} s  "
            f"{run.verdict:<15} {extra}")


def differences(runs: list[Run]) -> dict[str, Counter[str]]:
    """Behaviour id → how often each status was seen, for behaviours whose status differed."""
    ids = sorted({i for r in runs for i in r.statuses})
    out: dict[str, Counter[str]] = {}
    for bid in ids:
        seen = Counter(r.statuses.get(bid, "<missing>") for r in runs)
        if len(seen) > 1:
            out[bid] = seen
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20, help="how many suite runs (default 20)")
    p.add_argument("--timing", default="fast",
                   help="emulated cluster timing profile(s), comma-separated: fast, realistic, adversarial "
                        "(default fast; realistic and adversarial are much slower)")
    p.add_argument("--kubevirt-version", default="",
                   help="emulated KubeVirt release(s), comma-separated (default: the emulator's default)")
    p.add_argument("--expect", default=None, metavar="VERDICT",
                   help="every run must end with this verdict (e.g. conformant); exit 1 otherwise")
    p.add_argument("--seed-base", type=int, default=1, help="seed of the first run; run i uses seed-base + i")
    p.add_argument("-n", type=int, default=4, help="pytest-xdist workers per suite run (default 4)")
    p.add_argument("--jobs", type=int, default=1, help="suite runs at a time (default 1)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME", help="play a fault profile (repeatable)")
    p.add_argument("--timeout-scale", default=None, help="passed on to vmconform run")
    p.add_argument("--json", type=Path, default=None, help="write the runs and the result as JSON here")
    p.add_argument("--keep-reports", type=Path, default=None, help="keep every run's report dir under this dir")
    args = p.parse_args(argv)
    if args.runs < 1 or args.jobs < 1 or args.n < 0:
        p.error("--runs and --jobs must be at least 1, -n at least 0")
    timings = [t.strip() for t in args.timing.split(",") if t.strip()]
    bad = [t for t in timings if t not in ("fast", "realistic", "adversarial")]
    if not timings or bad:
        p.error(f"--timing must list fast, realistic or adversarial, not {args.timing!r}")
    versions = [v.strip() for v in args.kubevirt_version.split(",") if v.strip()] or [""]
    cells = [(t, v) for t in timings for v in versions]

    with tempfile.TemporaryDirectory(prefix="vmconform-flake-") as tmp:
        reports = args.keep_reports or Path(tmp)
        reports.mkdir(parents=True, exist_ok=True)
        seeds = [args.seed_base + i for i in range(args.runs)]
        plan = [(cell, seed) for cell in cells for seed in seeds]
        print(f"flake check: {len(plan)} runs ({args.runs} seeds × {len(cells)} cells: timing "
              f"{', '.join(timings)} × version {', '.join(v or 'default' for v in versions)}), -n {args.n}, "
              f"jobs {args.jobs}, seeds {seeds[0]}..{seeds[-1]}"
              + (f", faults {', '.join(args.fault)}" if args.fault else ""), flush=True)
        started = time.monotonic()
        runs: list[Run] = []
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_once, i + 1, seed, cell[0], cell[1], args, reports)
                       for i, (cell, seed) in enumerate(plan)]
            for fut in futures:
                run = fut.result()
                runs.append(run)
                print(report_line(run), flush=True)
        elapsed = time.monotonic() - started

    verdicts = Counter(r.verdict for r in runs)
    common_verdict, same_verdict = verdicts.most_common(1)[0]
    print()
    cell_results: dict[str, Any] = {}
    all_identical = True
    for timing, version in cells:
        cell_runs = [r for r in runs if r.timing == timing and r.version == version]
        results = Counter(r.key for r in cell_runs)
        cell_verdicts = Counter(r.verdict for r in cell_runs)
        _, same_result = results.most_common(1)[0]
        all_identical = all_identical and len(results) == 1
        name = f"{timing}/{version or 'default'}"
        cell_results[name] = {"runs": len(cell_runs), "identical": same_result,
                              "verdicts": dict(cell_verdicts)}
        print(f"{name}: {same_result} of {len(cell_runs)} runs identical; verdicts "
              + ", ".join(f"{v} × {n}" for v, n in cell_verdicts.most_common()))
    print(f"{same_verdict} of {len(runs)} runs gave the same verdict ({common_verdict}) "
          f"({elapsed:.0f} s, {elapsed / len(runs):.1f} s per run)")
    if len(verdicts) > 1:
        print("verdicts: " + ", ".join(f"{v} × {n}" for v, n in verdicts.most_common()))
    diffs = differences(runs)
    for bid, seen in diffs.items():
        print(f"  differed: {bid}: " + ", ".join(f"{s} × {n}" for s, n in seen.most_common()))
        for r in runs:
            if r.statuses.get(bid) != seen.most_common(1)[0][0] and bid in r.reasons:
                print(f"    run {r.index} (seed {r.seed}): {r.reasons[bid]}")
                break
    broken = [r for r in runs if r.verdict == "<no summary>"]
    for r in broken:
        print(f"  run {r.index} (seed {r.seed}) wrote no summary.json: {r.reasons.get('<run>', '')}")
    if args.json:
        args.json.write_text(json.dumps({
            "runs": [asdict(r) for r in runs], "same_verdict": same_verdict, "cells": cell_results,
            "verdict": common_verdict, "differed": {k: dict(v) for k, v in diffs.items()},
            "timing": timings, "versions": versions, "faults": args.fault, "expect": args.expect,
            "seconds": round(elapsed, 1)}, indent=2))
    if broken:
        return 2
    if args.expect is not None:
        off = [r for r in runs if r.verdict != args.expect]
        for r in off:
            print(f"  run {r.index} ({r.timing}/{r.version or 'default'}, seed {r.seed}) ended {r.verdict}, "
                  f"expected {args.expect}")
        print(f"{len(runs) - len(off)} of {len(runs)} runs {args.expect}")
        if off:
            return 1
    return 0 if all_identical else 1


if __name__ == "__main__":
    sys.exit(main())
