"""StorageProfiles: one per StorageClass, claimPropertySets from the provisioner's known capabilities.

CDI keeps a table of what each known provisioner can give (pkg/storagecapabilities); a StorageProfile's
``status.claimPropertySets`` are its spec's when set, else that table's entry; an unknown provisioner gets
none (Recognized=False) and a DataVolume on it must name its access mode itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kubevirt.context import KubeVirtContext, context_of
from ..kubevirt.storage import BLOCK_PROVISIONER, LOCAL_PROVISIONER, SHARED_PROVISIONER
from ..kubevirt.util import set_condition
from ..resources import STORAGECLASSES, dig
from ..store import Event
from .constants import SP_RECOGNIZED, SP_UNRECOGNIZED
from .kinds import STORAGEPROFILES

if TYPE_CHECKING:
    from ..cluster import Emulator

Obj = dict[str, Any]
RWX, RWO = "ReadWriteMany", "ReadWriteOnce"
BLOCK, FS = "Block", "Filesystem"


def _sets(*pairs: tuple[str, str]) -> list[Obj]:
    return [{"accessModes": [mode], "volumeMode": vm} for mode, vm in pairs]


# like CDI's table: the shared filesystem class as CephFS, the block class as Ceph RBD, local as local-path
CAPABILITIES: dict[str, list[Obj]] = {
    SHARED_PROVISIONER: _sets((RWX, FS), (RWO, FS)),
    BLOCK_PROVISIONER: _sets((RWX, BLOCK), (RWO, BLOCK), (RWO, FS)),
    LOCAL_PROVISIONER: _sets((RWO, FS)),
}
CLONE_STRATEGY = "copy"  # the emulator plays host-assisted cloning (CloneScheduled → CloneInProgress)


def claim_property_sets(profile: Obj | None) -> list[Obj]:
    return list(dig(profile, "status", "claimPropertySets", default=[]) or []) if profile else []


class StorageProfileController:
    def __init__(self) -> None:
        self.ctx: KubeVirtContext | None = None

    async def start(self, emulator: "Emulator") -> None:
        ctx = self.ctx = context_of(emulator)
        ctx.queue.register("storageprofile", self.reconcile)
        ctx.watch(STORAGECLASSES, self._on_event)
        ctx.watch(STORAGEPROFILES, self._on_event)
        for sc in ctx.store.items(STORAGECLASSES):
            self.reconcile("", sc["metadata"]["name"])

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.close()

    def _on_event(self, ev: Event) -> None:
        assert self.ctx is not None
        self.ctx.queue.add("storageprofile", "", ev.obj["metadata"]["name"])

    def reconcile(self, _ns: str, name: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        sc = ctx.store.peek(STORAGECLASSES, None, name)
        profile = ctx.store.peek(STORAGEPROFILES, None, name)
        if sc is None:
            if profile is not None and not profile["metadata"].get("deletionTimestamp"):
                ctx.store.delete(STORAGEPROFILES, None, name)
            return
        if profile is None:
            profile = ctx.store.create(STORAGEPROFILES, {
                "metadata": {"name": name, "labels": {"app": "containerized-data-importer",
                                                      "app.kubernetes.io/component": "storage",
                                                      "app.kubernetes.io/managed-by": "cdi-controller"}},
                "spec": {}})
        provisioner = sc.get("provisioner", "")
        known = CAPABILITIES.get(provisioner)
        sets = dig(profile, "spec", "claimPropertySets", default=None) or [dict(s) for s in known or []]
        wanted: Obj = {"storageClass": name, "provisioner": provisioner, "claimPropertySets": sets,
                       "cloneStrategy": dig(profile, "spec", "cloneStrategy", default=None) or CLONE_STRATEGY}
        current = profile.get("status") or {}
        if all(current.get(k) == v for k, v in wanted.items()) and current.get("conditions"):
            return

        def fn(o: Obj) -> None:
            st = o.setdefault("status", {})
            st.update(wanted)
            reason, message = SP_RECOGNIZED if known is not None else SP_UNRECOGNIZED
            set_condition(st, "Recognized", "True" if known is not None else "False", reason, message)

        ctx.store.mutate(STORAGEPROFILES, None, name, fn, status=True)
