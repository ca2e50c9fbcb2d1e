"""Every permission the suite needs, as data: the preflight asks the cluster about each one
(SelfSubjectAccessReview), ``vmconform manifests`` turns the table into a ClusterRole, and a
scenario whose needs include a missing permission is skipped with a reason naming it.

A row says who needs it (``needed_by``, any of):

* ``RUN`` — the run itself and so every scenario (its namespace, its Lease, the preflight's reads);
* ``@tag`` — scenarios carrying the tag (``@needs-rwx``: the preflight's ReadWriteMany probe);
* ``do:ACTION`` — scenarios with a step doing ACTION (:data:`STEP_ACTIONS`: start, stop, restart,
  pause, unpause, migrate, console, volume, edit; evict, node, drain of the maintenance scenarios;
  claim: a step reading a DataVolume root disk's claim);
* ``opt:NAME`` — every scenario of a run using an option (:func:`run_needs`, added to each scenario's
  needs by the controller): ``opt:vm-source-datavolume`` for ``--vm-source datasource:…`` or ``pvc:…``,
  and ``opt:vm-source-datasource`` / ``opt:vm-source-pvc`` for each kind. The preflight asks about a
  row needed only under options when the run uses one of them, so a containerDisk run neither asks
  for nor needs CDI's resources;
* ``A+B`` — scenarios having both needs (``do:claim+opt:vm-source-datavolume``).

Not in the table: what every authenticated user is granted by a cluster's default bindings —
discovery and ``/version`` (``system:discovery``), creating SelfSubjectAccessReviews
(``system:basic-user``), reading ``kubevirts`` (``kubevirt.io:default``). Not the suite's either:
the permission to clone a DataVolume's source (``create datavolumes/source`` in the source's
namespace) is checked by KubeVirt's VM controller for the VM's service account (the scenario
namespace's ``default``), not for whoever created the VM (``authorizeDataVolume``,
pkg/virt-controller/watch/vm/vm.go @ v1.9.0); and KubeVirt resolves ``--instancetype`` and
``--preference`` with its own credentials, so they need no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

RUN = "*"
CORE, KUBEVIRT, SUBRESOURCES = "", "kubevirt.io", "subresources.kubevirt.io"
CDI = "cdi.kubevirt.io"
OPT = "opt:"  # a need of every scenario of a run using an option
OPT_DATAVOLUME = "opt:vm-source-datavolume"  # --vm-source datasource:… or pvc:… (the root disk is a DataVolume)
OPT_DATASOURCE = "opt:vm-source-datasource"
OPT_PVC = "opt:vm-source-pvc"
RBAC_GROUP = "rbac.authorization.k8s.io"
CLUSTER_ROLE = "vmconform"


@dataclass(frozen=True)
class Permission:
    verbs: tuple[str, ...]
    group: str
    resource: str  # "virtualmachines", or "virtualmachines/start" for a subresource
    needed_by: tuple[str, ...]
    why: str

    @property
    def plural(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def subresource(self) -> str:
        return self.resource.split("/", 1)[1] if "/" in self.resource else ""

    def describe(self, verb: str | None = None) -> str:
        """``update virtualmachines/start (subresources.kubevirt.io)``, as kubectl auth can-i reads."""
        verbs = verb or ",".join(self.verbs)
        return f"{verbs} {self.resource}" + (f" ({self.group})" if self.group else "")

    def rule(self) -> dict[str, Any]:
        """This row as one PolicyRule of the generated ClusterRole."""
        return {"apiGroups": [self.group], "resources": [self.resource], "verbs": list(self.verbs)}

    def needed(self, needs: Iterable[str]) -> bool:
        wanted = set(needs)
        return RUN in self.needed_by or any(set(n.split("+")) <= wanted for n in self.needed_by)

    def asked(self, options: Iterable[str]) -> bool:
        """Whether a run with these ``opt:`` needs asks the cluster for this row (rows needed only under
        options the run does not use are left out)."""
        used = set(options)
        return any(all(part in used for part in n.split("+") if part.startswith(OPT)) for n in self.needed_by)


P = Permission
READ = ("get", "list", "watch")
TABLE: tuple[Permission, ...] = (
    # the run: preflight reads, per-scenario namespaces (created, watched until gone), the run's Lease
    P(("list",), CORE, "nodes", (RUN,), "preflight: which nodes are schedulable"),
    P(("list",), "storage.k8s.io", "storageclasses", (RUN,), "preflight: the storage classes"),
    P(("create", "get", "list", "watch", "delete"), CORE, "namespaces", (RUN,),
      "a namespace per scenario and for the run's Lease, deleted and awaited at the end"),
    P(("create", "patch"), "coordination.k8s.io", "leases", (RUN,),
      "the run's Lease, renewed while it runs (vmconform cleanup leaves a live run alone)"),
    # every scenario's VM and what it is made of
    P(("create",) + READ, KUBEVIRT, "virtualmachines", (RUN,), "each scenario creates its VM and watches it"),
    P(READ, KUBEVIRT, "virtualmachineinstances", (RUN,), "the VM's instance: phase, node, conditions"),
    P(("list", "watch"), CORE, "pods", (RUN,), "the VM's launcher pods"),
    # the verbs, as virtctl calls them
    P(("update",), SUBRESOURCES, "virtualmachines/start", ("do:start",), "Start"),
    P(("update",), SUBRESOURCES, "virtualmachines/stop", ("do:stop",), "Stop"),
    P(("update",), SUBRESOURCES, "virtualmachines/restart", ("do:restart",), "Restart"),
    P(("update",), SUBRESOURCES, "virtualmachineinstances/pause", ("do:pause",), "Pause"),
    P(("update",), SUBRESOURCES, "virtualmachineinstances/unpause", ("do:unpause",), "Unpause"),
    P(("update",), SUBRESOURCES, "virtualmachines/migrate", ("do:migrate",), "Migrate"),
    P(("list", "watch"), KUBEVIRT, "virtualmachineinstancemigrations", ("do:migrate", "do:drain"),
      "the migration's phase and result; the migrations a drain starts, counted against the limits"),
    P(("get",), SUBRESOURCES, "virtualmachineinstances/console", ("do:console",),
      "the serial console of the @guest scenarios"),
    # data volumes
    P(("create", "list", "watch"), CORE, "persistentvolumeclaims", ("do:volume", "@needs-rwx", "@needs-rwo"),
      "the VMs' data volumes, and the preflight's ReadWriteMany probe"),
    P(("list",), CORE, "events", ("@needs-rwx",), "the ReadWriteMany probe reads the claim's ProvisioningFailed events"),
    P(("patch",), KUBEVIRT, "virtualmachines", ("do:edit",), "moving a stopped VM's data volume to another claim"),
    # node maintenance (features/maintenance.feature)
    P(("create",), CORE, "pods/eviction", ("do:evict",),
      "evicting a VM's launcher pod, as kubectl drain does (KubeVirt answers by the VM's eviction strategy)"),
    P(("patch", "get"), CORE, "nodes", ("do:node",),
      "marking, cordoning and uncordoning the node a drain empties, and reading it back (vmconform cleanup too)"),
    # --vm-source datasource:NS/NAME | pvc:NS/NAME: the root disk is a DataVolume the VM controller creates
    P(("list", "watch"), CDI, "datavolumes", (OPT_DATAVOLUME,),
      "the root DataVolume's provisioning (phase, progress), awaited before the VM starts"),
    P(("get",), CORE, "persistentvolumeclaims", ("do:claim+" + OPT_DATAVOLUME, OPT_PVC),
      "a DataVolume root disk's claim: its access mode; a pvc: source (the preflight's --vm-source check)"),
    P(("get",), CDI, "storageprofiles", ("do:claim+" + OPT_DATAVOLUME,),
      "the StorageProfile of a root claim with the wrong access mode, named in the failure"),
    P(("get",), CDI, "datasources", (OPT_DATASOURCE,), "a datasource: source (the preflight's --vm-source check)"),
)

# the step phrasings (English template) → the actions they perform; "{verb}": the step's verb parameter
STEP_ACTIONS: dict[str, tuple[str, ...]] = {
    "a running VM": ("start",),
    "the VM is stopped": ("stop",),
    "the VM is paused": ("pause",),
    "I {verb} the VM": ("{verb}",),
    # "claim": with a DataVolume root disk (--vm-source datasource:/pvc:) the step reads its claim back
    "a running VM with a ReadWriteOnce data volume": ("volume", "start", "claim"),
    "a stopped VM with a ReadWriteMany data volume": ("volume", "claim"),
    "I stop the VM and move its data volume to ReadWriteMany storage": ("stop", "volume", "edit", "claim"),
    "I migrate the VM": ("migrate",),
    "I am logged in to the VM's serial console": ("console",),
    # node maintenance
    "a running VM with eviction strategy {strategy}": ("start",),
    "a running VM with a ReadWriteOnce data volume and eviction strategy {strategy}": ("volume", "start"),
    "I evict the VM's launcher pod": ("evict",),
    "more running LiveMigrate VMs on one node than it may migrate at once": ("start", "node"),
    "I cordon their node and drain the scenario's pods from it": ("node", "evict", "drain"),
    "I uncordon the node": ("node",),
    "the node is schedulable again and carries no mark of the run": ("node",),
}


def cluster_role(name: str = CLUSTER_ROLE, table: Sequence[Permission] = TABLE) -> dict[str, Any]:
    """The least-privilege ClusterRole: one rule per row."""
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "vmconform"}},
            "rules": [p.rule() for p in table]}


def run_needs(vm_source: str = "containerdisk") -> set[str]:
    """The ``opt:`` needs a run's options give every one of its scenarios."""
    from .sources import CONTAINERDISK, DATASOURCE, SourceError, parse

    try:
        kind = parse(vm_source).kind
    except SourceError:  # refused with one line before any run (optcheck)
        return set()
    if kind == CONTAINERDISK:
        return set()
    return {OPT_DATAVOLUME, OPT_DATASOURCE if kind == DATASOURCE else OPT_PVC}


OPTIONS = frozenset({OPT_DATAVOLUME, OPT_DATASOURCE, OPT_PVC})  # every opt: need, for tests and docs


def step_actions(kind: str, text: str) -> set[str]:
    """The actions of one step (its English template looked up in the vocabulary)."""
    from . import vocabulary

    d = vocabulary.find(kind, text)
    if d is None:
        return set()
    found = STEP_ACTIONS.get(d.phrasings["en"], ())
    out: set[str] = set()
    for action in found:
        if action != "{verb}":
            out.add(action)
            continue
        for lang, regex in d.regexes.items():
            m = regex.fullmatch(text)
            if m is None or "verb" not in m.groupdict():
                continue
            param = next(p for p in d.params if p.name == "verb")
            convert = param.converter(lang)
            out.add(convert(m.group("verb")) if convert else m.group("verb"))
            break
    return out


def scenario_needs(template: Any, tags: Iterable[str]) -> set[str]:
    """What a pytest-bdd scenario template needs: ``@tag`` for its tags, ``do:ACTION`` for its steps."""
    needs = {f"@{t}" for t in tags}
    contexts = [ctx for ex in template.examples for ctx in ex.as_contexts()] or [{}]
    for context in contexts:
        for step in template.render(context).steps:
            needs |= {f"do:{a}" for a in step_actions(step.type, step.name)}
    return needs


def missing_reason(missing: Sequence[tuple[Permission, str]], needs: Iterable[str]) -> str | None:
    """The skip reason for a scenario with these needs, or None when nothing it needs is missing."""
    needs = set(needs)
    verbs: dict[Permission, list[str]] = {}
    for p, verb in missing:
        if p.needed(needs):
            verbs.setdefault(p, []).append(verb)
    if not verbs:
        return None
    text = "missing permission: " + "; ".join(p.describe(",".join(v)) for p, v in verbs.items())
    if any(p.resource == "virtualmachines/migrate" for p, _ in missing if p.needed(needs)):
        text += " (KubeVirt grants it with the kubevirt.io:migrate ClusterRole)"
    return text
