"""Replay through the real ``streak_deals_to_erp`` DAG (``dag.test()``): a quarantined deal whose
Streak data is fixed becomes exactly one invoice and leaves quarantine; deals still bad stay, with
one more attempt; a synced box named again writes nothing; a dry replay writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.dags.conftest import STREAK_KEY

pytestmark = pytest.mark.slow

WRITEBACK = "ERP Invoice #"


def _field_key(env, name: str) -> str:
    return next(f["key"] for f in env.streak_state()["pipelines"][0]["fields"] if f["name"] == name)


def _box(env, key: str) -> dict[str, Any]:
    return next(b for b in env.streak_state()["boxes"] if b["key"] == key)


def _set_field(env, box_key: str, field: str, value: Any) -> None:
    response = requests.post(
        f"{env.streak.url}/api/v1/boxes/{box_key}/fields/{_field_key(env, field)}",
        json={"value": value},
        auth=(STREAK_KEY, ""),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _invoice_creates(env) -> int:
    return env.qbo.app.state_snapshot()["counters"]["writes"]["Invoice"]["create"]


def _quarantined(env) -> dict[str, Any]:
    return {row.source_key: row for row in env.store.quarantine_list("quickbooks", "deal")}


def _bad_box(env, variant: str) -> str:
    bad = env.streak_state()["seed"]["bad_box_keys"]
    return next(key for key, why in bad.items() if why == variant)


def test_replay_of_a_fixed_quarantined_deal_creates_exactly_one_invoice(sync_env) -> None:
    env = sync_env
    assert env.run_dag() == "success"
    held = _quarantined(env)
    missing_price = _bad_box(env, "missing Unit Price")
    assert missing_price in held and missing_price in held[missing_price].reason
    invoices = _invoice_creates(env)

    # Nothing fixed yet: the replay writes nothing and every row gets one more attempt.
    assert env.run_dag(conf={"replay_quarantine": True}) == "success"
    assert _invoice_creates(env) == invoices
    assert {k: r.attempts for k, r in _quarantined(env).items()} == {k: 2 for k in held}

    # Fix the box in Streak: the product's list price (quantity x price = the stated Deal Value).
    box = _box(env, missing_price)
    options = next(f for f in env.streak_state()["pipelines"][0]["fields"] if f["name"] == "Product")
    product = next(
        o["name"]
        for o in options["dropdownSettings"]["items"]
        if o["key"] == box["fields"][_field_key(env, "Product")]
    )
    from sandbox.streak.seed import PRODUCTS

    _set_field(
        env, missing_price, "Unit Price", next(price for _, name, price, _ in PRODUCTS if name == product)
    )

    # A dry replay finds it but writes nothing and keeps the row.
    assert env.run_dag(conf={"replay_quarantine": True, "dry_run": True}) == "success"
    assert _invoice_creates(env) == invoices and missing_price in _quarantined(env)

    assert env.run_dag(conf={"replay_quarantine": True}) == "success"

    assert _invoice_creates(env) == invoices + 1
    still = _quarantined(env)
    assert missing_price not in still
    assert set(still) == set(held) - {missing_price}
    assert all(row.attempts == 3 for row in still.values())
    number = _box(env, missing_price)["fields"].get(_field_key(env, WRITEBACK))
    mine = [i for i in env.qbo_entities("Invoice") if missing_price in (i.get("PrivateNote") or "")]
    assert len(mine) == 1 and mine[0]["DocNumber"] == number

    # Replaying again (or naming the synced box) writes nothing more.
    assert env.run_dag(conf={"replay_quarantine": True, "box_keys": [missing_price]}) == "success"
    assert _invoice_creates(env) == invoices + 1
    assert len(env.streak_state()["comments"].get(missing_price, [])) == 1


def test_box_keys_replay_of_a_fixed_deal_syncs_it_and_only_it(sync_env) -> None:
    env = sync_env
    assert env.run_dag() == "success"
    bad_quantity = _bad_box(env, "non-numeric Quantity")
    assert bad_quantity in _quarantined(env)
    held = set(_quarantined(env))
    invoices = _invoice_creates(env)

    # 'ten' -> 10 would change the total; the Deal Value says how many were sold.
    box = _box(env, bad_quantity)
    from sync_core.mapping.parsers import parse_number

    value = parse_number(box["fields"][_field_key(env, "Deal Value")], "en_US", ("de_DE",))
    price = parse_number(box["fields"][_field_key(env, "Unit Price")], "en_US", ("de_DE",))
    _set_field(env, bad_quantity, "Quantity", format((value / price).normalize(), "f"))

    assert env.run_dag(conf={"box_keys": [bad_quantity]}) == "success"

    assert _invoice_creates(env) == invoices + 1
    assert set(_quarantined(env)) == held - {bad_quantity}
    assert [i for i in env.qbo_entities("Invoice") if bad_quantity in (i.get("PrivateNote") or "")]

    # A quarantined box deleted in Streak since cannot be replayed: the run goes on, the row stays.
    deleted = sorted(held - {bad_quantity})[0]
    response = requests.delete(f"{env.streak.url}/api/v1/boxes/{deleted}", auth=(STREAK_KEY, ""), timeout=10)
    assert response.status_code == 200, response.text
    assert env.run_dag(conf={"replay_quarantine": True}) == "success"
    assert _invoice_creates(env) == invoices + 1
    assert set(_quarantined(env)) == held - {bad_quantity}
