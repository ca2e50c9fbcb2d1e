"""Peer clients nobody here wrote, against an emulated cluster with its KubeVirt controllers:
openshift-python-wrapper (``ocp_resources``) and the ``kubernetes`` client's watch helpers.
When one of them breaks, the emulator is wrong until shown otherwise."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from kubernetes import client, config

from vmconform.emulator import EmulatedCluster, Options
from vmconform.timeouts import Timeouts

# Bounds only (reached when something is broken): the timeout table, scaled for the fast emulator.
TIMEOUTS = Timeouts(scale=0.1)

TESTVM: dict[str, Any] = json.loads((Path(__file__).parents[1] / "api" / "testvm.json").read_text())  # §8.1 testvm


def vm_body(name: str) -> dict[str, Any]:
    body = copy.deepcopy(TESTVM)
    body["metadata"]["name"] = name
    return body


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedCluster]:
    kc = tmp_path_factory.mktemp("peers") / "config"
    with EmulatedCluster(Options(nodes=2, seed=5), kubeconfig_path=kc) as c:
        yield c


@pytest.fixture(scope="session")
def api_client(cluster: EmulatedCluster) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig_path))
    yield api
    api.close()


@pytest.fixture
def ns(api_client: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = f"peer-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)
