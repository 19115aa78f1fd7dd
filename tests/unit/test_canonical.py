"""Canonical records survive the JSON round trip the DAG's XComs make (to_jsonable -> *_from_json)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sync_core.canonical import (
    Address,
    Customer,
    DocumentKind,
    Item,
    ItemType,
    Line,
    SalesDocument,
    customer_from_json,
    document_from_json,
    item_from_json,
    to_jsonable,
)

ADDRESS = Address("123 Main St", "Suite 4", "Springfield", "IL", "62704", "US")
CUSTOMER = Customer(
    "org1",
    "O'Brien & Sons",
    company_name="O'Brien & Sons",
    email="billing@obrien.example",
    phone="+1 555 0100",
    billing_address=ADDRESS,
    shipping_address=Address(city="Zürich", country="CH"),
    currency="USD",
    source="organization",
)
SERVICE = Item(
    "SUPPORT-SVC", "Support Plan (service)", ItemType.SERVICE, Decimal("500.00"), "1", "Yearly", "7"
)
WIDGET = Item("WID-PRO", "Widget Pro")  # no price, default type


def _through_json(value: object) -> object:
    return json.loads(json.dumps(to_jsonable(value)))


def test_customer_round_trip() -> None:
    assert customer_from_json(_through_json(CUSTOMER)) == CUSTOMER  # type: ignore[arg-type]


def test_item_round_trip_with_and_without_a_price() -> None:
    for item in (SERVICE, WIDGET):
        back = item_from_json(_through_json(item))  # type: ignore[arg-type]
        assert back == item and type(back.unit_price) is type(item.unit_price)


def test_document_round_trip_keeps_declared_total_custom_fields_and_due_date() -> None:
    doc = SalesDocument(
        external_key="agx1",
        customer=CUSTOMER,
        lines=(
            Line(SERVICE, Decimal("1"), Decimal("500.00"), Decimal("500.00"), "Yearly"),
            Line(WIDGET, Decimal("2.5"), Decimal("108.50"), Decimal("271.25")),
        ),
        currency="USD",
        doc_date=date(2024, 5, 31),
        kind=DocumentKind.SALES_ORDER,
        due_date=date(2024, 6, 30),
        doc_number="SK-agx1",
        memo="Streak deal: Deal agx1",
        class_ref="Sales",
        status="B",
        custom_fields=(("1", "Service"), ("custbody_rush", "true")),
        source_name="Deal agx1",
        declared_total=Decimal("771.25"),
        source_currency="EUR",
        lines_field="Line Items",
    )
    back = document_from_json(_through_json(doc))  # type: ignore[arg-type]
    assert back == doc
    assert isinstance(back.declared_total, Decimal) and back.total == back.declared_total


def test_document_without_declared_total_or_due_date() -> None:
    doc = SalesDocument("agx2", CUSTOMER, (), "EUR", date(2024, 1, 2))
    back = document_from_json(_through_json(doc))  # type: ignore[arg-type]
    assert back == doc and back.declared_total is None and back.due_date is None
