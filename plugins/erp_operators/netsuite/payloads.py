"""Canonical records -> NetSuite REST record bodies (pure functions, no I/O).

References are ``{"id": "<internal id>"}`` objects; sublists are ``{"items": [...]}``; custom
fields are top-level properties named by their script id (``custbody_...``). Account-specific
internal ids (subsidiary, location, department, currencies, ...) come from the mapping's
``erp_defaults`` section (:class:`NetSuiteSettings`). Every record carries ``externalId`` = the
Streak key, so NetSuite itself refuses a second copy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from erp_operators import matching_rules
from erp_operators.receipts import payload_hash
from sync_core.canonical import Address, Customer, DocumentKind, Item, ItemType, SalesDocument

ENTITY_ID_MAX = 83
ITEM_NAME_MAX = 60
TRAN_ID_MAX = 45
MEMO_MAX = 999
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
SCRIPT_ID = re.compile(r"^cust(body|col|entity|item|record)[a-z0-9_]+$")
INVOICE_SUFFIX = "-inv"

ITEM_RECORD_TYPES = {
    ItemType.SERVICE: "serviceSaleItem",
    ItemType.NON_INVENTORY: "nonInventorySaleItem",
    ItemType.INVENTORY: "inventoryItem",
}
DOCUMENT_RECORD_TYPES = {DocumentKind.SALES_ORDER: "salesOrder", DocumentKind.INVOICE: "invoice"}


class PayloadError(ValueError):
    """A canonical record cannot become a valid NetSuite body (the message names record and field)."""


@dataclass(frozen=True)
class NetSuiteSettings:
    """Account-specific internal ids and choices, from ``erp_defaults`` in ``netsuite.yaml``."""

    customer: Mapping[str, str] = field(default_factory=dict)  # e.g. {"subsidiary": "1"}
    item: Mapping[str, str] = field(default_factory=dict)
    inventory_item: Mapping[str, str] = field(default_factory=dict)  # assetAccount, cogsAccount
    document: Mapping[str, str] = field(default_factory=dict)  # subsidiary, location, department
    currencies: Mapping[str, str] = field(default_factory=dict)  # ISO code -> currency internal id
    invoice_from_order: bool = False  # transform each sales order into an invoice

    @classmethod
    def from_mapping(cls, mapping: Any) -> NetSuiteSettings:
        d = mapping.erp_defaults
        return cls(
            customer=dict(d.customer),
            item=dict(d.item),
            inventory_item=dict(d.inventory_item),
            document=dict(d.document),
            currencies=dict(d.currencies),
            invoice_from_order=d.invoice_from_order,
        )


def clean(value: str, limit: int) -> str:
    """Whitespace collapsed, ``|`` (NetSuite's multi-select delimiter) replaced, cut to ``limit``."""
    return " ".join(value.replace("|", "-").split())[:limit].rstrip()


def check_external_id(value: str, what: str) -> str:
    """``value`` when NetSuite accepts it as an external ID; else a :class:`PayloadError` naming ``what``."""
    if not EXTERNAL_ID.match(value or ""):
        raise PayloadError(
            f"{what}: key {value!r} cannot be a NetSuite external ID (letters, digits, _ and - only)"
        )
    return value


def _refs(values: Mapping[str, str]) -> dict[str, Any]:
    return {name: {"id": str(value)} for name, value in values.items() if str(value)}


def _money(value: Decimal | int | float) -> float:
    return float(Decimal(value).quantize(Decimal("0.01")))


def _quantity(value: Decimal | int | float) -> float | int:
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


def currency_ref(code: str, settings: NetSuiteSettings, what: str) -> dict[str, str] | None:
    """``{"id": ...}`` of an ISO currency; None when the account is single-currency (no table)."""
    if not code or not settings.currencies:
        return None
    found = settings.currencies.get(code.upper())
    if not found:
        known = ", ".join(sorted(settings.currencies))
        raise PayloadError(
            f"{what}: currency {code!r} has no NetSuite currency id in netsuite.yaml "
            f"erp_defaults.currencies (known: {known})"
        )
    return {"id": str(found)}


def _address(address: Address) -> dict[str, str]:
    parts = {
        "addr1": address.line1,
        "addr2": address.line2,
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country": address.country,
    }
    return {key: value for key, value in parts.items() if value}


def customer_payload(c: Customer, settings: NetSuiteSettings) -> dict[str, Any]:
    """A customer body for ``PUT customer/eid:{key}`` (also what is compared for ``unchanged``)."""
    what = f"customer {c.external_key}"
    check_external_id(c.external_key, what)
    entity_id = clean(c.display_name, ENTITY_ID_MAX)
    if not entity_id:
        raise PayloadError(f"{what}: display name is empty (NetSuite field entityId)")
    body: dict[str, Any] = {"externalId": c.external_key, "entityId": entity_id}
    if c.source == "contact" and c.family_name and not c.company_name:
        body.update(isPerson=True, lastName=c.family_name.strip()[:32])
        if c.given_name:
            body["firstName"] = c.given_name.strip()[:32]
    else:
        body.update(isPerson=False, companyName=clean(c.company_name or c.display_name, ENTITY_ID_MAX))
    if c.email:
        body["email"] = c.email.strip()
    if c.phone:
        body["phone"] = c.phone.strip()[:32]
    body.update(_refs(settings.customer))
    if (currency := currency_ref(c.currency, settings, what)) is not None:
        body["currency"] = currency
    addresses = []
    if not c.billing_address.is_empty():
        addresses.append(
            {
                "defaultBilling": True,
                "defaultShipping": c.shipping_address.is_empty(),
                "addressBookAddress": _address(c.billing_address),
            }
        )
    if not c.shipping_address.is_empty():
        addresses.append(
            {
                "defaultBilling": False,
                "defaultShipping": True,
                "addressBookAddress": _address(c.shipping_address),
            }
        )
    if addresses:
        body["addressBook"] = {"items": addresses}
    return body


def distinct_entity_id(name: str, external_key: str) -> str:
    """``"Name (<key tail>)"``: the ``entityId`` (unique in NetSuite) of a second customer called ``name``."""
    return matching_rules.distinct_name(name, external_key, ENTITY_ID_MAX, clean)


def customer_digest(body: Mapping[str, Any]) -> str:
    """The hash of a customer body's data, without its ``externalId`` (equal data hashes alike)."""
    return payload_hash({key: value for key, value in body.items() if key != "externalId"})


def item_record_type(i: Item) -> str:
    """The REST record type of an item (``serviceSaleItem``, ``nonInventorySaleItem``, ``inventoryItem``)."""
    return ITEM_RECORD_TYPES[ItemType(i.type)]


def item_payload(i: Item, settings: NetSuiteSettings) -> dict[str, Any]:
    """An item body for ``PUT {itemType}/eid:{sku}``; inventory items need asset and COGS accounts."""
    what = f"item {i.sku}"
    check_external_id(i.sku, what)
    name = clean(i.name or i.sku, ITEM_NAME_MAX)
    if not name:
        raise PayloadError(f"{what}: name is empty (NetSuite field itemId)")
    body: dict[str, Any] = {"externalId": i.sku, "itemId": name, "displayName": name}
    if i.description:
        body["salesDescription"] = i.description[:4000]
    if i.unit_price is not None:
        body["rate"] = _money(i.unit_price)
    body.update(_refs(settings.item))
    if i.income_account_ref:
        body["incomeAccount"] = {"id": i.income_account_ref}
    if ItemType(i.type) is ItemType.INVENTORY:
        missing = [name for name in ("assetAccount", "cogsAccount") if not settings.inventory_item.get(name)]
        if missing:
            raise PayloadError(
                f"inventory {what}: netsuite.yaml erp_defaults.inventory_item lacks {', '.join(missing)}"
            )
        body.update(_refs(settings.inventory_item))
    return body


def document_record_type(doc: SalesDocument) -> str:
    """The REST record type of a sales document (``salesOrder`` or ``invoice``)."""
    return DOCUMENT_RECORD_TYPES[DocumentKind(doc.kind)]


def document_payload(
    doc: SalesDocument, customer_ref: str, item_refs: Mapping[str, str], settings: NetSuiteSettings
) -> dict[str, Any]:
    """A sales order (or invoice) body for one deal; raises :class:`PayloadError` naming the box."""
    what = f"box {doc.external_key}"
    check_external_id(doc.external_key, what)
    if not customer_ref:
        raise PayloadError(f"{what}: customer {doc.customer.external_key} has no NetSuite id")
    if not doc.lines:
        raise PayloadError(f"{what}: no line items")
    lines = []
    for number, line in enumerate(doc.lines, start=1):
        item_ref = line.item.erp_ref or item_refs.get(line.item.sku, "")
        if not item_ref:
            raise PayloadError(f"{what}: line {number}: product {line.item.sku!r} has no NetSuite item")
        entry: dict[str, Any] = {
            "item": {"id": item_ref},
            "quantity": _quantity(line.quantity),
            "rate": _money(line.unit_price),
            "amount": _money(line.amount),
        }
        if line.description or line.item.description:
            entry["description"] = (line.description or line.item.description)[:4000]
        lines.append(entry)
    body: dict[str, Any] = {
        "externalId": doc.external_key,
        "entity": {"id": customer_ref},
        "tranDate": doc.doc_date.isoformat(),
        "item": {"items": lines},
    }
    kind = DocumentKind(doc.kind)
    if doc.memo:
        body["memo"] = doc.memo.strip()[:MEMO_MAX]
    if doc.doc_number:
        if len(doc.doc_number) > TRAN_ID_MAX:
            raise PayloadError(f"{what}: document number {doc.doc_number!r} is over {TRAN_ID_MAX} characters")
        body["tranId"] = doc.doc_number
    if doc.due_date and kind is DocumentKind.INVOICE:
        body["dueDate"] = doc.due_date.isoformat()
    if doc.status and kind is DocumentKind.SALES_ORDER:
        body["orderStatus"] = {"id": doc.status}
    if (currency := currency_ref(doc.currency, settings, what)) is not None:
        body["currency"] = currency
    body.update(_refs(settings.document))
    if doc.class_ref:
        body["class"] = {"id": doc.class_ref}
    for script_id, value in doc.custom_fields:
        if not SCRIPT_ID.match(script_id):
            raise PayloadError(
                f"{what}: custom field {script_id!r} is not a NetSuite script id (custbody_..., custcol_...)"
            )
        body[script_id] = str(value)
    return body


def invoice_transform_body(doc: SalesDocument) -> dict[str, Any]:
    """The body of ``salesOrder/{id}/!transform/invoice``: its own external id guards a repeat."""
    body: dict[str, Any] = {
        "externalId": f"{doc.external_key}{INVOICE_SUFFIX}",
        "tranDate": doc.doc_date.isoformat(),
    }
    if doc.due_date:
        body["dueDate"] = doc.due_date.isoformat()
    return body
