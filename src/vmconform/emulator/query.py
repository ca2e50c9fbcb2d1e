"""Query parameters read as kube-apiserver's parameter codec reads them.

* A boolean (``watch``, ``allowWatchBookmarks``, ``sendInitialEvents``, ``dryRun`` is a list) is
  true for any value except ``0`` and ``false`` in any case; absent is false
  (apimachinery ``runtime.Convert_Slice_string_To_bool``). The Python client sends ``watch=True``.
* An integer (``limit``, ``timeoutSeconds``, ``gracePeriodSeconds``) that does not parse is a 400
  with Go's ``strconv.ParseInt`` message (``Convert_Slice_string_To_int64``; the handler wraps a
  decode error in ``NewBadRequest``).
* A ``resourceVersion`` that is not an unsigned integer is a 400 naming the field
  (``APIObjectVersioner.ParseResourceVersion``).
"""

from __future__ import annotations

import json
import re
from typing import Mapping

from . import errors

_GO_INT = re.compile(r"^[+-]?[0-9]+$")
INT64_MAX = (1 << 63) - 1


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: true unless absent, ``0`` or ``false`` (any case)."""
    if name not in query:
        return False
    value = query[name]
    return not (value == "0" or value.lower() == "false")


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def integer(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    """An int64 query parameter; ``default`` when absent. 400 like the apiserver when malformed."""
    if name not in query:
        return default
    text = query[name]
    if not _GO_INT.match(text):
        raise errors.bad_request(f"strconv.ParseInt: parsing {_go_quote(text)}: invalid syntax")
    value = int(text)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise errors.bad_request(f"strconv.ParseInt: parsing {_go_quote(text)}: value out of range")
    return value


def resource_version(query: Mapping[str, str]) -> int | None:
    """``resourceVersion`` as a number; None when absent, empty or ``0`` ("any")."""
    text = query.get("resourceVersion", "")
    if text in ("", "0"):
        return None
    if not text.isdigit() or not text.isascii():
        raise errors.bad_request(
            f"resourceVersion: Invalid value: {_go_quote(text)}: "
            f"strconv.ParseUint: parsing {_go_quote(text)}: invalid syntax")
    return int(text)


PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")
