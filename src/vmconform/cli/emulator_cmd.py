"""``vmconform emulator``: the emulated cluster as a standalone HTTPS API server."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from ..emulator import Emulator, Options
from ..emulator import kubeconfig as kubeconfig_mod
from ..emulator.kubevirt.timing import ADVERSARIAL, PROFILES, random_seed
from .exitcodes import USAGE


def add_parser(sub: Any) -> None:
    p = sub.add_parser("emulator", help="run the emulated KubeVirt cluster and write a kubeconfig for it")
    p.add_argument("--write-kubeconfig", metavar="PATH", required=True, help="where to write the kubeconfig")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--nodes", type=int, default=2, help="schedulable worker nodes (default 2)")
    p.add_argument("--timing", choices=PROFILES, default="fast",
                   help="how long each transition takes: fast (default), realistic, or adversarial "
                        "(every window KubeVirt allows gets a seeded random length, zero to seconds)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the timing draws (adversarial without one: a fresh seed, printed)")
    p.add_argument("--kubevirt-version", default=None, metavar="vX.Y.Z",
                   help="KubeVirt release to emulate (default v1.9.0); see README")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help="fault profile to play (repeatable); see README")
    p.add_argument("--step", action="append", default=[], metavar="NAME=SECONDS",
                   help="override one timing step, e.g. vmi.boot=5 (repeatable; names in emulator/kubevirt/timing.py)")
    p.add_argument("--token", action="append", default=[], metavar="NAME=CLUSTERROLE",
                   help="another user NAME bound to CLUSTERROLE, as the kubeconfig's context NAME (repeatable; "
                        "the admin stays the current context; CLUSTERROLE vmconform: the suite's own least-privilege role)")
    p.set_defaults(func=run)


def parse_tokens(items: list[str]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """``--token NAME=CLUSTERROLE`` values: the (name, role) pairs, or a one-line problem."""
    from ..emulator.kubeconfig import CONTEXT

    out: list[tuple[str, str]] = []
    for item in items:
        name, sep, role = item.partition("=")
        if not sep or not name or not role:
            return (), f"--token must be NAME=CLUSTERROLE, not {item!r}"
        if name == CONTEXT or name in (n for n, _ in out):
            return (), f"--token {name}: that name is already taken"
        out.append((name, role))
    return tuple(out), None


async def serve(options: Options, path: Path, controllers: list[Any] | None = None) -> None:
    """Run an emulated cluster until SIGINT/SIGTERM; one ready line once the kubeconfig is written."""
    emu = Emulator(options, controllers)
    await emu.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    kubeconfig_mod.write(path, emu.kubeconfig())
    seed = f", seed {options.seed}" if options.seed is not None else ""
    users = f"; contexts {', '.join(n for n, _ in options.tokens)} for --token" if options.tokens else ""
    print(f"vmconform emulator ready at {emu.url}; kubeconfig written to {path}; timing {options.timing}{seed}{users}",
          flush=True)
    await stop.wait()
    await emu.stop()


def parse_steps(items: list[str]) -> tuple[dict[str, float], str | None]:
    """``--step NAME=SECONDS`` values: the overrides, or a one-line problem."""
    try:
        from ..emulator.kubevirt.timing import STEPS
    except ImportError:
        STEPS = {}  # type: ignore[assignment]
    steps: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            return {}, f"--step must be NAME=SECONDS, not {item!r}"
        if name not in STEPS:
            return {}, f"--step: unknown timing step {name!r}"
        if not 0 <= seconds <= 3600:
            return {}, f"--step {name}: seconds must be between 0 and 3600, not {value!r}"
        steps[name] = seconds
    return steps, None


def run(args: argparse.Namespace) -> int:
    if args.nodes < 0:
        print("vmconform: error: --nodes must be 0 or more", file=sys.stderr)
        return USAGE
    if not 0 <= args.port <= 65535:
        print("vmconform: error: --port must be between 0 and 65535", file=sys.stderr)
        return USAGE
    try:
        from ..emulator.faults import validate_faults
    except ImportError:
        validate_faults = None  # type: ignore[assignment]
    if validate_faults is not None:
        problem = validate_faults(args.fault)
        if problem:
            print(f"vmconform: error: {problem}", file=sys.stderr)
            return USAGE
    from ..emulator.kubevirt.releases import UnknownRelease, release

    try:
        release(args.kubevirt_version)
    except UnknownRelease as exc:
        print(f"vmconform: error: {exc}", file=sys.stderr)
        return USAGE
    seed = args.seed if args.seed is not None or args.timing != ADVERSARIAL else random_seed()
    steps, problem = parse_steps(args.step)
    if problem:
        print(f"vmconform: error: {problem}", file=sys.stderr)
        return USAGE
    tokens, problem = parse_tokens(args.token)
    if problem:
        print(f"vmconform: error: {problem}", file=sys.stderr)
        return USAGE
    options = Options(nodes=args.nodes, timing=args.timing, seed=seed, faults=tuple(args.fault), port=args.port,
                      kubevirt_version=args.kubevirt_version, extra={"steps": steps} if steps else {},
                      tokens=tokens)
    try:
        asyncio.run(serve(options, Path(args.write_kubeconfig)))
    except OSError as exc:
        print(f"vmconform: error: cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return USAGE
    print("vmconform emulator stopped", flush=True)
    return 0
