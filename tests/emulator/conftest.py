"""Fixtures for the KubeVirt-behaviour tests: an emulated cluster with its KubeVirt controllers,
reached over real HTTPS with the official ``kubernetes`` client built from the kubeconfig it writes.

No mocks and no sleeps: every wait is a watch (or a read) with a timeout.  Helpers are methods of
the ``kv`` fixture because this directory is not a package.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import uuid
from typing import Any, Callable, Iterator

import pytest
from kubernetes import client, config, watch

from vmconform.emulator import EmulatedCluster, Options
from vmconform.emulator.openapi import crd_schema

Obj = dict[str, Any]
GROUP, VERSION = "kubevirt.io", "v1"
SUB = "/apis/subresources.kubevirt.io/{version}/namespaces/{ns}/{res}/{name}/{sub}"

TESTVM: Obj = {
    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "testvm"},
    "spec": {"runStrategy": "Halted", "template": {
        "metadata": {"labels": {"kubevirt.io/size": "small", "kubevirt.io/domain": "testvm"}},
        "spec": {
            "domain": {"devices": {"disks": [{"name": "containerdisk", "disk": {"bus": "virtio"}},
                                             {"name": "cloudinitdisk", "disk": {"bus": "virtio"}}],
                                   "interfaces": [{"name": "default", "masquerade": {}}]},
                       "resources": {"requests": {"memory": "64M"}}},
            "networks": [{"name": "default", "pod": {}}],
            "volumes": [{"name": "containerdisk",
                         "containerDisk": {"image": "quay.io/kubevirt/cirros-container-disk-demo"}},
                        {"name": "cloudinitdisk", "cloudInitNoCloud": {"userDataBase64": "SGkuXG4="}}],
        }}},
}
KIND_PLURAL = {"VirtualMachine": "virtualmachines", "VirtualMachineInstance": "virtualmachineinstances",
               "VirtualMachineInstanceMigration": "virtualmachineinstancemigrations", "KubeVirt": "kubevirts"}


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI v3 ``nullable`` → JSON-Schema null type; everything else passes through."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items()}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.lru_cache(maxsize=None)
def _validator(kind: str) -> Any:
    import jsonschema

    schema = crd_schema(GROUP, kind)
    assert schema is not None
    return jsonschema.Draft7Validator(_openapi_to_jsonschema(schema))


class Mark:
    def __init__(self, rv: str, obj: Obj | None) -> None:
        self.rv = rv
        self.obj = obj


class KV:
    """The official client against one emulated cluster, plus KubeVirt-shaped helpers."""

    def __init__(self, cluster: EmulatedCluster, api: client.ApiClient) -> None:
        self.cluster = cluster
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.validated: dict[str, int] = {}

    # ------------------------------------------------------------ objects

    def vm_body(self, name: str, run_strategy: str | None = "Halted", *, interface: str | None = "masquerade",
                image: str = "quay.io/kubevirt/cirros-container-disk-demo", pvc: str | None = None,
                node_selector: dict[str, str] | None = None, memory: str = "64M", **spec: Any) -> Obj:
        body = copy.deepcopy(TESTVM)
        body["metadata"]["name"] = name
        if run_strategy is None:
            del body["spec"]["runStrategy"]
        else:
            body["spec"]["runStrategy"] = run_strategy
        tspec = body["spec"]["template"]["spec"]
        tspec["domain"]["resources"]["requests"]["memory"] = memory
        tspec["volumes"][0]["containerDisk"]["image"] = image
        if interface is None:
            del tspec["domain"]["devices"]["interfaces"]
            del tspec["networks"]
        elif interface != "masquerade":
            tspec["domain"]["devices"]["interfaces"] = [{"name": "default", interface: {}}]
        if pvc is not None:
            tspec["domain"]["devices"]["disks"].append({"name": "data", "disk": {"bus": "virtio"}})
            tspec["volumes"].append({"name": "data", "persistentVolumeClaim": {"claimName": pvc}})
        if node_selector:
            tspec["nodeSelector"] = node_selector
        body["spec"].update(spec)
        return body

    def create_vm(self, ns: str, name: str, run_strategy: str | None = "Halted", **kw: Any) -> Obj:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "virtualmachines",
                                                           self.vm_body(name, run_strategy, **kw))

    def vmi_body(self, name: str, **spec: Any) -> Obj:
        tmpl = copy.deepcopy(TESTVM["spec"]["template"])
        body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": name, "labels": tmpl["metadata"]["labels"]}, "spec": tmpl["spec"]}
        body["spec"].update(spec)
        return body

    def create_pvc(self, ns: str, name: str, mode: str, storage_class: str | None = None) -> Obj:
        spec: Obj = {"accessModes": [mode], "resources": {"requests": {"storage": "1Gi"}}}
        if storage_class is not None:
            spec["storageClassName"] = storage_class
        return self.api.sanitize_for_serialization(self.core.create_namespaced_persistent_volume_claim(
            ns, {"metadata": {"name": name}, "spec": spec}))

    def get(self, plural: str, ns: str, name: str) -> Obj | None:
        try:
            obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        self.validate(obj)
        return obj

    def vm(self, ns: str, name: str) -> Obj:
        obj = self.get("virtualmachines", ns, name)
        assert obj is not None, f"VM {ns}/{name} is gone"
        return obj

    def vmi(self, ns: str, name: str) -> Obj | None:
        return self.get("virtualmachineinstances", ns, name)

    def vmims(self, ns: str) -> list[Obj]:
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns,
                                                          "virtualmachineinstancemigrations")["items"]
        for item in items:
            self.validate(item)
        return items

    def pods(self, ns: str, selector: str = "") -> list[Obj]:
        return [self.api.sanitize_for_serialization(p)
                for p in self.core.list_namespaced_pod(ns, label_selector=selector).items]

    def events(self, ns: str, name: str | None = None) -> list[Obj]:
        evs = [self.api.sanitize_for_serialization(e) for e in self.core.list_namespaced_event(ns).items]
        return [e for e in evs if name is None or e["involvedObject"]["name"] == name]

    def rv(self, plural: str, ns: str) -> str:
        return self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural)["metadata"]["resourceVersion"]

    def mark(self, plural: str, ns: str, name: str) -> "Mark":
        """The object and the collection's resourceVersion, read atomically (a watch starts here)."""
        listing = self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural,
                                                            field_selector=f"metadata.name={name}")
        items = listing["items"]
        return Mark(listing["metadata"]["resourceVersion"], items[0] if items else None)

    def patch_status(self, plural: str, ns: str, name: str, status: Obj) -> Obj:
        return self.custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, plural, name,
                                                                 {"status": status})

    # ------------------------------------------------------------ schemas

    def validate(self, obj: Obj) -> None:
        """The object validates against KubeVirt's published CRD schema for its kind."""
        kind = obj.get("kind", "")
        if kind not in KIND_PLURAL:
            return
        errors = sorted(_validator(kind).iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, f"{kind} {obj['metadata'].get('name')}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
        self.validated[kind] = self.validated.get(kind, 0) + 1

    # ------------------------------------------------------------ subresources

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, str]:
        """A raw request through the client's REST layer: (status, body text); errors are not raised."""
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        self.api.update_params_for_auth(headers, [], ["BearerToken"], path, method, None)
        url = self.api.configuration.host + path
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        try:
            resp = self.api.rest_client.pool_manager.request(method, url, body=data, headers=headers,
                                                             timeout=10.0, preload_content=True)
        except Exception as exc:  # pragma: no cover - transport trouble is a test failure
            raise AssertionError(f"{method} {path} failed: {exc}") from exc
        return resp.status, resp.data.decode()

    def sub(self, ns: str, res: str, name: str, sub: str, body: Any = None, method: str = "PUT",
            version: str = "v1", raw: bytes | None = None) -> tuple[int, str]:
        res = {"vm": "virtualmachines", "vmi": "virtualmachineinstances"}.get(res, res)
        return self.call(method, SUB.format(version=version, ns=ns, res=res, name=name, sub=sub), body, raw)

    def ok(self, ns: str, res: str, name: str, sub: str, body: Any = None) -> None:
        status, text = self.sub(ns, res, name, sub, body)
        assert status in (200, 202), f"{sub} {name}: {status} {text}"

    # ------------------------------------------------------------ watches

    def observe(self, plural: str, ns: str, name: str, rv: "str | Mark", value: Callable[[Obj | None], Any],
                until: Callable[[Obj | None], bool], timeout: float = 10.0) -> list[Any]:
        """Values of ``value(obj)`` seen on a watch from ``rv`` (consecutive repeats collapsed) until
        ``until(obj)`` holds (obj is None once the object is deleted).  From a :class:`Mark`, the
        marked state is the first value."""
        seen: list[Any] = []
        if isinstance(rv, Mark):
            seen.append(value(rv.obj))
            if until(rv.obj):
                return seen
            rv = rv.rv
        w = watch.Watch()
        done = False
        for ev in w.stream(self.custom.list_namespaced_custom_object, GROUP, VERSION, ns, plural,
                           field_selector=f"metadata.name={name}", resource_version=rv,
                           timeout_seconds=int(timeout)):
            obj = None if ev["type"] == "DELETED" else ev["object"]
            if obj is not None:
                self.validate(obj)
            v = value(obj)
            if not seen or seen[-1] != v:
                seen.append(v)
            if until(obj):
                done = True
                w.stop()
                break
        assert done, f"{plural} {ns}/{name}: condition not reached within {timeout}s; saw {seen}"
        return seen

    def vm_statuses(self, ns: str, name: str, rv: "str | Mark", until: Callable[[Obj | None], bool],
                    timeout: float = 10.0) -> list[str | None]:
        return self.observe("virtualmachines", ns, name, rv,
                            lambda o: (o or {}).get("status", {}).get("printableStatus"), until, timeout)

    @staticmethod
    def back_to(status: str, ready: bool | None = None) -> Callable[[Obj | None], bool]:
        """``until`` for :meth:`vm_statuses`: printableStatus ``status`` again after having left it."""
        left: list[Any] = []

        def until(o: Obj | None) -> bool:
            st = (o or {}).get("status", {})
            if st.get("printableStatus") != status:
                left.append(st.get("printableStatus"))
            return bool(left) and st.get("printableStatus") == status and (
                ready is None or bool(st.get("ready")) == ready)

        return until

    def _wait_named(self, plural: str, ns: str, name: str, pred: Callable[[Obj | None], bool],
                    timeout: float) -> Obj | None:
        """Read the object now; if ``pred`` does not hold yet, watch from the list's version until it does."""
        rv = self.rv(plural, ns)
        current = self.get(plural, ns, name)
        if pred(current):
            return current
        box: list[Obj | None] = []

        def until(o: Obj | None) -> bool:
            if pred(o):
                box.append(o)
                return True
            return False

        self.observe(plural, ns, name, rv, lambda o: None, until, timeout)
        return box[0]

    def wait_vm(self, ns: str, name: str, pred: Callable[[Obj], bool], timeout: float = 10.0) -> Obj:
        found = self._wait_named("virtualmachines", ns, name, lambda o: o is not None and pred(o), timeout)
        assert found is not None
        return found

    def wait_vmi(self, ns: str, name: str, pred: Callable[[Obj | None], bool], timeout: float = 10.0) -> Obj | None:
        return self._wait_named("virtualmachineinstances", ns, name, pred, timeout)

    def wait_vmim(self, ns: str, name: str, pred: Callable[[Obj | None], bool], timeout: float = 10.0) -> Obj | None:
        return self._wait_named("virtualmachineinstancemigrations", ns, name, pred, timeout)

    def wait_core(self, list_fn: Callable[..., Any], pred: Callable[[Obj], bool], *args: Any,
                  timeout: float = 10.0) -> Obj:
        """First core object (as a dict) from ``list_fn(*args)`` or its watch that satisfies ``pred``."""
        listing = list_fn(*args)
        for item in listing.items:
            obj = self.api.sanitize_for_serialization(item)
            if pred(obj):
                return obj
        w = watch.Watch()
        for ev in w.stream(list_fn, *args, resource_version=listing.metadata.resource_version,
                           timeout_seconds=int(timeout)):
            obj = self.api.sanitize_for_serialization(ev["object"])
            if ev["type"] != "DELETED" and pred(obj):
                w.stop()
                return obj
        raise AssertionError(f"{list_fn.__name__}{args}: no matching object within {timeout}s")

    def wait_gone(self, list_fn: Callable[..., Any], name: str, *args: Any, timeout: float = 10.0) -> None:
        """Until the core object ``name`` listed by ``list_fn(*args)`` is deleted."""
        listing = list_fn(*args)
        if all(i.metadata.name != name for i in listing.items):
            return
        w = watch.Watch()
        for ev in w.stream(list_fn, *args, resource_version=listing.metadata.resource_version,
                           timeout_seconds=int(timeout)):
            if ev["type"] == "DELETED" and ev["object"].metadata.name == name:
                w.stop()
                return
        raise AssertionError(f"{name} still exists after {timeout}s")

    def wait_event(self, ns: str, reason: str, name: str | None = None, timeout: float = 10.0) -> Obj:
        return self.wait_core(self.core.list_namespaced_event,
                              lambda e: e.get("reason") == reason and (name is None or e["involvedObject"]["name"]
                                                                       == name), ns, timeout=timeout)

    def running(self, ns: str, name: str, run_strategy: str = "Always", **kw: Any) -> Obj:
        """Create a VM and wait until its VMI runs and is Ready."""
        self.create_vm(ns, name, run_strategy, **kw)
        self.wait_vm(ns, name, lambda o: o.get("status", {}).get("printableStatus") == "Running"
                     and o["status"].get("ready") is True)
        vmi = self.vmi(ns, name)
        assert vmi is not None
        return vmi

    def guest_power(self, ns: str, name: str, action: str) -> None:
        """What the console does when the guest runs ``poweroff``/``reboot``."""
        from vmconform.emulator.kubevirt import context_of

        emu = self.cluster.emulator
        assert emu is not None
        self.cluster.call(lambda: context_of(emu).vmi_controller.guest_power(ns, name, action))  # type: ignore


def printable(o: Obj | None) -> str | None:
    return (o or {}).get("status", {}).get("printableStatus")


def cond(o: Obj | None, ctype: str) -> Obj | None:
    for c in (o or {}).get("status", {}).get("conditions", []) or []:
        if c.get("type") == ctype:
            return c
    return None


@contextlib.contextmanager
def _cluster(tmp_path_factory: pytest.TempPathFactory, options: Options) -> Iterator[KV]:
    kc = tmp_path_factory.mktemp("kubevirt") / "config"
    with EmulatedCluster(options, kubeconfig_path=kc) as c:
        api = config.new_client_from_config(config_file=str(c.kubeconfig_path))
        try:
            yield KV(c, api)
        finally:
            api.close()
        c.call(c.store.check_indexes)  # after every test on this cluster: order and indexes still agree


def _namespace(kv: KV) -> Iterator[str]:
    name = f"kv-{uuid.uuid4().hex[:8]}"
    kv.core.create_namespace({"metadata": {"name": name}})
    yield name
    kv.core.delete_namespace(name)


@pytest.fixture(scope="session")
def kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KV]:
    """The default cluster: two workers, fast timing."""
    with _cluster(tmp_path_factory, Options(nodes=2, seed=7)) as kv_:
        yield kv_


@pytest.fixture
def ns(kv: KV) -> Iterator[str]:
    yield from _namespace(kv)


@pytest.fixture(scope="session")
def slow_kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KV]:
    """A cluster whose guests take a second to shut down and whose migrations transfer for 1.5 s,
    so requests can be made while a stop or a migration is still in progress."""
    with _cluster(tmp_path_factory, Options(nodes=2, seed=11, extra={"steps": {
            "vmi.shutdown": 1.0, "migration.transfer": 1.5}})) as kv_:
        yield kv_


@pytest.fixture(scope="session")
def kv_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Options], Any]:
    """``with kv_factory(Options(...)) as kv:`` — another emulated cluster with its own options."""
    return lambda options: _cluster(tmp_path_factory, options)


@pytest.fixture
def slow_ns(slow_kv: KV) -> Iterator[str]:
    yield from _namespace(slow_kv)
