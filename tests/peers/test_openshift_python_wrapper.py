"""openshift-python-wrapper 11.0.143 (``ocp_resources``) runs the lab flow against the emulator with
its own requests and its own waits: create, start, pause, unpause, migrate, restart, stop."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from kubernetes.client.exceptions import ApiException

from vmconform.emulator import EmulatedCluster

from .conftest import TIMEOUTS, vm_body

ocp_resources = pytest.importorskip("ocp_resources.resource", reason="openshift-python-wrapper is not installed "
                                    "(scripts/bootstrap installs it from tests/peers/requirements-nodeps.txt)")
from ocp_resources.resource import get_client  # noqa: E402
from ocp_resources.virtual_machine import VirtualMachine  # noqa: E402
from ocp_resources.virtual_machine_instance_migration import VirtualMachineInstanceMigration  # noqa: E402


def _restore_api_client_request(api_client: Any) -> None:
    """The wrapper calls ``ApiClient.request(method=, url=, headers=)`` for subresources (start, stop,
    pause, ...); kubernetes 36 removed that method (the reason for the wrapper's ``kubernetes<36`` pin,
    kubernetes-client/python#2596). Give this one client object the method back, over the same REST
    client and connection pool: the request still goes over HTTPS to the emulator unchanged. The wrapper
    sends ``configuration.api_key`` as the headers; kubernetes < 36 kept the token there under
    ``authorization``, 37 keeps it under ``BearerToken``: the key is renamed back, as the old client had it."""
    if hasattr(api_client, "request"):
        return

    def request(method: str, url: str, headers: dict[str, str] | None = None, body: Any = None,
                **_: Any) -> Any:
        sent = {("authorization" if key == "BearerToken" else key): value for key, value in (headers or {}).items()}
        resp = api_client.rest_client.request(method, url, headers=sent, body=body)
        resp.read()
        if not 200 <= resp.status <= 299:
            raise ApiException(http_resp=resp)
        return resp

    api_client.request = request


@pytest.fixture(scope="module")
def ocp(cluster: EmulatedCluster) -> Any:
    dyn = get_client(config_file=str(cluster.kubeconfig_path), persist_config=False)
    _restore_api_client_request(dyn.client)
    return dyn


@pytest.fixture
def running_vm(ocp: Any, ns: str) -> Iterator[VirtualMachine]:
    vm = VirtualMachine(name="lab", namespace=ns, client=ocp, body=vm_body("lab"), teardown=False)
    vm.deploy(wait=True)
    vm.start(wait=True, timeout=TIMEOUTS["vm_start"])
    vm.vmi.wait_until_running(timeout=TIMEOUTS["vm_start"])
    yield vm


def test_create_start_pause_unpause_migrate_stop(ocp: Any, ns: str, running_vm: VirtualMachine) -> None:
    vm = running_vm
    assert vm.ready is True and vm.printable_status == vm.Status.RUNNING
    source_node = vm.vmi.instance.status.nodeName
    assert vm.vmi.get_virt_handler_pod().instance.spec.nodeName == source_node

    vm.vmi.pause(wait=True, timeout=TIMEOUTS["pause"])
    assert vm.vmi.get_vmi_active_condition()  # the Paused condition is there
    vm.vmi.unpause(wait=True, timeout=TIMEOUTS["pause"])

    with VirtualMachineInstanceMigration(name="mig", namespace=ns, client=ocp, vmi_name=vm.name) as mig:
        mig.wait_for_status(status=mig.Status.SUCCEEDED, timeout=TIMEOUTS["migration"])
    vm.vmi.wait_until_running(timeout=TIMEOUTS["vmi_running_after_migration"])
    assert vm.vmi.instance.status.nodeName != source_node

    vm.stop(wait=True, timeout=TIMEOUTS["vm_stop"])
    assert vm.printable_status == vm.Status.STOPPED
    vm.clean_up(wait=True)
    assert not vm.exists


def test_restart_with_its_own_wait(running_vm: VirtualMachine) -> None:
    """restart(wait=True) looks up the launcher pod after the request and waits for it to be deleted,
    so the old pod must still be there (Terminating) when the request returns, as on a real cluster."""
    vm = running_vm
    before = vm.vmi.instance.metadata.uid
    vm.restart(wait=True, timeout=TIMEOUTS["vm_restart"])
    assert vm.vmi.instance.metadata.uid != before
    vm.stop(wait=True, timeout=TIMEOUTS["vm_stop"])
