"""Offline kind runs: stub ``kind``/``kubectl``/``docker`` executables and an emulated cluster behind them.

The stub ``kind create cluster`` writes the emulated cluster's kubeconfig, so the kind backend's
whole flow (create, install, wait ready, run the suite, delete) runs against a real HTTPS API.
The stub ``kubectl apply`` records every manifest (and each document in it) and creates, through
the API, the documents the emulator serves (Namespace, PVC, StorageClass, KubeVirt); URLs are read
from a local mirror when the test put one there. A small in-emulator "operator" plays virt-operator
and virt-handler: a new KubeVirt CR goes Deploying → Deployed and the workers become schedulable.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.resources import KUBEVIRTS, NODES, STORAGECLASSES

CLUSTER = "vmconform"
WORKERS = [f"{CLUSTER}-worker", f"{CLUSTER}-worker2"]
RUN_TIMEOUT = 60  # seconds for one inner pytest run (each takes a few)

# --------------------------------------------------------------------------- stub executables

STUB_KIND = '''
import json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
args = sys.argv[1:]
with (HERE / "kind.log").open("a") as f:
    f.write(json.dumps(args) + "\\n")
state = HERE / "kind-clusters.json"
clusters = json.loads(state.read_text()) if state.exists() else []


def opt(name):
    for i, a in enumerate(args):
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def kubeconfig():
    return Path((HERE / "emulator-kubeconfig").read_text().strip()).read_text()


verb = args[:2]
if verb == ["get", "clusters"]:
    if clusters:
        print("\\n".join(clusters))
    else:
        print("No kind clusters found.", file=sys.stderr)
elif verb == ["create", "cluster"]:
    name = opt("name") or "kind"
    if name in clusters:
        sys.exit(f"ERROR: failed to create cluster: node(s) already exist for a cluster with the name {name!r}")
    if opt("config"):
        (HERE / f"config-{name}.yaml").write_text(Path(opt("config")).read_text())
    print(f"Creating cluster {name!r} ...", file=sys.stderr)
    Path(opt("kubeconfig")).write_text(kubeconfig())
    state.write_text(json.dumps(clusters + [name]))
elif verb == ["delete", "cluster"]:
    name = opt("name") or "kind"
    print(f"Deleting cluster {name!r} ...", file=sys.stderr)
    state.write_text(json.dumps([c for c in clusters if c != name]))
elif verb == ["export", "kubeconfig"]:
    if (opt("name") or "kind") not in clusters:
        sys.exit("ERROR: unknown cluster")
    Path(opt("kubeconfig")).write_text(kubeconfig())
elif verb == ["get", "kubeconfig"]:
    print(kubeconfig())
else:
    sys.exit(f"stub kind: unsupported {args}")
'''

STUB_KUBECTL = '''
import base64, json, os, ssl, sys, tempfile, urllib.error, urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
args = sys.argv[1:]
entry = {"argv": args, "kubeconfig": os.environ.get("KUBECONFIG")}
SERVED = {  # (apiVersion, kind) -> collection path; {ns} for namespaced kinds
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "PersistentVolumeClaim"): "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    ("storage.k8s.io/v1", "StorageClass"): "/apis/storage.k8s.io/v1/storageclasses",
    ("kubevirt.io/v1", "KubeVirt"): "/apis/kubevirt.io/v1/namespaces/{ns}/kubevirts",
}


def log():
    with (HERE / "kubectl.log").open("a") as f:
        f.write(json.dumps(entry) + "\\n")


def post(path, doc):
    cfg = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    req = urllib.request.Request(cluster["server"] + path, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + user["token"],
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


if "apply" in args:
    source = args[args.index("-f") + 1]
    entry["source"] = source
    fail = HERE / "kubectl-fail"
    if fail.exists() and fail.read_text() in source:
        log()
        sys.exit(f'error: unable to read URL "{source}", server reported 404 Not Found, status code=404')
    if "://" in source:
        mirrored = HERE / "mirror" / source.rsplit("/", 1)[-1]
        text = mirrored.read_text() if mirrored.is_file() else None
    else:
        text = Path(source).read_text()
    docs = [d for d in yaml.safe_load_all(text) if d] if text is not None else []
    entry["documents"] = [f"{d['kind']}/{d['metadata']['name']}" for d in docs]
    created = []
    for d in docs:
        path = SERVED.get((d.get("apiVersion"), d.get("kind")))
        if path is None:
            continue
        code = post(path.format(ns=d["metadata"].get("namespace", "default")), d)
        if code not in (200, 201, 409):
            log()
            sys.exit(f"Error from server: HTTP {code} creating {d['kind']}/{d['metadata']['name']}")
        created.append(f"{d['kind']}/{d['metadata']['name']}")
    entry["created"] = created
    log()
    for c in entry["documents"]:
        print(f"{c.lower()} serverside-applied")
elif args[:1] == ["wait"] or "rollout" in args:
    log()
    print("condition met")
else:
    log()
    sys.exit(f"stub kubectl: unsupported {args}")
'''

STUB_DOCKER = '''
import json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
with (HERE / "docker.log").open("a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:2] == ["info"]:
    if (HERE / "docker-down").exists():
        print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
              file=sys.stderr)
        sys.exit(1)
    print("28.2.2")
else:
    sys.exit(f"stub docker: unsupported {sys.argv[1:]}")
'''

# The upstream manifests the stub kubectl reads instead of fetching their URLs: the KubeVirt CR as
# v1.9.0 renders it (manifests/generated/kubevirt-cr.yaml.in) and a cut-down operator manifest.
MIRROR = {
    "kubevirt-cr.yaml": """\
        ---
        apiVersion: kubevirt.io/v1
        kind: KubeVirt
        metadata:
          name: kubevirt
          namespace: kubevirt
        spec:
          certificateRotateStrategy: {}
          configuration:
            developerConfiguration:
              featureGates: []
          customizeComponents: {}
          imagePullPolicy: IfNotPresent
          workloadUpdateStrategy: {}
        """,
    "kubevirt-operator.yaml": """\
        apiVersion: v1
        kind: Namespace
        metadata:
          name: kubevirt
          labels:
            kubevirt.io: ""
        ---
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: kubevirts.kubevirt.io
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: virt-operator
          namespace: kubevirt
        """,
}


def write_script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n" + body)
    path.chmod(0o755)
    return path


@dataclass
class Stubs:
    """A directory of stub executables (the only thing on PATH of the runs) and what they logged."""

    dir: Path
    kind: Path | None = None

    @classmethod
    def make(cls, where: Path, *, kind: bool = True, docker: bool = True, kubectl: bool = True) -> "Stubs":
        where.mkdir(parents=True, exist_ok=True)
        s = cls(where)
        if kind:
            s.kind = write_script(where / "kind", STUB_KIND)
        if kubectl:
            write_script(where / "kubectl", STUB_KUBECTL)
        if docker:
            write_script(where / "docker", STUB_DOCKER)
        (where / "mirror").mkdir(exist_ok=True)
        for name, text in MIRROR.items():
            (where / "mirror" / name).write_text(textwrap.dedent(text))
        return s

    def docker_down(self) -> None:
        (self.dir / "docker-down").touch()

    def kubectl_fails_on(self, part_of_source: str) -> None:
        (self.dir / "kubectl-fail").write_text(part_of_source)

    def _lines(self, name: str) -> list[Any]:
        path = self.dir / name
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    @property
    def kind_calls(self) -> list[list[str]]:
        return self._lines("kind.log")

    @property
    def kubectl_calls(self) -> list[dict[str, Any]]:
        return self._lines("kubectl.log")

    @property
    def docker_calls(self) -> list[list[str]]:
        return self._lines("docker.log")

    @property
    def clusters(self) -> list[str]:
        path = self.dir / "kind-clusters.json"
        return json.loads(path.read_text()) if path.exists() else []


# --------------------------------------------------------------------------- the emulated "kind" cluster


@dataclass
class FakeVirtOperator:
    """virt-operator + virt-handler, as far as the kind backend can see them.

    A new KubeVirt CR is ``Deploying`` at once and ``Deployed`` (observedGeneration = generation)
    ``delay`` seconds later, when the workers also get ``kubevirt.io/schedulable=true``; a later
    spec change (the useEmulation patch) is observed ``delay`` seconds after it.
    """

    workers: list[str]
    delay: float = 1.0  # long enough for the backend's wait to see Deploying first
    _handles: list[asyncio.TimerHandle] = field(default_factory=list)

    async def start(self, emulator: Any) -> None:
        self.store = emulator.store
        self.loop = asyncio.get_running_loop()
        self.store.listen(self._on_event)

    async def stop(self) -> None:
        for h in self._handles:
            h.cancel()

    def _on_event(self, ev: Any) -> None:
        if ev.res.key != KUBEVIRTS.key or ev.type == "DELETED":
            return
        meta, status = ev.obj["metadata"], ev.obj.get("status") or {}
        key = (meta["namespace"], meta["name"])
        if ev.type == "ADDED":
            self.loop.call_soon(self._status, key, {"phase": "Deploying"})
            self._handles.append(self.loop.call_later(self.delay, self._deployed, key))
        elif status.get("observedGeneration") is not None and status["observedGeneration"] < meta["generation"]:
            self._handles.append(self.loop.call_later(self.delay, self._deployed, key))

    def _status(self, key: tuple[str, str], status: dict[str, Any]) -> None:
        self.store.mutate(KUBEVIRTS, key[0], key[1], lambda o: o.__setitem__("status", status), status=True)

    def _deployed(self, key: tuple[str, str]) -> None:
        obj = self.store.peek(KUBEVIRTS, key[0], key[1])
        if obj is None:
            return
        self._status(key, {
            "phase": "Deployed", "observedGeneration": obj["metadata"]["generation"],
            "observedKubeVirtVersion": "v1.9.0", "operatorVersion": "v1.9.0",
            "conditions": [{"type": "Available", "status": "True", "reason": "AllComponentsReady",
                            "message": "All components are ready."}],
        })
        for node in self.workers:
            self.store.mutate(NODES, None, node, lambda o: o["metadata"].setdefault("labels", {}).__setitem__(
                "kubevirt.io/schedulable", "true"))


def seed_kind_cluster(c: EmulatedCluster) -> None:
    """What ``kind create cluster`` leaves: three nodes and the default ``standard`` class."""
    def seed() -> None:
        s = c.store
        s.create(NODES, {"metadata": {"name": f"{CLUSTER}-control-plane",
                                      "labels": {"node-role.kubernetes.io/control-plane": ""}}})
        for name in WORKERS:
            s.create(NODES, {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
        s.create(STORAGECLASSES, {
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete"})
    c.call(seed)


@pytest.fixture
def emulated_kind(tmp_path: Path) -> Iterator[EmulatedCluster]:
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "emulator" / "kubeconfig",
                         controllers=[FakeVirtOperator(WORKERS)]) as c:  # type: ignore[list-item]
        seed_kind_cluster(c)
        yield c


@pytest.fixture
def stubs(tmp_path: Path, emulated_kind: EmulatedCluster) -> Stubs:
    s = Stubs.make(tmp_path / "bin")
    (s.dir / "emulator-kubeconfig").write_text(str(emulated_kind.kubeconfig_path))
    return s


# --------------------------------------------------------------------------- a tiny suite to run

FEATURE = """\
@kind-smoke
Feature: The kind cluster
  Scenario: The kind cluster is ready for the lab
    Given the suite's cluster
    Then KubeVirt is Deployed with two schedulable workers and RWX storage
"""

STEPS = '''
import json
from pathlib import Path

from pytest_bdd import given, then

from vmconform.kube.kinds import KUBEVIRT


@given("the suite's cluster", target_fixture="suite")
def _suite(vmconform_session):
    return vmconform_session


@then("KubeVirt is Deployed with two schedulable workers and RWX storage")
def _ready(suite):
    kv = suite.cluster.get(KUBEVIRT, "kubevirt", "kubevirt")
    f = suite.facts
    Path("observed.json").write_text(json.dumps({
        "backend": suite.cluster.backend, "phase": kv["status"]["phase"], "timeout_scale": suite.timeouts.scale,
        "rwx_class": f.rwx_class, "rwo_class": f.rwo_class, "schedulable": f.schedulable_nodes,
        "migration": f.capabilities["migration"].ok, "kubeconfig_host": suite.cluster.host}))
    assert kv["status"]["phase"] == "Deployed"
    assert f.capabilities["migration"].ok and f.capabilities["rwx"].ok, f.capabilities
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout-shaped directory (features/ + steps/) with one scenario, for pytest and `vmconform run`."""
    root = tmp_path / "project"
    (root / "features").mkdir(parents=True)
    (root / "steps").mkdir()
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    kind-smoke: the kind smoke scenario\n")
    (root / "conftest.py").write_text('pytest_plugins = ["steps.kind_steps"]\n')
    (root / "steps" / "__init__.py").write_text("")
    (root / "steps" / "kind_steps.py").write_text(STEPS)
    (root / "features" / "kind_ready.feature").write_text(FEATURE)
    (root / "features" / "test_kind_ready.py").write_text(
        'from pytest_bdd import scenarios\n\nscenarios("kind_ready.feature")\n')
    return root


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a download from it fails at once, like having no network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/kind-linux-amd64"


def run_env(stubs: Stubs) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KIND_EXPERIMENTAL_PROVIDER", "PYTEST_ADDOPTS",
                                                            "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID")}
    env["PATH"] = str(stubs.dir)  # only the stubs: no real docker, kind or kubectl can be reached
    env["KIND_DOWNLOAD_URL"] = closed_port_url()
    env["KUBECTL_DOWNLOAD_URL"] = closed_port_url()
    return env


def run_pytest(project: Path, stubs: Stubs, *args: str) -> subprocess.CompletedProcess[str]:
    """The suite on kind, as a user runs it: a fresh pytest process in the checkout."""
    argv = [sys.executable, "-m", "pytest", "features", "-p", "vmconform.kind.options", "-p", "no:cacheprovider",
            "-q", "--cluster=kind", *args]
    return subprocess.run(argv, cwd=project, env=run_env(stubs), capture_output=True, text=True, timeout=RUN_TIMEOUT)


def run_cli(project: Path, stubs: Stubs, *args: str, pytest_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``vmconform run --cluster kind ...`` in the checkout."""
    argv = [str(Path(sys.executable).with_name("vmconform")), "run", "--cluster=kind", "--no-html", *args]
    if pytest_args:
        argv += ["--", *pytest_args]
    return subprocess.run(argv, cwd=project, env=run_env(stubs), capture_output=True, text=True, timeout=RUN_TIMEOUT)
