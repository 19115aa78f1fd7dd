"""QuickBooks Online error bodies, exactly as the API puts them on the wire.

Three shapes exist and clients must tell them apart:

* the ``Fault`` JSON of validation and system errors (HTTP 400, 500, and sometimes HTTP 200);
* the lowercase ``fault`` JSON of HTTP 401 (expired, revoked or unknown access token);
* the XML ``IntuitResponse`` of HTTP 429 (``ThrottleExceeded``), sent even when JSON was asked for.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.common.httpd import Response
from sandbox.quickbooks.store import Clock, response_time

THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time}">'
    '<Fault type="SERVICE"><Error code="3001">'
    "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    "<Detail>The request limit was reached.  Try again later</Detail>"
    "</Error></Fault></IntuitResponse>"
)

OBJECT_NOT_FOUND_DETAIL = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
STALE_OBJECT_DETAIL = (
    "Stale Object Error : You and Anonymous were working on this at the same time. "
    "Anonymous finished before you did, so your work was not saved."
)


class QboError(Exception):
    """One QBO error: raised by the rules, rendered as a ``Fault`` by the app."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        element: str = "",
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> dict[str, Any]:
        """The ``Fault`` object (without the envelope), as batch items carry it."""
        error = {"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}
        return {"Error": [error], "type": self.fault_type}


def required_missing(name: str) -> QboError:
    return QboError(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=name,
    )


def invalid_property(name: str, reason: str) -> QboError:
    return QboError(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{name} specified is unsupported or invalid: {reason}",
        element=name,
    )


def string_length(name: str, maximum: int, supplied: int) -> QboError:
    return QboError(
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{maximum} "
        f"supported. Supplied length:{supplied}",
        element=name,
    )


def object_not_found(element: str, detail: str = OBJECT_NOT_FOUND_DETAIL) -> QboError:
    return QboError("610", "Object Not Found", detail, element=element)


def stale_object() -> QboError:
    return QboError("5010", "Stale Object Error", STALE_OBJECT_DETAIL, element="SyncToken")


def business_error(detail: str, element: str = "") -> QboError:
    return QboError(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def unsupported_operation(detail: str) -> QboError:
    return QboError("500", "Unsupported Operation", detail)


def query_parse_error(detail: str) -> QboError:
    return QboError("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_validation_error(detail: str) -> QboError:
    return QboError("4001", "Invalid query", f"QueryValidationError: {detail}")


def fault_envelope(fault: dict[str, Any], clock: Clock) -> dict[str, Any]:
    return {"Fault": fault, "time": response_time(clock.now())}


def fault_response(error: QboError, clock: Clock, status: int | None = None) -> Response:
    """A ``Fault`` JSON response; ``status`` overrides the error's own (used for 200-with-Fault)."""
    return Response(status if status is not None else error.status, fault_envelope(error.fault(), clock))


def system_fault(status: int = 500, code: str = "3100") -> QboError:
    return QboError(
        code,
        "An application error has occurred while processing your request",
        f"System Failure Error: the service answered HTTP {status}. Try again later.",
        status=status,
        fault_type="SystemFault",
    )


def authentication_failed(detail: str) -> Response:
    """HTTP 401 with the lowercase ``fault`` body QBO uses for token problems (code 3200)."""
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }
    headers = {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'}
    return Response(401, body, headers)


def throttled(clock: Clock) -> Response:
    """HTTP 429 with the XML ``ThrottleExceeded`` body."""
    body = THROTTLE_XML.format(time=response_time(clock.now()))
    return Response(429, body, content_type="application/xml")
