"""QBO client and connector behaviour against the live sandbox: paging, limits, tokens, faults."""

from __future__ import annotations

import json
import multiprocessing
import socket
from typing import Any

import pytest

from erp_operators.errors import ERPThrottledError, ERPValidationError
from erp_operators.quickbooks import index_cache
from erp_operators.quickbooks.auth import stored_refresh_token
from erp_operators.quickbooks.client import QuickBooksClient, quote
from erp_operators.quickbooks.connector import QuickBooksConnector
from erp_operators.quickbooks.hook import QuickBooksHook
from erp_operators.receipts import ErrorClass
from sync_core.canonical import Customer, Item
from sync_core.state import StateStore
from tests.quickbooks.qbo_admin import REALM, QBOSandbox


def _client(qbo: QBOSandbox, state_url: str, **limits: Any) -> QuickBooksClient:
    return QuickBooksClient(qbo.config(**limits), StateStore.from_url(state_url))


def test_query_pages_past_1000_rows_and_escapes_quotes(qbo: QBOSandbox, state_url: str) -> None:
    names = [f"Customer {n:04d}" for n in range(1050)] + ["Zoë O'Hara"]
    qbo.admin("POST", "seed", {"Customer": [{"DisplayName": n} for n in names]})
    client = _client(qbo, state_url)
    before = qbo.requests_to("/query")
    rows = list(client.query_all("Customer"))
    assert sorted(r["DisplayName"] for r in rows) == sorted(names)
    assert qbo.requests_to("/query") - before == 2  # STARTPOSITION 1, then 1001
    found = client.query(
        f"SELECT * FROM Customer WHERE DisplayName = {quote(chr(90) + 'oë O' + chr(39) + 'Hara')}"
    )
    assert [c["DisplayName"] for c in found["Customer"]] == ["Zoë O'Hara"]


def test_bulk_upsert_uses_batches_of_30_and_a_preloaded_index(qbo: QBOSandbox, state_url: str) -> None:
    conn = QuickBooksConnector(config=qbo.config(), store=StateStore.from_url(state_url))
    customers = [Customer(f"org-{n}", f"Bulk {n}", email=f"b{n}@x.test") for n in range(70)]
    receipts = conn.upsert_customers(customers)
    assert [r.status.value for r in receipts] == ["created"] * 70
    counters = qbo.state()["counters"]
    assert counters["batch_requests"] == 3 and counters["batch_items"] == 70
    queries_before = qbo.requests_to("/query")
    again = QuickBooksConnector(config=qbo.config(), store=StateStore.from_url(state_url)).upsert_customers(
        customers
    )
    assert {r.status.value for r in again} == {"matched"}
    assert qbo.requests_to("/query") - queries_before <= 1  # one preload page, no query per customer
    assert len(qbo.objects("Customer")) == 70


def test_hook_construction_makes_no_request(monkeypatch: pytest.MonkeyPatch, state_url: str) -> None:
    with socket.socket() as sock:  # a port nothing listens on: any request would fail
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    extra = {"realm_id": REALM, "refresh_token": "RT", "api_base_url": dead, "discovery_url": f"{dead}/d"}
    conn = {"conn_type": "quickbooks", "login": "cid", "password": "secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", json.dumps(conn))
    hook = QuickBooksHook(store=StateStore.from_url(state_url))
    assert hook.config.api_base_url == f"{dead}/v3"  # the connection is parsed without reaching it
    assert hook.get_conn().http_calls == 0  # the client is built without reaching it either
    hook.close()


def _batch_path() -> str:
    return f"/v3/company/{REALM}/batch"


def test_a_refused_batch_fails_only_its_own_chunk(qbo: QBOSandbox, state_url: str) -> None:
    conn = QuickBooksConnector(  # one request at a time: the fault strikes the first chunk
        config=qbo.config(batch_size=2, concurrent_requests=1), store=StateStore.from_url(state_url)
    )
    qbo.admin("POST", "faults", {"kind": "status", "status": 400, "count": 1, "path_prefix": _batch_path()})
    receipts = conn.upsert_customers([Customer(f"org-{n}", f"Chunked {n}") for n in range(5)])
    assert [r.status.value for r in receipts] == ["failed", "failed", "created", "created", "created"]
    assert {r.error_class for r in receipts[:2]} == {ErrorClass.VALIDATION}
    assert all("6000" in r.message for r in receipts[:2])
    assert sorted(c["DisplayName"] for c in qbo.objects("Customer")) == [f"Chunked {n}" for n in (2, 3, 4)]


def test_a_batch_that_stays_down_marks_the_rest_retriable(qbo: QBOSandbox, state_url: str) -> None:
    conn = QuickBooksConnector(
        config=qbo.config(batch_size=2, max_attempts=2, concurrent_requests=1),
        store=StateStore.from_url(state_url),
    )  # one request at a time, so nothing is in flight when the second chunk stays down
    # the first batch goes through (a zero-delay "slow" fault), the second answers 503 twice
    qbo.admin("POST", "faults", {"kind": "slow", "delay": 0, "count": 1, "path_prefix": _batch_path()})
    qbo.admin("POST", "faults", {"kind": "status", "status": 503, "count": 2, "path_prefix": _batch_path()})
    receipts = conn.upsert_customers([Customer(f"org-{n}", f"Outage {n}") for n in range(5)])
    assert [r.status.value for r in receipts] == ["created", "created", "failed", "failed", "failed"]
    assert {r.error_class for r in receipts[2:]} == {ErrorClass.RETRIABLE}
    assert qbo.state()["counters"]["batch_requests"] == 1  # the third chunk was never sent
    assert sorted(c["DisplayName"] for c in qbo.objects("Customer")) == ["Outage 0", "Outage 1"]


def test_a_bulk_lookup_that_stays_down_gives_retriable_receipts(qbo: QBOSandbox, state_url: str) -> None:
    index_cache.clear()
    conn = QuickBooksConnector(
        config=qbo.config(max_attempts=2), store=StateStore.from_url(state_url), bulk_lookup_threshold=3
    )
    before = {entity: len(qbo.objects(entity)) for entity in ("Customer", "Item")}
    query = {"kind": "status", "status": 503, "count": 2, "path_prefix": f"/v3/company/{REALM}/query"}
    qbo.admin("POST", "faults", query)  # the preload of the customer list fails twice
    receipts = conn.upsert_customers([Customer(f"org-{n}", f"Preload {n}") for n in range(3)])
    assert [(r.status.value, r.error_class) for r in receipts] == [("failed", ErrorClass.RETRIABLE)] * 3
    qbo.admin("POST", "faults", query)  # and of the item list
    items = conn.resolve_items(
        [Item(f"SKU-{n}", f"Preload item {n}", income_account_ref="1") for n in range(3)]
    )
    assert [(r.status.value, r.error_class) for r in items] == [("failed", ErrorClass.RETRIABLE)] * 3
    assert {entity: len(qbo.objects(entity)) for entity in before} == before  # nothing created blind


def _hammer(config_json: str, state_url: str, calls: int) -> None:
    from erp_operators.quickbooks.config import QuickBooksConfig, QuickBooksLimits

    raw = json.loads(config_json)
    config = QuickBooksConfig(**{**raw, "limits": QuickBooksLimits(**raw["limits"])})
    client = QuickBooksClient(config, StateStore.from_url(state_url))
    for _ in range(calls):
        client.query("SELECT * FROM Item MAXRESULTS 1")


def _config_json(qbo: QBOSandbox, **limits: Any) -> str:
    import dataclasses

    return json.dumps(dataclasses.asdict(qbo.config(**limits)))


def _run_processes(qbo: QBOSandbox, state_url: str, workers: int, calls: int, **limits: Any) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_hammer, args=(_config_json(qbo, **limits), state_url, calls))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


def test_shared_budget_keeps_parallel_processes_under_the_realm_limit(
    qbo: QBOSandbox, state_url: str
) -> None:
    qbo.admin("POST", "limits", {"requests_per_minute": 20})
    _client(qbo, state_url).query("SELECT * FROM Item MAXRESULTS 1")  # tokens in the store first
    _run_processes(qbo, state_url, workers=3, calls=12, requests_per_minute=20)
    state = qbo.state()
    assert state["counters"]["responses_429"] == 0
    assert state["counters"]["requests_total"] >= 37


def test_without_the_shared_budget_the_sandbox_throttles_and_retries_recover(
    qbo: QBOSandbox, state_url: str
) -> None:
    qbo.admin("POST", "limits", {"requests_per_minute": 20})
    _client(qbo, state_url).query("SELECT * FROM Item MAXRESULTS 1")
    _run_processes(qbo, state_url, workers=3, calls=12, requests_per_minute=500, max_attempts=10)
    assert qbo.state()["counters"]["responses_429"] > 0  # the limit is real; the processes still finished


def test_parallel_processes_refresh_the_rotating_token_once(qbo: QBOSandbox, state_url: str) -> None:
    _client(qbo, state_url).query("SELECT * FROM Item MAXRESULTS 1")
    first = stored_refresh_token(StateStore.from_url(state_url), qbo.config())
    qbo.admin("POST", "tokens/expire")
    before = qbo.requests_to("/oauth2/v1/tokens/bearer")
    _run_processes(qbo, state_url, workers=4, calls=2)
    tokens = qbo.state()["tokens"]
    assert qbo.requests_to("/oauth2/v1/tokens/bearer") - before == 1
    assert tokens.get("invalid_grants", 0) == 0
    stored = stored_refresh_token(StateStore.from_url(state_url), qbo.config())
    assert stored and stored not in (first, "RT-initial")


def test_throttle_xml_is_retried_then_surfaces_as_throttled(qbo: QBOSandbox, state_url: str) -> None:
    client = _client(qbo, state_url, max_attempts=3)
    client.query("SELECT * FROM Item MAXRESULTS 1")
    qbo.admin("POST", "faults", {"kind": "status", "status": 429, "count": 2, "path_prefix": "/v3/"})
    assert client.query("SELECT * FROM Item WHERE Name = 'Hours'")["Item"][0]["Name"] == "Hours"
    qbo.admin("POST", "faults", {"kind": "status", "status": 429, "count": 3, "path_prefix": "/v3/"})
    calls = client.http_calls
    with pytest.raises(ERPThrottledError):
        client.query("SELECT * FROM Item MAXRESULTS 1")
    assert client.http_calls - calls == 3


def test_a_200_carrying_a_fault_is_handled(qbo: QBOSandbox, state_url: str) -> None:
    conn = QuickBooksConnector(config=qbo.config(), store=StateStore.from_url(state_url))
    qbo.admin("POST", "fault_200", {"count": 2})  # SystemFault 10000 with HTTP 200: transient
    receipts = conn.upsert_customers([Customer("org-1", "Two Hundred Ltd")])
    assert receipts[0].status.value == "created"
    assert qbo.state()["counters"]["fault_200_sent"] == 2
    qbo.admin(
        "POST",
        "fault_200",
        {"count": 1, "code": "6000", "type": "ValidationFault", "message": "Business rule"},
    )
    with pytest.raises(ERPValidationError, match="6000"):
        conn.client.create("Customer", {"DisplayName": "Refused Ltd"}, request_id="refused-1")
    assert [c["DisplayName"] for c in qbo.objects("Customer")] == ["Two Hundred Ltd"]


def test_a_lost_write_response_is_replayed_not_repeated(qbo: QBOSandbox, state_url: str) -> None:
    conn = QuickBooksConnector(config=qbo.config(), store=StateStore.from_url(state_url))
    qbo.admin("POST", "lose_response", {"count": 1, "status": 504})  # committed, but the answer is lost
    receipts = conn.upsert_customers([Customer(f"org-{n}", f"Lost Reply {n}") for n in range(3)])
    assert [r.status.value for r in receipts] == ["created"] * 3
    state = qbo.state()
    assert state["counters"]["responses_lost"] == 1 and state["counters"]["replayed"] >= 1
    assert sorted(c["DisplayName"] for c in qbo.objects("Customer")) == [f"Lost Reply {n}" for n in range(3)]


def test_stale_sync_token_is_reread_and_retried_once(qbo: QBOSandbox, state_url: str) -> None:
    conn = QuickBooksConnector(config=qbo.config(), store=StateStore.from_url(state_url))
    created = conn.upsert_customers([Customer("org-1", "Stale Co", email="a@stale.test")])[0]
    current = conn.client.read("Customer", created.erp_id)
    conn.client.sparse_update(
        "Customer",
        {"Id": current["Id"], "SyncToken": current["SyncToken"], "Notes": "edited in QBO"},
        "edit-1",
    )
    from erp_operators.quickbooks.payloads import customer_payload
    from erp_operators.receipts import payload_hash
    from erp_operators.write_steps import Pending

    wanted = customer_payload(Customer("org-1", "Stale Co", email="b@stale.test"))
    receipt = conn._reconcile_customer(
        Pending(0, "org-1", wanted, payload_hash(wanted)), current, via_ledger=True
    )
    assert receipt.status.value == "updated"
    final = conn.client.read("Customer", created.erp_id)
    assert final["PrimaryEmailAddr"]["Address"] == "b@stale.test" and final["Notes"] == "edited in QBO"


def test_hook_reads_the_airflow_connection(
    qbo: QBOSandbox, state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {
        "realm_id": REALM,
        "refresh_token": "RT-initial",
        "environment": "sandbox",
        "api_base_url": qbo.url,
        "discovery_url": f"{qbo.url}/discovery",
        "time_scale": 60,
    }
    conn_uri = json.dumps(
        {
            "conn_type": "quickbooks",
            "login": "sandbox-client-id",
            "password": "sandbox-client-secret",
            "extra": extra,
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", conn_uri)
    requests_before = len(qbo.admin("GET", "requests"))
    hook = QuickBooksHook(store=StateStore.from_url(state_url))
    assert hook.config.realm_id == REALM
    assert len(qbo.admin("GET", "requests")) == requests_before  # building and parsing: no I/O
    ok, message = hook.test_connection()
    assert ok, message
    assert hook.config.api_base_url == f"{qbo.url}/v3" and hook.config.limits.time_scale == 60
    bad = {**json.loads(conn_uri), "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_BAD", json.dumps(bad))
    fresh = StateStore.from_url(state_url.replace("state.db", "fresh.db")).create_all()  # no cached tokens
    ok, message = QuickBooksHook("quickbooks_bad", store=fresh).test_connection()
    assert not ok and "QuickBooks Online" in message
