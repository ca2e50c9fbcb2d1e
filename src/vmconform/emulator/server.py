"""The aiohttp application: authentication, discovery, OpenAPI, CRUD, watch, Table output."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from . import bodies, discovery, errors, query, tables, validation
from .errors import ApiError
from .openapi import OpenAPI
from .patches import PatchError, apply_merge, json_patch, merge_patch
from .protobuf import PROTOBUF, decode_protobuf
from .resources import NAMESPACES, Registry, ResourceType
from .selectors import check_field_selector, parse_field_selector, parse_label_selector
from .store import Event, Store

JSON = "application/json"
USER: web.RequestKey[Any] = web.RequestKey("vmconform_user", object)  # who the request authenticated as
log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# An extension claims requests by path prefix (e.g. /apis/subresources.kubevirt.io/).
Extension = tuple[str, Handler]
# A subresource served outside the store (e.g. pods/eviction): (request, target) → response.
SubresourceHandler = Callable[[web.Request, "Target"], Awaitable[web.StreamResponse]]


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


def warned(resp: web.Response, warnings: list[str]) -> web.Response:
    """Add kube-apiserver's ``Warning: 299 - "<text>"`` headers (RFC 7234 warn-code 299)."""
    for text in warnings:
        resp.headers.add("Warning", "299 - " + json.dumps(text))
    return resp


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
        self.subresource_handlers: dict[tuple[tuple[str, str], str], SubresourceHandler] = {}
        self.extra_groups: list[discovery.ExtraGroup] = []
        self.requests: deque[RequestRecord] = deque(maxlen=5000)
        self.bookmark_seconds = watch_bookmark_seconds
        self.max_watch_seconds = 1800
        # Fault hooks: called before every request; may raise ApiError (e.g. 429/500 injection).
        self.request_faults: list[Callable[[web.Request], None]] = []
        # Request counting (metrics.Metrics, set by the Emulator); /debug/vmconform/ is not counted.
        self.metrics: Any = None
        # Authentication and authorization (emulator/rbac installs its own): the Authorization header →
        # a user or None (401); authorize raises the 403; access_review answers a SelfSubjectAccessReview.
        self.authenticate: Callable[[str], Any] = lambda header: "admin" if header == f"Bearer {self.token}" else None
        self.authorize: Callable[[web.Request, Any], None] | None = None
        self.access_review: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None

    # ------------------------------------------------------------ app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        status = 500
        if self.metrics is not None and not request.path.startswith("/debug/vmconform/"):
            self.metrics.record_request(request.method, request.path, request.query)
        try:
            user = self.authenticate(request.headers.get("Authorization", ""))
            if user is None:
                resp: web.StreamResponse = json_response(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, 401)
            else:
                request[USER] = user
                if self.authorize is not None:
                    self.authorize(request, user)
                for fault in self.request_faults:
                    fault(request)
                resp = await handler(request)
            status = resp.status
            return resp
        except ApiError as err:
            status = err.code
            return error_response(err)
        except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:  # noqa: BLE001 - a server bug: a Status body, never aiohttp's text page
            log.exception("internal error serving %s %s", request.method, request.path)
            return error_response(errors.internal(f"{type(exc).__name__}: {exc}"))
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
        if self.access_review is not None:
            body["status"] = self.access_review(request[USER], body)
        else:
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
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith(PROTOBUF):
            return decode_protobuf(raw)
        return bodies.parse(raw, ctype)

    async def _object(self, request: web.Request, res: ResourceType) -> dict[str, Any]:
        """A create/update body: an object of ``res``'s kind, or the 400 kube-apiserver answers."""
        raw = await request.read()
        if not raw:
            raise bodies.unrecognized(res, raw, "Object 'Kind' is missing in ''")
        return bodies.require_object(res, await self._body(request), raw)

    async def _resource(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        dry_run = bool(q.getall("dryRun", []))
        fv = (validation.field_validation(q.get("fieldValidation"), request.method)
              if request.method in ("POST", "PUT", "PATCH") else "")
        query.resource_version(q)  # a malformed resourceVersion is a 400 on every verb
        method = request.method
        special = self.subresource_handlers.get((t.res.key, t.subresource or "")) if t.name else None
        if special is not None:
            return await special(request, t)
        if t.subresource not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if t.subresource == "status" and not t.res.has_status:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if t.name is None:
            if method == "GET":
                if query.flag(q, "watch"):
                    return await self._watch(request, t)
                return self._list(request, t)
            if method == "POST":
                body = await self._object(request, t.res)
                _reset_status_on_create(t.res, body)
                _default_namespace(t, body)
                notes = validation.admit(t.res, body, None, validation=fv)
                return warned(json_response(self.store.create(t.res, body, t.namespace, dry_run=dry_run), 201),
                              notes)
            if method == "DELETE":
                return await self._delete_collection(request, t)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection")
        if method == "GET":
            obj = self.store.require(t.res, t.namespace, t.name)
            if tables.wants_table(request.headers.get("Accept", "")):
                return json_response(tables.table(t.res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}))
            return json_response(obj)
        if method == "PUT":
            body = await self._object(request, t.res)
            self._check_identity(t, body)
            if t.res.custom and not body["metadata"].get("resourceVersion"):
                # Custom resources do not allow unconditional updates (a CRD's AllowUnconditionalUpdate).
                raise errors.invalid(t.res.kind, t.name, [(
                    "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")], t.res.group)
            current = self.store.require(t.res, t.namespace, t.name)
            notes = validation.admit(t.res, body, current, validation=fv, status=t.subresource == "status")
            return warned(json_response(self.store.replace(t.res, body, subresource=t.subresource or "",
                                                           dry_run=dry_run)), notes)
        if method == "PATCH":
            return await self._patch(request, t, dry_run, fv)
        if method == "DELETE":
            options = await self._delete_options(request)
            return json_response(self.store.delete(t.res, t.namespace, t.name, options, dry_run=dry_run))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        """DeleteOptions from the body and the query, validated like ``ValidateDeleteOptions``."""
        q = request.query
        body = await self._body(request)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the body of the request was in an unknown format - json: cannot unmarshal "
                f"{bodies.GO_TYPES.get(type(body), 'value')} into Go value of type v1.DeleteOptions")
        options = dict(body)
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        grace = query.integer(q, "gracePeriodSeconds")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        policy = options.get("propagationPolicy")
        if policy is not None and policy not in query.PROPAGATION_POLICIES:
            raise errors.invalid("DeleteOptions", "", [(
                "propagationPolicy", f"Unsupported value: {json.dumps(policy)}: supported values: "
                                     '"Foreground", "Background", "Orphan"')], "meta.k8s.io")
        if policy is not None and options.get("orphanDependents") is not None:
            raise errors.invalid("DeleteOptions", "", [(
                "propagationPolicy", f"Invalid value: {json.dumps(policy)}: orphanDependents and "
                                     "deletionPropagation cannot be both set")], "meta.k8s.io")
        if options.get("preconditions") is not None and not isinstance(options["preconditions"], dict):
            raise errors.bad_request("the body of the request was in an unknown format - json: cannot unmarshal "
                                     "into Go struct field DeleteOptions.preconditions of type v1.Preconditions")
        sent = options.get("gracePeriodSeconds")
        if sent is not None and (not isinstance(sent, int) or isinstance(sent, bool)):
            raise errors.bad_request("the body of the request was in an unknown format - json: cannot unmarshal "
                                     "into Go struct field DeleteOptions.gracePeriodSeconds of type int64")
        return options

    def _check_identity(self, t: Target, body: Any) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be an object")
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != t.name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        meta["name"] = t.name
        if t.res.namespaced:
            meta["namespace"] = t.namespace

    async def _patch(self, request: web.Request, t: Target, dry_run: bool, fv: str) -> web.StreamResponse:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        assert t.name is not None
        if ctype == "application/strategic-merge-patch+json" and t.res.custom:
            raise ApiError(415, "UnsupportedMediaType",
                           'the body of the request was in an unknown format - accepted media types include: '
                           'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
        body = await self._body(request)
        raw = await request.read()
        current = self.store.get(t.res, t.namespace, t.name)
        try:
            if ctype == "application/apply-patch+yaml":
                body = bodies.require_object(t.res, body, raw)
                if current is None:
                    if t.subresource:
                        raise errors.not_found(t.res.plural, t.name, t.res.group)
                    if not isinstance(body.setdefault("metadata", {}), dict):
                        body["metadata"] = {}
                    body["metadata"]["name"] = t.name
                    _reset_status_on_create(t.res, body)
                    _default_namespace(t, body)
                    notes = validation.admit(t.res, body, None, validation=fv)
                    return warned(json_response(self.store.create(t.res, body, t.namespace, dry_run=dry_run), 201),
                                  notes)
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
        new = bodies.require_object(t.res, new, json.dumps(new).encode())
        self._check_identity(t, new)
        notes = validation.admit(t.res, new, current, validation=fv, status=t.subresource == "status")
        return warned(json_response(self.store.replace(t.res, new, subresource=t.subresource or "",
                                                       dry_run=dry_run)), notes)

    async def _delete_collection(self, request: web.Request, t: Target) -> web.StreamResponse:
        pred = self._predicate(request, t.res)
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
    def _predicate(request: web.Request, res: ResourceType | None = None) -> Callable[[dict[str, Any]], bool]:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"))
        if res is not None:
            check_field_selector(res.group, res.plural, res.custom, request.query.get("fieldSelector"))
        return lambda o: labels(o) and fields(o)

    def _list(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        # Stored objects, not copies: they are only serialised here, never changed.
        objs = self.store.items(t.res, t.namespace, self._predicate(request, t.res))
        rv = str(self.store.rv)
        if q.get("continue"):
            # The token holds the last key served (like etcd's), so objects created or deleted
            # before it while paging neither repeat nor skip items.
            try:
                token = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
                after, rv = (str(token["ns"]), str(token["name"])), str(token["rv"])
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request("continue key is not valid") from exc
            objs = [o for o in objs if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        meta: dict[str, Any] = {"resourceVersion": rv}
        limit = query.integer(q, "limit", 0) or 0
        if limit > 0 and limit < len(objs):
            last = objs[limit - 1]["metadata"]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"ns": last.get("namespace", ""), "name": last["name"], "rv": rv}).encode()).decode()
            meta["remainingItemCount"] = len(objs) - limit
            objs = objs[:limit]
        if tables.wants_table(request.headers.get("Accept", "")):
            return json_response(tables.table(t.res, objs, meta))
        return json_response({"kind": f"{t.res.kind}List", "apiVersion": t.res.api_version,
                              "metadata": meta, "items": objs})

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        since = query.resource_version(q)
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        bookmarks = query.flag(q, "allowWatchBookmarks")
        # Streaming lists (WatchList): the current state as ADDED events, then a bookmark marking their end.
        initial_events = query.flag(q, "sendInitialEvents")
        if initial_events:
            since = None
        asked = query.integer(q, "timeoutSeconds")
        timeout = float(self.max_watch_seconds if asked is None or asked <= 0 else min(asked, self.max_watch_seconds))
        try:
            watcher, backlog = self.store.watch(t.res, t.namespace, self._predicate(request, t.res), since)
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
            if initial_events and bookmarks:
                mark = {"kind": t.res.kind, "apiVersion": t.res.api_version,
                        "metadata": {"resourceVersion": str(self.store.rv),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}
                await resp.write(dumps({"type": "BOOKMARK", "object": mark}) + b"\n")
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


# Kinds whose create strategy defaults status.phase rather than clearing status entirely.
_PENDING_ON_CREATE = {("", "pods"), ("", "persistentvolumeclaims"), ("", "persistentvolumes")}


def _reset_status_on_create(res: ResourceType, body: Any) -> None:
    """A client's create ignores ``.status`` of kinds with a status subresource, as a real API server
    does (CRDs drop it; pods, PVCs and PVs start Pending). Nodes and namespaces keep theirs. The
    emulator's own controllers create through the store and are not affected."""
    if not isinstance(body, dict) or not res.has_status or res is NAMESPACES or res.key == ("", "nodes"):
        return
    body.pop("status", None)
    if res.key in _PENDING_ON_CREATE:
        body["status"] = {"phase": "Pending"}


def _default_namespace(t: Target, body: dict[str, Any]) -> None:
    """The request's namespace fills an object's missing one before validation, as the handler does."""
    meta = body.get("metadata")
    if t.res.namespaced and t.namespace and isinstance(meta, dict) and not meta.get("namespace"):
        meta["namespace"] = t.namespace


def namespace_exists(store: Store, name: str) -> bool:
    return store.peek(NAMESPACES, None, name) is not None
