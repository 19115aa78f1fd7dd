"""QuickBooks Online sandbox: the Accounting API v3 and Intuit OAuth 2.0 on one local HTTP server.

Wire surface (what python-quickbooks 0.9.12 and intuit-oauth 1.2.6 send):

* ``GET /discovery`` (OpenID document), ``POST /oauth2/v1/tokens/bearer`` (Basic client auth,
  rotating refresh tokens, ``invalid_grant`` for a superseded one), ``/oauth2/v1/tokens/revoke``.
* ``/v3/company/{realmId}/``: ``POST {entity}`` create / update (``Id`` + ``SyncToken``,
  ``sparse``) / ``?operation=delete``; ``GET {entity}/{id}``; ``query`` (GET ``?query=`` or POST
  ``application/text``); ``batch``; ``cdc``; ``companyinfo/{realmId}``. Bearer token required
  (401 lowercase ``fault``), ``minorversion`` >= 75 when given, ``?requestid=`` replays the original
  answer of a successful write, per-realm limits answer 429 with the XML ``ThrottleExceeded`` body.

Choices where Intuit's behaviour is UNCONFIRMED (see shared/reference/streak-and-quickbooks-api.md):
only successful writes enter the ``requestid`` cache (a fault is recomputed on retry) and a reused
id with a different body still replays; a batch with a ``requestid`` limits ``bId`` to 10
characters; a batch of more than 30 items is refused whole with code 6000; an injected 5xx carries
a ``SystemFault`` with code 3100; the 200-with-Fault default is code 10000 (``SystemFault``).

Admin routes (besides the base ``/__admin/state|requests|reset|faults``):
``POST /__admin/tokens/expire``, ``/__admin/tokens/revoke``, ``/__admin/tokens/lifetime``
``{"seconds"}``, ``/__admin/limits`` ``{"time_scale", "requests_per_minute", "batch_per_minute",
"concurrent", "enabled", "latency_seconds"}``, ``GET /__admin/limits/decisions?since=<epoch s>``
(every admit/throttle decision with its wall-clock time, batch flag and reason), ``/__admin/fault_200`` ``{"count", "code", "message",
"detail", "type"}`` (the next writes answer HTTP 200 with a Fault and change nothing),
``/__admin/lose_response`` ``{"count", "status"}`` (the next writes are done, remembered for
``requestid``, but answered with a 5xx SystemFault, as when a gateway times out after the commit),
``/__admin/seed`` ``{"Customer": [...], "Item": [...], ...}`` (direct creates, no limits, no
counters), ``/__admin/clock`` ``{"advance_seconds"}``. ``fault_200`` and ``lose_response`` queue
faults with ``target: "write"`` in the shared fault injector, so ``DELETE /__admin/faults`` (and
``/__admin/reset``) clears them too; among the queued faults that match a request the oldest strikes.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from sandbox.common.httpd import Fault, Request, Response, SandboxApp
from sandbox.quickbooks import faults
from sandbox.quickbooks.entities import Company
from sandbox.quickbooks.faults import QboError, invalid_property, required_missing
from sandbox.quickbooks.limits import LimitConfig, RealmLimiter
from sandbox.quickbooks.oauth import TokenAuthority, discovery_document
from sandbox.quickbooks.query import execute, parse
from sandbox.quickbooks.store import (
    ALL_ENTITIES,
    COMPANY_TZ,
    NAME_LIST_ENTITIES,
    WRITABLE_ENTITIES,
    Clock,
    RealmData,
    StoredResponse,
    meta_time,
    response_time,
    seed_realm,
)

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
DEFAULT_REALM_ID = "9130357992221046"
DEFAULT_REFRESH_TOKEN = "RT-initial"
MIN_MINOR_VERSION = 75
BATCH_MAX_ITEMS = 30
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36
BATCH_ID_MAX_WITH_REQUEST_ID = 10
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_OBJECTS = 1000
_API_PATH = re.compile(r"^/v3/company/([^/]+)/")
_WRITE_PATH = re.compile(r"^/v3/company/[^/]+/(?!query/?$)[^/]+/?$")  # POST {entity} and batch
ApiHandler = Callable[[Request, RealmData], Response]


def _fresh_counters() -> dict[str, Any]:
    return {
        "requests_total": 0,
        "requests_by_kind": {},
        "batch_requests": 0,
        "batch_items": 0,
        "responses_429": 0,
        "responses_401": 0,
        "fault_200_sent": 0,
        "responses_lost": 0,
        "replayed": 0,
        "writes": {entity: {"create": 0, "update": 0, "delete": 0} for entity in WRITABLE_ENTITIES},
        "first_request_at": None,
        "last_request_at": None,
    }


class QuickBooksSandbox(SandboxApp):
    """A faithful local QuickBooks Online (Accounting API v3 + OAuth 2.0) for tests and demos."""

    name = "quickbooks"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        realm_id: str = DEFAULT_REALM_ID,
        extra_realms: tuple[str, ...] = (),
        time_scale: float = 1.0,
        limits_enabled: bool = True,
        requests_per_minute: int = 500,
        batch_per_minute: int = 40,
        concurrent: int = 10,
        seed: bool = True,
    ) -> None:
        super().__init__()
        self.realm_id = realm_id
        self.realm_ids = (realm_id, *extra_realms)
        self.seed = seed
        self._limit_defaults = LimitConfig(
            requests_per_minute=requests_per_minute,
            batch_per_minute=batch_per_minute,
            concurrent=concurrent,
            time_scale=time_scale,
            enabled=limits_enabled,
        )
        self.clock = Clock()
        self.oauth = TokenAuthority(client_id, client_secret, refresh_token)
        self.limiter = RealmLimiter(copy.copy(self._limit_defaults))
        self.realms: dict[str, RealmData] = {}
        self.counters: dict[str, Any] = _fresh_counters()
        self.reset()
        self._register_oauth_routes()
        self._register_api_routes()
        self._register_admin_routes()

    # -- SandboxApp hooks ---------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.clock.offset_seconds = 0.0
            self.realms = {rid: RealmData(rid) for rid in self.realm_ids}
            if self.seed:
                for realm in self.realms.values():
                    seed_realm(realm, self.clock.now())
            self.oauth.reset()
            self.limiter.reset(copy.copy(self._limit_defaults))
            self.counters = _fresh_counters()
            self.faults.clear()

    def state_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "realms": {
                    rid: {**realm.snapshot(), "next_doc_number": realm.next_doc_number}
                    for rid, realm in self.realms.items()
                },
                "counters": copy.deepcopy(self.counters),
                "tokens": self.oauth.snapshot(),
                "limits": self.limiter.snapshot(),
                "fault_200_pending": self.faults.pending("status", 200),
                "lost_responses_pending": self.faults.pending("lose"),
                "clock_offset_seconds": self.clock.offset_seconds,
                "time": response_time(self.clock.now()),
            }

    def fault_targets(self, request: Request) -> frozenset[str]:
        if request.method == "POST" and _WRITE_PATH.match(request.path):
            return frozenset({"write"})
        return frozenset()

    def fault_response(self, status: int, request: Request, fault: Fault) -> Response:
        """A fault in Intuit's shapes; HTTP 200 is a 200-with-Fault, ``lose`` a SystemFault."""
        if status == 200:
            response = faults.fault_response(self._fault_200_error(fault.details), self.clock, status=200)
        elif status == 429:
            response = faults.throttled(self.clock)
        elif status == 401:
            response = faults.authentication_failed("Token expired: injected by the sandbox")
        elif status >= 500:
            response = faults.fault_response(faults.system_fault(status), self.clock)
        else:
            error = QboError(
                "6000", "Injected fault", f"HTTP {status} injected by the sandbox", status=status
            )
            response = faults.fault_response(error, self.clock)
        with self.lock:
            if fault.kind == "lose":
                self.counters["responses_lost"] += 1
            elif status == 200:
                self.counters["fault_200_sent"] += 1
            elif status == 429:
                self.counters["responses_429"] += 1
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return response

    def authorize(self, request: Request) -> Response | None:
        if not (request.path.startswith("/v3/") or request.path.startswith("/v1/openid_connect/")):
            return None
        problem = self.oauth.check_access(request.header("authorization"))
        if problem is None:
            return None
        with self.lock:
            self.counters["responses_401"] += 1
        return faults.authentication_failed(problem)

    def dispatch(self, request: Request) -> Response:
        match = _API_PATH.match(request.path)
        if match is None:
            return super().dispatch(request)
        realm_id = match.group(1)
        with self.lock:
            now = time.time()
            self.counters["requests_total"] += 1
            self.counters["first_request_at"] = self.counters["first_request_at"] or now
            self.counters["last_request_at"] = now
        is_batch = request.path.rstrip("/").endswith("/batch")
        if self.limiter.acquire(realm_id, is_batch) is not None:
            with self.lock:
                self.counters["responses_429"] += 1
            response = faults.throttled(self.clock)
        else:
            try:
                latency = self.limiter.config.latency_seconds
                if latency > 0:
                    time.sleep(latency)
                response = super().dispatch(request)
            finally:
                self.limiter.release(realm_id)
        response.headers.setdefault("intuit_tid", secrets.token_hex(16))
        return response

    def not_found(self, request: Request) -> Response:
        if request.path.startswith("/v3/"):
            error = faults.unsupported_operation(f"{request.method} {request.path} is not supported")
            return faults.fault_response(error, self.clock)
        return super().not_found(request)

    # -- OAuth --------------------------------------------------------------------------------
    def _register_oauth_routes(self) -> None:
        self.route("GET", "/discovery", self._discovery)
        self.route("GET", "/.well-known/openid-configuration", self._discovery)
        self.route("GET", "/connect/oauth2", self._authorize_redirect)
        self.route("POST", "/oauth2/v1/tokens/bearer", self._token)
        self.route("POST", "/oauth2/v1/tokens/revoke", self._revoke)
        self.route("GET", "/op/v1/jwks", lambda r: Response(200, {"keys": []}))
        self.route("GET", "/v1/openid_connect/userinfo", self._userinfo)

    def _discovery(self, request: Request) -> Response:
        return Response(200, discovery_document(f"http://{request.header('host', '127.0.0.1')}"))

    def _authorize_redirect(self, request: Request) -> Response:
        if request.arg("client_id") != self.oauth.client_id or not request.arg("redirect_uri"):
            return Response(
                400, {"error": "invalid_request", "error_description": "unknown client or no redirect_uri"}
            )
        params = {
            "code": f"AB-{secrets.token_hex(10)}",
            "state": request.arg("state", ""),
            "realmId": self.realm_id,
        }
        location = f"{request.arg('redirect_uri')}?{urlencode(params)}"
        return Response(302, "", {"Location": location})

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.text, keep_blank_values=True).items()}
        if not self.oauth.client_authenticated(request.header("authorization"), form):
            return Response(401, {"error": "invalid_client"})
        grant = self.oauth.grant(form)
        return Response(grant.status, grant.body)

    def _revoke(self, request: Request) -> Response:
        if not self.oauth.client_authenticated(request.header("authorization"), {}):
            return Response(401, {"error": "invalid_client"})
        body = request.json() or {}
        self.oauth.revoke(body.get("token"))
        return Response(200, None)

    def _userinfo(self, request: Request) -> Response:
        return Response(200, {"sub": "sandbox-user", "email": "sandbox@example.com", "emailVerified": True})

    # -- API ----------------------------------------------------------------------------------
    def _register_api_routes(self) -> None:
        base = "/v3/company/{realm}"
        self.route("GET", f"{base}/query", self._api("query", self._query))
        self.route("POST", f"{base}/query", self._api("query", self._query))
        self.route("POST", f"{base}/batch", self._api("batch", self._batch))
        self.route("GET", f"{base}/cdc", self._api("cdc", self._cdc))
        self.route("GET", f"{base}/companyinfo/{{id}}", self._api("read", self._company_info))
        self.route("GET", f"{base}/{{entity}}/{{id}}", self._api("read", self._read))
        self.route("POST", f"{base}/{{entity}}", self._api("write", self._write))

    def _api(self, kind: str, handler: ApiHandler) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            realm = self.realms.get(request.params["realm"])
            if realm is None:
                error = QboError(
                    "120",
                    "Authorization Failure",
                    f"The app is not connected to company {request.params['realm']}.",
                    status=403,
                    fault_type="AuthorizationFault",
                )
                return faults.fault_response(error, self.clock)
            minor = request.arg("minorversion")
            if minor not in (None, "") and not (minor.isdigit() and int(minor) >= MIN_MINOR_VERSION):
                error = invalid_property(
                    "minorversion",
                    f"minorversion={minor} is not supported; 1-74 were discontinued, use {MIN_MINOR_VERSION} or later",
                )
                return faults.fault_response(error, self.clock)
            with self.lock:
                if kind != "write":
                    self._count(kind)
                try:
                    return handler(request, realm)
                except QboError as error:
                    return faults.fault_response(error, self.clock)

        return wrapped

    def _count(self, kind: str) -> None:
        by_kind = self.counters["requests_by_kind"]
        by_kind[kind] = by_kind.get(kind, 0) + 1

    def _envelope(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "time": response_time(self.clock.now())}

    @staticmethod
    def _entity_name(path_part: str, allowed: tuple[str, ...] = ALL_ENTITIES) -> str:
        for entity in allowed:
            if entity.lower() == path_part.lower():
                return entity
        raise faults.unsupported_operation(f"Entity {path_part} is not supported in this sandbox.")

    @staticmethod
    def _json_object(request: Request) -> dict[str, Any]:
        try:
            payload = json.loads(request.text or "{}")
        except ValueError as exc:
            raise invalid_property("body", f"the request body is not valid JSON ({exc})") from None
        if not isinstance(payload, dict):
            raise invalid_property("body", "the request body must be a JSON object")
        return payload

    def _company_info(self, request: Request, realm: RealmData) -> Response:
        return Response(200, self._envelope({"CompanyInfo": self._company_info_object(realm)}))

    def _company_info_object(self, realm: RealmData) -> dict[str, Any]:
        return {
            "CompanyName": "Sandbox Company_US_1",
            "LegalName": "Sandbox Company_US_1",
            "Country": "US",
            "CompanyAddr": {"Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA"},
            "Id": "1",
            "SyncToken": "0",
            "domain": "QBO",
            "sparse": False,
            "MetaData": {
                "CreateTime": "2025-02-10T00:00:00-07:00",
                "LastUpdatedTime": meta_time(self.clock.now()),
            },
        }

    def _read(self, request: Request, realm: RealmData) -> Response:
        entity = self._entity_name(request.params["entity"])
        obj = Company(realm, self.clock).read(entity, request.params["id"])
        return Response(200, self._envelope({entity: obj}))

    def _query(self, request: Request, realm: RealmData) -> Response:
        text = (
            request.arg("query") if request.method == "GET" else (request.text or request.arg("query") or "")
        )
        if not text:
            raise required_missing("query")
        return Response(200, self._envelope({"QueryResponse": self._run_query(text, realm)}))

    def _run_query(self, text: str, realm: RealmData) -> dict[str, Any]:
        query = parse(text)
        try:
            entity = self._entity_name(query.entity, (*ALL_ENTITIES, "CompanyInfo"))
        except QboError:
            raise faults.query_validation_error(f"{query.entity} is not a supported entity") from None
        if entity == "CompanyInfo":
            objects = [self._company_info_object(realm)]
        else:
            objects = Company(realm, self.clock).all(entity)
        return copy.deepcopy(execute(query, entity, objects, entity in NAME_LIST_ENTITIES))

    # -- writes -------------------------------------------------------------------------------
    def _replayed(self, realm: RealmData, request_id: str | None, limit: int) -> Response | None:
        if request_id is None:
            return None
        if not request_id or len(request_id) > limit:
            raise invalid_property("requestid", f"must be 1 to {limit} characters")
        stored = realm.replay.get(request_id)
        if stored is None:
            return None
        self.counters["replayed"] += 1
        return Response(stored.status, copy.deepcopy(stored.body))

    @staticmethod
    def _remember(realm: RealmData, request_id: str | None, response: Response) -> Response:
        """Cache a successful write's answer for its ``requestid``."""
        if request_id is not None and response.status == 200:
            realm.replay[request_id] = StoredResponse(response.status, copy.deepcopy(response.body))
        return response

    def _write(self, request: Request, realm: RealmData) -> Response:
        entity = self._entity_name(request.params["entity"])
        operation = (request.arg("operation") or "").lower()
        request_id = request.arg("requestid")
        payload = self._json_object(request)
        if operation in ("delete", "update"):
            kind = operation
        else:
            kind = "update" if payload.get("Id") not in (None, "") else "create"
        self._count(kind)
        replay = self._replayed(realm, request_id, REQUEST_ID_MAX)
        if replay is not None:
            return replay
        result = self._apply_write(realm, entity, kind, payload)
        return self._remember(realm, request_id, Response(200, self._envelope({entity: result})))

    def _apply_write(
        self, realm: RealmData, entity: str, kind: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        company = Company(realm, self.clock)
        if kind == "delete":
            result = company.delete(entity, payload)
        elif kind == "update":
            result = company.update(entity, payload)
        else:
            result = company.create(entity, payload)
        self.counters["writes"][entity][kind] += 1
        return result

    def _batch(self, request: Request, realm: RealmData) -> Response:
        self.counters["batch_requests"] += 1
        request_id = request.arg("requestid")
        replay = self._replayed(realm, request_id, BATCH_REQUEST_ID_MAX)
        if replay is not None:
            return replay
        payload = self._json_object(request)
        items = payload.get("BatchItemRequest")
        if not isinstance(items, list) or not items:
            raise required_missing("BatchItemRequest")
        if len(items) > BATCH_MAX_ITEMS:
            raise QboError(
                "6000",
                "A business validation error has occurred while processing your request",
                f"Business Validation Error: a batch request can hold at most {BATCH_MAX_ITEMS} "
                f"BatchItemRequest items; {len(items)} were sent.",
                element="BatchItemRequest",
            )
        bids = [item.get("bId") if isinstance(item, dict) else None for item in items]
        if any(not bid for bid in bids) or len(set(bids)) != len(bids):
            raise invalid_property("bId", "every BatchItemRequest needs a unique bId")
        if request_id is not None and any(len(str(bid)) > BATCH_ID_MAX_WITH_REQUEST_ID for bid in bids):
            raise invalid_property(
                "bId", f"with a requestid each bId may have at most {BATCH_ID_MAX_WITH_REQUEST_ID} characters"
            )
        self.counters["batch_items"] += len(items)
        answers = [self._batch_item(realm, item) for item in items]
        return self._remember(
            realm, request_id, Response(200, self._envelope({"BatchItemResponse": answers}))
        )

    def _batch_item(self, realm: RealmData, item: dict[str, Any]) -> dict[str, Any]:
        bid = item["bId"]
        try:
            if "Query" in item:
                return {"bId": bid, "QueryResponse": self._run_query(str(item["Query"]), realm)}
            keys = [k for k in item if k not in ("bId", "operation", "optionsData")]
            if len(keys) != 1:
                raise invalid_property(
                    "BatchItemRequest", "each item needs exactly one entity object or a Query"
                )
            entity = self._entity_name(keys[0], WRITABLE_ENTITIES)
            payload = item[keys[0]]
            if not isinstance(payload, dict):
                raise invalid_property(entity, "expected an object")
            operation = str(item.get("operation", "create")).lower()
            if operation not in ("create", "update", "delete"):
                raise faults.unsupported_operation(f"Operation {operation} is not supported in a batch.")
            return {"bId": bid, entity: self._apply_write(realm, entity, operation, payload)}
        except QboError as error:
            return {"bId": bid, "Fault": error.fault()}

    def _cdc(self, request: Request, realm: RealmData) -> Response:
        names = [n.strip() for n in (request.arg("entities") or "").split(",") if n.strip()]
        if not names:
            raise required_missing("entities")
        try:
            entities = [self._entity_name(n, WRITABLE_ENTITIES) for n in names]
        except QboError:
            raise invalid_property("entities", f"supported: {', '.join(WRITABLE_ENTITIES)}") from None
        since_text = request.arg("changedSince")
        if not since_text:
            raise required_missing("changedSince")
        try:
            since = datetime.fromisoformat(since_text.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise invalid_property("changedSince", f"{since_text!r} is not an ISO-8601 date-time") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=COMPANY_TZ)
        if since < self.clock.now() - CDC_LOOKBACK:
            raise invalid_property("changedSince", "must be within the last 30 days")
        grouped = Company(realm, self.clock).changes(entities, since, CDC_MAX_OBJECTS)
        blocks = [
            {entity: objs, "startPosition": 1, "maxResults": len(objs)} if objs else {}
            for entity, objs in grouped.items()
        ]
        return Response(200, self._envelope({"CDCResponse": [{"QueryResponse": blocks}]}))

    # -- admin --------------------------------------------------------------------------------
    def _register_admin_routes(self) -> None:
        self.route("POST", "/__admin/tokens/expire", self._admin_expire_tokens)
        self.route("POST", "/__admin/tokens/revoke", self._admin_revoke)
        self.route("POST", "/__admin/tokens/lifetime", self._admin_token_lifetime)
        self.route("POST", "/__admin/limits", self._admin_limits)
        self.route("POST", "/__admin/fault_200", self._admin_fault_200)
        self.route("POST", "/__admin/lose_response", self._admin_lose_response)
        self.route("POST", "/__admin/seed", self._admin_seed)
        self.route("POST", "/__admin/clock", self._admin_clock)
        self.route("GET", "/__admin/limits/decisions", self._admin_decisions)

    def _admin_expire_tokens(self, request: Request) -> Response:
        return Response(200, {"expired": self.oauth.expire_access_tokens()})

    def _admin_revoke(self, request: Request) -> Response:
        self.oauth.revoke()
        return Response(200, self.oauth.snapshot())

    def _admin_token_lifetime(self, request: Request) -> Response:
        self.oauth.set_access_lifetime(float((request.json() or {})["seconds"]))
        return Response(200, self.oauth.snapshot())

    def _admin_limits(self, request: Request) -> Response:
        try:
            self.limiter.configure(request.json() or {})
        except (TypeError, ValueError) as exc:
            return Response(400, {"error": str(exc)})
        return Response(200, self.limiter.snapshot())

    def _admin_decisions(self, request: Request) -> Response:
        return Response(200, self.limiter.decision_log(float(request.arg("since") or 0.0)))

    def _admin_fault_200(self, request: Request) -> Response:
        spec = request.json() or {}
        details = {k: str(spec[k]) for k in ("code", "message", "detail", "type") if k in spec}
        self._schedule_write_fault(Fault(status=200, details=details), int(spec.get("count", 1)))
        return Response(200, {"fault_200_pending": self.faults.pending("status", 200)})

    def _admin_lose_response(self, request: Request) -> Response:
        spec = request.json() or {}
        fault = Fault(kind="lose", status=int(spec.get("status", 504)))
        self._schedule_write_fault(fault, int(spec.get("count", 1)))
        return Response(200, {"lost_responses_pending": self.faults.pending("lose")})

    def _schedule_write_fault(self, fault: Fault, count: int) -> None:
        """Queue ``count`` faults that strike only writes (``POST {entity}`` and ``batch``)."""
        fault.target = "write"
        self.faults.schedule(fault, max(count, 0), "/v3/company/")

    @staticmethod
    def _fault_200_error(details: dict[str, Any]) -> QboError:
        return QboError(
            details.get("code", "10000"),
            details.get("message", "An application error has occurred while processing your request"),
            details.get("detail", "System Failure Error: injected 200-with-Fault by the sandbox"),
            status=200,
            fault_type=details.get("type", "SystemFault"),
        )

    def _admin_seed(self, request: Request) -> Response:
        spec = request.json() or {}
        realm = self.realms.get(str(spec.get("realm_id", self.realm_id)))
        if realm is None:
            return Response(404, {"error": f"unknown realm {spec.get('realm_id')}"})
        created: dict[str, list[str]] = {}
        with self.lock:
            company = Company(realm, self.clock)
            for entity in WRITABLE_ENTITIES:
                for index, payload in enumerate(spec.get(entity, [])):
                    try:
                        created.setdefault(entity, []).append(company.create(entity, payload)["Id"])
                    except QboError as error:
                        body = {"entity": entity, "index": index, "Fault": error.fault(), "created": created}
                        return Response(400, body)
        return Response(200, {"created": created})

    def _admin_clock(self, request: Request) -> Response:
        with self.lock:
            self.clock.offset_seconds += float((request.json() or {}).get("advance_seconds", 0))
            return Response(
                200, {"offset_seconds": self.clock.offset_seconds, "now": response_time(self.clock.now())}
            )
