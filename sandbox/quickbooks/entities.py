"""QBO business rules for one company: create, read, update and delete of the supported entities.

Rules enforced (codes as QBO sends them):

* Customer: ``DisplayName`` (derived from the name parts when absent) unique among customers,
  case-insensitively and including inactive ones (6240, the other customer's Id in ``Detail``),
  at most 100 characters (2050), no ``:``.
* Item: ``Name`` unique (6240); ``Type`` required; Service needs ``IncomeAccountRef``,
  NonInventory ``IncomeAccountRef`` or ``ExpenseAccountRef``, Inventory the quantity fields and all
  three account refs; refs must point at existing accounts (610).
* Invoice: ``CustomerRef`` to an existing active customer and every ``ItemRef`` to an existing
  active item (610); ``DocNumber`` at most 21 characters (2050) and unique (6210), numbered from
  1001 when absent; ``TotalAmt`` and ``Balance`` computed; a ``SubTotalLineDetail`` line added.
* Payment: ``CustomerRef`` and ``TotalAmt`` required; ``Line[].LinkedTxn`` invoices of the same
  customer have their ``Balance`` reduced (never below zero); the rest is ``UnappliedAmt``.
* Updates need ``Id`` and the current ``SyncToken`` (5010 when stale); ``sparse: true`` merges.
* Delete works on Invoice and Payment; name-list entities answer "Unsupported Operation".
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

from sandbox.quickbooks.faults import (
    QboError,
    business_error,
    invalid_property,
    object_not_found,
    required_missing,
    stale_object,
    string_length,
    unsupported_operation,
)
from sandbox.quickbooks.store import NAME_LIST_ENTITIES, WRITABLE_ENTITIES, Clock, RealmData, meta_time

SYSTEM_KEYS = frozenset({"Id", "SyncToken", "MetaData", "sparse", "domain", "time", "status"})
USD = {"value": "USD", "name": "United States Dollar"}
ITEM_TYPES = ("Service", "NonInventory", "Inventory")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Applications = dict[str, float]


def _money(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise invalid_property(name, "expected a number")
    try:
        return round(float(value), 2)
    except (TypeError, ValueError):
        raise invalid_property(name, f"{value!r} is not a number") from None


def _ref_id(data: dict[str, Any], name: str) -> str | None:
    ref = data.get(name)
    if ref in (None, ""):
        return None
    if not isinstance(ref, dict) or ref.get("value") in (None, ""):
        raise invalid_property(name, "a reference needs a value")
    return str(ref["value"])


def _clean(payload: dict[str, Any], drop_empty: bool) -> dict[str, Any]:
    return {
        k: copy.deepcopy(v)
        for k, v in payload.items()
        if k not in SYSTEM_KEYS and v is not None and not (drop_empty and v == "")
    }


def _date(data: dict[str, Any], name: str, default: str) -> str:
    value = data.get(name) or default
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise invalid_property(name, f"{value!r} is not a YYYY-MM-DD date")
    return value


class Company:
    """The rules of one realm, applied to its :class:`RealmData`. Callers hold the app lock."""

    def __init__(self, realm: RealmData, clock: Clock) -> None:
        self.realm = realm
        self.clock = clock

    # -- public operations --------------------------------------------------------------------
    def read(self, entity: str, object_id: str) -> dict[str, Any]:
        obj = self.realm.get(entity, object_id)
        if obj is None:
            raise object_not_found("")
        return copy.deepcopy(obj)

    def create(self, entity: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._writable(entity)
        data = _clean(payload, drop_empty=True)
        obj, applications = self._prepare(entity, data, None)
        return self._save(entity, obj, None, applications)

    def update(self, entity: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._writable(entity)
        current = self._current(entity, payload)
        sparse = payload.get("sparse") in (True, "true")
        data = _clean(payload, drop_empty=not sparse)
        if sparse:
            merged = {k: copy.deepcopy(v) for k, v in current.items() if k not in SYSTEM_KEYS}
            merged.update(data)
            data = merged
        obj, applications = self._prepare(entity, data, current)
        return self._save(entity, obj, current, applications)

    def delete(self, entity: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._writable(entity)
        if entity in NAME_LIST_ENTITIES:
            raise unsupported_operation(
                f"Operation Delete is not supported for {entity}; set Active to false."
            )
        current = self._current(entity, payload)
        now = self.clock.now()
        if entity == "Invoice":
            if any(link.get("TxnType") == "Payment" for link in current.get("LinkedTxn", [])):
                raise business_error("This invoice has payments applied; delete the payments first.")
            self._adjust_customer(current["CustomerRef"]["value"], -current["Balance"])
        else:
            self._unapply(current["Id"], self._applications(current), now)
        self.realm.remove(entity, current["Id"], now)
        return {"status": "Deleted", "domain": "QBO", "Id": current["Id"]}

    def all(self, entity: str) -> list[dict[str, Any]]:
        return list(self.realm.objects[entity].values())

    def changes(self, entities: list[str], since: datetime, cap: int) -> dict[str, list[dict[str, Any]]]:
        """CDC: objects changed (or deleted) at or after ``since``, oldest first, ``cap`` in total."""
        found: list[tuple[datetime, str, dict[str, Any]]] = []
        for entity in entities:
            for object_id, obj in self.realm.objects[entity].items():
                moment = self.realm.changed_at[(entity, object_id)]
                if moment >= since:
                    found.append((moment, entity, copy.deepcopy(obj)))
        for tomb in self.realm.tombstones:
            if tomb.entity in entities and tomb.deleted_at >= since:
                gone = {
                    "domain": "QBO",
                    "status": "Deleted",
                    "Id": tomb.object_id,
                    "MetaData": {"LastUpdatedTime": meta_time(tomb.deleted_at)},
                }
                found.append((tomb.deleted_at, tomb.entity, gone))
        found.sort(key=lambda row: row[0])
        grouped: dict[str, list[dict[str, Any]]] = {entity: [] for entity in entities}
        for _, entity, obj in found[:cap]:
            grouped[entity].append(obj)
        return grouped

    # -- shared steps -------------------------------------------------------------------------
    @staticmethod
    def _writable(entity: str) -> None:
        if entity not in WRITABLE_ENTITIES:
            raise unsupported_operation(f"Operation is not supported for {entity} in this sandbox.")

    def _current(self, entity: str, payload: dict[str, Any]) -> dict[str, Any]:
        object_id = payload.get("Id")
        if object_id in (None, ""):
            raise required_missing("Id")
        current = self.realm.get(entity, str(object_id))
        if current is None:
            raise object_not_found("Id")
        sync_token = payload.get("SyncToken")
        if sync_token in (None, ""):
            raise required_missing("SyncToken")
        if str(sync_token) != current["SyncToken"]:
            raise stale_object()
        return current

    def _prepare(
        self, entity: str, data: dict[str, Any], current: dict[str, Any] | None
    ) -> tuple[dict[str, Any], Applications]:
        if entity == "Customer":
            return self._prepare_customer(data, current), {}
        if entity == "Item":
            return self._prepare_item(data, current), {}
        if entity == "Invoice":
            return self._prepare_invoice(data, current), {}
        return self._prepare_payment(data, current)

    def _save(
        self, entity: str, obj: dict[str, Any], current: dict[str, Any] | None, applications: Applications
    ) -> dict[str, Any]:
        now = self.clock.now()
        if current is None:
            obj["Id"] = self.realm.new_id(entity)
            obj["SyncToken"] = "0"
            obj["MetaData"] = {"CreateTime": meta_time(now), "LastUpdatedTime": meta_time(now)}
        else:
            obj["Id"] = current["Id"]
            obj["SyncToken"] = str(int(current["SyncToken"]) + 1)
            obj["MetaData"] = {
                "CreateTime": current["MetaData"]["CreateTime"],
                "LastUpdatedTime": meta_time(now),
            }
        obj["domain"] = "QBO"
        obj["sparse"] = False
        if entity == "Invoice":
            if current is not None:
                self._adjust_customer(current["CustomerRef"]["value"], -current["Balance"])
            self._adjust_customer(obj["CustomerRef"]["value"], obj["Balance"])
        self.realm.put(entity, obj, now)
        if entity == "Payment":
            if current is not None:
                self._unapply(obj["Id"], self._applications(current), now)
            self._apply(obj["Id"], applications, now)
        return copy.deepcopy(self.realm.get(entity, obj["Id"]))

    def _existing_ref(self, entity: str, ref_id: str, element: str) -> dict[str, Any]:
        obj = self.realm.get(entity, ref_id)
        if obj is None or obj.get("Active", True) is False:
            raise object_not_found(element)
        return obj

    def _adjust_customer(self, customer_id: str, delta: float) -> None:
        customer = self.realm.get("Customer", customer_id)
        if customer is not None and delta:
            customer["Balance"] = round(customer.get("Balance", 0) + delta, 2)
            customer["BalanceWithJobs"] = customer["Balance"]

    def _ensure_unique(
        self, entity: str, element: str, name: str, current: dict[str, Any] | None, noun: str
    ) -> None:
        """6240 when another ``entity`` (inactive ones too) has ``name`` in ``element``, any case."""
        own_id = current["Id"] if current else None
        for other in self.realm.objects[entity].values():
            if other["Id"] != own_id and other[element].casefold() == name.casefold():
                raise QboError(
                    "6240",
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. : Another {noun} is already using this name. "
                    f"Please use a different name. Id={other['Id']}",
                    element=element,
                )

    # -- Customer -----------------------------------------------------------------------------
    def _prepare_customer(self, data: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        for key in ("Balance", "BalanceWithJobs", "FullyQualifiedName"):
            data.pop(key, None)
        display = str(data.get("DisplayName") or "").strip()
        if not display:
            parts = [
                str(data.get(k) or "").strip()
                for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
            ]
            display = " ".join(p for p in parts if p) or str(data.get("CompanyName") or "").strip()
        if not display:
            raise required_missing("DisplayName")
        if len(display) > 100:
            raise string_length("DisplayName", 100, len(display))
        if ":" in display:
            raise business_error("The name can't contain a colon (:).", element="DisplayName")
        self._ensure_unique("Customer", "DisplayName", display, current, "customer")
        email = data.get("PrimaryEmailAddr")
        if email is not None and not (isinstance(email, dict) and isinstance(email.get("Address", ""), str)):
            raise invalid_property("PrimaryEmailAddr", "expected {Address}")
        data["DisplayName"] = display
        data["FullyQualifiedName"] = display
        data["Active"] = data.get("Active", True) not in (False, "false")
        data.setdefault("PrintOnCheckName", display)
        data.setdefault("Job", False)
        data.setdefault("BillWithParent", False)
        data.setdefault("Taxable", False)
        data.setdefault("CurrencyRef", dict(USD))
        data.setdefault("PreferredDeliveryMethod", "Print")
        data["Balance"] = current["Balance"] if current else 0
        data["BalanceWithJobs"] = data["Balance"]
        return data

    # -- Item ---------------------------------------------------------------------------------
    def _prepare_item(self, data: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        name = str(data.get("Name") or "").strip()
        if not name:
            raise required_missing("Name")
        if len(name) > 100:
            raise string_length("Name", 100, len(name))
        self._ensure_unique("Item", "Name", name, current, "product or service")
        item_type = data.get("Type")
        if not item_type:
            raise required_missing("Type")
        if item_type not in ITEM_TYPES:
            raise invalid_property("Type", f"{item_type!r} is not one of {', '.join(ITEM_TYPES)}")
        for ref_name in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            ref_id = _ref_id(data, ref_name)
            if ref_id is None:
                data.pop(ref_name, None)
                continue
            account = self._existing_ref("Account", ref_id, ref_name)
            data[ref_name] = {"value": ref_id, "name": account["Name"]}
        if item_type == "Service" and "IncomeAccountRef" not in data:
            raise required_missing("IncomeAccountRef")
        if item_type == "NonInventory" and not ({"IncomeAccountRef", "ExpenseAccountRef"} & data.keys()):
            raise required_missing("IncomeAccountRef")
        if item_type == "Inventory":
            if data.get("TrackQtyOnHand") is not True:
                raise required_missing("TrackQtyOnHand")
            for required in (
                "QtyOnHand",
                "InvStartDate",
                "AssetAccountRef",
                "IncomeAccountRef",
                "ExpenseAccountRef",
            ):
                if data.get(required) in (None, ""):
                    raise required_missing(required)
            data["QtyOnHand"] = _money(data["QtyOnHand"], "QtyOnHand")
            data["InvStartDate"] = _date(data, "InvStartDate", "")
        else:
            data["TrackQtyOnHand"] = False
        data["Name"] = name
        data["FullyQualifiedName"] = name
        data["UnitPrice"] = _money(data.get("UnitPrice", 0) or 0, "UnitPrice")
        data["Active"] = data.get("Active", True) not in (False, "false")
        data.setdefault("Taxable", False)
        return data

    # -- Invoice ------------------------------------------------------------------------------
    def _prepare_invoice(self, data: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        customer_id = _ref_id(data, "CustomerRef")
        if customer_id is None:
            raise required_missing("CustomerRef")
        customer = self._existing_ref("Customer", customer_id, "CustomerRef")
        data["CustomerRef"] = {"value": customer_id, "name": customer["DisplayName"]}
        lines = data.get("Line")
        if not isinstance(lines, list) or not lines:
            raise required_missing("Line")
        kept, subtotal, discount = [], 0.0, 0.0
        for line in lines:
            if not isinstance(line, dict):
                raise invalid_property("Line", "each line must be an object")
            kind = line.get("DetailType")
            if kind == "SubTotalLineDetail":
                continue
            line = copy.deepcopy(line)
            if kind == "SalesItemLineDetail":
                subtotal += self._sales_line(line)
            elif kind == "DiscountLineDetail":
                discount += _money(line.get("Amount"), "Line.Amount")
            elif kind == "DescriptionOnly":
                line["Amount"] = _money(line.get("Amount", 0) or 0, "Line.Amount")
            else:
                raise invalid_property("Line.DetailType", f"{kind!r} is not supported")
            kept.append(line)
        for number, line in enumerate(kept, start=1):
            line["Id"] = str(number)
            line["LineNum"] = number
        subtotal = round(subtotal, 2)
        kept.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        data["Line"] = kept
        total = round(subtotal - discount, 2)
        paid = round(current["TotalAmt"] - current["Balance"], 2) if current else 0.0
        if total < paid:
            raise business_error(
                f"The invoice total {total} is less than the payments applied to it ({paid})."
            )
        custom_fields = data.get("CustomField", [])
        if not isinstance(custom_fields, list) or not all(isinstance(f, dict) for f in custom_fields):
            raise invalid_property(
                "CustomField", "expected a list of {DefinitionId, Name, Type, StringValue}"
            )
        today = self.clock.now().date().isoformat()
        data["TxnDate"] = _date(data, "TxnDate", today)
        data["DueDate"] = _date(data, "DueDate", data["TxnDate"])
        data["TotalAmt"] = total
        data["Balance"] = round(total - paid, 2)
        data["LinkedTxn"] = copy.deepcopy(current.get("LinkedTxn", [])) if current else []
        data.setdefault("CurrencyRef", dict(USD))
        data.setdefault("EmailStatus", "NotSet")
        data.setdefault("PrintStatus", "NotSet")
        data["TxnTaxDetail"] = {"TotalTax": 0}
        data["DocNumber"] = self._doc_number(data.get("DocNumber"), current)
        return data

    def _sales_line(self, line: dict[str, Any]) -> float:
        detail = line.get("SalesItemLineDetail")
        if not isinstance(detail, dict):
            raise required_missing("Line.SalesItemLineDetail")
        item_id = _ref_id(detail, "ItemRef")
        if item_id is not None:
            item = self._existing_ref("Item", item_id, "Line.SalesItemLineDetail.ItemRef")
            detail["ItemRef"] = {"value": item_id, "name": item["Name"]}
        for key in ("Qty", "UnitPrice"):
            if detail.get(key) in (None, ""):
                detail.pop(key, None)
            else:
                detail[key] = _number(detail[key], f"Line.SalesItemLineDetail.{key}")
        amount = line.get("Amount")
        if amount in (None, ""):
            if "Qty" not in detail or "UnitPrice" not in detail:
                raise required_missing("Line.Amount")
            amount = detail["Qty"] * detail["UnitPrice"]
        line["Amount"] = _money(amount, "Line.Amount")
        return line["Amount"]

    def _doc_number(self, requested: Any, current: dict[str, Any] | None) -> str:
        own_id = current["Id"] if current else None
        taken = {
            inv.get("DocNumber"): inv["Id"]
            for inv in self.realm.objects["Invoice"].values()
            if inv["Id"] != own_id
        }
        if requested in (None, ""):
            if current is not None and current.get("DocNumber"):
                return current["DocNumber"]
            while str(self.realm.next_doc_number) in taken:
                self.realm.next_doc_number += 1
            number = str(self.realm.next_doc_number)
            self.realm.next_doc_number += 1
            return number
        number = str(requested)
        if len(number) > 21:
            raise string_length("DocNumber", 21, len(number))
        if number in taken:
            raise QboError(
                "6210",
                "Duplicate Document Number Error",
                "Duplicate Document Number Error : You must specify a different number. This number has already "
                f"been used. DocNumber={number} is assigned to TxnType=Invoice with TxnId={taken[number]}",
                element="DocNumber",
            )
        return number

    # -- Payment ------------------------------------------------------------------------------
    @staticmethod
    def _applications(payment: dict[str, Any]) -> Applications:
        applied: Applications = {}
        for line in payment.get("Line", []):
            for link in line.get("LinkedTxn", []):
                if link.get("TxnType") == "Invoice":
                    applied[link["TxnId"]] = round(applied.get(link["TxnId"], 0) + line["Amount"], 2)
                    break
        return applied

    def _prepare_payment(
        self, data: dict[str, Any], current: dict[str, Any] | None
    ) -> tuple[dict[str, Any], Applications]:
        customer_id = _ref_id(data, "CustomerRef")
        if customer_id is None:
            raise required_missing("CustomerRef")
        customer = self._existing_ref("Customer", customer_id, "CustomerRef")
        data["CustomerRef"] = {"value": customer_id, "name": customer["DisplayName"]}
        if data.get("TotalAmt") in (None, ""):
            raise required_missing("TotalAmt")
        total = _money(data["TotalAmt"], "TotalAmt")
        if total < 0:
            raise invalid_property("TotalAmt", "must not be negative")
        lines = data.get("Line") or []
        if not isinstance(lines, list):
            raise invalid_property("Line", "expected a list")
        previous = self._applications(current) if current else {}
        applied: Applications = {}
        for line in lines:
            links = (
                [t for t in line.get("LinkedTxn", []) if isinstance(t, dict)]
                if isinstance(line, dict)
                else []
            )
            if not links:
                raise invalid_property("Line.LinkedTxn", "each payment line must link an invoice")
            link = links[0]
            if link.get("TxnType") != "Invoice":
                raise invalid_property("Line.LinkedTxn.TxnType", f"{link.get('TxnType')!r} is not supported")
            invoice_id = str(link.get("TxnId") or "")
            invoice = self.realm.get("Invoice", invoice_id)
            if invoice is None:
                raise object_not_found("Line.LinkedTxn")
            if invoice["CustomerRef"]["value"] != customer_id:
                raise business_error(
                    f"Invoice {invoice_id} belongs to another customer.", element="Line.LinkedTxn"
                )
            amount = _money(line.get("Amount"), "Line.Amount")
            if amount <= 0:
                raise invalid_property("Line.Amount", "must be positive")
            line["Amount"] = amount
            link["TxnId"] = invoice_id
            applied[invoice_id] = round(applied.get(invoice_id, 0) + amount, 2)
        for invoice_id, amount in applied.items():
            available = round(
                self.realm.objects["Invoice"][invoice_id]["Balance"] + previous.get(invoice_id, 0), 2
            )
            if amount > available:
                raise business_error(
                    f"The amount applied to invoice {invoice_id} ({amount}) exceeds its open balance ({available}).",
                    element="Line.Amount",
                )
        applied_total = round(sum(applied.values()), 2)
        if applied_total > total:
            raise business_error(
                f"The payment lines ({applied_total}) exceed TotalAmt ({total}).", element="TotalAmt"
            )
        data["Line"] = lines
        data["TotalAmt"] = total
        data["UnappliedAmt"] = round(total - applied_total, 2)
        data["TxnDate"] = _date(data, "TxnDate", self.clock.now().date().isoformat())
        data.setdefault("CurrencyRef", dict(USD))
        data.setdefault("ProcessPayment", False)
        return data, applied

    def _touch(self, entity: str, obj: dict[str, Any], now: datetime) -> None:
        obj["SyncToken"] = str(int(obj["SyncToken"]) + 1)
        obj["MetaData"]["LastUpdatedTime"] = meta_time(now)
        self.realm.changed_at[(entity, obj["Id"])] = now

    def _apply(self, payment_id: str, applied: Applications, now: datetime) -> None:
        for invoice_id, amount in applied.items():
            invoice = self.realm.objects["Invoice"][invoice_id]
            invoice["Balance"] = round(invoice["Balance"] - amount, 2)
            link = {"TxnId": payment_id, "TxnType": "Payment"}
            if link not in invoice["LinkedTxn"]:
                invoice["LinkedTxn"].append(link)
            self._adjust_customer(invoice["CustomerRef"]["value"], -amount)
            self._touch("Invoice", invoice, now)

    def _unapply(self, payment_id: str, applied: Applications, now: datetime) -> None:
        for invoice_id, amount in applied.items():
            invoice = self.realm.objects["Invoice"].get(invoice_id)
            if invoice is None:
                continue
            invoice["Balance"] = round(invoice["Balance"] + amount, 2)
            invoice["LinkedTxn"] = [
                t for t in invoice["LinkedTxn"] if t != {"TxnId": payment_id, "TxnType": "Payment"}
            ]
            self._adjust_customer(invoice["CustomerRef"]["value"], amount)
            self._touch("Invoice", invoice, now)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise invalid_property(name, "expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise invalid_property(name, f"{value!r} is not a number") from None
