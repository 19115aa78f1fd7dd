"""NetSuite -> sync reads: payments applied to the documents this sync created, and stock on hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from erp_operators.netsuite.client import NetSuiteClient, quote
from erp_operators.netsuite.payloads import NetSuiteSettings
from sync_core.canonical import Payment


def read_payments(client: NetSuiteClient, settings: NetSuiteSettings, since: datetime) -> list[Payment]:
    """Customer payments changed since ``since`` applied to documents this sync created."""
    moment = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S")
    rows = client.suiteql(
        "SELECT id, tranid, trandate, total, currency FROM transaction WHERE type = 'CustPymt' "
        f"AND lastmodifieddate >= TO_TIMESTAMP({quote(stamp)}, 'YYYY-MM-DD HH24:MI:SS') ORDER BY id"
    )
    documents: dict[str, dict[str, Any] | None] = {}
    out: list[Payment] = []
    for row in rows:
        payment = client.get_record("customerPayment", str(row["id"]))
        if payment is None:
            continue
        for applied in (payment.get("apply") or {}).get("items") or []:
            if applied.get("apply") is False:
                continue
            doc_id = str((applied.get("doc") or {}).get("id") or "")
            if doc_id not in documents:
                documents[doc_id] = _synced_document(client, settings, doc_id)
            found = documents[doc_id]
            if found is None:
                continue  # not a document this sync created
            out.append(
                Payment(
                    erp_id=str(payment["id"]),
                    document_external_key=found["box_key"],
                    amount=Decimal(str(applied.get("amount", payment.get("payment", 0)))),
                    currency=found["currency"],
                    paid_date=date.fromisoformat(
                        str(payment.get("tranDate") or moment.date().isoformat())[:10]
                    ),
                    erp_document_id=found["id"],
                    erp_document_number=found["number"],
                    reference=str(payment.get("tranId") or ""),
                    fully_paid=Decimal(str(found["remaining"])) == 0,
                )
            )
    return out


def _synced_document(
    client: NetSuiteClient, settings: NetSuiteSettings, invoice_id: str
) -> dict[str, Any] | None:
    """The box behind an invoice: its own external id, or that of the sales order it came from."""
    invoice = client.get_record("invoice", invoice_id)
    if invoice is None:
        return None
    source, box_key = invoice, str(invoice.get("externalId") or "")
    origin = str((invoice.get("createdFrom") or {}).get("id") or "")
    if origin:
        order = client.get_record("salesOrder", origin)
        if order is not None and order.get("externalId"):
            source, box_key = order, str(order["externalId"])
    if not box_key:
        return None
    currency_id = str((invoice.get("currency") or {}).get("id") or "")
    currency = next((code for code, cid in settings.currencies.items() if cid == currency_id), "")
    return {
        "box_key": box_key,
        "id": str(source["id"]),
        "number": str(source.get("tranId") or ""),
        "currency": currency,
        "remaining": invoice.get("amountRemaining", invoice.get("total", 1)),
    }


def read_stock(client: NetSuiteClient, skus: Sequence[str]) -> dict[str, Decimal]:
    """Quantity on hand of each inventory item SKU (matched by external id or name)."""
    wanted = {s.casefold(): s for s in skus}
    stock: dict[str, Decimal] = {}
    if not wanted:
        return stock
    rows = client.suiteql(
        "SELECT id, externalid, itemid, quantityonhand FROM item WHERE itemtype = 'InvtPart' ORDER BY id"
    )
    for row in rows:
        for key in (str(row.get("externalid") or ""), str(row.get("itemid") or "")):
            sku = wanted.get(key.casefold())
            if sku and sku not in stock:
                stock[sku] = Decimal(str(row.get("quantityonhand") or 0))
    return stock
