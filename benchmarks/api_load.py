#!/usr/bin/env python3
"""API load: how many requests, by verb, and how many watch connections each scenario makes.

    .venv/bin/python benchmarks/api_load.py [--timing realistic] [--seed 1] [-k EXPR]
                                            [--json reports/benchmarks/api_load.json]
    .venv/bin/python benchmarks/api_load.py --from reports/benchmarks/suite_overhead.json

Runs the whole suite serially with ``vmconform run --kubeconfig`` against ``vmconform emulator``
in a child process and reads the emulator's own request counts (``/debug/vmconform/metrics``):
every request is attributed to a namespace the way the API server does (a namespaced path to its
namespace; a Namespace object, or a namespace list/watch selected by ``metadata.name``, to that
namespace; cluster-scoped kinds, discovery and access reviews to ``""``).  Every scenario runs in
its own namespace, so a namespace's counts are its scenario's.  ``--from`` re-reads the metrics a
``suite_overhead.py`` run saved instead of running the suite again.

Verbs: get, list, watch (= watch connections opened), create, update, patch, delete,
deletecollection, and KubeVirt subresource calls (``virtualmachines/start``, ``…/migrate``,
``virtualmachineinstances/console``, …) summed as "subres" (each one is in the JSON).
The session's own requests (discovery, preflight checks, creating the scenarios' namespaces) are
the "cluster-scoped" row; the preflight's RWX probe namespace has its own row.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _suite_runs import (OUT_DIR, BenchError, SubprocessEmulator, machine, main_guard, run_suite, scenarios, table,
                         write_json)

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timing", choices=("fast", "realistic"), default="realistic", help="emulator timing profile")
    p.add_argument("--seed", type=int, default=1, help="emulator jitter seed (default 1)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR", help="only scenarios matching EXPR")
    p.add_argument("--from", dest="source", type=Path, default=None, metavar="SUITE_OVERHEAD_JSON",
                   help="use the metrics saved by suite_overhead.py instead of running the suite")
    p.add_argument("--json", type=Path, default=OUT_DIR / "api_load.json", help="where to write the JSON")
    p.add_argument("--report-dir", type=Path, default=OUT_DIR / "runs" / "api_load",
                   help="the suite's report directory (kept for inspection)")
    return p.parse_args(argv)


def collect(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(metrics, [{scenario, namespace, wall}], run info)."""
    if args.source is not None:
        try:
            text = args.source.read_text()
        except OSError as exc:
            raise BenchError(f"cannot read {args.source}: {exc.strerror or exc}") from None
        try:
            doc = json.loads(text)
            metrics = doc["metrics"]
            rows = [{"scenario": r["scenario"], "namespace": r["namespace"], "wall": r.get("wall")}
                    for r in doc["scenarios"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise BenchError(f"{args.source} is not a suite_overhead.py JSON ({type(exc).__name__}: {exc})") from None
        return metrics, rows, {"from": str(args.source), "suite": doc.get("suite"), "timing": doc.get("timing")}
    print(f"api_load: {args.timing} profile, seed {args.seed}; running the suite …", flush=True)
    with SubprocessEmulator(args.timing, args.seed) as emu:
        suite = run_suite(args.report_dir, timing=args.timing, kubeconfig=emu.kubeconfig, select=args.select)
        metrics = emu.metrics(transitions=False)
    if suite.verdict == "<no summary>":
        raise BenchError(f"the suite wrote no summary (exit {suite.exit_code}): {suite.tail}")
    items = scenarios(args.report_dir, metrics)
    rows = [{"scenario": s.title, "namespace": s.namespace, "wall": s.pytest_seconds} for s in items]
    return metrics, rows, {"suite": suite.as_dict(), "timing": args.timing, "seed": args.seed}


def counts(metrics: dict[str, Any], namespace: str) -> dict[str, int]:
    verbs = dict(metrics.get("requests", {}).get(namespace, {}))
    out = {v: int(verbs.pop(v, 0)) for v in VERBS}
    out["subresource"] = sum(int(n) for v, n in verbs.items() if "/" in v)
    out["other"] = sum(int(n) for v, n in verbs.items() if "/" not in v)
    out["total"] = sum(out[v] for v in (*VERBS, "subresource", "other"))
    out["watch_connections"] = int(metrics.get("watches", {}).get(namespace, 0))
    return out


def run(args: argparse.Namespace) -> int:
    metrics, rows, info = collect(args)
    if any(r["namespace"] is None for r in rows):
        raise BenchError("no namespace found for: " + "; ".join(r["scenario"] for r in rows if r["namespace"] is None))
    spaces = metrics.get("requests", {})
    preflight = sorted(ns for ns in spaces if ns.startswith("vmconform-preflight-"))
    out_rows: list[dict[str, Any]] = []
    for r in rows:
        c = counts(metrics, r["namespace"])
        out_rows.append({**r, **c, "by_verb": spaces.get(r["namespace"], {}),
                         "by_resource": metrics.get("requests_by_resource", {}).get(r["namespace"], {}),
                         "requests_per_second": c["total"] / r["wall"] if r.get("wall") else None})
    extra = [("preflight RWX probe namespace", ns) for ns in preflight] + [("cluster-scoped (session)", "")]
    headers = ["scenario", "get", "list", "watch", "create", "update", "patch", "delete", "delcoll", "subres",
               "total", "req/s"]

    def line(name: str, c: dict[str, Any], rate: float | None) -> list[Any]:
        return [name[:58], *(c[v] for v in VERBS), c["subresource"], c["total"],
                rate if rate is not None else "-"]

    body = [line(r["scenario"], r, r["requests_per_second"]) for r in out_rows]
    n = len(out_rows)
    mean = {k: round(sum(r[k] for r in out_rows) / n, 1) for k in (*VERBS, "subresource", "total")} if n else {}
    if n:
        body.append(line(f"mean per scenario ({n})", mean, None))
    others = []
    for name, ns in extra:
        c = counts(metrics, ns)
        others.append({"row": name, "namespace": ns, **c, "by_resource": metrics.get("requests_by_resource", {}).get(ns, {})})
        body.append(line(name, c, None))
    print(table(headers, body))
    total = sum(counts(metrics, ns)["total"] for ns in spaces)
    watches = sum(int(v) for v in metrics.get("watches", {}).values())
    print(f"\nall requests: {total}; watch connections opened: {watches} "
          f"(the watch column counts watch connections; each watch is one request)")
    subres: dict[str, int] = {}
    for r in out_rows:
        for verb, k in r["by_verb"].items():
            if "/" in verb:
                subres[verb] = subres.get(verb, 0) + int(k)
    if subres:
        print("subresource calls: " + ", ".join(f"{v} {k}" for v, k in sorted(subres.items())))
    doc = {"benchmark": "api_load", "machine": machine(), **info, "scenarios": out_rows,
           "mean_per_scenario": mean, "session_rows": others, "all_requests": total, "watch_connections": watches,
           "subresource_calls": subres}
    write_json(args.json, doc)
    print(f"JSON: {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return main_guard("api_load", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
