"""Option values checked before anything runs: one table, shared by ``vmconform run`` and the pytest plugin.

Each check takes the option's text and returns None or a one-line reason. Options that only make
sense for the emulated cluster are listed in ``EMULATED_ONLY``: given with ``--kubeconfig`` they are
refused (a "fault run" against a real cluster would test nothing).
"""

from __future__ import annotations

import re
from typing import Callable

from .sources import check as vm_source_check
from .sources import name_check

Check = Callable[[str], "str | None"]

# a Kubernetes resource quantity (k8s.io/apimachinery/pkg/api/resource: <number><suffix>)
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
STORAGE_KINDS = ("rwx", "rwo")


def memory_quantity(text: str) -> str | None:
    if not _QUANTITY.match(text.strip()):
        return f"--vm-memory must be a Kubernetes quantity such as 128Mi or 1Gi, not {text!r}"
    number = re.match(r"^[+-]?[\d.]+", text.strip())
    if text.strip().startswith("-") or (number and float(number.group(0).lstrip("+")) == 0):
        return f"--vm-memory must be more than 0, not {text!r}"
    return None


def emulator_storage(text: str) -> str | None:
    kinds = [k.strip() for k in text.split(",")]
    if not kinds or any(k not in STORAGE_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        return f"--emulator-storage must be rwx,rwo or rwo, not {text!r}"
    return None


def integer(flag: str, minimum: int = 0) -> Check:
    def check(text: str) -> str | None:
        if not str(text).lstrip("-").isdigit() or int(text) < minimum:
            return f"{flag} must be an integer of at least {minimum}, not {text!r}"
        return None
    return check


def one_of(flag: str, *choices: str) -> Check:
    def check(text: str) -> str | None:
        if text not in choices:
            return f"{flag} must be {' or '.join(choices)}, not {text!r}"
        return None
    return check


# option dest → check of its value (None values are not checked); other helpers add their rows here
CHECKS: dict[str, Check] = {
    "vm_memory": memory_quantity,
    "emulator_storage": emulator_storage,
    "emulator_timing": one_of("--emulator-timing", "fast", "realistic", "adversarial"),
    "emulator_nodes": integer("--emulator-nodes"),
    "emulator_seed": integer("--emulator-seed"),
    "vm_source": vm_source_check,
    "instancetype": name_check("--instancetype", "an instance type"),
    "preference": name_check("--preference", "a preference"),
}

# option dest → its default; given together with --kubeconfig, these are refused
EMULATED_ONLY: dict[str, object] = {
    "emulator_timing": "fast",
    "emulator_seed": None,
    "emulator_nodes": "2",
    "emulator_storage": "rwx,rwo",
    "emulator_fault": [],
    # selects the KubeVirt release kind installs or the emulator plays; a real cluster has its own
    "kubevirt_version": None,
    "emulator_step": [],  # NAME=SECONDS timing overrides (vmconform run --emulator-step)
}


def check_values(values: dict[str, object]) -> str | None:
    """The first problem among the option values (dest → value), or None."""
    for dest, check in CHECKS.items():
        value = values.get(dest)
        if value is not None:
            problem = check(str(value))
            if problem:
                return problem
    return None


def emulated_only_given(values: dict[str, object], *, defaults_given: bool = False) -> list[str]:
    """The emulated-cluster options that were given, as flags. ``defaults_given``: the values hold None for
    an option not on the command line (``vmconform run``); else a default value counts as not given (pytest)."""
    return ["--" + dest.replace("_", "-") for dest, default in EMULATED_ONLY.items()
            if dest in values and values[dest] not in (None, [], ())
            and (defaults_given or values[dest] != default)]


def refuse_with_kubeconfig(values: dict[str, object], *, defaults_given: bool = False) -> str | None:
    given = emulated_only_given(values, defaults_given=defaults_given)
    if given:
        return (f"{', '.join(given)} only apply to the emulated cluster (or kind); with --kubeconfig they "
                f"would be ignored and the run would test something else than asked: drop them")
    return None
