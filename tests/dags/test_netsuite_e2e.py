"""End to end through the real DAGs (``dag.test()``) with the pipeline rule targeting NetSuite (a copy of
include/sync.yaml with ``erp: netsuite``, as ``make run --erp netsuite`` makes): won boxes become one
sales order (transformed into an invoice) each, the NetSuite document number (``tranId``) is written
back to Streak, a rerun writes nothing, a NetSuite account at its concurrency limit slows the run
without losing or duplicating anything, a revoked token fails the run at once, and the master-data
load goes through the async batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.common.httpd import SandboxServer
from tests.dags.conftest import STREAK_KEY, SyncEnv

pytestmark = pytest.mark.slow

WRITEBACK = "ERP Invoice #"


class NetSuiteEnv(SyncEnv):
    """The Streak, QuickBooks and NetSuite sandboxes wired into Airflow connections."""

    def __init__(self, streak: SandboxServer, qbo: SandboxServer, ns: SandboxServer, state_url: str) -> None:
        super().__init__(streak, qbo, state_url)
        self.ns = ns

    def ns_state(self) -> dict[str, Any]:
        return self.ns.app.state_snapshot()

    def ns_records(self, rtype: str) -> list[dict[str, Any]]:
        return self.ns_state()["records"].get(rtype, [])


@pytest.fixture
def ns_env(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetSuiteEnv]:
    from sandbox.demo import connection_env, target_config
    from sandbox.netsuite.app import NetSuiteSandbox
    from sandbox.quickbooks.app import QuickBooksSandbox
    from sandbox.streak.app import StreakSandbox

    servers = {
        "streak": SandboxServer(StreakSandbox(api_key=STREAK_KEY)).start(),
        "quickbooks": SandboxServer(QuickBooksSandbox()).start(),
        "netsuite": SandboxServer(NetSuiteSandbox()).start(),
    }
    state_db = tmp_path / "state.db"
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.delenv("STREAK_ERP_STATE_URL", raising=False)
    for name, value in connection_env(servers, state_db, STREAK_KEY).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STREAK_ERP_SYNC_CONFIG", str(target_config("netsuite", tmp_path)))
    try:
        yield NetSuiteEnv(
            servers["streak"], servers["quickbooks"], servers["netsuite"], f"sqlite:///{state_db}"
        )
    finally:
        for server in servers.values():
            server.stop()


def _pipeline(env: SyncEnv) -> dict:
    return env.streak_state()["pipelines"][0]


def _field_key(env: SyncEnv, name: str) -> str:
    return next(f["key"] for f in _pipeline(env)["fields"] if f["name"] == name)


def _won_boxes(env: SyncEnv) -> list[dict]:
    pipeline = _pipeline(env)
    won = next(k for k, s in pipeline["stages"].items() if s["name"] == "Closed-Won")
    return [b for b in env.streak_state()["boxes"] if b["stageKey"] == won]


def _expected_line_count(env: SyncEnv, box: dict) -> int:
    text = box["fields"].get(_field_key(env, "Line Items")) or ""
    return len([line for line in text.splitlines() if line.strip()]) or 1


def _comment_counts(env: SyncEnv) -> Counter:
    return Counter({key: len(items) for key, items in env.streak_state()["comments"].items() if items})


def test_won_boxes_become_sales_orders_and_invoices_once_with_write_back(ns_env: NetSuiteEnv) -> None:
    won = _won_boxes(ns_env)
    assert len(won) >= 8

    assert ns_env.run_dag(conf={"erp": "netsuite"}) == "success"

    quarantined = {row.source_key: row.reason for row in ns_env.store.quarantine_list("netsuite")}
    assert quarantined and all(key in reason for key, reason in quarantined.items())
    synced = [b for b in won if b["key"] not in quarantined]
    orders = {o["externalId"]: o for o in ns_env.ns_records("salesOrder")}
    invoices = ns_env.ns_records("invoice")
    assert sorted(orders) == sorted(b["key"] for b in synced)  # one order per valid won box
    assert sorted(i["createdFrom"]["id"] for i in invoices) == sorted(o["id"] for o in orders.values())
    wb_key = _field_key(ns_env, WRITEBACK)
    after_run = {b["key"]: b for b in ns_env.streak_state()["boxes"]}
    comments = _comment_counts(ns_env)
    for box in synced:
        order = orders[box["key"]]
        assert after_run[box["key"]]["fields"].get(wb_key) == order["tranId"] == f"STREAK-{box['key']}"
        lines = order["item"]["items"]
        assert len(lines) == _expected_line_count(ns_env, box)
        for line in lines:
            assert Decimal(str(line["amount"])) == (
                Decimal(str(line["quantity"])) * Decimal(str(line["rate"]))
            ).quantize(Decimal("0.01"))
        assert Decimal(str(order["total"])) == sum(Decimal(str(line["amount"])) for line in lines)
        assert order["subsidiary"] == {"id": "1"} and order["class"] == {"id": "1"}
        assert comments[box["key"]] == 1
    assert [key for key in quarantined if after_run[key]["fields"].get(wb_key)] == []
    streak_customers = {(b["organizations"] or b["contacts"])[0]["key"] for b in synced}
    customers = ns_env.ns_records("customer")
    assert sorted(c["externalId"] for c in customers) == sorted(streak_customers)

    writes = ns_env.ns_state()["counters"]["writes_total"]
    assert ns_env.run_dag(conf={"erp": "netsuite"}) == "success"  # rerun: nothing new anywhere
    after = ns_env.ns_state()
    assert after["counters"]["writes_total"] == writes
    assert after["counts"]["salesOrder"] == len(orders) and after["counts"]["invoice"] == len(invoices)
    assert _comment_counts(ns_env) == comments


def test_concurrency_limit_slows_the_run_but_loses_and_duplicates_nothing(ns_env: NetSuiteEnv) -> None:
    import requests

    requests.post(ns_env.ns.url + "/__admin/limits", json={"concurrency": 1}, timeout=10).raise_for_status()
    storm = {"kind": "status", "status": 429, "path_prefix": "/services/rest/", "mode": "random", "rate": 0.3}
    requests.post(ns_env.ns.url + "/__admin/faults", json=storm, timeout=10).raise_for_status()

    assert ns_env.run_dag(conf={"erp": "netsuite"}) == "success"

    state = ns_env.ns_state()
    assert state["counters"]["responses_429"] > 0
    quarantined = {row.source_key for row in ns_env.store.quarantine_list("netsuite")}
    synced = [b["key"] for b in _won_boxes(ns_env) if b["key"] not in quarantined]
    externals = [o["externalId"] for o in ns_env.ns_records("salesOrder")]
    assert sorted(externals) == sorted(synced)  # none lost, none twice
    assert state["counts"]["invoice"] == len(synced)


def test_master_data_bulk_load_goes_through_async_batches_once(ns_env: NetSuiteEnv) -> None:
    assert ns_env.run_dag("streak_master_data_sync", conf={"erp": "netsuite"}) == "success"

    state = ns_env.ns_state()
    customers = ns_env.ns_records("customer")
    items = [
        i
        for kind in ("inventoryItem", "nonInventorySaleItem", "serviceSaleItem")
        for i in ns_env.ns_records(kind)
        if i.get("externalId")
    ]
    assert len(customers) > 5 and len(items) > 5
    assert state["counters"]["batch_jobs"] >= 2  # customers and items went through the async batch
    organizations = [c for c in customers if not c["isPerson"]]
    # organizations and the catalogue come in chunks far above the bulk threshold; the few contacts
    # without an organization form a small chunk of their own, written one by one
    assert state["counters"]["batch_records"] >= len(organizations) + len(items)
    assert len({c["externalId"] for c in customers}) == len(customers)

    writes = state["counters"]["writes_total"]
    assert ns_env.run_dag("streak_master_data_sync", conf={"erp": "netsuite"}) == "success"
    again = ns_env.ns_state()
    assert again["counters"]["writes_total"] == writes and again["counts"] == state["counts"]


def test_revoked_token_fails_the_run_once_without_a_retry_storm(ns_env: NetSuiteEnv) -> None:
    import requests

    rotated = {"token_secret": "revoked-in-netsuite"}
    requests.post(ns_env.ns.url + "/__admin/credentials", json=rotated, timeout=10).raise_for_status()

    assert ns_env.run_dag(conf={"erp": "netsuite"}) == "failed"

    state = ns_env.ns_state()
    # one 401 per ERP task (customers and items run side by side), each failing at once: no retries
    assert state["counters"]["responses_401"] == 2
    assert state["counters"]["writes_total"] == 0
    wb_key = _field_key(ns_env, WRITEBACK)
    assert [b["key"] for b in ns_env.streak_state()["boxes"] if b["fields"].get(wb_key)] == []
