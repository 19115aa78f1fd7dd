"""NetSuiteConnector against the live sandbox: bulk loads, sales orders + invoices, limits, errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from erp_operators.errors import ERPAuthError
from erp_operators.netsuite.connector import NetSuiteConnector
from erp_operators.receipts import ErrorClass, Receipt, ReceiptStatus
from sync_core.canonical import Customer, DocumentKind, Item, ItemType, Line, SalesDocument
from sync_core.state import StateStore
from tests.netsuite.ns_admin import SETTINGS, NSSandbox

Factory = Callable[..., NetSuiteConnector]
ORDER_SETTINGS = replace(SETTINGS, invoice_from_order=True)
WIDGET = Item("WID-STD", "Widget Standard", ItemType.NON_INVENTORY, D("49"), income_account_ref="54")
HOURS = Item("CONSULT-HR", "Hours", ItemType.SERVICE, D("150"), income_account_ref="55")


def statuses(receipts: list[Receipt]) -> list[str]:
    return [r.status.value for r in receipts]


def refs(receipts: list[Receipt]) -> dict[str, str]:
    assert all(r.ok for r in receipts), [r for r in receipts if not r.ok]
    return {r.external_key: r.erp_id for r in receipts}


def record(store: StateStore, entity: str, receipts: list[Receipt]) -> None:
    store.ledger_record("netsuite", entity, [r.ledger_row() for r in receipts])


def deals(
    n: int, kind: DocumentKind = DocumentKind.SALES_ORDER
) -> tuple[list[Customer], list[SalesDocument]]:
    customers = [Customer(f"org-{i}", f"Customer {i}", email=f"ap{i}@example.test") for i in range(n)]
    docs = [
        SalesDocument(
            external_key=f"box-{i}",
            customer=customers[i],
            lines=(
                Line(WIDGET, D(i + 1), D("49.00"), D(i + 1) * D("49.00")),
                Line(HOURS, D("2"), D("150"), D("300")),
            ),
            currency="USD",
            doc_date=date(2026, 11, 20),
            kind=kind,
            doc_number=f"STREAK-box-{i}",
            status="B",
            custom_fields=(("custbody_streak_deal_type", "Product"),),
        )
        for i in range(n)
    ]
    return customers, docs


def run_deals(conn: NetSuiteConnector, customers: list[Customer], docs: list[SalesDocument]) -> list[Receipt]:
    c = conn.upsert_customers(customers)
    i = conn.resolve_items([WIDGET, HOURS])
    return conn.create_documents(docs, refs(c), refs(i))


def test_bulk_customers_go_through_async_batches_and_repeat_writes_nothing(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    customers = [Customer(f"org-{n:03d}", f"Bulk Customer {n:03d}", email=f"b{n}@x.test") for n in range(120)]
    first = connector().upsert_customers(customers)
    assert statuses(first) == ["created"] * 120
    state = ns.state()
    assert state["counts"]["customer"] == 120
    assert state["counters"]["batch_jobs"] == 2 and state["counters"]["batch_records"] == 120
    record(store, "customer", first)
    writes = state["counters"]["writes_total"]

    assert statuses(connector().upsert_customers(customers)) == ["unchanged"] * 120  # ledger hash
    store.engine.dispose()
    with store.engine.begin() as db:
        from sync_core.state import ledger

        db.execute(ledger.delete())
    again = connector().upsert_customers(customers)  # found by external id through SuiteQL
    assert statuses(again) == ["unchanged"] * 120
    assert [r.erp_id for r in again] == [r.erp_id for r in first]
    after = ns.state()
    assert after["counters"]["writes_total"] == writes and after["counters"]["batch_jobs"] == 2


def test_batch_results_without_ids_are_resolved_by_external_id(ns: NSSandbox, connector: Factory) -> None:
    ns.limits(result_ids=False)
    customers = [Customer(f"org-{n}", f"No Id Customer {n}") for n in range(7)]
    receipts = connector().upsert_customers(customers)
    held = {c["externalId"]: c["id"] for c in ns.records("customer")}
    assert statuses(receipts) == ["created"] * 7
    assert [r.erp_id for r in receipts] == [held[c.external_key] for c in customers]
    assert ns.state()["counters"]["batch_jobs"] == 1


def test_bulk_items_use_one_batch_per_record_type(ns: NSSandbox, connector: Factory) -> None:
    items = [
        Item(f"SKU-{n}", f"Product {n}", ItemType.SERVICE if n % 2 else ItemType.NON_INVENTORY)
        for n in range(8)
    ]
    receipts = connector().resolve_items(items)
    assert statuses(receipts) == ["created"] * 8
    state = ns.state()
    assert state["counters"]["batch_jobs"] == 2
    assert state["counts"]["serviceSaleItem"] == 1 + 4 and state["counts"]["nonInventorySaleItem"] == 4


def test_sales_orders_become_invoices_once_and_the_tran_id_is_the_number(
    ns: NSSandbox, connector: Factory, store: StateStore
) -> None:
    customers, docs = deals(3)
    receipts = run_deals(connector(settings=ORDER_SETTINGS), customers, docs)
    assert statuses(receipts) == ["created"] * 3
    assert [r.erp_number for r in receipts] == ["STREAK-box-0", "STREAK-box-1", "STREAK-box-2"]
    orders = {o["externalId"]: o for o in ns.records("salesOrder")}
    assert orders["box-1"]["total"] == 2 * 49 + 300
    assert orders["box-1"]["custbody_streak_deal_type"] == "Product"
    assert orders["box-1"]["orderStatus"] == {"id": "B"} and orders["box-1"]["location"] == {"id": "1"}
    invoices = ns.records("invoice")
    assert sorted(i["createdFrom"]["id"] for i in invoices) == sorted(r.erp_id for r in receipts)
    assert sorted(i["externalId"] for i in invoices) == ["box-0-inv", "box-1-inv", "box-2-inv"]

    again = run_deals(connector(settings=ORDER_SETTINGS), customers, docs)  # empty ledger: found in NetSuite
    assert statuses(again) == ["unchanged"] * 3
    assert [(r.erp_id, r.erp_number) for r in again] == [(r.erp_id, r.erp_number) for r in receipts]
    counts = ns.state()["counts"]
    assert counts["salesOrder"] == 3 and counts["invoice"] == 3


def test_an_order_left_without_its_invoice_gets_it_on_the_next_run(ns: NSSandbox, connector: Factory) -> None:
    customers, docs = deals(2)
    first = run_deals(connector(settings=SETTINGS), customers, docs)  # orders only (as if the run died)
    assert ns.state()["counts"].get("invoice", 0) == 0
    second = run_deals(connector(settings=ORDER_SETTINGS), customers, docs)
    assert statuses(second) == ["unchanged"] * 2 and [r.erp_id for r in second] == [r.erp_id for r in first]
    assert ns.state()["counts"]["invoice"] == 2 and ns.state()["counts"]["salesOrder"] == 2


def test_a_lost_answer_to_the_order_post_does_not_duplicate_it(ns: NSSandbox, connector: Factory) -> None:
    customers, docs = deals(1)
    conn = connector(settings=ORDER_SETTINGS)
    c = refs(conn.upsert_customers(customers))
    i = refs(conn.resolve_items([WIDGET, HOURS]))
    ns.admin(
        "POST", "faults", {"kind": "lose", "status": 502, "target": "write", "path_prefix": "/services/rest/"}
    )
    receipts = conn.create_documents(docs, c, i)
    assert receipts[0].ok and receipts[0].erp_number == "STREAK-box-0", receipts
    counts = ns.state()["counts"]
    assert counts["salesOrder"] == 1 and counts["invoice"] == 1


def test_bulk_documents_fail_only_the_bad_record_with_a_clear_message(
    ns: NSSandbox, connector: Factory
) -> None:
    customers, docs = deals(7)
    conn = connector()
    c = refs(conn.upsert_customers(customers))
    i = refs(conn.resolve_items([WIDGET, HOURS]))
    bad = replace(docs[3].lines[0], item=replace(WIDGET, sku="SKU-GONE"))
    docs[3] = replace(docs[3], lines=(bad,))
    receipts = conn.create_documents(docs, c, {**i, "SKU-GONE": "987654"})
    assert statuses(receipts) == ["created"] * 3 + ["failed"] + ["created"] * 3
    failed = receipts[3]
    assert failed.error_class is ErrorClass.VALIDATION
    assert "box-3" in failed.message and "Invalid Field Value 987654" in failed.message
    assert "field item" in failed.message
    # one async job for the 7 customers, one for the 7 orders (the refused one inside it)
    assert ns.state()["counters"]["batch_jobs"] == 2 and ns.state()["counts"]["salesOrder"] == 6


def test_a_refused_customer_names_the_record_and_field(ns: NSSandbox, connector: Factory) -> None:
    wrong = replace(SETTINGS, customer={"subsidiary": "42"})
    receipts = connector(settings=wrong).upsert_customers([Customer("org-7", "Seven Ltd")])
    assert receipts[0].status is ReceiptStatus.FAILED and receipts[0].error_class is ErrorClass.VALIDATION
    assert receipts[0].message.startswith("NetSuite refused customer org-7: Invalid Field Value 42")
    assert "field subsidiary" in receipts[0].message


def test_exceeding_the_concurrency_limit_slows_but_loses_and_duplicates_nothing(
    ns: NSSandbox, connector: Factory
) -> None:
    ns.limits(concurrency=2, latency_seconds=0.02)
    customers, docs = deals(6)
    results: dict[int, list[Receipt]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:  # every worker syncs the same deals: races must still make one record each
            results[n] = run_deals(connector(settings=ORDER_SETTINGS, max_attempts=30), customers, docs)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    state = ns.state()
    assert state["counters"]["responses_429"] > 0  # the limit really was hit
    assert state["counters"]["max_in_flight"] <= 2
    for receipts in results.values():
        assert all(r.ok for r in receipts), receipts
        assert [r.erp_number for r in receipts] == [f"STREAK-box-{i}" for i in range(6)]
    assert state["counts"]["customer"] == 6
    assert state["counts"]["salesOrder"] == 6 and state["counts"]["invoice"] == 6
    assert len({o["externalId"] for o in ns.records("salesOrder")}) == 6


def test_payment_on_a_transformed_invoice_maps_back_to_the_box(ns: NSSandbox, connector: Factory) -> None:
    since = datetime.now(UTC) - timedelta(minutes=5)
    customers, docs = deals(2)
    conn = connector(settings=ORDER_SETTINGS)
    receipts = run_deals(conn, customers, docs)
    invoice = next(i for i in ns.records("invoice") if i["createdFrom"]["id"] == receipts[1].erp_id)
    ns.seed(
        "customerPayment",
        {
            "customer": invoice["entity"],
            "payment": invoice["total"],
            "tranDate": "2026-11-26",
            "apply": {"items": [{"doc": {"id": invoice["id"]}, "apply": True, "amount": invoice["total"]}]},
        },
    )
    payments = conn.read_payments(since)
    assert [(p.document_external_key, p.erp_document_id, p.erp_document_number) for p in payments] == [
        ("box-1", receipts[1].erp_id, "STREAK-box-1")
    ]
    assert payments[0].fully_paid and payments[0].amount == D(str(invoice["total"]))
    assert payments[0].currency == "USD"


def test_an_order_pending_approval_stands_without_an_invoice_and_says_why(
    ns: NSSandbox, connector: Factory
) -> None:
    customers, docs = deals(1)
    docs[0] = replace(docs[0], status="A")
    receipts = run_deals(connector(settings=ORDER_SETTINGS), customers, docs)
    assert receipts[0].status is ReceiptStatus.CREATED and receipts[0].erp_number == "STREAK-box-0"
    assert "invoice not" in receipts[0].message and "pending approval" in receipts[0].message
    assert ns.state()["counts"]["salesOrder"] == 1 and ns.state()["counts"].get("invoice", 0) == 0


def test_a_revoked_token_fails_at_once_and_writes_nothing(ns: NSSandbox, connector: Factory) -> None:
    conn = connector()
    assert conn.health_check()[0]
    ns.admin("POST", "credentials", {"token_secret": "rotated-by-an-admin"})  # the token was revoked
    with pytest.raises(ERPAuthError, match="token-based authentication for account 1234567_SB1"):
        conn.upsert_customers([Customer("org-1", "Acme")])
    with pytest.raises(ERPAuthError):
        connector().resolve_items([WIDGET])
    state = ns.state()
    assert state["counters"]["responses_401"] == 2  # one per call: no retry storm
    assert state["counts"].get("customer", 0) == 0 and state["counters"]["writes_total"] == 0
