"""The operator's consent to the disruptive node-maintenance scenarios (features/maintenance.feature).

A scenario tagged ``@needs-disruptive`` cordons and drains a node: on a cluster given with ``--kubeconfig``
(not one the suite created for itself: emulated, kind) it runs only with ``--allow-disruptive``. The
permissions the maintenance scenarios need (``create pods/eviction``, ``patch nodes``, the migrations a drain
starts) are rows of the permissions table (:mod:`vmconform.permissions`), asked by the preflight and skipped
on like every other permission.
"""

from __future__ import annotations

from .preflight import Capability

NEEDS_FLAG = ("this scenario cordons and drains a node of the cluster: it runs only with --allow-disruptive "
              "(the emulated and kind clusters are the suite's own and allow it)")
OWN_BACKENDS = ("emulated", "kind")  # clusters the suite creates for itself


def disruptive_capability(backend: str, allow_disruptive: bool) -> Capability:
    """The ``disruptive`` capability: the operator's consent (the suite's own clusters consent)."""
    if backend not in OWN_BACKENDS and not allow_disruptive:
        return Capability(False, NEEDS_FLAG)
    return Capability(True)
