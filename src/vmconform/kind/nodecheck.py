"""What must hold on the docker host itself, read from inside each worker node (``<runtime> exec``).

The nodes are privileged containers on the docker daemon's host, which need not be the machine
running vmconform (a remote ``DOCKER_HOST``, a VM of Docker Desktop or podman machine), so the host's
devices, kernel modules and limits are read where the cluster really runs:

- ``/dev/kvm`` and ``/dev/vhost-net``: without both KubeVirt's VM pods ask for device-plugin resources
  the node never offers (``getRequiredResources``, ``pkg/virt-controller/services/renderresources.go``
  @ v1.9.0), so ``--kubevirt-emulation auto`` switches ``useEmulation`` on unless every worker has both;
- the ``nfsd`` kernel module (``nfsd`` in ``/proc/filesystems``): the in-cluster NFS server is the kernel's;
- inotify limits (kind's known issue "Pod errors due to too many open files", kind v0.31.0
  ``site/content/docs/user/known-issues.md``): at least 524288 watches and 512 instances.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from .runtime import Runtime

NODE_CHECK_TIMEOUT = 60.0  # seconds for one `docker exec`
INOTIFY_MINIMUM = {"max_user_watches": 524288, "max_user_instances": 512}  # kind's known issues
DEVICES = ("kvm", "vhost-net")
# One line per fact, key=value; busybox and coreutils alike.
PROBE = ("for d in kvm vhost-net; do if [ -c /dev/$d ]; then echo $d=yes; else echo $d=no; fi; done; "
         "if grep -qw nfsd /proc/filesystems; then echo nfsd=yes; else echo nfsd=no; fi; "
         "for k in max_user_watches max_user_instances; do echo $k=$(cat /proc/sys/fs/inotify/$k); done")
MODPROBE_HINT = ("run `sudo modprobe nfsd` on the docker host (to keep it: "
                 "echo nfsd | sudo tee /etc/modules-load.d/nfsd.conf)")
SYSCTL_HINT = ("sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 "
               "on the docker host")


@dataclass
class HostFacts:
    """What the workers saw; ``problems`` are prerequisites missing (exit code 5)."""

    devices_missing: dict[str, list[str]] = field(default_factory=dict)  # node -> missing devices
    problems: list[str] = field(default_factory=list)

    @property
    def hardware_virtualization(self) -> bool:
        return not any(self.devices_missing.values())

    def missing_text(self) -> str:
        return "; ".join(f"{node}: no {', '.join('/dev/' + d for d in missing)}"
                         for node, missing in self.devices_missing.items() if missing)


def _probe(runtime: Runtime, node: str) -> dict[str, str]:
    argv = [runtime.exe, "exec", node, "sh", "-c", PROBE]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=NODE_CHECK_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NodeCheckFailed(f"`{runtime.name} exec {node} ...` did not finish in {NODE_CHECK_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise NodeCheckFailed(f"`{runtime.name} exec {node}` could not be run: {exc}") from None
    if done.returncode != 0:
        last = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        raise NodeCheckFailed(f"`{runtime.name} exec {node} ...` failed (exit {done.returncode}): "
                              f"{last[-1][:300] if last else '(no output)'}")
    facts = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            facts[key] = value.strip()
    return facts


class NodeCheckFailed(Exception):
    """The node could not be asked at all (one line)."""


def check_nodes(runtime: Runtime, nodes: list[str]) -> HostFacts:
    """Ask every worker; raises :class:`NodeCheckFailed` when one cannot be asked."""
    facts = HostFacts()
    no_nfsd: list[str] = []
    low: dict[str, int] = {}
    for node in nodes:
        seen = _probe(runtime, node)
        facts.devices_missing[node] = [d for d in DEVICES if seen.get(d) != "yes"]
        if seen.get("nfsd") != "yes":
            no_nfsd.append(node)
        for key, minimum in INOTIFY_MINIMUM.items():
            try:
                value = int(seen.get(key, ""))
            except ValueError:
                value = 0
            if value < minimum:
                low[key] = min(value, low.get(key, value))
    if no_nfsd:
        facts.problems.append(f"the nfsd kernel module is not loaded on the docker host (no nfsd in /proc/filesystems "
                              f"of {', '.join(no_nfsd)}); the in-cluster NFS server needs it: {MODPROBE_HINT}")
    if low:
        have = ", ".join(f"fs.inotify.{k}={v}" for k, v in sorted(low.items()))
        facts.problems.append(f"inotify limits too low on the docker host ({have}; kind needs at least "
                              f"524288 watches and 512 instances): {SYSCTL_HINT}")
    return facts
