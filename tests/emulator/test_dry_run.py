"""Dry runs of the VM actions (``dryRun: ["All"]`` in the body, kubevirt-semantics.md §1.3): virt-api makes the
same checks and gives the same answer as for the real request, and changes nothing (``pkg/virt-api/rest/
lifecycle.go`` @ v1.9.0: start/stop/restart pass ``DryRun`` to their patches, migrate to its VMIM create, pause and
unpause return after ``prepareConnection``'s checks).  The fault ``dryrun-ignored`` carries them out for real."""

from __future__ import annotations

import json
from typing import Any

from vmconform.emulator.cluster import Options

Obj = dict[str, Any]
VMS, VMIS = "virtualmachines", "virtualmachineinstances"
DRY: Obj = {"dryRun": ["All"]}
ACTIONS = (("vm", "start"), ("vm", "stop"), ("vm", "restart"), ("vmi", "pause"), ("vmi", "unpause"),
           ("vm", "migrate"))


def conflict(res: str, name: str, msg: str) -> str:
    return f'Operation cannot be fulfilled on {res}.kubevirt.io "{name}": {msg}'


def rvs(kv: Any, ns: str, name: str) -> tuple[str, str | None]:
    vmi = kv.vmi(ns, name)
    return kv.vm(ns, name)["metadata"]["resourceVersion"], None if vmi is None else vmi["metadata"]["resourceVersion"]


def probe(kv: Any, ns: str, name: str, body: Obj | None = None) -> dict[str, tuple[int, str]]:
    """Each action as a dry run: its HTTP code and the Status message ("" for an empty answer)."""
    out = {}
    for res, sub in ACTIONS:
        code, text = kv.sub(ns, res, name, sub, dict(body or DRY))
        out[sub] = (code, json.loads(text)["message"] if text else "")
    return out


def has_cond(o: Obj | None, ctype: str) -> bool:
    return any(c["type"] == ctype for c in (o or {}).get("status", {}).get("conditions", []) or [])


def settled(kv: Any, ns: str, name: str, pred: Any) -> tuple[str, str | None]:
    kv.wait_vm(ns, name, pred)
    return rvs(kv, ns, name)


def test_stopped_vm_dry_runs_answer_as_real_requests_and_change_nothing(kv: Any, ns: str) -> None:
    kv.create_vm(ns, "h", "Halted")
    before = settled(kv, ns, "h", lambda o: o.get("status", {}).get("printableStatus") == "Stopped")
    assert probe(kv, ns, "h") == {
        "start": (202, ""),
        "stop": (409, conflict("virtualmachine", "h", "VM is not running")),
        "restart": (409, conflict("virtualmachine", "h", "RunStategy Halted does not support manual restart "
                                                         "requests")),
        "pause": (404, 'virtualmachineinstance.kubevirt.io "h" not found'),
        "unpause": (404, 'virtualmachineinstance.kubevirt.io "h" not found'),
        "migrate": (404, 'virtualmachineinstance.kubevirt.io "h" not found'),
    }
    assert kv.sub(ns, "vm", "h", "start", {"paused": True, **DRY}) == (202, "")
    assert rvs(kv, ns, "h") == before
    vm = kv.vm(ns, "h")
    assert vm["spec"]["runStrategy"] == "Halted" and not vm["status"].get("stateChangeRequests")
    assert kv.vmi(ns, "h") is None


def test_running_vm_dry_runs_answer_as_real_requests_and_change_nothing(kv: Any, ns: str) -> None:
    vmi = kv.running(ns, "r")
    before = rvs(kv, ns, "r")
    assert probe(kv, ns, "r") == {
        "start": (409, conflict("virtualmachine", "r", "VM is already running")),
        "stop": (202, ""), "restart": (202, ""), "pause": (200, ""),
        "unpause": (409, conflict("virtualmachineinstance", "r", "VMI is not paused")),
        "migrate": (202, ""),
    }
    # the options that write before the check (stop's gracePeriod, restart's force) write nothing either
    assert kv.sub(ns, "vm", "r", "stop", {"gracePeriod": 0, **DRY}) == (202, "")
    assert kv.sub(ns, "vm", "r", "restart", {"gracePeriodSeconds": 0, **DRY}) == (202, "")
    # same checks: a body a real request would be refused for is refused in a dry run too
    code, text = kv.sub(ns, "vm", "r", "restart", {"gracePeriodSeconds": 5, **DRY})
    assert code == 400 and "only gracePeriod=0 is supported" in json.loads(text)["message"]
    assert rvs(kv, ns, "r") == before
    after = kv.vmi(ns, "r")
    assert after["metadata"]["uid"] == vmi["metadata"]["uid"] and not has_cond(after, "Paused")
    assert after["spec"].get("terminationGracePeriodSeconds") == vmi["spec"].get("terminationGracePeriodSeconds")
    vm = kv.vm(ns, "r")
    assert vm["spec"]["runStrategy"] == "Always" and not vm["status"].get("stateChangeRequests")
    assert kv.vmims(ns) == []


def test_paused_vm_dry_runs_answer_as_real_requests_and_change_nothing(kv: Any, ns: str) -> None:
    kv.running(ns, "p")
    kv.ok(ns, "vmi", "p", "pause")
    before = settled(kv, ns, "p", lambda o: o.get("status", {}).get("printableStatus") == "Paused"
                     and not o["status"].get("ready"))
    assert probe(kv, ns, "p") == {
        "start": (409, conflict("virtualmachine", "p", "VM is already running")),
        "stop": (202, ""), "restart": (202, ""),
        "pause": (409, conflict("virtualmachineinstance", "p", "VMI is already paused")),
        "unpause": (200, ""), "migrate": (202, ""),
    }
    assert rvs(kv, ns, "p") == before
    assert has_cond(kv.vmi(ns, "p"), "Paused") and kv.vmims(ns) == []


def test_dry_run_of_a_vm_that_cannot_migrate_gets_the_webhook_denial(kv: Any, ns: str) -> None:
    kv.running(ns, "b", interface=None)  # bridge: not live-migratable; the dry-run create still meets the webhook
    code, text = kv.sub(ns, "vm", "b", "migrate", DRY)
    assert code == 500 and "InterfaceNotLiveMigratable" in json.loads(text)["message"]
    assert kv.vmims(ns) == []


def test_fault_dryrun_ignored_carries_a_dry_run_out(kv_factory: Any) -> None:
    with kv_factory(Options(nodes=1, seed=5, faults=("dryrun-ignored",))) as fkv:
        ns = "dry"
        fkv.core.create_namespace({"metadata": {"name": ns}})
        fkv.running(ns, "f")
        assert fkv.sub(ns, "vm", "f", "stop", DRY) == (202, "")
        assert fkv.vm(ns, "f")["spec"]["runStrategy"] == "Halted"  # carried out: the VM is stopping


def test_dry_runs_inside_the_stop_window_answer_as_virt_api(kv_factory: Any) -> None:
    """§10 W1/W4: the VM is Stopped while its final VMI still exists (its launcher pod terminating): pause and
    unpause answer 409, not 404; start is accepted; still nothing changes."""
    with kv_factory(Options(nodes=1, seed=9, extra={"steps": {"pod.terminate": 3.0}})) as wkv:
        ns = "win"
        wkv.core.create_namespace({"metadata": {"name": ns}})
        wkv.running(ns, "w")
        wkv.ok(ns, "vm", "w", "stop")
        wkv.wait_vm(ns, "w", lambda o: o.get("status", {}).get("printableStatus") == "Stopped")
        answers = probe(wkv, ns, "w")
        vmi = wkv.vmi(ns, "w")
        assert vmi is not None and vmi["status"]["phase"] == "Succeeded", "the window closed before the probe"
        assert answers == {
            "start": (202, ""),
            "stop": (409, conflict("virtualmachine", "w", "VM is not running")),
            "restart": (409, conflict("virtualmachine", "w", "RunStategy Halted does not support manual restart "
                                                             "requests")),
            "pause": (409, conflict("virtualmachineinstance", "w", "VM is not running")),
            "unpause": (409, conflict("virtualmachineinstance", "w", "VMI is not running")),
            "migrate": (409, conflict("virtualmachine", "w", "VM is not running")),
        }
        assert wkv.vm(ns, "w")["spec"]["runStrategy"] == "Halted"
