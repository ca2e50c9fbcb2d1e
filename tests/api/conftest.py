"""Fixtures for the API-core tests: an in-process emulated cluster (no KubeVirt controllers),
the official Python client built from the kubeconfig it writes, a raw HTTPS session, and kubectl.

Everything goes over real HTTPS to the emulator; nothing is mocked. No test sleeps: every wait is a
read or a watch with a timeout.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import pytest
import requests
import yaml
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from vmconform.emulator import EmulatedCluster, Options

HERE = Path(__file__).parent
TESTVM = HERE / "testvm.json"
KUBECTL = "/usr/bin/kubectl"
# Flags that would paper over a non-conformant API server; kubectl must work without them.
FORBIDDEN_FLAGS = ("--validate=false", "--validate=ignore", "--insecure-skip-tls-verify", "--server", "-s")

GROUP, VERSION, VMS = "kubevirt.io", "v1", "virtualmachines"
VM_PATH = "/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines"


def vm_body(name: str = "testvm", **meta: Any) -> dict[str, Any]:
    """The user-guide testvm manifest (kubevirt-semantics.md §8.1), renamed, with extra metadata."""
    body = json.loads(TESTVM.read_text())
    body["metadata"] = {"name": name, **meta} if name else dict(meta)
    return body


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- raw HTTPS


class Http:
    """A keep-alive HTTPS session to an API server, authenticated like the kubeconfig says."""

    def __init__(self, server: str, token: str, ca_file: Path) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.ca_file = ca_file
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies; REQUESTS_CA_BUNDLE would override our CA

    @classmethod
    def from_kubeconfig(cls, path: Path, workdir: Path) -> "Http":
        cfg = yaml.safe_load(Path(path).read_text())
        cluster = cfg["clusters"][0]["cluster"]
        ca_file = workdir / "ca.crt"
        ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        return cls(cluster["server"], cfg["users"][0]["user"]["token"], ca_file)

    def request(self, method: str, path: str, *, token: str | None = "default", timeout: float = 10,
                headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        hdrs = {"Accept": "application/json", **(headers or {})}
        if token == "default":
            token = self.token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.server + path, headers=hdrs, timeout=timeout,
                                    verify=str(self.ca_file), **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kw)

    def patch(self, path: str, body: Any, content_type: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, data=json.dumps(body),
                            headers={"Content-Type": content_type}, **kw)

    @contextmanager
    def watch(self, path: str, params: dict[str, Any] | None = None, *, timeout: float = 10,
              headers: dict[str, str] | None = None) -> Iterator["WatchStream"]:
        """Open ``?watch=true``; the server ends it after ``timeoutSeconds`` (default: ``timeout``)."""
        q = {"watch": "true", "timeoutSeconds": str(max(1, int(timeout))), **(params or {})}
        resp = self.request("GET", path, params=q, stream=True, timeout=(5, timeout + 5), headers=headers)
        try:
            yield WatchStream(resp, timeout)
        finally:
            resp.close()


class WatchStream:
    def __init__(self, resp: requests.Response, timeout: float) -> None:
        self.resp = resp
        self.status_code = resp.status_code
        self.deadline = time.monotonic() + timeout + 5
        self._lines = resp.iter_lines(chunk_size=None)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for line in self._lines:
            if time.monotonic() > self.deadline:
                raise TimeoutError("watch ran past its deadline")
            if line:
                yield json.loads(line)

    def until(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event matching ``pred``; AssertionError if the watch ends first."""
        seen = []
        for ev in self:
            if pred(ev):
                return ev
            seen.append((ev["type"], ev["object"].get("metadata", {}).get("name")))
        raise AssertionError(f"watch ended without the expected event; saw {seen}")


# ---------------------------------------------------------------- the in-process cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedCluster]:
    kc = tmp_path_factory.mktemp("kube") / "config"
    with EmulatedCluster(Options(), kubeconfig_path=kc, controllers=[]) as c:
        yield c


@pytest.fixture(scope="session")
def http(cluster: EmulatedCluster, tmp_path_factory: pytest.TempPathFactory) -> Http:
    assert cluster.kubeconfig_path is not None
    return Http.from_kubeconfig(cluster.kubeconfig_path, tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def api_client(cluster: EmulatedCluster) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig_path))
    yield api
    api.close()


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def dyn(api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory) -> DynamicClient:
    # A private discovery cache: the default temp-dir one can be stale from another emulator.
    cache = tmp_path_factory.mktemp("dyncache") / "discovery.json"
    return DynamicClient(api_client, cache_file=str(cache))


@pytest.fixture
def ns(core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace for one test."""
    name = unique("t")
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


# ---------------------------------------------------------------- kubectl


class LineReader:
    """Lines of a pipe, read on a thread so the test can wait for them with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line, or None at end of stream; TimeoutError if none arrives in time."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no line within {timeout}s") from None

    def until(self, pred: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            line = self.next(max(deadline - time.monotonic(), 0.01))
            if line is None:
                raise AssertionError(f"stream ended without a matching line; saw {seen}")
            if pred(line):
                return line
            seen.append(line)


class Kubectl:
    """kubectl 1.32 with the emulator's kubeconfig and a private HOME and cache."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "KUBECONFIG": str(kubeconfig),
            "KUBECACHEDIR": str(home / "cache"),
            "LANG": "C.UTF-8",
        }

    def argv(self, args: tuple[str, ...]) -> list[str]:
        for a in args:
            assert not any(a == f or a.startswith(f + "=") for f in FORBIDDEN_FLAGS), f"workaround flag {a}"
        return [KUBECTL, *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 30,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str], timeout: float = 10) -> None:
    """End a process this test started (by its own handle) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    for pipe in (proc.stdout, proc.stderr, proc.stdin):
        if pipe is not None:
            pipe.close()
