"""Customers that share a name: linked only when that merges nobody, else kept apart (unique entityId)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from erp_operators.netsuite.connector import NetSuiteConnector
from erp_operators.netsuite.payloads import ENTITY_ID_MAX, distinct_entity_id
from erp_operators.receipts import Receipt, ReceiptStatus
from sync_core.canonical import Customer
from sync_core.state import StateStore, ledger
from tests.netsuite.ns_admin import NSSandbox

Factory = Callable[..., NetSuiteConnector]


def _run(
    connector: Factory, store: StateStore, customers: Sequence[Customer], **kwargs: Any
) -> list[Receipt]:
    """One DAG step: upsert, then record the receipts in the ledger."""
    receipts = connector(**kwargs).upsert_customers(customers)
    store.ledger_record("netsuite", "customer", [r.ledger_row() for r in receipts])
    return receipts


def _wipe_ledger(store: StateStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(ledger.delete())


def _writes(ns: NSSandbox) -> int:
    return int(ns.state()["counters"]["writes_total"])


def _by_id(ns: NSSandbox) -> dict[str, dict[str, Any]]:
    return {str(c["id"]): c for c in ns.records("customer")}


def _assert_rerun_writes_nothing(
    ns: NSSandbox, connector: Factory, store: StateStore, customers: Sequence[Customer]
) -> None:
    writes = _writes(ns)
    again = _run(connector, store, customers)
    assert [r.status for r in again] == [ReceiptStatus.UNCHANGED] * len(customers)
    assert _writes(ns) == writes


def test_same_name_different_emails_in_one_call_make_two_customers(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    people = [
        Customer("agxzct000101", "Jordan Smith", email="jordan@alpha.test", source="contact"),
        Customer("agxzct000202", "Jordan Smith", email="jordan@beta.test", source="contact"),
    ]
    receipts = _run(connector, store, people)
    assert [r.status for r in receipts] == [ReceiptStatus.CREATED] * 2
    held = _by_id(ns)
    assert [(held[r.erp_id]["entityId"], held[r.erp_id]["email"]) for r in receipts] == [
        ("Jordan Smith", "jordan@alpha.test"),
        ("Jordan Smith (ct000202)", "jordan@beta.test"),
    ]
    assert [held[r.erp_id]["externalId"] for r in receipts] == [p.external_key for p in people]

    _assert_rerun_writes_nothing(ns, connector, store, people)  # the ledger settles both
    writes = _writes(ns)
    _wipe_ledger(store)
    found = _run(connector, store, list(reversed(people)))  # no ledger, other order: SuiteQL by externalid
    assert [r.erp_id for r in found] == [receipts[1].erp_id, receipts[0].erp_id]
    assert {r.status for r in found} == {ReceiptStatus.UNCHANGED}
    assert _writes(ns) == writes and len(ns.records("customer")) == 2


def test_a_later_namesake_does_not_take_over_the_first_ones_customer(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    first = Customer("agxzog000007", "Northwind", email="ap@northwind-one.test")
    [one] = _run(connector, store, [first])
    second = Customer("agxzog000099", "Northwind", email="ap@northwind-two.test", phone="555 0199")
    [two] = _run(connector, store, [second])  # a later run: the first one is in the ledger
    assert two.status is ReceiptStatus.CREATED and two.erp_id != one.erp_id
    held = _by_id(ns)
    assert (held[one.erp_id]["entityId"], held[one.erp_id]["email"]) == ("Northwind", "ap@northwind-one.test")
    assert "phone" not in held[one.erp_id]
    assert (held[two.erp_id]["entityId"], held[two.erp_id]["companyName"]) == (
        "Northwind (og000099)",
        "Northwind",
    )

    changed = Customer("agxzog000099", "Northwind", email="ap@northwind-two.test", phone="555 0200")
    [update] = _run(connector, store, [changed])  # a change keeps the distinct entityId
    assert update.status is ReceiptStatus.UPDATED and update.erp_id == two.erp_id
    assert _by_id(ns)[two.erp_id]["entityId"] == "Northwind (og000099)"
    _assert_rerun_writes_nothing(ns, connector, store, [first, changed])


def test_another_records_customer_is_not_taken_even_without_the_ledger(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    [one] = _run(connector, store, [Customer("agxzct000001", "Sam Lee", phone="555 0001")])
    _wipe_ledger(store)  # only the externalId on the customer says whose it is
    [two] = _run(connector, store, [Customer("agxzct000002", "Sam Lee", phone="555 0002")])
    assert two.status is ReceiptStatus.CREATED and two.erp_id != one.erp_id
    held = _by_id(ns)
    assert held[one.erp_id]["phone"] == "555 0001" and held[two.erp_id]["phone"] == "555 0002"
    assert held[two.erp_id]["entityId"] == "Sam Lee (ct000002)"


def test_an_existing_customer_with_the_same_name_and_email_is_still_matched(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    globex = ns.seed(
        "customer",
        {
            "entityId": "Globex",
            "companyName": "Globex",
            "email": "billing@globex.test",
            "subsidiary": {"id": "1"},
        },
    )
    initech = ns.seed(
        "customer", {"entityId": "Initech", "companyName": "Initech", "subsidiary": {"id": "1"}}
    )
    receipts = _run(
        connector,
        store,
        [
            Customer("agxzog000001", "Globex", email="billing@globex.test"),  # e-mail match
            Customer("agxzog000002", "Initech", email="ap@initech.test"),  # name match, no e-mail on it
            Customer("agxzog000003", "Initech", email="ap@initech.test"),  # same data: same customer
        ],
    )
    assert [r.erp_id for r in receipts] == [globex, initech, initech]
    assert all(r.ok for r in receipts) and len(ns.records("customer")) == 2
    assert _by_id(ns)[initech]["email"] == "ap@initech.test"


def test_a_namesake_with_another_email_does_not_take_a_human_made_customer(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    seeded = ns.seed(
        "customer",
        {"entityId": "Hooli", "companyName": "Hooli", "email": "ap@hooli.test", "subsidiary": {"id": "1"}},
    )
    [receipt] = _run(connector, store, [Customer("agxzog000042", "Hooli", email="finance@hooli-two.test")])
    assert receipt.status is ReceiptStatus.CREATED and receipt.erp_id != seeded
    held = _by_id(ns)
    assert held[seeded]["email"] == "ap@hooli.test"
    assert held[receipt.erp_id]["entityId"] == "Hooli (og000042)"


def test_records_sharing_a_customer_part_when_one_of_them_changes(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    x, y = Customer("agxzog000011", "Dana's Deli"), Customer("agxzog000012", "Dana's Deli")
    shared = _run(connector, store, [x, y])  # the same data: one customer serves both
    assert shared[0].erp_id == shared[1].erp_id
    assert [r.status for r in shared] == [ReceiptStatus.CREATED, ReceiptStatus.MATCHED]
    y_changed = Customer("agxzog000012", "Dana's Deli", email="orders@dana.test")
    [parted] = _run(connector, store, [y_changed])
    assert parted.status is ReceiptStatus.CREATED and parted.erp_id != shared[0].erp_id
    held = _by_id(ns)
    assert "email" not in held[shared[0].erp_id] and held[parted.erp_id]["email"] == "orders@dana.test"
    assert held[parted.erp_id]["entityId"] == "Dana's Deli (og000012)"
    _assert_rerun_writes_nothing(ns, connector, store, [x, y_changed])


def test_a_customer_renamed_to_a_taken_name_gets_a_distinct_entity_id(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    _run(connector, store, [Customer("agxzog000021", "Umbrella", email="ap@umbrella.test")])
    [two] = _run(connector, store, [Customer("agxzog000022", "Umbrella Two", email="ap@umbrella-two.test")])
    renamed = Customer("agxzog000022", "Umbrella", email="ap@umbrella-two.test")
    [update] = _run(connector, store, [renamed])
    assert update.status is ReceiptStatus.UPDATED and update.erp_id == two.erp_id
    assert _by_id(ns)[two.erp_id]["entityId"] == "Umbrella (og000022)"
    _assert_rerun_writes_nothing(ns, connector, store, [renamed])


def test_bulk_namesakes_are_kept_apart_through_batches(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    people = [
        Customer(f"agxzct{n:06d}", f"Person {n % 10}", email=f"p{n}@bulk.test", source="contact")
        for n in range(30)
    ]
    receipts = _run(connector, store, people, bulk_threshold=2)
    assert [r.status for r in receipts] == [ReceiptStatus.CREATED] * 30
    assert len({r.erp_id for r in receipts}) == 30
    held = _by_id(ns)
    assert {held[r.erp_id]["email"] for r in receipts} == {c.email for c in people}
    assert ns.state()["counters"]["batch_jobs"] >= 2  # the first of each name, then the rest
    writes = _writes(ns)
    _wipe_ledger(store)
    again = _run(connector, store, people, bulk_threshold=2)
    assert [r.erp_id for r in again] == [r.erp_id for r in receipts]
    assert _writes(ns) == writes


def test_distinct_entity_id_is_stable_and_fits_the_limit() -> None:
    assert distinct_entity_id("Jordan Smith", "agxzct000202") == "Jordan Smith (ct000202)"
    long = distinct_entity_id("x" * 200, "agxzfm1haWxmb29nYWVy-LQsSDE9yZ2Fu")
    assert len(long) == ENTITY_ID_MAX and long.endswith("x (DE9yZ2Fu)")
    assert distinct_entity_id("A|B", "ct-9") == "A-B (ct9)"
