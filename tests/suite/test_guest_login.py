"""Operator settings are not cluster failures: the serial-console login of the @guest scenarios.

The emulated guests follow the image name: Alpine logs root in without a password, Cirros asks for
one, and an image named ``…autologin…`` starts with its console already logged in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vmconform import verdict
from vmconform.cli import exitcodes

from .conftest import ROOT

SCENARIO = "Guest_pause_keeps_memory"


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([sys.executable, "-m", "vmconform", "run", "--no-html", "--report-dir", str(tmp_path),
                           "-k", SCENARIO, "--timeout-scale", "0.1", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    return proc.returncode, summary, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("image, user, password", [
    # the console is already logged in: the given login is not needed
    ("quay.io/example/alpine-autologin", "fedora", "anything"),
    # root logs in without a password prompt although a password was given
    ("quay.io/kubevirt/alpine-container-disk-demo", "root", "secret"),
], ids=["already-logged-in", "no-password-prompt"])
def test_a_login_the_guest_does_not_need_still_verifies(image: str, user: str, password: str, tmp_path: Path) -> None:
    code, summary, out = run(tmp_path, "--vm-image", image, "--guest-user", user, "--guest-password", password)
    assert code == exitcodes.CONFORMANT, out
    assert [b["status"] for b in summary["behaviours"]] == [verdict.VERIFIED]


def test_refused_credentials_are_not_verified_never_violated(tmp_path: Path) -> None:
    code, summary, out = run(tmp_path, "--vm-image", "quay.io/kubevirt/cirros-container-disk-demo",
                             "--guest-user", "cirros", "--guest-password", "wrong")
    assert code == exitcodes.INCOMPLETE, out
    [b] = summary["behaviours"]
    assert b["status"] == verdict.NOT_VERIFIED
    assert "refused the login as 'cirros'" in b["reason"] and "--guest-password" in b["reason"], b["reason"]
