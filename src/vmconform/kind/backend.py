"""``--cluster kind``: a multi-node kind cluster with KubeVirt and RWX storage for one pytest session.

The controller calls :func:`kind_kubeconfig` once per session and gets a kubeconfig path back. On the
way it checks the prerequisites, creates (or reuses) the cluster through pytest-kind's ``KindCluster``
with our multi-node config, checks the docker host from inside the workers (nfsd, inotify, /dev/kvm
and /dev/vhost-net, which decide ``useEmulation``), installs KubeVirt (its CR rendered with
``useEmulation`` explicit, applied once) and the storage with ``kubectl apply``, waits (watching, with
timeouts) until KubeVirt is ready for the requested release, the storage is up and the workers are
schedulable, proves the RWX class binds and mounts on every worker, and prints progress as it goes.
The cluster is deleted when pytest ends (the run's namespaces first, ``kind delete`` with a timeout)
unless it is kept (``--kind-keep``) or this run did not create it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from pytest_kind import KindCluster

from ..kube.client import ApiCallFailed, Cluster, ClusterUnreachable
from ..kube.kinds import KUBEVIRT, NAMESPACE, NODE, STORAGECLASS
from ..kube.waits import WaitFailed, wait_for
from ..labels import MANAGED_BY, MANAGED_BY_VALUE
from ..preflight import Uncheckable
from ..session import Settings
from .kubevirt_cr import describe_kubevirt, kubevirt_ready, render_cr, write_cr
from .nodecheck import NodeCheckFailed, check_nodes
from ..sources import parse as parse_source
from .cdi import install_cdi, load_cdi_plan
from .options import KindOptions, kind_options
from .plan import InstallPlan, PlanError, Rollout, load_plan
from .prereq import CACHE_ROOT, PrerequisiteMissing, Tools, check_prerequisites
from .storagecheck import StorageNotReady, prove_rwx

__all__ = ["KindSetupFailed", "PrerequisiteMissing", "kind_kubeconfig"]

# seconds, before --timeout-scale; what a first run on a laptop needs, with room (image pulls dominate)
INSTALL_TIMEOUTS: dict[str, float] = {
    "kind_command": 60.0,  # kind get clusters / export kubeconfig
    "kubectl_apply": 180.0,  # one manifest (URLs are fetched by kubectl)
    "crd_established": 120.0,  # kubevirts.kubevirt.io served after the operator manifest
    "operator_rollout": 600.0,  # virt-operator rolled out (it serves the CR's admission webhooks)
    "kubevirt_deployed": 1200.0,  # KubeVirt ready for the release (pulls virt-* images on every node)
    "rollout": 600.0,  # NFS server and CSI driver rolled out
    "storage_class": 120.0,  # the RWO and RWX classes exist
    "node_schedulable": 600.0,  # virt-handler labelled each worker kubevirt.io/schedulable=true
    "storage_bind": 180.0,  # the RWX test claim Bound
    "storage_mount": 600.0,  # a pod on every worker mounted and wrote the RWX claim (may pull its image)
    "storage_cleanup": 180.0,  # the RWX check's namespace deleted
    "namespace_cleanup": 300.0,  # teardown: the runs' namespaces deleted before `kind delete`
    "kind_delete": 300.0,  # teardown: `kind delete cluster`
}
# floors after scaling: a command that fetches manifests over the network needs its time however fast the cluster
MIN_TIMEOUTS: dict[str, float] = {"kubectl_apply": 30.0}
EMULATION_TIMEOUT_FACTOR = 3.0  # QEMU without KVM: boots and migrations are several times slower
SCHEDULABLE_LABEL = "kubevirt.io/schedulable"
STEPS = 6
ROLLOUT_HINTS = {  # what a rollout that never finishes usually means
    ("nfs-server", "nfs-server"): "the NFS server never became ready (its readiness probe reads "
                                  "/proc/fs/nfsd/threads): the kernel NFS server is not running on the docker host",
}


class KindSetupFailed(Uncheckable):
    """The kind cluster could not be created or made ready (the controller reports it, exit code 3)."""


class Progress:
    """Progress lines on stderr that pytest's output capture does not swallow."""

    def __init__(self, config: pytest.Config | None = None, stream: Any = None) -> None:
        self.capman = config.pluginmanager.getplugin("capturemanager") if config is not None else None
        self.stream = stream
        self.started = time.monotonic()

    @contextmanager
    def uncaptured(self) -> Iterator[None]:
        if self.capman is None:
            yield
        else:
            with self.capman.global_and_fixture_disabled():
                yield

    def __call__(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        print(f"vmconform kind [{elapsed // 60}:{elapsed % 60:02d}] {text}", file=self.stream or sys.stderr,
              flush=True)


class VmconformKindCluster(KindCluster):
    """pytest-kind's KindCluster with a multi-node config, timeouts, and errors as one line.

    Tools are resolved (and downloaded if need be) by ``check_prerequisites`` before this is built,
    so its own ``ensure_kind``/``ensure_kubectl`` never download.
    """

    def __init__(self, name: str, *, tools: Tools, image: str | None) -> None:
        super().__init__(name, None, image=image, kind_path=tools.kind, kubectl_path=tools.kubectl)
        self.tools = tools

    def ensure_kind(self) -> None:
        if not Path(self.kind_path).exists():
            raise PrerequisiteMissing([f"kind {self.kind_path} does not exist"])

    def ensure_kubectl(self) -> None:
        if not Path(self.kubectl_path).exists():
            raise PrerequisiteMissing([f"kubectl {self.kubectl_path} does not exist"])

    def _kind(self, *args: str) -> str:
        argv = [str(self.kind_path), *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=INSTALL_TIMEOUTS["kind_command"])
        except subprocess.TimeoutExpired:
            raise KindSetupFailed(f"`kind {' '.join(args)}` did not finish in {INSTALL_TIMEOUTS['kind_command']:.0f} s") from None
        if done.returncode != 0:
            raise KindSetupFailed(f"`kind {' '.join(args)}` failed (exit {done.returncode}): {_last_line(done.stderr)}")
        return done.stdout

    def exists(self) -> bool:
        return self.name in self._kind("get", "clusters").split()

    def delete_within(self, timeout: float) -> None:
        """``kind delete cluster`` that cannot hang: raises :class:`KindSetupFailed` after ``timeout`` s."""
        argv = [str(self.kind_path), "delete", "cluster", f"--name={self.name}", f"--kubeconfig={self.kubeconfig_path}"]
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise KindSetupFailed(f"`kind delete cluster --name={self.name}` did not finish in {timeout:.0f} s") from None
        except OSError as exc:
            raise KindSetupFailed(f"`kind delete cluster --name={self.name}` could not be run: {exc}") from None
        if done.returncode != 0:
            raise KindSetupFailed(f"`kind delete cluster --name={self.name}` failed (exit {done.returncode}): "
                                  f"{_last_line(done.stderr)}")

    def _kubeconfig_usable(self) -> bool:
        path = Path(self.kubeconfig_path)
        return path.is_file() and path.stat().st_size > 0

    def create(self, config_file: str | Path | None = None) -> None:
        """Create the cluster from ``config_file`` (``kind create cluster --config``), or reuse it.

        A reused cluster whose kubeconfig file is gone gets it back with ``kind export kubeconfig``
        (pytest-kind would otherwise read an empty file).
        """
        if not self._kubeconfig_usable() and self.exists():
            self._kind("export", "kubeconfig", f"--name={self.name}", f"--kubeconfig={self.kubeconfig_path}")
        try:
            super().create(config_file)
        except subprocess.CalledProcessError as exc:
            raise KindSetupFailed(f"`kind create cluster --name={self.name}` failed (exit {exc.returncode}); "
                                  "kind's own output is above") from None

    def kubectl(self, *args: str, **kwargs: Any) -> str:
        timeout = kwargs.pop("timeout", INSTALL_TIMEOUTS["kubectl_apply"])
        try:
            return super().kubectl(*args, stderr=subprocess.PIPE, timeout=timeout, **kwargs)
        except subprocess.CalledProcessError as exc:
            raise KindSetupFailed(f"`kubectl {' '.join(args)}` failed (exit {exc.returncode}): "
                                  f"{_last_line(exc.stderr or exc.output or '')}") from None
        except subprocess.TimeoutExpired:
            raise KindSetupFailed(f"`kubectl {' '.join(args)}` did not finish in {timeout:.0f} s") from None


def _last_line(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


class KindSetup:
    """One session's kind cluster: set up by :meth:`run`, removed by :meth:`teardown`."""

    def __init__(self, options: KindOptions, settings: Settings, progress: Callable[[str], None]) -> None:
        self.options = options
        self.settings = settings
        self.progress = progress
        self.cluster: VmconformKindCluster | None = None
        self.created = False
        self.plan: InstallPlan | None = None
        self.emulation = False
        self.kubeconfig: str | None = None

    def timeout(self, key: str) -> float:
        return max(INSTALL_TIMEOUTS[key] * self.settings.timeout_scale, MIN_TIMEOUTS.get(key, 0.0))

    # ------------------------------------------------------------ the steps

    def run(self) -> str:
        try:
            plan = self.plan = load_plan(self.options.kubevirt_version)
        except PlanError as exc:
            raise KindSetupFailed(str(exc)) from None
        opts = self.options
        image = opts.image or plan.node_image
        tools = check_prerequisites(plan, kind_bin=opts.kind_bin, kubectl_bin=opts.kubectl_bin,
                                    cluster_name=opts.name, image=image, progress=self.progress)
        self.progress(f"using {tools.runtime}, kind {tools.kind}, kubectl {tools.kubectl}")
        cluster = VmconformKindCluster(opts.name, tools=tools, image=image)
        existed = cluster.exists()
        self.cluster = cluster  # from here on, teardown knows the cluster
        if existed:
            self.progress(f"[1/{STEPS}] reusing kind cluster {opts.name}"
                          + ("" if opts.keep else " (this run did not create it: it stays afterwards)"))
        else:
            self.progress(f"[1/{STEPS}] creating kind cluster {opts.name}: 1 control-plane + {plan.workers} workers, "
                          f"{image} (usually 1-3 minutes)")
            self.created = True
        cluster.create(config_file=plan.kind_config)
        self._check_host(tools, plan)
        kubeconfig = self.kubeconfig = str(Path(cluster.kubeconfig_path).resolve())
        client = Cluster.from_kubeconfig(kubeconfig, backend="kind")
        try:
            self._install_kubevirt(cluster, plan)
            self._install_storage(cluster, plan)
            self._wait_ready(cluster, client, plan)
            if parse_source(self.settings.vm_source).uses_data_volume:  # CDI and a boot source (kind/cdi.py)
                install_cdi(lambda src: self._apply(cluster, src), client, load_cdi_plan(), self.progress,
                            self.settings.timeout_scale)
        except PlanError as exc:
            raise KindSetupFailed(str(exc)) from None
        except (WaitFailed, ClusterUnreachable, ApiCallFailed) as exc:
            raise KindSetupFailed(str(exc).splitlines()[0]) from None
        except StorageNotReady as exc:
            raise KindSetupFailed(str(exc)) from None
        finally:
            client.close()
        self._adjust_settings(plan)
        self.progress(f"kind cluster {opts.name} ready: KubeVirt {plan.kubevirt_version}"
                      f"{' (software emulation)' if self.emulation else ''}, storage classes "
                      f"{plan.rwo_class} (RWO) and {plan.rwx_class} (RWX, bound and mounted on every worker)")
        return kubeconfig

    def _check_host(self, tools: Tools, plan: InstallPlan) -> None:
        """The docker host, seen from the workers: nfsd and inotify (exit 5 if missing), KVM for useEmulation."""
        workers = plan.worker_names(self.options.name)
        self.progress(f"[2/{STEPS}] checking the docker host from {', '.join(workers)}: nfsd, inotify limits, "
                      "/dev/kvm, /dev/vhost-net")
        try:
            facts = check_nodes(tools.runtime, workers)
        except NodeCheckFailed as exc:
            raise KindSetupFailed(str(exc)) from None
        if facts.problems:
            raise PrerequisiteMissing(facts.problems)
        setting = self.options.emulation
        self.emulation = (not facts.hardware_virtualization) if setting == "auto" else setting == "on"
        if setting == "auto" and self.emulation:
            self.progress(f"      {facts.missing_text()}: KubeVirt's useEmulation on (QEMU software emulation)")
        elif setting == "on":
            self.progress("      KubeVirt's useEmulation on (--kubevirt-emulation on)")
        elif setting == "off" and not facts.hardware_virtualization:
            self.progress(f"      {facts.missing_text()}, but --kubevirt-emulation off: VMs will not start")
        else:
            self.progress("      /dev/kvm and /dev/vhost-net on every worker: KubeVirt's useEmulation off")

    def _apply(self, cluster: VmconformKindCluster, source: str) -> None:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=vmconform", "-f", source,
                        timeout=self.timeout("kubectl_apply"))

    def _rollout(self, cluster: VmconformKindCluster, r: Rollout, key: str = "rollout") -> None:
        t = self.timeout(key)
        try:
            cluster.kubectl("-n", r.namespace, "rollout", "status", r.ref, f"--timeout={t:.0f}s", timeout=t + 30)
        except KindSetupFailed as exc:
            hint = ROLLOUT_HINTS.get((r.namespace, r.name))
            raise KindSetupFailed(f"{exc}; {hint}" if hint else str(exc)) from None

    def _install_kubevirt(self, cluster: VmconformKindCluster, plan: InstallPlan) -> None:
        self.progress(f"[3/{STEPS}] installing KubeVirt {plan.kubevirt_version}: {plan.kubevirt_operator}")
        self._apply(cluster, plan.kubevirt_operator)
        t = self.timeout("crd_established")
        cluster.kubectl("wait", "--for=condition=established", f"--timeout={t:.0f}s", "crd/kubevirts.kubevirt.io",
                        timeout=t + 30)
        self._rollout(cluster, plan.operator_rollout, "operator_rollout")  # its pods answer the CR's webhooks
        cr = render_cr(Path(plan.kubevirt_cr), use_emulation=self.emulation)
        path = write_cr(cr, CACHE_ROOT / self.options.name / "kubevirt-cr.yaml")
        self.progress(f"      KubeVirt CR {plan.kubevirt_namespace}/{plan.kubevirt_name} with useEmulation "
                      f"{str(self.emulation).lower()}")
        self._apply(cluster, str(path))

    def _install_storage(self, cluster: VmconformKindCluster, plan: InstallPlan) -> None:
        self.progress(f"[4/{STEPS}] installing RWX storage: NFS server + NFS CSI driver, class {plan.rwx_class}")
        for source in plan.storage_manifests:
            self._apply(cluster, source)

    def _wait_ready(self, cluster: VmconformKindCluster, client: Cluster, plan: InstallPlan) -> None:
        version = plan.kubevirt_version
        self.progress(f"[5/{STEPS}] waiting for KubeVirt {version}: observedKubeVirtVersion {version}, "
                      f"Available, not Progressing (pulls images; up to {self.timeout('kubevirt_deployed') / 60:.0f} min)")
        obj, tl = wait_for(client, KUBEVIRT, plan.kubevirt_namespace, plan.kubevirt_name, until=kubevirt_ready(version),
                           describe=describe_kubevirt, timeout=self.timeout("kubevirt_deployed"),
                           what=f"KubeVirt {version} ready")
        self.progress(f"      KubeVirt {version} ready after {tl.elapsed:.0f} s ({tl.render()})")
        self.progress(f"[6/{STEPS}] waiting for the storage and the workers; proving {plan.rwx_class} on every worker")
        for r in plan.rollouts:
            self._rollout(cluster, r)
        for name in (plan.rwo_class, plan.rwx_class):
            wait_for(client, STORAGECLASS, None, name, until=lambda o: o is not None,
                     describe=lambda o: "<absent>" if o is None else "present",
                     timeout=self.timeout("storage_class"), what=f"storage class {name} exists")
        workers = plan.worker_names(self.options.name)
        for node in workers:
            wait_for(client, NODE, None, node,
                     until=lambda o: ((o or {}).get("metadata", {}).get("labels") or {}).get(SCHEDULABLE_LABEL) == "true",
                     describe=lambda o: "<absent>" if o is None else
                     f"{SCHEDULABLE_LABEL}={(o['metadata'].get('labels') or {}).get(SCHEDULABLE_LABEL, '<unset>')}",
                     timeout=self.timeout("node_schedulable"), what=f"node {node} schedulable for VMs")
        prove_rwx(client, rwx_class=plan.rwx_class, workers=workers, image=plan.check_image, timeouts=self.timeout,
                  progress=self.progress)

    def _adjust_settings(self, plan: InstallPlan) -> None:
        s = self.settings
        s.rwx_class = s.rwx_class or plan.rwx_class
        s.rwo_class = s.rwo_class or plan.rwo_class
        if self.emulation:
            before = s.timeout_scale
            s.timeout_scale = before * EMULATION_TIMEOUT_FACTOR
            self.progress(f"      software emulation: timeout scale {before:g} -> {s.timeout_scale:g}")

    # ------------------------------------------------------------ the end

    def teardown(self) -> None:
        cluster, self.cluster = self.cluster, None
        if cluster is None:
            return
        name = self.options.name
        if self.options.keep:
            self.progress(f"kind cluster {name} kept (--kind-keep); remove it with: kind delete cluster --name {name}")
        elif not self.created:
            self.progress(f"kind cluster {name} left in place: this run did not create it")
        else:
            self._remove_namespaces()
            t = self.timeout("kind_delete")
            self.progress(f"deleting kind cluster {name} (up to {t:.0f} s)")
            try:
                cluster.delete_within(t)
            except KindSetupFailed as exc:
                runtime = cluster.tools.runtime.name
                self.progress(f"could not delete kind cluster {name}: {exc}. Its node containers may be stuck "
                              f"(e.g. on an NFS mount): remove them with `{runtime} rm -f $({runtime} ps -aq --filter "
                              f"label=io.x-k8s.kind.cluster={name})`, then run `kind delete cluster --name {name}`")

    def _remove_namespaces(self) -> None:
        """Before ``kind delete``: delete vmconform's namespaces (the runs' and the RWX check's), so no pod
        holds an NFS mount while the NFS server's node goes away; bounded by ``namespace_cleanup``."""
        if not self.kubeconfig:
            return
        deadline = time.monotonic() + self.timeout("namespace_cleanup")
        try:
            client = Cluster.from_kubeconfig(self.kubeconfig, backend="kind")
        except Exception:  # noqa: BLE001 - no usable kubeconfig: nothing to clean before the delete
            return
        try:
            items, _ = client.list(NAMESPACE, labels=f"{MANAGED_BY}={MANAGED_BY_VALUE}")
            names = [i["metadata"]["name"] for i in items]
            if not names:
                return
            self.progress(f"deleting {len(names)} vmconform namespace(s) before the cluster: {', '.join(names)}")
            for ns in names:
                client.delete(NAMESPACE, None, ns)
            for ns in names:
                wait_for(client, NAMESPACE, None, ns, until=lambda o: o is None,
                         describe=lambda o: "<gone>" if o is None else str((o.get("status") or {}).get("phase")),
                         timeout=max(0.0, deadline - time.monotonic()), what=f"namespace {ns} deleted")
        except (WaitFailed, ClusterUnreachable, ApiCallFailed) as exc:
            self.progress(f"namespaces not all removed before the delete ({str(exc).splitlines()[0]}); deleting anyway")
        finally:
            client.close()


def kind_kubeconfig(config: pytest.Config, settings: Settings) -> str:
    """Set up this session's kind cluster and return its kubeconfig path.

    Mutates ``settings``: the RWX/RWO storage classes (unless given) and, under software emulation,
    ``timeout_scale`` × 3. Registers the cluster's removal with ``config.add_cleanup``.
    Raises :class:`PrerequisiteMissing` (``exit_code`` 5) or :class:`KindSetupFailed` (exit code 3),
    both ``Uncheckable`` with a one-line message, after removing whatever this run created.
    """
    progress = Progress(config)
    setup = KindSetup(kind_options(config), settings, progress)
    try:
        with progress.uncaptured():
            path = setup.run()
    except BaseException:
        with progress.uncaptured():
            setup.teardown()
        raise

    def cleanup() -> None:
        with progress.uncaptured():
            setup.teardown()

    config.add_cleanup(cleanup)
    return path
