"""What ``--cluster kind`` needs on this machine: a container runtime whose daemon answers, kind, kubectl.

Every problem found goes into ONE :class:`PrerequisiteMissing` line; the caller turns it into
``vmconform: <line>`` and its ``exit_code`` 5 (``exitcodes.PREREQUISITE_MISSING``), never a traceback.
It is an ``Uncheckable``, so a controller that does not know it still ends the run cleanly (exit 3).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..cli.exitcodes import PREREQUISITE_MISSING
from ..preflight import Uncheckable
from .plan import InstallPlan

RUNTIME_TIMEOUT = 30.0  # seconds for `docker info`
DOWNLOAD_TIMEOUT = (10.0, 60.0)  # connect, read (per chunk)
CACHE_ROOT = Path(".pytest-kind")  # where pytest-kind keeps its downloads: .pytest-kind/<cluster>/


class PrerequisiteMissing(Uncheckable):
    """Something ``--cluster kind`` needs is missing; ``str()`` is one line naming all of it."""

    exit_code = PREREQUISITE_MISSING

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("cannot run on kind: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Tools:
    runtime: str  # e.g. "docker 28.2.2"
    kind: Path
    kubectl: Path


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def check_runtime(timeout: float = RUNTIME_TIMEOUT) -> str:
    """The container runtime kind will use (docker, or KIND_EXPERIMENTAL_PROVIDER) and its daemon answer."""
    name = os.environ.get("KIND_EXPERIMENTAL_PROVIDER") or "docker"
    exe = shutil.which(name)
    if exe is None:
        raise PrerequisiteMissing([f"{name} not found on PATH (kind runs its nodes as {name} containers)"])
    argv = [exe, "info", "--format", "{{.ServerVersion}}"] if name == "docker" else [exe, "info"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PrerequisiteMissing([f"{name} daemon not reachable (`{name} info` did not answer in {timeout:.0f} s)"]) from None
    except OSError as exc:
        raise PrerequisiteMissing([f"{name} could not be run: {exc}"]) from None
    if done.returncode != 0:
        why = _last_line(done.stderr) or _last_line(done.stdout) or f"exit {done.returncode}"
        raise PrerequisiteMissing([f"{name} daemon not reachable (`{name} info`: {why})"])
    version = _last_line(done.stdout) if name == "docker" else ""
    return f"{name} {version}".strip()


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def kind_url(version: str) -> str:
    return os.environ.get("KIND_DOWNLOAD_URL") or (
        f"https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-{platform.system().lower()}-{_arch()}")


def kubectl_url(version: str) -> str:
    return os.environ.get("KUBECTL_DOWNLOAD_URL") or (
        f"https://dl.k8s.io/release/{version}/bin/{platform.system().lower()}/{_arch()}/kubectl")


def download(url: str, dest: Path) -> None:
    """Fetch an executable (as pytest-kind does, but with timeouts); raises OSError with a short reason."""
    import requests

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    try:
        with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as r:
            r.raise_for_status()
            with tmp.open("wb") as fd:
                for chunk in r.iter_content(chunk_size=65536):
                    fd.write(chunk)
    except requests.RequestException as exc:
        tmp.unlink(missing_ok=True)
        reason = type(exc).__name__
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            reason = f"HTTP {exc.response.status_code}"
        raise OSError(reason) from None
    tmp.chmod(0o755)
    tmp.rename(dest)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(tool: str, flag: str, explicit: str | None, cached: Path, url: str, *, may_download: bool,
              progress: Callable[[str], None] | None = None) -> tuple[Path | None, str | None]:
    """(path, None) or (None, problem): the flag's path, else PATH, else pytest-kind's cache, else a download."""
    if explicit:
        path = Path(explicit).expanduser()
        if not _executable(path):
            return None, f"{flag} {explicit} is not an executable file"
        return path.resolve(), None
    found = shutil.which(tool)
    if found:
        return Path(found), None
    if _executable(cached):
        return cached.resolve(), None
    if not may_download:
        return None, f"no {tool} ({flag} not given, none on PATH)"
    if progress:
        progress(f"no {tool} given or on PATH: downloading {url}")
    try:
        download(url, cached)
    except OSError as exc:
        return None, f"no {tool} ({flag} not given, none on PATH) and downloading {url} failed: {exc}"
    return cached.resolve(), None


def check_prerequisites(plan: InstallPlan, *, kind_bin: str | None = None, kubectl_bin: str | None = None,
                        cluster_name: str = "vmconform",
                        progress: Callable[[str], None] | None = None) -> Tools:
    """Everything ``--cluster kind`` needs, or one :class:`PrerequisiteMissing` naming every gap.

    kind and kubectl are downloaded (into pytest-kind's cache, ``.pytest-kind/<cluster>/``) only when
    neither the flag nor PATH has one, and only when the container runtime answered (else the
    download could not be used anyway).
    """
    problems: list[str] = []
    runtime = ""
    try:
        runtime = check_runtime()
    except PrerequisiteMissing as exc:
        problems += exc.problems
    cache = CACHE_ROOT / cluster_name
    kind, problem = find_tool("kind", "--kind-bin", kind_bin, cache / f"kind-{plan.kind_version}",
                              kind_url(plan.kind_version), may_download=not problems, progress=progress)
    if problem:
        problems.append(problem)
    kubectl, problem = find_tool("kubectl", "--kind-kubectl-bin", kubectl_bin,
                                 cache / f"kubectl-{plan.kubectl_version}", kubectl_url(plan.kubectl_version),
                                 may_download=not problems, progress=progress)
    if problem:
        problems.append(problem)
    if problems:
        raise PrerequisiteMissing(problems)
    assert kind is not None and kubectl is not None
    return Tools(runtime=runtime, kind=kind, kubectl=kubectl)


def precheck(kind_bin: str | None = None, kubectl_bin: str | None = None, cluster_name: str = "vmconform",
             progress: Callable[[str], None] | None = None) -> str | None:
    """For ``vmconform run --cluster kind`` before pytest starts: the one-line problem, or None.

    Downloads kind/kubectl into pytest-kind's cache if needed, so the run itself finds them there.
    """
    from .plan import PlanError, load_plan

    try:
        check_prerequisites(load_plan(), kind_bin=kind_bin, kubectl_bin=kubectl_bin, cluster_name=cluster_name,
                            progress=progress)
    except (PrerequisiteMissing, PlanError) as exc:
        return str(exc)
    return None
