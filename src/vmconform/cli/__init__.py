"""The ``vmconform`` command: run, emulator, cleanup, report, steps."""

from __future__ import annotations

import argparse
import sys

from . import emulator_cmd
from .exitcodes import USAGE


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line with our usage exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"vmconform: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vmconform", description="KubeVirt VM-management conformance suite")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    emulator_cmd.add_parser(sub)
    try:
        from . import run_cmd
    except ImportError:
        run_cmd = None  # type: ignore[assignment]
    if run_cmd is not None:
        run_cmd.add_parsers(sub)
        from . import steps_cmd

        steps_cmd.add_parser(sub)
        from . import incluster_cmd

        incluster_cmd.add_parsers(sub)
        from . import trend_cmd

        trend_cmd.add_parser(sub)
        from . import coverage_cmd

        coverage_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # a fleet run passes the options on to each cluster
    if not getattr(args, "func", None):
        parser.print_help()
        return USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        from ..signals import exit_code, name, received

        print(f"vmconform: interrupted by {name(received())}", file=sys.stderr)
        return exit_code(received())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
