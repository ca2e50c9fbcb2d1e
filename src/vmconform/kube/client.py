"""A thin, typed layer over ``kubernetes.client.ApiClient``: JSON in, JSON out, safe retries."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from .kinds import SUBRESOURCES, Kind

Obj = dict[str, Any]

# Answers a healthy cluster also gives now and then; reads are retried on them.
RETRYABLE_READ = (429, 500, 502, 503, 504)
RETRYABLE_WRITE = (429,)  # the request was not processed
MAX_ATTEMPTS = 8


class ClusterUnreachable(Exception):
    """The API server cannot be reached or refused our credentials."""


@dataclass(frozen=True)
class Answer:
    """The outcome of a call: HTTP code plus the parsed body (a Status on errors)."""

    code: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def message(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("message", ""))
        return str(self.body or "")

    @property
    def reason(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("reason", ""))
        return ""

    def describe(self) -> str:
        return f"HTTP {self.code} {self.reason}: {self.message}".strip()


def _parse(data: bytes | str | None) -> Any:
    if not data:
        return None
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    try:
        return json.loads(data)
    except ValueError:
        return data


class Cluster:
    """Access to one cluster. Thread-safe for calls; one instance per test session/worker."""

    def __init__(self, api_client: k8s.ApiClient, *, backend: str, host: str) -> None:
        self.api_client = api_client
        self.backend = backend
        self.host = host
        self._backoff = threading.Event()  # never set: used to wait between retries
        self._watch_client: k8s.ApiClient | None = None
        self._watch_lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, path: str | Path, context: str | None = None, *, backend: str = "kubeconfig") -> "Cluster":
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(path), context=context,
                                    client_configuration=configuration, persist_config=False)
        configuration.retries = False
        if not _refreshes_credentials(path, context):
            # the kubernetes client re-applies a static token before every request (re-reading the proxy
            # environment each time: a quarter of a request's time on loopback); only tokens with an
            # expiry (an exec plugin's, an auth provider's) ever change
            configuration.refresh_api_key_hook = None
        api_client = k8s.ApiClient(configuration)
        return cls(api_client, backend=backend, host=configuration.host)

    @property
    def configuration(self) -> k8s.Configuration:
        return self.api_client.configuration

    def close(self) -> None:
        self.api_client.close()
        if self._watch_client is not None:
            self._watch_client.close()

    @property
    def watch_client(self) -> k8s.ApiClient:
        """The client watches go through: a connection pool of their own.

        A wait ends its watch as soon as the state it waits for arrives, so that connection still has
        an open stream and cannot serve another request (urllib3 drops it). In the pool of ordinary
        requests, the next request would then pay a new TLS handshake right when the suite wants to
        act on what it saw; here only the next watch does, while the cluster is busy anyway."""
        with self._watch_lock:
            if self._watch_client is None:
                self._watch_client = k8s.ApiClient(self.api_client.configuration)
            return self._watch_client

    # ------------------------------------------------------------ raw calls

    def call(self, method: str, path: str, body: Any = None, *, query: list[tuple[str, Any]] | None = None,
             content_type: str = "application/json", timeout: float = 30.0,
             retry_if: Callable[[Answer], bool] | None = None) -> Answer:
        """One request; retries what is safe to retry; never raises ApiException.

        ``retry_if``: which answers of the retryable codes are retried (e.g. an eviction's 429 is an
        answer, not throttling); default all."""
        safe = method in ("GET", "HEAD")
        retry_on = RETRYABLE_READ if safe else RETRYABLE_WRITE
        delay = 0.05
        last: Answer | None = None
        for attempt in range(MAX_ATTEMPTS):
            try:
                last = self._once(method, path, body, query or [], content_type, timeout)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if not safe or attempt == MAX_ATTEMPTS - 1:
                    raise ClusterUnreachable(f"{self.host}: {_short(exc)}") from None
                last = None
            else:
                if last.code not in retry_on or retry_if is not None and not retry_if(last):
                    return last
            self._backoff.wait(delay)  # retry backoff, not a wait for a state
            delay = min(delay * 2, 2.0)
        assert last is not None
        return last

    def _request(self, method: str, path: str, body: Any, query: list[tuple[str, Any]], content_type: str,
                 timeout: Any, *, client: k8s.ApiClient | None = None) -> Any:
        """One HTTP exchange through the kubernetes client's REST layer; the response is not read yet."""
        api = client or self.api_client
        serialized = api.param_serialize(
            method, path, query_params=query,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body, auth_settings=["BearerToken"],
        )
        try:
            return api.call_api(*serialized, _request_timeout=timeout)
        except ApiException as exc:
            raise ClusterUnreachable(f"{self.host}: {_short(Exception(exc.reason))}") from None

    def _once(self, method: str, path: str, body: Any, query: list[tuple[str, Any]],
              content_type: str, timeout: float) -> Answer:
        resp = self._request(method, path, body, query, content_type, timeout)
        return Answer(resp.status, _parse(resp.read()))

    # ------------------------------------------------------------ objects

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        ans = self.call("GET", kind.item(namespace, name))
        if ans.code == 404:
            return None
        _expect(ans, f"get {kind.kind} {name}")
        return ans.body

    def list(self, kind: Kind, namespace: str | None = None, *, labels: str | None = None,
             fields: str | None = None) -> tuple[list[Obj], str]:
        query: list[tuple[str, Any]] = []
        if labels:
            query.append(("labelSelector", labels))
        if fields:
            query.append(("fieldSelector", fields))
        ans = self.call("GET", kind.collection(namespace), query=query)
        _expect(ans, f"list {kind.plural}")
        return list(ans.body.get("items") or []), str(ans.body["metadata"].get("resourceVersion", ""))

    def create(self, kind: Kind, namespace: str | None, body: Obj) -> Obj:
        ans = self.call("POST", kind.collection(namespace), body)
        _expect(ans, f"create {kind.kind}")
        return ans.body

    def try_create(self, kind: Kind, namespace: str | None, body: Obj) -> Answer:
        return self.call("POST", kind.collection(namespace), body)

    def patch(self, kind: Kind, namespace: str | None, name: str, patch: Any,
              content_type: str = "application/merge-patch+json") -> Obj:
        ans = self.call("PATCH", kind.item(namespace, name), patch, content_type=content_type)
        _expect(ans, f"patch {kind.kind} {name}")
        return ans.body

    def delete(self, kind: Kind, namespace: str | None, name: str, *, missing_ok: bool = True) -> Answer:
        ans = self.call("DELETE", kind.item(namespace, name), {"propagationPolicy": "Background"})
        if ans.code == 404 and missing_ok:
            return ans
        _expect(ans, f"delete {kind.kind} {name}")
        return ans

    def subresource(self, kind: Kind, namespace: str, name: str, sub: str, body: Obj | None = None,
                    method: str = "PUT") -> Answer:
        path = f"{SUBRESOURCES}/namespaces/{namespace}/{kind.plural}/{name}/{sub}"
        return self.call(method, path, body if body is not None else {})

    # ------------------------------------------------------------ watch

    def watch(self, kind: Kind, namespace: str | None, resource_version: str, *, fields: str | None = None,
              labels: str | None = None, timeout_seconds: int = 30) -> Iterator[Obj]:
        """Raw watch events from ``resource_version``; ends when the server closes the stream.

        Raises ``ClusterUnreachable`` on connection errors; yields ERROR events as they come (410 included).
        """
        query: list[tuple[str, Any]] = [("watch", "true"), ("resourceVersion", resource_version),
                                        ("allowWatchBookmarks", "true"), ("timeoutSeconds", timeout_seconds)]
        if fields:
            query.append(("fieldSelector", fields))
        if labels:
            query.append(("labelSelector", labels))
        try:
            resp = self._request("GET", kind.collection(namespace), None, query, "application/json",
                                 (10, timeout_seconds + 10), client=self.watch_client)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnreachable(f"{self.host}: {_short(exc)}") from None
        if resp.status != 200:
            yield {"type": "ERROR", "object": _parse(resp.read()) or {"code": resp.status}}
            return
        response = resp.response
        buf = b""
        try:
            for chunk in response.stream(4096, decode_content=False):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise ClusterUnreachable(f"watch interrupted: {_short(exc)}") from None
        finally:
            response.release_conn()


def _refreshes_credentials(path: str | Path, context: str | None) -> bool:
    """Does the kubeconfig's user get credentials that expire (``exec`` or ``auth-provider``)?  True when unsure."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        name = context or doc.get("current-context")
        chosen = next((c.get("context") or {} for c in doc.get("contexts") or [] if c.get("name") == name), {})
        user = next((u.get("user") or {} for u in doc.get("users") or [] if u.get("name") == chosen.get("user")),
                    None)
    except Exception:  # noqa: BLE001 - keep the client's own refresh whenever the file is unusual
        return True
    return user is None or bool(user.get("exec") or user.get("auth-provider"))


class ApiCallFailed(Exception):
    def __init__(self, what: str, answer: Answer) -> None:
        super().__init__(f"{what}: {answer.describe()}")
        self.answer = answer


def _expect(ans: Answer, what: str) -> None:
    if not ans.ok:
        raise ApiCallFailed(what, ans)


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "CERTIFICATE_VERIFY_FAILED"):
        if marker in text:
            return marker.lower() if marker != "CERTIFICATE_VERIFY_FAILED" else "TLS certificate not trusted"
    return text.splitlines()[0][:200] if text else type(exc).__name__
