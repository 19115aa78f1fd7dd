"""The sandbox account: records by type, external ids, required fields and references.

Records are kept in the REST shape (camelCase fields, ``{"id": ...}`` references, sublists as
``{"items": [...]}``). Each record type belongs to a SuiteQL table: all item kinds share ``item``
(``itemtype`` InvtPart / NonInvtPart / Service), transactions share ``transaction`` (``type``
SalesOrd / CustInvc / CustPymt). External ids are unique per table. REST type names for
non-inventory and service items (``nonInventorySaleItem``, ``serviceSaleItem``) are UNCONFIRMED.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.netsuite.errors import NetSuiteError, bad_ref, missing

# REST record type -> (SuiteQL table, type code)
RECORD_TYPES: dict[str, tuple[str, str]] = {
    "customer": ("customer", ""),
    "inventoryItem": ("item", "InvtPart"),
    "nonInventorySaleItem": ("item", "NonInvtPart"),
    "serviceSaleItem": ("item", "Service"),
    "salesOrder": ("transaction", "SalesOrd"),
    "invoice": ("transaction", "CustInvc"),
    "customerPayment": ("transaction", "CustPymt"),
}
_LOWER_TYPES = {name.lower(): name for name in RECORD_TYPES}
TRAN_PREFIX = {"SalesOrd": "SO", "CustInvc": "INV", "CustPymt": "PYMT"}
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
ENTITY_ID_MAX = 83
CENT = Decimal("0.01")


def record_type(name: str) -> str:
    """The canonical REST record type name (NetSuite accepts any case), or a 404."""
    found = _LOWER_TYPES.get(name.lower())
    if found is None:
        raise NetSuiteError(404, "NONEXISTENT_TYPE", f"Record type '{name}' does not exist.")
    return found


def now_iso() -> str:
    """Now, as NetSuite writes timestamps (UTC, seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        return None if value.get("id") in (None, "") else str(value["id"])
    return None if value in (None, "") else str(value)


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass
class Account:
    """One NetSuite account's data."""

    account_id: str
    oneworld: bool = True
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)
    next_tran: dict[str, int] = field(default_factory=dict)
    lists: dict[str, dict[str, str]] = field(default_factory=dict)  # subsidiary, currency, location, ...

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tables = {"customer": {}, "item": {}, "transaction": {}}
        self.next_id = {"customer": 100, "item": 200, "transaction": 1000}
        self.next_tran = {code: 1 for code in TRAN_PREFIX}
        self.lists = {
            "subsidiary": {"1": "Parent Company", "2": "UK Subsidiary"},
            "currency": {"1": "USD", "2": "GBP", "3": "CAD", "4": "EUR"},
            "location": {"1": "Main Warehouse", "2": "East Coast"},
            "department": {"1": "Sales", "2": "Services"},
            "classification": {"1": "Sales", "2": "Renewals"},
            "account": {"54": "Sales", "55": "Service Revenue", "80": "Inventory Asset", "81": "COGS"},
        }

    def seed(self) -> None:
        """What a new account holds before the sync runs: one service item named ``Hours``."""
        self.write("serviceSaleItem", {"itemId": "Hours", "displayName": "Hours", "rate": 95.0})

    # -- lookups ---------------------------------------------------------------------------------
    def table_of(self, rtype: str) -> str:
        return RECORD_TYPES[rtype][0]

    def get(self, rtype: str, key: str) -> dict[str, Any] | None:
        """A record by internal id or ``eid:<externalId>``; None when missing (or of another type)."""
        table = self.tables[self.table_of(rtype)]
        if key.startswith("eid:"):
            ext = key[4:]
            record = next((r for r in table.values() if r.get("externalId") == ext), None)
        else:
            record = table.get(key)
        if record is None or record["_type"] != rtype:
            return None
        return record

    def by_external_id(self, table: str, external_id: str) -> dict[str, Any] | None:
        return next((r for r in self.tables[table].values() if r.get("externalId") == external_id), None)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """SuiteQL rows of a table: lower-case scalar columns, references as their id."""
        if table not in self.tables:
            raise NetSuiteError(400, "INVALID_PARAMETER", f"Invalid search query: unknown table {table!r}")
        return [suiteql_row(r) for r in self.tables[table].values()]

    # -- writes ------------------------------------------------------------------------------------
    def write(
        self,
        rtype: str,
        body: dict[str, Any],
        *,
        record_id: str | None = None,
        external_id: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create (no id, no existing external id) or update a record; ``(record, created)``."""
        body = copy.deepcopy(body or {})
        table = self.table_of(rtype)
        if external_id is not None:
            if "externalId" in body and str(body["externalId"]) != external_id:
                raise NetSuiteError(
                    400,
                    "USER_ERROR",
                    "The externalId in the body does not match the one in the URL.",
                    "externalId",
                )
            body["externalId"] = external_id
        ext = body.get("externalId")
        if ext is not None:
            ext = str(ext)
            if not EXTERNAL_ID.match(ext):
                raise NetSuiteError(
                    400,
                    "INVALID_FLD_VALUE",
                    f"Invalid external ID {ext!r}: use letters, digits, _ and -.",
                    "externalId",
                )
        existing: dict[str, Any] | None = None
        if record_id is not None:
            existing = self.tables[table].get(record_id)
            if existing is None or existing["_type"] != rtype:
                raise NetSuiteError(404, "NONEXISTENT_ID", f"The record instance {record_id} does not exist.")
        elif external_id is not None:
            existing = self.by_external_id(table, external_id)
            if existing is not None and existing["_type"] != rtype:
                raise NetSuiteError(
                    400,
                    "DUP_RCRD",
                    f"A {existing['_type']} record already uses external ID {external_id}.",
                    "externalId",
                )
        elif ext is not None and self.by_external_id(table, ext) is not None:
            raise NetSuiteError(
                400,
                "DUP_RCRD",
                f"This record already exists: a record with external ID {ext} exists.",
                "externalId",
            )
        if existing is not None and ext is not None:
            other = self.by_external_id(table, ext)
            if other is not None and other is not existing:
                raise NetSuiteError(
                    400, "DUP_RCRD", f"External ID {ext} belongs to another record.", "externalId"
                )
        merged = {**(existing or {}), **body} if existing else body
        self._check(rtype, merged, existing)
        now = now_iso()
        if existing is None:
            self.next_id[table] += 1
            merged["id"] = str(self.next_id[table])
            merged["_type"] = rtype
            merged["dateCreated"] = now
            code = RECORD_TYPES[rtype][1]
            if table == "transaction" and not merged.get("tranId"):
                merged["tranId"] = f"{TRAN_PREFIX[code]}{self.next_tran[code]:05d}"
                self.next_tran[code] += 1
        merged["lastModifiedDate"] = now
        self._derive(rtype, merged)
        self.tables[table][merged["id"]] = merged
        if rtype == "customerPayment" and existing is None:
            self._apply_payment(merged)
        return merged, existing is None

    def _apply_payment(self, payment: dict[str, Any]) -> None:
        """Reduce the amount remaining on each invoice the payment is applied to."""
        for applied in (payment.get("apply") or {}).get("items") or []:
            if applied.get("apply") is False:
                continue
            invoice = self.tables["transaction"].get(_ref_id(applied.get("doc")) or "")
            if invoice is not None and invoice["_type"] == "invoice":
                remaining = Decimal(str(invoice.get("amountRemaining", invoice["total"])))
                invoice["amountRemaining"] = _money(
                    max(Decimal("0"), remaining - Decimal(str(applied.get("amount", 0))))
                )

    def _check_ref(self, kind: str, field_name: str, value: Any) -> None:
        ref = _ref_id(value)
        if ref is not None and ref not in self.lists[kind]:
            raise bad_ref(field_name, ref)

    def _check(self, rtype: str, record: dict[str, Any], existing: dict[str, Any] | None) -> None:
        table = self.table_of(rtype)
        for name, kind in (
            ("subsidiary", "subsidiary"),
            ("currency", "currency"),
            ("location", "location"),
            ("department", "department"),
            ("class", "classification"),
            ("incomeAccount", "account"),
            ("assetAccount", "account"),
            ("cogsAccount", "account"),
        ):
            if name in record:
                self._check_ref(kind, name, record[name])
        if table == "customer":
            if record.get("isPerson"):
                if not record.get("lastName"):
                    raise missing("lastName")
            elif not str(record.get("companyName") or "").strip():
                raise missing("companyName")
            if self.oneworld and _ref_id(record.get("subsidiary")) is None:
                raise missing("subsidiary")
            entity_id = str(record.get("entityId") or record.get("companyName") or "").strip()
            if len(entity_id) > ENTITY_ID_MAX:
                raise NetSuiteError(
                    400,
                    "INVALID_FLD_VALUE",
                    f"Customer ID is longer than {ENTITY_ID_MAX} characters.",
                    "entityId",
                )
            clash = next(
                (
                    r
                    for r in self.tables["customer"].values()
                    if r is not existing and str(r.get("entityId") or "").casefold() == entity_id.casefold()
                ),
                None,
            )
            if clash is not None:
                raise NetSuiteError(
                    400,
                    "DUP_ENTITY",
                    "This entity already exists. You must enter a unique customer ID for each record you create.",
                    "entityId",
                )
            record["entityId"] = entity_id
        elif table == "item":
            if not str(record.get("itemId") or "").strip():
                raise missing("itemId")
            clash = next(
                (
                    r
                    for r in self.tables["item"].values()
                    if r is not existing
                    and str(r.get("itemId")).casefold() == str(record["itemId"]).casefold()
                ),
                None,
            )
            if clash is not None:
                raise NetSuiteError(
                    400,
                    "DUP_ITEM",
                    f"An item record with the name {record['itemId']} already exists.",
                    "itemId",
                )
        elif rtype in ("salesOrder", "invoice"):
            entity = _ref_id(record.get("entity"))
            if entity is None:
                raise missing("entity")
            if entity not in self.tables["customer"]:
                raise bad_ref("entity", entity)
            lines = (record.get("item") or {}).get("items") or []
            if not lines:
                raise missing("item")
            for number, line in enumerate(lines, start=1):
                item = _ref_id(line.get("item"))
                if item is None:
                    raise missing(f"item.items[{number}].item")
                if item not in self.tables["item"]:
                    raise bad_ref("item", item)
                try:
                    Decimal(str(line.get("quantity", 1)))
                    Decimal(str(line.get("rate", 0)))
                except ArithmeticError as exc:
                    raise NetSuiteError(
                        400, "INVALID_FLD_VALUE", f"Invalid number on line {number}.", "item"
                    ) from exc
            if self.oneworld and _ref_id(record.get("subsidiary")) is None:
                customer = self.tables["customer"][entity]
                record["subsidiary"] = customer.get("subsidiary")  # NetSuite defaults it from the entity
        elif rtype == "customerPayment":
            customer = _ref_id(record.get("customer"))
            if customer is None:
                raise missing("customer")
            for applied in (record.get("apply") or {}).get("items") or []:
                doc = _ref_id(applied.get("doc"))
                if doc is None or doc not in self.tables["transaction"]:
                    raise bad_ref("apply.doc", doc)

    @staticmethod
    def _derive(rtype: str, record: dict[str, Any]) -> None:
        """Computed fields: line amounts and the total of a transaction."""
        if rtype not in ("salesOrder", "invoice"):
            return
        total = Decimal("0")
        for number, line in enumerate(record["item"]["items"], start=1):
            qty = Decimal(str(line.get("quantity", 1)))
            rate = Decimal(str(line.get("rate", 0)))
            amount = Decimal(str(line["amount"])) if "amount" in line else qty * rate
            line["line"] = number
            line["amount"] = _money(amount)
            total += amount
        record["total"] = _money(total)
        if rtype == "invoice" and "amountRemaining" not in record:
            record["amountRemaining"] = record["total"]

    def public(self, record: dict[str, Any], base_url: str) -> dict[str, Any]:
        """A record as ``GET /record/v1/{type}/{id}`` shows it."""
        body = {k: v for k, v in copy.deepcopy(record).items() if not k.startswith("_")}
        body["links"] = [{"rel": "self", "href": f"{base_url}/record/v1/{record['_type']}/{record['id']}"}]
        return body


def suiteql_row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a SuiteQL row: lower-case keys, references as ids, sublists left out."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            if "items" in value:
                continue
            row[key.lower()] = _ref_id(value)
        elif isinstance(value, list):
            continue
        elif isinstance(value, bool):
            row[key.lower()] = "T" if value else "F"
        else:
            row[key.lower()] = value
    table, code = RECORD_TYPES[record["_type"]]
    if table == "item":
        row["itemtype"] = code
    elif table == "transaction":
        row["type"] = code
        row["recordtype"] = record["_type"].lower()
    row.setdefault("isinactive", "F")
    return row
