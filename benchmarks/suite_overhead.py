#!/usr/bin/env python3
"""Suite overhead: how much longer each scenario takes than the emulated cluster's own transitions.

    .venv/bin/python benchmarks/suite_overhead.py [--timing realistic] [--seed 1] [-k EXPR]
                                                  [--json reports/benchmarks/suite_overhead.json]

Starts ``vmconform emulator --timing realistic`` in a child process (the suite and the cluster do
not share an interpreter, as with a real cluster), runs the whole suite serially against it with
``vmconform run --kubeconfig``, then fetches the emulator's metrics (``/debug/vmconform/metrics``).
Every scenario runs in its own namespace, so for each scenario:

* wall: the scenario's pytest time, setup + call + teardown (junit.xml): creating its namespace,
  every step, deleting the namespace and waiting until it is gone.  The first scenario's setup
  also holds the session's preflight, a fixed cost per run: the suite reports its length
  (summary.json, ``cluster.preflight_seconds``), which is taken out of that scenario's wall time
  and printed apart.
* busy: the emulator's "cluster busy time" in the scenario's namespace: the length of the union
  of its timed transitions (every step gate that waited: start-up stages, shutdown, pod
  termination, migration phases, PVC binding, …).  Transitions overlap (a pod terminates while the
  VMI is finalised), so their plain sum (also shown) over-counts.  Steps the suite never waits
  for (``--background-steps``, default ``guest.agent``: the guest agent connecting after boot)
  are left out, so they cannot hide the suite's own time; ``busy+bg`` shows the union with them.
* obs: the deliberate observation windows: Gherkin steps that watch a steady state for a fixed
  time (``--observation-pattern``, default the steps saying "stays": "the VM stays Paused for a
  few seconds", "stays Stopped", …).  The cluster does nothing then, by design.
* ratio = wall / busy; ratio-obs = (wall − obs) / (busy outside the observation windows).

Overall ratios are Σwall / Σbusy.  Targets (issue 14): the suite's own time outside the observation
windows (wall − obs − busy outside the windows) ≤ 0.15 s per scenario, i.e. Σ overhead / scenarios — the
figure the issue was written against (≈ 0.1 s on 2026-11-26, when the worst scenario was at 0.16 s); the
worst single scenario is printed beside it, and whether it is under 0.15 s too.  Overall ratio-obs ≤ 1.05
(the suite adds at most 5 % to the cluster's own transition times, observation windows aside); the ratio
with the windows is reported beside it.  Exits 0 when the run was conformant (whether the target was met is printed),
1 when it was not (the figures are then not meaningful), 2 when it could not measure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from _suite_runs import (OUT_DIR, BenchError, Scenario, SubprocessEmulator, length, machine, main_guard,
                         observation_windows, run_suite, scenarios, subtract, table, to_wall, transitions_of,
                         write_json)

TARGET = 1.05
OVERHEAD_TARGET_S = 0.15  # the suite's own seconds per scenario outside the observation windows
OBSERVATION_PATTERN = r"\bstays\b"
BACKGROUND_STEPS = "guest.agent"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Definitions: see the module docstring or benchmarks/README.md.")
    p.add_argument("--timing", choices=("fast", "realistic"), default="realistic", help="emulator timing profile")
    p.add_argument("--seed", type=int, default=1, help="emulator jitter seed (default 1)")
    p.add_argument("--nodes", type=int, default=2, help="emulated worker nodes (default 2)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR", help="only scenarios matching EXPR")
    p.add_argument("--observation-pattern", default=OBSERVATION_PATTERN,
                   help=f"regex over Gherkin step text for observation windows (default {OBSERVATION_PATTERN!r})")
    p.add_argument("--background-steps", default=BACKGROUND_STEPS,
                   help=f"comma-separated timing steps the suite does not wait for (default {BACKGROUND_STEPS})")
    p.add_argument("--json", type=Path, default=OUT_DIR / "suite_overhead.json", help="where to write the JSON")
    p.add_argument("--report-dir", type=Path, default=OUT_DIR / "runs" / "suite_overhead",
                   help="the suite's report directory (kept for inspection)")
    args = p.parse_args(argv)
    if args.nodes < 0:
        p.error("--nodes must be 0 or more")
    return args


def measure(sc: Scenario, metrics: dict[str, Any], background: set[str], pattern: str,
            preflight_s: float = 0.0) -> dict[str, Any]:
    """The figures of one scenario (wall-clock seconds); ``preflight_s``: the session's preflight, held by
    this scenario's setup, taken out of its wall time."""
    assert sc.namespace is not None
    trans = transitions_of(metrics, sc.namespace)
    awaited = [(to_wall(metrics, t["start"]), to_wall(metrics, t["end"])) for t in trans if t["step"] not in background]
    everything = [(to_wall(metrics, t["start"]), to_wall(metrics, t["end"])) for t in trans]
    windows = [(s.start, s.stop) for s in observation_windows(sc, pattern)]
    life = metrics["namespaces"][sc.namespace]
    wall = (sc.pytest_seconds if sc.pytest_seconds is not None else sc.stop - sc.start) - preflight_s
    busy = length(awaited)
    obs = length(windows)
    busy_outside = length(subtract(awaited, windows))
    return {
        "scenario": sc.title, "namespace": sc.namespace, "status": sc.status, "wall": wall,
        "namespace_life": (life["deleted"] - life["created"]) if life.get("deleted") is not None else None,
        "call": sc.stop - sc.start, "observation": obs,
        "observation_steps": [s.name for s in observation_windows(sc, pattern)],
        "transitions": len(awaited), "transition_sum": sum(b - a for a, b in awaited),
        "busy": busy, "busy_with_background": length(everything), "busy_outside_observation": busy_outside,
        "ratio": wall / busy if busy else None,
        "ratio_without_observation": (wall - obs) / busy_outside if busy_outside else None,
        "overhead": wall - obs - busy_outside,
        "preflight_taken_out": preflight_s,
    }


def run(args: argparse.Namespace) -> int:
    background = {s.strip() for s in args.background_steps.split(",") if s.strip()}
    load_before = machine()
    print(f"suite_overhead: {args.timing} profile, seed {args.seed}; starting the emulator and the suite "
          f"(load {load_before['load_1_5_15']}) …", flush=True)
    with SubprocessEmulator(args.timing, args.seed, args.nodes) as emu:
        suite = run_suite(args.report_dir, timing=args.timing, kubeconfig=emu.kubeconfig, select=args.select)
        metrics = emu.metrics()
    if suite.verdict == "<no summary>":
        raise BenchError(f"the suite wrote no summary (exit {suite.exit_code}): {suite.tail}")
    items = scenarios(args.report_dir, metrics)
    missing = [s.title for s in items if s.namespace is None]
    if missing:
        raise BenchError("no namespace found for: " + "; ".join(missing))
    preflight = [ns for ns, life in metrics["namespaces"].items() if ns.startswith("vmconform-preflight-")]
    # the session's preflight runs in the first scenario's setup; the suite reports how long it took, so it is
    # counted apart (a fixed cost per run, not per scenario)
    preflight_s = suite.cluster.get("preflight_seconds")
    if not isinstance(preflight_s, (int, float)):
        raise BenchError("the suite's summary.json has no cluster.preflight_seconds")
    rows = [measure(sc, metrics, background, args.observation_pattern, preflight_s if i == 0 else 0.0)
            for i, sc in enumerate(items)]
    preflight_busy = length([(to_wall(metrics, t["start"]), to_wall(metrics, t["end"]))
                             for ns in preflight for t in transitions_of(metrics, ns)])

    tot = {k: sum(r[k] for r in rows) for k in ("wall", "observation", "busy", "busy_with_background",
                                                 "busy_outside_observation", "transition_sum", "overhead")}
    overall = tot["wall"] / tot["busy"] if tot["busy"] else float("nan")
    overall_obs = ((tot["wall"] - tot["observation"]) / tot["busy_outside_observation"]
                   if tot["busy_outside_observation"] else float("nan"))
    session = suite.seconds - tot["wall"]
    headers = ["scenario", "wall s", "obs s", "busy s", "busy+bg s", "Σtrans s", "ratio", "ratio-obs", "overhead s"]
    body = [[r["scenario"][:58], r["wall"], r["observation"], r["busy"], r["busy_with_background"],
             r["transition_sum"], r["ratio"] or float("nan"), r["ratio_without_observation"] or float("nan"),
             r["overhead"]] for r in rows]
    body.append(["TOTAL (Σ)", tot["wall"], tot["observation"], tot["busy"], tot["busy_with_background"],
                 tot["transition_sum"], overall, overall_obs, tot["overhead"]])
    print(table(headers, body))
    met = overall <= TARGET  # the target counts every second the suite adds, its deliberate windows too
    met_without_windows = overall_obs <= TARGET
    worst = max(rows, key=lambda r: r["overhead"]) if rows else None
    per_scenario = tot["overhead"] / len(rows) if rows else float("nan")
    overhead_met = bool(rows) and per_scenario <= OVERHEAD_TARGET_S
    worst_met = worst is not None and worst["overhead"] <= OVERHEAD_TARGET_S
    load_after = machine()
    print(f"\nsuite run: {suite.seconds:.1f} s wall ({len(rows)} scenarios, verdict {suite.verdict}); "
          f"outside the scenarios (interpreter, collection, preflight checks, reports): {session:.1f} s")
    print(f"of which the session's preflight (held by the first scenario's setup, counted apart): {preflight_s:.2f} s, "
          f"{preflight_busy:.2f} s of it the cluster's own (its RWX probe claim binding)")
    print(f"overall: wall/busy {overall:.3f} with the observation windows ({tot['observation']:.1f} s): target "
          f"≤ {TARGET} {'MET' if met else 'NOT MET'}; {overall_obs:.3f} without them: "
          f"{'met' if met_without_windows else 'not met'}")
    if worst is not None:
        print(f"suite's own time outside the observation windows: {per_scenario:.3f} s per scenario "
              f"(Σ {tot['overhead']:.2f} s / {len(rows)}): target ≤ {OVERHEAD_TARGET_S} s per scenario "
              f"{'MET' if overhead_met else 'NOT MET'}; worst scenario {worst['overhead']:.3f} s "
              f"({worst['scenario'][:58]}): {'also' if worst_met else 'not'} under {OVERHEAD_TARGET_S} s")
    print(f"load average before {load_before['load_1_5_15']}, after {load_after['load_1_5_15']} "
          f"({load_after['cpus']} CPUs)")
    steps = metrics.get("steps", {})
    doc = {
        "benchmark": "suite_overhead", "timing": args.timing, "seed": args.seed, "target": TARGET,
        "target_met": met, "target_met_without_observation_windows": met_without_windows,
        "overhead_target_s": OVERHEAD_TARGET_S, "overhead_per_scenario_mean": per_scenario,
        "overhead_worst": worst["overhead"] if worst else None, "overhead_target_met": overhead_met,
        "overhead_worst_under_target": worst_met, "machine": {"before": load_before, "after": load_after},
        "definitions": {"wall": "pytest setup+call+teardown (junit.xml)",
                        "busy": "union of the namespace's emulated transitions, without background steps",
                        "background_steps": sorted(background), "observation_pattern": args.observation_pattern},
        "suite": suite.as_dict(), "session_seconds_outside_scenarios": session,
        "preflight": {"seconds": preflight_s, "cluster_busy": preflight_busy},
        "overall": {"ratio": overall, "ratio_without_observation": overall_obs, **tot},
        "scenarios": rows, "emulator_steps": steps,
        "metrics": metrics,
    }
    write_json(args.json, doc)
    print(f"JSON: {args.json}")
    if suite.verdict != "conformant":
        print(f"suite_overhead: the run was {suite.verdict} (exit {suite.exit_code}); the figures may not be "
              f"meaningful: {suite.tail}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return main_guard("suite_overhead", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
