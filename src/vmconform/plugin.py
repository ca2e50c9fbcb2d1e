"""pytest plugin: the suite's options, its session (cluster + preflight), scenario namespaces and verdicts.

It stays inert unless pytest-bdd scenarios are collected. ``--kubeconfig`` and ``--kind-bin`` are
pytest-kind's options (installed beside us), which this plugin reads rather than redefines.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from . import optcheck, signals, stepindex, verdict
from .backends import BACKENDS
from .features import LANGS, Choice, SelectionError, choose, select
from .session import KEEP_CHOICES, Settings
from .timeouts import parse_scale

STASH_KEY = pytest.StashKey["SuiteController"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("vmconform", "vmconform conformance suite")
    g.addoption("--cluster", default="emulated", metavar="NAME",
                help="cluster backend: emulated (default, in-process) or kind; "
                     "--kubeconfig PATH selects a real cluster instead")
    g.addoption("--context", default=None, help="kubeconfig context (with --kubeconfig)")
    g.addoption("--rwx-storage-class", default=None, help="storage class for ReadWriteMany volumes (default: the cluster's default class)")
    g.addoption("--rwo-storage-class", default=None, help="storage class for ReadWriteOnce volumes (default: the cluster's default class)")
    g.addoption("--vm-image", default=Settings.image, help="containerDisk image of the scenarios' VMs")
    g.addoption("--vm-memory", default=Settings.memory, help="memory request of the scenarios' VMs")
    g.addoption("--vm-source", default=Settings.vm_source,
                help="root disk of the scenarios' VMs: containerdisk (default), datasource:NS/NAME or pvc:NS/NAME")
    g.addoption("--instancetype", default=None, help="cluster instance type of the scenarios' VMs (instead of --vm-memory)")
    g.addoption("--preference", default=None, help="cluster preference of the scenarios' VMs")
    g.addoption("--timeout-scale", default="1", help="multiply every timeout of the table by this factor")
    g.addoption("--keep", default="never", help="keep scenario namespaces: never (default), on-failure, always")
    g.addoption("--report-dir", default="reports", help="where summary.json, summary.md and evidence/ go")
    g.addoption("--emulator-timing", default="fast",
                help="emulated cluster timing profile: fast, realistic or adversarial")
    g.addoption("--emulator-seed", default=None,
                help="seed of the emulated cluster's timing (adversarial without one: a fresh seed, printed)")
    g.addoption("--emulator-nodes", default="2", help="schedulable nodes of the emulated cluster")
    g.addoption("--emulator-storage", default="rwx,rwo",
                help="storage classes of the emulated cluster: rwx,rwo (default) or rwo")
    g.addoption("--emulator-fault", action="append", default=[], metavar="NAME",
                help="play a fault profile on the emulated cluster (repeatable)")
    g.addoption("--emulator-step", action="append", default=[], metavar="NAME=SECONDS",
                help="override one timing step of the emulated cluster, e.g. migration.transfer=2 (repeatable)")
    g.addoption("--lang", default=None, choices=LANGS,
                help="which of the lab's feature files run: en (default), ko or all; with --features: all by default")
    g.addoption("--features", dest="vmconform_features", default=None, metavar="PATH",
                help="run these feature files (a file or a folder) with the suite's steps instead of the lab's")
    g.addoption("--lab", dest="vmconform_lab", default=None, metavar="LAB.md",
                help="lab document for the 'lab coverage' page (default: the suite's lab with the suite's features)")
    g.addoption("--guest-user", default=None, help="serial-console user (default: the demo image's)")
    g.addoption("--guest-password", default=None, help="serial-console password (default: the demo image's)")
    g.addoption("--allow-disruptive", action="store_true", default=False,
                help="let the maintenance scenarios cordon and drain a node of a real cluster "
                     "(always allowed on the emulated and kind clusters)")
    g.addoption("--kind-keep", action="store_true", default=False,
                help="with --cluster kind: keep the kind cluster afterwards (and reuse it next time)")
    g.addoption("--vmconform-run-id", default=None, help=argparse_suppress())
    g.addoption("--vmconform-progress", default="off", choices=("on", "off"), help=argparse_suppress())
    from .kind.options import add_kind_options

    add_kind_options(parser)


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


class OptionError(ValueError):
    pass


def settings_from(config: pytest.Config) -> Settings:
    """Validate the options; raises OptionError with a one-line reason."""
    backend = config.getoption("cluster")
    kubeconfig = config.getoption("kubeconfig", default=None)
    if backend not in BACKENDS:
        raise OptionError(f"unknown --cluster {backend!r}: choose emulated or kind, or give --kubeconfig PATH")
    if kubeconfig:
        if not Path(kubeconfig).is_file():
            raise OptionError(f"kubeconfig {kubeconfig} does not exist")
        backend = "kubeconfig"
    try:
        scale = parse_scale(config.getoption("timeout_scale"))
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    keep = config.getoption("keep")
    if keep not in KEEP_CHOICES:
        raise OptionError(f"--keep must be one of {', '.join(KEEP_CHOICES)}, not {keep!r}")
    values = {dest: config.getoption(dest, default=None) for dest in {*optcheck.CHECKS, *optcheck.EMULATED_ONLY}}
    problem = optcheck.check_values(values)
    if problem:
        raise OptionError(problem)
    if values.get("emulator_step"):
        from .cli.emulator_cmd import parse_steps

        problem = parse_steps(values["emulator_step"])[1]  # type: ignore[arg-type]
        if problem:
            raise OptionError(problem.replace("--step", "--emulator-step"))
    if kubeconfig:
        problem = optcheck.refuse_with_kubeconfig(values)
        if problem:
            raise OptionError(problem)
    if backend == "emulated":
        from .emulator.kubevirt.releases import UnknownRelease, release

        try:
            release(config.getoption("kubevirt_version", default=None))
        except UnknownRelease as exc:
            raise OptionError(str(exc)) from None
    source = config.getoption("vmconform_features")
    choice = Choice(Path(source).resolve() if source else None, config.getoption("lang"))
    try:
        select(config.rootpath / "features", choice.source, choice.lang)
    except SelectionError as exc:
        if source or choice.lang:  # the checkout's own features are only required when asked for
            raise OptionError(str(exc)) from None
    if choice.source is not None and not choice.source.is_relative_to(config.rootpath):
        # Allure and pytest-bdd name feature files by their path under the rootdir
        raise OptionError(f"--features {source} is outside pytest's rootdir {config.rootpath}: "
                          f"add --rootdir with a folder that holds both (vmconform run does this itself)")
    choose(choice)
    return Settings(
        backend=backend, kubeconfig=kubeconfig, context=config.getoption("context"),
        rwx_class=config.getoption("rwx_storage_class"), rwo_class=config.getoption("rwo_storage_class"),
        image=config.getoption("vm_image"), memory=config.getoption("vm_memory"), timeout_scale=scale,
        keep=keep, report_dir=config.getoption("report_dir"),
        guest_user=config.getoption("guest_user"), guest_password=config.getoption("guest_password"),
        allow_disruptive=bool(config.getoption("allow_disruptive")),
        vm_source=config.getoption("vm_source"), instancetype=config.getoption("instancetype"),
        preference=config.getoption("preference"),
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = settings_from(config)
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput"):
        signals.install()  # SIGTERM and SIGHUP clean up like Ctrl-C
    stepindex.install()  # each step's definition found once per step text (pytest-bdd tries every fixture)
    from .controller import SuiteController

    if config.getoption("vmconform_progress") == "on" and not hasattr(config, "workerinput") \
            and not getattr(config.option, "numprocesses", None) and not config.option.collectonly:
        from .progress import Progress

        config.pluginmanager.register(Progress(), "vmconform-progress")
    controller = SuiteController(config, settings)
    config.stash[STASH_KEY] = controller
    config.pluginmanager.register(controller, "vmconform-controller")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (features, steps, the API schemas) lives until the end of the run: frozen out
    of the garbage collector's way, so that its full passes — ~100 ms each over everything — no longer
    land in the middle of a scenario (benchmarks/suite_overhead.py)."""
    gc.freeze()


def controller_of(config: pytest.Config) -> Any:
    return config.stash[STASH_KEY]


@pytest.fixture(scope="session")
def vmconform_session(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The suite session: cluster client, preflight facts, timeouts, run labels."""
    yield controller_of(request.config).session()


@pytest.fixture
def vmconform_scenario(request: pytest.FixtureRequest, vmconform_session: Any) -> Iterator[Any]:
    """A scenario's own namespace and context; deleted (and waited for) afterwards unless kept."""
    from .scenario import ScenarioContext

    ctx = ScenarioContext.open(vmconform_session, request)
    try:
        yield ctx
    finally:
        ctx.close(request)


def print_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


__all__ = ["verdict", "vmconform_session", "vmconform_scenario"]
