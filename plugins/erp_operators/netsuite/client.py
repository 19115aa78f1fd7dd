"""The NetSuite transport: signed REST calls with NetSuite's error body, retries and async jobs.

* Every call is signed by the hook's OAuth 1.0a HMAC-SHA256 session (``realm`` = account id).
* Failures become :mod:`erp_operators.errors` classes from the HTTP status and the
  ``o:errorDetails[0]["o:errorCode"]``: 429, 5xx, transport errors and the concurrency codes are
  retried with jittered exponential backoff (``Retry-After`` honoured); 401/403 are an
  :class:`~erp_operators.errors.ERPAuthError` at once; other 4xx are not retried.
* SuiteQL is paged with ``limit``/``offset`` until ``hasMore`` is false.
* Batches go to the asynchronous batch endpoint (at most 100 records, one type) with an
  ``X-NetSuite-Idempotency-Key`` made per submission and resent on its retries (a lost answer is
  read back from the first job); the job is polled until it completes or ``job_timeout`` passes,
  and its per-record results are read back through the job's task resources.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
import tenacity

from erp_operators.errors import (
    ERPAuthError,
    ERPError,
    ERPRetriableError,
    ERPThrottledError,
    VendorCodes,
    classify_failure,
    error_for,
    is_retriable,
)
from erp_operators.receipts import ErrorClass

if TYPE_CHECKING:
    from erp_operators.netsuite.hook import NetSuiteConfig

log = logging.getLogger(__name__)

BATCH_MAX = 100
PAGE_MAX = 1000
COLLECTION_TYPE = "application/vnd.oracle.resource+json; type=collection"
NETSUITE_CODES = VendorCodes(
    retriable=frozenset(
        {
            "CONCURRENCY_LIMIT_EXCEEDED",
            "SSS_REQUEST_LIMIT_EXCEEDED",
            "WS_REQUEST_BLOCKED",
            "WS_CONCUR_SESSION_DISALLWD",
            "EXCEEDED_CONCURRENT_REQUEST_LIMIT",
        }
    ),
    auth=frozenset({"INVALID_LOGIN", "INVALID_LOGIN_ATTEMPT", "INVALID_LOGIN_CREDENTIALS"}),
)


def quote(value: Any) -> str:
    """A SuiteQL string literal (``'`` doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def error_details(body: Any) -> tuple[str, str, str]:
    """``(code, detail, path)`` of a NetSuite ``o:errorDetails`` body.

    Code and path are the first entry's; the detail joins every entry's (``detail [path]`` for the
    later ones), so a refusal that lists several fields names them all.
    """
    if not isinstance(body, Mapping):
        return "", "", ""
    details = [d for d in body.get("o:errorDetails") or [] if isinstance(d, Mapping)]
    if not details:
        return "", str(body.get("title") or body.get("detail") or ""), ""
    first = details[0]
    texts: list[str] = []
    for n, entry in enumerate(details):
        text = str(entry.get("detail") or "").strip()
        path = str(entry.get("o:errorPath") or "")
        if n and path:
            text = f"{text} [{path}]"
        if text and text not in texts:
            texts.append(text)
    return str(first.get("o:errorCode") or ""), "; ".join(texts), str(first.get("o:errorPath") or "")


def make_error(
    status: int | None, body: Any, what: str, *, retry_after: float | None = None, location: str = ""
) -> ERPError:
    """The classified ERP error for one NetSuite failure; the message names ``what`` and the field.

    The error also carries NetSuite's ``detail``, ``path`` (``o:errorPath``) and the answer's
    ``Location`` (an ``IDEMPOTENCY_ERROR`` points at the earlier job there).
    """
    code, detail, path = error_details(body)
    error_class = classify_failure(status=status, code=code, vendor=NETSUITE_CODES)
    field_note = f", field {path}" if path else ""
    text = detail or f"HTTP {status}"
    message = f"NetSuite refused {what}: {text} ({code or 'HTTP'} {status}{field_note})" if what else text
    if error_class is ErrorClass.RETRIABLE and (status == 429 or code in NETSUITE_CODES.retriable):
        exc: ERPError = ERPThrottledError(message, retry_after=retry_after, status=status, code=code)
    else:
        exc = error_for(error_class, message, status=status, code=code)
    exc.detail = detail  # type: ignore[attr-defined]
    exc.path = path  # type: ignore[attr-defined]
    exc.location = location  # type: ignore[attr-defined]
    return exc


def id_from_location(location: str) -> str:
    """The record id at the end of a ``Location`` URL (``.../customer/647`` -> ``647``)."""
    return location.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class BatchResult:
    """One record's outcome in an async batch (``error`` set when it was refused)."""

    index: int
    ok: bool
    id: str = ""
    external_id: str = ""
    error: ERPError | None = None


class NetSuiteClient:
    """JSON-in, JSON-out access to one NetSuite account with NetSuite's rules applied."""

    def __init__(
        self,
        config: NetSuiteConfig,
        session: requests.Session,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.session = session
        self._sleep = sleep or tenacity.nap.sleep
        self.http_calls = 0
        self.retries = 0

    @property
    def auth(self) -> Any:
        """The OAuth 1.0a signer of the session."""
        return self.session.auth

    def url(self, endpoint: str) -> str:
        """Absolute URL of ``endpoint`` (relative to ``/services/rest/``, or already absolute)."""
        if endpoint.startswith(("http://", "https://")):
            return endpoint
        return f"{self.config.base_url}/{endpoint.lstrip('/')}"

    def close(self) -> None:
        """Close the signed session."""
        self.session.close()

    # -- one call ------------------------------------------------------------------------------------
    def _send_once(
        self,
        method: str,
        url: str,
        body: Any,
        params: Mapping[str, Any],
        headers: Mapping[str, str],
        what: str,
    ) -> requests.Response:
        self.http_calls += 1
        data = None if body is None else json.dumps(body)
        try:
            response = self.session.request(
                method,
                url,
                data=data,
                params=dict(params),
                headers=dict(headers),
                timeout=self.config.timeout,
            )
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise ERPRetriableError(
                f"NetSuite unreachable ({what or url}): {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code < 400:
            return response
        try:
            payload = response.json()
        except ValueError:
            payload = {"title": response.text[:200] or response.reason}
        retry_after = _retry_after(response.headers.get("Retry-After"))
        exc = make_error(
            response.status_code,
            payload,
            what or f"{method} {url}",
            retry_after=retry_after,
            location=response.headers.get("Location", ""),
        )
        if isinstance(exc, ERPAuthError):
            code, detail, _ = error_details(payload)
            raise ERPAuthError(
                f"NetSuite rejected the token-based authentication for account {self.config.account_id} "
                f"(HTTP {response.status_code} {code or ''}: {detail}); check the consumer key/secret, the "
                "token id/secret and the token role's permissions",
                status=response.status_code,
                code=code,
            )
        raise exc

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = tenacity.wait_random_exponential(
            multiplier=self.config.backoff_initial, max=self.config.backoff_max
        )(state)
        if isinstance(exc, ERPThrottledError) and exc.retry_after:
            backoff = max(backoff, min(exc.retry_after, self.config.backoff_max))
        return backoff

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "NetSuite account %s: attempt %d failed (%s); retrying in %.2fs",
            self.config.account_id,
            state.attempt_number,
            exc,
            state.next_action.sleep if state.next_action else 0.0,
        )

    def request(
        self,
        method: str,
        endpoint: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "",
    ) -> requests.Response:
        """Call ``endpoint`` (relative to ``/services/rest/``) with retries; raises an ERP error."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retriable),
            stop=tenacity.stop_after_attempt(self.config.max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(self._send_once, method, self.url(endpoint), body, params or {}, headers or {}, what)

    # -- records ---------------------------------------------------------------------------------------
    def get_record(self, rtype: str, key: str, what: str = "") -> dict[str, Any] | None:
        """A record by internal id or ``eid:<externalId>``; None when NetSuite has no such record."""
        try:
            return self.request("GET", f"record/v1/{rtype}/{key}", what=what or f"{rtype} {key}").json()
        except ERPError as exc:
            if exc.status == 404:
                return None
            raise

    def _written_id(self, response: requests.Response, rtype: str, what: str) -> str:
        location = response.headers.get("Location", "")
        if not location:
            raise ERPRetriableError(f"NetSuite answered {what} without a Location header")
        record_id = id_from_location(location)
        if record_id.startswith("eid:"):  # resolve an external-id location to the internal id
            record = self.get_record(rtype, record_id, what)
            if record is None:
                raise ERPRetriableError(f"NetSuite cannot find {what} it just wrote")
            record_id = str(record["id"])
        return record_id

    def create(self, rtype: str, body: Mapping[str, Any], what: str) -> str:
        """``POST record/v1/{type}`` -> the new record's internal id (from ``Location``)."""
        return self._written_id(
            self.request("POST", f"record/v1/{rtype}", dict(body), what=what), rtype, what
        )

    def upsert(self, rtype: str, external_id: str, body: Mapping[str, Any], what: str) -> str:
        """``PUT record/v1/{type}/eid:{externalId}`` (create or update) -> the internal id."""
        response = self.request("PUT", f"record/v1/{rtype}/eid:{external_id}", dict(body), what=what)
        return self._written_id(response, rtype, what)

    def update(self, rtype: str, record_id: str, body: Mapping[str, Any], what: str) -> str:
        """``PATCH record/v1/{type}/{id}`` with the changed fields -> the record's internal id."""
        response = self.request("PATCH", f"record/v1/{rtype}/{record_id}", dict(body), what=what)
        return self._written_id(response, rtype, what) if response.headers.get("Location") else record_id

    def transform(self, rtype: str, record_id: str, target: str, body: Mapping[str, Any], what: str) -> str:
        """``POST record/v1/{type}/{id}/!transform/{target}`` -> the new record's id."""
        response = self.request(
            "POST", f"record/v1/{rtype}/{record_id}/!transform/{target}", dict(body), what=what
        )
        return self._written_id(response, target, what)

    # -- SuiteQL --------------------------------------------------------------------------------------
    def suiteql(self, query: str, page_size: int = PAGE_MAX) -> list[dict[str, Any]]:
        """Every row of a SuiteQL query (lower-case keys), paging until ``hasMore`` is false."""
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = self.request(
                "POST",
                "query/v1/suiteql",
                {"q": query},
                params={"limit": page_size, "offset": offset},
                headers={"Prefer": "transient"},
                what="a SuiteQL query",
            ).json()
            items = body.get("items") or []
            rows.extend({k: v for k, v in item.items() if k != "links"} for item in items)
            if not body.get("hasMore") or not items:
                return rows
            offset += len(items)

    def select_in(
        self,
        table: str,
        columns: str,
        column: str,
        values: Iterable[str],
        *,
        where: str = "",
        lower: bool = False,
        chunk: int = 200,
    ) -> list[dict[str, Any]]:
        """``SELECT columns FROM table WHERE [LOWER(]column[)] IN (...) [AND where]`` over chunks."""
        wanted = sorted({str(v).lower() if lower else str(v) for v in values if str(v)})
        rows: list[dict[str, Any]] = []
        target = f"LOWER({column})" if lower else column
        for start in range(0, len(wanted), chunk):
            literals = ", ".join(quote(v) for v in wanted[start : start + chunk])
            extra = f" AND {where}" if where else ""
            rows.extend(self.suiteql(f"SELECT {columns} FROM {table} WHERE {target} IN ({literals}){extra}"))
        return rows

    # -- async batch -----------------------------------------------------------------------------------
    @staticmethod
    def idempotency_key() -> str:
        """A fresh ``X-NetSuite-Idempotency-Key`` for one submission of one batch.

        The key is made once per :meth:`batch` call and resent on that call's retries, so a batch
        whose answer was lost is never run twice. It is not derived from the content: the same
        records sent again later (a change, then a change back) are new work, not a repeat.
        """
        return str(uuid.uuid4())

    def batch(
        self, rtype: str, method: str, items: Sequence[Mapping[str, Any]], what: str
    ) -> list[BatchResult]:
        """Send one async batch (<= 100 records of one type), wait for it, return per-record results."""
        if not items:
            return []
        if len(items) > BATCH_MAX:
            raise ValueError(f"a NetSuite batch holds at most {BATCH_MAX} records, not {len(items)}")
        headers = {
            "Prefer": "respond-async",
            "Content-Type": COLLECTION_TYPE,
            "X-NetSuite-Idempotency-Key": self.idempotency_key(),
        }
        try:
            response = self.request(
                method, f"record/v1/{rtype}", {"items": list(items)}, headers=headers, what=what
            )
            job_url = response.headers.get("Location", "")
        except ERPError as exc:
            job_url = getattr(exc, "location", "")
            if exc.code != "IDEMPOTENCY_ERROR" or not job_url:
                raise
            log.info("NetSuite: %s was submitted before (job %s); reading that job's results", what, job_url)
        if not job_url:
            raise ERPRetriableError(f"NetSuite accepted {what} without a job Location")
        results = self.job_results(job_url, what)
        return self._match_results(items, results, what)

    def job_results(self, job_url: str, what: str) -> list[dict[str, Any]]:
        """Poll an async job until it completes; the raw per-record results of all its tasks.

        Polls every ``poll_interval`` seconds for at most ``job_timeout`` seconds, then raises a
        retriable error naming the job (it may still finish; a rerun is safe, see the connector).
        """
        timeout = self.config.job_timeout
        deadline = time.monotonic() + timeout
        polls = 0
        while True:
            job = self.request("GET", job_url, what=f"the job of {what}").json()
            polls += 1
            progress = str(job.get("progress", ""))
            if job.get("completed") or progress.lower() in ("succeeded", "failed", "completed"):
                break
            if time.monotonic() >= deadline:
                raise ERPRetriableError(
                    f"NetSuite job {job_url} for {what} was still {progress or 'running'} after "
                    f"{timeout:g}s ({polls} polls); its records may still land, and a rerun is safe"
                )
            self._sleep(self.config.poll_interval)
        task_links = _links(job.get("task")) or [f"{job_url.rstrip('/')}/task"]
        results: list[dict[str, Any]] = []
        for link in task_links:
            tasks = self.request("GET", link, what=f"the tasks of {what}").json()
            for task_url in _task_urls(tasks, link):
                task = self.request("GET", task_url, what=f"a task of {what}").json()
                result_url = next(
                    (h for h in _links(task) if h.rstrip("/").endswith("/result")),
                    f"{task_url.rstrip('/')}/result",
                )
                body = self.request("GET", result_url, what=f"the result of {what}").json()
                results.extend(_result_rows(body))
        return results

    @staticmethod
    def _match_results(
        items: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]], what: str
    ) -> list[BatchResult]:
        by_external = {str(r.get("externalId")): r for r in results if r.get("externalId")}
        out: list[BatchResult] = []
        for index, item in enumerate(items):
            ext = str(item.get("externalId") or "")
            row = by_external.get(ext) if ext else None
            if row is None and len(results) == len(items):  # no external ids: results are in input order
                row = results[index]
            if row is None:
                error = ERPRetriableError(
                    f"NetSuite's job for {what} has no result for record {ext or index}"
                )
                out.append(BatchResult(index, False, external_id=ext, error=error))
                continue
            status = _status(row)
            record_id = str(row.get("id") or "") or (
                id_from_location(str(row.get("location") or row.get("Location") or ""))
                if row.get("location") or row.get("Location")
                else ""
            )
            if status < 400:  # an id the result leaves out is looked up by external id by the caller
                out.append(BatchResult(index, True, id=record_id, external_id=ext))
            else:
                error = make_error(status, row, f"record {ext or index} of {what}")
                out.append(BatchResult(index, False, external_id=ext, error=error))
        return out


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _links(obj: Any) -> list[str]:
    if not isinstance(obj, Mapping):
        return []
    return [
        str(link["href"]) for link in obj.get("links") or [] if isinstance(link, Mapping) and link.get("href")
    ]


def _task_urls(tasks: Any, collection_url: str) -> list[str]:
    """Task URLs of a task collection (``items[].links`` self hrefs, or ``items[].id``)."""
    urls: list[str] = []
    for item in (tasks or {}).get("items") or []:
        hrefs = _links(item)
        if hrefs:
            urls.append(hrefs[0])
        elif isinstance(item, Mapping) and item.get("id"):
            urls.append(f"{collection_url.rstrip('/')}/{item['id']}")
    return urls


def _result_rows(body: Any) -> list[dict[str, Any]]:
    """Per-record rows of a task result: ``{"items": [...]}``, a list, or one record's result."""
    if isinstance(body, list):
        return [dict(r) for r in body if isinstance(r, Mapping)]
    if isinstance(body, Mapping):
        if isinstance(body.get("items"), list):
            return [dict(r) for r in body["items"] if isinstance(r, Mapping)]
        return [dict(body)]
    return []


def _status(row: Mapping[str, Any]) -> int:
    for key in ("status", "httpStatusCode", "statusCode"):
        value = row.get(key)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return 400 if row.get("o:errorDetails") else 204
