"""End to end through the real ``streak_deals_to_erp`` DAG (``dag.test()``) against the Streak and
QuickBooks Online sandboxes: won boxes become invoices, numbers come back to Streak, bad boxes are
quarantined, reruns write nothing, an existing customer with an apostrophe is matched."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

pytestmark = pytest.mark.slow

WRITEBACK = "ERP Invoice #"


def _pipeline(env) -> dict:
    return env.streak_state()["pipelines"][0]


def _field_key(env, name: str) -> str:
    return next(f["key"] for f in _pipeline(env)["fields"] if f["name"] == name)


def _won_boxes(env) -> list[dict]:
    pipeline = _pipeline(env)
    won = next(k for k, s in pipeline["stages"].items() if s["name"] == "Closed-Won")
    return [b for b in env.streak_state()["boxes"] if b["stageKey"] == won]


def _comment_counts(env) -> Counter:
    return Counter({key: len(items) for key, items in env.streak_state()["comments"].items() if items})


def _expected_line_count(env, box: dict) -> int:
    text = box["fields"].get(_field_key(env, "Line Items")) or ""
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) or 1


def test_won_boxes_become_invoices_once_with_write_back(sync_env) -> None:
    won = _won_boxes(sync_env)
    assert len(won) >= 8

    assert sync_env.run_dag() == "success"

    quarantined = {row.source_key: row.reason for row in sync_env.store.quarantine_list()}
    invoices = sync_env.qbo_entities("Invoice")
    customers = sync_env.qbo_entities("Customer")
    synced = [b for b in won if b["key"] not in quarantined]
    assert quarantined, "the seed holds bad boxes; they must be quarantined"
    for key, reason in quarantined.items():
        assert key in reason, f"quarantine reason must name the box: {reason}"

    # N valid won boxes -> N invoices, each with correct lines and totals.
    assert len(invoices) == len(synced)
    by_number = {inv["DocNumber"]: inv for inv in invoices}
    wb_key = _field_key(sync_env, WRITEBACK)
    after_run = {b["key"]: b for b in sync_env.streak_state()["boxes"]}
    comments = _comment_counts(sync_env)
    for box in synced:
        number = after_run[box["key"]]["fields"].get(wb_key)
        assert number in by_number, f"box {box['key']} has no written-back invoice number"
        invoice = by_number[number]
        lines = [ln for ln in invoice["Line"] if ln.get("DetailType") == "SalesItemLineDetail"]
        assert len(lines) == _expected_line_count(sync_env, box)
        for ln in lines:
            detail = ln["SalesItemLineDetail"]
            assert Decimal(str(ln["Amount"])) == (
                Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"]))
            ).quantize(Decimal("0.01"))
        assert Decimal(str(invoice["TotalAmt"])) == sum(Decimal(str(ln["Amount"])) for ln in lines)
        assert comments[box["key"]] == 1
    # quarantined boxes got no number (read from Streak after the run, not from the snapshot before it)
    assert [key for key in quarantined if after_run[key]["fields"].get(wb_key)] == []

    # One QBO customer per distinct Streak customer (first organization, else first contact) of the
    # synced boxes: none missing, none created twice under another name.
    streak_customers = {(b["organizations"] or b["contacts"])[0]["key"] for b in synced}
    assert len(customers) == len(streak_customers)
    assert {inv["CustomerRef"]["value"] for inv in invoices} == {c["Id"] for c in customers}

    # Rerun: nothing new in QuickBooks, no new comments.
    writes_before = sync_env.qbo.app.state_snapshot()["counters"]
    assert sync_env.run_dag() == "success"
    assert len(sync_env.qbo_entities("Invoice")) == len(invoices)
    assert len(sync_env.qbo_entities("Customer")) == len(customers)
    assert _comment_counts(sync_env) == comments
    writes_after = sync_env.qbo.app.state_snapshot()["counters"]
    assert writes_after.get("writes") == writes_before.get("writes")


def test_existing_customer_with_apostrophe_is_matched_not_duplicated(sync_env) -> None:
    import requests

    dunkin = "Dunkin' Donuts of Springfield"
    boxes = [b for b in _won_boxes(sync_env) if b["name"].startswith(dunkin)]
    assert boxes
    # The customer already exists in QuickBooks, typed in by a bookkeeper (no link to Streak).
    seeded = requests.post(
        sync_env.qbo.url + "/__admin/seed", json={"Customer": [{"DisplayName": dunkin}]}, timeout=10
    )
    seeded.raise_for_status()
    existing = [c for c in sync_env.qbo_entities("Customer") if c["DisplayName"] == dunkin]
    assert len(existing) == 1

    assert sync_env.run_dag() == "success"

    same_name = [c for c in sync_env.qbo_entities("Customer") if c["DisplayName"] == dunkin]
    assert [c["Id"] for c in same_name] == [existing[0]["Id"]]
    quarantined = {row.source_key for row in sync_env.store.quarantine_list()}
    invoices = [
        inv for inv in sync_env.qbo_entities("Invoice") if inv["CustomerRef"]["value"] == existing[0]["Id"]
    ]
    assert len(invoices) == len([b for b in boxes if b["key"] not in quarantined]) >= 1


def test_dry_run_writes_nothing_anywhere_and_box_keys_replays_exactly_those(sync_env) -> None:
    before_streak = sync_env.streak_state()
    assert sync_env.run_dag(conf={"dry_run": True}) == "success"
    counters = sync_env.qbo.app.state_snapshot()["counters"]["writes"]
    assert all(n == 0 for ops in counters.values() for n in ops.values())
    assert sync_env.qbo_entities("Invoice") == []
    assert sync_env.store.stage_events_list() == []
    assert sync_env.store.quarantine_list() == []
    assert sync_env.streak_state()["comments"] == before_streak["comments"]
    assert [b["fields"] for b in sync_env.streak_state()["boxes"]] == [
        b["fields"] for b in before_streak["boxes"]
    ]

    # An explicit replay of two boxes (one valid, one bad) syncs exactly those.
    bad = set(before_streak["seed"]["bad_box_keys"])
    won = [b["key"] for b in _won_boxes(sync_env)]
    good = next(k for k in won if k not in bad)
    bad_won = next(k for k in won if k in bad)
    assert sync_env.run_dag(conf={"box_keys": [good, bad_won]}) == "success"
    invoices = sync_env.qbo_entities("Invoice")
    assert len(invoices) == 1 and good in invoices[0]["PrivateNote"]
    assert [row.source_key for row in sync_env.store.quarantine_list()] == [bad_won]
