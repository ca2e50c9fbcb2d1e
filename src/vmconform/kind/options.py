"""The kind backend's own pytest options, and how it reads pytest-kind's.

plugin.py's ``pytest_addoption`` calls :func:`add_kind_options`. The module is also a pytest plugin
of its own (``-p vmconform.kind.options``) with the same hook; adding twice is harmless.

pytest-kind (installed beside us) defines ``--kind-bin``, ``--kind-kubectl-bin``, ``--kind-image``,
``--cluster-name`` and ``--keep-cluster``; they are read here, never redefined. Its ``--kubeconfig``
means "a real cluster" to vmconform, so the kind backend does not use it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pytest

from .plan import PlanError, check_version

GROUP = "vmconform"
EMULATION_CHOICES = ("auto", "on", "off")
PYTEST_KIND_DEFAULT_NAME = "pytest-kind"
DEFAULT_CLUSTER_NAME = "vmconform"


def _kubevirt_version(text: str) -> str:
    try:
        return check_version(text)
    except PlanError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_kind_options(parser: pytest.Parser) -> None:
    """Add ``--kubevirt-version`` and ``--kubevirt-emulation`` to the vmconform option group."""
    group = parser.getgroup(GROUP, "vmconform conformance suite")
    existing = {name for opt in group.options for name in opt.names()}

    def add(name: str, **kwargs: Any) -> None:
        if name not in existing:
            group.addoption(name, **kwargs)

    add("--kubevirt-version", default=None, type=_kubevirt_version, metavar="vX.Y.Z",
        help="KubeVirt release: with --cluster kind the one to install (default: pinned in "
             "clusters/kind/install.yaml); on the emulated cluster the release profile to emulate (default v1.9.0)")
    add("--kubevirt-emulation", default="auto", choices=EMULATION_CHOICES,
        help="with --cluster kind: KubeVirt's useEmulation (QEMU without KVM): auto (default: on unless "
             "every worker node has /dev/kvm and /dev/vhost-net), on or off")


pytest_addoption = add_kind_options


@dataclass(frozen=True)
class KindOptions:
    name: str = DEFAULT_CLUSTER_NAME
    keep: bool = False
    kind_bin: str | None = None
    kubectl_bin: str | None = None
    image: str | None = None
    kubevirt_version: str | None = None
    emulation: str = "auto"


def kind_options(config: pytest.Config) -> KindOptions:
    def opt(name: str, default: Any = None) -> Any:
        try:
            value = config.getoption(name)
        except (ValueError, AttributeError):
            return default
        return default if value is None else value

    name = opt("cluster_name", DEFAULT_CLUSTER_NAME)
    if name == PYTEST_KIND_DEFAULT_NAME:
        name = DEFAULT_CLUSTER_NAME  # our own name: never pick up another project's pytest-kind cluster
    return KindOptions(
        name=name, keep=bool(opt("kind_keep", False) or opt("keep_cluster", False)),
        kind_bin=opt("kind_bin"), kubectl_bin=opt("kind_kubectl_bin"), image=opt("kind_image"),
        kubevirt_version=opt("kubevirt_version"), emulation=opt("kubevirt_emulation", "auto"),
    )
