"""QBO failures -> :mod:`erp_operators.errors` (the QBO half of the one classification table).

What python-quickbooks raises hides the HTTP status, so the client records the last response
and passes its status here. Notable shapes:

* 429 comes with an XML ``ThrottleExceeded`` body, which python-quickbooks reports as
  ``QuickbooksException(10000, "Error reading json response ...")``;
* 401 has a lowercase ``fault`` body and becomes ``AuthorizationException``;
* a Fault can arrive with HTTP 200 (:func:`fault_error`); python-quickbooks raises by code range,
  we classify by code.
"""

from __future__ import annotations

from typing import Any

from quickbooks.exceptions import QuickbooksException

from erp_operators.errors import (
    ERPAccessTokenRejected,
    ERPError,
    ERPThrottledError,
    VendorCodes,
    classify_failure,
    error_for,
)
from erp_operators.receipts import ErrorClass

QBO_CODES = VendorCodes(
    retriable={"3001", "3100", "10000"},  # throttled, internal error, severe
    auth={"100", "120", "3200", "3201"},
    # 5010 (stale SyncToken) is not retried as-is: the connector re-reads the object and retries once
    validation={"610", "2020", "2050", "2500", "4000", "5010", "6000", "6210", "6240"},
    fatal={"6190"},  # company not in a usable state (subscription lapsed)
)
LIBRARY_MESSAGES = ("Error reading json response", "Error returned with status code")
THROTTLE_MARKERS = ("ThrottleExceeded", "statusCode=429", 'code="3001"')


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(code: str | int | None, text: str, detail: str) -> str:
    """``QuickBooks Online error <code>: <text> (<detail>)``, the detail cut to 300 characters."""
    message = f"QuickBooks Online error {code}: {text}"
    if detail:
        message += f" ({detail[:300]})"
    return message


def translate(exc: QuickbooksException, status: int | None, headers: Any = None) -> ERPError:
    """One python-quickbooks exception (plus the HTTP status it came with) as an ERP error."""
    code = str(exc.error_code or "")
    detail = str(exc.detail or "")
    text = f"{exc.message} {detail}"
    if status == 401:
        return ERPAccessTokenRejected(
            "QuickBooks Online rejected the access token (401)", status=401, code=code
        )
    if status == 429 or any(marker in text for marker in THROTTLE_MARKERS):
        return ERPThrottledError(
            "QuickBooks Online throttled the request (429 ThrottleExceeded)",
            retry_after=_retry_after(headers),
            status=status or 429,
            code="3001",
        )
    if code == "10000" and str(exc.message).startswith(LIBRARY_MESSAGES):
        code = ""  # python-quickbooks' own "not JSON / not 200" code: classify by the HTTP status
    error_class = classify_failure(status=status, code=code or None, vendor=QBO_CODES)
    return error_for(
        error_class, _message(code or status, exc.message, detail), status=status, code=code or None
    )


def fault_error(fault: dict[str, Any]) -> ERPError:
    """A ``Fault`` object that came with HTTP 200 (a batch item, or a 200 carrying one) as an ERP error."""
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0]
    code = str(first.get("code") or "")
    message = first.get("Message") or first.get("message") or "fault"
    detail = first.get("Detail") or first.get("detail") or ""
    error_class = classify_failure(status=200, code=code or None, vendor=QBO_CODES)
    if error_class is ErrorClass.RETRIABLE and code == "3001":
        return ERPThrottledError(f"QuickBooks Online throttled: {message}", status=200, code=code)
    return error_for(error_class, _message(code, message, detail), status=200, code=code or None)
