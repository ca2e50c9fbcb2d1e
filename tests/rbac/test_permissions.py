"""The permissions table: which scenarios each row is needed by, the ClusterRole made from it, and the
preflight's SelfSubjectAccessReviews naming exactly the row a role lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_bdd.parser import FeatureParser

from vmconform import permissions
from vmconform.emulator import EmulatedCluster, Options
from vmconform.features import select
from vmconform.labels import text_id
from vmconform.permissions import OPTIONS, TABLE, cluster_role, missing_reason, run_needs, scenario_needs
from vmconform.preflight import check
from vmconform.stepcheck import loaded_steps

from .conftest import ROOT, add_cluster_role, client_for, seed_kubevirt, without
from .expected import ALL, SKIPPED, SOURCES, key, skipped


def lab_templates(lang: str = "en") -> list[Any]:
    return [sc for f in select(ROOT / "features", None, lang).files
            for sc in FeatureParser(str(f.parent), f.name).parse().scenarios.values()]


@pytest.fixture(scope="module")
def needs() -> dict[str, set[str]]:
    """Scenario id → its needs (English and Korean scenarios: the Korean twins must need the same)."""
    out: dict[str, set[str]] = {}
    with loaded_steps(ROOT):
        for lang in ("en", "ko"):
            for sc in lab_templates(lang):
                tags = set(sc.tags) | set(sc.feature.tags)
                out[f"{lang}:{sc.name}"] = scenario_needs(sc, tags)
    return out


def test_every_row_has_its_expected_skips_written_down() -> None:
    assert {key(p.verbs, p.resource) for p in TABLE} == set(SKIPPED)


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("index", range(len(TABLE)), ids=[p.describe() for p in TABLE])
def test_a_missing_row_skips_exactly_the_scenarios_needing_it(index: int, source: str,
                                                              needs: dict[str, set[str]]) -> None:
    """On a run with ``--vm-source`` of each kind: the scenarios' needs plus the run's options (``opt:``)."""
    row = TABLE[index]
    missing = [(row, verb) for verb in row.verbs]
    options = run_needs(SOURCES[source])
    english = {text_id(name[3:]): n | options for name, n in needs.items() if name.startswith("en:")}
    assert set(english) == ALL
    skips = {sid for sid, n in english.items() if missing_reason(missing, n)}
    assert skips == skipped(key(row.verbs, row.resource), source)
    for sid in skips:
        reason = missing_reason(missing, english[sid])
        assert reason is not None and reason.startswith(f"missing permission: {row.describe()}")


def test_the_korean_scenarios_need_what_their_english_twins_need(needs: dict[str, set[str]]) -> None:
    en = sorted(v for k, v in needs.items() if k.startswith("en:"))
    ko = sorted(v for k, v in needs.items() if k.startswith("ko:"))
    assert len(ko) == len(en) and ko == en


def test_every_step_named_in_the_table_exists_in_the_vocabulary() -> None:
    with loaded_steps(ROOT) as defs:
        known = {d.phrasings["en"] for d in defs}
    assert set(permissions.STEP_ACTIONS) <= known, set(permissions.STEP_ACTIONS) - known


def test_the_cluster_role_has_one_rule_per_row() -> None:
    role = cluster_role()
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == "vmconform"
    assert len(role["rules"]) == len(TABLE)
    assert {"apiGroups": ["subresources.kubevirt.io"], "resources": ["virtualmachines/start"],
            "verbs": ["update"]} in role["rules"]


@pytest.fixture(scope="module")
def minus_cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A bare cluster with a user per row of the table whose ClusterRole lacks that row, and ``suite`` with all."""
    path = Path(tmp_path_factory.mktemp("minus")) / "kubeconfig"
    tokens = tuple((f"minus-{i}", f"vmconform-minus-{i}") for i in range(len(TABLE))) + (("suite", "vmconform"),)
    with EmulatedCluster(Options(tokens=tokens), kubeconfig_path=path, controllers=[]) as c:
        seed_kubevirt(c)
        for i in range(len(TABLE)):
            add_cluster_role(c, cluster_role(f"vmconform-minus-{i}", without(i)))
        yield c


def test_the_generated_role_passes_every_preflight_check(minus_cluster: EmulatedCluster) -> None:
    facts = check(client_for(minus_cluster, "suite"), options=OPTIONS)
    assert facts.missing_permissions == []
    assert all(c.ok for c in facts.capabilities.values()), facts.capabilities


@pytest.mark.parametrize("index", range(len(TABLE)), ids=[p.describe() for p in TABLE])
def test_the_preflight_names_the_row_a_role_lacks(minus_cluster: EmulatedCluster, index: int) -> None:
    row = TABLE[index]
    facts = check(client_for(minus_cluster, f"minus-{index}"), options=OPTIONS)
    assert facts.missing_permissions == [(row, verb) for verb in row.verbs]
    assert facts.as_dict()["missing_permissions"] == [row.describe(verb) for verb in row.verbs]
    run_wide = permissions.RUN in row.needed_by
    assert facts.capabilities["vm"].ok is not run_wide
    if run_wide:
        assert facts.capabilities["vm"].reason == f"missing permission: {row.describe()}"


OPTION_ROWS = [i for i, p in enumerate(TABLE) if any(permissions.OPT in n for n in p.needed_by)]


@pytest.mark.parametrize("index", OPTION_ROWS, ids=[TABLE[i].describe() for i in OPTION_ROWS])
def test_the_preflight_asks_for_an_options_row_only_on_a_run_using_it(minus_cluster: EmulatedCluster,
                                                                       index: int) -> None:
    """A role without a row needed only with some ``--vm-source`` passes the preflight of the other runs."""
    row = TABLE[index]
    for source, value in sorted(SOURCES.items()):
        facts = check(client_for(minus_cluster, f"minus-{index}"), options=run_needs(value))
        expected = [(row, verb) for verb in row.verbs] if skipped(key(row.verbs, row.resource), source) else []
        assert facts.missing_permissions == expected, source
        assert facts.capabilities["vm"].ok
