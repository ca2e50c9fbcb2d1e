"""A quiet wait says what it waits for: a namespace that takes long to go is reported every few seconds."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from vmconform import session as session_mod
from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import NAMESPACES, PODS
from vmconform.kube.client import Cluster
from vmconform.labels import run_labels
from vmconform.session import Settings, SuiteSession
from vmconform.timeouts import Timeouts

from .conftest import until

RUN = "run-progress"


def test_a_slow_namespace_deletion_is_reported_while_it_lasts(bare: EmulatedCluster, client: Cluster,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "PROGRESS_SECONDS", 0.5)  # the test need not wait 5 s per line
    bare.call(lambda: bare.store.create(NAMESPACES, {"metadata": {"name": "slow", "labels": run_labels(RUN)}}))
    # a pod whose finalizer holds the namespace in Terminating
    bare.call(lambda: bare.store.create(PODS, {"metadata": {"name": "stuck", "namespace": "slow",
                                                            "finalizers": ["example.com/hold"]},
                                               "spec": {"containers": [{"name": "c", "image": "x"}]}}))
    session = SuiteSession(cluster=client, facts=None, settings=Settings(), run_id=RUN,  # type: ignore[arg-type]
                           timeouts=Timeouts(1.0))
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            session.delete_namespace("slow")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    worker = threading.Thread(target=delete)
    worker.start()
    seen: list[str] = []

    def progress_seen() -> bool:
        seen.append(capsys.readouterr().err)
        return "cleanup: waiting for namespace slow" in "".join(seen)

    until(progress_seen, timeout=30)

    def release(obj: dict[str, Any]) -> None:
        obj["metadata"]["finalizers"] = []

    bare.call(lambda: bare.store.mutate(PODS, "slow", "stuck", release))
    worker.join(timeout=30)
    assert not worker.is_alive() and not errors, errors
    line = next(line for line in "".join(seen).splitlines() if "cleanup: waiting" in line)
    assert re.fullmatch(r"vmconform: cleanup: waiting for namespace slow to go \(Terminating, 1 pod left\) "
                        r"\d+ s / 120 s", line), line
