"""The plugin's stateful half: starts the cluster on demand, skips what cannot be verified, computes verdicts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from . import __version__, allure_env, exclusive, signals, verdict
from .backends import EmulatorSettings, RunningEmulator
from .kube.client import ApiCallFailed, Cluster, ClusterUnreachable
from .lease import RunLease
from .labels import new_run_id, run_labels, text_id
from .permissions import missing_reason, run_needs, scenario_needs
from .preflight import Uncheckable, check, probe_rwx
from .preflight_maintenance import disruptive_capability
from .preflight_cdi import require
from .scenario import PROP_ACTIONS, PROP_TRANSITION
from .session import Settings, SuiteSession, started_at
from .stepcheck import check_scenario
from .timeouts import CLUSTER_LOST_MIN_SECONDS, Timeouts
from .vocabulary import REGISTRY

EXIT_UNCHECKABLE = 3
PROP_BEHAVIOUR = "vmconform.behaviour"
PROP_REASON = "vmconform.reason"
PROP_CLUSTER = "vmconform.cluster"
PROP_JUNIT_SECTION = "vmconform.lab_section"
PROP_JUNIT_STEPS = "vmconform.lab_steps"
PROP_JUNIT_TAGS = "vmconform.tags"
PROP_SELECTED = "vmconform.selected"  # a worker's selection, sent to the xdist controller with its first report

# tag → capability the scenario needs
NEEDS = {"needs-migration": "migration", "needs-rwx": "rwx", "needs-rwo": "rwo", "guest": "guest",
         "needs-disruptive": "disruptive"}
DISRUPTIVE = "needs-disruptive"  # runs alone (exclusive.py) and may cordon a node (maintenance.py)


def scenario_of(item: pytest.Item) -> Any:
    """The pytest-bdd scenario template behind a test item, or None for ordinary tests."""
    try:
        from pytest_bdd.scenario import scenario_wrapper_template_registry
    except ImportError:  # pragma: no cover
        return None
    fn = getattr(item, "obj", None)
    return scenario_wrapper_template_registry.get(fn) if fn is not None else None


def behaviour_meta(item: pytest.Item) -> dict[str, Any] | None:
    sc = scenario_of(item)
    if sc is None:
        return None
    tags = sorted(set(sc.tags) | set(sc.feature.tags))
    section = next((t[len("lab-"):] for t in tags if t.startswith("lab-") and t[4:5].isdigit()), "")
    steps = [t[len("step-"):] for t in tags if t.startswith("step-")]
    lang = sc.feature.language or "en"
    ident = text_id(sc.name) if lang == "en" else f"{lang}/{text_id(sc.name)}"
    return {"id": ident, "title": sc.name, "lab_section": section, "lab_steps": steps, "language": lang,
            "tags": tags, "feature": sc.feature.name, "nodeid": item.nodeid}


class SuiteController:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.worker = hasattr(config, "workerinput")
        wi = getattr(config, "workerinput", {})
        self.run_id: str = wi.get("vmconform_run_id") or config.getoption("vmconform_run_id") or new_run_id()
        self._shared_kubeconfig: str | None = wi.get("vmconform_kubeconfig")
        self._emulator: RunningEmulator | None = None
        self._session: SuiteSession | None = None
        self._failed: str | None = None
        self._failed_code = EXIT_UNCHECKABLE
        self.behaviours: dict[str, verdict.Behaviour] = {}
        self.cluster_facts: dict[str, Any] | None = wi.get("vmconform_cluster")
        self.has_scenarios = False
        self._shared_cluster_used = False
        self.started = started_at()
        # what was selected and how far each got: an unfinished run lists every selected behaviour
        self.selected: dict[str, dict[str, Any]] = {}  # nodeid → behaviour meta
        self._phases: dict[str, set[str]] = {}  # nodeid → reported phases
        self._node_of: dict[str, Any] = {}  # nodeid → xdist worker of its reports
        self._current: str | None = None
        self._selection_sent = False
        self._interrupted = False
        self._internal_error = False
        self._collect_errors = False
        self._lost: str | None = None
        self._lease: RunLease | None = None
        self._held: exclusive.Held | None = None

    # ------------------------------------------------------------ cluster

    def _emulator_settings(self) -> EmulatorSettings:
        o = self.config.getoption
        seed = o("emulator_seed")
        if seed is None and o("emulator_timing") == "adversarial":
            from .emulator.kubevirt.timing import random_seed

            seed = random_seed()  # printed, so a failing run can be replayed
            print(f"\nvmconform: adversarial timing with --emulator-seed {seed}", file=sys.stderr, flush=True)
        self.emulator_timing = {"timing": o("emulator_timing"), "seed": int(seed) if seed is not None else None}
        return EmulatorSettings(
            nodes=int(o("emulator_nodes")), timing=o("emulator_timing"),
            seed=int(seed) if seed is not None else None, faults=tuple(o("emulator_fault")),
            extra={"storage": o("emulator_storage"), **self._emulator_steps()}, kubevirt_version=o("kubevirt_version"),
        )

    def _emulator_steps(self) -> dict[str, Any]:
        """``--emulator-step NAME=SECONDS`` as the emulator's timing overrides (checked by the plugin)."""
        from .cli.emulator_cmd import parse_steps

        steps = parse_steps(self.config.getoption("emulator_step", default=None) or [])[0]
        return {"steps": steps} if steps else {}

    def _start_emulator(self) -> str:
        if self._emulator is None:
            self._emulator = RunningEmulator(self._emulator_settings()).start()
        return str(self._emulator.kubeconfig)

    def session(self) -> SuiteSession:
        if self._failed:
            pytest.exit(self._failed, returncode=self._failed_code)
        if self._session is None:
            try:
                self._session = self._open()
            except ClusterUnreachable as exc:  # the cluster went away during the preflight
                self._failed = f"vmconform: cluster could not be checked: cannot reach the cluster at {exc}"
                pytest.exit(self._failed, returncode=self._failed_code)
            except Uncheckable as exc:  # kind's PrerequisiteMissing is one, with exit_code 5
                self._failed_code = getattr(exc, "exit_code", EXIT_UNCHECKABLE)
                self._failed = (f"vmconform: cluster could not be checked: {exc}"
                                if self._failed_code == EXIT_UNCHECKABLE else f"vmconform: {exc}")
                pytest.exit(self._failed, returncode=self._failed_code)
        return self._session

    def _open(self) -> SuiteSession:
        s = self.settings
        if s.backend == "emulated":
            path, context, backend = self._shared_kubeconfig or self._start_emulator(), None, "emulated"
        elif s.backend == "kubeconfig":
            path, context, backend = s.kubeconfig, s.context, "kubeconfig"
        else:
            from .kind.backend import kind_kubeconfig

            path, context, backend = kind_kubeconfig(self.config, s), None, "kind"
        opened = time.monotonic()
        try:
            cluster = Cluster.from_kubeconfig(path, context, backend=backend)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the kubeconfig itself is bad
            raise Uncheckable(f"cannot use kubeconfig {path}: {str(exc).splitlines()[0]}") from None
        facts = check(cluster, rwx_class=s.rwx_class, rwo_class=s.rwo_class, options=run_needs(s.vm_source))
        if (problem := require(cluster, s)) is not None:  # --vm-source, --instancetype, --preference
            raise Uncheckable(problem)
        if s.rwx_class is None:  # the default class was taken: ask it for an RWX claim once
            probe_rwx(cluster, facts, run_labels(self.run_id), Timeouts(s.timeout_scale)["rwx_probe"])
        facts.capabilities["guest"] = guest_capability(s)
        facts.capabilities["disruptive"] = disruptive_capability(backend, s.allow_disruptive)
        session = SuiteSession(cluster=cluster, facts=facts, settings=s, run_id=self.run_id,
                               timeouts=Timeouts(s.timeout_scale))
        # how long the preflight took: the first scenario's setup holds it (benchmarks count it apart)
        self.cluster_facts = {**facts.as_dict(), "preflight_seconds": round(time.monotonic() - opened, 3)}
        if not self.worker:  # the xdist controller holds the Lease of a parallel run
            self._hold_lease(cluster)
        return session

    # ------------------------------------------------------------ liveness: the run's Lease, a lost cluster

    def _hold_lease(self, cluster: Cluster, *, owns_cluster: bool = False) -> None:
        if self._lease is None:
            lost_after = max(Timeouts(self.settings.timeout_scale)["cluster_lost"], CLUSTER_LOST_MIN_SECONDS)
            lease = RunLease(cluster, self.run_id, lost_after=lost_after, on_lost=self._on_lost,
                             owns_cluster=owns_cluster)
            try:
                self._lease = lease.start()
            except (ApiCallFailed, ClusterUnreachable) as exc:  # e.g. no permission: the run goes on, unseen by cleanup
                print(f"vmconform: this run holds no Lease ({exc}); `vmconform cleanup` will not know it is running",
                      file=sys.stderr, flush=True)

    def _on_lost(self, message: str) -> None:
        """The cluster stopped answering: stop the run (in the main thread, like Ctrl-C)."""
        import signal
        import threading

        if self._lost is None:
            self._lost = message
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def _check_lost(self) -> None:
        """After a connection error: does the cluster still answer at all?"""
        if self._lost is not None or self._session is None:
            return
        try:
            self._session.cluster.call("GET", "/version", timeout=5)
        except ClusterUnreachable as exc:
            self._lost = f"the cluster stopped answering ({exc})"

    # ------------------------------------------------------------ xdist

    def _sweep_after_workers(self) -> None:
        """The xdist controller: a last sweep by the run's label, once every worker has finished."""
        s = self.settings
        path = s.kubeconfig if s.backend == "kubeconfig" else None
        if path is None:
            return  # the in-process emulated cluster goes away with this process
        try:
            cluster = Cluster.from_kubeconfig(path, s.context, backend=s.backend)
        except Exception:  # noqa: BLE001 - nothing more to clean with a broken kubeconfig
            return
        session = SuiteSession(cluster=cluster, facts=None, settings=s, run_id=self.run_id,  # type: ignore[arg-type]
                               timeouts=Timeouts(s.timeout_scale))
        try:
            session.sweep()
        finally:
            cluster.close()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        self._shared_cluster_used = True
        node.workerinput["vmconform_run_id"] = self.run_id
        if self.settings.backend == "emulated":
            node.workerinput["vmconform_kubeconfig"] = self._start_emulator()
        if self._lease is None:
            path = self._start_emulator() if self.settings.backend == "emulated" else self.settings.kubeconfig
            if path:
                self._hold_lease(Cluster.from_kubeconfig(path, self.settings.context, backend=self.settings.backend),
                                 owns_cluster=True)

    # ------------------------------------------------------------ collection and skips

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            meta = behaviour_meta(item)
            if meta is not None:
                self.has_scenarios = True
                item.user_properties.append((PROP_BEHAVIOUR, meta))
        if getattr(self.config.option, "numprocesses", None):
            # Across workers, the longest scenarios go first so that none is left running alone at the
            # end; the number of steps is a fair measure of a scenario's length.
            items.sort(key=lambda it: -len(getattr(scenario_of(it), "steps", ())))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            meta = behaviour_meta(item)
            if meta is not None:
                self.selected[item.nodeid] = meta

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._collect_errors = True

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._current = nodeid

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        if self._failed and excinfo.errisinstance(pytest.exit.Exception):
            return  # our own pytest.exit (the cluster could not be set up), not a signal
        self._interrupted = True
        # A signal can land in a frame without a line number (Python 3.11), and pytest's terminal reporter
        # then fails formatting the interrupt: keep only the frames it can show.
        try:
            from _pytest._code.code import Traceback

            excinfo.traceback = Traceback([e for e in excinfo.traceback if e._rawentry.tb_lineno is not None])
        except Exception:  # noqa: BLE001 - only cosmetics
            pass

    def pytest_internalerror(self, excrepr: Any) -> None:
        self._internal_error = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        meta = behaviour_meta(item)
        if meta is None:
            return
        unknown = check_scenario(scenario_of(item), REGISTRY)
        if unknown:  # before anything is created for the scenario
            pytest.fail("\n".join(p.message() for p in unknown), pytrace=False)
        session = self.session()
        for tag in ["vm", *meta["tags"]]:
            cap = NEEDS.get(tag, "vm" if tag == "vm" else None)
            if cap is None:
                continue
            c = session.facts.capabilities.get(cap)
            if c is not None and not c.ok:
                pytest.skip(c.reason)
        needs = scenario_needs(scenario_of(item), meta["tags"]) | run_needs(session.settings.vm_source)
        missing = missing_reason(session.facts.missing_permissions, needs)
        if missing:  # permissions.TABLE: a permission this scenario's tags or steps need was refused
            pytest.skip(missing)
        # a disruptive scenario (it cordons a node) runs alone; the others share the cluster
        self._held = exclusive.acquire(self.run_id, exclusive=DISRUPTIVE in meta["tags"])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        try:
            return (yield)
        finally:
            held, self._held = self._held, None
            if held is not None:
                held.release()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        report = yield
        meta = behaviour_meta(item)
        if meta is None:
            return report
        if call.when == "teardown":  # JUnit writes the teardown report's properties into the testcase
            report.user_properties.extend(junit_properties(meta, report.user_properties))
        if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
            exc = call.excinfo.value
            kind = "assertion" if isinstance(exc, AssertionError) else "error"
            text = str(exc).strip() or type(exc).__name__
            if isinstance(exc, verdict.NotVerifiable):
                kind = "not-verifiable"
            elif kind == "error":
                text = f"{type(exc).__name__}: {text}"
            if isinstance(exc, ClusterUnreachable) or "ClusterUnreachable" in text or "could not be read" in text:
                self._check_lost()
            if self._lost is not None:
                kind, text = "cluster-lost", f"{self._lost}: {text}"
                item.session.shouldstop = self._lost
            report.user_properties.append((PROP_REASON, {"kind": kind, "text": text}))
        if self.cluster_facts is not None and call.when == "setup":
            report.user_properties.append((PROP_CLUSTER, self.cluster_facts))
        if self.worker and not self._selection_sent:
            self._selection_sent = True
            report.user_properties.append((PROP_SELECTED, self.selected))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.worker:
            return
        props = dict((k, v) for k, v in report.user_properties
                     if k in (PROP_BEHAVIOUR, PROP_REASON, PROP_CLUSTER, PROP_SELECTED))
        for nodeid, m in (props.get(PROP_SELECTED) or {}).items():
            self.selected.setdefault(nodeid, m)
        meta = props.get(PROP_BEHAVIOUR)
        if meta is None:
            return
        self._phases.setdefault(report.nodeid, set()).add(report.when)
        if getattr(report, "node", None) is not None:
            self._node_of[report.nodeid] = report.node
        if props.get(PROP_CLUSTER):
            self.cluster_facts = props[PROP_CLUSTER]
        transitions = {v[0]: v[1] for k, v in report.user_properties if k == PROP_TRANSITION}
        actions = [v for k, v in report.user_properties if k == PROP_ACTIONS]
        if report.passed:
            status, reason = verdict.VERIFIED, ""
        elif report.skipped:
            status, reason = verdict.NOT_VERIFIED, _skip_reason(report)
        else:
            r = props.get(PROP_REASON) or {"kind": "error", "text": str(report.longrepr).splitlines()[-1]}
            if r["kind"] == "assertion":
                status, reason = verdict.VIOLATED, r["text"]
            elif r["kind"] in ("not-verifiable", "cluster-lost"):
                status, reason = verdict.NOT_VERIFIED, r["text"]
            else:
                status, reason = verdict.NOT_VERIFIED, f"not verified because of an error: {r['text']}"
        if report.when == "call" or status != verdict.VERIFIED:
            b = verdict.Behaviour(id=meta["id"], lab_section=meta["lab_section"], title=meta["title"],
                                  status=status, reason=reason, lab_steps=meta["lab_steps"], tags=meta["tags"],
                                  duration_seconds=round(report.duration, 3), transitions=transitions,
                                  nodeid=meta["nodeid"], language=meta.get("language", "en"), actions=actions)
            self.behaviours[meta["id"]] = verdict.merge(self.behaviours.get(meta["id"]), b)

    # ------------------------------------------------------------ scenario hooks

    def pytest_bdd_apply_tag(self, tag: str, function: Any) -> Any:
        """Feature tags (``@lab-2.1``, ``@step-4``, ``@needs-migration``) are markers: register them."""
        self.config.addinivalue_line("markers", f"{tag}: Gherkin tag")
        return None

    def pytest_bdd_before_scenario(self, request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
        from .reporting import label_scenario

        section = next((t[4:] for t in scenario.tags | feature.tags if t.startswith("lab-")), "")
        label_scenario(verdict.section_title(section, feature.language) or feature.name, scenario.name)

    def pytest_bdd_step_error(self, request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                              step_func: Any, step_func_args: Any, exception: BaseException) -> None:
        ctx = step_func_args.get("vmconform_scenario") if isinstance(step_func_args, dict) else None
        if ctx is None:
            try:
                ctx = request.getfixturevalue("vmconform_scenario")
            except Exception:  # noqa: BLE001 - no scenario context: nothing to collect
                return
        ctx.record_evidence(scenario.name)

    # ------------------------------------------------------------ the end

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file: the unrun scenarios go in too
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        ended = self._ended(exitstatus)
        if self._lease is not None:
            self._lease.stop(delete=self._lost is None)
        if not self.worker and ended["how"] != verdict.COMPLETED:
            self._report_unrun(ended["how"])
        if not self.worker and (self.behaviours or self.selected) and not self._failed \
                and not (self._collect_errors and ended["how"] == verdict.COMPLETED):
            self._write_reports(ended)
        if ended["how"] == verdict.INTERRUPTED:
            print(f"vmconform: {ended['message']}; cleaning up (interrupt again to stop cleaning)",
                  file=sys.stderr, flush=True)
        try:
            if self._lost is not None:
                print("vmconform: the cluster stopped answering: nothing can be cleaned up now; "
                      f"later: vmconform cleanup --kubeconfig PATH --run-id {self.run_id}", file=sys.stderr, flush=True)
            elif self._session is not None:
                restore_own_nodes(self._session.cluster, self.run_id)
                if self.settings.keep != "always":
                    left = self._session.sweep(only_own=self.worker)
                    if ended["how"] == verdict.INTERRUPTED and not left:
                        print("vmconform: cleanup finished: nothing left behind", file=sys.stderr, flush=True)
            elif not self.worker and self.settings.keep != "always" and self._shared_cluster_used:
                self._sweep_after_workers()
        except KeyboardInterrupt:
            pass  # the sweep printed what is left
        finally:
            if self._session is not None:
                self._session.cluster.close()
            if self._emulator is not None:
                self._emulator.close()
                self._emulator = None

    def _ended(self, exitstatus: int) -> dict[str, Any]:
        """How the run ended: completed, interrupted (which signal), cluster-lost or error."""
        if self._lost is not None:
            return {"how": verdict.CLUSTER_LOST, "message": self._lost, "signal": None}
        if self._interrupted:
            sig = signals.name(signals.received())
            return {"how": verdict.INTERRUPTED, "message": f"interrupted by {sig}", "signal": sig}
        if self._internal_error or exitstatus == int(pytest.ExitCode.INTERNAL_ERROR) and not self._failed:
            return {"how": verdict.ERROR, "message": "the suite stopped on an internal error (see its output)",
                    "signal": None}
        return {"how": verdict.COMPLETED, "message": "", "signal": None}

    def _report_unrun(self, how: str) -> None:
        """Report every selected scenario that did not finish as skipped (JUnit and the summary)."""
        from _pytest.reports import TestReport

        for nodeid, meta in self.selected.items():
            phases = self._phases.get(nodeid, set())
            if "teardown" in phases:
                continue
            reason = verdict.NOT_RUN[how]
            if how == verdict.INTERRUPTED and nodeid == self._current and phases:
                reason = verdict.INTERRUPTED_WHILE_RUNNING
            path = nodeid.split("::")[0]
            props = [(PROP_BEHAVIOUR, meta), *junit_properties(meta, [])]
            todo = [] if "call" in phases else [("call" if "setup" in phases else "setup", "skipped")]
            for when, outcome in todo + [("teardown", "passed")]:
                rep = TestReport(nodeid, (path, 0, nodeid), {}, outcome,
                                 (path, 0, f"Skipped: {reason}") if outcome == "skipped" else None,
                                 when, user_properties=props)
                if nodeid in self._node_of:
                    rep.node = self._node_of[nodeid]  # type: ignore[attr-defined]
                self.config.hook.pytest_runtest_logreport(report=rep)

    def _write_reports(self, ended: dict[str, Any]) -> None:
        cluster = dict(self.cluster_facts or {"backend": self.settings.backend})
        run = {"id": self.run_id, "started": self.started, "finished": started_at(),
               "suite_version": __version__, "timeout_scale": self.settings.timeout_scale}
        if getattr(self, "emulator_timing", None):  # an emulated cluster: how to replay its timing
            run["emulator_timing"] = self.emulator_timing
        summary = verdict.build_summary(list(self.behaviours.values()), cluster, run, ended)
        from .coverage.run_page import add_lab_coverage  # the "lab coverage" page (issue 21)

        add_lab_coverage(self.config, summary)
        report_dir = Path(self.settings.report_dir)
        summary["slower_than_usual"] = self._trend(report_dir, summary) if ended["how"] == verdict.COMPLETED else []
        verdict.write(report_dir, summary)
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if alluredir:
            allure_env.write(Path(alluredir), summary)
        self.summary = summary

    @staticmethod
    def _trend(report_dir: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
        """Judge this run's transition times against the cluster's history, then add it to the history."""
        from . import trend

        try:
            entry = trend.entry_of(summary)
            slow = trend.slowdowns(trend.load(report_dir, entry["cluster"]), entry)
            trend.record(report_dir, entry)
        except OSError as exc:  # the history is a nicety: the verdict never depends on it
            print(f"vmconform: transition history not updated: {exc}", file=sys.stderr, flush=True)
            return []
        return [s.as_dict() for s in slow]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        summary = getattr(self, "summary", None)
        if summary is None:
            return
        terminalreporter.section("vmconform verdicts")
        for line in verdict.terminal_table(summary):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"reports: {Path(self.settings.report_dir) / 'summary.md'}")


def restore_own_nodes(cluster: Cluster, run_id: str) -> None:
    """Uncordon the nodes this process cordoned (a drain cut short by a failure or a signal)."""
    from .maintenance import holder, restore_nodes

    try:
        restore_nodes(cluster, run_id, only_holder=holder(),
                      report=lambda line: print(line, file=sys.stderr, flush=True))
    except (ApiCallFailed, ClusterUnreachable) as exc:
        print(f"vmconform: could not uncordon the nodes of this run ({exc}); later: vmconform cleanup "
              f"--kubeconfig PATH --run-id {run_id}", file=sys.stderr, flush=True)


def junit_properties(meta: dict[str, Any], props: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Flat JUnit properties of a behaviour for CI dashboards: lab section, steps, tags, transition seconds."""
    out = [(PROP_JUNIT_SECTION, meta["lab_section"]), (PROP_JUNIT_STEPS, ", ".join(meta["lab_steps"])),
           (PROP_JUNIT_TAGS, " ".join("@" + t for t in meta["tags"]))]
    out += [(f"{PROP_TRANSITION}.{v[0]}_seconds", f"{v[1]:.3f}") for k, v in props if k == PROP_TRANSITION]
    return out


def _skip_reason(report: pytest.TestReport) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        text = str(lr[2])
        return text[len("Skipped: "):] if text.startswith("Skipped: ") else text
    return str(lr)


def guest_capability(s: Settings) -> Any:
    from .console import login_for
    from .preflight import Capability
    from .sources import login_hint

    hint = login_hint(s.image, s.vm_source)
    if login_for(hint, s.guest_user, s.guest_password) is None:
        return Capability(False, f"no serial-console login is known for {'image ' if hint == s.image else ''}{hint}; "
                                 f"give --guest-user and --guest-password")
    return Capability(True)


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2)


def stderr(text: str) -> None:
    print(text, file=sys.stderr)
