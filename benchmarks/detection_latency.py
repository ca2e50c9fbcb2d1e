#!/usr/bin/env python3
"""How soon the suite notices a VM state change, next to a 1 s polling loop on the same changes.

    .venv/bin/python benchmarks/detection_latency.py [--timing fast|realistic|adversarial] [--per-kind 200]
                                                     [--vms 10] [--json PATH]

Runs the emulated cluster in this process (``EmulatedCluster``, ``--timing`` profile) so the
emulator and the waiters share one ``time.monotonic()`` clock.  ``--vms`` VMs are driven in
parallel, each through ``start → pause → unpause → migrate → stop`` cycles with the suite's own
verbs (``vmconform.ops.VirtualMachine``) until every kind of transition has been seen at least
``--per-kind`` times.  After each verb two waiters, one thread each, wait for the same change:

* the suite's wait, ``vmconform.kube.waits.wait_for`` (list, then watch from that resourceVersion),
  with the predicate the steps use (``steps/_support.py``, ``steps/migration.py``);
* a polling loop: GET the object every ``--interval`` seconds until it matches, as KubeVirt's
  ``Eventually(..., 1*time.Second)`` and openshift-python-wrapper's ``TimeoutSampler`` do.

The change's moment is when the emulator commits it: a ``Store.listen`` callback runs right after
each committed write (on the emulator's loop, before any watch stream is written) and records when
the VM's ``status.printableStatus`` became Running (start, unpause), Stopped (stop) or Paused (pause),
and when the migration's VirtualMachineInstanceMigration reached phase Succeeded (migration — what
the suite's migration step waits for first).  Detection latency = the waiter's return − that commit.

The poller's first GET comes at a uniformly random moment within one interval after the verb was
accepted (``--poll-phase random``), then every interval.  On a real cluster transitions take seconds
with jitter, so a poller started with the verb meets the change at a random phase; the fast
profile's ~0.1 s transitions would otherwise always be caught by the second GET, ≈ 0.9 s later
(``--poll-phase aligned`` measures exactly that).  On the realistic and adversarial profiles the
transitions take seconds and pass through KubeVirt's in-between states (§10 of kubevirt-semantics.md:
the VM is Stopped while its final VMI and Terminating pod linger; Paused is written before Ready
turns False), so the waits see every state change a real cluster's would.  Target: suite p99 < 20 ms; the 1 s poller
should average ≈ 500 ms.  Prints a table, writes JSON (default reports/benchmarks/detection_latency.json).
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from _vmbench import bench_vm, run_and_report, summary_ms, table, usage_error

from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.store import Event
from vmconform.kube.client import Cluster, Obj
from vmconform.kube.kinds import NAMESPACE, VM, VMIM, Kind
from vmconform.kube.waits import wait_for
from vmconform.ops import VirtualMachine, printable_status
from vmconform.status import MIG_SUCCEEDED, PAUSED, RUNNING, STOPPED

KINDS = ("start", "pause", "unpause", "migration", "stop")
TARGET_P99_MS = 20.0
NS = "bench-detect"
WAIT_TIMEOUT = 120.0
SLOW_S = 0.010  # a detection slower than this is looked at more closely
STALL_S = 0.005  # an emulator-loop stall at least this long counts as the likely cause
DEFAULT_JSON = Path("reports/benchmarks/detection_latency.json")


class CommitLog:
    """A ``Store`` listener: when each VM's printableStatus and each VMIM's phase changed."""

    def __init__(self) -> None:
        self.changes: dict[tuple[str, str, str], list[tuple[float, str]]] = defaultdict(list)
        self._last: dict[tuple[str, str, str], str] = {}

    def __call__(self, ev: Event) -> None:
        at = time.monotonic()
        if ev.res.kind == "VirtualMachine":
            state = printable_status(ev.obj) if ev.type != "DELETED" else "<gone>"
        elif ev.res.kind == "VirtualMachineInstanceMigration":
            state = str((ev.obj.get("status") or {}).get("phase") or "<unset>")
        else:
            return
        meta = ev.obj["metadata"]
        key = (ev.res.kind, meta.get("namespace", ""), meta["name"])
        if self._last.get(key) != state:
            self._last[key] = state
            self.changes[key].append((at, state))

    def first(self, kind: str, ns: str, name: str, state: str, since: float) -> float | None:
        """When ``state`` was first committed at or after ``since`` (the list only grows)."""
        for at, seen in list(self.changes.get((kind, ns, name), ())):
            if at >= since and seen == state:
                return at
        return None


@dataclass
class Sample:
    kind: str
    vm: str
    requested: float  # the verb sent
    accepted: float  # its answer received
    committed: float  # the emulator committed the awaited state
    suite: float  # the suite's wait_for returned
    poll: float  # the polling loop's matching GET returned

    @property
    def suite_latency(self) -> float:
        return self.suite - self.committed

    @property
    def poll_latency(self) -> float:
        return self.poll - self.committed


class Aborted(Exception):
    pass


class LoopLag:
    """How late a 10 ms timer fires on the emulator's event loop: how long the loop was busy
    (controllers, API handlers) with a watch event already committed but not yet written."""

    PERIOD = 0.01

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.lags: list[float] = []
        self.at: list[float] = []  # when each tick fired
        self._due = 0.0
        self._stopped = False

    def start(self) -> None:
        self.loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        self._due = time.monotonic() + self.PERIOD
        self.loop.call_later(self.PERIOD, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        self.lags.append(max(0.0, now - self._due))
        self.at.append(now)
        if not self._stopped:
            self._arm()

    def stop(self) -> None:
        self._stopped = True

    def worst_between(self, start: float, end: float) -> float:
        """The longest stall of the loop that overlaps [start, end] (a tick firing late at t was
        blocked from t - lag to t)."""
        i = bisect.bisect_left(self.at, start)
        worst = 0.0
        while i < len(self.at) and self.at[i] - self.lags[i] <= end:
            worst = max(worst, self.lags[i])
            i += 1
        return worst


class Driver:
    """One VM, its two clients (one per waiter, each with its own connection pool) and its samples."""

    def __init__(self, index: int, kubeconfig: Path, log: CommitLog, args: argparse.Namespace,
                 stop: threading.Event) -> None:
        self.name = f"vm-{index:03d}"
        self.suite_client = Cluster.from_kubeconfig(kubeconfig, backend="emulated")
        self.poll_client = Cluster.from_kubeconfig(kubeconfig, backend="emulated")
        self.vm = VirtualMachine(self.suite_client, NS, self.name)
        self.log = log
        self.interval = float(args.interval)
        self.phase = str(args.poll_phase)
        self.rng = random.Random(index if args.seed is None else args.seed * 1000 + index)
        self.stop = stop
        self.samples: list[Sample] = []
        self.error: str | None = None

    def run(self, cycles: int) -> None:
        try:
            self.suite_client.create(VM, NS, bench_vm(self.name))
            for _ in range(cycles):
                self.transition("start", self.vm.start, VM, RUNNING)
                self.transition("pause", self.vm.pause, VM, PAUSED)
                self.transition("unpause", self.vm.unpause, VM, RUNNING)
                self.transition("migration", self.vm.migrate, VMIM, MIG_SUCCEEDED)
                self.transition("stop", self.vm.stop, VM, STOPPED)
        except Aborted:
            pass
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            self.error = f"{self.name}: {exc}"
            self.stop.set()
        finally:
            self.suite_client.close()
            self.poll_client.close()

    def transition(self, kind: str, verb: Callable[[], Any], target: Kind, state: str) -> None:
        if self.stop.is_set():
            raise Aborted()
        known = {m["metadata"]["name"] for m in self.vm.migrations()} if target is VMIM else set()
        requested = time.monotonic()
        answer = verb()
        accepted = time.monotonic()
        if not answer.ok:
            raise RuntimeError(f"{kind} refused: {answer.describe()}")
        name = self.name
        if target is VMIM:  # as the suite does: the migration the request created, by label
            fresh = [m["metadata"]["name"] for m in self.vm.migrations() if m["metadata"]["name"] not in known]
            if len(fresh) != 1:
                raise RuntimeError(f"migrate created {len(fresh)} migrations, expected 1")
            name = fresh[0]

        def matches(o: Obj | None) -> bool:
            return describe(o) == state

        describe = printable_status if target is VM else _phase
        first_poll = accepted + (self.rng.uniform(0, self.interval) if self.phase == "random" else 0.0)
        polled: list[float] = []
        poller = threading.Thread(target=self._poll, args=(target, name, matches, first_poll, polled),
                                  name=f"poll-{self.name}", daemon=True)
        poller.start()
        wait_for(self.suite_client, target, NS, name, until=matches, describe=describe, timeout=WAIT_TIMEOUT,
                 what=f"{target.kind} {name} reaches {state}")
        suite = time.monotonic()
        poller.join(WAIT_TIMEOUT + self.interval)
        if not polled:
            raise RuntimeError(f"the polling loop did not see {target.kind} {name} reach {state}")
        committed = self.log.first(target.kind, NS, name, state, requested)
        if committed is None:
            raise RuntimeError(f"no commit of {target.kind} {name} → {state} was recorded")
        self.samples.append(Sample(kind, self.name, requested, accepted, committed, suite, polled[0]))
        if target is VMIM:  # the suite then waits for the VM to be Running again (not measured)
            wait_for(self.suite_client, VM, NS, self.name, until=lambda o: printable_status(o) == RUNNING,
                     describe=printable_status, timeout=WAIT_TIMEOUT, what=f"VM {self.name} Running after migration")

    def _poll(self, kind: Kind, name: str, matches: Callable[[Obj | None], bool], first: float,
              out: list[float]) -> None:
        """GET every interval (fixed rate from ``first``) until the object matches."""
        pause = threading.Event()  # never set: the poll interval itself
        deadline = first + WAIT_TIMEOUT
        k = 0
        while time.monotonic() < deadline and not self.stop.is_set():
            delay = first + k * self.interval - time.monotonic()
            if delay > 0:
                pause.wait(delay)
            if matches(self.poll_client.get(kind, NS, name)):
                out.append(time.monotonic())
                return
            k += 1


def _phase(o: Obj | None) -> str:
    return "<gone>" if o is None else str((o.get("status") or {}).get("phase") or "<unset>")


def run(args: argparse.Namespace) -> dict[str, Any]:
    cycles = math.ceil(args.per_kind / args.vms)
    with tempfile.TemporaryDirectory(prefix="vmconform-detect-") as tmp:
        options = Options(nodes=args.nodes, timing=args.timing, seed=args.seed)
        cluster = EmulatedCluster(options, kubeconfig_path=Path(tmp) / "kubeconfig").start()
        try:
            assert cluster.kubeconfig_path is not None
            log = CommitLog()
            cluster.call(lambda: cluster.store.listen(log))
            lag = LoopLag(cluster.loop)
            lag.start()
            admin = Cluster.from_kubeconfig(cluster.kubeconfig_path, backend="emulated")
            admin.create(NAMESPACE, None, {"metadata": {"name": NS}})
            admin.close()
            stop = threading.Event()
            drivers = [Driver(i, cluster.kubeconfig_path, log, args, stop) for i in range(args.vms)]
            threads = [threading.Thread(target=d.run, args=(cycles,), name=d.name) for d in drivers]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - started
            lag.stop()
        finally:
            cluster.close()
    errors = [d.error for d in drivers if d.error]
    if errors:
        raise SystemExit(f"detection_latency: the run failed: {errors[0]}")
    samples = [s for d in drivers for s in d.samples]
    return report(args, samples, elapsed, lag)


def report(args: argparse.Namespace, samples: list[Sample], elapsed: float, lag: LoopLag) -> dict[str, Any]:
    by_kind: dict[str, Any] = {}
    for kind in (*KINDS, "all"):
        chosen = [s for s in samples if kind == "all" or s.kind == kind]
        by_kind[kind] = {
            "suite_wait": summary_ms([s.suite_latency for s in chosen]),
            "poll_1s": summary_ms([s.poll_latency for s in chosen]),
            "time_to_state": summary_ms([s.committed - s.accepted for s in chosen]),
        }
    suite_p99 = by_kind["all"]["suite_wait"]["p99_ms"]
    slow = [s for s in samples if s.suite_latency > SLOW_S]
    stalled = [s for s in slow if lag.worst_between(s.committed, s.suite) >= STALL_S]
    return {
        "benchmark": "detection_latency",
        "config": {"per_kind": args.per_kind, "vms": args.vms, "nodes": args.nodes, "timing": args.timing,
                   "poll_interval_s": args.interval, "poll_phase": args.poll_phase, "seed": args.seed},
        "moment_of_change": "Store listener: VM status.printableStatus became Running/Paused/Stopped; "
                            "VMIM status.phase became Succeeded (migration)",
        "elapsed_s": round(elapsed, 1),
        "transitions": len(samples),
        "by_kind": by_kind,
        "emulator_loop_lag": summary_ms(lag.lags),
        "slow_detections": {"over_ms": SLOW_S * 1000, "count": len(slow),
                            f"with_emulator_loop_stall_over_{STALL_S * 1000:g}ms": len(stalled)},
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "targets": {f"suite wait p99 < {TARGET_P99_MS:g} ms": suite_p99 < TARGET_P99_MS},
        "samples": [dict(asdict(s), suite_latency_ms=round(s.suite_latency * 1000, 3),
                         poll_latency_ms=round(s.poll_latency * 1000, 3)) for s in samples] if args.samples else [],
    }


def print_report(rep: dict[str, Any]) -> None:
    cfg = rep["config"]
    print(f"detection latency: {rep['transitions']} transitions on {cfg['vms']} VMs in parallel, "
          f"{rep['elapsed_s']} s (in-process emulator, {cfg['nodes']} nodes, {cfg['timing']} timing); "
          f"latency = waiter returned − emulator committed the state")
    rows = []
    for kind, r in rep["by_kind"].items():
        s, p, t = r["suite_wait"], r["poll_1s"], r["time_to_state"]
        rows.append([kind, s["n"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"],
                     p["p50_ms"], p["p95_ms"], p["p99_ms"], p["mean_ms"], t["p50_ms"]])
    print(table(["transition", "n", "suite p50", "p95", "p99", "max",
                 f"poll {cfg['poll_interval_s']:g}s p50", "p95", "p99", "mean", "to-state p50"], rows))
    print("(ms; suite = vmconform.kube.waits.wait_for; poll = GET every "
          f"{cfg['poll_interval_s']:g} s, {cfg['poll_phase']} phase; to-state = verb accepted → state committed)")
    ll = rep["emulator_loop_lag"]
    print(f"emulator event-loop lag (10 ms timer): p50 {ll['p50_ms']:.2f}  p99 {ll['p99_ms']:.2f}  "
          f"max {ll['max_ms']:.2f} ms; load average at end {rep['loadavg_at_end']}")
    slow = rep["slow_detections"]
    print(f"suite detections over {slow['over_ms']:g} ms: {slow['count']}, of which "
          f"{slow[f'with_emulator_loop_stall_over_{STALL_S * 1000:g}ms']} overlapped an emulator-loop stall "
          f"of ≥ {STALL_S * 1000:g} ms")
    for text, ok in rep["targets"].items():
        print(f"  [{'met' if ok else 'MISSED'}] {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="detection_latency.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    parser.add_argument("--timing", choices=("fast", "realistic", "adversarial"), default="fast",
                        help="emulator timing profile (default fast; realistic: transitions of seconds)")
    parser.add_argument("--per-kind", type=int, default=200, help="transitions of each kind, at least (default 200)")
    parser.add_argument("--vms", type=int, default=10, help="VMs driven in parallel (default 10)")
    parser.add_argument("--nodes", type=int, default=4, help="emulated worker nodes (default 4)")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval of the baseline, s (default 1)")
    parser.add_argument("--poll-phase", choices=("random", "aligned"), default="random",
                        help="first GET at a random moment within one interval after the verb (default), "
                             "or right after it")
    parser.add_argument("--seed", type=int, default=None, help="seed for the emulator's jitter and the poll phases")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help=f"where to write the figures (default {DEFAULT_JSON})")
    parser.add_argument("--samples", action="store_true", help="also write every transition to the JSON")
    args = parser.parse_args(argv)
    if args.per_kind < 1:
        usage_error(parser.prog, "--per-kind must be at least 1")
    if not 1 <= args.vms <= 200:
        usage_error(parser.prog, "--vms must be between 1 and 200")
    if args.nodes < 2:
        usage_error(parser.prog, "--nodes must be at least 2 (migration needs a second node)")
    if not 0 < args.interval <= 60 or args.interval != args.interval:
        usage_error(parser.prog, "--interval must be a number of seconds above 0 and at most 60")
    return run_and_report(parser.prog, args.json, lambda: run(args), print_report)


if __name__ == "__main__":
    sys.exit(main())
