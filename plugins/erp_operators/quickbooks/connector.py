"""QuickBooksConnector: the ERP connector contract for QuickBooks Online.

* Customers: ledger (external key -> Id, payload hash) first, then ``PrimaryEmailAddr``, then
  ``DisplayName``; new ones are created through both channels (batches of 30 while the 40
  batch requests a minute last, single creates with the rest of the 500 requests a minute).
  A 6240 (name already used) fetches and links the existing customer; it never makes a second one. A changed customer gets a sparse
  update with its current ``SyncToken`` (a 5010 re-reads it and tries once more).
* Items: ``erp_ref`` from the mapping, then ledger, then ``Sku``, then ``Name``; missing items
  are created (batch) unless ``create_missing`` is False.
* Invoices: one per box. Before creating, the ledger and then the customer's existing invoices
  are searched for the box marker in ``PrivateNote``, so a lost ledger row never makes a second
  invoice; every write also carries a deterministic ``requestid``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from erp_operators.contract import ENTITY_CUSTOMER, ENTITY_DOCUMENT, ENTITY_ITEM, ERPConnector
from erp_operators.errors import ERPAuthError, ERPError, ERPRetriableError
from erp_operators.quickbooks import payloads
from erp_operators.quickbooks.channels import ChannelDispatcher
from erp_operators.quickbooks.client import MAX_RESULTS, QuickBooksClient, quote, request_id
from erp_operators.quickbooks.config import QuickBooksConfig
from erp_operators.quickbooks.hook import QuickBooksHook
from erp_operators.quickbooks.index_cache import CachedFinder
from erp_operators.quickbooks.matching import invoice_by_number, invoices_with_markers
from erp_operators.receipts import ErrorClass, Receipt, ReceiptStatus, payload_hash
from sync_core.canonical import Customer, DocumentKind, Item, Payment, SalesDocument

log = logging.getLogger(__name__)

R = TypeVar("R")  # a canonical record type (Customer, Item, SalesDocument)
IMMUTABLE_CUSTOMER_FIELDS = frozenset({"CurrencyRef"})  # QBO refuses to change a customer's currency


@dataclass
class _Pending:
    """One record on its way to a batch create."""

    index: int
    key: str
    payload: dict[str, Any]
    digest: str

    @property
    def bid(self) -> str:
        return f"b{self.index}"[:10]


def _same(wanted: Any, actual: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(_same(v, actual.get(k)) for k, v in wanted.items())
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        try:
            return Decimal(str(wanted)) == Decimal(str(actual))
        except ArithmeticError:
            return False
    return str(wanted).strip() == str(actual if actual is not None else "").strip()


def differences(wanted: Mapping[str, Any], existing: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level fields of ``wanted`` whose value differs in ``existing`` (immutable ones skipped)."""
    return {
        key: value
        for key, value in wanted.items()
        if key not in IMMUTABLE_CUSTOMER_FIELDS and not _same(value, existing.get(key))
    }


class QuickBooksConnector(ERPConnector):
    """QuickBooks Online through python-quickbooks + intuit-oauth (see module docstring)."""

    erp_name: ClassVar[str] = "quickbooks"
    display_name: ClassVar[str] = "QuickBooks Online"
    document_noun: ClassVar[str] = "Invoice"

    def __init__(
        self,
        hook: QuickBooksHook | None = None,
        *,
        conn_id: str = QuickBooksHook.default_conn_name,
        store: Any = None,
        config: QuickBooksConfig | None = None,
        bulk_lookup_threshold: int = 25,
    ) -> None:
        if hook is None:
            hook = (
                QuickBooksHook.from_params(config=config, store=store)
                if config
                else QuickBooksHook(conn_id, store=store)
            )
        self.hook = hook
        self.bulk_lookup_threshold = bulk_lookup_threshold

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def client(self) -> QuickBooksClient:
        return self.hook.get_conn()

    @property
    def store(self) -> Any:
        return self.hook.store

    @property
    def realm_id(self) -> str:
        return self.hook.config.realm_id

    def close(self) -> None:
        self.hook.close()

    def _rid(self, entity: str, key: str, digest: str) -> str:
        return request_id(self.realm_id, entity, key, digest)

    def _ledger(self, entity: str, keys: Sequence[str]) -> dict[str, Any]:
        return self.store.ledger_get_many(self.erp_name, entity, keys)

    @staticmethod
    def _failed(
        key: str, entity: str, exc: ERPError | str, digest: str = "", cls: ErrorClass | None = None
    ) -> Receipt:
        if isinstance(exc, ERPError):
            return Receipt.failed(key, entity, exc.error_class, exc.message, digest)
        return Receipt.failed(key, entity, cls or ErrorClass.VALIDATION, exc, digest)

    def _batch_create(
        self,
        entity: str,
        qbo_entity: str,
        pending: Sequence[_Pending],
        on_created: Callable[[_Pending, dict[str, Any]], Receipt],
        on_fault: Callable[[_Pending, ERPError], Receipt],
    ) -> dict[int, Receipt]:
        """Create records through both channels (batches of ``batch_size`` and single creates).

        The :class:`~erp_operators.quickbooks.channels.ChannelDispatcher` picks the channel per
        request. A refused request fails its own records only; a request that stays down
        (retriable after the client's retries) marks its records and every unsent one retriable,
        and nothing more is sent. A single create refused by QBO goes to ``on_fault`` like a
        refused batch item.
        """
        limits = self.hook.config.limits
        client = self.client
        dispatcher = ChannelDispatcher(
            client.limiter,
            limits.batch_size,
            limits.concurrent_requests,
            stop_on=(ERPAuthError, ERPRetriableError),
            tolerate=(ERPError,),
            use_singles=limits.single_channel,
        )

        def send_batch(chunk: list[_Pending]) -> dict[str, dict[str, Any]]:
            operations = [{"bId": p.bid, "operation": "create", qbo_entity: p.payload} for p in chunk]
            return client.batch(operations, [self._rid(entity, p.key, p.digest) for p in chunk])

        def send_single(p: _Pending) -> dict[str, Any]:
            return client.create(qbo_entity, p.payload, self._rid(entity, p.key, p.digest))

        done = dispatcher.run(pending, send_batch, send_single)
        out: dict[int, Receipt] = {}
        for sent in done.sent:
            if isinstance(sent.error, ERPAuthError) or (
                sent.error is not None and not isinstance(sent.error, ERPError)
            ):
                raise sent.error
            if isinstance(sent.error, ERPError):
                error = sent.error
                for p in sent.items:
                    stays_down = isinstance(error, ERPRetriableError) or sent.batch
                    out[p.index] = (
                        self._failed(p.key, entity, error, p.digest) if stays_down else on_fault(p, error)
                    )
            elif sent.batch:
                for p in sent.items:
                    item = sent.result.get(p.bid)
                    if item is None:
                        out[p.index] = self._failed(
                            p.key,
                            entity,
                            "QuickBooks batch answer has no item",
                            p.digest,
                            ErrorClass.RETRIABLE,
                        )
                    elif (error := client.item_error(item)) is not None:
                        out[p.index] = on_fault(p, error)
                    else:
                        out[p.index] = on_created(p, item[qbo_entity])
            else:
                out[sent.items[0].index] = on_created(sent.items[0], sent.result)
        for p in done.leftover:
            stopped = done.stopped_by
            reason = stopped if isinstance(stopped, ERPError) else "QuickBooks Online stopped answering"
            out[p.index] = self._failed(p.key, entity, reason, p.digest, ErrorClass.RETRIABLE)
        return out

    def _prepare(
        self,
        entity: str,
        records: Sequence[R],
        key: Callable[[R], str],
        build: Callable[[R], dict[str, Any]],
        known: Callable[[R], Receipt | None] = lambda record: None,
    ) -> tuple[dict[int, Receipt], dict[str, int], list[_Pending]]:
        """The common opening of every write: the first record of each key gets a payload.

        Returns the receipts settled already (a ``known`` one, or a failed one for a
        :class:`~erp_operators.quickbooks.payloads.PayloadError`), the index of each key's first
        record, and the records still to look up or write.
        """
        receipts: dict[int, Receipt] = {}
        first_of: dict[str, int] = {}
        todo: list[_Pending] = []
        for i, record in enumerate(records):
            k = key(record)
            if k in first_of:
                continue
            first_of[k] = i
            if (receipt := known(record)) is not None:
                receipts[i] = receipt
                continue
            try:
                payload = build(record)
            except payloads.PayloadError as exc:
                receipts[i] = self._failed(k, entity, str(exc))
                continue
            todo.append(_Pending(i, k, payload, payload_hash(payload)))
        return receipts, first_of, todo

    @staticmethod
    def _ledger_hit(entity: str, p: _Pending, entry: Any, same_payload: bool = False) -> Receipt | None:
        """An ``unchanged`` receipt when the ledger already holds a good ERP id for ``p``."""
        if not entry or not entry.erp_id or entry.status == "failed":
            return None
        if same_payload and entry.payload_hash != p.digest:
            return None
        return Receipt(
            p.key,
            entity,
            ReceiptStatus.UNCHANGED,
            entry.erp_id,
            entry.erp_number or "",
            payload_hash=p.digest,
        )

    def _settle_ledger_hits(
        self,
        entity: str,
        todo: Sequence[_Pending],
        ledger: Mapping[str, Any],
        receipts: dict[int, Receipt],
        same_payload: bool = False,
    ) -> list[_Pending]:
        """Receipts for the records the ledger settles; the rest (no look-up is made for the others)."""
        rest = []
        for p in todo:
            if (hit := self._ledger_hit(entity, p, ledger.get(p.key), same_payload)) is not None:
                receipts[p.index] = hit
            else:
                rest.append(p)
        return rest

    # -- contract -------------------------------------------------------------------------------
    def health_check(self) -> tuple[bool, str]:
        return self.hook.test_connection()

    def upsert_customers(self, customers: Sequence[Customer]) -> list[Receipt]:
        entity = ENTITY_CUSTOMER
        receipts, first_of, todo = self._prepare(
            entity, customers, lambda c: c.external_key, payloads.customer_payload
        )
        ledger = self._ledger(entity, [p.key for p in todo])
        todo = self._settle_ledger_hits(entity, todo, ledger, receipts, same_payload=True)
        finder = CachedFinder(
            self.client, "Customer", "DisplayName", preload=len(todo) >= self.bulk_lookup_threshold
        )
        to_create: list[_Pending] = []
        for p in todo:
            try:
                entry = ledger.get(p.key)
                existing, via_ledger = (
                    (finder.by_id(entry.erp_id), True) if entry and entry.erp_id else (None, False)
                )
                if existing is None:
                    via_ledger = False
                    email = (p.payload.get("PrimaryEmailAddr") or {}).get("Address", "")
                    existing = finder.by_email(email) or finder.by_name(p.payload["DisplayName"])
                if existing is None:
                    to_create.append(p)
                else:
                    receipts[p.index] = self._reconcile_customer(p, existing, via_ledger)
            except ERPAuthError:
                raise
            except ERPError as exc:
                receipts[p.index] = self._failed(p.key, entity, exc, p.digest)

        def created(p: _Pending, record: dict[str, Any]) -> Receipt:
            finder.index.add(record)
            return Receipt(p.key, entity, ReceiptStatus.CREATED, str(record["Id"]), payload_hash=p.digest)

        def fault(p: _Pending, error: ERPError) -> Receipt:
            if error.code != "6240":
                return self._failed(p.key, entity, error, p.digest)
            try:  # the name is taken: link to that customer instead of making another one
                existing = finder.by_name(p.payload["DisplayName"], refresh=True)
                if existing is None:
                    return self._failed(
                        p.key,
                        entity,
                        f"{error.message}: the name belongs to a vendor, employee or inactive customer",
                        p.digest,
                    )
                return self._reconcile_customer(p, existing, via_ledger=False)
            except ERPAuthError:
                raise
            except ERPError as exc:
                return self._failed(p.key, entity, exc, p.digest)

        receipts.update(self._batch_create(entity, "Customer", to_create, created, fault))
        return self._in_order(customers, receipts, first_of, lambda c: c.external_key)

    def _reconcile_customer(self, p: _Pending, existing: dict[str, Any], via_ledger: bool) -> Receipt:
        """Link to an existing customer, sparse-updating the fields that differ."""
        entity = ENTITY_CUSTOMER
        changes = differences(p.payload, existing)
        quiet = ReceiptStatus.UNCHANGED if via_ledger else ReceiptStatus.MATCHED
        if not changes:
            return Receipt(p.key, entity, quiet, str(existing["Id"]), payload_hash=p.digest)
        for attempt in (1, 2):
            body = {"Id": existing["Id"], "SyncToken": existing.get("SyncToken", "0"), **changes}
            rid = self._rid("customer-update", p.key, payload_hash(body))
            try:
                updated = self.client.sparse_update("Customer", body, rid)
            except ERPError as exc:
                if exc.code == "5010" and attempt == 1:  # stale SyncToken: re-read, diff again, retry once
                    existing = self.client.read("Customer", str(existing["Id"]))
                    changes = differences(p.payload, existing)
                    if not changes:
                        return Receipt(p.key, entity, quiet, str(existing["Id"]), payload_hash=p.digest)
                    continue
                if exc.code == "5010":
                    return Receipt.failed(p.key, entity, ErrorClass.RETRIABLE, exc.message, p.digest)
                raise
            return Receipt(p.key, entity, ReceiptStatus.UPDATED, str(updated["Id"]), payload_hash=p.digest)
        raise AssertionError("unreachable")

    def resolve_items(self, items: Sequence[Item], create_missing: bool = True) -> list[Receipt]:
        entity = ENTITY_ITEM

        def mapped(item: Item) -> Receipt | None:  # the mapping already names the ERP item
            return Receipt(item.sku, entity, ReceiptStatus.MATCHED, item.erp_ref) if item.erp_ref else None

        receipts, first_of, todo = self._prepare(
            entity, items, lambda item: item.sku, payloads.item_payload, known=mapped
        )
        ledger = self._ledger(entity, [p.key for p in todo])
        todo = self._settle_ledger_hits(entity, todo, ledger, receipts)
        finder = CachedFinder(self.client, "Item", "Name", preload=len(todo) >= self.bulk_lookup_threshold)
        to_create: list[_Pending] = []
        for p in todo:
            try:
                existing = finder.by_sku(p.key) or finder.by_name(p.payload["Name"])
            except ERPAuthError:
                raise
            except ERPError as exc:
                receipts[p.index] = self._failed(p.key, entity, exc, p.digest)
                continue
            if existing is not None:
                receipts[p.index] = Receipt(
                    p.key, entity, ReceiptStatus.MATCHED, str(existing["Id"]), payload_hash=p.digest
                )
            elif create_missing:
                to_create.append(p)
            else:
                receipts[p.index] = self._failed(
                    p.key,
                    entity,
                    f"unknown product: no QuickBooks item with SKU or name {p.payload['Name']!r}",
                    p.digest,
                )

        def created(p: _Pending, record: dict[str, Any]) -> Receipt:
            return Receipt(p.key, entity, ReceiptStatus.CREATED, str(record["Id"]), payload_hash=p.digest)

        def fault(p: _Pending, error: ERPError) -> Receipt:
            if error.code == "6240":
                existing = finder.by_name(p.payload["Name"], refresh=True)
                if existing is not None:
                    return Receipt(
                        p.key, entity, ReceiptStatus.MATCHED, str(existing["Id"]), payload_hash=p.digest
                    )
            return self._failed(p.key, entity, error, p.digest)

        receipts.update(self._batch_create(entity, "Item", to_create, created, fault))
        return self._in_order(items, receipts, first_of, lambda item: item.sku)

    def create_documents(
        self,
        docs: Sequence[SalesDocument],
        customer_refs: Mapping[str, str],
        item_refs: Mapping[str, str],
    ) -> list[Receipt]:
        entity = ENTITY_DOCUMENT

        def invoice_payload(doc: SalesDocument) -> dict[str, Any]:
            if DocumentKind(doc.kind) is not DocumentKind.INVOICE:
                raise payloads.PayloadError(
                    f"box {doc.external_key}: QuickBooks Online has no {doc.kind}; map it to an invoice"
                )
            customer_ref = customer_refs.get(doc.customer.external_key, "")
            return payloads.document_payload(doc, customer_ref, item_refs)

        receipts, first_of, todo = self._prepare(entity, docs, lambda d: d.external_key, invoice_payload)
        ledger = self._ledger(entity, [p.key for p in todo])
        unseen: list[_Pending] = []
        for p in todo:
            if (hit := self._ledger_hit(entity, p, ledger.get(p.key))) is not None:
                receipts[p.index] = hit
            else:
                unseen.append(p)
        customer_ids = {p.payload["CustomerRef"]["value"] for p in unseen}
        try:
            existing = self._invoices_with_markers(customer_ids) if unseen else {}
        except ERPAuthError:
            raise
        except ERPError as exc:  # cannot prove they do not exist yet: do not create blind
            for p in unseen:
                receipts[p.index] = self._failed(p.key, entity, exc, p.digest)
            unseen, existing = [], {}
        to_create: list[_Pending] = []
        for p in unseen:
            if (found := existing.get(p.key)) is not None:
                receipts[p.index] = self._doc_receipt(p, found, ReceiptStatus.UNCHANGED)
            else:
                to_create.append(p)

        def created(p: _Pending, record: dict[str, Any]) -> Receipt:
            return self._doc_receipt(p, record, ReceiptStatus.CREATED)

        def fault(p: _Pending, error: ERPError) -> Receipt:
            number = p.payload.get("DocNumber")
            if error.code == "6210" and number:
                try:
                    found = invoice_by_number(self.client, number)
                except ERPError as exc:
                    return self._failed(p.key, entity, exc, p.digest)
                if found is not None and payloads.marker_in(found.get("PrivateNote")) == p.key:
                    return self._doc_receipt(p, found, ReceiptStatus.UNCHANGED)
            return self._failed(p.key, entity, error, p.digest)

        receipts.update(self._batch_create(entity, "Invoice", to_create, created, fault))
        return self._in_order(docs, receipts, first_of, lambda d: d.external_key)

    def _invoices_with_markers(self, customer_ids: set[str]) -> dict[str, dict[str, Any]]:
        """Existing invoices of these customers that carry a box marker, by box key.

        One query per 50 customers, or (when that would take more requests) one scan of every
        invoice in pages of 1,000, whichever needs fewer requests.
        """
        by_customer = -(-len(customer_ids) // 50)
        if by_customer > 2:
            total = int(self.client.query("SELECT COUNT(*) FROM Invoice").get("totalCount", 0))
            if max(1, -(-total // MAX_RESULTS)) < by_customer:
                found: dict[str, dict[str, Any]] = {}
                for row in self.client.query_all("Invoice"):
                    key = payloads.marker_in(row.get("PrivateNote"))
                    if key and str((row.get("CustomerRef") or {}).get("value")) in customer_ids:
                        found.setdefault(key, row)
                return found
        return invoices_with_markers(self.client, customer_ids)

    @staticmethod
    def _doc_receipt(p: _Pending, record: Mapping[str, Any], status: ReceiptStatus) -> Receipt:
        return Receipt(
            p.key,
            ENTITY_DOCUMENT,
            status,
            str(record["Id"]),
            str(record.get("DocNumber") or ""),
            payload_hash=p.digest,
        )

    @staticmethod
    def _in_order(
        records: Sequence[Any],
        receipts: Mapping[int, Receipt],
        first_of: Mapping[str, int],
        key: Callable[[Any], str],
    ) -> list[Receipt]:
        """One receipt per input record, in input order (a repeated key shares the first one's receipt)."""
        return [receipts[i] if i in receipts else receipts[first_of[key(r)]] for i, r in enumerate(records)]

    def read_payments(self, since: datetime) -> list[Payment]:
        moment = since if since.tzinfo else since.replace(tzinfo=UTC)
        where = f"Metadata.LastUpdatedTime >= {quote(moment.isoformat(timespec='seconds'))}"
        invoices: dict[str, dict[str, Any] | None] = {}
        out: list[Payment] = []
        for payment in self.client.query_all("Payment", where):
            for line in payment.get("Line") or []:
                for linked in line.get("LinkedTxn") or []:
                    if linked.get("TxnType") != "Invoice":
                        continue
                    invoice_id = str(linked.get("TxnId"))
                    if invoice_id not in invoices:
                        try:
                            invoices[invoice_id] = self.client.read("Invoice", invoice_id)
                        except ERPError as exc:
                            if isinstance(exc, ERPAuthError | ERPRetriableError):
                                raise
                            invoices[invoice_id] = None
                    invoice = invoices[invoice_id]
                    box_key = payloads.marker_in((invoice or {}).get("PrivateNote"))
                    if invoice is None or box_key is None:
                        continue  # not a document this sync created
                    out.append(self._payment(payment, line, invoice, box_key))
        return out

    @staticmethod
    def _payment(
        payment: Mapping[str, Any], line: Mapping[str, Any], invoice: Mapping[str, Any], box_key: str
    ) -> Payment:
        currency = (payment.get("CurrencyRef") or invoice.get("CurrencyRef") or {}).get("value", "")
        return Payment(
            erp_id=str(payment["Id"]),
            document_external_key=box_key,
            amount=Decimal(str(line.get("Amount", payment.get("TotalAmt", 0)))),
            currency=currency,
            paid_date=date.fromisoformat(str(payment.get("TxnDate"))[:10]),
            erp_document_id=str(invoice["Id"]),
            erp_document_number=str(invoice.get("DocNumber") or ""),
            method=str((payment.get("PaymentMethodRef") or {}).get("name") or ""),
            reference=str(payment.get("PaymentRefNum") or ""),
            fully_paid=Decimal(str(invoice.get("Balance", "1"))) == 0,
        )

    def read_stock(self, skus: Sequence[str]) -> dict[str, Decimal]:
        wanted = {s.casefold(): s for s in skus}
        stock: dict[str, Decimal] = {}
        if not wanted:
            return stock
        for item in self.client.query_all("Item", "Type = 'Inventory'"):
            for key in (str(item.get("Sku") or ""), str(item.get("Name") or "")):
                sku = wanted.get(key.casefold())
                if sku and sku not in stock and item.get("TrackQtyOnHand"):
                    stock[sku] = Decimal(str(item.get("QtyOnHand", 0)))
        return stock
