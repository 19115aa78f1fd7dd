"""Customers that share a DisplayName: linked only when that merges nobody, else kept apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from erp_operators.quickbooks.connector import QuickBooksConnector
from erp_operators.quickbooks.payloads import DISPLAY_NAME_MAX, distinct_name
from erp_operators.receipts import Receipt, ReceiptStatus
from sync_core.canonical import Customer
from sync_core.state import StateStore
from tests.quickbooks.qbo_admin import QBOSandbox


def _connector(qbo: QBOSandbox, store: StateStore, **kwargs: Any) -> QuickBooksConnector:
    return QuickBooksConnector(config=qbo.config(), store=store, **kwargs)


def _run(qbo: QBOSandbox, store: StateStore, customers: Sequence[Customer], **kwargs: Any) -> list[Receipt]:
    """One DAG step: upsert, then record the receipts in the ledger."""
    conn = _connector(qbo, store, **kwargs)
    try:
        receipts = conn.upsert_customers(customers)
    finally:
        conn.close()
    store.ledger_record("quickbooks", "customer", [r.ledger_row() for r in receipts])
    return receipts


def _wipe_ledger(store: StateStore) -> None:
    """Lose every ledger row (the stored tokens stay)."""
    from sync_core.state import ledger

    with store.engine.begin() as conn:
        conn.execute(ledger.delete())


def _writes(qbo: QBOSandbox) -> dict[str, int]:
    return dict(qbo.state()["counters"]["writes"]["Customer"])


def _assert_rerun_writes_nothing(qbo: QBOSandbox, store: StateStore, customers: Sequence[Customer]) -> None:
    writes = _writes(qbo)
    assert [r.status for r in _run(qbo, store, customers)] == [ReceiptStatus.UNCHANGED] * len(customers)
    assert _writes(qbo) == writes


def _by_id(qbo: QBOSandbox) -> dict[str, dict[str, Any]]:
    return {str(c["Id"]): c for c in qbo.objects("Customer")}


def _email(record: dict[str, Any]) -> str:
    return str((record.get("PrimaryEmailAddr") or {}).get("Address") or "")


def test_same_name_different_emails_in_one_call_make_two_customers(qbo: QBOSandbox, state_url: str) -> None:
    store = StateStore.from_url(state_url)
    people = [
        Customer("agxzct000101", "Jordan Smith", email="jordan@alpha.test", source="contact"),
        Customer("agxzct000202", "Jordan Smith", email="jordan@beta.test", source="contact"),
    ]
    receipts = _run(qbo, store, people)
    assert [r.status for r in receipts] == [ReceiptStatus.CREATED] * 2
    assert receipts[0].erp_id != receipts[1].erp_id
    held = _by_id(qbo)
    assert [(held[r.erp_id]["DisplayName"], _email(held[r.erp_id])) for r in receipts] == [
        ("Jordan Smith", "jordan@alpha.test"),
        ("Jordan Smith (ct000202)", "jordan@beta.test"),
    ]
    ledger = store.ledger_get_many("quickbooks", "customer", [c.external_key for c in people])
    assert {k: e.erp_id for k, e in ledger.items()} == {
        people[0].external_key: receipts[0].erp_id,
        people[1].external_key: receipts[1].erp_id,
    }

    _assert_rerun_writes_nothing(qbo, store, people)  # the ledger settles both
    writes = _writes(qbo)

    _wipe_ledger(store)
    found = _run(qbo, store, list(reversed(people)))  # no ledger, other order: QBO itself is searched
    assert [r.erp_id for r in found] == [receipts[1].erp_id, receipts[0].erp_id]
    assert {r.status for r in found} == {ReceiptStatus.MATCHED}
    assert _writes(qbo) == writes and len(qbo.objects("Customer")) == 2


def test_a_later_namesake_does_not_take_over_the_first_ones_customer(qbo: QBOSandbox, state_url: str) -> None:
    store = StateStore.from_url(state_url)
    first = Customer("agxzog000007", "Northwind", email="ap@northwind-one.test")
    [one] = _run(qbo, store, [first])
    second = Customer("agxzog000099", "Northwind", email="ap@northwind-two.test", phone="555 0199")
    [two] = _run(qbo, store, [second])  # a later run: the first one is in the ledger
    assert two.status is ReceiptStatus.CREATED and two.erp_id != one.erp_id
    held = _by_id(qbo)
    assert (held[one.erp_id]["DisplayName"], _email(held[one.erp_id])) == (
        "Northwind",
        "ap@northwind-one.test",
    )
    assert "PrimaryPhone" not in held[one.erp_id]
    assert held[two.erp_id]["DisplayName"] == "Northwind (og000099)"

    changed = Customer("agxzog000099", "Northwind", email="ap@northwind-two.test", phone="555 0200")
    [update] = _run(qbo, store, [changed])  # a change keeps the distinct name
    assert update.status is ReceiptStatus.UPDATED and update.erp_id == two.erp_id
    assert _by_id(qbo)[two.erp_id]["DisplayName"] == "Northwind (og000099)"

    _assert_rerun_writes_nothing(qbo, store, [first, changed])


def test_a_namesake_without_email_but_other_data_gets_its_own_customer(
    qbo: QBOSandbox, state_url: str
) -> None:
    store = StateStore.from_url(state_url)
    [one] = _run(qbo, store, [Customer("agxzct000001", "Sam Lee", phone="555 0001")])
    [two] = _run(qbo, store, [Customer("agxzct000002", "Sam Lee", phone="555 0002")])
    assert two.status is ReceiptStatus.CREATED and two.erp_id != one.erp_id
    assert _by_id(qbo)[one.erp_id]["PrimaryPhone"]["FreeFormNumber"] == "555 0001"


def test_an_existing_customer_with_the_same_name_and_email_is_still_matched(
    qbo: QBOSandbox, state_url: str
) -> None:
    qbo.admin(
        "POST",
        "seed",
        {
            "Customer": [
                {"DisplayName": "Globex", "PrimaryEmailAddr": {"Address": "billing@globex.test"}},
                {"DisplayName": "Initech"},
            ]
        },
    )
    seeded = {c["DisplayName"]: str(c["Id"]) for c in qbo.objects("Customer")}
    store = StateStore.from_url(state_url)
    receipts = _run(
        qbo,
        store,
        [
            Customer("agxzog000001", "Globex", email="billing@globex.test"),  # e-mail match
            Customer("agxzog000002", "Initech", email="ap@initech.test"),  # name match, no e-mail on it
            Customer("agxzog000003", "Initech", email="ap@initech.test"),  # same data: same customer
        ],
    )
    assert [r.erp_id for r in receipts] == [seeded["Globex"], seeded["Initech"], seeded["Initech"]]
    assert all(r.ok for r in receipts) and len(qbo.objects("Customer")) == 2
    assert _email(_by_id(qbo)[seeded["Initech"]]) == "ap@initech.test"


def test_bulk_namesakes_are_kept_apart_with_the_preloaded_index(qbo: QBOSandbox, state_url: str) -> None:
    store = StateStore.from_url(state_url)
    people = [
        Customer(f"agxzct{n:06d}", f"Person {n % 20}", email=f"p{n}@bulk.test", source="contact")
        for n in range(40)
    ]
    receipts = _run(qbo, store, people, bulk_lookup_threshold=5)
    assert [r.status for r in receipts] == [ReceiptStatus.CREATED] * 40
    assert len({r.erp_id for r in receipts}) == 40
    held = _by_id(qbo)
    assert {_email(held[r.erp_id]) for r in receipts} == {c.email for c in people}
    writes = _writes(qbo)
    _wipe_ledger(store)
    again = _run(qbo, store, people, bulk_lookup_threshold=5)
    assert [r.erp_id for r in again] == [r.erp_id for r in receipts]
    assert _writes(qbo) == writes


def test_distinct_name_is_stable_and_fits_the_limit() -> None:
    assert distinct_name("Jordan Smith", "agxzct000202") == "Jordan Smith (ct000202)"
    assert distinct_name("Jordan Smith", "agxzct000202") == distinct_name("Jordan Smith", "agxzct000202")
    long = distinct_name("x" * 200, "agxzfm1haWxmb29nYWVy:LQsSDE9yZ2Fu")
    assert len(long) == DISPLAY_NAME_MAX and long.endswith("x (DE9yZ2Fu)")
    assert ":" not in long
    assert (
        distinct_name("A: B", "::").startswith("A- B (") and len(distinct_name("A", "::")) == len("A (") + 9
    )


def test_a_shared_email_does_not_rename_another_records_customer(qbo: QBOSandbox, state_url: str) -> None:
    store = StateStore.from_url(state_url)
    [alpha] = _run(qbo, store, [Customer("agxzog000001", "Alpha Ltd", email="info@group.test")])
    [beta] = _run(qbo, store, [Customer("agxzog000002", "Beta Ltd", email="info@group.test")])
    assert beta.status is ReceiptStatus.CREATED and beta.erp_id != alpha.erp_id
    held = _by_id(qbo)
    assert [held[alpha.erp_id]["DisplayName"], held[beta.erp_id]["DisplayName"]] == ["Alpha Ltd", "Beta Ltd"]


def test_records_sharing_a_customer_part_when_one_of_them_changes(qbo: QBOSandbox, state_url: str) -> None:
    store = StateStore.from_url(state_url)
    x, y = Customer("agxzog000011", "Dana's Deli"), Customer("agxzog000012", "Dana's Deli")
    shared = _run(qbo, store, [x, y])  # the same data: one customer serves both
    assert shared[0].erp_id == shared[1].erp_id
    y_changed = Customer("agxzog000012", "Dana's Deli", email="orders@dana.test")
    [parted] = _run(qbo, store, [y_changed])
    assert parted.status is ReceiptStatus.CREATED and parted.erp_id != shared[0].erp_id
    held = _by_id(qbo)
    assert _email(held[shared[0].erp_id]) == "" and _email(held[parted.erp_id]) == "orders@dana.test"
    assert held[parted.erp_id]["DisplayName"] == "Dana's Deli (og000012)"
    _assert_rerun_writes_nothing(qbo, store, [x, y_changed])


def test_a_name_held_by_an_inactive_customer_fails_that_record_by_name(
    qbo: QBOSandbox, state_url: str
) -> None:
    qbo.admin("POST", "seed", {"Customer": [{"DisplayName": "Old Co", "Active": False}]})
    store = StateStore.from_url(state_url)
    receipts = _run(qbo, store, [Customer("agxzog000077", "Old Co"), Customer("agxzog000078", "New Co")])
    assert [r.status for r in receipts] == [ReceiptStatus.FAILED, ReceiptStatus.CREATED]
    assert "agxzog000077" in receipts[0].message and "DisplayName 'Old Co' belongs" in receipts[0].message
    assert len(qbo.objects("Customer")) == 2
