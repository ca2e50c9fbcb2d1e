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


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", default="emulated", help="emulated (default) or kind")
    p.add_argument("--kubeconfig", default=None, help="run against the real cluster of this kubeconfig")
    p.add_argument("--context", default=None, help="kubeconfig context")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="run the conformance suite and write the reports")
    _cluster_args(p)
    p.add_argument("--rwx-storage-class", default=None)
    p.add_argument("--rwo-storage-class", default=None)
    p.add_argument("--vm-image", default=Settings.image)
    p.add_argument("--vm-memory", default=Settings.memory)
    p.add_argument("--vm-source", default=Settings.vm_source, help="containerdisk, datasource:NS/NAME or pvc:NS/NAME")
    p.add_argument("--instancetype", default=None, help="cluster instance type of the VMs (e.g. u1.small)")
    p.add_argument("--preference", default=None, help="cluster preference of the VMs (e.g. fedora)")
    p.add_argument("--timeout-scale", default="1")
    p.add_argument("--keep", default="never", help="never, on-failure or always")
    p.add_argument("--report-dir", default="reports")
    # emulated-cluster options: None when not given (refused with --kubeconfig), then their defaults
    p.add_argument("--emulator-timing", default=None, help="fast, realistic or adversarial")
    p.add_argument("--emulator-seed", default=None,
                   help="seed of the emulated cluster's timing (adversarial without one: a fresh seed, printed)")
    p.add_argument("--emulator-nodes", default=None)
    p.add_argument("--emulator-storage", default=None)
    p.add_argument("--emulator-fault", action="append", default=None, metavar="NAME")
    p.add_argument("--guest-user", default=None)
    p.add_argument("--guest-password", default=None)
    p.add_argument("--kind-bin", default=None, help="kind executable (with --cluster kind)")
    p.add_argument("--kind-kubectl-bin", default=None, help="kubectl executable (with --cluster kind)")
    p.add_argument("--kind-image", default=None,
                   help="kind node image (with --cluster kind; default pinned in clusters/kind/install.yaml)")
    p.add_argument("--kind-cluster-name", default=None, help="kind cluster name (with --cluster kind; default vmconform)")
    p.add_argument("--kind-keep", action="store_true", help="keep (and reuse) the kind cluster")
    p.add_argument("--allow-disruptive", action="store_true",
                   help="let the maintenance scenarios cordon and drain a node (a real cluster needs this)")
    p.add_argument("--kubevirt-version", default=None,
                   help="KubeVirt release: installed on kind (default: pinned), emulated otherwise (default v1.9.0)")
    p.add_argument("--kubevirt-emulation", default="auto", choices=("auto", "on", "off"),
                   help="KubeVirt useEmulation on kind: auto (when no /dev/kvm), on, off")
    # lab authors (issue 21): the "lab coverage" page of summary.md and Allure
    p.add_argument("--lab", default=None, metavar="LAB.md",
                   help="lab document whose steps get this run's verdicts in a 'lab coverage' page "
                        "(default: the suite's lab, lab/vm_management.ko.md, when --features is not given)")
    p.add_argument("-n", "--parallel", default=None, metavar="N", help="run scenarios in N processes (pytest-xdist)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR", help="only scenarios matching EXPR")
    p.add_argument("-m", dest="markexpr", default=None, metavar="EXPR",
                   help="only scenarios whose tags match EXPR (e.g. 'lab-2.1 and not guest')")
    p.add_argument("--lang", default=None, choices=LANGS,
                   help="the lab's feature files in English (en, default), Korean (ko) or both (all); "
                        "with --features: which of those files (default all)")
    p.add_argument("--features", default=None, metavar="PATH",
                   help="run your own feature files (a .feature file or a folder) with the suite's steps")
    p.add_argument("--no-html", action="store_true", help="do not build the Allure HTML report")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    p.set_defaults(func=run)

    c = sub.add_parser("cleanup", help="delete what earlier runs left behind (selected by label only)")
    _cluster_args(c)
    c.add_argument("--run-id", default=None, help="only this run's objects")
    c.add_argument("--force", action="store_true",
                   help="also delete the namespaces of runs that are still running (fresh Lease)")
    c.set_defaults(func=cleanup)

    r = sub.add_parser("report", help="build the single-file Allure HTML report from reports/allure-results")
    r.add_argument("--report-dir", default="reports")
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
    if args.parallel:
        argv += ["-n", str(args.parallel)]
        if not any(a == "-d" or a.startswith("--dist") for a in args.pytest_args):
            # idle workers take queued scenarios from busy ones (benchmarks/parallel_scaling.py)
            argv += ["--dist", "worksteal"]
    if args.select:
        argv += ["-k", args.select]
    if args.markexpr:
        argv += ["-m", args.markexpr]
    return argv + list(args.pytest_args)


def run(args: argparse.Namespace) -> int:
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
    return VERDICT_EXIT[summary["verdict"]]


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
