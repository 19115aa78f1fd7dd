"""Canonical records -> QuickBooks Online v3 JSON bodies (pure functions, no I/O).

Field rules from the QBO reference: ``DisplayName`` unique, at most 100 characters and no ``:``;
``DocNumber`` at most 21 characters; invoice lines are ``SalesItemLineDetail``; custom fields are
``StringType``. Money and quantities become JSON numbers.

Every invoice carries a marker line in ``PrivateNote`` (``streak-box:<box key>``) so the connector
can find an invoice it created before even if the ledger row was lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from erp_operators import matching_rules
from sync_core.canonical import Address, Customer, Item, ItemType, SalesDocument

DISPLAY_NAME_MAX = 100
ITEM_NAME_MAX = 100
DOC_NUMBER_MAX = 21
PRIVATE_NOTE_MAX = 4000
MARKER_PREFIX = "streak-box:"
_MARKER_RE = re.compile(r"streak-box:(\S+)")

ITEM_TYPES = {
    ItemType.SERVICE: "Service",
    ItemType.NON_INVENTORY: "NonInventory",
    ItemType.INVENTORY: "Inventory",
}


class PayloadError(ValueError):
    """A canonical record cannot become a valid QBO body (the message names what is missing)."""


def clean_name(value: str, limit: int = DISPLAY_NAME_MAX) -> str:
    """A QBO name: ``:`` replaced by ``-``, whitespace collapsed, cut to ``limit`` characters."""
    text = " ".join(value.replace(":", "-").split())
    return text[:limit].rstrip()


def distinct_name(name: str, external_key: str, limit: int = DISPLAY_NAME_MAX) -> str:
    """``"Name (<key tail>)"``: the DisplayName for a second, different customer with ``name``.

    See :func:`erp_operators.matching_rules.distinct_name` (the same name on every run).
    """
    return matching_rules.distinct_name(name, external_key, limit, clean_name)


def _money(value: Decimal | int | float) -> float:
    return float(Decimal(value).quantize(Decimal("0.01")))


def _quantity(value: Decimal | int | float) -> float | int:
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


def _address(address: Address) -> dict[str, str] | None:
    if address.is_empty():
        return None
    parts = {
        "Line1": address.line1,
        "Line2": address.line2,
        "City": address.city,
        "CountrySubDivisionCode": address.region,
        "PostalCode": address.postal_code,
        "Country": address.country,
    }
    return {key: value for key, value in parts.items() if value}


def customer_payload(c: Customer) -> dict[str, Any]:
    """A Customer create body (also the set of fields compared for ``unchanged``)."""
    display_name = clean_name(c.display_name)
    if not display_name:
        raise PayloadError(f"customer {c.external_key}: display name is empty")
    body: dict[str, Any] = {"DisplayName": display_name}
    if c.company_name:
        body["CompanyName"] = clean_name(c.company_name)
    if c.given_name:
        body["GivenName"] = c.given_name.strip()[:100]
    if c.family_name:
        body["FamilyName"] = c.family_name.strip()[:100]
    if c.email:
        body["PrimaryEmailAddr"] = {"Address": c.email.strip()}
    if c.phone:
        body["PrimaryPhone"] = {"FreeFormNumber": c.phone.strip()[:30]}
    if bill := _address(c.billing_address):
        body["BillAddr"] = bill
    if ship := _address(c.shipping_address):
        body["ShipAddr"] = ship
    if c.currency:
        body["CurrencyRef"] = {"value": c.currency.upper()}
    return body


def item_payload(
    i: Item,
    *,
    asset_account_ref: str = "",
    expense_account_ref: str = "",
    inventory_start: date | None = None,
) -> dict[str, Any]:
    """An Item create body; Inventory items also need asset/expense accounts and a start date."""
    name = clean_name(i.name or i.sku, ITEM_NAME_MAX)
    if not name:
        raise PayloadError(f"item {i.sku}: name is empty")
    body: dict[str, Any] = {"Name": name, "Type": ITEM_TYPES[ItemType(i.type)]}
    if i.sku:
        body["Sku"] = i.sku[:100]
    if i.description:
        body["Description"] = i.description[:4000]
    if i.unit_price is not None:
        body["UnitPrice"] = _money(i.unit_price)
    if i.income_account_ref:
        body["IncomeAccountRef"] = {"value": i.income_account_ref}
    if ItemType(i.type) is ItemType.INVENTORY:
        missing = [
            label
            for label, value in (
                ("income account", i.income_account_ref),
                ("asset account", asset_account_ref),
                ("expense account", expense_account_ref),
                ("inventory start date", inventory_start),
            )
            if not value
        ]
        if missing:
            raise PayloadError(f"inventory item {i.sku}: missing {', '.join(missing)}")
        body.update(
            TrackQtyOnHand=True,
            QtyOnHand=0,
            InvStartDate=inventory_start.isoformat(),  # type: ignore[union-attr]
            AssetAccountRef={"value": asset_account_ref},
            ExpenseAccountRef={"value": expense_account_ref},
        )
    return body


def document_marker(external_key: str) -> str:
    """The ``PrivateNote`` marker that ties an invoice to its Streak box."""
    return f"{MARKER_PREFIX}{external_key}"


def marker_in(private_note: str | None) -> str | None:
    """The box key of a marker in ``private_note``, if any."""
    found = _MARKER_RE.search(private_note or "")
    return found.group(1) if found else None


def _private_note(doc: SalesDocument) -> str:
    marker = document_marker(doc.external_key)
    memo = doc.memo.strip()
    room = PRIVATE_NOTE_MAX - len(marker) - 1
    return f"{memo[:room]}\n{marker}" if memo else marker


def _custom_field(name_or_id: str, value: str) -> dict[str, Any]:
    field: dict[str, Any] = {"Type": "StringType", "StringValue": str(value)[:31]}
    if name_or_id.isdigit():
        field["DefinitionId"] = name_or_id
    else:
        field["Name"] = name_or_id
    return field


def document_payload(doc: SalesDocument, customer_ref: str, item_refs: Mapping[str, str]) -> dict[str, Any]:
    """An Invoice create body for one deal; raises :class:`PayloadError` for a missing reference."""
    if not customer_ref:
        raise PayloadError(
            f"box {doc.external_key}: customer {doc.customer.external_key} has no QuickBooks id"
        )
    if not doc.lines:
        raise PayloadError(f"box {doc.external_key}: no line items")
    lines = []
    for number, line in enumerate(doc.lines, start=1):
        item_ref = line.item.erp_ref or item_refs.get(line.item.sku, "")
        if not item_ref:
            raise PayloadError(f"box {doc.external_key}: product {line.item.sku!r} has no QuickBooks item")
        detail: dict[str, Any] = {
            "ItemRef": {"value": item_ref},
            "Qty": _quantity(line.quantity),
            "UnitPrice": _money(line.unit_price),
        }
        entry: dict[str, Any] = {
            "LineNum": number,
            "DetailType": "SalesItemLineDetail",
            "Amount": _money(line.amount),
            "SalesItemLineDetail": detail,
        }
        if line.description or line.item.description:
            entry["Description"] = (line.description or line.item.description)[:4000]
        lines.append(entry)
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer_ref},
        "Line": lines,
        "TxnDate": doc.doc_date.isoformat(),
        "PrivateNote": _private_note(doc),
    }
    if doc.due_date:
        body["DueDate"] = doc.due_date.isoformat()
    if doc.doc_number:
        if len(doc.doc_number) > DOC_NUMBER_MAX:
            raise PayloadError(
                f"box {doc.external_key}: document number {doc.doc_number!r} is over 21 characters"
            )
        body["DocNumber"] = doc.doc_number
    if doc.currency:
        body["CurrencyRef"] = {"value": doc.currency.upper()}
    if doc.class_ref:
        body["ClassRef"] = {"value": doc.class_ref}
    if doc.custom_fields:
        body["CustomField"] = [_custom_field(key, value) for key, value in doc.custom_fields]
    return body
