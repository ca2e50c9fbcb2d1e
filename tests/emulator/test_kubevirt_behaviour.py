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


def test_volume_mounted_everywhere_mounts_rwx_claims_and_lets_them_go(kv_factory: Any) -> None:
    with kv_factory(Options(nodes=2, faults=("volume-mounted-everywhere",))) as kv:
        for ns in ("d", "e"):
            kv.core.create_namespace({"metadata": {"name": ns}})
            kv.create_pvc(ns, "shared", "ReadWriteMany", "shared-rwx")
            kv.create_pvc(ns, "local", "ReadWriteOnce", "local-rwo")
            kv.wait_core(kv.core.list_namespaced_persistent_volume_claim,
                         lambda o: o["metadata"]["name"] == "shared" and o["status"].get("phase") == "Bound", ns)
            kv.wait_core(kv.core.list_namespaced_pod,
                         lambda o: o["metadata"]["name"].startswith("datastore-mount-shared-"), ns)
        pods = kv.pods("d")
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["node01", "node02"]
        for p in pods:
            assert p["status"]["phase"] == "Running"
            assert p["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "shared"
            assert p["metadata"]["ownerReferences"][0]["kind"] == "PersistentVolumeClaim"
        kv.core.delete_namespaced_persistent_volume_claim("shared", "d")  # the claim is released, then gone
        kv.wait_gone(kv.core.list_namespaced_persistent_volume_claim, "shared", "d")
        assert kv.pods("d") == []
        kv.core.delete_namespace("e")  # namespace cleanup still completes
        kv.wait_gone(kv.core.list_namespace, "e")


def test_restart_keeps_guest_memory_carries_the_guest_into_the_new_vmi(kv_factory: Any) -> None:
    with kv_factory(Options(nodes=2, faults=("restart-keeps-guest-memory",))) as kv:
        emu = kv.cluster.emulator
        ctx = kv.cluster.call(lambda: context_of(emu))
        kv.core.create_namespace({"metadata": {"name": "g"}})
        kv.create_vm("g", "m", "Manual")
        kv.ok("g", "vm", "m", "start")
        running = lambda o: o is not None and o.get("status", {}).get("phase") == "Running"  # noqa: E731
        old = kv.wait_vmi("g", "m", running)
        assert old is not None
        before = kv.cluster.call(lambda: ctx.guests.get("g", "m"))
        assert before is not None and before.guest is not None
        boot_id = before.guest.boot_id
        kv.ok("g", "vm", "m", "restart")
        new = kv.wait_vmi("g", "m", lambda o: running(o) and o["metadata"]["uid"] != old["metadata"]["uid"])
        assert new is not None
        after = kv.cluster.call(lambda: ctx.guests.get("g", "m", new["metadata"]["uid"]))
        assert after is not None and after.guest is before.guest and after.guest.boot_id == boot_id
