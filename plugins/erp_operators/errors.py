"""ERP error classes and the one place that decides retriable vs fatal vs validation vs auth.

Connectors translate whatever their client library raises into an :class:`ERPError` subclass
by calling :func:`classify_failure` (HTTP status + the vendor's error code) and
:func:`error_for`. Everything above the connector (operators, DAGs, the retry loop) only looks
at ``error_class``:

* ``retriable``: 429, 408, 5xx, timeouts, dropped connections, vendor throttle codes. Retried
  with backoff inside the connector, then by Airflow task retries.
* ``auth``: the refresh token is revoked or expired. Never retried: a human re-authorizes.
* ``validation``: the ERP refused this record (duplicate, missing reference, bad value). Never
  retried; the record is quarantined with the message.
* ``fatal``: anything else (a 4xx we do not understand, a misconfiguration). Never retried.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from erp_operators.receipts import ErrorClass


class ERPError(Exception):
    """Base class: an ERP call failed. ``error_class`` says what to do about it."""

    error_class: ErrorClass = ErrorClass.FATAL

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ERPRetriableError(ERPError):
    """Transient: throttling, ERP outage, timeout. Safe to retry the same request."""

    error_class = ErrorClass.RETRIABLE


class ERPThrottledError(ERPRetriableError):
    """The ERP said slow down (HTTP 429 or a throttle fault); ``retry_after`` in seconds if known."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ERPAccessTokenRejected(ERPRetriableError):
    """HTTP 401 on an API call: the access token expired or was revoked; refresh once and retry."""


class ERPFatalError(ERPError):
    """Not transient and not about one record: configuration or an ERP refusal."""

    error_class = ErrorClass.FATAL


class ERPValidationError(ERPError):
    """The ERP refused this record; quarantine it, do not retry."""

    error_class = ErrorClass.VALIDATION


class ERPAuthError(ERPError):
    """The refresh token is no longer valid; a human must re-authorize the ERP connection."""

    error_class = ErrorClass.AUTH


_ERRORS_BY_CLASS: dict[ErrorClass, type[ERPError]] = {
    ErrorClass.RETRIABLE: ERPRetriableError,
    ErrorClass.FATAL: ERPFatalError,
    ErrorClass.VALIDATION: ERPValidationError,
    ErrorClass.AUTH: ERPAuthError,
}

RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
VALIDATION_STATUSES = frozenset({400, 404, 409, 422})
AUTH_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class VendorCodes:
    """A vendor's error codes that override the HTTP-status rule (codes as strings)."""

    retriable: Collection[str] = field(default_factory=frozenset)
    auth: Collection[str] = field(default_factory=frozenset)
    validation: Collection[str] = field(default_factory=frozenset)
    fatal: Collection[str] = field(default_factory=frozenset)


def classify_failure(
    *,
    status: int | None = None,
    code: str | int | None = None,
    transport_error: bool = False,
    vendor: VendorCodes | None = None,
) -> ErrorClass:
    """Classify one failed call. Vendor codes win over the HTTP status; unknown means fatal."""
    if transport_error:
        return ErrorClass.RETRIABLE
    code_text = "" if code is None else str(code)
    if vendor is not None and code_text:
        for error_class, codes in (
            (ErrorClass.RETRIABLE, vendor.retriable),
            (ErrorClass.AUTH, vendor.auth),
            (ErrorClass.VALIDATION, vendor.validation),
            (ErrorClass.FATAL, vendor.fatal),
        ):
            if code_text in codes:
                return error_class
    if status is None:
        return ErrorClass.FATAL
    if status in RETRIABLE_STATUSES or status >= 500:
        return ErrorClass.RETRIABLE
    if status in AUTH_STATUSES:
        return ErrorClass.AUTH
    if status in VALIDATION_STATUSES or (status == 200 and code_text):
        return ErrorClass.VALIDATION
    return ErrorClass.FATAL


def error_for(error_class: ErrorClass, message: str, **kwargs: object) -> ERPError:
    """The exception instance for a classification."""
    return _ERRORS_BY_CLASS[error_class](message, **kwargs)  # type: ignore[arg-type]


def error_class_of(exc: BaseException) -> ErrorClass:
    """The class of any exception: ERP errors know theirs, anything else is fatal."""
    if isinstance(exc, ERPError):
        return exc.error_class
    if isinstance(exc, ConnectionError | TimeoutError):
        return ErrorClass.RETRIABLE
    return ErrorClass.FATAL


def is_retriable(exc: BaseException) -> bool:
    """True when retrying the same request may succeed."""
    return error_class_of(exc) is ErrorClass.RETRIABLE
