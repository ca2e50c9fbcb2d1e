"""Stub ``kind``, ``kubectl``, ``docker``/``podman``: no kinder than the real tools where it matters.

They share one "host" (``host.json`` in their directory, see ``HOST``): the docker daemon may be down,
and an old Docker CLI then still exits 0 from ``docker info --format`` with an empty server version;
the host has a cgroup version, may be rootless, has devices, the nfsd module, inotify limits, and a
kernel NFS server that does or does not serve. ``docker exec <node>`` answers from it (only for nodes
of an existing cluster). ``kubectl apply`` is a real server-side apply (PATCH apply-patch+yaml, so a
second apply changes the object and goes through admission); ``kubectl rollout status`` watches the
object and times out like kubectl ("timed out waiting for the condition"); ``kubectl wait`` for a
CRD fails when its manifest was never applied; ``kind delete cluster`` can hang.
"""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST: dict[str, Any] = {
    "docker_down": False,
    "old_cli": False,  # Docker CLI < 28.1: `docker info --format` exits 0 with the daemon down
    "server_version": "28.2.2",
    "cgroup": "2",
    "rootless": False,
    "kind_version": "v0.31.0",
    "kubectl_version": "v1.35.0",
    "devices": ["kvm", "vhost-net"],
    "nfsd_module": True,  # nfsd in /proc/filesystems
    "nfsd_serving": True,  # the kernel NFS server in the nfs-server pod really started
    "nfs_unreachable_from": [],  # nodes whose kubelet cannot mount the NFS share (e.g. a firewall)
    "inotify": {"max_user_watches": 524288, "max_user_instances": 512},
    "kind_delete_hangs": False,
    # not the host's but the cluster's: seconds virt-operator takes to deploy or update (tests/kind/fakes.py),
    # and whether an applied CRD ever becomes Established (else `kubectl wait` times out)
    "operator_seconds": 1.0,
    "crd_established": True,
}

_COMMON = '''
import json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = json.loads((HERE / "host.json").read_text())
args = sys.argv[1:]


def clusters():
    state = HERE / "kind-clusters.json"
    return json.loads(state.read_text()) if state.exists() else []


def log(name, entry):
    with (HERE / name).open("a") as f:
        f.write(json.dumps(entry) + "\\n")
'''

STUB_KIND = _COMMON + '''
import threading

log("kind.log", args)
state = HERE / "kind-clusters.json"


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
if args[:1] == ["version"]:
    print(f"kind {HOST['kind_version']} go1.25.5 linux/amd64")
elif verb == ["get", "clusters"]:
    if clusters():
        print("\\n".join(clusters()))
    else:
        print("No kind clusters found.", file=sys.stderr)
elif verb == ["create", "cluster"]:
    name = opt("name") or "kind"
    if name in clusters():
        sys.exit(f"ERROR: failed to create cluster: node(s) already exist for a cluster with the name {name!r}")
    if opt("config"):
        (HERE / f"config-{name}.yaml").write_text(Path(opt("config")).read_text())
    print(f"Creating cluster {name!r} ...", file=sys.stderr)
    Path(opt("kubeconfig")).write_text(kubeconfig())
    state.write_text(json.dumps(clusters() + [name]))
elif verb == ["delete", "cluster"]:
    name = opt("name") or "kind"
    print(f"Deleting cluster {name!r} ...", file=sys.stderr)
    if HOST["kind_delete_hangs"]:
        threading.Event().wait()  # a node container stuck on a hard NFS mount: never returns
    state.write_text(json.dumps([c for c in clusters() if c != name]))
elif verb == ["export", "kubeconfig"]:
    if (opt("name") or "kind") not in clusters():
        sys.exit("ERROR: unknown cluster")
    Path(opt("kubeconfig")).write_text(kubeconfig())
elif verb == ["get", "kubeconfig"]:
    print(kubeconfig())
else:
    sys.exit(f"stub kind: unsupported {args}")
'''

STUB_RUNTIME = _COMMON + '''
name = Path(sys.argv[0]).name
log(f"{name}.log", args)
DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"

if args[:1] == ["info"] and name == "docker":
    if args[1:] != ["--format", "{{json .}}"]:
        sys.exit(f"stub docker: unsupported {args}")
    if HOST["docker_down"]:
        if not HOST["old_cli"]:
            print(DOWN, file=sys.stderr)
            sys.exit(1)
        # an old CLI: the client part, the server part empty, exit 0
        print(json.dumps({"ID": "", "ServerVersion": "", "CgroupVersion": "", "SecurityOptions": None,
                          "ServerErrors": [DOWN], "ClientInfo": {"Version": "27.5.1"}}))
        sys.exit(0)
    options = ["name=seccomp,profile=builtin", "name=cgroupns"] + (["name=rootless"] if HOST["rootless"] else [])
    print(json.dumps({"ID": "stub", "ServerVersion": HOST["server_version"], "CgroupVersion": HOST["cgroup"],
                      "SecurityOptions": options, "ClientInfo": {"Version": HOST["server_version"]}}))
elif args[:1] == ["info"] and name == "podman":
    if args[1:] != ["--format", "json"]:
        sys.exit(f"stub podman: unsupported {args}")
    print(json.dumps({"host": {"cgroupVersion": "v" + HOST["cgroup"], "security": {"rootless": HOST["rootless"]}},
                      "version": {"Version": "5.4.2"}}))
elif args[:1] == ["exec"]:
    if HOST["docker_down"]:
        print(DOWN, file=sys.stderr)
        sys.exit(1)
    node = args[1]
    if not any(node.startswith(c + "-") for c in clusters()):
        print(f"Error response from daemon: No such container: {node}", file=sys.stderr)
        sys.exit(1)
    if args[2:4] != ["sh", "-c"]:
        sys.exit(f"stub {name}: unsupported {args}")
    for d in ("kvm", "vhost-net"):
        print(f"{d}={'yes' if d in HOST['devices'] else 'no'}")
    print(f"nfsd={'yes' if HOST['nfsd_module'] else 'no'}")
    for k, v in HOST["inotify"].items():
        print(f"{k}={v}")
else:
    sys.exit(f"stub {name}: unsupported {args}")
'''

STUB_KUBECTL = _COMMON + '''
import base64, os, re, ssl, time, urllib.error, urllib.parse, urllib.request

import yaml

entry = {"argv": args, "kubeconfig": os.environ.get("KUBECONFIG"), "exe": Path(sys.argv[0]).name}
SERVED = {  # (apiVersion, kind) -> collection path; {ns} for namespaced kinds
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services",
    ("v1", "PersistentVolumeClaim"): "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    ("storage.k8s.io/v1", "StorageClass"): "/apis/storage.k8s.io/v1/storageclasses",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("apps/v1", "DaemonSet"): "/apis/apps/v1/namespaces/{ns}/daemonsets",
    ("kubevirt.io/v1", "KubeVirt"): "/apis/kubevirt.io/v1/namespaces/{ns}/kubevirts",
}
ROLLOUT = {"deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
           "daemonset": "/apis/apps/v1/namespaces/{ns}/daemonsets"}


def request(method, path, body=None, ctype="application/json", timeout=10):
    cfg = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    req = urllib.request.Request(cluster["server"] + path, data=body, method=method,
                                 headers={"Authorization": "Bearer " + user["token"], "Content-Type": ctype})
    return urllib.request.urlopen(req, context=ctx, timeout=timeout)


def fail(message):
    log("kubectl.log", entry)
    sys.exit(message)


def opt(name, default=None):
    for i, a in enumerate(args):
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return default


def namespace():
    return opt("namespace") or (args[args.index("-n") + 1] if "-n" in args else "default")


def seconds(text):
    return float(text.rstrip("s")) if text else 0.0


def rolled_out(kind, obj):
    s, gen = obj.get("status") or {}, obj["metadata"].get("generation", 1)
    if s.get("observedGeneration", 0) < gen:
        return False
    if kind == "deployment":
        want = (obj.get("spec") or {}).get("replicas", 1)
        return s.get("updatedReplicas", 0) >= want and s.get("availableReplicas", 0) >= want
    want = s.get("desiredNumberScheduled", 0)
    return s.get("updatedNumberScheduled", 0) >= want and s.get("numberAvailable", 0) >= want


if args[:1] == ["version"]:
    log("kubectl.log", entry)
    print(json.dumps({"clientVersion": {"gitVersion": HOST["kubectl_version"]}}))
elif "apply" in args:
    source = args[args.index("-f") + 1]
    entry["source"] = source
    broken = HERE / "kubectl-fail"
    if broken.exists() and broken.read_text() in source:
        fail(f'error: unable to read URL "{source}", server reported 404 Not Found, status code=404')
    if "://" in source:
        mirrored = HERE / "mirror" / source.rsplit("/", 1)[-1]
        text = mirrored.read_text() if mirrored.is_file() else None
        m = re.search(r"/download/(v[^/]+)/", source)
        if text is not None and m:
            text = text.replace("{version}", m.group(1))
    else:
        text = Path(source).read_text()
    docs = [d for d in yaml.safe_load_all(text) if d] if text is not None else []
    entry["documents"] = [f"{d['kind']}/{d['metadata']['name']}" for d in docs]
    applied = []
    for d in docs:
        if d.get("kind") == "CustomResourceDefinition":
            crds = HERE / "crds.json"
            known = json.loads(crds.read_text()) if crds.exists() else []
            crds.write_text(json.dumps(sorted(set(known + [d["metadata"]["name"]]))))
            continue
        path = SERVED.get((d.get("apiVersion"), d.get("kind")))
        if path is None:
            continue
        ns = d["metadata"].get("namespace", "default")
        url = (path.format(ns=ns) + "/" + d["metadata"]["name"]
               + "?" + urllib.parse.urlencode({"fieldManager": opt("field-manager", "kubectl"), "force": "true"}))
        try:
            request("PATCH", url, json.dumps(d).encode(), "application/apply-patch+yaml").close()
        except urllib.error.HTTPError as exc:
            status = json.loads(exc.read() or b"{}")
            fail(f"Error from server ({status.get('reason', exc.code)}): error when applying patch to "
                 f"{d['kind']}/{d['metadata']['name']}: {status.get('message', '')}")
        applied.append(f"{d['kind']}/{d['metadata']['name']}")
    entry["applied"] = applied
    log("kubectl.log", entry)
    for c in entry["documents"]:
        print(f"{c.lower()} serverside-applied")
elif args[:1] == ["wait"]:
    target = args[-1]
    crds = HERE / "crds.json"
    name = target.split("/", 1)[1]
    if not target.startswith("crd/") or name not in (json.loads(crds.read_text()) if crds.exists() else []):
        fail(f'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "{name}" not found')
    if not HOST["crd_established"]:  # what kubectl says once its --timeout is over (not waited for here)
        fail(f"error: timed out waiting for the condition on customresourcedefinitions/{name}")
    log("kubectl.log", entry)
    print(f"customresourcedefinition.apiextensions.k8s.io/{name} condition met")
elif "rollout" in args and "status" in args:
    ref = args[args.index("status") + 1]
    kind, name = ref.split("/", 1)
    deadline = time.monotonic() + seconds(opt("timeout"))
    base = ROLLOUT[kind].format(ns=namespace())
    try:
        with request("GET", f"{base}/{name}") as r:
            obj = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        fail(f'Error from server (NotFound): {kind}s.apps "{name}" not found')
    rv = obj["metadata"]["resourceVersion"]
    while not rolled_out(kind, obj):
        left = deadline - time.monotonic()
        if left <= 0:
            fail("error: timed out waiting for the condition")
        query = urllib.parse.urlencode({"watch": "true", "resourceVersion": rv, "timeoutSeconds": max(1, int(left)),
                                        "fieldSelector": f"metadata.name={name}"})
        try:
            with request("GET", f"{base}?{query}", timeout=left + 5) as stream:
                for line in stream:
                    ev = json.loads(line)
                    if ev.get("type") in ("ADDED", "MODIFIED"):
                        obj = ev["object"]
                        rv = obj["metadata"]["resourceVersion"]
                        if rolled_out(kind, obj):
                            break
        except (OSError, ValueError):
            pass
    log("kubectl.log", entry)
    print(f'{kind} "{name}" successfully rolled out')
else:
    fail(f"stub kubectl: unsupported {args}")
'''

# The upstream manifests the stub kubectl reads instead of fetching their URLs, cut down to what it
# serves: {version} is the release in the URL (the operator's image tag says what it installs).
MIRROR = {
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
        spec:
          replicas: 2
          selector:
            matchLabels:
              kubevirt.io: virt-operator
          template:
            metadata:
              labels:
                kubevirt.io: virt-operator
            spec:
              containers:
                - name: virt-operator
                  image: quay.io/kubevirt/virt-operator:{version}
        """,
    "rbac-csi-nfs.yaml": """\
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: csi-nfs-controller-sa
          namespace: kube-system
        """,
    "csi-nfs-driverinfo.yaml": """\
        apiVersion: storage.k8s.io/v1
        kind: CSIDriver
        metadata:
          name: nfs.csi.k8s.io
        """,
    "csi-nfs-controller.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: csi-nfs-controller
          namespace: kube-system
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: csi-nfs-controller
          template:
            metadata:
              labels:
                app: csi-nfs-controller
            spec:
              containers:
                - name: nfs
                  image: registry.k8s.io/sig-storage/nfsplugin:v4.13.4
        """,
    "csi-nfs-node.yaml": """\
        apiVersion: apps/v1
        kind: DaemonSet
        metadata:
          name: csi-nfs-node
          namespace: kube-system
        spec:
          selector:
            matchLabels:
              app: csi-nfs-node
          template:
            metadata:
              labels:
                app: csi-nfs-node
            spec:
              containers:
                - name: nfs
                  image: registry.k8s.io/sig-storage/nfsplugin:v4.13.4
        """,
}


def write_script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n" + body)
    path.chmod(0o755)
    return path


@dataclass
class Stubs:
    """A directory of stub executables (the only thing on PATH of the runs), their host and their logs."""

    dir: Path
    kind: Path | None = None

    @classmethod
    def make(cls, where: Path, *, kind: bool = True, docker: bool = True, kubectl: bool = True,
             podman: bool = False) -> "Stubs":
        where.mkdir(parents=True, exist_ok=True)
        s = cls(where)
        if not (where / "host.json").exists():
            s.host()
        if kind:
            s.kind = write_script(where / "kind", STUB_KIND)
        if kubectl:
            write_script(where / "kubectl", STUB_KUBECTL)
        if docker:
            write_script(where / "docker", STUB_RUNTIME)
        if podman:
            write_script(where / "podman", STUB_RUNTIME)
        (where / "mirror").mkdir(exist_ok=True)
        for name, text in MIRROR.items():
            (where / "mirror" / name).write_text(textwrap.dedent(text))
        return s

    @property
    def host_file(self) -> Path:
        return self.dir / "host.json"

    def host(self, **changes: Any) -> dict[str, Any]:
        """Change the stub host (unknown keys are a test bug)."""
        current = json.loads(self.host_file.read_text()) if self.host_file.exists() else dict(HOST)
        unknown = set(changes) - set(HOST)
        assert not unknown, unknown
        current.update(changes)
        self.host_file.write_text(json.dumps(current))
        return current

    def docker_down(self) -> None:
        self.host(docker_down=True)

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
    def podman_calls(self) -> list[list[str]]:
        return self._lines("podman.log")

    @property
    def clusters(self) -> list[str]:
        path = self.dir / "kind-clusters.json"
        return json.loads(path.read_text()) if path.exists() else []
