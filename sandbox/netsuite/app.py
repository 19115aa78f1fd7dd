"""NetSuite sandbox: SuiteTalk REST web services (record, SuiteQL, async jobs) with TBA.

Wire surface under ``/services/rest`` (shapes from shared/reference/erp-apis-netsuite-*.md):

* Every request is checked for an OAuth 1.0a HMAC-SHA256 signature with ``realm`` = the account id
  (a wrong secret is a 401 ``INVALID_LOGIN`` with NetSuite's ``o:errorDetails`` body).
* ``POST record/v1/{type}`` creates (204, ``Location`` of the new record; an ``externalId`` already
  used is ``DUP_RCRD``); ``PUT record/v1/{type}/eid:{externalId}`` upserts (204 + ``Location``);
  ``GET record/v1/{type}?q=email IS "a@b.com"`` lists ids (the collection filter, a subset);
  ``PATCH record/v1/{type}/{id}`` updates; ``GET record/v1/{type}/{id|eid:x}`` reads.
* ``POST record/v1/{type}/{id}/!transform/{target}`` (sales order -> invoice; body fields are
  copied onto the invoice, ``createdFrom`` points at the order; an order pending approval,
  ``orderStatus`` A, is refused; line fulfilment is not modelled).
* ``POST query/v1/suiteql`` (header ``Prefer: transient`` required) with ``limit`` (<= 1000) and
  ``offset``; pages carry ``items``, ``count``, ``hasMore``, ``offset``, ``totalResults``, ``links``.
* Batch (:mod:`sandbox.netsuite.jobs`): ``POST|PUT|PATCH record/v1/{type}`` with
  ``Prefer: respond-async`` and ``{"items": [...]}`` (at most 100, one record type) -> 202,
  ``Location: .../async/v1/job/{id}``. A repeated ``X-NetSuite-Idempotency-Key`` is a 400
  ``IDEMPOTENCY_ERROR`` whose ``Location`` is the first job.
  ``GET async/v1/job/{id}`` (``completed``/``progress``; a job reports ``pending`` for its first
  ``job_polls`` polls), ``.../task``, ``.../task/{tid}``, ``.../task/{tid}/result``. UNCONFIRMED:
  the body of a batch (``{"items": [...]}`` or a bare list are both accepted) and of a result; by
  default one task per job whose result is ``{"items": [{"status", "id", "externalId",
  "location"} or {"status": 400, "o:errorDetails": [...]}]}`` in input order; with
  ``result_form: per_task`` one task per record whose result is that record's object.
* ``GET system/v1/governanceLimits``; ``GET record/v1/metadata-catalog``.
* A per-account concurrency limit: a request arriving while ``concurrency`` are in flight is a 429
  ``CONCURRENCY_LIMIT_EXCEEDED`` (code UNCONFIRMED; NetSuite documents "Too Many Requests").

Admin (besides ``/__admin/state|requests|reset|faults``): ``POST /__admin/limits``
``{"concurrency", "latency_seconds", "job_polls", "result_form", "result_ids", "oneworld"}``, ``POST /__admin/seed``
``{"<recordType>": [{...}, ...]}`` (direct writes: no auth, no limits, no counters),
``POST /__admin/credentials`` (``{"consumer_secret"|"token_secret": ...}`` rotate a secret).
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sandbox.common.httpd import Fault, Request, Response, SandboxApp
from sandbox.netsuite import suiteql
from sandbox.netsuite.errors import INVALID_LOGIN_DETAIL, NetSuiteError, error_body
from sandbox.netsuite.jobs import Job, batch_items, write_one
from sandbox.netsuite.oauth import AuthFailure, TBACredentials, verify
from sandbox.netsuite.records import Account, now_iso, record_type

DEFAULT_ACCOUNT_ID = "1234567_SB1"
DEFAULT_CONSUMER_KEY = "sandbox-consumer-key"
DEFAULT_CONSUMER_SECRET = "sandbox-consumer-secret"
DEFAULT_TOKEN_ID = "sandbox-token-id"
DEFAULT_TOKEN_SECRET = "sandbox-token-secret"
DEFAULT_CONCURRENCY = 5
PAGE_MAX = 1000
REST = "/services/rest"


@dataclass
class Limits:
    """The account's limits and result shapes, changed through ``POST /__admin/limits``."""

    concurrency: int = DEFAULT_CONCURRENCY
    latency_seconds: float = 0.0
    job_polls: int = 1
    result_form: str = "collection"  # or "per_task" (the result shape is UNCONFIRMED)
    result_ids: bool = True  # False: success results carry only status and externalId


@dataclass
class Counters:
    """What the sandbox has seen (reported by ``GET /__admin/state``)."""

    requests: int = 0
    writes: dict[str, int] = field(default_factory=dict)
    batch_jobs: int = 0
    batch_records: int = 0
    suiteql: int = 0
    responses_401: int = 0
    responses_429: int = 0
    max_in_flight: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None


class NetSuiteSandbox(SandboxApp):
    """A faithful local NetSuite account for tests and demos (see module docstring)."""

    name = "netsuite"

    def __init__(
        self,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        token_id: str = DEFAULT_TOKEN_ID,
        token_secret: str = DEFAULT_TOKEN_SECRET,
        concurrency: int = DEFAULT_CONCURRENCY,
        seed: bool = True,
    ) -> None:
        super().__init__()
        self._creds_default = TBACredentials(
            account_id, consumer_key, consumer_secret, token_id, token_secret
        )
        self.creds = copy.copy(self._creds_default)
        self._limits_default = Limits(concurrency=concurrency)
        self.limits = copy.copy(self._limits_default)
        self.seed_data = seed
        self.account = Account(account_id)
        self.jobs: dict[str, Job] = {}
        self.idempotency: dict[str, str] = {}
        self.counters = Counters()
        self.in_flight = 0
        self._flight_lock = threading.Lock()
        self.auth_failures: list[str] = []
        self.nonces: set[tuple[int, str]] = set()
        self.reset()
        self._register_routes()

    # -- SandboxApp hooks ------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.account.reset()
            self.account.oneworld = True
            if self.seed_data:
                self.account.seed()
            self.jobs.clear()
            self.idempotency.clear()
            self.counters = Counters()
            self.limits = copy.copy(self._limits_default)
            self.creds = copy.copy(self._creds_default)
            self.auth_failures.clear()
            self.nonces.clear()

    def state_snapshot(self) -> dict[str, Any]:
        with self.lock:
            records: dict[str, list[dict[str, Any]]] = {}
            for table in self.account.tables.values():
                for record in table.values():
                    records.setdefault(record["_type"], []).append(self.account.public(record, self.base_url))
            c = self.counters
            return {
                "account_id": self.account.account_id,
                "records": records,
                "counts": {rtype: len(rows) for rtype, rows in records.items()},
                "counters": {
                    "requests": c.requests,
                    "writes": dict(c.writes),
                    "writes_total": sum(c.writes.values()),
                    "batch_jobs": c.batch_jobs,
                    "batch_records": c.batch_records,
                    "suiteql": c.suiteql,
                    "responses_401": c.responses_401,
                    "responses_429": c.responses_429,
                    "max_in_flight": c.max_in_flight,
                    "in_flight": self.in_flight,
                    "first_request_at": c.first_request_at,
                    "last_request_at": c.last_request_at,
                },
                "limits": {
                    "concurrency": self.limits.concurrency,
                    "latency_seconds": self.limits.latency_seconds,
                    "job_polls": self.limits.job_polls,
                    "result_form": self.limits.result_form,
                },
                "jobs": len(self.jobs),
                "auth_failures": list(self.auth_failures),
            }

    def fault_targets(self, request: Request) -> frozenset[str]:
        if request.method in ("POST", "PUT", "PATCH") and "/query/" not in request.path:
            return frozenset({"write"})
        return frozenset()

    def fault_response(self, status: int, request: Request, fault: Fault) -> Response:
        detail = fault.details.get("detail") or f"HTTP {status} injected by the sandbox"
        code = fault.details.get("code") or (
            "CONCURRENCY_LIMIT_EXCEEDED" if status == 429 else "UNEXPECTED_ERROR"
        )
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if status == 429:
            with self.lock:
                self.counters.responses_429 += 1
        return Response(status, error_body(status, code, detail), headers)

    def authorize(self, request: Request) -> Response | None:
        try:
            verify(request, self.creds, self.nonces)
        except AuthFailure as exc:
            with self.lock:
                self.counters.responses_401 += 1
                self.auth_failures.append(str(exc))
            return Response(401, error_body(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL))
        return None

    def not_found(self, request: Request) -> Response:
        return Response(
            404, error_body(404, "NONEXISTENT_PATH", f"The requested path {request.path} does not exist.")
        )

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/__admin/"):
            return super().dispatch(request)
        with self._flight_lock:
            over = self.in_flight >= self.limits.concurrency
            if not over:
                self.in_flight += 1
                self.counters.max_in_flight = max(self.counters.max_in_flight, self.in_flight)
            now = time.time()
            self.counters.requests += 1
            if self.counters.first_request_at is None:
                self.counters.first_request_at = now
            self.counters.last_request_at = now
        if over:
            with self.lock:
                self.counters.responses_429 += 1
            detail = (
                f"The request could not be processed: the account's concurrency limit of "
                f"{self.limits.concurrency} requests is exceeded. Retry later."
            )
            return Response(429, error_body(429, "CONCURRENCY_LIMIT_EXCEEDED", detail))
        try:
            if self.limits.latency_seconds:
                time.sleep(self.limits.latency_seconds)
            try:
                return super().dispatch(request)
            except NetSuiteError as exc:
                return exc.response()
        finally:
            with self._flight_lock:
                self.in_flight -= 1

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return getattr(self, "_base_url", "") or REST

    def _base(self, request: Request) -> str:
        host = request.header("host") or "127.0.0.1"
        self._base_url = f"http://{host}{REST}"
        return self._base_url

    def _count_write(self, rtype: str, n: int = 1) -> None:
        self.counters.writes[rtype] = self.counters.writes.get(rtype, 0) + n

    def _location(self, request: Request, record: dict[str, Any]) -> dict[str, str]:
        return {"Location": f"{self._base(request)}/record/v1/{record['_type']}/{record['id']}"}

    def _register_routes(self) -> None:
        r = self.route
        r("GET", f"{REST}/record/v1/metadata-catalog", self._metadata)
        r("GET", f"{REST}/system/v1/governanceLimits", self._governance)
        r("POST", f"{REST}/query/v1/suiteql", self._suiteql)
        r("GET", f"{REST}/record/v1/{{rtype}}", self._list)
        r("POST", f"{REST}/record/v1/{{rtype}}", self._create_or_batch)
        r("PUT", f"{REST}/record/v1/{{rtype}}", self._batch_only)
        r("PATCH", f"{REST}/record/v1/{{rtype}}", self._batch_only)
        r("GET", f"{REST}/record/v1/{{rtype}}/{{key}}", self._get)
        r("PUT", f"{REST}/record/v1/{{rtype}}/{{key}}", self._upsert)
        r("PATCH", f"{REST}/record/v1/{{rtype}}/{{key}}", self._patch)
        r("POST", f"{REST}/record/v1/{{rtype}}/{{key}}/!transform/{{target}}", self._transform)
        r("GET", f"{REST}/async/v1/job/{{job}}", self._job)
        r("GET", f"{REST}/async/v1/job/{{job}}/task", self._tasks)
        r("GET", f"{REST}/async/v1/job/{{job}}/task/{{task}}", self._task)
        r("GET", f"{REST}/async/v1/job/{{job}}/task/{{task}}/result", self._result)
        r("POST", "/__admin/limits", self._admin_limits)
        r("POST", "/__admin/seed", self._admin_seed)
        r("POST", "/__admin/credentials", self._admin_credentials)

    # -- record service ----------------------------------------------------------------------------
    def _metadata(self, request: Request) -> Response:
        from sandbox.netsuite.records import RECORD_TYPES

        base = self._base(request)
        items = [
            {
                "name": name,
                "links": [{"rel": "canonical", "href": f"{base}/record/v1/metadata-catalog/{name}"}],
            }
            for name in RECORD_TYPES
        ]
        return Response(200, {"items": items})

    def _governance(self, request: Request) -> Response:
        return Response(
            200,
            {
                "accountConcurrencyLimit": self.limits.concurrency,
                "unallocatedConcurrencyLimit": self.limits.concurrency,
                "limitType": "accountLimit",
            },
        )

    def _get(self, request: Request) -> Response:
        rtype = record_type(request.params["rtype"])
        with self.lock:
            record = self._existing(rtype, request.params["key"])
            return Response(200, self.account.public(record, self._base(request)))

    def _list(self, request: Request) -> Response:
        """The record collection, optionally filtered with ``q``; items carry only id and links."""
        from sandbox.netsuite import collection

        rtype = record_type(request.params["rtype"])
        limit, offset = _paging(request)
        q = request.arg("q")
        keep = collection.parse(q) if q else None
        base = self._base(request)
        with self.lock:
            table = self.account.tables[self.account.table_of(rtype)]
            found = [r for r in table.values() if r["_type"] == rtype and (keep is None or keep(r))]
        url = f"{base}/record/v1/{rtype}"
        items = [
            {"links": [{"rel": "self", "href": f"{url}/{r['id']}"}], "id": r["id"]}
            for r in found[offset : offset + limit]
        ]
        return Response(200, _page(url, items, limit, offset, len(found), q))

    def _existing(self, rtype: str, key: str) -> dict[str, Any]:
        """The record of type ``rtype`` by internal id or ``eid:``; a 404 when there is none."""
        record = self.account.get(rtype, key)
        if record is None:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"The record instance {key} does not exist.")
        return record

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError as exc:
            raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid JSON in the request body: {exc}") from exc
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise NetSuiteError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        return body

    def _create_or_batch(self, request: Request) -> Response:
        if _is_async(request):
            return self._batch(request)
        rtype = record_type(request.params["rtype"])
        body = self._body(request)
        with self.lock:
            record, _ = self.account.write(rtype, body)
            self._count_write(rtype)
            return Response(204, None, self._location(request, record))

    def _batch_only(self, request: Request) -> Response:
        if not _is_async(request):
            raise NetSuiteError(
                400,
                "INVALID_REQUEST",
                "A request to a record collection with PUT or PATCH must be a batch (Prefer: respond-async).",
            )
        return self._batch(request)

    def _upsert(self, request: Request) -> Response:
        rtype = record_type(request.params["rtype"])
        key = request.params["key"]
        if not key.startswith("eid:"):
            raise NetSuiteError(
                400, "INVALID_REQUEST", "Upsert works only with an external ID in the URL (eid:) and PUT."
            )
        body = self._body(request)
        with self.lock:
            record, _ = self.account.write(rtype, body, external_id=key[4:])
            self._count_write(rtype)
            return Response(204, None, self._location(request, record))

    def _patch(self, request: Request) -> Response:
        rtype = record_type(request.params["rtype"])
        body = self._body(request)
        with self.lock:
            record = self._existing(rtype, request.params["key"])
            updated, _ = self.account.write(rtype, body, record_id=record["id"])
            self._count_write(rtype)
            return Response(204, None, self._location(request, updated))

    def _transform(self, request: Request) -> Response:
        rtype = record_type(request.params["rtype"])
        target = record_type(request.params["target"])
        if (rtype, target) != ("salesOrder", "invoice"):
            raise NetSuiteError(400, "INVALID_TRANSFORM", f"A {rtype} cannot be transformed into a {target}.")
        body = self._body(request)
        with self.lock:
            order = self._existing(rtype, request.params["key"])
            if (order.get("orderStatus") or {}).get("id") == "A":
                raise NetSuiteError(
                    400,
                    "INVALID_TRANSFORM",
                    f"Sales order {order.get('tranId')} is pending approval and cannot be billed.",
                    "orderStatus",
                )
            invoice_body = {
                key: copy.deepcopy(order[key])
                for key in ("entity", "currency", "subsidiary", "location", "department", "class", "memo")
                if key in order
            }
            lines = [
                {k: v for k, v in line.items() if k in ("item", "quantity", "rate", "description")}
                for line in order["item"]["items"]
            ]
            invoice_body.update(body)
            invoice_body["item"] = {"items": lines}
            invoice_body["createdFrom"] = {"id": order["id"]}
            invoice, _ = self.account.write("invoice", invoice_body)
            order["status"] = "Billed"
            self._count_write("invoice")
            return Response(204, None, self._location(request, invoice))

    # -- SuiteQL -------------------------------------------------------------------------------------
    def _suiteql(self, request: Request) -> Response:
        if "transient" not in (request.header("prefer") or "").lower():
            raise NetSuiteError(
                400, "INVALID_HEADER", "SuiteQL requests must send the header 'Prefer: transient'."
            )
        body = self._body(request)
        limit, offset = _paging(request)
        try:
            query = suiteql.parse(str(body.get("q") or ""))
        except suiteql.SuiteQLError as exc:
            raise NetSuiteError(400, "INVALID_PARAMETER", str(exc)) from exc
        with self.lock:
            self.counters.suiteql += 1
            rows = suiteql.execute(query, self.account.rows(query.table))
        url = f"{self._base(request)}/query/v1/suiteql"
        items = [{"links": [], **row} for row in rows[offset : offset + limit]]
        return Response(200, _page(url, items, limit, offset, len(rows)))

    # -- async batch --------------------------------------------------------------------------------
    def _batch(self, request: Request) -> Response:
        rtype = record_type(request.params["rtype"])
        base = self._base(request)
        key = request.header("x-netsuite-idempotency-key")
        try:
            raw = request.json()
        except ValueError as exc:
            raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid JSON in the request body: {exc}") from exc
        items = batch_items(raw)
        start = now_iso()
        with self.lock:  # the key check and the job are one step: a same-key twin cannot slip in
            if key and key in self.idempotency:
                job_url = f"{base}/async/v1/job/{self.idempotency[key]}"
                detail = (
                    f"A request with the same idempotency key is already submitted. See the job at {job_url}."
                )
                return Response(400, error_body(400, "IDEMPOTENCY_ERROR", detail), {"Location": job_url})
            results: list[dict[str, Any]] = []
            for item in items:
                result, written = write_one(
                    self.account, request.method, rtype, item, base, self.limits.result_ids
                )
                results.append(result)
                if written:
                    self._count_write(rtype)
            job_id = str(len(self.jobs) + 1)
            self.jobs[job_id] = Job(
                job_id,
                results,
                start,
                now_iso(),
                polls_needed=self.limits.job_polls,
                per_task=self.limits.result_form == "per_task",
            )
            if key:
                self.idempotency[key] = job_id
            self.counters.batch_jobs += 1
            self.counters.batch_records += len(items)
        location = f"{base}/async/v1/job/{job_id}"
        return Response(202, None, {"Location": location, "Preference-Applied": "respond-async"})

    def _job_of(self, request: Request) -> Job:
        job = self.jobs.get(request.params["job"])
        if job is None:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"The job {request.params['job']} does not exist.")
        return job

    def _job_url(self, request: Request, job: Job) -> str:
        return f"{self._base(request)}/async/v1/job/{job.id}"

    def _job(self, request: Request) -> Response:
        with self.lock:
            job = self._job_of(request)
            job.polls += 1
            return Response(200, job.body(self._job_url(request, job)))

    def _tasks(self, request: Request) -> Response:
        with self.lock:
            job = self._job_of(request)
            return Response(200, job.tasks_body(f"{self._job_url(request, job)}/task"))

    def _task(self, request: Request) -> Response:
        tid = request.params["task"]
        with self.lock:
            job = self._job_of(request)
            return Response(200, job.task_body(f"{self._job_url(request, job)}/task/{tid}", tid))

    def _result(self, request: Request) -> Response:
        with self.lock:
            return Response(200, self._job_of(request).result_body(request.params["task"]))

    # -- admin -----------------------------------------------------------------------------------------
    def _admin_limits(self, request: Request) -> Response:
        spec = request.json() or {}
        with self.lock:
            if "concurrency" in spec:
                self.limits.concurrency = int(spec["concurrency"])
            if "latency_seconds" in spec:
                self.limits.latency_seconds = float(spec["latency_seconds"])
            if "job_polls" in spec:
                self.limits.job_polls = int(spec["job_polls"])
            if "result_ids" in spec:
                self.limits.result_ids = bool(spec["result_ids"])
            if "result_form" in spec:
                if spec["result_form"] not in ("collection", "per_task"):
                    return Response(400, {"error": "result_form is collection or per_task"})
                self.limits.result_form = str(spec["result_form"])
            if "oneworld" in spec:
                self.account.oneworld = bool(spec["oneworld"])
        return Response(200, self.state_snapshot()["limits"])

    def _admin_seed(self, request: Request) -> Response:
        spec = request.json() or {}
        created: dict[str, list[str]] = {}
        try:
            with self.lock:
                for rtype_name, rows in spec.items():
                    rtype = record_type(rtype_name)
                    for row in rows:
                        record, _ = self.account.write(rtype, row)
                        created.setdefault(rtype, []).append(record["id"])
        except NetSuiteError as exc:
            return exc.response()
        return Response(200, {"created": created})

    def _admin_credentials(self, request: Request) -> Response:
        spec = request.json() or {}
        with self.lock:
            for name in ("consumer_secret", "token_secret", "consumer_key", "token_id"):
                if name in spec:
                    setattr(self.creds, name, str(spec[name]))
        return Response(200, {"ok": True})


def _paging(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.arg("limit", "1000") or 1000)
        offset = int(request.arg("offset", "0") or 0)
    except ValueError as exc:
        raise NetSuiteError(400, "INVALID_PARAMETER", f"Invalid limit or offset: {exc}") from exc
    if not 1 <= limit <= PAGE_MAX or offset < 0:
        raise NetSuiteError(
            400, "INVALID_PARAMETER", f"limit must be between 1 and {PAGE_MAX}; offset must not be negative."
        )
    return limit, offset


def _page(
    url: str, items: list[dict[str, Any]], limit: int, offset: int, total: int, q: str | None = None
) -> dict[str, Any]:
    """A NetSuite collection page: items, count, hasMore, offset, totalResults and links."""
    extra = {"q": q} if q else {}

    def href(at: int) -> str:
        return f"{url}?{urlencode({**extra, 'limit': limit, 'offset': at})}"

    has_more = offset + limit < total
    links = [{"rel": "self", "href": href(offset)}]
    if has_more:
        links.append({"rel": "next", "href": href(offset + limit)})
    if offset > 0:
        links.append({"rel": "previous", "href": href(max(0, offset - limit))})
    return {
        "links": links,
        "count": len(items),
        "hasMore": has_more,
        "items": items,
        "offset": offset,
        "totalResults": total,
    }


def _is_async(request: Request) -> bool:
    return "respond-async" in (request.header("prefer") or "").lower()
