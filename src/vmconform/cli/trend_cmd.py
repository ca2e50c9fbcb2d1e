"""``vmconform trend``: transition times over the recorded runs — charts, a table, the slowdown rule."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import exitcodes


def add_parser(sub: Any) -> None:
    from .run_cmd import HelpFormatter

    t = sub.add_parser("trend", help="chart each transition's time over the recorded runs (median, p90, latest)",
                       formatter_class=HelpFormatter)
    t.add_argument("--report-dir", default="reports", help="the runs' report folder (its allure-report/ holds the history)")
    t.add_argument("--cluster", dest="trend_cluster", default=None, metavar="KEY",
                   help="whose runs, e.g. 'emulated (fast)' or an API server (default: the latest run's cluster)")
    t.add_argument("--out", default=None, metavar="DIR",
                   help="where index.html and a PNG per transition go (default: REPORT_DIR/trend)")
    t.add_argument("--fail-on-slowdown", action="store_true",
                   help="exit 1 when the latest run was slower than usual (default: only a note)")
    t.set_defaults(func=trend)


def trend(args: argparse.Namespace) -> int:
    from ..trend import history, load, slowdowns

    report_dir = Path(args.report_dir)
    everything = load(report_dir)
    if not everything:
        print(f"vmconform: no transition history in {history.history_path(report_dir)}: run `vmconform run` first",
              file=sys.stderr)
        return exitcodes.USAGE
    cluster = args.trend_cluster or everything[-1]["cluster"]
    entries = [e for e in everything if e.get("cluster") == cluster]
    if not entries:
        known = sorted({str(e.get("cluster")) for e in everything})
        print(f"vmconform: no runs of cluster {cluster!r} in the history; known: {', '.join(known)}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        from ..trend.chart import render_table, table, write_page
    except ImportError as exc:  # matplotlib missing from a broken install
        print(f"vmconform: cannot draw charts: {exc}", file=sys.stderr)
        return exitcodes.PREREQUISITE_MISSING
    out = Path(args.out) if args.out else report_dir / "trend"
    try:
        index = write_page(entries, out, cluster)
    except OSError as exc:
        print(f"vmconform: cannot write the trend page to {out}: {exc.strerror or exc}", file=sys.stderr)
        return exitcodes.USAGE
    print(f"transition times of {len(entries)} runs on {cluster}")
    for line in render_table(table(entries)):
        print(line)
    slow = slowdowns(entries[:-1], entries[-1])
    for s in slow:
        print(f"slower than usual: {s.message()}")
    print(f"vmconform: trend page {index}")
    if slow and args.fail_on_slowdown:
        print(f"vmconform: --fail-on-slowdown: the latest run was slower than usual ({slow[0].message()})",
              file=sys.stderr)
        return exitcodes.NOT_CONFORMANT
    return 0
