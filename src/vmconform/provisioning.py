"""Waits for a VM's DataVolumes (CDI): phase and progress in the timeline, the terminal and the failure.

A VM whose root disk is a DataVolume shows ``Provisioning`` until CDI has populated it
(``WaitingForVolumeBinding`` while a claim is unbound, ``DataVolumeError`` when the import failed);
its start waits for that. On a real cluster an import or clone can take minutes: the wait prints
the DataVolume's phase and progress every few seconds while it moves.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from .kube.kinds import VM, Kind
from .kube.waits import WaitFailed, wait_for
from .timeouts import PROGRESS_SECONDS

DATAVOLUME = Kind("cdi.kubevirt.io", "v1beta1", "datavolumes", "DataVolume")
DATASOURCE = Kind("cdi.kubevirt.io", "v1beta1", "datasources", "DataSource")
STORAGEPROFILE = Kind("cdi.kubevirt.io", "v1beta1", "storageprofiles", "StorageProfile", namespaced=False)

# VM printableStatus values of provisioning (pkg/virt-controller/watch/vm/vm.go setPrintableStatus)
PROVISIONING = "Provisioning"
WAITING_FOR_VOLUME_BINDING = "WaitingForVolumeBinding"
DATAVOLUME_ERROR = "DataVolumeError"
# DataVolume phases a VM may start with (handleDataVolumes: Succeeded, WaitForFirstConsumer, PendingPopulation)
DV_READY_PHASES = ("Succeeded", "WaitForFirstConsumer", "PendingPopulation")
DV_FAILED = "Failed"
PROVISIONED = "provisioned_data_volumes"  # ScenarioContext.values key: DataVolumes seen populated


def dv_state(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return "<not created yet>"
    st = obj.get("status") or {}
    return f"{st.get('phase') or '(no phase)'} {st.get('progress') or 'N/A'}"


def data_volume_names(vm: dict[str, Any]) -> list[str]:
    volumes = (((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes") or []
    return [v["dataVolume"]["name"] for v in volumes if (v.get("dataVolume") or {}).get("name")]


def wait_data_volume(cluster: Any, namespace: str, name: str, timeout: float, *, echo: bool = True) -> float:
    """Until the DataVolume is populated; returns the seconds it took. WaitFailed names its phase and progress.

    With ``echo`` a line with the DataVolume's phase and progress goes to stderr every PROGRESS_SECONDS
    while the wait lasts (an import on a real cluster can take minutes)."""
    started = time.monotonic()
    last = ["<not read yet>"]
    finished = threading.Event()

    def ticker() -> None:
        while not finished.wait(PROGRESS_SECONDS):  # a progress line, not a wait for state
            print(f"vmconform: provisioning: DataVolume {namespace}/{name} {last[0]} "
                  f"{time.monotonic() - started:.0f} s / {timeout:.0f} s", file=sys.stderr, flush=True)

    def describe(obj: dict[str, Any] | None) -> str:
        last[0] = dv_state(obj)
        return last[0]

    def failed(obj: dict[str, Any] | None) -> str | None:
        phase = ((obj or {}).get("status") or {}).get("phase")
        return f"the DataVolume is {DV_FAILED}" if phase == DV_FAILED else None

    def done(obj: dict[str, Any] | None) -> bool:
        return ((obj or {}).get("status") or {}).get("phase") in DV_READY_PHASES

    thread = threading.Thread(target=ticker, name=f"provisioning-{name}", daemon=True) if echo else None
    if thread is not None:
        thread.start()
    try:
        wait_for(cluster, DATAVOLUME, namespace, name, until=done, describe=describe, timeout=timeout,
                 what=f"DataVolume {name} provisioned", terminal=failed)
    except WaitFailed as exc:
        raise WaitFailed(f"the VM's DataVolume {name} was not provisioned within {timeout:.0f} s: it is "
                         f"{dv_state(exc.last)} (phase, progress); {exc}", exc.timeline, exc.last) from None
    finally:
        finished.set()
    return time.monotonic() - started


def wait_vm_data_volumes(ctx: Any, vm_name: str) -> None:
    """Every DataVolume the VM's volumes name, provisioned (bounded by ``dv_provisioned``)."""
    vm = ctx.cluster.get(VM, ctx.namespace, vm_name)
    done: set[str] = ctx.values.setdefault(PROVISIONED, set())
    for name in data_volume_names(vm or {}):
        if name in done:
            continue  # populated once, a DataVolume stays so
        seconds = wait_data_volume(ctx.cluster, ctx.namespace, name, ctx.timeouts["dv_provisioned"])
        ctx.transition(f"DataVolume {name} provisioning", seconds)
        done.add(name)
