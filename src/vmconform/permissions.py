"""Every permission the suite needs, as data: the preflight asks the cluster about each one
(SelfSubjectAccessReview), ``vmconform manifests`` turns the table into a ClusterRole, and a
scenario whose needs include a missing permission is skipped with a reason naming it.

A row says who needs it (``needed_by``, any of):

* ``RUN`` — the run itself and so every scenario (its namespace, its Lease, the preflight's reads);
* ``@tag`` — scenarios carrying the tag (``@needs-rwx``: the preflight's ReadWriteMany probe);
* ``do:ACTION`` — scenarios with a step doing ACTION (:data:`STEP_ACTIONS`: start, stop, restart,
  pause, unpause, migrate, console, volume, edit).

Not in the table: what every authenticated user is granted by a cluster's default bindings —
discovery and ``/version`` (``system:discovery``), creating SelfSubjectAccessReviews
(``system:basic-user``), reading ``kubevirts`` (``kubevirt.io:default``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

RUN = "*"
CORE, KUBEVIRT, SUBRESOURCES = "", "kubevirt.io", "subresources.kubevirt.io"
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
        return RUN in self.needed_by or bool(wanted & set(self.needed_by))


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
    P(("list", "watch"), KUBEVIRT, "virtualmachineinstancemigrations", ("do:migrate",),
      "the migration's phase and result"),
    P(("get",), SUBRESOURCES, "virtualmachineinstances/console", ("do:console",),
      "the serial console of the @guest scenarios"),
    # data volumes
    P(("create", "list", "watch"), CORE, "persistentvolumeclaims", ("do:volume", "@needs-rwx", "@needs-rwo"),
      "the VMs' data volumes, and the preflight's ReadWriteMany probe"),
    P(("list",), CORE, "events", ("@needs-rwx",), "the ReadWriteMany probe reads the claim's ProvisioningFailed events"),
    P(("patch",), KUBEVIRT, "virtualmachines", ("do:edit",), "moving a stopped VM's data volume to another claim"),
)

# the step phrasings (English template) → the actions they perform; "{verb}": the step's verb parameter
STEP_ACTIONS: dict[str, tuple[str, ...]] = {
    "a running VM": ("start",),
    "the VM is stopped": ("stop",),
    "the VM is paused": ("pause",),
    "I {verb} the VM": ("{verb}",),
    "a running VM with a ReadWriteOnce data volume": ("volume", "start"),
    "a stopped VM with a ReadWriteMany data volume": ("volume",),
    "I stop the VM and move its data volume to ReadWriteMany storage": ("stop", "volume", "edit"),
    "I migrate the VM": ("migrate",),
    "I am logged in to the VM's serial console": ("console",),
}


def cluster_role(name: str = CLUSTER_ROLE, table: Sequence[Permission] = TABLE) -> dict[str, Any]:
    """The least-privilege ClusterRole: one rule per row."""
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "vmconform"}},
            "rules": [p.rule() for p in table]}


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
