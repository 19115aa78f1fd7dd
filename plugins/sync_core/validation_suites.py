"""Great Expectations suites derived from a mapping, and the column-wise frames they run on.

Each :class:`Check` is one expectation on one frame plus how to word its failures for a person.
Frames are built column-wise (one list per column) so a batch of 10,000 deals costs little.
``great_expectations`` is imported only inside :func:`build_expectation` (never at module import).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sync_core.canonical import Customer, Item, ItemType, SalesDocument
from sync_core.mapping.schema import Mapping, iso_currencies

Row = dict[str, Any]  # the failing row's index columns and value, as GX reports them

INDEX_COLUMNS = {
    "customers": ["source_key", "display_name"],
    "items": ["source_key"],
    "documents": ["source_key", "total", "declared_total"],
    "lines": ["source_key", "line_no"],
}
ENTITY = {"customers": "customer", "items": "item", "documents": "deal", "lines": "deal"}


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation on one frame, with the entity, Streak field and wording of its failures."""

    frame: str  # "customers" | "items" | "documents" | "lines"
    expectation: str  # GX expectation class name
    kwargs: dict[str, Any]
    field: str  # field named in the failure (a Streak field name where there is one)
    describe: Callable[[Row], str]  # the words after "<entity> <key>: "


@dataclass(slots=True)
class Frames:
    """Column lists per frame, ready for pandas."""

    columns: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def size(self, name: str) -> int:
        cols = self.columns.get(name) or {}
        return len(next(iter(cols.values()))) if cols else 0


def _num(value: Any) -> float:
    if value.__class__ is Decimal:
        return float(value)
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value.value if isinstance(value, ItemType) else str(value)
    return text if text.strip() else None


def build_frames(
    documents: Sequence[SalesDocument], customers: Sequence[Customer], items: Sequence[Item], mapping: Mapping
) -> Frames:
    """Turn canonical records into column lists (one frame per record kind, plus document lines)."""
    required = mapping.validation.required
    cust = {"source_key": [c.external_key for c in customers], "email": [_text(c.email) for c in customers]}
    cust["currency"] = [c.currency for c in customers]
    cust["display_name"] = [c.display_name or None for c in customers]
    for name in required.customer:
        cust.setdefault(name, [_text(getattr(c, name, None)) for c in customers])
    itm: dict[str, list[Any]] = {"source_key": [i.sku for i in items], "name": [_text(i.name) for i in items]}
    itm["type"] = [_text(i.type) for i in items]
    itm["unit_price"] = [_num(i.unit_price) if i.unit_price is not None else math.nan for i in items]
    for name in required.item:
        itm.setdefault(name, [_text(getattr(i, name, None)) for i in items])
    totals = [_num(d.total) for d in documents]  # the sum of the lines, by construction
    declared = [_num(d.declared_total) if d.declared_total is not None else math.nan for d in documents]
    doc: dict[str, list[Any]] = {
        "source_key": [d.external_key for d in documents],
        "customer_key": [_text(d.customer.external_key) if d.customer else None for d in documents],
        "currency": [_text(d.currency) for d in documents],
        "doc_date": [d.doc_date.isoformat() if d.doc_date else None for d in documents],
        "doc_number": [d.doc_number for d in documents],
        "total": totals,
        "declared_total": declared,
        "line_count": [len(d.lines) for d in documents],
        "declared_delta": [
            abs(t - v) for t, v in zip(totals, declared, strict=True)
        ],  # NaN when none declared
    }
    flat = [(d.external_key, n, line) for d in documents for n, line in enumerate(d.lines, start=1)]
    quantity = [_num(line.quantity) for _, _, line in flat]
    price = [_num(line.unit_price) for _, _, line in flat]
    amount = [_num(line.amount) for _, _, line in flat]
    lines: dict[str, list[Any]] = {
        "source_key": [key for key, _, _ in flat],
        "line_no": [n for _, n, _ in flat],
        "sku": [_text(line.item.sku) for _, _, line in flat],
        "quantity": quantity,
        "unit_price": price,
        "amount": amount,
        "amount_delta": [abs(a - round(q * p, 2)) for q, p, a in zip(quantity, price, amount, strict=True)],
    }
    for name in required.document:
        if name not in doc:
            doc[name] = [_text(getattr(d, name, None)) for d in documents]
    return Frames({"customers": cust, "items": itm, "documents": doc, "lines": lines})


def _required(frame: str, columns: list[str], labels: dict[str, str]) -> list[Check]:
    return [
        Check(
            frame,
            "ExpectColumnValuesToNotBeNull",
            {"column": c},
            labels.get(c, c),
            lambda row, c=c: f"{labels.get(c, c)} is missing",
        )
        for c in columns
    ]


def derive_checks(mapping: Mapping) -> list[Check]:
    """The suites for customers, items, documents and lines, derived from the mapping."""
    doc_spec, limits, tol = mapping.document, mapping.limits, float(mapping.validation.tolerance)
    currency_field = doc_spec.currency.field or "Currency"
    date_field = doc_spec.doc_date.field or "document date"
    total_field = doc_spec.declared_total.field if doc_spec.declared_total else "Deal Value"
    quantity_field = mapping.lines.quantity.field if mapping.lines.quantity else "quantity"
    price_field = mapping.lines.unit_price.field if mapping.lines.unit_price else "unit price"
    currencies = sorted(iso_currencies())
    customer_labels = {"display_name": "display name", "email": "e-mail", "currency": "currency"}
    document_labels = {
        "customer_key": "customer",
        "currency": currency_field,
        "doc_date": date_field,
        "doc_number": "document number",
    }
    name_limit, doc_limit = limits.display_name, limits.doc_number
    checks = _required("customers", list(mapping.validation.required.customer), customer_labels)
    checks += [
        Check(
            "customers",
            "ExpectColumnValuesToBeUnique",
            {"column": "source_key"},
            "key",
            lambda r: "appears more than once in the batch",
        ),
        Check(
            "customers",
            "ExpectColumnValuesToMatchRegex",
            {"column": "email", "regex": mapping.validation.email_pattern},
            "e-mail",
            lambda r: f"e-mail {r.get('email')!r} is not a valid e-mail address",
        ),
        Check(
            "customers",
            "ExpectColumnValuesToBeInSet",
            {"column": "currency", "value_set": currencies},
            "currency",
            lambda r: f"currency {r.get('currency')!r} is not an ISO-4217 currency code",
        ),
        Check(
            "customers",
            "ExpectColumnValueLengthsToBeBetween",
            {"column": "display_name", "min_value": 1, "max_value": name_limit.max_length},
            "display name",
            lambda r: f"display name is longer than {name_limit.max_length} characters",
        ),
    ]
    if name_limit.forbidden:
        pattern = "[" + "".join("\\" + ch for ch in name_limit.forbidden) + "]"
        checks.append(
            Check(
                "customers",
                "ExpectColumnValuesToNotMatchRegex",
                {"column": "display_name", "regex": pattern},
                "display name",
                lambda r: f"display name {r.get('display_name')!r} contains one of {name_limit.forbidden!r}",
            )
        )
    checks += _required(
        "items", list(mapping.validation.required.item), {"income_account_ref": "income account"}
    )
    checks += [
        Check(
            "items",
            "ExpectColumnValuesToBeUnique",
            {"column": "source_key"},
            "sku",
            lambda r: "SKU appears more than once in the batch",
        ),
        Check(
            "items",
            "ExpectColumnValuesToBeInSet",
            {"column": "type", "value_set": [t.value for t in ItemType]},
            "type",
            lambda r: f"type {r.get('type')!r} is not one of {[t.value for t in ItemType]}",
        ),
        Check(
            "items",
            "ExpectColumnValuesToBeBetween",
            {"column": "unit_price", "min_value": 0},
            "unit price",
            lambda r: f"unit price {_plain(r.get('unit_price'))} is below 0",
        ),
    ]
    checks += _required("documents", list(mapping.validation.required.document), document_labels)
    checks += [
        Check(
            "documents",
            "ExpectColumnValuesToBeUnique",
            {"column": "source_key"},
            "box key",
            lambda r: "external key (box key) appears more than once in the batch",
        ),
        Check(
            "documents",
            "ExpectColumnValuesToBeInSet",
            {"column": "currency", "value_set": currencies},
            currency_field,
            lambda r: f"{currency_field} {r.get('currency')!r} is not an ISO-4217 currency code",
        ),
        Check(
            "documents",
            "ExpectColumnValuesToBeBetween",
            {"column": "total", "min_value": 0},
            "total",
            lambda r: f"document total {_fmt(r.get('total'))} is below 0",
        ),
        Check(
            "documents",
            "ExpectColumnValuesToBeBetween",
            {"column": "line_count", "min_value": 1},
            "lines",
            lambda r: "has no lines",
        ),
        Check(
            "documents",
            "ExpectColumnValuesToBeBetween",
            {"column": "declared_delta", "max_value": tol},
            total_field,
            lambda r: (
                f"{total_field} {_fmt(r.get('declared_total'))} does not match the sum of the lines {_fmt(r.get('total'))}"
            ),
        ),
        Check(
            "documents",
            "ExpectColumnValueLengthsToBeBetween",
            {"column": "doc_number", "max_value": doc_limit.max_length},
            "document number",
            lambda r: f"document number is longer than {doc_limit.max_length} characters",
        ),
        Check(
            "lines",
            "ExpectColumnValuesToNotBeNull",
            {"column": "sku"},
            "SKU",
            lambda r: f"line {r.get('line_no')}: SKU is missing",
        ),
    ]
    for column, label in (("quantity", quantity_field), ("unit_price", price_field), ("amount", "amount")):
        checks.append(
            Check(
                "lines",
                "ExpectColumnValuesToNotBeNull",
                {"column": column},
                label,
                lambda r, label=label: f"line {r.get('line_no')}: {label} is missing or not a number",
            )
        )
        checks.append(
            Check(
                "lines",
                "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": 0},
                label,
                lambda r, label=label, column=column: (
                    f"line {r.get('line_no')}: {label} {_plain(r.get(column))} is below 0"
                ),
            )
        )
    checks.append(
        Check(
            "lines",
            "ExpectColumnValuesToBeBetween",
            {"column": "amount_delta", "max_value": tol},
            "amount",
            lambda r: f"line {r.get('line_no')}: amount is not quantity x unit price (within {tol})",
        )
    )
    return checks


def _fmt(value: Any) -> str:
    number = _num(value)
    return "?" if math.isnan(number) else f"{number:.2f}"


def _plain(value: Any) -> str:
    number = _num(value)
    return "?" if math.isnan(number) else format(Decimal(repr(number)).normalize(), "f")


def build_expectation(check: Check, index: int) -> Any:
    """The GX expectation object for a check (imports great_expectations lazily)."""
    import great_expectations.expectations as gxe

    cls = getattr(gxe, check.expectation)
    return cls(**check.kwargs, meta={"check": index})
