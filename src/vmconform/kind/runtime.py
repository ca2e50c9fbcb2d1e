"""The container runtime kind runs its nodes in: does its daemon really answer, and can it host our cluster?

Docker is asked with ``docker info --format '{{json .}}'``: a Docker CLI before 28.1 exits 0 with the
daemon down and prints an empty ``ServerVersion``, so an empty server version means "down", whatever
the exit code. The answer also says the host's cgroup version (Kubernetes 1.35's kubelet refuses
cgroup v1) and whether the daemon is rootless. Podman (``KIND_EXPERIMENTAL_PROVIDER=podman``) is asked
with ``podman info --format json``.

Rootless runtimes are refused: the in-cluster NFS server is the kernel's nfsd, which needs a really
privileged container (rootless "privileged" containers cannot start the kernel NFS server).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

RUNTIME_TIMEOUT = 30.0  # seconds for `docker info` / `podman info`
CGROUP_V2 = "2"
ROOTLESS_REASON = ("the in-cluster NFS server is the kernel's nfsd and needs a rootful, really privileged "
                   "container")


class RuntimeProblem(Exception):
    """One line: why the container runtime cannot be used."""


@dataclass(frozen=True)
class Runtime:
    name: str  # "docker" or "podman": also the executable run for `exec` into the nodes
    exe: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def runtime_name() -> str:
    return os.environ.get("KIND_EXPERIMENTAL_PROVIDER") or "docker"


def _info(name: str, exe: str, timeout: float) -> tuple[Any, str]:
    argv = [exe, "info", "--format", "{{json .}}" if name == "docker" else "json"]
    shown = f"`{name} info`"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeProblem(f"{name} daemon not reachable ({shown} did not answer in {timeout:.0f} s)") from None
    except OSError as exc:
        raise RuntimeProblem(f"{name} could not be run: {exc}") from None
    if done.returncode != 0:
        why = _last_line(done.stderr) or _last_line(done.stdout) or f"exit {done.returncode}"
        raise RuntimeProblem(f"{name} daemon not reachable ({shown}: {why})")
    try:
        return json.loads(done.stdout), shown
    except ValueError:
        why = _last_line(done.stderr) or "no JSON answer"
        raise RuntimeProblem(f"{name} daemon not reachable ({shown}: {why})") from None


def _docker(info: Any, shown: str) -> tuple[str, list[str]]:
    if not isinstance(info, dict):
        raise RuntimeProblem(f"docker daemon not reachable ({shown}: no answer)")
    version = str(info.get("ServerVersion") or "")
    if not version:  # Docker CLI < 28.1 with the daemon down: exit 0, empty server version
        errors = info.get("ServerErrors") or []
        why = str(errors[0]) if errors else "no server version in the answer"
        raise RuntimeProblem(f"docker daemon not reachable ({shown}: {why})")
    problems: list[str] = []
    cgroup = str(info.get("CgroupVersion") or "")
    if cgroup != CGROUP_V2:
        problems.append(f"the docker host uses cgroup v{cgroup or '?'} (`docker info` CgroupVersion); "
                        "Kubernetes 1.35's kubelet in kind's nodes refuses cgroup v1: use a host with cgroup v2 "
                        "(e.g. Ubuntu 22.04+, Debian 11+, RHEL/Rocky 9+; not Ubuntu 20.04, RHEL 8, CentOS 7)")
    if any("rootless" in str(o) for o in info.get("SecurityOptions") or []):
        problems.append(f"rootless docker cannot be used: {ROOTLESS_REASON}; use the rootful daemon")
    return version, problems


def _podman(info: Any, shown: str) -> tuple[str, list[str]]:
    host = (info or {}).get("host") if isinstance(info, dict) else None
    version = str(((info or {}).get("version") or {}).get("Version") or "") if isinstance(info, dict) else ""
    if not isinstance(host, dict) or not version:
        raise RuntimeProblem(f"podman not usable ({shown}: no host or version in the answer)")
    problems: list[str] = []
    cgroup = str(host.get("cgroupVersion") or "")
    if cgroup != "v2":
        problems.append(f"the podman host uses cgroup {cgroup or '?'} (`podman info` host.cgroupVersion); "
                        "Kubernetes 1.35's kubelet in kind's nodes refuses cgroup v1: use a host with cgroup v2")
    if (host.get("security") or {}).get("rootless"):
        problems.append(f"rootless podman cannot be used: {ROOTLESS_REASON}; run as root "
                        "(sudo KIND_EXPERIMENTAL_PROVIDER=podman vmconform run --cluster kind ...)")
    return version, problems


def check_runtime(timeout: float = RUNTIME_TIMEOUT) -> tuple[Runtime | None, list[str]]:
    """(the runtime, []) when usable, else (runtime or None, the problems, one line each)."""
    name = runtime_name()
    if name not in ("docker", "podman"):
        return None, [f"KIND_EXPERIMENTAL_PROVIDER={name} is not supported here (docker or podman)"]
    exe = shutil.which(name)
    if exe is None:
        return None, [f"{name} not found on PATH (kind runs its nodes as {name} containers)"]
    try:
        info, shown = _info(name, exe, timeout)
        version, problems = (_docker if name == "docker" else _podman)(info, shown)
    except RuntimeProblem as exc:
        return None, [str(exc)]
    return Runtime(name, exe, version), problems
