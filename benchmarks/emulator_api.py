#!/usr/bin/env python3
"""Latency and memory of the emulated cluster's Kubernetes API with many stored VMs.

    python benchmarks/emulator_api.py [--vms 1000] [--samples 400] [--json out.json]
                                      [--mode inprocess|subprocess]

Starts an emulated cluster without KubeVirt controllers (a pure API server), creates ``--vms``
testvm-like VirtualMachines in one namespace over HTTPS, then measures over one keep-alive HTTPS
session (``requests``), the way a client of a real cluster would:

* GET one VM, LIST all VMs, PATCH (merge) one VM: p50 / p99 of the request's round trip;
* watch delivery: from the PATCH response to the MODIFIED event arriving on an open watch (0 when the
  event comes first), and, for scale, from sending the PATCH to the event's arrival;
* the emulator's resident memory (VmRSS / VmHWM).

``--mode inprocess`` (default) runs the emulator on a thread of this process (``EmulatedCluster``)
so client and server share a GIL, which adds client time to every figure; ``--mode subprocess``
runs it in a child process of its own, as ``vmconform emulator`` does, so the emulator's memory is
its own. Targets (2-core machine): p99 < 20 ms for single-object requests, watch delivery < 5 ms,
< 300 MB resident. Prints a table and exits 0; the table says which targets were missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import requests
import yaml

NAMESPACE = "bench"
VM_PATH = f"/apis/kubevirt.io/v1/namespaces/{NAMESPACE}/virtualmachines"
TARGET_SINGLE_P99_MS = 20.0
TARGET_WATCH_P99_MS = 5.0
TARGET_RSS_MB = 300.0


def testvm(name: str) -> dict[str, Any]:
    """The user-guide testvm (kubevirt-semantics.md §8.1) under another name."""
    return {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": {"app": "bench", "shard": str(sum(map(ord, name)) % 10)}},
        "spec": {
            "runStrategy": "Halted",
            "template": {
                "metadata": {"labels": {"kubevirt.io/size": "small", "kubevirt.io/domain": name}},
                "spec": {
                    "domain": {
                        "devices": {
                            "disks": [{"name": "containerdisk", "disk": {"bus": "virtio"}},
                                      {"name": "cloudinitdisk", "disk": {"bus": "virtio"}}],
                            "interfaces": [{"name": "default", "masquerade": {}}],
                        },
                        "resources": {"requests": {"memory": "64M"}},
                    },
                    "networks": [{"name": "default", "pod": {}}],
                    "volumes": [
                        {"name": "containerdisk",
                         "containerDisk": {"image": "quay.io/kubevirt/cirros-container-disk-demo"}},
                        {"name": "cloudinitdisk", "cloudInitNoCloud": {"userDataBase64": "SGkuXG4="}},
                    ],
                },
            },
        },
    }


# ---------------------------------------------------------------- the emulator under test


class Server:
    kubeconfig: Path
    pid: int

    def close(self) -> None:
        raise NotImplementedError


class InProcess(Server):
    def __init__(self, workdir: Path) -> None:
        from vmconform.emulator import EmulatedCluster, Options

        self.cluster = EmulatedCluster(Options(), kubeconfig_path=workdir / "kubeconfig", controllers=[])
        self.cluster.start()
        assert self.cluster.kubeconfig_path is not None
        self.kubeconfig = self.cluster.kubeconfig_path
        self.pid = os.getpid()

    def close(self) -> None:
        self.cluster.close()


class Subprocess(Server):
    """This script with ``--serve``: an Emulator without controllers in a process of its own."""

    def __init__(self, workdir: Path) -> None:
        self.kubeconfig = workdir / "kubeconfig"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.kubeconfig)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "ready" not in line:
            self.proc.kill()
            raise SystemExit(f"the emulator did not start: {line!r}")
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def serve(kubeconfig: str) -> int:
    from vmconform.cli.emulator_cmd import serve as serve_emulator
    from vmconform.emulator import Options

    asyncio.run(serve_emulator(Options(), Path(kubeconfig), controllers=[]))
    return 0


def memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


# ---------------------------------------------------------------- the client


class Client:
    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.ca = workdir / "ca.crt"
        self.ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        self.server = cluster["server"]
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update({"Authorization": f"Bearer {cfg['users'][0]['user']['token']}",
                                     "Accept": "application/json"})

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        resp = self.session.request(method, self.server + path, verify=str(self.ca), timeout=30, **kw)
        if resp.status_code >= 400:
            raise SystemExit(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp

    def watch(self, path: str, rv: str) -> "WatchReader":
        resp = self.session.get(self.server + path, verify=str(self.ca), stream=True, timeout=(10, 120),
                                params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "600"})
        return WatchReader(resp)


class WatchReader:
    """Reads watch events on a thread and stamps each with its arrival time."""

    def __init__(self, resp: requests.Response) -> None:
        self.resp = resp
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for line in self.resp.iter_lines(chunk_size=None):
                if line:
                    arrived = time.perf_counter()
                    self.events.put((arrived, json.loads(line)))
        except (requests.RequestException, ValueError, AttributeError):
            pass

    def wait_for(self, rv: str, timeout: float = 10) -> float:
        deadline = time.monotonic() + timeout
        while True:
            arrived, ev = self.events.get(timeout=max(deadline - time.monotonic(), 0.001))
            if ev["type"] == "MODIFIED" and ev["object"]["metadata"]["resourceVersion"] == rv:
                return arrived

    def close(self) -> None:
        """After the server has ended the stream (closing an SSL socket under a reading thread blocks)."""
        self.thread.join(timeout=10)
        self.resp.close()


def timed(fn: Callable[[], Any], samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {"n": len(ms), "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3),
            "mean_ms": round(statistics.fmean(ms), 3), "max_ms": round(ordered[-1], 3)}


# ---------------------------------------------------------------- the run


def run(mode: str, vms: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vmconform-bench-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        server: Server = InProcess(workdir) if mode == "inprocess" else Subprocess(workdir)
        started = time.perf_counter() - t0
        watches: list[WatchReader] = []
        try:
            return measure(server, Client(server.kubeconfig, workdir), vms, samples, started, watches)
        finally:
            server.close()  # ends open watches
            for w in watches:
                w.close()


def measure(server: Server, client: Client, vms: int, samples: int, started: float,
            watches: list[WatchReader]) -> dict[str, Any]:
    rss_empty = memory_mb(server.pid)
    client.request("POST", "/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
    names = [f"testvm-{i:05d}" for i in range(vms)]
    t0 = time.perf_counter()
    for name in names:
        client.request("POST", VM_PATH, json=testvm(name))
    create_s = time.perf_counter() - t0
    listed = client.request("GET", VM_PATH).json()
    assert len(listed["items"]) == vms, len(listed["items"])
    rng = random.Random(7)

    def get_one() -> None:
        client.request("GET", f"{VM_PATH}/{rng.choice(names)}")

    def list_all() -> None:
        client.request("GET", VM_PATH)

    counter = iter(range(10**9))

    def patch_one() -> None:
        client.request("PATCH", f"{VM_PATH}/{rng.choice(names)}", data=json.dumps(
            {"metadata": {"labels": {"bench-step": str(next(counter))}}}),
            headers={"Content-Type": "application/merge-patch+json"})

    for fn in (get_one, list_all, patch_one):  # warm up connection, caches and code paths
        timed(fn, 20)
    results: dict[str, Any] = {
        "GET one VM": summary(timed(get_one, samples)),
        "LIST all VMs": summary(timed(list_all, max(20, samples // 10))),
        "PATCH one VM (merge)": summary(timed(patch_one, samples)),
    }

    # Watch delivery: an open watch on the namespace's VMs; PATCH one VM; time from the PATCH
    # response to the MODIFIED event arriving on the watch (0 if it arrived first).
    rv = client.request("GET", VM_PATH, params={"limit": "1"}).json()["metadata"]["resourceVersion"]
    watch = client.watch(VM_PATH, rv)
    watches.append(watch)
    delivery, round_trip = [], []
    for i in range(samples + 20):
        name = rng.choice(names)
        sent = time.perf_counter()
        resp = client.request("PATCH", f"{VM_PATH}/{name}", data=json.dumps(
            {"metadata": {"labels": {"bench-watch": str(i)}}}),
            headers={"Content-Type": "application/merge-patch+json"})
        answered = time.perf_counter()
        arrived = watch.wait_for(resp.json()["metadata"]["resourceVersion"])
        if i >= 20:  # the first ones warm up
            delivery.append(max(0.0, (arrived - answered) * 1000))
            round_trip.append((arrived - sent) * 1000)
    results["watch delivery"] = summary(delivery)
    results["PATCH sent -> event"] = summary(round_trip)
    rss = memory_mb(server.pid)
    return {
        "vms": vms, "startup_s": round(started, 3), "create_s": round(create_s, 3),
        "create_per_vm_ms": round(create_s / vms * 1000, 3), "latency": results,
        "rss_mb": round(rss.get("VmRSS", 0.0), 1), "peak_rss_mb": round(rss.get("VmHWM", 0.0), 1),
        "rss_empty_mb": round(rss_empty.get("VmRSS", 0.0), 1),
    }


def verdicts(report: dict[str, Any]) -> list[tuple[str, bool]]:
    lat = report["latency"]
    return [
        (f"single-object p99 < {TARGET_SINGLE_P99_MS:g} ms",
         max(lat["GET one VM"]["p99_ms"], lat["PATCH one VM (merge)"]["p99_ms"]) < TARGET_SINGLE_P99_MS),
        (f"watch delivery p99 < {TARGET_WATCH_P99_MS:g} ms", lat["watch delivery"]["p99_ms"] < TARGET_WATCH_P99_MS),
        (f"resident < {TARGET_RSS_MB:g} MB", report["peak_rss_mb"] < TARGET_RSS_MB),
    ]


def print_table(report: dict[str, Any]) -> None:
    print(f"emulator API benchmark ({report['mode']}): {report['vms']} VMs stored; "
          f"startup {report['startup_s']:.2f} s, creating them took {report['create_s']:.2f} s "
          f"({report['create_per_vm_ms']:.2f} ms each)")
    print(f"{'operation':<22} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9} {'max ms':>9}")
    for op, s in report["latency"].items():
        print(f"{op:<22} {s['n']:>5} {s['p50_ms']:>9.2f} {s['p99_ms']:>9.2f} {s['mean_ms']:>9.2f} {s['max_ms']:>9.2f}")
    who = "the emulator process" if report["mode"] == "subprocess" else "this process (emulator + client)"
    print(f"resident memory of {who}: {report['rss_mb']:.1f} MB now, {report['peak_rss_mb']:.1f} MB peak "
          f"({report['rss_empty_mb']:.1f} MB before the VMs)")
    for text, ok in report["targets"]:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vms", type=int, default=1000, help="VMs to store (default 1000)")
    parser.add_argument("--samples", type=int, default=400, help="requests per measured operation (default 400)")
    parser.add_argument("--mode", choices=("inprocess", "subprocess"), default="inprocess")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--serve", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve)
    report = {"mode": args.mode, **run(args.mode, args.vms, args.samples)}
    report["targets"] = verdicts(report)
    print_table(report)
    if args.json:
        out = dict(report, targets={text: ok for text, ok in report["targets"]})
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
