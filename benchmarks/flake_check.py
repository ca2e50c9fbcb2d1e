#!/usr/bin/env python3
"""Flake check: run the whole suite N times against the emulated cluster and compare the verdicts.

    python benchmarks/flake_check.py [--runs 20] [--timing fast|realistic] [--seed-base 1]
                                     [-n 4] [--jobs 1] [--fault NAME ...] [--json out.json]
                                     [--keep-reports DIR]

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
    seconds: float
    verdict: str = "<no summary>"
    statuses: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.verdict, tuple(sorted(self.statuses.items()))


def run_once(index: int, seed: int, args: argparse.Namespace, reports: Path) -> Run:
    report = reports / f"run-{index:03d}-seed-{seed}"
    cmd = [sys.executable, "-m", "vmconform", "run", "--emulator-timing", args.timing, "--emulator-seed", str(seed),
           "-n", str(args.n), "--no-html", "--report-dir", str(report)]
    for fault in args.fault:
        cmd += ["--emulator-fault", fault]
    if args.timeout_scale:
        cmd += ["--timeout-scale", args.timeout_scale]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    run = Run(index, seed, proc.returncode, round(time.monotonic() - started, 1))
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
    return (f"run {run.index:3d}  seed {run.seed:<6d} exit {run.exit_code}  {run.seconds:6.1f} s  "
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
    p.add_argument("--timing", choices=("fast", "realistic"), default="fast",
                   help="emulated cluster timing profile (default fast; realistic is much slower)")
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

    with tempfile.TemporaryDirectory(prefix="vmconform-flake-") as tmp:
        reports = args.keep_reports or Path(tmp)
        reports.mkdir(parents=True, exist_ok=True)
        seeds = [args.seed_base + i for i in range(args.runs)]
        print(f"flake check: {args.runs} runs, timing {args.timing}, -n {args.n}, jobs {args.jobs}, "
              f"seeds {seeds[0]}..{seeds[-1]}" + (f", faults {', '.join(args.fault)}" if args.fault else ""),
              flush=True)
        started = time.monotonic()
        runs: list[Run] = []
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_once, i + 1, seed, args, reports) for i, seed in enumerate(seeds)]
            for fut in futures:
                run = fut.result()
                runs.append(run)
                print(report_line(run), flush=True)
        elapsed = time.monotonic() - started

    verdicts = Counter(r.verdict for r in runs)
    results = Counter(r.key for r in runs)
    common_verdict, same_verdict = verdicts.most_common(1)[0]
    _, same_result = results.most_common(1)[0]
    diffs = differences(runs)
    print()
    print(f"{same_verdict} of {len(runs)} runs gave the same verdict ({common_verdict}); "
          f"{same_result} of {len(runs)} gave identical results for every behaviour "
          f"({elapsed:.0f} s, {elapsed / len(runs):.1f} s per run)")
    if len(verdicts) > 1:
        print("verdicts: " + ", ".join(f"{v} × {n}" for v, n in verdicts.most_common()))
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
            "runs": [asdict(r) for r in runs], "same_verdict": same_verdict, "same_result": same_result,
            "verdict": common_verdict, "differed": {k: dict(v) for k, v in diffs.items()},
            "timing": args.timing, "faults": args.fault, "seconds": round(elapsed, 1)}, indent=2))
    if broken:
        return 2
    return 0 if len(results) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
