"""QBO client and connector behaviour against the live sandbox: paging, limits, tokens, faults."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest

from erp_operators.errors import ERPThrottledError, ERPValidationError
from erp_operators.quickbooks.auth import stored_refresh_token
from erp_operators.quickbooks.client import QuickBooksClient, quote
from erp_operators.quickbooks.connector import QuickBooksConnector
from erp_operators.quickbooks.hook import QuickBooksHook
from sync_core.canonical import Customer
from sync_core.state import StateStore
from tests.quickbooks.conftest import REALM, QBOSandbox


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
    again = QuickBooksConnector(config=qbo.config(), store=StateStore.from_url(state_url)).upsert_customers(
        customers
    )
    assert {r.status.value for r in again} == {"matched"}
    assert len(qbo.objects("Customer")) == 70


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
    from erp_operators.quickbooks.connector import _Pending
    from erp_operators.quickbooks.payloads import customer_payload, payload_hash

    wanted = customer_payload(Customer("org-1", "Stale Co", email="b@stale.test"))
    receipt = conn._reconcile_customer(
        _Pending(0, "org-1", wanted, payload_hash(wanted)), current, via_ledger=True
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
    hook = QuickBooksHook(store=StateStore.from_url(state_url))
    assert hook._client is None  # no I/O before get_conn()
    ok, message = hook.test_connection()
    assert ok, message
    assert hook.config.api_base_url == f"{qbo.url}/v3" and hook.config.limits.time_scale == 60
    bad = {**json.loads(conn_uri), "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_BAD", json.dumps(bad))
    fresh = StateStore.from_url(state_url.replace("state.db", "fresh.db")).create_all()  # no cached tokens
    ok, message = QuickBooksHook("quickbooks_bad", store=fresh).test_connection()
    assert not ok and "QuickBooks Online" in message
