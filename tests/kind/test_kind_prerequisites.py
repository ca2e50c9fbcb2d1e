"""What ``--cluster kind`` needs, and the one line (exit code 5) when it is missing."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import Iterator

import pytest

from vmconform.kind import prereq
from vmconform.kind.plan import load_plan
from vmconform.kind.prereq import PrerequisiteMissing, check_prerequisites

from .conftest import Stubs, closed_port_url, run_cli, run_pytest

PLAN = load_plan()
NO_DAEMON = ("docker daemon not reachable (`docker info`: Cannot connect to the Docker daemon at "
             "unix:///var/run/docker.sock. Is the docker daemon running?)")


def one_line(output: str, start: str) -> str:
    lines = [ln for ln in output.splitlines() if start in ln]
    assert len(lines) == 1, output
    return lines[0]


# --------------------------------------------------------------------------- as a user sees it


def test_no_docker_daemon_ends_the_run_with_one_line_and_code_5(project: Path, tmp_path: Path) -> None:
    stubs = Stubs.make(tmp_path / "bin")
    stubs.docker_down()
    r = run_pytest(project, stubs, f"--kind-bin={stubs.kind}")
    assert r.returncode == 5, r.stdout + r.stderr
    line = one_line(r.stdout + r.stderr, "vmconform: cannot run on kind")
    assert f"vmconform: cannot run on kind: {NO_DAEMON}" in line
    assert "Traceback" not in r.stdout + r.stderr
    assert "interrupted" not in r.stdout + r.stderr  # no signal came
    assert [c for c in stubs.kind_calls if c != ["version"]] == []  # nothing was created
    assert [c for c in stubs.kubectl_calls if c["argv"][:1] != ["version"]] == []
    assert not (project / "reports" / "summary.json").exists()  # and no verdict was made up


def test_no_kind_and_no_network_ends_the_run_with_one_line_and_code_5(project: Path, tmp_path: Path) -> None:
    stubs = Stubs.make(tmp_path / "bin", kind=False)
    r = run_pytest(project, stubs)
    assert r.returncode == 5, r.stdout + r.stderr
    line = one_line(r.stdout + r.stderr, "vmconform: cannot run on kind")
    assert "vmconform: cannot run on kind: no kind (--kind-bin not given, none on PATH) and downloading " in line
    assert "/kind-linux-amd64 failed: ConnectionError" in line
    assert "Traceback" not in r.stdout + r.stderr
    assert not (project / ".pytest-kind" / "vmconform" / f"kind-{PLAN.kind_version}").exists()


def test_vmconform_run_says_what_is_missing_before_pytest_starts(project: Path, tmp_path: Path) -> None:
    stubs = Stubs.make(tmp_path / "bin")
    stubs.docker_down()
    r = run_cli(project, stubs, "--kind-bin=/nowhere/kind")
    assert r.returncode == 5, r.stdout + r.stderr
    assert r.stderr.strip() == (f"vmconform: cannot run on kind: {NO_DAEMON}; "
                                "--kind-bin /nowhere/kind is not an executable file")
    assert r.stdout == ""


def test_a_bad_kubevirt_version_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    stubs = Stubs.make(tmp_path / "bin")
    r = run_pytest(project, stubs, "--kubevirt-version=latest")
    assert r.returncode == 4
    assert "argument --kubevirt-version: KubeVirt version must look like v1.9.0, not 'latest'" in r.stderr
    assert stubs.docker_calls == []


# --------------------------------------------------------------------------- the checks themselves


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, dest: Path) -> None:
        raise AssertionError(f"downloaded {url} although it could not have been used")
    monkeypatch.setattr(prereq, "download", refuse)


def test_every_gap_is_named_in_one_message_and_nothing_is_downloaded_without_docker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: None) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PrerequisiteMissing) as exc:
        check_prerequisites(PLAN)
    assert str(exc.value) == ("cannot run on kind: docker not found on PATH (kind runs its nodes as docker "
                              "containers); no kind (--kind-bin not given, none on PATH); "
                              "no kubectl (--kind-kubectl-bin not given, none on PATH)")
    assert exc.value.exit_code == 5 and "\n" not in str(exc.value)


def test_the_runtime_kind_is_told_to_use_is_the_one_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: None) -> None:
    stubs = Stubs.make(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(stubs.dir))
    monkeypatch.setenv("KIND_EXPERIMENTAL_PROVIDER", "podman")
    with pytest.raises(PrerequisiteMissing, match=r"^cannot run on kind: podman not found on PATH \(kind runs its "
                                                  r"nodes as podman containers\)$"):
        check_prerequisites(PLAN, kind_bin=str(stubs.kind))


def test_tools_come_from_the_flags_then_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             no_download: None) -> None:
    stubs = Stubs.make(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(stubs.dir))
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    tools = check_prerequisites(PLAN)
    assert (str(tools.runtime), tools.kind, tools.kubectl) == ("docker 28.2.2", stubs.dir / "kind", stubs.dir / "kubectl")
    other = tmp_path / "other-kind"
    other.write_text("#!/bin/sh\necho kind v0.31.1 go1.25.5 linux/amd64\n")
    other.chmod(0o755)
    assert check_prerequisites(PLAN, kind_bin=str(other)).kind == other


@pytest.fixture
def kind_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server handing out a 'kind' binary; yields its URL and the paths it served."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            hits.append(self.path)
            body = b"#!/bin/sh\necho kind v0.31.0\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/kind-linux-amd64", hits
    finally:
        server.shutdown()
        server.server_close()


def test_kind_is_downloaded_into_pytest_kinds_cache_only_when_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind_server: tuple[str, list[str]]) -> None:
    url, hits = kind_server
    stubs = Stubs.make(tmp_path / "bin", kind=False)
    monkeypatch.setenv("PATH", str(stubs.dir))
    monkeypatch.setenv("KIND_DOWNLOAD_URL", url)
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    first = check_prerequisites(PLAN, progress=said.append)
    cached = tmp_path / ".pytest-kind" / "vmconform" / f"kind-{PLAN.kind_version}"
    assert first.kind == cached and cached.stat().st_mode & 0o111
    assert said == [f"no kind given or on PATH: downloading {url}"]
    assert check_prerequisites(PLAN).kind == cached
    assert hits == ["/kind-linux-amd64"]  # once


def test_a_failed_download_names_the_url_and_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stubs = Stubs.make(tmp_path / "bin", kind=False)
    url = closed_port_url()
    monkeypatch.setenv("PATH", str(stubs.dir))
    monkeypatch.setenv("KIND_DOWNLOAD_URL", url)
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PrerequisiteMissing) as exc:
        check_prerequisites(PLAN)
    assert str(exc.value) == (f"cannot run on kind: no kind (--kind-bin not given, none on PATH) and downloading "
                              f"{url} failed: ConnectionError")


# --------------------------------------------------------------------------- options


def test_the_kubevirt_version_changes_the_operator_url_and_the_cr_is_ours() -> None:
    plan = load_plan("v1.8.4")
    assert plan.kubevirt_operator == "https://github.com/kubevirt/kubevirt/releases/download/v1.8.4/kubevirt-operator.yaml"
    assert plan.kubevirt_cr == str(plan.directory / "kubevirt" / "kubevirt-cr.yaml")
    assert PLAN.kubevirt_version == "v1.9.0" and PLAN.workers == 2
