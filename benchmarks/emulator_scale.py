#!/usr/bin/env python3
"""1,000 VMs through their whole life on the emulated cluster: request latency, controller lag, memory.

    .venv/bin/python benchmarks/emulator_scale.py [--vms 1000] [--clients 10] [--nodes 20] [--json PATH]

Starts the emulator as users run it, in a process of its own (``python -m vmconform emulator
--write-kubeconfig PATH --nodes N --timing fast``), so its resident memory is its own.  Then
``--clients`` threads, each with its own ``vmconform.kube.client.Cluster`` (the official
``kubernetes`` client, its own connection pool), drive ``--vms`` VMs phase by phase — create, start,
pause, unpause, migrate, stop, delete — each client sending its share of the requests back to back.
A phase ends when every VM has reached the phase's state; the next phase then begins.

* Request latency, per verb: the round trip of each request as the client sees it (p50/p99/max).
* Time to state, per verb: from the request's answer to the state arriving on a watch the benchmark
  keeps open on all VMs and migrations (VM ``printableStatus`` Stopped/Running/Paused, the VMIM phase
  Succeeded for migrate, the VM gone for delete).
* Controller lag = time to state − the time to state of the same verb for a lone VM on the idle
  emulator (measured first, ``--idle-cycles`` times, median).  The lone VM's figure is the sum of
  the configured step durations (also shown, from the fast profile's table) plus the emulator's fixed
  per-step costs (work queue, watch delivery), so the lag is what 1,000 VMs at once add.  Migrations
  are limited to 5 at a time per cluster and 2 outbound per node (KubeVirt's defaults), so 1,000 of
  them queue: their time to state is mostly waiting for a slot, and the phase's length is reported.
* Resident memory of the emulator process (VmRSS sampled every 0.25 s, and VmHWM) and its CPU time.

The default 20 nodes of 16 GiB / 8 CPUs hold 1,000 launcher pods (64 MiB guests plus KubeVirt's
overhead) with room for migration targets.  Targets (2-core machine): p99 < 50 ms per request for
every verb, < 1 GB resident.  Prints a table, writes JSON (default reports/benchmarks/emulator_scale.json).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from _vmbench import bench_vm, memory_mb, run_and_report, summary_ms, table, usage_error

from vmconform.emulator.kubevirt.timing import FAST, Timing
from vmconform.kube.client import Answer, Cluster, ClusterUnreachable, Obj
from vmconform.kube.kinds import NAMESPACE, VM, VMIM, Kind
from vmconform.ops import VirtualMachine, printable_status
from vmconform.status import MIG_SUCCEEDED, PAUSED, RUNNING, STOPPED

NS, IDLE_NS = "bench-scale", "bench-idle"
GONE = "<gone>"
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 1024.0
DEFAULT_JSON = Path("reports/benchmarks/emulator_scale.json")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Verb = Callable[[Cluster, str, str], Answer]


@dataclass(frozen=True)
class Phase:
    verb: str
    call: Verb
    watched: Kind  # VM, or VMIM (keyed by the VMI's name)
    state: str
    steps: tuple[str, ...]  # the timing steps on the way to the state (fast profile)


PHASES = (
    Phase("create", lambda c, ns, n: c.try_create(VM, ns, bench_vm(n)), VM, STOPPED, ()),
    Phase("start", lambda c, ns, n: VirtualMachine(c, ns, n).start(), VM, RUNNING,
          ("vmi.pending", "vmi.pod_create", "pod.schedule", "pod.start", "vmi.boot")),
    Phase("pause", lambda c, ns, n: VirtualMachine(c, ns, n).pause(), VM, PAUSED, ("vmi.pause",)),
    Phase("unpause", lambda c, ns, n: VirtualMachine(c, ns, n).unpause(), VM, RUNNING, ("vmi.unpause",)),
    Phase("migrate", lambda c, ns, n: VirtualMachine(c, ns, n).migrate(), VMIM, MIG_SUCCEEDED,
          ("migration.pending", "pod.schedule", "pod.start", "migration.handoff", "migration.prepare",
           "migration.start", "migration.transfer")),
    Phase("stop", lambda c, ns, n: VirtualMachine(c, ns, n).stop(), VM, STOPPED, ("vmi.destroy",)),
    Phase("delete", lambda c, ns, n: c.call("DELETE", VM.item(ns, n), {"propagationPolicy": "Background"}),
          VM, GONE, ()),
)


# ---------------------------------------------------------------- the emulator process


class EmulatorProcess:
    """``python -m vmconform emulator`` in a child process; its memory and CPU read from /proc."""

    def __init__(self, workdir: Path, nodes: int, seed: int | None) -> None:
        self.kubeconfig = workdir / "kubeconfig"
        cmd = [sys.executable, "-m", "vmconform", "emulator", "--write-kubeconfig", str(self.kubeconfig),
               "--nodes", str(nodes), "--timing", FAST]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "ready" not in line:
            self.proc.kill()
            raise SystemExit(f"emulator_scale: the emulator did not start: {line.strip()!r}")
        self.pid = self.proc.pid
        self.samples: list[tuple[float, float]] = []  # (monotonic, VmRSS MB)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = memory_mb(self.pid).get("VmRSS")
            if rss is not None:
                self.samples.append((time.monotonic(), rss))
            self._stop.wait(0.25)  # the sampling period

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def peak_between(self, start: float, end: float, also: float) -> float:
        """The highest sampled VmRSS in [start, end], or ``also`` (a reading at the end) if higher."""
        return max([rss for at, rss in self.samples if start <= at <= end and not math.isnan(rss)]
                   + ([] if math.isnan(also) else [also]), default=math.nan)

    def close(self) -> None:
        self._stop.set()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- what the cluster reports


class Tracker:
    """Watches all VMs and all migrations; records when each state arrived (client-side clock)."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.vm: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self.mig: dict[tuple[str, str], list[tuple[float, str]]] = {}  # by (namespace, VMI name)
        self._last: dict[tuple[str, str, str], str] = {}
        self.notes: list[str] = []
        self._ready = threading.Barrier(3)
        for kind in (VM, VMIM):
            threading.Thread(target=self._follow, args=(kind,), name=f"watch-{kind.plural}", daemon=True).start()
        self._ready.wait(timeout=30)

    def _record(self, kind: Kind, etype: str, obj: Obj, at: float) -> None:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if kind is VM:
            state = GONE if etype == "DELETED" else printable_status(obj)
            key, table_ = (ns, name), self.vm
        else:
            if etype == "DELETED":
                return
            state = str((obj.get("status") or {}).get("phase") or "<unset>")
            key, table_ = (ns, str((obj.get("spec") or {}).get("vmiName", ""))), self.mig
        if self._last.get((kind.plural, ns, name)) != state:
            self._last[(kind.plural, ns, name)] = state
            table_.setdefault(key, []).append((at, state))

    def _follow(self, kind: Kind) -> None:
        client = Cluster.from_kubeconfig(self.kubeconfig, backend="emulated")
        items, rv = client.list(kind)
        for obj in items:
            self._record(kind, "ADDED", obj, time.monotonic())
        self._ready.wait()
        while True:
            try:
                for ev in client.watch(kind, None, rv, timeout_seconds=3600):
                    obj = ev.get("object") or {}
                    if ev.get("type") == "ERROR":
                        self.notes.append(f"{kind.plural} watch: {obj.get('code')} {obj.get('reason', '')}; re-listed")
                        items, rv = client.list(kind)
                        for item in items:
                            self._record(kind, "MODIFIED", item, time.monotonic())
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if ev.get("type") != "BOOKMARK":
                        self._record(kind, str(ev.get("type")), obj, time.monotonic())
            except ClusterUnreachable:
                return  # the emulator went away: the run is over

    def reached(self, kind: Kind, ns: str, name: str, state: str, since: float) -> float | None:
        table_ = self.vm if kind is VM else self.mig
        for at, seen in list(table_.get((ns, name), ())):
            if at >= since and seen == state:
                return at
        return None


# ---------------------------------------------------------------- the phases


@dataclass
class Request:
    name: str
    sent: float
    answered: float
    code: int


def drive(phase: Phase, clients: list[Cluster], ns: str, names: list[str]) -> list[Request]:
    """Each client sends its share of the phase's requests back to back."""
    shares: list[list[Request]] = [[] for _ in clients]

    def work(i: int) -> None:
        for name in names[i::len(clients)]:
            sent = time.monotonic()
            try:
                code = phase.call(clients[i], ns, name).code
            except ClusterUnreachable:
                code = 0
            shares[i].append(Request(name, sent, time.monotonic(), code))

    threads = [threading.Thread(target=work, args=(i,), name=f"client-{i}") for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for share in shares for r in share]


def await_states(tracker: Tracker, phase: Phase, ns: str, requests: list[Request],
                 timeout: float) -> dict[str, float]:
    """When each VM reached the phase's state (arrival on the watch)."""
    wanted = {r.name: r.sent for r in requests if 200 <= r.code < 300}
    reached: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: how often the recorded arrivals are looked through
    while len(reached) < len(wanted):
        for name, sent in wanted.items():
            if name not in reached:
                at = tracker.reached(phase.watched, ns, name, phase.state, sent)
                if at is not None:
                    reached[name] = at
        if len(reached) < len(wanted):
            if time.monotonic() > deadline:
                missing = sorted(set(wanted) - set(reached))
                raise SystemExit(f"emulator_scale: {len(missing)} VMs did not reach {phase.state} after "
                                 f"{phase.verb} within {timeout:.0f} s (first: {missing[0]})")
            pause.wait(0.05)
    return reached


def settle_running(tracker: Tracker, ns: str, names: list[str], since: float, timeout: float) -> None:
    """After migrations: every VM back to Running before the next phase (not measured)."""
    back = Phase("migrated", PHASES[0].call, VM, RUNNING, ())
    await_states(tracker, back, ns, [Request(n, since, since, 200) for n in names], timeout)


def idle_baseline(tracker: Tracker, client: Cluster, cycles: int, timeout: float) -> dict[str, float]:
    """Median time to state of each verb for one VM alone on the idle emulator."""
    times: dict[str, list[float]] = {p.verb: [] for p in PHASES}
    for i in range(cycles):
        name = f"idle-{i}"
        for phase in PHASES:
            reqs = drive(phase, [client], IDLE_NS, [name])
            if not all(200 <= r.code < 300 for r in reqs):
                raise SystemExit(f"emulator_scale: {phase.verb} of the idle VM answered HTTP {reqs[0].code}")
            at = await_states(tracker, phase, IDLE_NS, reqs, timeout)[name]
            times[phase.verb].append(at - reqs[0].answered)
            if phase.verb == "migrate":
                settle_running(tracker, IDLE_NS, [name], reqs[0].sent, timeout)
    return {verb: statistics.median(ts) for verb, ts in times.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    timing = Timing(FAST)
    with tempfile.TemporaryDirectory(prefix="vmconform-scale-") as tmp:
        emu = EmulatorProcess(Path(tmp), args.nodes, args.seed)
        try:
            rss_empty = memory_mb(emu.pid).get("VmRSS", math.nan)
            admin = Cluster.from_kubeconfig(emu.kubeconfig, backend="emulated")
            for ns in (NS, IDLE_NS):
                admin.create(NAMESPACE, None, {"metadata": {"name": ns}})
            tracker = Tracker(emu.kubeconfig)
            idle = idle_baseline(tracker, admin, args.idle_cycles, args.phase_timeout)
            print(f"  idle baseline ({args.idle_cycles} lone-VM cycles) done", file=sys.stderr, flush=True)
            clients = [Cluster.from_kubeconfig(emu.kubeconfig, backend="emulated") for _ in range(args.clients)]
            names = [f"vm-{i:04d}" for i in range(args.vms)]
            phases: dict[str, Any] = {}
            started = time.monotonic()
            for phase in PHASES:
                cpu0, t0 = emu.cpu_seconds(), time.monotonic()
                reqs = drive(phase, clients, NS, names)
                t_sent = time.monotonic()
                reached = await_states(tracker, phase, NS, reqs, args.phase_timeout)
                t1 = time.monotonic()
                answered = {r.name: r.answered for r in reqs}
                to_state = [max(0.0, at - answered[n]) for n, at in reached.items()]
                nominal = sum(timing.base(s) for s in phase.steps)
                phases[phase.verb] = {
                    "requests": summary_ms([r.answered - r.sent for r in reqs]),
                    "errors": sum(1 for r in reqs if not 200 <= r.code < 300),
                    "requests_per_s": round(len(reqs) / max(t_sent - t0, 1e-9), 1),
                    "time_to_state": summary_ms(to_state),
                    "configured_steps_ms": round(nominal * 1000, 1),
                    "idle_time_to_state_ms": round(idle[phase.verb] * 1000, 1),
                    "lag": summary_ms([max(0.0, t - idle[phase.verb]) for t in to_state]),
                    "phase_s": round(t1 - t0, 2), "requests_s": round(t_sent - t0, 2),
                    "emulator_cpu_s": round(emu.cpu_seconds() - cpu0, 2),
                    "rss_end_mb": memory_mb(emu.pid).get("VmRSS", math.nan),
                }
                phases[phase.verb]["peak_rss_mb"] = emu.peak_between(t0, t1, phases[phase.verb]["rss_end_mb"])
                print(f"  {phase.verb}: {len(reqs)} requests in {t_sent - t0:.1f} s, all at {phase.state} after "
                      f"{t1 - t0:.1f} s", file=sys.stderr, flush=True)
                if phase.verb == "migrate":
                    settle_running(tracker, NS, names, t0, args.phase_timeout)
            elapsed = time.monotonic() - started
            mem = memory_mb(emu.pid)
            for c in clients:
                c.close()
            admin.close()
        finally:
            emu.close()
    return {
        "benchmark": "emulator_scale",
        "config": {"vms": args.vms, "clients": args.clients, "nodes": args.nodes, "timing": FAST,
                   "idle_cycles": args.idle_cycles, "seed": args.seed,
                   "migration_limits": "5 per cluster, 2 outbound per node (KubeVirt defaults)"},
        "elapsed_s": round(elapsed, 1),
        "phases": phases,
        "memory_mb": {"empty": rss_empty, "end": mem.get("VmRSS", math.nan), "peak_VmHWM": mem.get("VmHWM", math.nan),
                      "peak_sampled": max((rss for _, rss in emu.samples), default=math.nan)},
        "watch_notes": tracker.notes,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def add_targets(rep: dict[str, Any]) -> None:
    worst = max(p["requests"]["p99_ms"] for p in rep["phases"].values())
    rep["targets"] = {
        f"request p99 < {TARGET_P99_MS:g} ms for every verb (worst {worst:.1f} ms)": worst < TARGET_P99_MS,
        f"emulator resident < {TARGET_RSS_MB:g} MB (peak {rep['memory_mb']['peak_VmHWM']:.0f} MB)":
            rep["memory_mb"]["peak_VmHWM"] < TARGET_RSS_MB,
        "no request failed": all(p["errors"] == 0 for p in rep["phases"].values()),
    }


def print_report(rep: dict[str, Any]) -> None:
    cfg = rep["config"]
    print(f"emulator scale: {cfg['vms']} VMs, {cfg['clients']} client threads, emulator in its own process "
          f"({cfg['nodes']} nodes, fast timing); {rep['elapsed_s']} s")
    rows = []
    for verb, p in rep["phases"].items():
        r, t, lag = p["requests"], p["time_to_state"], p["lag"]
        rows.append([verb, r["n"], p["errors"], r["p50_ms"], r["p99_ms"], r["max_ms"], p["requests_per_s"],
                     t["p50_ms"], t["p99_ms"], p["configured_steps_ms"], p["idle_time_to_state_ms"],
                     lag["p50_ms"], lag["p99_ms"], p["phase_s"], p["emulator_cpu_s"], p["peak_rss_mb"]])
    print(table(["verb", "n", "err", "req p50", "p99", "max", "req/s", "to-state p50", "p99", "steps",
                 "idle", "lag p50", "p99", "phase s", "emu cpu s", "peak MB"], rows))
    print("(ms unless noted; req = request round trip; to-state = answer → state seen on the watch; steps = the "
          "configured step durations on the way; idle = a lone VM's to-state; lag = to-state − idle)")
    m = rep["memory_mb"]
    print(f"emulator resident memory: {m['empty']:.0f} MB empty, {m['end']:.0f} MB at the end, "
          f"peak {m['peak_VmHWM']:.0f} MB (VmHWM); load average at end {rep['loadavg_at_end']}")
    for text, ok in rep["targets"].items():
        print(f"  [{'met' if ok else 'MISSED'}] {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emulator_scale.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    parser.add_argument("--vms", type=int, default=1000, help="VMs (default 1000)")
    parser.add_argument("--clients", type=int, default=10, help="concurrent client threads (default 10)")
    parser.add_argument("--nodes", type=int, default=20,
                        help="emulated worker nodes, 16 GiB / 8 CPUs each (default 20)")
    parser.add_argument("--idle-cycles", type=int, default=5, help="lone-VM cycles for the idle baseline (default 5)")
    parser.add_argument("--phase-timeout", type=float, default=600.0,
                        help="seconds a phase may take until all VMs reach its state (default 600)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the emulator's timing jitter")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help=f"where to write the figures (default {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    if not 1 <= args.vms <= 5000:
        usage_error(parser.prog, "--vms must be between 1 and 5000")
    if not 1 <= args.clients <= 100:
        usage_error(parser.prog, "--clients must be between 1 and 100")
    if args.nodes < 2:
        usage_error(parser.prog, "--nodes must be at least 2 (migration needs a second node)")
    if args.idle_cycles < 1:
        usage_error(parser.prog, "--idle-cycles must be at least 1")
    if not args.phase_timeout > 0:
        usage_error(parser.prog, "--phase-timeout must be a positive number of seconds")
    def produce() -> dict[str, Any]:
        rep = run(args)
        add_targets(rep)
        return rep

    return run_and_report(parser.prog, args.json, produce, print_report)


if __name__ == "__main__":
    sys.exit(main())
