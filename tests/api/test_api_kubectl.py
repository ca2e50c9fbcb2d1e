"""kubectl 1.32 as a subprocess against ``vmconform emulator`` (itself a subprocess), with the
kubeconfig it writes and no workaround flags; plus discovery-request counts on an in-process cluster."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from vmconform.emulator import EmulatedCluster, Options

from .conftest import KUBECTL, TESTVM, VM_PATH, Http, Kubectl, LineReader, stop, unique

pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed")

VM_HEADER = ["NAME", "AGE", "STATUS", "READY"]


def vmconform_exe() -> str:
    exe = Path(sys.executable).with_name("vmconform")
    return str(exe) if exe.exists() else (shutil.which("vmconform") or "vmconform")


class EmulatorProcess:
    def __init__(self, proc: subprocess.Popen[str], kubeconfig: Path, ready: str, out: LineReader) -> None:
        self.proc = proc
        self.kubeconfig = kubeconfig
        self.ready = ready
        self.out = out


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """``vmconform emulator --write-kubeconfig PATH``: one ready line, then serves until SIGTERM."""
    workdir = tmp_path_factory.mktemp("emulator")
    kubeconfig = workdir / "kubeconfig"
    proc = subprocess.Popen([vmconform_exe(), "emulator", "--write-kubeconfig", str(kubeconfig)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir)
    out = LineReader(proc.stdout)  # type: ignore[arg-type]
    try:
        ready = out.next(timeout=60)
        assert ready is not None and "ready" in ready, (ready, proc.stderr.read() if proc.poll() is not None else "")
        assert kubeconfig.exists()
        yield EmulatorProcess(proc, kubeconfig, ready, out)
    except BaseException:
        stop(proc)
        raise
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=20)
    finally:
        stop(proc)
    rest = []
    while (line := out.next(timeout=5)) is not None:
        rest.append(line)
    assert rc == 0, f"vmconform emulator exited {rc} on SIGTERM"
    assert "stopped" in " ".join(rest)


@pytest.fixture
def kubectl(emulator: EmulatorProcess, tmp_path: Path) -> Kubectl:
    return Kubectl(emulator.kubeconfig, tmp_path / "home")


@pytest.fixture
def kns(kubectl: Kubectl) -> str:
    """A namespace of its own for each kubectl test (made with kubectl)."""
    name = unique("k")
    assert kubectl("create", "namespace", name).stdout.strip() == f"namespace/{name} created"
    return name


@pytest.fixture
def remote(emulator: EmulatorProcess, tmp_path: Path) -> Http:
    return Http.from_kubeconfig(emulator.kubeconfig, tmp_path)


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def vm_json(kubectl: Kubectl, ns: str, name: str = "testvm") -> dict[str, Any]:
    return json.loads(kubectl("get", "vm", name, "-n", ns, "-o", "json").stdout)


# ---------------------------------------------------------------- the standalone command


def test_ready_line_and_kubeconfig(emulator: EmulatorProcess, kubectl: Kubectl) -> None:
    assert emulator.ready.startswith("vmconform emulator ready at https://127.0.0.1:")
    mode = emulator.kubeconfig.stat().st_mode & 0o777
    assert mode == 0o600
    text = emulator.kubeconfig.read_text()
    assert "certificate-authority-data" in text and "insecure-skip-tls-verify" not in text
    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["major"] == "1" and version["serverVersion"]["minor"] == "32"


def test_sigint_exits_cleanly(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen([vmconform_exe(), "emulator", "--write-kubeconfig", str(kubeconfig), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = LineReader(proc.stdout)  # type: ignore[arg-type]
        assert "ready" in (out.next(timeout=60) or "")
        # One answered request proves the server loop (and its signal handlers) is running:
        # `vmconform emulator` prints the ready line just before it installs them.
        assert Http.from_kubeconfig(kubeconfig, tmp_path).get("/version").status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        stop(proc)


# ---------------------------------------------------------------- kubectl


def test_apply_create_unchanged_and_server_side(kubectl: Kubectl, kns: str) -> None:
    out = kubectl("apply", "-n", kns, "-f", str(TESTVM))
    assert out.stdout.strip() == "virtualmachine.kubevirt.io/testvm created"
    out = kubectl("apply", "-n", kns, "-f", str(TESTVM))
    assert out.stdout.strip() == "virtualmachine.kubevirt.io/testvm unchanged"
    assert vm_json(kubectl, kns)["metadata"]["generation"] == 1

    changed = json.loads(TESTVM.read_text())
    changed["metadata"]["labels"] = {"applied": "twice"}
    out = kubectl("apply", "-n", kns, "-f", "-", input=json.dumps(changed))
    assert out.stdout.strip() == "virtualmachine.kubevirt.io/testvm configured"

    out = kubectl("apply", "--server-side", "-n", kns, "-f", str(TESTVM))
    assert out.stdout.strip() == "virtualmachine.kubevirt.io/testvm serverside-applied"
    vm = vm_json(kubectl, kns)
    assert vm["spec"]["runStrategy"] == "Halted"
    assert vm["metadata"]["labels"] == {"applied": "twice"}


def test_get_vm_short_name_and_columns(kubectl: Kubectl, kns: str) -> None:
    out = kubectl("get", "vm", "-n", kns)
    assert "No resources found" in out.stderr
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    for name in ("vm", "vms", "virtualmachine", "virtualmachines", "virtualmachines.kubevirt.io"):
        table = rows(kubectl("get", name, "-n", kns).stdout)
        assert table[0] == VM_HEADER, name
        assert table[1][0] == "testvm"
        assert table[1][1][-1] in "smhd"  # a humanised age such as 3s
    assert kubectl("get", "vm", "testvm", "-n", kns, "-o", "name").stdout.strip() == \
        "virtualmachine.kubevirt.io/testvm"
    assert kubectl("get", "vm", "testvm", "-n", kns, "-o", "jsonpath={.spec.runStrategy}").stdout == "Halted"
    out = kubectl("get", "vm", "missing", "-n", kns, check=False)
    assert out.returncode == 1
    assert 'virtualmachines.kubevirt.io "missing" not found' in out.stderr


def test_get_all_namespaces(kubectl: Kubectl, kns: str) -> None:
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    table = rows(kubectl("get", "vm", "-A").stdout)
    assert table[0] == ["NAMESPACE", *VM_HEADER]
    assert [kns, "testvm"] in [r[:2] for r in table[1:]]
    table = rows(kubectl("get", "namespaces").stdout)
    assert table[0] == ["NAME", "STATUS", "AGE"] and [kns, "Active"] in [r[:2] for r in table]
    out = kubectl("get", "all", "-A").stdout
    assert "virtualmachine.kubevirt.io/testvm" in out and kns in out


def test_patch_merge_json_and_status(kubectl: Kubectl, kns: str) -> None:
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    out = kubectl("patch", "vm", "testvm", "-n", kns, "--type=merge", "-p", '{"spec":{"runStrategy":"Manual"}}')
    assert out.stdout.strip() == "virtualmachine.kubevirt.io/testvm patched"
    vm = vm_json(kubectl, kns)
    assert vm["spec"]["runStrategy"] == "Manual" and vm["metadata"]["generation"] == 2

    kubectl("patch", "vm", "testvm", "-n", kns, "--type=json",
            "-p", '[{"op":"replace","path":"/spec/runStrategy","value":"Halted"}]')
    assert vm_json(kubectl, kns)["spec"]["runStrategy"] == "Halted"

    # The status subresource takes .status only.
    kubectl("patch", "vm", "testvm", "-n", kns, "--subresource=status", "--type=merge",
            "-p", '{"status":{"printableStatus":"Stopped"},"spec":{"runStrategy":"Always"}}')
    vm = vm_json(kubectl, kns)
    assert vm["status"]["printableStatus"] == "Stopped"
    assert vm["spec"]["runStrategy"] == "Halted" and vm["metadata"]["generation"] == 3
    assert rows(kubectl("get", "vm", "testvm", "-n", kns).stdout)[1][2] == "Stopped"

    # kubectl patch defaults to a strategic merge patch, which a custom resource refuses with 415.
    out = kubectl("patch", "vm", "testvm", "-n", kns, "-p", '{"spec":{"runStrategy":"Always"}}', check=False)
    assert out.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in out.stderr
    assert vm_json(kubectl, kns)["spec"]["runStrategy"] == "Halted"


def test_label_and_selectors(kubectl: Kubectl, kns: str) -> None:
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    assert kubectl("label", "vm", "testvm", "-n", kns, "env=test").stdout.strip() == \
        "virtualmachine.kubevirt.io/testvm labeled"
    assert rows(kubectl("get", "vm", "-n", kns, "-l", "env=test").stdout)[1][0] == "testvm"
    assert "No resources found" in kubectl("get", "vm", "-n", kns, "-l", "env=prod").stderr
    out = kubectl("label", "vm", "testvm", "-n", kns, "env=prod", check=False)
    assert out.returncode != 0 and "--overwrite" in out.stderr
    kubectl("label", "vm", "testvm", "-n", kns, "env=prod", "--overwrite")
    kubectl("label", "vm", "testvm", "-n", kns, "env-")
    assert not vm_json(kubectl, kns)["metadata"].get("labels")


def test_describe(kubectl: Kubectl, kns: str) -> None:
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    out = kubectl("describe", "vm", "testvm", "-n", kns).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if line and not line.startswith(" "))
    assert fields["Name"].strip() == "testvm"
    assert fields["Namespace"].strip() == kns
    assert fields["API Version"].strip() == "kubevirt.io/v1"
    assert fields["Kind"].strip() == "VirtualMachine"
    assert "Run Strategy:  Halted" in out
    assert "quay.io/kubevirt/cirros-container-disk-demo" in out
    assert fields["Events"].strip() == "<none>"


def test_wait_for_jsonpath(kubectl: Kubectl, kns: str) -> None:
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    waiter = kubectl.popen("wait", "vm/testvm", "-n", kns,
                           "--for=jsonpath={.metadata.labels.stage}=done", "--timeout=30s")
    try:
        kubectl("label", "vm", "testvm", "-n", kns, "stage=started")
        kubectl("label", "vm", "testvm", "-n", kns, "stage=done", "--overwrite")
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, err
        assert out.strip() == "virtualmachine.kubevirt.io/testvm condition met"
    finally:
        stop(waiter)
    # On something already true it returns at once; on something never true it times out.
    kubectl("patch", "vm", "testvm", "-n", kns, "--subresource=status", "--type=merge",
            "-p", '{"status":{"printableStatus":"Stopped"}}')
    out = kubectl("wait", "vm/testvm", "-n", kns, "--for=jsonpath={.status.printableStatus}=Stopped",
                  "--timeout=10s")
    assert "condition met" in out.stdout
    out = kubectl("wait", "vm/testvm", "-n", kns, "--for=jsonpath={.metadata.labels.stage}=never",
                  "--timeout=1s", check=False)
    assert out.returncode != 0 and "timed out" in out.stderr


def test_get_watch_streams_changes(kubectl: Kubectl, kns: str) -> None:
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    proc = kubectl.popen("get", "vm", "-n", kns, "-w")
    try:
        lines = LineReader(proc.stdout)  # type: ignore[arg-type]
        assert lines.next(timeout=15).split() == VM_HEADER  # type: ignore[union-attr]
        assert lines.next(timeout=15).split()[0] == "testvm"  # type: ignore[union-attr]
        # A value of our own (KubeVirt controllers, when present, manage the usual ones); each event
        # is a row, so it shows even if a controller puts its own value back afterwards.
        kubectl("patch", "vm", "testvm", "-n", kns, "--subresource=status", "--type=merge",
                "-p", '{"status":{"printableStatus":"WatchProbe"}}')
        row = lines.until(lambda line: "WatchProbe" in line.split(), timeout=15)
        assert row.split()[0] == "testvm"
        other = json.loads(TESTVM.read_text())
        other["metadata"]["name"] = "testvm-2"
        kubectl("apply", "-n", kns, "-f", "-", input=json.dumps(other))
        assert lines.until(lambda line: line.split()[0] == "testvm-2", timeout=15)
        kubectl("delete", "vm", "testvm-2", "-n", kns)
        lines.until(lambda line: line.split()[0] == "testvm-2", timeout=15)
        assert proc.poll() is None  # still streaming
    finally:
        stop(proc)


def test_delete_waits_for_finalizers(kubectl: Kubectl, kns: str, remote: Http) -> None:
    body = json.loads(TESTVM.read_text())
    body["metadata"]["finalizers"] = ["vmconform.test/hold"]
    kubectl("apply", "-n", kns, "-f", "-", input=json.dumps(body))
    rv = vm_json(kubectl, kns)["metadata"]["resourceVersion"]
    deleter = kubectl.popen("delete", "vm", "testvm", "-n", kns, "--timeout=30s")
    try:
        with remote.watch(VM_PATH.format(ns=kns), {"resourceVersion": rv}, timeout=20) as w:
            ev = w.until(lambda e: bool(e["object"]["metadata"].get("deletionTimestamp")))
        assert ev["type"] == "MODIFIED"
        assert deleter.poll() is None  # kubectl waits while the finalizer holds the VM
        kubectl("patch", "vm", "testvm", "-n", kns, "--type=json",
                "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        out, err = deleter.communicate(timeout=30)
        assert deleter.returncode == 0, err
        assert out.strip() == 'virtualmachine.kubevirt.io "testvm" deleted'
    finally:
        stop(deleter)
    out = kubectl("get", "vm", "testvm", "-n", kns, check=False)
    assert out.returncode == 1 and "not found" in out.stderr


def test_delete_by_file_and_namespace(kubectl: Kubectl, kns: str) -> None:
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    out = kubectl("delete", "-n", kns, "-f", str(TESTVM))
    assert out.stdout.strip() == 'virtualmachine.kubevirt.io "testvm" deleted'
    kubectl("apply", "-n", kns, "-f", str(TESTVM))
    out = kubectl("delete", "namespace", kns, "--timeout=30s")
    assert out.stdout.strip() == f'namespace "{kns}" deleted'
    assert kubectl("get", "namespace", kns, check=False).returncode == 1


def test_typed_commands_send_protobuf(cluster: EmulatedCluster, tmp_path: Path) -> None:
    """kubectl's typed clients (create namespace, run, auth can-i) send protobuf bodies."""
    assert cluster.kubeconfig_path is not None
    k = Kubectl(cluster.kubeconfig_path, tmp_path / "home")
    ns = unique("pb")
    assert k("create", "namespace", ns).stdout.strip() == f"namespace/{ns} created"
    out = k("run", "shell", "-n", ns, "--image=busybox", "--labels=app=shell", "--env=GREETING=hi",
            "--port=8080", "--restart=Never", "--command", "--", "sleep", "3600")
    assert out.stdout.strip() == "pod/shell created"
    pod = json.loads(k("get", "pod", "shell", "-n", ns, "-o", "json").stdout)
    assert pod["metadata"]["labels"] == {"app": "shell"}
    container = pod["spec"]["containers"][0]
    assert container["name"] == "shell" and container["image"] == "busybox"
    assert container["command"] == ["sleep", "3600"]
    assert container["env"] == [{"name": "GREETING", "value": "hi"}]
    assert container["ports"][0]["containerPort"] == 8080
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["status"]["phase"] == "Pending"
    assert rows(k("get", "pods", "-n", ns).stdout)[1][:3] == ["shell", "0/1", "Pending"]
    assert k("auth", "can-i", "create", "virtualmachines.kubevirt.io", "-n", ns).stdout.strip() == "yes"
    out = k("create", "namespace", "Bad_Name", check=False)
    assert out.returncode != 0 and "Invalid" in out.stderr
    k("delete", "namespace", ns)


# ---------------------------------------------------------------- discovery requests per command


def is_discovery(path: str) -> bool:
    parts = path.strip("/").split("/")
    return (parts == ["api"] or parts == ["apis"] or parts == ["api", "v1"]
            or (parts[0] == "apis" and len(parts) == 3))


def test_each_kubectl_command_makes_at_most_two_discovery_requests(tmp_path: Path) -> None:
    """The issue's lab flow on an in-process emulator, every command with a cold cache."""
    with EmulatedCluster(Options(), kubeconfig_path=tmp_path / "kubeconfig", controllers=[]) as c:
        api = c.emulator.api  # type: ignore[union-attr]
        counter = iter(range(1000))
        others: set[int] = set()  # requests made by run(), told apart from the background wait's

        def run(*args: str, check: bool = True, input: str | None = None) -> list[Any]:
            k = Kubectl(tmp_path / "kubeconfig", tmp_path / f"home{next(counter)}")  # cold cache each time
            before = len(api.requests)
            k(*args, check=check, input=input)
            made = list(api.requests)[before:]
            others.update(id(r) for r in made)
            found = [r.path for r in made if is_discovery(r.path)]
            assert len(found) <= 2, (args, found)
            return made

        run("create", "namespace", "lab")
        made = run("apply", "-n", "lab", "-f", str(TESTVM))
        assert any(r.method == "POST" and r.status == 201 for r in made)
        run("apply", "-n", "lab", "-f", str(TESTVM))
        run("apply", "--server-side", "-n", "lab", "-f", str(TESTVM))
        run("get", "vm", "-n", "lab")
        run("get", "vm", "-A")
        run("get", "vms", "testvm", "-n", "lab", "-o", "yaml")
        run("patch", "vm", "testvm", "-n", "lab", "--type=merge", "-p", '{"spec":{"runStrategy":"Halted"}}')
        run("patch", "vm", "testvm", "-n", "lab", "--type=json",
            "-p", '[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]')
        run("patch", "vm", "testvm", "-n", "lab", "--subresource=status", "--type=merge",
            "-p", '{"status":{"printableStatus":"Stopped"}}')
        run("label", "vm", "testvm", "-n", "lab", "stage=done")
        run("describe", "vm", "testvm", "-n", "lab")

        # kubectl wait: let the label land only once its watch is open, so the watch must deliver it.
        watching = threading.Event()

        def on_request(request: Any) -> None:
            if request.query.get("watch") == "true" and "metadata.name=testvm" in request.query.get("fieldSelector", ""):
                watching.set()

        api.request_faults.append(on_request)
        try:
            k = Kubectl(tmp_path / "kubeconfig", tmp_path / "home-wait")
            before = len(api.requests)
            waiter = k.popen("wait", "vm/testvm", "-n", "lab", "--for=jsonpath={.metadata.labels.ready}=yes",
                             "--timeout=30s")
            try:
                assert watching.wait(30), "kubectl wait never opened a watch"
                assert waiter.poll() is None
                run("label", "vm", "testvm", "-n", "lab", "ready=yes")
                out, err = waiter.communicate(timeout=30)
                assert waiter.returncode == 0, err
                assert "condition met" in out
            finally:
                stop(waiter)
            wait_requests = [r for r in list(api.requests)[before:]
                             if r.user_agent.startswith("kubectl/") and id(r) not in others]
            assert len([r for r in wait_requests if is_discovery(r.path)]) <= 2
        finally:
            api.request_faults.remove(on_request)

        made = run("delete", "vm", "testvm", "-n", "lab")
        assert [r.method for r in made if r.path.endswith("/virtualmachines/testvm")] == ["DELETE", "GET"]
        run("delete", "namespace", "lab")
        # The flow made use of aggregated discovery: no legacy per-group-version documents.
        assert not [r for r in api.requests if r.path in ("/api/v1", "/apis/kubevirt.io/v1")
                    and r.user_agent.startswith("kubectl/")]
