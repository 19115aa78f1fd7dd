"""Faults injected mid-run (429 storm, 500s, expired access token, rotated refresh token) end with
the same QuickBooks state as a clean run, through the real DAG."""

from __future__ import annotations

import json
import os

import pytest
import requests

from sandbox.quickbooks.app import DEFAULT_REALM_ID

pytestmark = pytest.mark.slow


def _qbo_state(env) -> list[tuple]:
    """Invoices as (doc number, customer name, total, lines) plus customer names: comparable across sandboxes."""
    customers = {c["Id"]: c["DisplayName"] for c in env.qbo_entities("Customer")}
    items = {i["Id"]: i["Name"] for i in env.qbo_entities("Item")}
    invoices = []
    for inv in env.qbo_entities("Invoice"):
        lines = tuple(
            (
                items[ln["SalesItemLineDetail"]["ItemRef"]["value"]],
                str(ln["SalesItemLineDetail"]["Qty"]),
                str(ln["Amount"]),
            )
            for ln in inv["Line"]
            if ln.get("DetailType") == "SalesItemLineDetail"
        )
        invoices.append(
            (inv["DocNumber"], customers[inv["CustomerRef"]["value"]], str(inv["TotalAmt"]), lines)
        )
    return sorted(invoices) + sorted(("customer", name) for name in customers.values())


def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn["extra"]["limits"] = {"backoff_initial": 0.05, "backoff_max": 0.5, "max_attempts": 8}
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", json.dumps(conn))


def test_faults_mid_run_end_in_the_clean_state(sync_env, monkeypatch: pytest.MonkeyPatch) -> None:
    _fast_retries(monkeypatch)
    qbo = sync_env.qbo.url
    # Clean reference run first, then wipe QBO + state and run again under faults.
    assert sync_env.run_dag() == "success"
    clean = _qbo_state(sync_env)
    assert len([row for row in clean if row[0] != "customer"]) >= 8

    requests.post(qbo + "/__admin/reset", timeout=10).raise_for_status()
    from sync_core.state import metadata

    with sync_env.store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    # The QBO sandbox starts again from its initial refresh token; so does the (wiped) state store.
    api = "/v3/company/"
    for spec in (
        {"kind": "status", "status": 429, "count": 6, "path_prefix": api},
        {"kind": "status", "status": 503, "count": 4, "path_prefix": api},
        {"kind": "reset", "count": 2, "path_prefix": api},
    ):
        requests.post(qbo + "/__admin/faults", json=spec, timeout=10).raise_for_status()
    # access tokens now live 2 s, so they expire (and the refresh token rotates) mid-run
    requests.post(qbo + "/__admin/tokens/lifetime", json={"seconds": 2}, timeout=10).raise_for_status()
    requests.post(qbo + "/__admin/lose_response", json={"count": 1}, timeout=10).raise_for_status()

    assert sync_env.run_dag() == "success"
    injected = requests.get(qbo + "/__admin/faults", timeout=10).json()["injected"]
    assert sum(injected.values()) >= 10, injected  # the faults really struck
    counters = sync_env.qbo.app.state_snapshot()["counters"]
    assert counters["responses_lost"] >= 1, counters  # a committed write's answer was lost, and recovered
    assert _qbo_state(sync_env) == clean
    # The access token expired mid-run: it was refreshed, the refresh token rotated, and the store
    # holds the newest one (never a superseded token, so no invalid_grant).
    tokens = sync_env.qbo.app.state_snapshot()["tokens"]
    assert tokens["refreshes"] >= 2 and tokens["invalid_grants"] == 0
    stored = json.loads(sync_env.store.get_token(f"quickbooks:{DEFAULT_REALM_ID}:oauth"))
    assert stored["refresh_token"] == tokens["refresh_token"]
