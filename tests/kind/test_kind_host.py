"""Issue 16 point 2: every host prerequisite is checked, each one line, exit code 5."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmconform.emulator import EmulatedCluster
from vmconform.emulator.resources import KUBEVIRTS
from vmconform.kind import prereq
from vmconform.kind.plan import load_plan
from vmconform.kind.prereq import PrerequisiteMissing, check_prerequisites

from .conftest import WORKERS, Stubs, run_pytest

PLAN = load_plan()
DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stubs:
    """Stub docker, kind and kubectl on PATH (and nothing else); no download may happen."""
    stubs = Stubs.make(tmp_path / "bin", podman=True)
    monkeypatch.setenv("PATH", str(stubs.dir))
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.chdir(tmp_path)

    def refuse(url: str, dest: Path) -> None:
        raise AssertionError(f"downloaded {url}")
    monkeypatch.setattr(prereq, "download", refuse)
    return stubs


def problem(**kwargs: object) -> str:
    with pytest.raises(PrerequisiteMissing) as exc:
        check_prerequisites(PLAN, **kwargs)  # type: ignore[arg-type]
    assert exc.value.exit_code == 5 and "\n" not in str(exc.value)
    return str(exc.value)


def test_an_old_docker_cli_with_the_daemon_down_is_not_taken_for_a_daemon(on_path: Stubs) -> None:
    on_path.host(docker_down=True, old_cli=True)  # `docker info --format` exits 0, ServerVersion empty
    assert problem() == f"cannot run on kind: docker daemon not reachable (`docker info`: {DOWN})"


def test_a_cgroup_v1_host_is_refused(on_path: Stubs) -> None:
    on_path.host(cgroup="1")
    assert problem() == ("cannot run on kind: the docker host uses cgroup v1 (`docker info` CgroupVersion); "
                         "Kubernetes 1.35's kubelet in kind's nodes refuses cgroup v1: use a host with cgroup v2 "
                         "(e.g. Ubuntu 22.04+, Debian 11+, RHEL/Rocky 9+; not Ubuntu 20.04, RHEL 8, CentOS 7)")


def test_rootless_runtimes_are_refused_with_the_reason(on_path: Stubs, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path.host(rootless=True)
    reason = "the in-cluster NFS server is the kernel's nfsd and needs a rootful, really privileged container"
    assert problem() == f"cannot run on kind: rootless docker cannot be used: {reason}; use the rootful daemon"
    monkeypatch.setenv("KIND_EXPERIMENTAL_PROVIDER", "podman")
    assert problem() == (f"cannot run on kind: rootless podman cannot be used: {reason}; run as root "
                         "(sudo KIND_EXPERIMENTAL_PROVIDER=podman vmconform run --cluster kind ...)")
    assert on_path.podman_calls[-1] == ["info", "--format", "json"]
    on_path.host(rootless=False)
    assert str(check_prerequisites(PLAN).runtime) == "podman 5.4.2"  # rootful podman is fine


def test_an_old_kind_on_path_is_refused(on_path: Stubs) -> None:
    on_path.host(kind_version="v0.29.0")
    assert problem() == (f"cannot run on kind: kind {on_path.dir / 'kind'} is v0.29.0, older than v0.31.0 "
                         "(needed for the pinned node image): install kind v0.31.0 or give --kind-bin")


def test_kubectl_must_be_within_one_minor_of_the_nodes(on_path: Stubs) -> None:
    on_path.host(kubectl_version="v1.33.4")
    assert problem() == (f"cannot run on kind: kubectl {on_path.dir / 'kubectl'} is v1.33.4, more than one minor "
                         "version away from the nodes' Kubernetes v1.35.0: use kubectl v1.34-v1.36 (--kind-kubectl-bin)")
    on_path.host(kubectl_version="v1.34.2")
    assert check_prerequisites(PLAN).kubectl == on_path.dir / "kubectl"
    # another node image moves the window
    assert "nodes' Kubernetes v1.32.1" in problem(image="kindest/node:v1.32.1")


def test_every_gap_of_the_host_is_in_the_one_line(on_path: Stubs) -> None:
    on_path.host(cgroup="1", rootless=True, kind_version="v0.20.0", kubectl_version="v1.30.0")
    text = problem()
    for part in ("cgroup v1", "rootless docker", "kind " + str(on_path.dir / "kind") + " is v0.20.0",
                 "kubectl " + str(on_path.dir / "kubectl") + " is v1.30.0"):
        assert part in text


def test_low_inotify_limits_on_the_docker_host_end_the_run_with_code_5(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    stubs.host(inotify={"max_user_watches": 8192, "max_user_instances": 128})
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}")
    assert r.returncode == 5, r.stdout + r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "vmconform: cannot run on kind" in ln]
    assert len(lines) == 1 and ("vmconform: cannot run on kind: inotify limits too low on the docker host "
                                "(fs.inotify.max_user_instances=128, fs.inotify.max_user_watches=8192; kind needs at "
                                "least 524288 watches and 512 instances): sudo sysctl "
                                "fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 on the docker "
                                "host") in lines[0], r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert stubs.clusters == []  # the cluster this run created is gone again


@pytest.mark.parametrize(("devices", "emulation"), [(["kvm", "vhost-net"], False), (["kvm"], True), ([], True)],
                         ids=["kvm+vhost-net", "no-vhost-net", "none"])
def test_use_emulation_follows_the_devices_inside_the_workers(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster, devices: list[str], emulation: bool) -> None:
    stubs.host(devices=devices)
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}")
    assert r.returncode == 0, r.stdout + r.stderr
    kv = emulated_kind.call(lambda: emulated_kind.store.peek(KUBEVIRTS, "kubevirt", "kubevirt"))
    assert kv["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is emulation
    assert [c[:2] for c in stubs.docker_calls if c[0] == "exec"] == [["exec", w] for w in WORKERS]
    if emulation:
        missing = [f"/dev/{d}" for d in ("kvm", "vhost-net") if d not in devices]
        assert f"{WORKERS[0]}: no {', '.join(missing)}" in r.stderr
        assert "timeout scale 1 -> 3" in r.stderr
