"""Fault matrix, invalid data: a non-numeric amount, a missing required field, an unknown item and
an unknown customer reference are quarantined with the box key and the field; the good deals of the
same run go through (one invoice each, written back) and the bad ones touch nothing."""

from __future__ import annotations

import pytest

from tests.faults.support import (
    GOOD_DEAL,
    assert_final_state,
    assert_synced_once,
    assert_untouched,
    create_box,
    invoices_by_box,
    org_keys,
    qbo_entities,
    quarantine_rows,
    run_dag,
    won_box_keys,
)

pytestmark = pytest.mark.slow


def _good_boxes(env, n: int = 2) -> list[str]:
    orgs = org_keys(env.streak)
    return [
        create_box(env.streak, f"Good deal {i}", fields=GOOD_DEAL, organization_keys=[orgs[i]])
        for i in range(n)
    ]


def _assert_quarantined(env, key: str, field: str, words: str) -> None:
    row = quarantine_rows(env.store)[key]
    assert key in row.reason, row.reason
    assert words.casefold() in row.reason.casefold(), row.reason
    assert field in [f["field"] for f in row.payload["failures"]], row.payload["failures"]


def test_non_numeric_amount(env) -> None:
    org = org_keys(env.streak)[3]
    bad = create_box(
        env.streak, "Bad price", fields={**GOOD_DEAL, "Unit Price": "twelve"}, organization_keys=[org]
    )
    good = _good_boxes(env)
    assert run_dag().state == "success"
    _assert_quarantined(env, bad, "Unit Price", "'twelve' is not a number")
    assert_final_state(env, {bad})
    assert set(good) <= set(won_box_keys(env.streak))


def test_missing_required_field(env) -> None:
    # no organization and no contact: there is no customer to invoice
    bad = create_box(env.streak, "Nobody to bill", fields=GOOD_DEAL)
    _good_boxes(env)
    assert run_dag().state == "success"
    row = quarantine_rows(env.store)[bad]
    assert bad in row.reason and "organization/contact is missing" in row.reason.casefold(), row.reason
    assert_final_state(env, {bad})


def test_unknown_item(env) -> None:
    org = org_keys(env.streak)[4]
    lines = "NOPE-404 | 1 | 10.00 | a product nobody sells"
    bad = create_box(env.streak, "Ghost product", fields={"Line Items": lines}, organization_keys=[org])
    _good_boxes(env)
    assert run_dag().state == "success"
    _assert_quarantined(env, bad, "Line Items", "NOPE-404")
    assert_final_state(env, {bad})
    assert not [i for i in qbo_entities(env.qbo, "Item") if "NOPE-404" in (i.get("Sku") or i["Name"])]


def test_unknown_customer_reference_in_streak(env) -> None:
    # the box points at an organization that no longer exists in Streak (deleted after linking)
    orgs = org_keys(env.streak)
    gone = orgs[-1]
    bad = create_box(env.streak, "Orphaned deal", fields=GOOD_DEAL, organization_keys=[gone])
    _good_boxes(env)
    with env.streak.app.lock:
        del env.streak.app.data.organizations[gone]
    assert run_dag().state == "success"
    _assert_quarantined(env, bad, "Organization/Contact", "no known organization or contact")
    assert_final_state(env, {bad})


def test_unknown_customer_reference_in_erp(env) -> None:
    # the ledger links a customer to a QuickBooks customer someone has since made inactive:
    # QuickBooks refuses the invoice (610 Object Not Found) and only that deal is quarantined
    org = org_keys(env.streak)[5]
    first = create_box(env.streak, "First deal", fields=GOOD_DEAL, organization_keys=[org])
    assert run_dag().state == "success"
    assert_synced_once(env.qbo, env.streak, env.store, [first])
    customer_id = env.store.ledger_get("quickbooks", "customer", org).erp_id
    with env.qbo.app.lock:
        realm = next(iter(env.qbo.app.realms.values()))
        customer = next(c for c in realm.objects["Customer"].values() if c["Id"] == customer_id)
        customer["Active"] = False
    bad = create_box(env.streak, "Second deal, same customer", fields=GOOD_DEAL, organization_keys=[org])
    good = _good_boxes(env)
    assert run_dag().state == "success"
    row = quarantine_rows(env.store)[bad]
    assert bad in row.reason and "Object Not Found" in row.reason, row.reason
    assert_untouched(env.qbo, env.streak, {bad})
    assert_synced_once(env.qbo, env.streak, env.store, [first, *good])


def test_unknown_item_reference_in_erp(env) -> None:
    # the ledger links a product to a QuickBooks item someone has since made inactive: QuickBooks
    # refuses the invoice and only that deal is quarantined; a deal selling another product goes on
    orgs = org_keys(env.streak)
    first = create_box(env.streak, "First sale", fields=GOOD_DEAL, organization_keys=[orgs[6]])
    assert run_dag().state == "success"
    assert_synced_once(env.qbo, env.streak, env.store, [first])
    (invoice,) = invoices_by_box(env.qbo)[first]
    item_id = invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"]
    with env.qbo.app.lock:
        realm = next(iter(env.qbo.app.realms.values()))
        realm.objects["Item"][item_id]["Active"] = False
    bad = create_box(env.streak, "Second sale, same product", fields=GOOD_DEAL, organization_keys=[orgs[7]])
    other = {"Product": "Widget Lite", "Quantity": "1", "Unit Price": "199.00", "Deal Value": "199.00"}
    good = create_box(env.streak, "Other product", fields=other, organization_keys=[orgs[8]])
    assert run_dag().state == "success"
    row = quarantine_rows(env.store)[bad]
    assert bad in row.reason and "Object Not Found" in row.reason, row.reason
    assert_untouched(env.qbo, env.streak, {bad})
    assert_synced_once(env.qbo, env.streak, env.store, [first, good])
