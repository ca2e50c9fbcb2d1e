"""The aiohttp application: authentication, discovery, OpenAPI, CRUD, watch, Table output."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import yaml
from aiohttp import web

from . import discovery, errors, tables
from .errors import ApiError
from .openapi import OpenAPI
from .patches import PatchError, apply_merge, json_patch, merge_patch
from .resources import NAMESPACES, Registry, ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .store import Event, Store

JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# An extension claims requests by path prefix (e.g. /apis/subresources.kubevirt.io/).
Extension = tuple[str, Handler]


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    user_agent: str
    status: int


@dataclass
class Target:
    res: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, content_type: str = JSON) -> web.Response:
    return web.Response(body=dumps(obj), status=status, headers={"Content-Type": content_type})


def error_response(err: ApiError) -> web.Response:
    if err.plain:
        return web.Response(text=err.message, status=err.code, content_type="text/plain")
    return json_response(err.status(), err.code)


class ApiServer:
    def __init__(self, registry: Registry, store: Store, token: str, version: dict[str, str],
                 watch_bookmark_seconds: float = 5.0) -> None:
        self.registry = registry
        self.store = store
        self.token = token
        self.version = version
        self.openapi = OpenAPI(registry)
        self.extensions: list[Extension] = []
        self.extra_groups: list[discovery.ExtraGroup] = []
        self.requests: deque[RequestRecord] = deque(maxlen=5000)
        self.bookmark_seconds = watch_bookmark_seconds
        self.max_watch_seconds = 1800
        # Fault hooks: called before every request; may raise ApiError (e.g. 429/500 injection).
        self.request_faults: list[Callable[[web.Request], None]] = []

    # ------------------------------------------------------------ app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        status = 500
        try:
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {self.token}":
                resp: web.StreamResponse = json_response(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, 401)
            else:
                for fault in self.request_faults:
                    fault(request)
                resp = await handler(request)
            status = resp.status
            return resp
        except ApiError as err:
            status = err.code
            return error_response(err)
        finally:
            self.requests.append(RequestRecord(request.method, request.path, request.query_string,
                                               request.headers.get("User-Agent", ""), status))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        for prefix, handler in self.extensions:
            if path.startswith(prefix):
                return await handler(request)
        if request.method == "GET":
            doc = self._discovery(request, path)
            if doc is not None:
                return doc
        if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" and request.method == "POST":
            return await self._access_review(request)
        target = self._parse(path)
        if target is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return await self._resource(request, target)

    # ------------------------------------------------------------ discovery

    def _discovery(self, request: web.Request, path: str) -> web.StreamResponse | None:
        accept = request.headers.get("Accept", "")
        extras = tuple(self.extra_groups)
        if path == "/version":
            return json_response(self.version)
        if path == "/healthz" or path == "/readyz" or path == "/livez":
            return web.Response(text="ok")
        if path in ("/api", "/apis"):
            core = path == "/api"
            if discovery.wants_aggregated(accept):
                return json_response(discovery.aggregated(self.registry, core, extras),
                                     content_type=discovery.AGGREGATED_CT)
            return json_response(discovery.legacy_versions() if core
                                 else discovery.legacy_groups(self.registry, extras))
        if path == "/openapi/v3":
            return json_response(self.openapi.index())
        if path.startswith("/openapi/v3/"):
            body = self.openapi.document(path[len("/openapi/v3/"):])
            if body is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return web.Response(body=body, content_type=JSON)
        parts = path.strip("/").split("/")
        if parts == ["api", "v1"]:
            return json_response(discovery.resource_list(self.registry, "", "v1"))
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.legacy_group(self.registry, parts[1], extras)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(doc)
        if parts[0] == "apis" and len(parts) == 3:
            doc = discovery.resource_list(self.registry, parts[1], parts[2], extras)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(doc)
        return None

    async def _access_review(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        body.setdefault("metadata", {})
        body["apiVersion"] = "authorization.k8s.io/v1"
        body["kind"] = "SelfSubjectAccessReview"
        body["status"] = {"allowed": True, "reason": "the emulated cluster grants every verb to its token"}
        return json_response(body, 201)

    # ------------------------------------------------------------ routing

    def _parse(self, path: str) -> Target | None:
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        res = self.registry.lookup(group, version, rest[0])
        if res is None:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) if len(rest) > 2 else None
        if namespace is not None and not res.namespaced:
            return None
        return Target(res, namespace, name, sub)

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return {}
        try:
            if "yaml" in request.headers.get("Content-Type", ""):
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"the request body is not valid: {exc}") from exc

    async def _resource(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        dry_run = bool(q.getall("dryRun", []))
        method = request.method
        if t.subresource not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if t.subresource == "status" and not t.res.has_status:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if t.name is None:
            if method == "GET":
                if q.get("watch") in ("true", "1"):
                    return await self._watch(request, t)
                return self._list(request, t)
            if method == "POST":
                body = await self._body(request)
                return json_response(self.store.create(t.res, body, t.namespace, dry_run=dry_run), 201)
            if method == "DELETE":
                return await self._delete_collection(request, t)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection")
        if method == "GET":
            obj = self.store.require(t.res, t.namespace, t.name)
            if tables.wants_table(request.headers.get("Accept", "")):
                return json_response(tables.table(t.res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}))
            return json_response(obj)
        if method == "PUT":
            body = await self._body(request)
            self._check_identity(t, body)
            return json_response(self.store.replace(t.res, body, subresource=t.subresource or "", dry_run=dry_run))
        if method == "PATCH":
            return await self._patch(request, t, dry_run)
        if method == "DELETE":
            body = await self._body(request)
            options = dict(body) if isinstance(body, dict) else {}
            if "propagationPolicy" in q:
                options["propagationPolicy"] = q["propagationPolicy"]
            if "gracePeriodSeconds" in q:
                options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            return json_response(self.store.delete(t.res, t.namespace, t.name, options, dry_run=dry_run))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _check_identity(self, t: Target, body: Any) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be an object")
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != t.name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        meta["name"] = t.name
        if t.res.namespaced:
            meta["namespace"] = t.namespace

    async def _patch(self, request: web.Request, t: Target, dry_run: bool) -> web.StreamResponse:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        assert t.name is not None
        if ctype == "application/strategic-merge-patch+json" and t.res.custom:
            raise ApiError(415, "UnsupportedMediaType",
                           f'the body of the request was in an unknown format - accepted media types include: '
                           f'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
        body = await self._body(request)
        current = self.store.get(t.res, t.namespace, t.name)
        try:
            if ctype == "application/apply-patch+yaml":
                if current is None:
                    if t.subresource:
                        raise errors.not_found(t.res.plural, t.name, t.res.group)
                    body.setdefault("metadata", {})["name"] = t.name
                    return json_response(self.store.create(t.res, body, t.namespace, dry_run=dry_run), 201)
                new = apply_merge(current, body)
            elif current is None:
                raise errors.not_found(t.res.plural, t.name, t.res.group)
            elif ctype == "application/json-patch+json":
                new = json_patch(current, body)
            elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                new = merge_patch(current, body)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch content type {ctype!r}")
        except PatchError as err:
            raise ApiError(err.code, err.reason, err.message) from err
        self._check_identity(t, new)
        return json_response(self.store.replace(t.res, new, subresource=t.subresource or "", dry_run=dry_run))

    async def _delete_collection(self, request: web.Request, t: Target) -> web.StreamResponse:
        pred = self._predicate(request)
        for obj in self.store.list(t.res, t.namespace, pred):
            m = obj["metadata"]
            try:
                self.store.delete(t.res, m.get("namespace"), m["name"], {})
            except ApiError as err:
                if err.code != 404:
                    raise
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    # ------------------------------------------------------------ list and watch

    @staticmethod
    def _predicate(request: web.Request) -> Callable[[dict[str, Any]], bool]:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"))
        return lambda o: labels(o) and fields(o)

    def _list(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        objs = self.store.list(t.res, t.namespace, self._predicate(request))
        rv = str(self.store.rv)
        start = 0
        if q.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
                start, rv = int(token["start"]), str(token["rv"])
            except (ValueError, KeyError) as exc:
                raise errors.bad_request("continue key is not valid") from exc
        meta: dict[str, Any] = {"resourceVersion": rv}
        limit = int(q.get("limit", "0") or 0)
        if limit > 0 and start + limit < len(objs):
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": start + limit, "rv": rv}).encode()).decode()
            meta["remainingItemCount"] = len(objs) - start - limit
            objs = objs[start:start + limit]
        else:
            objs = objs[start:]
        if tables.wants_table(request.headers.get("Accept", "")):
            return json_response(tables.table(t.res, objs, meta))
        return json_response({"kind": f"{t.res.kind}List", "apiVersion": t.res.api_version,
                              "metadata": meta, "items": objs})

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        rv_text = q.get("resourceVersion", "")
        since = int(rv_text) if rv_text not in ("", "0") else None
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        timeout = min(float(q.get("timeoutSeconds", self.max_watch_seconds)), self.max_watch_seconds)
        try:
            watcher, backlog = self.store.watch(t.res, t.namespace, self._predicate(request), since)
        except ApiError as err:
            if err.code != 410:
                raise
            # A real server answers an expired watch with 200 and an ERROR event.
            resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
            await resp.prepare(request)
            await resp.write(dumps({"type": "ERROR", "object": err.status()}) + b"\n")
            await resp.write_eof()
            return resp
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Transfer-Encoding": "chunked"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        first = True

        def encode(ev: Event) -> bytes:
            nonlocal first
            obj: Any = ev.obj
            if as_table:
                obj = tables.table(t.res, [ev.obj], {"resourceVersion": str(ev.rv)})
                if not first:
                    obj["columnDefinitions"] = []
                first = False
            return dumps({"type": ev.type, "object": obj}) + b"\n"

        try:
            for ev in backlog:
                await resp.write(encode(ev))
            next_bookmark = loop.time() + self.bookmark_seconds
            while True:
                now = loop.time()
                if now >= deadline:
                    break
                wait = deadline - now
                if bookmarks:
                    wait = min(wait, max(next_bookmark - now, 0.0))
                try:
                    ev = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
                except asyncio.TimeoutError:
                    if bookmarks and loop.time() >= next_bookmark:
                        mark = {"kind": t.res.kind, "apiVersion": t.res.api_version,
                                "metadata": {"resourceVersion": str(self.store.rv)}}
                        await resp.write(dumps({"type": "BOOKMARK", "object": mark}) + b"\n")
                        next_bookmark = loop.time() + self.bookmark_seconds
                    continue
                if ev is None:
                    break
                await resp.write(encode(ev))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unwatch(watcher)
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp


def namespace_exists(store: Store, name: str) -> bool:
    return store.peek(NAMESPACES, None, name) is not None
