"""Verdict computation and the summary files."""

from __future__ import annotations

import json
from pathlib import Path

from vmconform import verdict
from vmconform.verdict import Behaviour


def _b(status: str, id_: str = "x", reason: str = "") -> Behaviour:
    return Behaviour(id=id_, lab_section="2.1", title=id_, status=status, reason=reason, lab_steps=["4"])


def test_overall_verdicts() -> None:
    assert verdict.overall([_b("verified"), _b("verified")]) == "conformant"
    assert verdict.overall([_b("verified"), _b("not-verified")]) == "incomplete"
    assert verdict.overall([_b("violated"), _b("not-verified")]) == "not-conformant"
    assert verdict.overall([]) == "incomplete"


def test_merge_keeps_the_worst_phase() -> None:
    ok = _b("verified")
    ok.transitions = {"stop": 1.0}
    bad = _b("violated", reason="teardown: VM left running")
    merged = verdict.merge(ok, bad)
    assert merged.status == "violated" and merged.reason.startswith("teardown")
    assert merged.transitions == {"stop": 1.0}


def test_summary_files(tmp_path: Path) -> None:
    stop = _b("verified", "stop-reaches-stopped")
    stop.transitions = {"stop": 1.3}
    skipped = Behaviour(id="migrate", lab_section="2.2", title="Migrate", status="not-verified",
                        reason="live migration needs 2 schedulable nodes; this cluster has 1")
    summary = verdict.build_summary([stop, skipped], {"backend": "emulated", "nodes": ["n1"]}, {"id": "r1"})
    j, m = verdict.write(tmp_path, summary)
    data = json.loads(j.read_text())
    assert data["schema"] == "vmconform.summary/v1"
    assert data["verdict"] == "incomplete" and data["cluster"]["backend"] == "emulated"
    assert {b["id"] for b in data["behaviours"]} == {"stop-reaches-stopped", "migrate"}
    assert set(data["behaviours"][0]) >= {"id", "lab_section", "title", "status", "reason"}
    text = m.read_text()
    assert "2.1 step 4 — stop-reaches-stopped**: verified (stop took 1.30 s)" in text
    assert "EMULATED" in text
    assert "live migration needs 2 schedulable nodes; this cluster has 1" in text
    assert verdict.terminal_table(summary)[-1] == "overall: incomplete (emulated cluster — not a certification)"
