"""The fault seam: ``options.faults`` reaches the controllers, and one Behaviour object decides."""

from __future__ import annotations

from typing import Any

from vmconform.emulator import Options
from vmconform.emulator.kubevirt import context_of
from vmconform.emulator.kubevirt.behaviour import Behaviour


class AcceptStartOnRunning(Behaviour):
    def start_rejects_live_vmi(self, vmi: dict[str, Any]) -> bool:
        return False


def test_options_faults_reach_the_controllers(kv_factory: Any) -> None:
    with kv_factory(Options(nodes=1, faults=("pause-noop",))) as kv:
        emu = kv.cluster.emulator
        ctx = kv.cluster.call(lambda: context_of(emu))
        assert ctx.faults == frozenset({"pause-noop"})
        assert ctx.behaviour.faults == ctx.faults and ctx.behaviour.ctx is ctx


def test_one_behaviour_object_changes_a_decision(kv_factory: Any) -> None:
    with kv_factory(Options(nodes=2)) as kv:
        emu = kv.cluster.emulator
        ctx = kv.cluster.call(lambda: context_of(emu))
        assert ctx.faults == frozenset() and type(ctx.behaviour) is Behaviour
        kv.core.create_namespace({"metadata": {"name": "f"}})
        kv.create_vm("f", "m", "Manual")
        kv.ok("f", "vm", "m", "start")
        kv.wait_vm("f", "m", lambda o: o["status"].get("printableStatus") == "Running"
                   and not o["status"].get("stateChangeRequests"))
        assert kv.sub("f", "vm", "m", "start")[0] == 409
        kv.cluster.call(lambda: setattr(ctx, "behaviour", AcceptStartOnRunning(ctx.faults, ctx)))
        assert kv.sub("f", "vm", "m", "start") == (202, "")
