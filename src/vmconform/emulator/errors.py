"""Kubernetes ``Status`` errors raised by the store and rendered by the server."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API answers with a ``Status`` body (or plain text when ``plain``)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        group: str = "",
        kind: str = "",
        name: str = "",
        causes: list[dict[str, Any]] | None = None,
        plain: bool = False,
        retry_after: int = 0,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.group = group
        self.kind = kind
        self.name = name
        self.causes = causes
        self.plain = plain
        self.retry_after = retry_after  # details.retryAfterSeconds (e.g. an eviction's 429)

    def status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:  # omitempty: an admission webhook's denial may carry none
            del body["reason"]
        if details:
            body["details"] = details
        return body


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                    group=group, kind=resource, name=name)


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                    group=group, kind=resource, name=name)


def conflict(resource: str, name: str, err: str, group: str = "") -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {err}',
                    group=group, kind=resource, name=name)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(resource: str, name: str, err: str, group: str = "") -> ApiError:
    return ApiError(403, "Forbidden", f'{_qualified(resource, group)} "{name}" is forbidden: {err}',
                    group=group, kind=resource, name=name)


def internal(err: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {err}")


_CAUSE_TYPES = (("Required value", "FieldValueRequired"), ("Unsupported value", "FieldValueNotSupported"),
                ("Duplicate value", "FieldValueDuplicate"), ("Forbidden", "FieldValueForbidden"),
                ("Too long", "FieldValueTooLong"), ("Too many", "FieldValueTooMany"))


def cause_type(message: str) -> str:
    """The ``StatusCause`` type of a field error, from its message (field.ErrorType's text)."""
    return next((t for prefix, t in _CAUSE_TYPES if message.startswith(prefix)), "FieldValueInvalid")


def invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> ApiError:
    """422 Invalid; ``causes`` are (field, message) pairs. The message is apimachinery's
    ``NewInvalid``: one error as is, several as ``[a, b]`` (an aggregate)."""
    parts = [f"{f}: {m}" if f else m for f, m in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(
        422, "Invalid", f'{kind}.{group} "{name}" is invalid: {text}' if group else f'{kind} "{name}" is invalid: {text}',
        group=group, kind=kind, name=name,
        causes=[{"reason": cause_type(m), "message": m, "field": f} for f, m in causes],
    )


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
