"""``vmconform run``, ``vmconform cleanup`` and ``vmconform report``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from .. import optcheck, signals, verdict
from ..backends import BACKENDS
from ..emulator.kubevirt.timing import ADVERSARIAL, random_seed
from ..features import LANGS
from ..fleet import Many
from ..session import KEEP_CHOICES, Settings
from ..timeouts import parse_scale
from . import exitcodes

VERDICT_EXIT = {
    verdict.CONFORMANT: exitcodes.CONFORMANT,
    verdict.NOT_CONFORMANT: exitcodes.NOT_CONFORMANT,
    verdict.INCOMPLETE: exitcodes.INCOMPLETE,
    verdict.CLUSTER_LOST: exitcodes.CLUSTER_UNCHECKABLE,
    verdict.ERROR: exitcodes.INTERNAL_ERROR,
    # verdict.INTERRUPTED: 128 + the signal's number (signals.exit_code)
}


def project_root() -> Path:
    """The checkout that holds ``features/`` and ``steps/`` (the current directory first)."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (candidate / "features").is_dir() and (candidate / "steps").is_dir():
            return candidate
    return Path.cwd()


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it (or it is a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", default="emulated", help="cluster backend: emulated (in-process) or kind")
    p.add_argument("--kubeconfig", default=None, action=Many,
                   help="run against the real cluster of this kubeconfig (default: none, --cluster decides; "
                        "several: a fleet run, src/vmconform/fleet.py)")
    p.add_argument("--context", default=None, action=Many,
                   help="kubeconfig context (default: the kubeconfig's current one; several: a fleet run)")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="run the conformance suite and write the reports", formatter_class=HelpFormatter)
    _cluster_args(p)
    p.add_argument("--rwx-storage-class", default=None,
                   help="storage class for ReadWriteMany volumes (default: the cluster's default class)")
    p.add_argument("--rwo-storage-class", default=None,
                   help="storage class for ReadWriteOnce volumes (default: the cluster's default class)")
    p.add_argument("--vm-image", default=Settings.image, help="containerDisk image of the scenarios' VMs")
    p.add_argument("--vm-memory", default=Settings.memory, help="memory request of the scenarios' VMs")
    p.add_argument("--vm-source", default=Settings.vm_source,
                   help="the VMs' root disk: containerdisk, datasource:NS/NAME or pvc:NS/NAME")
    p.add_argument("--instancetype", default=None,
                   help="cluster instance type of the VMs, e.g. u1.small (default: none, --vm-memory)")
    p.add_argument("--preference", default=None, help="cluster preference of the VMs, e.g. fedora (default: none)")
    p.add_argument("--timeout-scale", default="1", help="multiply every timeout of the table by this factor")
    p.add_argument("--keep", default="never", help="keep scenario namespaces: never, on-failure or always")
    p.add_argument("--report-dir", default="reports",
                   help="where summary.json/.md, junit.xml, allure-results/ and allure-report/ go")
    # emulated-cluster options: None when not given (refused with --kubeconfig), then their defaults
    d = optcheck.EMULATED_ONLY
    p.add_argument("--emulator-timing", default=None,
                   help=f"emulated cluster timing profile: fast, realistic or adversarial (default: {d['emulator_timing']})")
    p.add_argument("--emulator-seed", default=None,
                   help="seed of the emulated cluster's timing (default: none; adversarial without one: "
                        "a fresh seed, printed)")
    p.add_argument("--emulator-nodes", default=None,
                   help=f"schedulable nodes of the emulated cluster (default: {d['emulator_nodes']})")
    p.add_argument("--emulator-storage", default=None,
                   help=f"storage classes of the emulated cluster: rwx,rwo or rwo (default: {d['emulator_storage']})")
    p.add_argument("--emulator-fault", action="append", default=None, metavar="NAME",
                   help="play a fault profile on the emulated cluster, repeatable (default: none)")
    p.add_argument("--guest-user", default=None, help="serial-console user (default: the demo image's)")
    p.add_argument("--guest-password", default=None, help="serial-console password (default: the demo image's)")
    p.add_argument("--kind-bin", default=None, help="kind executable with --cluster kind (default: kind on PATH, else the pinned download)")
    p.add_argument("--kind-kubectl-bin", default=None,
                   help="kubectl executable with --cluster kind (default: kubectl on PATH, else the pinned download)")
    p.add_argument("--kind-image", default=None,
                   help="kind node image with --cluster kind (default: pinned in clusters/kind/install.yaml)")
    p.add_argument("--kind-cluster-name", default=None, help="kind cluster name with --cluster kind (default: vmconform)")
    p.add_argument("--kind-keep", action="store_true",
                   help="keep (and reuse) the kind cluster (default: delete it afterwards)")
    p.add_argument("--allow-disruptive", action="store_true",
                   help="let the maintenance scenarios cordon and drain a node; a real cluster needs this "
                        "(default: off; the emulated and kind clusters are the suite's own and allow it)")
    p.add_argument("--kubevirt-version", default=None,
                   help="KubeVirt release: installed on kind (default: pinned), emulated otherwise (default v1.9.0)")
    p.add_argument("--kubevirt-emulation", default="auto", choices=("auto", "on", "off"),
                   help="KubeVirt useEmulation on kind: auto (when no /dev/kvm), on, off")
    # lab authors (issue 21): the "lab coverage" page of summary.md and Allure
    p.add_argument("--lab", default=None, metavar="LAB.md",
                   help="lab document whose steps get this run's verdicts in a 'lab coverage' page "
                        "(default: the suite's lab, lab/vm_management.ko.md, when --features is not given)")
    p.add_argument("-n", "--parallel", default=None, metavar="N",
                   help="run scenarios in N processes with pytest-xdist (default: one process)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR",
                   help="only scenarios whose names match EXPR (default: all)")
    p.add_argument("-m", dest="markexpr", default=None, metavar="EXPR",
                   help="only scenarios whose tags match EXPR, e.g. 'lab-2.1 and not guest' (default: all)")
    p.add_argument("--lang", default=None, choices=LANGS,
                   help="the lab's feature files in English (en, default), Korean (ko) or both (all); "
                        "with --features: which of those files (default all)")
    p.add_argument("--features", default=None, metavar="PATH",
                   help="run your own feature files (a .feature file or a folder) with the suite's steps "
                        "(default: the lab's features/)")
    p.add_argument("--no-html", action="store_true", help="do not build the Allure HTML report (default: build it)")
    # nightly runs (issue 20)
    p.add_argument("--list", dest="list_only", action="store_true",
                   help="print the selected scenarios with their tags and lab steps and exit; "
                        "nothing is created on any cluster (default: run them)")
    p.add_argument("--fail-on-slowdown", action="store_true",
                   help="exit 1 when a transition was slower than usual: over 2x the median of its last 10 runs, "
                        "with at least 5 runs (default: only a note in the reports)")
    p.add_argument("--emulator-step", action="append", default=None, metavar="NAME=SECONDS",
                   help="emulated cluster: override one timing step, e.g. migration.transfer=2, repeatable "
                        "(default: none; names in emulator/kubevirt/timing.py)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="pytest's dots only, no progress lines (default: a live line on a terminal, "
                        "a line per finished step otherwise)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    p.set_defaults(func=run)

    c = sub.add_parser("cleanup", help="delete what earlier runs left behind (selected by label only)")
    _cluster_args(c)
    c.add_argument("--run-id", default=None, help="only this run's objects")
    c.add_argument("--force", action="store_true",
                   help="also delete the namespaces of runs that are still running (fresh Lease)")
    c.set_defaults(func=cleanup)

    r = sub.add_parser("report", help="build the single-file Allure HTML report from reports/allure-results")
    r.add_argument("--report-dir", default="reports", help="the run's report folder (default: reports)")
    r.set_defaults(func=report)


def _fail(message: str, code: int) -> int:
    print(f"vmconform: {message}", file=sys.stderr)
    return code


def validate(args: argparse.Namespace) -> str | None:
    if args.cluster not in BACKENDS:
        return f"unknown --cluster {args.cluster!r}: choose emulated or kind, or give --kubeconfig PATH"
    values = vars(args)
    if args.kubeconfig:
        problem = optcheck.refuse_with_kubeconfig(values, defaults_given=True)
        if problem:
            return problem
    for dest, default in optcheck.EMULATED_ONLY.items():
        if dest in values and values[dest] is None:
            setattr(args, dest, list(default) if isinstance(default, list) else default)
    if args.kubeconfig:
        problem = kubeconfig_problem(args.kubeconfig, args.context)
        if problem:
            return problem
    try:
        parse_scale(args.timeout_scale)
    except ValueError as exc:
        return str(exc)
    if args.keep not in KEEP_CHOICES:
        return f"--keep must be one of {', '.join(KEEP_CHOICES)}, not {args.keep!r}"
    problem = optcheck.check_values(values)
    if problem:
        return problem
    if args.parallel is not None and not (str(args.parallel).isdigit() or args.parallel == "auto"):
        return f"--parallel must be a non-negative integer, not {args.parallel!r}"
    if args.cluster == "emulated" and not args.kubeconfig and args.kubevirt_version is not None:
        from ..emulator.kubevirt.releases import UnknownRelease, release

        try:
            release(args.kubevirt_version)
        except UnknownRelease as exc:
            return str(exc)
    kind_given = [flag for flag, value in (("--kind-bin", args.kind_bin), ("--kind-kubectl-bin", args.kind_kubectl_bin),
                                           ("--kind-image", args.kind_image),
                                           ("--kind-cluster-name", args.kind_cluster_name),
                                           ("--kind-keep", args.kind_keep)) if value]
    if kind_given and (args.cluster != "kind" or args.kubeconfig):
        return f"{', '.join(kind_given)} only apply to --cluster kind (without --kubeconfig)"
    if args.cluster == "kind" and args.parallel and not args.kubeconfig:
        return "--parallel is not supported with --cluster kind (every worker would set up the cluster)"
    if args.emulator_fault:
        try:
            from ..emulator.faults import validate_faults
        except ImportError:
            return "fault profiles are not available in this build"
        problem = validate_faults(args.emulator_fault)
        if problem:
            return problem
    if args.emulator_step:
        from .emulator_cmd import parse_steps

        problem = parse_steps(args.emulator_step)[1]
        if problem:
            return problem.replace("--step", "--emulator-step")
    return report_dir_problem(Path(args.report_dir))


def kubeconfig_problem(path: str, context: str | None) -> str | None:
    """A kubeconfig that cannot be used (missing, unreadable, not a kubeconfig, unknown context): one line."""
    from ..kube.client import Cluster

    if not Path(path).is_file():
        return f"kubeconfig {path} does not exist"
    try:
        Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read kubeconfig {path}: {exc.strerror or exc}"
    try:
        Cluster.from_kubeconfig(path, context).close()
    except Exception as exc:  # noqa: BLE001 - garbage, or a context it does not have
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if context and "context" in text.lower():
            return f"kubeconfig {path} has no context {context!r}"
        return f"cannot use kubeconfig {path}: {text}"
    return None


def report_dir_problem(report_dir: Path) -> str | None:
    """The report directory must be a directory we can write in, or one we can create (nothing is created here)."""
    import tempfile

    if report_dir.exists() and not report_dir.is_dir():
        return f"--report-dir {report_dir} is a file, not a directory"
    existing = report_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot write reports to --report-dir {report_dir}: {existing} is not a directory"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".vmconform-write-check-"):
            pass
    except OSError as exc:
        return f"cannot write reports to --report-dir {report_dir}: {exc.strerror or exc}"
    return None


def _preflight(args: argparse.Namespace) -> str | None:
    """For a real cluster, check it before pytest starts, so a failure is one clean line."""
    from ..kube.client import Cluster
    from ..preflight import Uncheckable, check

    cluster = Cluster.from_kubeconfig(args.kubeconfig, args.context)  # checked by validate()
    try:
        check(cluster, rwx_class=args.rwx_storage_class, rwo_class=args.rwo_storage_class)
        if (problem := __import__("vmconform.preflight_cdi").preflight_cdi.require(cluster, args)):
            raise Uncheckable(problem)
    except Uncheckable as exc:
        return f"cluster could not be checked: {exc}"
    finally:
        cluster.close()
    return None


def check_features(args: argparse.Namespace, root: Path) -> list[str]:
    """The selected feature files against the step vocabulary: one line per problem, none when all is known."""
    from ..stepcheck import check_sources

    return check_sources(root, [Path(args.features) if args.features else None], args.lang)[1]


def rootdir(root: Path, features: str | None) -> Path:
    """pytest's rootdir: the checkout, or the folder that holds both it and a lab author's features."""
    if not features:
        return root
    return Path(os.path.commonpath([root.resolve(), Path(features).resolve()]))


def pytest_argv(args: argparse.Namespace, root: Path, report_dir: Path) -> list[str]:
    argv = [str(root / "features"), "-p", "no:cacheprovider", "-q", "-rs",
            # this process imported vmconform before pytest started: its asserts need no rewriting
            "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
            f"--alluredir={report_dir / 'allure-results'}", f"--junitxml={report_dir / 'junit.xml'}",
            f"--rootdir={rootdir(root, args.features)}", f"--report-dir={report_dir}", f"--cluster={args.cluster}",
            f"--timeout-scale={args.timeout_scale}", f"--keep={args.keep}",
            f"--vm-image={args.vm_image}", f"--vm-memory={args.vm_memory}", f"--vm-source={args.vm_source}",
            f"--emulator-timing={args.emulator_timing}", f"--emulator-nodes={args.emulator_nodes}",
            f"--emulator-storage={args.emulator_storage}"]
    for flag, value in (("--kubeconfig", args.kubeconfig), ("--context", args.context),
                        ("--rwx-storage-class", args.rwx_storage_class),
                        ("--rwo-storage-class", args.rwo_storage_class), ("--emulator-seed", args.emulator_seed),
                        ("--guest-user", args.guest_user), ("--guest-password", args.guest_password),
                        ("--kind-bin", args.kind_bin), ("--kind-kubectl-bin", args.kind_kubectl_bin),
                        ("--kind-image", args.kind_image), ("--cluster-name", args.kind_cluster_name),
                        ("--kubevirt-version", args.kubevirt_version),
                        ("--instancetype", args.instancetype), ("--preference", args.preference)):
        if value is not None:
            argv.append(f"{flag}={value}")
    if args.features:
        argv.append(f"--features={Path(args.features).resolve()}")
    if args.lang:
        argv.append(f"--lang={args.lang}")
    if args.kind_keep:
        argv.append("--kind-keep")
    if args.allow_disruptive:
        argv.append("--allow-disruptive")
    if args.lab:
        argv.append(f"--lab={Path(args.lab).resolve()}")
    if args.cluster == "kind":
        argv.append(f"--kubevirt-emulation={args.kubevirt_emulation}")
    for fault in args.emulator_fault:
        argv.append(f"--emulator-fault={fault}")
    for step in getattr(args, "emulator_step", None) or []:
        argv.append(f"--emulator-step={step}")
    if args.parallel:
        argv += ["-n", str(args.parallel)]
        if not any(a == "-d" or a.startswith("--dist") for a in args.pytest_args):
            # idle workers take queued scenarios from busy ones (benchmarks/parallel_scaling.py)
            argv += ["--dist", "worksteal"]
    if not getattr(args, "quiet", True) and not args.parallel:
        argv.append("--vmconform-progress=on")
    if args.select:
        argv += ["-k", args.select]
    if args.markexpr:
        argv += ["-m", args.markexpr]
    return argv + list(args.pytest_args)


def run(args: argparse.Namespace) -> int:
    from .. import fleet

    if fleet.wanted(args):  # several clusters: a process each (fleet.py)
        return run_fleet(args)
    problem = validate(args)
    if problem:
        return _fail(problem, exitcodes.USAGE)
    root = project_root()
    if args.lab and not Path(args.lab).is_file():
        return _fail(f"--lab {args.lab}: no such file", exitcodes.USAGE)
    problems = check_features(args, root)
    if problems:
        for line in problems:
            print(f"vmconform: {line}", file=sys.stderr)
        return exitcodes.USAGE
    if args.list_only:  # before any cluster is checked, started or created
        return list_scenarios(args, root)
    if args.kubeconfig:
        problem = _preflight(args)
        if problem:
            return _fail(problem, exitcodes.CLUSTER_UNCHECKABLE)
    elif args.cluster == "kind":
        from ..kind.prereq import precheck

        problem = precheck(args.kind_bin, args.kind_kubectl_bin, args.kind_cluster_name or "vmconform", args.kind_image)
        if problem:
            return _fail(problem, exitcodes.PREREQUISITE_MISSING)
    if args.emulator_timing == ADVERSARIAL and args.emulator_seed is None and not args.kubeconfig \
            and args.cluster == "emulated":
        args.emulator_seed = str(random_seed())  # one seed for every worker, printed so the run can be replayed
        print(f"vmconform: adversarial timing with --emulator-seed {args.emulator_seed}", flush=True)
    report_dir = Path(args.report_dir).resolve()
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot write reports to --report-dir {report_dir}: {exc.strerror or exc}", exitcodes.USAGE)
    summary_file = report_dir / "summary.json"
    summary_file.unlink(missing_ok=True)
    # a run's results are its own (older runs live on in allure-report/history.jsonl)
    for stale in ("allure-results", "evidence"):
        shutil.rmtree(report_dir / stale, ignore_errors=True)
    import pytest

    signals.install()  # SIGTERM and SIGHUP clean up like Ctrl-C
    try:
        code = int(pytest.main(pytest_argv(args, root, report_dir)))
    except KeyboardInterrupt:  # a second signal while pytest was finishing
        code = int(pytest.ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - pytest itself failed (e.g. reporting an interrupt): judge by the summary
        print(f"vmconform: pytest failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = int(pytest.ExitCode.INTERNAL_ERROR)
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
    if summary is not None and summary["verdict"] in verdict.UNFINISHED:
        ended = summary.get("ended") or {}
        print(f"vmconform: verdict {summary['verdict']}: {ended.get('message', '')}; "
              f"summary {report_dir / 'summary.md'}, JUnit {report_dir / 'junit.xml'}", file=sys.stderr)
        if summary["verdict"] == verdict.INTERRUPTED:
            return signals.exit_code(signals.received())
        return VERDICT_EXIT[summary["verdict"]]
    if signals.received() is not None:
        return _fail(f"interrupted by {signals.name(signals.received())}", signals.exit_code(signals.received()))
    if code == int(pytest.ExitCode.INTERRUPTED):  # pytest's exit 2 without a signal: collection errors
        return _fail("the feature files could not be collected (see the errors above)", exitcodes.USAGE)
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED) and summary is None and args.cluster != "kind":
        return _fail("no scenario selected" + (f" by -k {args.select!r}" if args.select else "")
                     + (f" by -m {args.markexpr!r}" if args.markexpr else ""), exitcodes.USAGE)
    if code == exitcodes.CLUSTER_UNCHECKABLE and summary is None:
        return exitcodes.CLUSTER_UNCHECKABLE
    if code == exitcodes.PREREQUISITE_MISSING and args.cluster == "kind" and summary is None:
        return exitcodes.PREREQUISITE_MISSING
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED) and summary is None:
        return _fail("no scenario selected", exitcodes.USAGE)
    if code == int(pytest.ExitCode.USAGE_ERROR):
        return exitcodes.USAGE
    if summary is None:
        return _fail(f"the run ended without a verdict (pytest exit {code}); see the output above",
                     exitcodes.INTERNAL_ERROR)
    print(f"vmconform: verdict {summary['verdict']}; summary {report_dir / 'summary.md'}, JUnit {report_dir / 'junit.xml'}")
    if not args.no_html:
        _build_html(report_dir, root)
    code = VERDICT_EXIT[summary["verdict"]]
    slow = summary.get("slower_than_usual") or []
    if slow and args.fail_on_slowdown and code == exitcodes.CONFORMANT:
        print(f"vmconform: --fail-on-slowdown: slower than usual: {slow[0]['message']}", file=sys.stderr)
        return exitcodes.NOT_CONFORMANT
    return code


def list_scenarios(args: argparse.Namespace, root: Path) -> int:
    """``--list``: collect with the run's selection, print the scenarios in the lab's order, exit 0."""
    import tempfile

    from ..listing import collect, render

    args.parallel = None
    with tempfile.TemporaryDirectory(prefix="vmconform-list-") as tmp:
        argv = [a for a in pytest_argv(args, root, Path(tmp))
                if not a.startswith(("--alluredir=", "--junitxml="))]
        code, items, output = collect(argv)
    if code not in (0, 5) or (code == 5 and not items and "error" in output.lower()):
        print(output.rstrip(), file=sys.stderr)
        return _fail("the feature files could not be collected (see the errors above)", exitcodes.USAGE)
    for line in render(items):
        print(line)
    return 0


def run_fleet(args: argparse.Namespace) -> int:
    from .. import fleet

    found, problem = fleet.targets(args)
    for t in found:
        problem = problem or kubeconfig_problem(t.kubeconfig, t.context)
    if not problem and found:
        args.kubeconfig, args.context = found[0].kubeconfig, found[0].context
        problem = validate(args)  # the other options, once
    if problem:
        return _fail(problem, exitcodes.USAGE)
    report_dir = Path(args.report_dir).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    return fleet.run(args, list(getattr(args, "argv", None) or sys.argv[1:]), report_dir)


def _build_html(report_dir: Path, root: Path) -> None:
    try:
        from ..report.html import build_html
    except ImportError:
        return
    result = build_html(report_dir / "allure-results", report_dir / "allure-report", project_root=root)
    print(f"vmconform: {result.message}")


def cleanup(args: argparse.Namespace) -> int:
    from ..cleanup import remove_leftovers

    if args.cluster not in BACKENDS:
        return _fail(f"unknown --cluster {args.cluster!r}", exitcodes.USAGE)
    if not args.kubeconfig:
        return _fail("cleanup needs --kubeconfig PATH (the emulated cluster keeps nothing between runs)",
                     exitcodes.USAGE)
    if len(getattr(args, "kubeconfig_all", None) or []) > 1 or len(getattr(args, "context_all", None) or []) > 1:
        return _fail("cleanup takes one --kubeconfig and one --context", exitcodes.USAGE)
    problem = kubeconfig_problem(args.kubeconfig, args.context)
    if problem:
        return _fail(problem, exitcodes.USAGE)
    return remove_leftovers(args.kubeconfig, args.context, args.run_id, force=args.force)


def report(args: argparse.Namespace) -> int:
    report_dir = Path(args.report_dir)
    results = report_dir / "allure-results"
    if not results.is_dir():
        return _fail(f"no Allure results in {results}: run `vmconform run` first", exitcodes.USAGE)
    try:
        from ..report.html import build_html
    except ImportError:
        return _fail("the HTML report builder is not available", exitcodes.USAGE)
    result = build_html(results, report_dir / "allure-report", project_root=project_root())
    print(f"vmconform: {result.message}")
    return {"failed": 1, "node-missing": exitcodes.PREREQUISITE_MISSING}.get(result.status, 0)
