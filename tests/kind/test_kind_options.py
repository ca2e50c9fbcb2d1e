"""Issue 16 point 5: `vmconform run` accepts the kind options it documents, as real options."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmconform.cli import run_cmd
from vmconform.emulator import EmulatedCluster

from .conftest import Stubs, run_cli


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_cmd.add_parsers(parser.add_subparsers())
    return parser.parse_args(["run", *argv])


def test_the_kind_options_reach_pytest(tmp_path: Path) -> None:
    args = parse("--cluster=kind", "--kind-bin=/k/kind", "--kind-kubectl-bin=/k/kubectl",
                 "--kind-image=kindest/node:v1.34.3", "--kind-cluster-name=lab", "--kind-keep")
    assert run_cmd.validate(args) is None
    argv = run_cmd.pytest_argv(args, tmp_path, tmp_path / "reports")
    for flag in ("--kind-bin=/k/kind", "--kind-kubectl-bin=/k/kubectl", "--kind-image=kindest/node:v1.34.3",
                 "--cluster-name=lab", "--kind-keep", "--kubevirt-emulation=auto"):
        assert flag in argv


@pytest.mark.parametrize("extra", [["--kind-image=x"], ["--kind-cluster-name=lab"], ["--kind-kubectl-bin=/k"]])
def test_kind_options_without_kind_are_refused(extra: list[str]) -> None:
    assert run_cmd.validate(parse(*extra)) == f"{extra[0].split('=')[0]} only apply to --cluster kind (without --kubeconfig)"


def test_vmconform_run_uses_the_given_kubectl_and_node_image(
        project: Path, stubs: Stubs, emulated_kind: EmulatedCluster) -> None:
    shutil.copy(stubs.dir / "kubectl", stubs.dir / "kubectl-1.35")
    (stubs.dir / "kubectl").unlink()  # only the given one exists
    image = "kindest/node:v1.35.0"
    r = run_cli(project, stubs, f"--kind-bin={stubs.kind}", f"--kind-kubectl-bin={stubs.dir / 'kubectl-1.35'}",
                f"--kind-image={image}", "--kind-cluster-name=vmconform")
    assert r.returncode == 0, r.stdout + r.stderr
    create = next(c for c in stubs.kind_calls if c[:2] == ["create", "cluster"])
    assert f"--image={image}" in create and "--name=vmconform" in create
    assert {c["exe"] for c in stubs.kubectl_calls} == {"kubectl-1.35"}


def test_vmconform_run_checks_kubectl_against_the_given_node_image(project: Path, tmp_path: Path) -> None:
    stubs = Stubs.make(tmp_path / "bin")
    r = run_cli(project, stubs, f"--kind-bin={stubs.kind}", "--kind-image=kindest/node:v1.32.1")
    assert r.returncode == 5, r.stdout + r.stderr
    assert r.stderr.strip() == (f"vmconform: cannot run on kind: kubectl {stubs.dir / 'kubectl'} is v1.35.0, more than "
                                "one minor version away from the nodes' Kubernetes v1.32.1: use kubectl v1.31-v1.33 "
                                "(--kind-kubectl-bin)")


def test_vmconform_run_help_lists_the_kind_options() -> None:
    out = subprocess.run([str(Path(sys.executable).with_name("vmconform")), "run", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    for flag in ("--kind-bin", "--kind-kubectl-bin", "--kind-image", "--kind-cluster-name", "--kind-keep",
                 "--kubevirt-emulation"):
        assert flag in out


def test_the_images_are_pinned() -> None:
    from vmconform.kind.plan import load_plan
    from vmconform.session import Settings

    plan = load_plan()
    assert Settings.image == "quay.io/kubevirt/alpine-container-disk-demo:v1.9.0"  # not :latest (built from main)
    assert plan.check_image == "quay.io/kubevirtci/nfs-server-alpine:12"
    assert "@sha256:" in plan.node_image
