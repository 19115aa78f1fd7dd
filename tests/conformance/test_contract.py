"""The ERP connector contract, checked against each ERP's live sandbox (see conftest.HARNESSES)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from erp_operators.contract import ENTITY_DOCUMENT, ERPConnector
from erp_operators.errors import ERPAuthError
from erp_operators.receipts import ErrorClass, Receipt, ReceiptStatus
from sync_core.canonical import Address, Customer, Item, ItemType, Line, SalesDocument
from tests.conformance.conftest import ERPState, Harness

D = Decimal


# -- test data ----------------------------------------------------------------------------------
def customers() -> list[Customer]:
    return [
        Customer("org-1", "Acme Widgets", company_name="Acme Widgets", email="ap@acme.test"),
        Customer(
            "org-2",
            "O'Brien & Sons",
            email="billing@obrien.test",
            billing_address=Address("1 Main St", city="Cork", postal_code="T12", country="IE"),
        ),
        Customer("org-3", "Café Zürich GmbH", email="buchhaltung@cafe-zuerich.test", currency=""),
    ]


def items(erp: Harness) -> list[Item]:
    return [
        Item("SKU-ONB", "Onboarding package", ItemType.SERVICE, D("1500.00"), **erp.item_defaults),
        Item("SKU-LIC", "Annual licence", ItemType.SERVICE, D("240.00"), **erp.item_defaults),
        Item("SKU-HRS", erp.existing_item_name(), ItemType.SERVICE, D("95.00"), **erp.item_defaults),
    ]


def documents(erp: Harness, custs: Sequence[Customer]) -> list[SalesDocument]:
    onb, lic, hrs = items(erp)
    today = date(2026, 11, 20)
    specs = [
        ("box-1", custs[0], [(onb, "1", "1500.00"), (lic, "10", "240.00")]),
        ("box-2", custs[1], [(hrs, "12.5", "95.00")]),
        ("box-3", custs[2], [(lic, "3", "240.00"), (hrs, "2", "95.00"), (onb, "1", "1200.00")]),
    ]
    return [
        SalesDocument(
            external_key=key,
            customer=customer,
            lines=tuple(Line(item, D(q), D(p), (D(q) * D(p)).quantize(D("0.01"))) for item, q, p in lines),
            currency="USD",
            doc_date=today,
            due_date=today + timedelta(days=30),
            memo=f"Deal {key}",
        )
        for key, customer, lines in specs
    ]


def refs(receipts: Sequence[Receipt]) -> dict[str, str]:
    assert all(r.ok for r in receipts), [r for r in receipts if not r.ok]
    return {r.external_key: r.erp_id for r in receipts}


def statuses(receipts: Sequence[Receipt]) -> list[str]:
    return [r.status.value for r in receipts]


def record(erp: Harness, conn: ERPConnector, entity: str, receipts: Sequence[Receipt]) -> None:
    """What the DAG does after each step: write the receipts to the ledger."""
    erp.store.ledger_record(conn.erp_name, entity, [r.ledger_row() for r in receipts])


def full_run(erp: Harness, conn: ERPConnector) -> list[Receipt]:
    custs = customers()
    c = conn.upsert_customers(custs)
    record(erp, conn, "customer", c)
    i = conn.resolve_items(items(erp))
    record(erp, conn, "item", i)
    d = conn.create_documents(documents(erp, custs), refs(c), refs(i))
    record(erp, conn, "document", d)
    return d


# -- the contract -------------------------------------------------------------------------------
def test_names_and_health_check(erp: Harness) -> None:
    conn = erp.connector()
    assert conn.erp_name == erp.name and conn.display_name and conn.document_noun
    ok, message = conn.health_check()
    assert ok, message


def test_upsert_creates_then_is_unchanged_on_repeat(erp: Harness) -> None:
    conn = erp.connector()
    first = conn.upsert_customers(customers())
    assert statuses(first) == ["created"] * 3
    assert len({r.erp_id for r in first}) == 3 and all(r.payload_hash for r in first)
    record(erp, conn, "customer", first)
    state = erp.snapshot()
    assert ("O'Brien & Sons", "billing@obrien.test") in state.customers
    assert ("Café Zürich GmbH", "buchhaltung@cafe-zuerich.test") in state.customers

    again = erp.connector().upsert_customers(customers())  # ledger knows them
    assert statuses(again) == ["unchanged"] * 3
    assert [r.erp_id for r in again] == [r.erp_id for r in first]

    erp.wipe_ledger()  # the ledger is lost: the ERP itself must be searched
    found = erp.connector().upsert_customers(customers())
    assert all(r.status in (ReceiptStatus.MATCHED, ReceiptStatus.UNCHANGED) for r in found), found
    assert [r.erp_id for r in found] == [r.erp_id for r in first]
    assert erp.snapshot() == state


def test_changed_customer_is_updated(erp: Harness) -> None:
    conn = erp.connector()
    first = conn.upsert_customers(customers())
    record(erp, conn, "customer", first)
    changed = [replace(customers()[1], email="ar@obrien.test", phone="+353 21 555 0100")]
    receipts = erp.connector().upsert_customers(changed)
    assert statuses(receipts) == ["updated"]
    assert receipts[0].erp_id == first[1].erp_id
    assert ("O'Brien & Sons", "ar@obrien.test") in erp.snapshot().customers
    record(erp, conn, "customer", receipts)
    assert statuses(erp.connector().upsert_customers(changed)) == ["unchanged"]


@pytest.mark.parametrize("name", ["O'Neil's Bakery", "Ærøskøbing Ølhus", 'Smith & Co\'s "Best"'])
def test_existing_customer_is_matched_not_duplicated(erp: Harness, name: str) -> None:
    seeded = erp.seed_customer(name)
    before = len(erp.snapshot().customers)
    receipts = erp.connector().upsert_customers([Customer("org-x", name), Customer("org-y", name)])
    assert [r.erp_id for r in receipts] == [seeded, seeded]
    assert all(r.status in (ReceiptStatus.MATCHED, ReceiptStatus.UNCHANGED) for r in receipts), receipts
    assert len(erp.snapshot().customers) == before


def test_duplicate_names_in_one_call_make_one_customer(erp: Harness) -> None:
    receipts = erp.connector().upsert_customers(
        [Customer("org-a", "Dana's Deli"), Customer("org-b", "Dana's Deli")]
    )
    assert all(r.ok for r in receipts), receipts
    assert receipts[0].erp_id == receipts[1].erp_id
    assert [c for c in erp.snapshot().customers if c[0] == "Dana's Deli"] == [("Dana's Deli", "")]


def test_namesakes_with_different_emails_are_not_merged(erp: Harness) -> None:
    namesakes = [
        Customer("ct-101", "Jordan Smith", email="jordan@alpha.test", source="contact"),
        Customer("ct-202", "Jordan Smith", email="jordan@beta.test", source="contact"),
    ]
    conn = erp.connector()
    first = conn.upsert_customers(namesakes)  # one call
    assert all(r.ok for r in first), first
    record(erp, conn, "customer", first)
    later = Customer("ct-303", "Jordan Smith", email="jordan@gamma.test", source="contact")
    [third] = erp.connector().upsert_customers([later])  # a later run: the others are in the ledger
    assert third.ok, third
    record(erp, conn, "customer", [third])
    assert len({r.erp_id for r in [*first, third]}) == 3
    state = erp.snapshot()
    assert sorted(email for _, email in state.customers) == [
        "jordan@alpha.test",
        "jordan@beta.test",
        "jordan@gamma.test",
    ]
    assert all(name.startswith("Jordan Smith") for name, _ in state.customers)
    again = erp.connector().upsert_customers([*namesakes, later])
    assert statuses(again) == ["unchanged"] * 3
    assert [r.erp_id for r in again] == [r.erp_id for r in [*first, third]]
    assert erp.snapshot() == state


def test_customer_matched_by_email(erp: Harness) -> None:
    seeded = erp.seed_customer("Acme Widgets (AP)", email="ap@acme.test")  # only the e-mail matches
    receipts = erp.connector().upsert_customers([customers()[0]])
    assert receipts[0].erp_id == seeded
    assert receipts[0].status in (ReceiptStatus.MATCHED, ReceiptStatus.UPDATED)
    assert len(erp.snapshot().customers) == 1


def test_resolve_items_creates_missing_and_matches_existing(erp: Harness) -> None:
    conn = erp.connector()
    before = erp.snapshot().items
    receipts = conn.resolve_items(items(erp))
    assert statuses(receipts) == ["created", "created", "matched"]
    after = erp.snapshot().items
    assert len(after) == len(before) + 2 and "Onboarding package" in after
    again = erp.connector().resolve_items(items(erp))
    assert [r.erp_id for r in again] == [r.erp_id for r in receipts]
    assert erp.snapshot().items == after
    unknown = Item("SKU-NOPE", "No such product", ItemType.SERVICE, D("1"), **erp.item_defaults)
    missing = conn.resolve_items([unknown], create_missing=False)
    assert missing[0].status is ReceiptStatus.FAILED and missing[0].error_class is ErrorClass.VALIDATION
    assert "SKU-NOPE" in missing[0].message or "No such product" in missing[0].message


def test_create_documents_is_idempotent(erp: Harness) -> None:
    conn = erp.connector()
    custs = customers()
    c = refs(conn.upsert_customers(custs))
    i = refs(conn.resolve_items(items(erp)))
    docs = documents(erp, custs)
    first = conn.create_documents(docs, c, i)
    assert statuses(first) == ["created"] * 3
    assert all(r.erp_id and r.erp_number for r in first)
    state = erp.snapshot()
    assert [d.external_key for d in state.documents] == ["box-1", "box-2", "box-3"]
    for doc in docs:
        held = state.document(doc.external_key)
        assert held.total == doc.total
        assert held.customer_name == doc.customer.display_name
        assert [(n, q, p, a) for n, q, p, a in held.lines] == [
            (line.item.name, line.quantity, line.unit_price, line.amount) for line in doc.lines
        ]
    record(erp, conn, "document", first)
    second = erp.connector().create_documents(docs, c, i)
    assert statuses(second) == ["unchanged"] * 3
    assert [(r.erp_id, r.erp_number) for r in second] == [(r.erp_id, r.erp_number) for r in first]

    erp.wipe_ledger()  # the ledger write was lost
    third = erp.connector().create_documents(docs, c, i)
    assert [r.status for r in third] == [ReceiptStatus.UNCHANGED] * 3
    assert [(r.erp_id, r.erp_number) for r in third] == [(r.erp_id, r.erp_number) for r in first]
    assert erp.snapshot() == state
    assert {r.entity for r in [*first, *second, *third]} == {ENTITY_DOCUMENT}  # created, ledger, found


def test_bad_reference_fails_that_record_only(erp: Harness) -> None:
    conn = erp.connector()
    custs = customers()
    c = refs(conn.upsert_customers(custs))
    i = refs(conn.resolve_items(items(erp)))
    docs = documents(erp, custs)
    bad_item = replace(docs[1].lines[0].item, sku="SKU-GONE")
    docs[1] = replace(docs[1], lines=(replace(docs[1].lines[0], item=bad_item),))
    receipts = conn.create_documents(docs, c, {**i, "SKU-GONE": "987654"})  # an id the ERP does not have
    assert statuses(receipts) == ["created", "failed", "created"]
    assert receipts[1].error_class is ErrorClass.VALIDATION and receipts[1].message
    no_customer = replace(docs[1], external_key="box-9", customer=Customer("org-9", "Nobody"))
    missing = conn.create_documents([no_customer], c, i)
    assert missing[0].error_class is ErrorClass.VALIDATION and "org-9" in missing[0].message
    assert [d.external_key for d in erp.snapshot().documents] == ["box-1", "box-3"]


FAULTS = ["429_storm", "500s", "expired_access_token", "rotated_refresh_token"]


def _inject(erp: Harness, fault: str) -> None:
    if fault == "429_storm":
        erp.inject(429, count=5)
    elif fault == "500s":
        erp.inject(500, count=3)
        erp.inject(503, count=2)
    elif fault == "expired_access_token":
        erp.expire_access_tokens()
    elif fault == "rotated_refresh_token":
        erp.rotate_refresh_token_elsewhere()
        erp.expire_access_tokens()


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_end_in_the_same_state_as_a_clean_run(erp: Harness, fault: str) -> None:
    if fault in ("expired_access_token", "rotated_refresh_token") and "oauth_refresh" not in erp.features:
        pytest.skip(f"{erp.name} has no refreshable OAuth tokens")
    full_run(erp, erp.connector())
    clean: ERPState = erp.snapshot()

    erp.reset()
    conn = erp.connector()
    conn.health_check()  # tokens are live before the fault strikes
    tokens_before = erp.token_requests() if "oauth_refresh" in erp.features else 0
    _inject(erp, fault)
    custs = customers()
    c = conn.upsert_customers(custs)
    if fault in ("500s", "429_storm"):
        erp.inject(429 if fault == "429_storm" else 502, rate=0.25)  # a storm through the rest of the run
    i = conn.resolve_items(items(erp))
    if fault.endswith("token"):
        _inject(erp, fault)
    d = conn.create_documents(documents(erp, custs), refs(c), refs(i))
    erp.clear_faults()
    if fault in ("500s", "429_storm"):
        assert erp.faults_injected() >= 5  # the faults really hit the connector
    else:
        assert erp.token_requests() - tokens_before >= 2  # tokens really were refreshed mid-run
    assert all(r.ok for r in d), d
    assert erp.snapshot() == clean
    assert (
        statuses(erp.connector().create_documents(documents(erp, custs), refs(c), refs(i)))
        == ["unchanged"] * 3
    )


def test_revoked_refresh_token_fails_fast_without_a_storm(erp: Harness) -> None:
    if "oauth_refresh" not in erp.features:
        pytest.skip(f"{erp.name} has no refreshable OAuth tokens")
    erp.connector().health_check()
    erp.revoke_refresh_token()
    erp.expire_access_tokens()
    before = erp.token_requests()
    started = time.monotonic()
    with pytest.raises(ERPAuthError, match="re-authorize"):
        erp.connector().upsert_customers(customers())
    assert erp.token_requests() - before == 1
    with pytest.raises(ERPAuthError, match="re-authorize"):
        erp.connector().resolve_items(items(erp))  # another task process, same state store
    assert erp.token_requests() - before == 1
    assert time.monotonic() - started < 10
    assert erp.snapshot().customers == ()


def test_read_payments_returns_a_recorded_payment(erp: Harness) -> None:
    if "payments" not in erp.features:
        pytest.skip(f"{erp.name} harness cannot record payments")
    since = datetime.now(UTC) - timedelta(minutes=5)
    conn = erp.connector()
    receipts = full_run(erp, conn)
    box_2 = receipts[1]
    erp.record_payment(box_2.erp_id, D("1187.50"))
    erp.record_payment(receipts[0].erp_id, D("100.00"))
    payments = {p.document_external_key: p for p in conn.read_payments(since)}
    assert set(payments) == {"box-1", "box-2"}
    paid = payments["box-2"]
    assert paid.amount == D("1187.50") and paid.fully_paid
    assert paid.erp_document_id == box_2.erp_id and paid.erp_document_number == box_2.erp_number
    assert not payments["box-1"].fully_paid
    assert conn.read_payments(datetime.now(UTC) + timedelta(days=1)) == []


def test_read_stock(erp: Harness) -> None:
    if "stock" not in erp.features:
        pytest.skip(f"{erp.name} harness cannot seed stock")
    erp.seed_stock("SKU-WIDGET", D("42"))
    stock = erp.connector().read_stock(["SKU-WIDGET", "SKU-UNKNOWN"])
    assert stock == {"SKU-WIDGET": D("42")}
