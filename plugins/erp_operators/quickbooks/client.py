"""The QBO transport: python-quickbooks requests wrapped in limits, token handling and retries.

* Every HTTP call takes a slot from the realm limiter (shared budget + concurrency cap), unless the
  caller already took its unit (:meth:`RealmLimiter.prepaid`, used by the channel dispatcher).
* Calls may run in parallel threads (the bearer token and last response are kept per thread).
* A 401 renews the access token once (under the cross-process token lock) and repeats the call.
* Retriable failures (429 XML throttle, 5xx, timeouts, dropped connections, a 200 carrying a
  retriable Fault) are retried with jittered exponential backoff, at most ``max_attempts`` times.
* Writes carry a deterministic ``requestid``, so a retried write is answered from Intuit's replay
  cache instead of being performed twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import requests
import tenacity
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from erp_operators.errors import (
    ERPAccessTokenRejected,
    ERPAuthError,
    ERPError,
    ERPRetriableError,
    ERPThrottledError,
    is_retriable,
)
from erp_operators.quickbooks.auth import TokenKeeper, TokenStore
from erp_operators.quickbooks.config import QuickBooksConfig
from erp_operators.quickbooks.faults import fault_error, translate
from erp_operators.quickbooks.limiter import BudgetStore, RealmLimiter

log = logging.getLogger(__name__)

MAX_RESULTS = 1000  # QBO's page size ceiling
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36


def quote(value: str) -> str:
    """A QBO query string literal: ``'`` escaped with a backslash (``O\\'Brien``)."""
    return "'" + str(value).replace("'", "\\'") + "'"


def request_id(realm_id: str, entity: str, external_key: str, body_hash: str) -> str:
    """Deterministic ``requestid`` (<= 50 chars) for one write of one record."""
    digest = hashlib.sha256(f"{realm_id}|{entity}|{external_key}|{body_hash}".encode()).hexdigest()
    return f"sx{digest[: REQUEST_ID_MAX - 2]}"


def batch_request_id(realm_id: str, item_ids: Sequence[str]) -> str:
    """Deterministic ``requestid`` (<= 36 chars) for a batch, from its items' request ids."""
    digest = hashlib.sha256(f"{realm_id}|batch|{'|'.join(item_ids)}".encode()).hexdigest()
    return f"sb{digest[: BATCH_REQUEST_ID_MAX - 2]}"


class _Transport(QuickBooks):
    """python-quickbooks with our own HTTP session (timeouts, bearer token) and the last status kept."""

    timeout: float = 120.0
    http: requests.Session
    last: threading.local

    def process_request(self, request_type, url, headers="", params="", data=""):  # type: ignore[no-untyped-def]
        headers.update({"Authorization": f"Bearer {self.last.bearer}"})  # per thread: senders run in parallel
        self.last.response = None
        response = self.http.request(
            request_type, url, headers=headers, params=params, data=data, timeout=self.timeout
        )
        self.last.response = response
        return response


class QuickBooksClient:
    """JSON-in, JSON-out access to one QBO company with QBO's rules applied."""

    def __init__(
        self,
        config: QuickBooksConfig,
        store: TokenStore | BudgetStore,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.tokens = TokenKeeper(config, store)  # type: ignore[arg-type]
        self.limiter = RealmLimiter(
            config.realm_id, config.limits, store, **({"sleep": sleep} if sleep else {})
        )  # type: ignore[arg-type]
        self._sleep = sleep or tenacity.nap.sleep
        self._local = threading.local()
        self._qb = self._build_transport()
        self.http_calls = 0
        self.retries = 0

    def _build_transport(self) -> _Transport:
        qb = _Transport(company_id=self.config.realm_id, minorversion=self.config.minorversion)
        qb.api_url_v3 = qb.sandbox_api_url_v3 = self.config.api_base_url
        qb.http = requests.Session()
        qb.http.trust_env = False  # proxies from the environment must not capture a loopback sandbox
        qb.session = qb.http  # python-quickbooks checks that a session exists
        qb.timeout = self.config.limits.timeout
        qb.last = self._local
        return qb

    def close(self) -> None:
        self._qb.http.close()

    @property
    def company_url(self) -> str:
        return f"{self.config.api_base_url}/company/{self.config.realm_id}"

    # -- one call -----------------------------------------------------------------------------
    def _send_once(self, token: str, request: tuple[str, str, str, str, dict[str, Any], str | None]) -> Any:
        """One HTTP exchange with ``token``; translates every failure into an ERP error."""
        method, url, body, content_type, params, rid = request
        self._local.bearer = token
        self.http_calls += 1
        try:
            result = self._qb.make_request(
                method, url, request_body=body, content_type=content_type, params=dict(params), request_id=rid
            )
        except QuickbooksException as exc:
            response = getattr(self._local, "response", None)
            status = response.status_code if response is not None else None
            raise translate(exc, status, response.headers if response is not None else None) from exc
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise ERPRetriableError(
                f"QuickBooks Online unreachable: {exc.__class__.__name__}: {exc}"
            ) from exc
        if isinstance(result, dict) and result.get("fault"):  # lowercase fault with a 200
            raise fault_error(result["fault"])
        return result

    def _send_authorized(
        self, request: tuple[str, str, str, str, dict[str, Any], str | None], batch: bool
    ) -> Any:
        """Send; on 401 renew the access token and send again.

        The first renewal may pick up a token another process stored; if that one is rejected
        too, the second renewal refreshes with Intuit. A rejected fresh token means re-authorize.
        """
        token = self.tokens.access_token()
        for renewals in range(3):
            with self.limiter.slot(batch=batch):
                try:
                    return self._send_once(token, request)
                except ERPAccessTokenRejected as exc:
                    if renewals == 2:
                        raise ERPAuthError(
                            f"re-authorize QuickBooks Online for realm {self.config.realm_id}: "
                            "a freshly refreshed access token was rejected"
                        ) from exc
            log.info("QuickBooks realm %s: access token rejected; renewing", self.config.realm_id)
            token = self.tokens.renew(rejected=token)
        raise AssertionError("unreachable")

    def _wait(self, state: tenacity.RetryCallState) -> float:
        limits = self.config.limits
        exc = state.outcome.exception() if state.outcome else None
        backoff = tenacity.wait_random_exponential(multiplier=limits.backoff_initial, max=limits.backoff_max)(
            state
        )
        if isinstance(exc, ERPThrottledError) and exc.retry_after:
            backoff = max(backoff, exc.retry_after * limits.time_scale)  # Retry-After is real seconds
        return limits.scaled(backoff)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "QuickBooks realm %s: attempt %d failed (%s); retrying in %.2fs",
            self.config.realm_id,
            state.attempt_number,
            exc,
            state.next_action.sleep if state.next_action else 0.0,
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        content_type: str = "application/json",
        batch: bool = False,
    ) -> dict[str, Any]:
        """Call ``/v3/company/{realm}/{path}`` with retries; returns the parsed JSON body."""
        url = f"{self.company_url}/{path}"
        text = body if isinstance(body, str) else (json.dumps(body) if body is not None else "")
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retriable),
            stop=tenacity.stop_after_attempt(self.config.limits.max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        request = (method, url, text, content_type, dict(params or {}), request_id)
        return retrying(self._send_authorized, request, batch)

    # -- QBO operations -----------------------------------------------------------------------
    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        return self.call("GET", f"{entity.lower()}/{entity_id}")[entity]

    def create(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        return self.call("POST", entity.lower(), body, request_id=request_id)[entity]

    def sparse_update(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """``body`` must hold ``Id`` and the current ``SyncToken``."""
        return self.call("POST", entity.lower(), {**body, "sparse": True}, request_id=request_id)[entity]

    def query(self, statement: str) -> dict[str, Any]:
        """One query page: the ``QueryResponse`` object (``{}`` when nothing matched)."""
        result = self.call("POST", "query", statement, content_type="application/text")
        return result.get("QueryResponse") or {}

    def query_all(
        self, entity: str, where: str = "", page_size: int = MAX_RESULTS
    ) -> Iterator[dict[str, Any]]:
        """Every row of ``SELECT * FROM entity [WHERE ...]``, paging with STARTPOSITION (1-based)."""
        clause = f" WHERE {where}" if where else ""
        start = 1
        while True:
            page = self.query(
                f"SELECT * FROM {entity}{clause} ORDERBY Id STARTPOSITION {start} MAXRESULTS {page_size}"
            ).get(entity, [])
            yield from page
            if len(page) < page_size:
                return
            start += len(page)

    def batch(
        self, operations: Sequence[Mapping[str, Any]], item_request_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """POST one ``/batch`` (<= batch_size items, each with a ``bId``); responses by ``bId``."""
        if len(operations) > self.config.limits.batch_size:
            raise ValueError(f"a QBO batch holds at most {self.config.limits.batch_size} items")
        rid = batch_request_id(self.config.realm_id, item_request_ids)
        result = self.call(
            "POST", "batch", {"BatchItemRequest": list(operations)}, request_id=rid, batch=True
        )
        return {item.get("bId", ""): item for item in result.get("BatchItemResponse", [])}

    @staticmethod
    def item_error(item: Mapping[str, Any]) -> ERPError | None:
        """The error of one batch item response, if it carries a Fault."""
        fault = item.get("Fault")
        return fault_error(fault) if fault else None
