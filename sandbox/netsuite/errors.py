"""NetSuite's REST error body: ``type``, ``title``, ``status`` and ``o:errorDetails[]``.

Shape from Oracle's "Error Handling in REST Web Services" (see shared/reference). Error codes the
reference does not confirm for REST (``DUP_RCRD``, ``DUP_ENTITY``, ``INVALID_KEY_OR_REF``,
``CONCURRENCY_LIMIT_EXCEEDED``) are the SOAP-era names, used here as plausible stand-ins.
"""

from __future__ import annotations

from typing import Any

from sandbox.common.httpd import Response

_TYPES = {
    400: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1", "Bad Request"),
    401: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2", "Unauthorized"),
    403: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.4", "Forbidden"),
    404: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.5", "Not Found"),
    405: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.6", "Method Not Allowed"),
    429: ("https://tools.ietf.org/html/rfc6585#section-4", "Too Many Requests"),
    500: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.1", "Internal Server Error"),
    502: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.3", "Bad Gateway"),
    503: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.4", "Service Unavailable"),
}

INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)


class NetSuiteError(Exception):
    """A refusal the sandbox answers with NetSuite's error body."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.detail, self.path)

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response(self.status, self.body(), dict(headers or {}))


def error_body(status: int, code: str, detail: str, path: str | None = None) -> dict[str, Any]:
    """NetSuite's error body with one ``o:errorDetails`` entry."""
    kind, title = _TYPES.get(status, ("about:blank", "Error"))
    entry: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path:
        entry["o:errorPath"] = path
    return {"type": kind, "title": title, "status": status, "o:errorDetails": [entry]}


def missing(field: str) -> NetSuiteError:
    """A required field left empty."""
    return NetSuiteError(400, "USER_ERROR", f"Please enter a value for [{field}].", field)


def bad_ref(field: str, value: Any) -> NetSuiteError:
    """A reference to a record the account does not have."""
    return NetSuiteError(
        400,
        "INVALID_KEY_OR_REF",
        f"Invalid Field Value {value} for the following field: {field}",
        field,
    )
