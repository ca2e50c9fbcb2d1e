"""What one scenario holds between its steps: its namespace, its VM, what it observed."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import evidence, reporting
from .kube.client import Answer, ApiCallFailed, ClusterUnreachable, Obj
from .kube.kinds import PVC, VM
from .kube.waits import Timeline, WaitFailed, timeline_listeners
from .labels import text_id
from .ops import VirtualMachine
from .session import SuiteSession
from .specs import Spec

# user properties a scenario's steps record, read by the controller for the verdict and the reports
PROP_TRANSITION = "vmconform.transition"
PROP_ACTIONS = "vmconform.actions"  # an Actions-menu table (steps/actions.py): {"state", "expected", "offered", "rows"}


@dataclass
class Snapshot:
    """What a VM looked like at one moment, for 'nothing changed' and 'same VMI' checks."""

    vm_status: str
    vmi_uid: str | None
    vmi_node: str | None
    pod_uids: list[str]
    pod_nodes: list[str]
    pod_memory: list[str]


@dataclass(repr=False)
class ScenarioContext:
    session: SuiteSession
    namespace: str
    name: str
    node: Any
    vm: VirtualMachine | None = None
    answer: Answer | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    timelines: list[Timeline] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    failed: bool = False

    def __repr__(self) -> str:
        return f"<scenario {self.name} in namespace {self.namespace}>"

    @classmethod
    def open(cls, session: SuiteSession, request: pytest.FixtureRequest) -> "ScenarioContext":
        name = getattr(request.node, "originalname", None) or request.node.name
        name = name.removeprefix("test_")
        ns = session.create_namespace(name)
        ctx = cls(session=session, namespace=ns, name=name, node=request.node)
        timeline_listeners.append(ctx._on_timeline)
        return ctx

    # ------------------------------------------------------------ helpers for steps

    @property
    def cluster(self) -> Any:
        return self.session.cluster

    @property
    def timeouts(self) -> Any:
        return self.session.timeouts

    def labels(self) -> dict[str, str]:
        return dict(self.session.labels)

    def create_vm(self, spec: Spec) -> VirtualMachine:
        spec["metadata"].setdefault("labels", {}).update(self.labels())
        obj = self.cluster.create(VM, self.namespace, spec)
        self.vm = VirtualMachine(self.cluster, self.namespace, obj["metadata"]["name"])
        return self.vm

    def create_pvc(self, spec: Spec) -> Obj:
        spec["metadata"].setdefault("labels", {}).update(self.labels())
        return self.cluster.create(PVC, self.namespace, spec)

    def require_vm(self) -> VirtualMachine:
        if self.vm is None:
            raise RuntimeError("this step needs a VM created by an earlier step")
        return self.vm

    def transition(self, name: str, seconds: float) -> None:
        """Record how long a transition took (a parameter in Allure, a column in summary.md)."""
        self.node.user_properties.append((PROP_TRANSITION, (name, round(seconds, 3))))
        reporting.parameter(f"{name} duration (s)", f"{seconds:.2f}")

    def _on_timeline(self, tl: Timeline) -> None:
        self.timelines.append(tl)
        reporting.attach_text(f"timeline: {tl.what}", tl.table())

    # ------------------------------------------------------------ failure and teardown

    def record_evidence(self, scenario_name: str) -> None:
        self.failed = True
        try:
            docs = evidence.collect(self.cluster, self.namespace, self.timelines)
        except Exception as exc:  # noqa: BLE001 - evidence must not hide the failure
            docs = {"error.txt": f"evidence collection failed: {exc}\n"}
        target = evidence.write(Path(self.session.settings.report_dir), text_id(scenario_name), docs)
        for name, text in docs.items():
            reporting.attach_text(f"evidence: {name}", text, "yaml" if name.endswith(".yaml") else "text")
        self.values["evidence_dir"] = str(target)

    def close(self, request: pytest.FixtureRequest) -> None:
        if self._on_timeline in timeline_listeners:
            timeline_listeners.remove(self._on_timeline)
        rep = getattr(request.node, "rep_call", None)
        failed = self.failed or (rep is not None and rep.failed)
        keep = self.session.settings.keep
        if keep == "always" or (keep == "on-failure" and failed):
            print(f"vmconform: kept namespace {self.namespace} (--keep={keep})", file=sys.stderr)
            self.session.kept.add(self.namespace)
            return
        try:
            self.session.delete_namespace(self.namespace)
        except (WaitFailed, ClusterUnreachable, ApiCallFailed) as exc:
            print(f"vmconform: namespace {self.namespace} not removed yet: {str(exc).splitlines()[0]}",
                  file=sys.stderr)
