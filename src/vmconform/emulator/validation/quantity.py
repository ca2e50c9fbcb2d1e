"""Kubernetes quantities as ``resource.ParseQuantity`` reads them (apimachinery
``pkg/api/resource/quantity.go``): a signed decimal number, then one suffix — binary (Ki … Ei),
decimal (n u m "" k M G T P E) or an exponent (e3, E-2)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The text of resource.ErrFormatWrong.
FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

_NUMBER = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$")
_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
_EXPONENT = re.compile(r"^[eE][-+]?[0-9]+$")


def parse(value: object) -> Decimal:
    """The quantity's value; ``ValueError(FORMAT_WRONG)`` when it is not one."""
    if isinstance(value, bool):
        raise ValueError(FORMAT_WRONG)
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise ValueError(FORMAT_WRONG)
    m = _NUMBER.match(value)
    if not m or not (m.group(2) or m.group(3)):
        raise ValueError(FORMAT_WRONG)
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    try:
        number = Decimal(f"{sign}{whole or '0'}.{frac or '0'}")
    except InvalidOperation as exc:
        raise ValueError(FORMAT_WRONG) from exc
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if _EXPONENT.match(suffix):
        return number * (Decimal(10) ** int(suffix[1:]))
    raise ValueError(FORMAT_WRONG)


def is_quantity(value: object) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True
