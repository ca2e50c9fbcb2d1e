"""Running the suite inside the cluster: ``vmconform manifests`` (what to apply), ``vmconform job``
(what the Job's pod runs) and ``vmconform collect`` (the results, back from the pod's log).

The pod prints its report directory (summary, JUnit, Allure results) as a base64 tar.gz between two
marker lines at the end of its log; ``collect`` finds them, unpacks the reports and exits with the
run's own exit code. ``vmconform job --sonobuoy`` instead leaves the reports where Sonobuoy's worker
collects them (``$SONOBUOY_RESULTS_DIR``, the ``done`` file naming the directory to send).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .. import __version__, incluster, permissions
from . import exitcodes

BEGIN = "----- BEGIN VMCONFORM RESULTS -----"
END = "----- END VMCONFORM RESULTS -----"
EXIT_FILE = "exit-code"
BEHAVIOURS_XML = "behaviours.xml"  # JUnit by lab behaviour (Sonobuoy reads this one)
NAME = "vmconform"
DEFAULT_IMAGE = f"vmconform:{__version__}"
SONOBUOY_RESULTS_DIR = "/tmp/sonobuoy/results"  # sonobuoy pkg/plugin/constants.go ResultsDir @ v0.57.5
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "conformance-run"}


def add_parsers(sub: Any) -> None:
    m = sub.add_parser("manifests", help="print what runs the suite as a Job inside the cluster (kubectl apply -f -)")
    m.add_argument("--namespace", default=NAME, help=f"namespace of the service account and the Job (default {NAME})")
    m.add_argument("--image", default=DEFAULT_IMAGE, help=f"the suite's image, built from the Containerfile "
                                                          f"(default {DEFAULT_IMAGE})")
    m.add_argument("--run-arg", action="append", default=[], metavar="ARG",
                   help="an option for `vmconform run` in the Job (repeatable), e.g. --run-arg=--rwx-storage-class=cephfs")
    m.set_defaults(func=manifests)

    j = sub.add_parser("job", help="inside a pod: run the suite with the pod's service account and hand back the reports")
    j.add_argument("--report-dir", default=None, help="where the reports are written (default: a temporary directory)")
    j.add_argument("--sonobuoy", action="store_true",
                   help="as a Sonobuoy plugin: reports into $SONOBUOY_RESULTS_DIR, then its done file")
    j.add_argument("run_args", nargs="*", help="options for `vmconform run` (after --)")
    j.set_defaults(func=job)

    c = sub.add_parser("collect", help="unpack the reports a `vmconform job` printed in its log")
    c.add_argument("log", nargs="?", default=None,
                   help="the pod's log (a file, or - for stdin); without it, read from the Job's pod via the API")
    c.add_argument("--out", default="reports", help="where to unpack the reports (default reports)")
    c.add_argument("--kubeconfig", default=None)
    c.add_argument("--context", default=None)
    c.add_argument("--namespace", default=NAME)
    c.add_argument("--job", default=NAME, help=f"the Job's name (default {NAME})")
    c.set_defaults(func=collect)


# ------------------------------------------------------------------ manifests

def documents(namespace: str, image: str, run_args: list[str]) -> list[dict[str, Any]]:
    labels = dict(LABELS)
    role = permissions.cluster_role()
    role["metadata"]["labels"].update(labels)
    container = {
        "name": NAME, "image": image, "command": [NAME],
        "args": ["job", "--", *run_args],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True},
        "env": [{"name": "PYTEST_ADDOPTS", "value": "-p no:cacheprovider"}],  # the image is read-only
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": namespace, "labels": labels}},
        role,
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"{NAME}-{namespace}", "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
         "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 86400, "template": {
             "metadata": {"labels": labels},
             "spec": {"serviceAccountName": NAME, "restartPolicy": "Never",
                      "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                      "containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]}}}},
    ]


def manifests(args: argparse.Namespace) -> int:
    from ..emulator.validation.meta import name_causes

    if name_causes({"name": args.namespace}, "label"):
        print(f"vmconform: error: --namespace {args.namespace!r} is not a valid namespace name", file=sys.stderr)
        return exitcodes.USAGE
    if not args.image.strip() or any(c.isspace() for c in args.image):
        print(f"vmconform: error: --image {args.image!r} is not an image reference", file=sys.stderr)
        return exitcodes.USAGE
    sys.stdout.write(yaml.safe_dump_all(documents(args.namespace, args.image, args.run_arg), sort_keys=False))
    return 0


# ------------------------------------------------------------------ job (inside the pod)

def _pack(report_dir: Path) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(report_dir.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(report_dir)))
    text = base64.b64encode(buf.getvalue()).decode()
    return "\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def job(args: argparse.Namespace) -> int:
    from . import main as cli_main

    try:
        found = incluster.detect()
    except incluster.NotInCluster as exc:
        print(f"vmconform: {exc}", file=sys.stderr)
        return exitcodes.PREREQUISITE_MISSING
    work = Path(tempfile.mkdtemp(prefix="vmconform-job-"))
    kubeconfig = incluster.write_kubeconfig(found, work / "kubeconfig")
    if args.sonobuoy:
        results = Path(os.environ.get("SONOBUOY_RESULTS_DIR") or SONOBUOY_RESULTS_DIR)
        report_dir = results / NAME
    else:
        report_dir = Path(args.report_dir) if args.report_dir else work / "reports"
    report_dir.mkdir(parents=True, exist_ok=True)
    print(f"vmconform: in-cluster: {found.server} as the pod's service account (namespace {found.namespace})",
          flush=True)
    code = cli_main(["run", "--kubeconfig", str(kubeconfig), "--no-html", "--report-dir", str(report_dir),
                     *args.run_args])
    (report_dir / EXIT_FILE).write_text(f"{code}\n")
    summary = report_dir / "summary.json"
    if summary.is_file():
        (report_dir / BEHAVIOURS_XML).write_text(behaviour_junit(json.loads(summary.read_text())))
    if args.sonobuoy:
        # the worker waits for <results dir>/done naming what to send; a directory is sent as a tarball
        (results / "done").write_text(str(report_dir))
        return 0
    sys.stdout.flush()
    print(BEGIN)
    print(_pack(report_dir))
    print(END, flush=True)
    return code


def behaviour_junit(summary: dict[str, Any]) -> str:
    """JUnit with one test case per lab behaviour, named as the lab names it (what `sonobuoy results`
    lists): violated → failure, not verified → skipped, each with its reason."""
    import xml.etree.ElementTree as ET

    behaviours = summary.get("behaviours") or []
    suite = ET.Element("testsuite", name="vmconform", tests=str(len(behaviours)),
                       failures=str(sum(1 for b in behaviours if b.get("status") == "violated")),
                       skipped=str(sum(1 for b in behaviours if b.get("status") not in ("verified", "violated"))))
    for b in behaviours:
        steps = ", ".join(b.get("lab_steps") or [])
        where = f"lab {b.get('lab_section')}" + (f" step {steps}" if steps else "") if b.get("lab_section") else "lab"
        case = ET.SubElement(suite, "testcase", classname=f"vmconform.{where}", name=f"[{where}] {b.get('title')}",
                             time=str(b.get("duration_seconds") or 0))
        reason = str(b.get("reason") or "")
        if b.get("status") == "violated":
            ET.SubElement(case, "failure", message=reason.splitlines()[0] if reason else "violated").text = reason
        elif b.get("status") != "verified":
            ET.SubElement(case, "skipped", message=reason or str(b.get("status")))
    root = ET.Element("testsuites", name=f"vmconform: {summary.get('verdict')}")
    root.append(suite)
    return ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------ collect

class CollectError(Exception):
    pass


def unpack(log: str, out: Path) -> int:
    """Unpack the reports between the markers of ``log`` into ``out``; the run's exit code."""
    lines = log.splitlines()
    try:
        start = max(i for i, line in enumerate(lines) if line.strip() == BEGIN)
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == END)
    except ValueError:
        raise CollectError("no results in this log: the job has not finished, or did not reach its end") from None
    except StopIteration:
        raise CollectError("the results in this log are cut off (no end marker)") from None
    try:
        data = base64.b64decode("".join(line.strip() for line in lines[start + 1:end]), validate=True)
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(out, filter="data")
    except (ValueError, tarfile.TarError, OSError) as exc:
        raise CollectError(f"the results in this log cannot be unpacked: {exc}") from None
    try:
        return int((out / EXIT_FILE).read_text().strip())
    except (OSError, ValueError):
        raise CollectError("the results carry no exit code") from None


def _job_log(args: argparse.Namespace) -> str:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException

    try:
        api = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=args.kubeconfig, context=args.context))
        pods = api.list_namespaced_pod(args.namespace, label_selector=f"job-name={args.job}").items
        if not pods:
            raise CollectError(f"no pod of job {args.job} in namespace {args.namespace}")
        newest = max(pods, key=lambda p: p.metadata.creation_timestamp)
        return str(api.read_namespaced_pod_log(newest.metadata.name, args.namespace, container=NAME))
    except ApiException as exc:
        raise CollectError(f"cannot read the job's log: HTTP {exc.status} {exc.reason}") from None
    except (OSError, k8s_config.ConfigException) as exc:
        raise CollectError(f"cannot read the job's log: {exc}") from None


def collect(args: argparse.Namespace) -> int:
    try:
        if args.log == "-":
            text = sys.stdin.read()
        elif args.log:
            text = Path(args.log).read_text(errors="replace")
        else:
            text = _job_log(args)
        out = Path(args.out)
        code = unpack(text, out)
    except OSError as exc:
        print(f"vmconform: cannot read {args.log}: {exc.strerror or exc}", file=sys.stderr)
        return exitcodes.USAGE
    except CollectError as exc:
        print(f"vmconform: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    summary = out / "summary.json"
    verdict = json.loads(summary.read_text()).get("verdict", "?") if summary.is_file() else "no summary"
    print(f"vmconform: collected the in-cluster run's reports into {out}: verdict {verdict}, exit code {code}")
    return code
