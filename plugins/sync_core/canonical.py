"""The canonical, ERP-neutral model every Streak reader produces and every ERP writer consumes.

All records are frozen dataclasses. Money is :class:`~decimal.Decimal`, dates are
:class:`datetime.date`, currencies are ISO-4217 codes. ERP references that a mapping resolves
(item ref, income account, class, custom field ids) are plain strings so the model stays neutral.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any


class ItemType(enum.StrEnum):
    """What kind of product or service an item is."""

    SERVICE = "service"
    NON_INVENTORY = "non_inventory"
    INVENTORY = "inventory"


class DocumentKind(enum.StrEnum):
    """Which ERP document a won deal becomes."""

    INVOICE = "invoice"
    SALES_ORDER = "sales_order"


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address split into the parts ERPs store separately."""

    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""  # state / province / county
    postal_code: str = ""
    country: str = ""  # ISO 3166-1 alpha-2 where known

    def is_empty(self) -> bool:
        return not any(dataclasses.astuple(self))


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer as the ERP should hold it; ``external_key`` is the Streak org/contact key."""

    external_key: str
    display_name: str
    company_name: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    phone: str = ""
    billing_address: Address = field(default_factory=Address)
    shipping_address: Address = field(default_factory=Address)
    currency: str = ""
    source: str = "organization"  # "organization" | "contact"


@dataclass(frozen=True, slots=True)
class Item:
    """A product or service; ``sku`` is the stable natural key, ``erp_ref`` a mapped ERP item ref."""

    sku: str
    name: str
    type: ItemType = ItemType.NON_INVENTORY
    unit_price: Decimal | None = None
    income_account_ref: str = ""
    description: str = ""
    erp_ref: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a sales document."""

    item: Item
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    description: str = ""


@dataclass(frozen=True, slots=True)
class SalesDocument:
    """An invoice or sales order for one won deal; ``external_key`` is the Streak box key."""

    external_key: str
    customer: Customer
    lines: tuple[Line, ...]
    currency: str
    doc_date: date
    kind: DocumentKind = DocumentKind.INVOICE
    due_date: date | None = None
    doc_number: str = ""
    memo: str = ""
    class_ref: str = ""
    status: str = ""
    custom_fields: tuple[tuple[str, str], ...] = ()  # (ERP custom field id/name, value)
    source_name: str = ""  # the box name, for humans
    declared_total: Decimal | None = None  # the deal value stated in Streak, checked against the lines
    source_currency: str = ""  # the deal's currency before conversion ("" when not converted)
    lines_field: str = ""  # the Streak field the lines were read from, for error messages

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment read back from an ERP against a document created for a Streak box."""

    erp_id: str
    document_external_key: str
    amount: Decimal
    currency: str
    paid_date: date
    erp_document_id: str = ""
    erp_document_number: str = ""
    method: str = ""
    reference: str = ""
    fully_paid: bool = False


def to_jsonable(value: Any) -> Any:
    """Render canonical records (and containers of them) as plain JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _day(value: Any) -> date | None:
    return None if value in (None, "") else date.fromisoformat(str(value))


def address_from_json(data: dict[str, Any] | None) -> Address:
    return Address(**(data or {}))


def customer_from_json(data: dict[str, Any]) -> Customer:
    """Inverse of :func:`to_jsonable` for a :class:`Customer` (XCom round trip)."""
    return Customer(
        **{
            **data,
            "billing_address": address_from_json(data.get("billing_address")),
            "shipping_address": address_from_json(data.get("shipping_address")),
        }
    )


def item_from_json(data: dict[str, Any]) -> Item:
    return Item(
        **{
            **data,
            "type": ItemType(data.get("type", "non_inventory")),
            "unit_price": _dec(data.get("unit_price")),
        }
    )


def line_from_json(data: dict[str, Any]) -> Line:
    return Line(
        item=item_from_json(data["item"]),
        quantity=Decimal(str(data["quantity"])),
        unit_price=Decimal(str(data["unit_price"])),
        amount=Decimal(str(data["amount"])),
        description=data.get("description", ""),
    )


def document_from_json(data: dict[str, Any]) -> SalesDocument:
    return SalesDocument(
        **{
            **data,
            "customer": customer_from_json(data["customer"]),
            "lines": tuple(line_from_json(line) for line in data.get("lines", ())),
            "doc_date": _day(data["doc_date"]),
            "due_date": _day(data.get("due_date")),
            "declared_total": _dec(data.get("declared_total")),
            "kind": DocumentKind(data.get("kind", "invoice")),
            "custom_fields": tuple(tuple(pair) for pair in data.get("custom_fields", ())),
        }
    )
