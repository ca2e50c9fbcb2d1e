"""Issue 16 point 3: the KubeVirt CR (rendered once, useEmulation explicit) and when a cluster is ready.

The end-to-end half (a kept cluster asked for another release and another emulation setting) is
``test_kind_flow.py::test_a_kept_cluster_is_reused_and_only_its_creator_may_delete_it``.
"""

from __future__ import annotations

import pytest

from vmconform.emulator import EmulatedCluster
from vmconform.kind.kubevirt_cr import describe_kubevirt, kubevirt_ready, render_cr
from vmconform.kind.plan import load_plan
from vmconform.kube.client import ApiCallFailed, Cluster
from vmconform.kube.kinds import KUBEVIRT, NAMESPACE

PLAN = load_plan()


def cr(status: dict) -> dict:
    return {"metadata": {"name": "kubevirt", "namespace": "kubevirt", "generation": 2}, "status": status}


def conditions(available: str, progressing: str) -> list[dict]:
    return [{"type": "Available", "status": available}, {"type": "Progressing", "status": progressing}]


def test_ready_means_the_requested_release_available_and_not_progressing() -> None:
    ready = kubevirt_ready("v1.9.0")
    done = {"phase": "Deployed", "observedGeneration": 2, "observedKubeVirtVersion": "v1.9.0",
            "conditions": conditions("True", "False")}
    assert ready(cr(done))
    mid_upgrade = dict(done, observedKubeVirtVersion="v1.8.4", targetKubeVirtVersion="v1.9.0",
                       conditions=conditions("True", "True"))
    assert not ready(cr(mid_upgrade))  # phase Deployed all along, but not this release yet
    assert describe_kubevirt(cr(mid_upgrade)) == ("Deployed, observed v1.8.4 (target v1.9.0), Available=True, "
                                                  "Progressing=True")
    assert not ready(cr(dict(done, conditions=conditions("True", "True"))))
    assert not ready(cr(dict(done, conditions=conditions("False", "False"))))
    assert not ready(cr(dict(done, observedGeneration=1)))  # the latest spec not yet seen
    assert not ready(cr({k: v for k, v in done.items() if k != "observedGeneration"}))
    assert not ready(None)


@pytest.mark.parametrize("emulation", [True, False])
def test_the_cr_says_use_emulation_explicitly(emulation: bool) -> None:
    rendered = render_cr(PLAN.directory / "kubevirt" / "kubevirt-cr.yaml", use_emulation=emulation)
    assert rendered["spec"]["configuration"]["developerConfiguration"] == {"featureGates": [],
                                                                         "useEmulation": emulation}
    assert (rendered["metadata"]["namespace"], rendered["metadata"]["name"]) == (PLAN.kubevirt_namespace,
                                                                                 PLAN.kubevirt_name)


def test_the_stub_operator_refuses_cr_updates_while_its_pods_are_not_serving(emulated_kind: EmulatedCluster) -> None:
    """What made the old apply-then-patch fail on real clusters: the update webhook is served by virt-operator."""
    client = Cluster.from_kubeconfig(str(emulated_kind.kubeconfig_path), backend="kind")
    try:
        client.create(NAMESPACE, None, {"metadata": {"name": "kubevirt"}})
        client.create(KUBEVIRT, "kubevirt", render_cr(PLAN.directory / "kubevirt" / "kubevirt-cr.yaml",
                                                      use_emulation=False))
        patch = {"spec": {"configuration": {"developerConfiguration": {"useEmulation": True}}}}
        with pytest.raises(ApiCallFailed) as exc:  # no virt-operator pod answers (none deployed here)
            client.patch(KUBEVIRT, "kubevirt", "kubevirt", patch)
        assert 'failed calling webhook "kubevirt-update-validator.kubevirt.io"' in str(exc.value)
        assert 'no endpoints available for service "kubevirt-operator-webhook"' in str(exc.value)
    finally:
        client.close()
