"""Canonical records -> NetSuite REST bodies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from erp_operators.netsuite.payloads import (
    PayloadError,
    customer_payload,
    document_payload,
    invoice_transform_body,
    item_payload,
)
from sync_core.canonical import Address, Customer, DocumentKind, Item, ItemType, Line, SalesDocument
from tests.netsuite.ns_admin import SETTINGS

WIDGET = Item("WID-STD", "Widget | Standard", ItemType.NON_INVENTORY, D("49"), income_account_ref="54")


def doc(**overrides: object) -> SalesDocument:
    base = dict(
        external_key="agxzbx000019",
        customer=Customer("org-1", "Acme"),
        lines=(Line(WIDGET, D("2"), D("49.00"), D("98.00"), "two widgets"),),
        currency="EUR",
        doc_date=date(2026, 11, 20),
        kind=DocumentKind.SALES_ORDER,
        due_date=date(2026, 12, 20),
        doc_number="STREAK-agxzbx000019",
        memo="Streak deal: Acme",
        class_ref="1",
        status="B",
        custom_fields=(("custbody_streak_deal_type", "Service"),),
    )
    base.update(overrides)
    return SalesDocument(**base)  # type: ignore[arg-type]


def test_customer_payload_uses_external_id_subsidiary_and_address_book() -> None:
    body = customer_payload(
        Customer(
            "org-1",
            "Acme | Widgets",
            email=" ap@acme.test ",
            currency="GBP",
            billing_address=Address("1 Main St", city="Cork", country="IE"),
        ),
        SETTINGS,
    )
    assert body["externalId"] == "org-1" and body["entityId"] == "Acme - Widgets"
    assert body["companyName"] == "Acme - Widgets" and body["isPerson"] is False
    assert body["subsidiary"] == {"id": "1"} and body["currency"] == {"id": "2"}
    assert body["email"] == "ap@acme.test"
    address = body["addressBook"]["items"][0]
    assert address["defaultBilling"] and address["addressBookAddress"] == {
        "addr1": "1 Main St",
        "city": "Cork",
        "country": "IE",
    }


def test_contact_becomes_a_person() -> None:
    body = customer_payload(
        Customer("c-1", "Dana Smith", given_name="Dana", family_name="Smith", source="contact"), SETTINGS
    )
    assert body["isPerson"] is True and body["lastName"] == "Smith" and "companyName" not in body


def test_unknown_currency_and_bad_key_name_the_record() -> None:
    with pytest.raises(PayloadError, match=r"customer org-9: currency 'JPY' has no NetSuite currency id"):
        customer_payload(Customer("org-9", "Yen Co", currency="JPY"), SETTINGS)
    with pytest.raises(PayloadError, match=r"customer org 9: key 'org 9' cannot be a NetSuite external ID"):
        customer_payload(Customer("org 9", "Space Co"), SETTINGS)


def test_item_payload_and_inventory_accounts() -> None:
    body = item_payload(WIDGET, SETTINGS)
    assert body == {
        "externalId": "WID-STD",
        "itemId": "Widget - Standard",
        "displayName": "Widget - Standard",
        "rate": 49.0,
        "incomeAccount": {"id": "54"},
    }
    stock = Item("STK", "Stocked", ItemType.INVENTORY)
    assert item_payload(stock, SETTINGS)["assetAccount"] == {"id": "80"}
    bare = type(SETTINGS)()
    with pytest.raises(PayloadError, match="inventory item STK: .* lacks assetAccount, cogsAccount"):
        item_payload(stock, bare)


def test_sales_order_payload() -> None:
    body = document_payload(doc(), "101", {"WID-STD": "201"}, SETTINGS)
    assert body["externalId"] == "agxzbx000019" and body["entity"] == {"id": "101"}
    assert body["tranId"] == "STREAK-agxzbx000019" and body["tranDate"] == "2026-11-20"
    assert body["orderStatus"] == {"id": "B"} and "dueDate" not in body
    assert body["currency"] == {"id": "4"} and body["class"] == {"id": "1"}
    assert body["subsidiary"] == {"id": "1"} and body["location"] == {"id": "1"}
    assert body["custbody_streak_deal_type"] == "Service"
    assert body["item"]["items"] == [
        {"item": {"id": "201"}, "quantity": 2, "rate": 49.0, "amount": 98.0, "description": "two widgets"}
    ]
    invoice = document_payload(doc(kind=DocumentKind.INVOICE), "101", {"WID-STD": "201"}, SETTINGS)
    assert invoice["dueDate"] == "2026-12-20" and "orderStatus" not in invoice
    assert invoice_transform_body(doc())["externalId"] == "agxzbx000019-inv"


@pytest.mark.parametrize(
    ("overrides", "refs", "message"),
    [
        ({}, {}, r"box agxzbx000019: line 1: product 'WID-STD' has no NetSuite item"),
        (
            {"custom_fields": (("Deal Type", "x"),)},
            {"WID-STD": "1"},
            r"custom field 'Deal Type' is not a NetSuite script id",
        ),
        ({"doc_number": "X" * 46}, {"WID-STD": "1"}, r"document number .* is over 45 characters"),
        ({"currency": "JPY"}, {"WID-STD": "1"}, r"box agxzbx000019: currency 'JPY'"),
    ],
)
def test_document_payload_errors_name_the_box(overrides: dict, refs: dict, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        document_payload(doc(**overrides), "101", refs, SETTINGS)
    with pytest.raises(PayloadError, match="customer org-1 has no NetSuite id"):
        document_payload(doc(), "", {"WID-STD": "1"}, SETTINGS)
