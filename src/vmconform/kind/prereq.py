"""What ``--cluster kind`` needs on this machine: a usable container runtime (``runtime.py``), kind, kubectl.

kind must be at least the pinned version (older kinds cannot run the pinned node image) and kubectl
within one minor version of the nodes' Kubernetes (kubectl's supported skew), unless they are the
pinned versions this module downloads. What must hold on the docker host itself (nfsd, inotify,
/dev/kvm) is checked inside a node once it exists (``nodecheck.py``).

Every problem found goes into ONE :class:`PrerequisiteMissing` line; the caller turns it into
``vmconform: <line>`` and its ``exit_code`` 5 (``exitcodes.PREREQUISITE_MISSING``), never a traceback.
It is an ``Uncheckable``, so a controller that does not know it still ends the run cleanly (exit 3).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..cli.exitcodes import PREREQUISITE_MISSING
from ..preflight import Uncheckable
from .plan import InstallPlan
from .runtime import Runtime, check_runtime

TOOL_VERSION_TIMEOUT = 30.0  # seconds for `kind version` / `kubectl version --client`
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
    runtime: Runtime  # str() e.g. "docker 28.2.2"
    kind: Path
    kubectl: Path


VERSION_IN_TEXT = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = VERSION_IN_TEXT.search(text or "")
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _show(v: tuple[int, int, int]) -> str:
    return "v%d.%d.%d" % v


def _ask(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_VERSION_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ""
    except OSError:
        return ""
    return done.stdout if done.returncode == 0 else ""


def kind_version_problem(kind: Path, wanted: str) -> str | None:
    """kind older than the pinned one (``kind version`` prints e.g. "kind v0.31.0 go1.25.5 linux/amd64")."""
    have, need = parse_version(_ask([str(kind), "version"])), parse_version(wanted)
    if have is None:
        return f"kind {kind} did not tell its version (`kind version`)"
    if need is not None and have < need:
        return (f"kind {kind} is {_show(have)}, older than {wanted} (needed for the pinned node image): "
                f"install kind {wanted} or give --kind-bin")
    return None


def kubectl_version_problem(kubectl: Path, node_kubernetes: str | None) -> str | None:
    """kubectl more than one minor version away from the nodes' Kubernetes (kubectl's supported skew)."""
    out = _ask([str(kubectl), "version", "--client", "-o", "json"])
    try:
        have = parse_version(str(json.loads(out)["clientVersion"]["gitVersion"]))
    except (ValueError, KeyError, TypeError):
        have = None
    if have is None:
        return f"kubectl {kubectl} did not tell its version (`kubectl version --client -o json`)"
    node = parse_version(node_kubernetes or "")
    if node is not None and (have[0] != node[0] or abs(have[1] - node[1]) > 1):
        return (f"kubectl {kubectl} is {_show(have)}, more than one minor version away from the nodes' Kubernetes "
                f"{_show(node)}: use kubectl v{node[0]}.{node[1] - 1}-v{node[0]}.{node[1] + 1} "
                "(--kind-kubectl-bin)")
    return None


def node_kubernetes(image: str) -> str | None:
    """The Kubernetes version of a kindest/node image, from its tag (``kindest/node:v1.35.0@sha256:...``)."""
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    return tag if parse_version(tag) else None


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
              progress: Callable[[str], None] | None = None) -> tuple[Path | None, str | None, bool]:
    """(path, None, pinned) or (None, problem, False): the flag's path, else PATH, else pytest-kind's cache,
    else a download; ``pinned`` when it is the pinned download (its version need not be asked)."""
    if explicit:
        path = Path(explicit).expanduser()
        if not _executable(path):
            return None, f"{flag} {explicit} is not an executable file", False
        return path.resolve(), None, False
    found = shutil.which(tool)
    if found:
        return Path(found), None, False
    if _executable(cached):
        return cached.resolve(), None, True
    if not may_download:
        return None, f"no {tool} ({flag} not given, none on PATH)", False
    if progress:
        progress(f"no {tool} given or on PATH: downloading {url}")
    try:
        download(url, cached)
    except OSError as exc:
        return None, f"no {tool} ({flag} not given, none on PATH) and downloading {url} failed: {exc}", False
    return cached.resolve(), None, True


def check_prerequisites(plan: InstallPlan, *, kind_bin: str | None = None, kubectl_bin: str | None = None,
                        cluster_name: str = "vmconform", image: str | None = None,
                        progress: Callable[[str], None] | None = None) -> Tools:
    """Everything ``--cluster kind`` needs on this machine, or one :class:`PrerequisiteMissing` naming every gap.

    kind and kubectl are downloaded (into pytest-kind's cache, ``.pytest-kind/<cluster>/``) only when
    neither the flag nor PATH has one, and only when the container runtime answered (else the
    download could not be used anyway). Tools not downloaded here have their versions checked.
    """
    runtime, problems = check_runtime()
    cache = CACHE_ROOT / cluster_name
    kind, problem, kind_pinned = find_tool("kind", "--kind-bin", kind_bin, cache / f"kind-{plan.kind_version}",
                                           kind_url(plan.kind_version), may_download=not problems,
                                           progress=progress)
    if problem:
        problems.append(problem)
    kubectl, problem, kubectl_pinned = find_tool(
        "kubectl", "--kind-kubectl-bin", kubectl_bin, cache / f"kubectl-{plan.kubectl_version}",
        kubectl_url(plan.kubectl_version), may_download=not problems, progress=progress)
    if problem:
        problems.append(problem)
    if kind is not None and not kind_pinned:
        problem = kind_version_problem(kind, plan.kind_version)
        if problem:
            problems.append(problem)
    if kubectl is not None and not kubectl_pinned:
        problem = kubectl_version_problem(kubectl, node_kubernetes(image or plan.node_image))
        if problem:
            problems.append(problem)
    if problems:
        raise PrerequisiteMissing(problems)
    assert runtime is not None and kind is not None and kubectl is not None
    return Tools(runtime=runtime, kind=kind, kubectl=kubectl)


def precheck(kind_bin: str | None = None, kubectl_bin: str | None = None, cluster_name: str = "vmconform",
             image: str | None = None, progress: Callable[[str], None] | None = None) -> str | None:
    """For ``vmconform run --cluster kind`` before pytest starts: the one-line problem, or None.

    Downloads kind/kubectl into pytest-kind's cache if needed, so the run itself finds them there.
    """
    from .plan import PlanError, load_plan

    try:
        check_prerequisites(load_plan(), kind_bin=kind_bin, kubectl_bin=kubectl_bin, cluster_name=cluster_name,
                            image=image, progress=progress)
    except (PrerequisiteMissing, PlanError) as exc:
        return str(exc)
    return None
