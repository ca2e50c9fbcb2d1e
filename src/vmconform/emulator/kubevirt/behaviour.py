"""The decision points a fault profile may change, in one place.

Every controller asks ``ctx.behaviour`` instead of hard-coding these answers.  Without
faults every method gives KubeVirt's behaviour; each behaviour fault of
:data:`vmconform.emulator.faults.FAULTS` changes exactly the answers it names and leaves
everything else as KubeVirt does it (so the broken cluster looks normal elsewhere):

==================================  ==============================================================
fault                               where it acts
==================================  ==============================================================
stop-keeps-running                  :meth:`stop_takes_effect` (a Halted VM keeps its VMI)
stop-hangs                          :meth:`shutdown_completes` (a stopped VM's guest never goes down)
start-accepted-when-running         :meth:`intercept` (``start`` of a live VM: 202, nothing done)
stopped-vm-accepts-pause-restart    :meth:`intercept` (``restart`` 202 / ``pause`` 200 without a VMI)
pause-noop / unpause-noop           :meth:`pause_takes_effect`
pause-replaces-vmi                  :meth:`pause_takes_effect` (stop + start paused instead)
pause-reboots-guest                 :meth:`pause_guest` (fresh boot, then frozen)
guest-clock-runs-while-paused       :meth:`pause_guest` (the guest's uptime keeps counting)
restart-keeps-vmi                   :meth:`intercept` (``restart``: 202, guest reboots in the same VMI)
restart-keeps-guest-memory          :meth:`intercept` notes the guest, :meth:`boot_new_guest` carries it over
migration-same-node                 :meth:`migration_target_avoids_source`, :meth:`target_node_selector`
migration-restarts-vm               :meth:`migrate_guest` (a new VMI object and a fresh boot)
migration-stuck                     :meth:`migration_completes`
migration-never-shown-migrating     :meth:`shown_status`, :meth:`transfer_step` (a long transfer, no Migrating)
rwo-migratable                      :meth:`pvc_is_shared`
volume-mounted-everywhere           :meth:`datastore_mounts` (helper pods mount every Bound RWX claim)
eviction-kills-vm                   :meth:`eviction_triggers_evacuation` (the webhook lets the eviction through)
evacuation-ignored                  :meth:`evacuation_migrates` (marked VMIs get no migration)
drain-ignores-limits                :meth:`evacuation_respects_limits` (evacuations skip the migration limits)
dryrun-ignored                      :meth:`honours_dry_run` (a subresource dry run is carried out for real)
==================================  ==============================================================
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..resources import NAMESPACES, NODES, PODS, VMIS, VMS, dig
from ..timeutil import now_rfc3339
from . import constants as C

if TYPE_CHECKING:
    from aiohttp import web

    from .context import KubeVirtContext
    from .guests import GuestHandle
    from .subresource_api import SubresourceCall

Obj = dict[str, Any]
HANG_RECHECK_SECONDS = 0.5  # a hung shutdown looks again whether its VM or namespace is being deleted
LONG_TRANSFER_SECONDS = 6.0  # migration-never-shown-migrating: longer than the suite's status_lag (5 s)


class Behaviour:
    def __init__(self, faults: frozenset[str], ctx: "KubeVirtContext | None" = None) -> None:
        self.faults = faults
        self.ctx = ctx  # the whole emulator state, for faults that need more than their arguments
        # restart-keeps-guest-memory: (namespace, VMI name) → (old VMI UID, its guest) while a restart runs
        self._restarting: dict[tuple[str, str], tuple[str, Any]] = {}

    def active(self, name: str) -> bool:
        return name in self.faults

    # ------------------------------------------------------------ subresources

    def honours_dry_run(self) -> bool:
        """A subresource request with ``dryRun: ["All"]`` is checked and changes nothing."""
        return not self.active("dryrun-ignored")

    def intercept(self, call: "SubresourceCall", dry_run: bool = False) -> "web.StreamResponse | None":
        """Answer a subresource request instead of virt-api (e.g. accept and do nothing); None = normal.

        A dry run gets the same answer as the real request would, without the fault's side effects."""
        if not self.faults or not call.name:
            return None
        from .subresource_api import accepted, ok_empty

        store = call.ctx.store
        vmi = store.peek(VMIS, call.namespace, call.name)
        alive = vmi is not None and dig(vmi, "status", "phase") not in C.FINAL_PHASES
        vm_exists = store.peek(VMS, call.namespace, call.name) is not None
        target = (call.resource, call.subresource)
        if self.active("start-accepted-when-running") and target == ("virtualmachines", "start") and alive:
            return accepted()  # instead of 409 "VM is already running"; nothing happens
        if self.active("stopped-vm-accepts-pause-restart") and vm_exists and not alive:
            if target == ("virtualmachines", "restart"):
                return accepted()  # instead of 409 "RunStategy Halted does not support manual restart requests"
            if target == ("virtualmachineinstances", "pause"):
                return ok_empty()  # instead of 404: there is no VMI to pause
        if self.active("restart-keeps-vmi") and target == ("virtualmachines", "restart") and vmi is not None \
                and dig(vmi, "status", "phase") == C.RUNNING and not vmi["metadata"].get("deletionTimestamp"):
            vc = call.ctx.vmi_controller
            if vc is not None and not dry_run:
                vc.request_softreboot(call.namespace, call.name)  # the guest reboots, the VMI stays
            return accepted()
        if self.active("restart-keeps-guest-memory") and target == ("virtualmachines", "restart") \
                and vmi is not None and dig(vmi, "status", "phase") == C.RUNNING:
            handle = call.ctx.guests.get(call.namespace, call.name, vmi["metadata"]["uid"])
            if handle is not None and handle.guest is not None and not dry_run:  # the restart itself goes on as usual
                self._restarting[(call.namespace, call.name)] = (vmi["metadata"]["uid"], handle.guest)
        return None

    def start_rejects_live_vmi(self, vmi: Obj) -> bool:
        """start on a VM whose VMI is alive answers 409 "VM is already running"."""
        return True

    # ------------------------------------------------------------ VM controller

    def stop_takes_effect(self, vm: Obj, vmi: Obj) -> bool:
        """Whether a VM with runStrategy Halted gets its VMI deleted (stop-keeps-running: never)."""
        return not self.active("stop-keeps-running")

    # ------------------------------------------------------------ guest effects

    def pause_guest(self, handle: "GuestHandle") -> None:
        """What pausing does to the guest: freeze it (clock stops, memory kept)."""
        if self.active("pause-reboots-guest"):
            handle.boot()  # a fresh boot: new boot_id, RAM files gone, logged out
        if self.active("guest-clock-runs-while-paused") and handle.guest is not None:
            handle.guest.clock_runs_while_paused = True
        handle.pause()

    def boot_new_guest(self, handle: "GuestHandle") -> None:
        """The guest of a newly started VMI boots afresh.

        restart-keeps-guest-memory: after a restart the new VMI (new UID, new pod) gets the old
        VMI's guest as it was — same boot_id, RAM files and login session — instead of a boot.
        """
        carried = self._restarting.pop((handle.namespace, handle.name), None)
        if carried is None or carried[0] == handle.uid or handle.guest is None:
            handle.boot()
            return
        guest = carried[1]
        guest.on_power = handle.guest.on_power  # power requests now go to the new VMI
        handle.guest = guest
        handle.running = True

    def unpause_guest(self, handle: "GuestHandle") -> None:
        handle.unpause()

    def migrate_guest(self, handle: "GuestHandle") -> None:
        """What a completed live migration does to the guest: nothing visible (state kept).

        Called after the VMI already names the target node, before the migration is marked
        Succeeded.  migration-restarts-vm: the VM was in fact stopped on the source and started
        on the target, so the VMI is a new object (new UID) and the guest booted afresh.
        """
        if self.active("migration-restarts-vm"):
            self._replace_vmi_in_its_pods(handle)
            return
        handle.migrate()

    def pause_takes_effect(self, vmi: Obj, paused: bool) -> bool:
        """Whether an accepted pause (``paused``) / unpause request really changes the VMI."""
        if paused and self.active("pause-noop"):
            return False
        if not paused and self.active("unpause-noop"):
            return False
        if paused and self.active("pause-replaces-vmi"):
            self._restart_paused(vmi)
            return False
        return True

    def shutdown_completes(self, vmi: Obj) -> bool:
        """Whether the guest of a deleted VMI ever finishes shutting down.

        stop-hangs: not when its VM was stopped (runStrategy Halted) — the VM stays Stopping —
        unless the VM or the namespace is being deleted (so a run can still clean up).
        """
        if not self.active("stop-hangs") or self.ctx is None:
            return True
        meta = vmi["metadata"]
        ns = meta["namespace"]
        vm = self.ctx.store.peek(VMS, ns, _owner_vm_name(vmi))
        nsobj = self.ctx.store.peek(NAMESPACES, None, ns)
        if vm is None or vm["metadata"].get("deletionTimestamp") or nsobj is None \
                or nsobj["metadata"].get("deletionTimestamp"):
            return True
        if dig(vm, "spec", "runStrategy") != C.HALTED and dig(vm, "spec", "running") is not False:
            return True  # a restart (stop + start) is not a stop
        self.ctx.queue.add_after(HANG_RECHECK_SECONDS, "vmi", ns, meta["name"])
        return False

    def shutdown_phase(self, vmi: Obj, grace_expired: bool) -> str:
        """The final phase of a VMI whose guest was asked to shut down (ACPI)."""
        return C.FAILED if grace_expired else C.SUCCEEDED

    # ------------------------------------------------------------ eviction and evacuation

    def eviction_triggers_evacuation(self, vmi: Obj, strategy: str) -> bool:
        """Whether the pod-eviction webhook marks a VMI it should evacuate and refuses the eviction.

        eviction-kills-vm: never for LiveMigrate — the eviction is granted, the launcher pod deleted and
        the VM (runStrategy Always) restarted as a new VMI instead of being migrated."""
        return not (self.active("eviction-kills-vm") and strategy == "LiveMigrate")

    def evacuation_migrates(self, vmi: Obj) -> bool:
        """Whether the evacuation controller creates the migration of a VMI it should evacuate
        (evacuation-ignored: never — the eviction is refused with 429 but nothing moves)."""
        return not self.active("evacuation-ignored")

    def evacuation_respects_limits(self, mig: Obj) -> bool:
        """Whether a pending migration waits for the per-cluster and per-node limits
        (drain-ignores-limits: evacuation migrations never wait)."""
        annotations = mig["metadata"].get("annotations") or {}
        return not (self.active("drain-ignores-limits") and "kubevirt.io/evacuationMigration" in annotations)

    # ------------------------------------------------------------ storage

    def datastore_mounts(self, pvc: Obj) -> None:
        """Called for every claim the storage controller reconciles; normally nothing to do.

        volume-mounted-everywhere: a monolithic datastore — every Bound ReadWriteMany claim is also
        mounted by a Running helper pod ``datastore-mount-<claim>-<node>`` on every worker node,
        owned by the claim; the helpers go when the claim is deleted (so it can be released).
        """
        if not self.active("volume-mounted-everywhere") or self.ctx is None:
            return
        store = self.ctx.store
        meta = pvc["metadata"]
        ns, claim, uid = meta["namespace"], meta["name"], meta["uid"]
        if meta.get("deletionTimestamp"):
            for pod in store.items(PODS, ns):
                if any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences") or []):
                    try:
                        store.delete(PODS, ns, pod["metadata"]["name"])
                    except ApiError:
                        pass
            return
        modes = dig(pvc, "status", "accessModes", default=None) or []
        if dig(pvc, "status", "phase") != "Bound" or "ReadWriteMany" not in modes:
            return
        for node in store.items(NODES):
            if "node-role.kubernetes.io/control-plane" in (node["metadata"].get("labels") or {}):
                continue
            name = f"datastore-mount-{claim}-{node['metadata']['name']}"[:63].rstrip("-.")
            if store.peek(PODS, ns, name) is None:
                try:
                    store.create(PODS, _datastore_pod(name, pvc, node), ns)
                except ApiError:
                    return  # e.g. the namespace is being terminated

    # ------------------------------------------------------------ migration

    def pvc_is_shared(self, access_modes: list[str]) -> bool:
        """A PVC is live-migratable only with ReadWriteMany (rwo-migratable: every PVC is)."""
        return self.active("rwo-migratable") or "ReadWriteMany" in access_modes

    def migration_target_avoids_source(self) -> bool:
        """The target pod gets anti-affinity to the source pod (so it lands on another node)."""
        return not self.active("migration-same-node")

    def target_node_selector(self, vmi: Obj) -> dict[str, str]:
        """Extra nodeSelector for a migration target pod (besides the VMIM's addedNodeSelector)."""
        if self.active("migration-same-node"):
            node = dig(vmi, "status", "nodeName")
            if node:
                return {C.LABEL_HOSTNAME: node}
        return {}

    def migration_completes(self, migration: Obj) -> bool:
        """Whether a running memory transfer ever completes."""
        return not self.active("migration-stuck")

    def transfer_step(self) -> str | float:
        """How long a memory transfer takes: the timing table's step, or (migration-never-shown-migrating)
        a fixed LONG_TRANSFER_SECONDS — long enough that a healthy VM controller would show Migrating."""
        return LONG_TRANSFER_SECONDS if self.active("migration-never-shown-migrating") else "migration.transfer"

    # ------------------------------------------------------------ VM status

    def shown_status(self, status: str, vmi: Obj | None) -> str:
        """The VM's printableStatus as written (migration-never-shown-migrating: Migrating is skipped, the
        next predicate of setPrintableStatus — Paused or Running — is shown instead)."""
        if status == C.PS_MIGRATING and self.active("migration-never-shown-migrating"):
            paused = any(c.get("type") == C.COND_PAUSED and c.get("status") == "True"
                         for c in dig(vmi, "status", "conditions", default=[]) or [])
            return C.PS_PAUSED if paused else C.PS_RUNNING
        return status

    # ------------------------------------------------------------ what some faults do instead

    def _restart_paused(self, vmi: Obj) -> None:
        """pause-replaces-vmi: ask the VM controller for Stop + Start(paused), as ``restart`` would.

        The VM ends Paused with Paused=True (PausedByUser) on a new VMI in a new launcher pod.
        """
        assert self.ctx is not None
        meta = vmi["metadata"]
        uid = meta["uid"]

        def fn(o: Obj) -> None:
            o.setdefault("status", {})["stateChangeRequests"] = [
                {"action": C.STOP_REQUEST, "uid": uid},
                {"action": C.START_REQUEST, "data": {"paused": "true"}},
            ]

        self.ctx.store.mutate(VMS, meta["namespace"], _owner_vm_name(vmi), fn, status=True)

    def _replace_vmi_in_its_pods(self, handle: "GuestHandle") -> None:
        """migration-restarts-vm: the VMI object is deleted and created again (new UID) where it
        now runs; its launcher pods are handed to the new VMI and the guest boots afresh."""
        assert self.ctx is not None
        from .guests import GuestHandle
        from .pods import pods_of

        ctx, store = self.ctx, self.ctx.store
        ns, name = handle.namespace, handle.name
        old = store.peek(VMIS, ns, name)
        if old is None or old["metadata"]["uid"] != handle.uid:
            handle.migrate()
            return
        old = copy.deepcopy(old)
        old_uid = old["metadata"]["uid"]
        pods = [p["metadata"]["name"] for p in pods_of(ctx, old)]

        def orphan(o: Obj) -> None:  # so deleting the old VMI does not take the pods with it
            o["metadata"]["ownerReferences"] = [r for r in o["metadata"].get("ownerReferences") or []
                                                if r.get("uid") != old_uid]

        for pod in pods:
            store.mutate(PODS, ns, pod, orphan, status=True)

        def gone(o: Obj) -> None:
            o["metadata"]["finalizers"] = []
            o["metadata"]["deletionTimestamp"] = now_rfc3339()

        store.mutate(VMIS, ns, name, gone, status=True)  # DELETED: the old guest and console go with it
        meta = old["metadata"]
        body = {"apiVersion": old.get("apiVersion"), "kind": old.get("kind"),
                "metadata": {k: copy.deepcopy(meta[k]) for k in ("name", "labels", "annotations", "ownerReferences")
                             if k in meta},
                "spec": copy.deepcopy(old.get("spec") or {})}
        new = store.create(VMIS, body, ns)
        new_uid = new["metadata"]["uid"]
        status = copy.deepcopy(old.get("status") or {})
        store.mutate(VMIS, ns, name, lambda o: o.__setitem__("status", status), status=True)

        def adopt(o: Obj) -> None:
            o["metadata"].setdefault("labels", {})[C.LABEL_CREATED_BY] = new_uid
            o["metadata"]["ownerReferences"] = [
                *(o["metadata"].get("ownerReferences") or []),
                {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": name, "uid": new_uid,
                 "controller": True, "blockOwnerDeletion": True}]

        for pod in pods:
            store.mutate(PODS, ns, pod, adopt, status=True)
        vc = ctx.vmi_controller
        fresh = GuestHandle(ns, name, new_uid, handle.image, handle.hostname,
                            on_power=lambda action: vc.guest_power(ns, name, action, new_uid) if vc else None,
                            has_agent=handle.has_agent)
        ctx.guests.put(fresh)
        fresh.boot()
        if vc is not None:
            vc._enqueue(ns, name)  # noqa: SLF001 - let the VMI controller pick the new object up


def _datastore_pod(name: str, pvc: Obj, node: Obj) -> Obj:
    """A Running host-network pod on ``node`` that mounts the claim (volume-mounted-everywhere)."""
    meta = pvc["metadata"]
    node_name = node["metadata"]["name"]
    ip = next((a.get("address") for a in dig(node, "status", "addresses", default=[]) or []
               if a.get("type") == "InternalIP"), "")
    now = now_rfc3339()
    image = "registry.vmconform.io/datastore-mounter:v1"
    ready = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {
        "metadata": {"name": name, "labels": {"app": "datastore-mount", "datastore.vmconform.io/claim": meta["name"]},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": meta["name"],
                                          "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"nodeName": node_name, "hostNetwork": True, "restartPolicy": "Always",
                 "containers": [{"name": "mount", "image": image,
                                 "volumeMounts": [{"name": "data", "mountPath": "/datastore"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": meta["name"]}}]},
        "status": {"phase": "Running", "hostIP": ip, "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
                   "conditions": ready, "qosClass": "BestEffort",
                   "containerStatuses": [{"name": "mount", "image": image, "imageID": f"{image}@sha256:{'0' * 64}",
                                          "ready": True, "restartCount": 0, "started": True,
                                          "state": {"running": {"startedAt": now}}}]},
    }


def _owner_vm_name(vmi: Obj) -> str:
    owner = next((r for r in vmi["metadata"].get("ownerReferences") or [] if r.get("kind") == "VirtualMachine"), None)
    return str(owner.get("name")) if owner else vmi["metadata"]["name"]
