"""The node-maintenance scenarios against a cluster the run does not own (``vmconform emulator`` in its own
process, reached with ``--kubeconfig``): the drain needs ``--allow-disruptive``; it leaves no node cordoned
after a pass, a failure, SIGINT or SIGTERM; a node cordoned by a killed run is reported and uncordoned by
``vmconform cleanup``; a missing permission skips exactly the scenarios that need it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from vmconform import verdict
from vmconform.cli import exitcodes
from vmconform.kube.client import Cluster
from vmconform.kube.kinds import NODE
from vmconform.maintenance import LABEL_CORDONED, LABEL_PLACEMENT
from vmconform.preflight_maintenance import NEEDS_FLAG

from .conftest import ROOT, labelled_namespaces, start_emulator, start_run, stop_emulator, until

DRAIN = "Draining a node moves its VMs away within the migration limits"
DRAIN_K = "Draining"
EVICTIONS_K = "Evicting or LiveMigrate or Draining or Migrate_moves"
RUN_TIMEOUT = 240


def nodes(kubeconfig: Path) -> list[dict[str, Any]]:
    cluster = Cluster.from_kubeconfig(kubeconfig)
    try:
        return cluster.list(NODE)[0]
    finally:
        cluster.close()


def cordoned(kubeconfig: Path) -> list[str]:
    return [n["metadata"]["name"] for n in nodes(kubeconfig) if (n.get("spec") or {}).get("unschedulable")]


def marked(kubeconfig: Path) -> list[str]:
    return [n["metadata"]["name"] for n in nodes(kubeconfig)
            if {LABEL_CORDONED, LABEL_PLACEMENT} & set(n["metadata"].get("labels") or {})]


def summary(report: Path) -> dict[str, dict[str, Any]]:
    return {b["title"]: b for b in json.loads((report / "summary.json").read_text())["behaviours"]}


def _emulator(tmp_path: Path, *flags: str) -> Iterator[Path]:
    kc = tmp_path / "kubeconfig"
    proc = start_emulator(kc, *flags)
    yield kc
    stop_emulator(proc)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Path]:
    """A fresh healthy ``vmconform emulator`` per test."""
    yield from _emulator(tmp_path)


@pytest.fixture
def stuck(tmp_path: Path) -> Iterator[Path]:
    """A fresh ``vmconform emulator`` whose evacuations never migrate: a drain there never ends."""
    yield from _emulator(tmp_path, "--fault", "evacuation-ignored")


def run(kubeconfig: Path, report: Path, *args: str) -> tuple[int, str]:
    proc = start_run(kubeconfig, report, *args)
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert "Traceback" not in err, err[-3000:]
    return proc.returncode, out + err


def test_without_allow_disruptive_the_drain_is_skipped_and_no_node_is_touched(emulator: Path, tmp_path: Path) -> None:
    code, out = run(emulator, tmp_path / "r", "-k", DRAIN_K)
    assert code == exitcodes.INCOMPLETE, out[-3000:]
    b = summary(tmp_path / "r")[DRAIN]
    assert (b["status"], b["reason"]) == (verdict.NOT_VERIFIED, NEEDS_FLAG)
    assert cordoned(emulator) == [] and marked(emulator) == []


def test_the_drain_passes_with_allow_disruptive_and_leaves_no_node_cordoned(emulator: Path, tmp_path: Path) -> None:
    code, out = run(emulator, tmp_path / "r", "-k", DRAIN_K, "--allow-disruptive")
    assert code == exitcodes.CONFORMANT, out[-3000:]
    assert summary(tmp_path / "r")[DRAIN]["status"] == verdict.VERIFIED
    assert cordoned(emulator) == [] and marked(emulator) == [] and labelled_namespaces(emulator) == []


def test_a_failed_drain_leaves_no_node_cordoned(stuck: Path, tmp_path: Path) -> None:
    emulator = stuck
    code, out = run(emulator, tmp_path / "r", "-k", DRAIN_K, "--allow-disruptive", "--timeout-scale", "0.02")
    assert code == exitcodes.NOT_CONFORMANT, out[-3000:]
    b = summary(tmp_path / "r")[DRAIN]
    assert b["status"] == verdict.VIOLATED and "pods still there after" in b["reason"], b
    assert cordoned(emulator) == [] and marked(emulator) == []


def start_drain(kubeconfig: Path, report: Path) -> subprocess.Popen[str]:
    """A drain that cannot finish (every eviction refused, nothing migrates), once it has cordoned the node."""
    proc = start_run(kubeconfig, report, "-k", DRAIN_K, "--allow-disruptive")
    try:
        until(lambda: bool(cordoned(kubeconfig)) or proc.poll() is not None, timeout=120)
    except AssertionError:
        proc.kill()
        raise
    assert proc.poll() is None, "".join(proc.communicate())[-3000:]
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_during_the_drain_uncordons_the_node(sig: signal.Signals, stuck: Path, tmp_path: Path) -> None:
    emulator = stuck
    proc = start_drain(emulator, tmp_path / "r")
    node = cordoned(emulator)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 128 + sig, out[-2000:] + err[-2000:]
    assert "Traceback" not in err
    assert f"vmconform: uncordoned node {node[0]}" in err, err[-2000:]
    assert cordoned(emulator) == [] and marked(emulator) == [] and labelled_namespaces(emulator) == []


def test_vmconform_cleanup_uncordons_the_node_of_a_killed_run(stuck: Path, tmp_path: Path) -> None:
    emulator = stuck
    proc = start_drain(emulator, tmp_path / "r")
    node = cordoned(emulator)[0]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert cordoned(emulator) == [node], "a killed run cannot uncordon its node"

    def cleanup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vmconform", "cleanup", "--kubeconfig", str(emulator), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    first = cleanup()  # the killed run's Lease is still fresh: its node is reported, left alone
    assert first.returncode == 0, first.stderr
    assert f"vmconform: node {node} is held by run " in first.stdout and cordoned(emulator) == [node], first.stdout
    forced = cleanup("--force")
    assert forced.returncode == 0, forced.stderr
    assert f"vmconform: uncordoned node {node} (cordoned by run " in forced.stdout, forced.stdout
    assert cordoned(emulator) == [] and marked(emulator) == []


@pytest.mark.parametrize("denied,skipped", [
    (("pods", "eviction", "create"), "evicting"),
    (("nodes", "", "patch"), "draining"),
], ids=["pods-eviction", "nodes-patch"])
def test_a_missing_permission_skips_exactly_the_scenarios_that_need_it(denied: tuple[str, str, str], skipped: str,
                                                                       tmp_path: Path) -> None:
    """The API server answers SelfSubjectAccessReviews: everything is allowed but one permission."""
    from aiohttp import web

    from vmconform.emulator import EmulatedCluster, Options

    async def review(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        asked = (attrs.get("resource"), attrs.get("subresource") or "", attrs.get("verb"))
        return web.json_response({**body, "status": {"allowed": asked != denied}}, status=201)

    with EmulatedCluster(Options(nodes=2), kubeconfig_path=tmp_path / "kubeconfig") as c:
        assert c.emulator is not None
        c.call(lambda: c.emulator.api.extensions.insert(  # type: ignore[union-attr]
            0, ("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)))
        code, out = run(tmp_path / "kubeconfig", tmp_path / "r", "-k", EVICTIONS_K, "--allow-disruptive")
    assert code == exitcodes.INCOMPLETE, out[-3000:]
    statuses = {t: (b["status"], b["reason"]) for t, b in summary(tmp_path / "r").items()}
    evicting = {t for t in statuses if "evict" in t.lower() or t == DRAIN}
    assert len(evicting) == 4, statuses
    expected = evicting if skipped == "evicting" else {DRAIN}
    what = f"{denied[2]} {denied[0]}" + (f"/{denied[1]}" if denied[1] else "")
    for title in expected:
        assert statuses[title] == (verdict.NOT_VERIFIED, f"missing permission: {what}"), title
    others = {t: s for t, s in statuses.items() if t not in expected}
    assert others and all(s == verdict.VERIFIED for s, _ in others.values()), others
