"""QuickBooksConnector: the ERP connector contract for QuickBooks Online.

* Customers: ledger (external key -> Id, payload hash) first, then ``PrimaryEmailAddr``, then
  ``DisplayName``; new ones are created through both channels (batches of 30 while the 40
  batch requests a minute last, single creates with the rest of the 500 requests a minute).
  Two Streak records are never merged: a customer another record holds (ledger or this call)
  with different data, or one with another e-mail, is not linked by name; the record gets its
  own customer named ``"Name (<key tail>)"`` (:func:`payloads.distinct_name`), found again by
  that name or its e-mail on later runs. A 6240 (name already used) looks the name up afresh
  and applies the same rule. A changed customer gets a sparse update with its current
  ``SyncToken`` (a 5010 re-reads it and tries once more).
* Items: ``erp_ref`` from the mapping, then ledger, then ``Sku``, then ``Name``; missing items
  are created (batch) unless ``create_missing`` is False.
* Invoices: one per box. Before creating, the ledger and then the customer's existing invoices
  are searched for the box marker in ``PrivateNote``, so a lost ledger row never makes a second
  invoice; every write also carries a deterministic ``requestid``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from erp_operators.contract import ENTITY_CUSTOMER, ENTITY_DOCUMENT, ENTITY_ITEM, ERPConnector
from erp_operators.errors import ERPAuthError, ERPError, ERPRetriableError
from erp_operators.quickbooks import payloads
from erp_operators.quickbooks.channels import ChannelDispatcher
from erp_operators.quickbooks.client import MAX_RESULTS, QuickBooksClient, quote, request_id
from erp_operators.quickbooks.config import QuickBooksConfig
from erp_operators.quickbooks.hook import QuickBooksHook
from erp_operators.quickbooks.index_cache import CachedFinder
from erp_operators.quickbooks.matching import Owners, invoice_by_number, invoices_with_markers
from erp_operators.receipts import ErrorClass, Receipt, ReceiptStatus, payload_hash
from erp_operators.write_steps import Pending, failed, in_order, ledger_hit, prepare, settle_ledger_hits
from sync_core.canonical import Customer, DocumentKind, Item, Payment, SalesDocument

log = logging.getLogger(__name__)

IMMUTABLE_CUSTOMER_FIELDS = frozenset({"CurrencyRef"})  # QBO refuses to change a customer's currency
NAME_ROUNDS = 3  # creates of customers that share a DisplayName go one per name per round


def _bid(p: Pending) -> str:
    """The batch item id of ``p`` (unique within one batch request)."""
    return f"b{p.index}"[:10]


def _email_of(payload: Mapping[str, Any]) -> str:
    return str((payload.get("PrimaryEmailAddr") or {}).get("Address") or "")


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

    def _batch_create(
        self,
        entity: str,
        qbo_entity: str,
        pending: Sequence[Pending],
        on_created: Callable[[Pending, dict[str, Any]], Receipt],
        on_fault: Callable[[Pending, ERPError], Receipt],
    ) -> dict[int, Receipt]:
        """Create records through both channels (batches of ``batch_size`` and single creates).

        The :class:`~erp_operators.quickbooks.channels.ChannelDispatcher` picks the channel per
        request. A refused request fails its own records only; a request that stays down
        (retriable after the client's retries) marks its records and every unsent one retriable,
        and nothing more is sent. A single create refused by QBO goes to ``on_fault`` like a
        refused batch item; ``on_fault`` runs after every ``on_created``, so it sees all the
        records this call made. The request id hashes the body actually sent.
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

        def send_batch(chunk: list[Pending]) -> dict[str, dict[str, Any]]:
            operations = [{"bId": _bid(p), "operation": "create", qbo_entity: p.payload} for p in chunk]
            return client.batch(
                operations, [self._rid(entity, p.key, payload_hash(p.payload)) for p in chunk]
            )

        def send_single(p: Pending) -> dict[str, Any]:
            return client.create(qbo_entity, p.payload, self._rid(entity, p.key, payload_hash(p.payload)))

        done = dispatcher.run(pending, send_batch, send_single)
        out: dict[int, Receipt] = {}
        refused: list[tuple[Pending, ERPError]] = []
        for sent in done.sent:
            if isinstance(sent.error, ERPAuthError) or (
                sent.error is not None and not isinstance(sent.error, ERPError)
            ):
                raise sent.error
            if isinstance(sent.error, ERPError):
                error = sent.error
                for p in sent.items:
                    if isinstance(error, ERPRetriableError) or sent.batch:  # stays down
                        out[p.index] = failed(p.key, entity, error, p.digest)
                    else:
                        refused.append((p, error))
            elif sent.batch:
                for p in sent.items:
                    item = sent.result.get(_bid(p))
                    if item is None:
                        out[p.index] = failed(
                            p.key,
                            entity,
                            "QuickBooks batch answer has no item",
                            p.digest,
                            ErrorClass.RETRIABLE,
                        )
                    elif (error := client.item_error(item)) is not None:
                        refused.append((p, error))
                    else:
                        out[p.index] = on_created(p, item[qbo_entity])
            else:
                out[sent.items[0].index] = on_created(sent.items[0], sent.result)
        for p in done.leftover:
            stopped = done.stopped_by
            reason = stopped if isinstance(stopped, ERPError) else "QuickBooks Online stopped answering"
            out[p.index] = failed(p.key, entity, reason, p.digest, ErrorClass.RETRIABLE)
        for p, error in refused:
            out[p.index] = on_fault(p, error)
        return out

    def _finder(
        self,
        qbo_entity: str,
        name_field: str,
        entity: str,
        todo: Sequence[Pending],
        receipts: dict[int, Receipt],
    ) -> CachedFinder | None:
        """A finder for ``todo`` (preloaded for a bulk call), or None when the preload failed.

        A failed preload (after the client's retries) gives every record in ``todo`` a failed
        receipt of the error's class (retriable for an outage): nothing is created blind.
        """
        finder = CachedFinder(self.client, qbo_entity, name_field, preload=False)
        if len(todo) < self.bulk_lookup_threshold:
            return finder
        try:
            finder.preload()
        except ERPAuthError:
            raise
        except ERPError as exc:
            for p in todo:
                receipts[p.index] = failed(p.key, entity, exc, p.digest)
            return None
        return finder

    # -- contract -------------------------------------------------------------------------------
    def health_check(self) -> tuple[bool, str]:
        return self.hook.test_connection()

    def upsert_customers(self, customers: Sequence[Customer]) -> list[Receipt]:
        entity = ENTITY_CUSTOMER
        receipts, first_of, todo = prepare(
            entity, customers, lambda c: c.external_key, payloads.customer_payload, payloads.PayloadError
        )
        ledger = self._ledger(entity, [p.key for p in todo])
        todo = settle_ledger_hits(entity, todo, ledger, receipts, same_payload=True)
        finder = self._finder("Customer", "DisplayName", entity, todo, receipts)
        if finder is None:
            return in_order(customers, receipts, first_of, lambda c: c.external_key)
        owners = Owners(self.store, self.erp_name, entity)

        def settle(p: Pending, receipt: Receipt) -> None:
            receipts[p.index] = receipt
            if receipt.ok and receipt.erp_id:
                owners.claim(p.key, receipt.erp_id, p.digest)

        def mine(p: Pending, record: dict[str, Any] | None) -> bool:  # not another record's customer
            return record is not None and not owners.held_by_another(p.key, p.digest, str(record["Id"]))

        owners.prefetch(entry.erp_id for p in todo if (entry := ledger.get(p.key)) and entry.erp_id)
        by_name: list[Pending] = []
        for p in todo:
            try:
                entry = ledger.get(p.key)
                existing = finder.by_id(entry.erp_id) if entry and entry.erp_id else None
                via_ledger = mine(p, existing)
                if not via_ledger:
                    existing = finder.by_email(_email_of(p.payload))
                if existing is not None and mine(p, existing):
                    settle(p, self._reconcile_customer(p, existing, via_ledger))
                else:
                    by_name.append(p)
            except ERPAuthError:
                raise
            except ERPError as exc:
                receipts[p.index] = failed(p.key, entity, exc, p.digest)
        self._place_by_name(by_name, finder, owners, settle)
        return in_order(customers, receipts, first_of, lambda c: c.external_key)

    def _place_by_name(
        self,
        waiting: list[Pending],
        finder: CachedFinder,
        owners: Owners,
        settle: Callable[[Pending, Receipt], None],
    ) -> None:
        """Link each record to the customer with its DisplayName, or create one (see :meth:`_by_name`).

        New customers are created one per DisplayName per round, so a second record with the same
        name sees the customer the first one made. A create refused with 6240 (the name was taken
        by a customer the look-up missed) is looked at again, freshly, in the next round.
        """
        entity = ENTITY_CUSTOMER
        originals = {p.index: p for p in waiting}
        taken: dict[int, ERPError] = {}
        later: list[Pending] = []

        def created(p: Pending, record: dict[str, Any]) -> Receipt:
            finder.index.add(record)
            return Receipt(p.key, entity, ReceiptStatus.CREATED, str(record["Id"]), payload_hash=p.digest)

        def fault(p: Pending, error: ERPError) -> Receipt:
            if error.code != "6240":
                return failed(p.key, entity, error, p.digest)
            taken[p.index] = error
            later.append(originals[p.index])
            message = f"{error.message}: DisplayName {p.payload['DisplayName']!r} is still contested"
            return failed(p.key, entity, message, p.digest, ErrorClass.RETRIABLE)

        for _ in range(NAME_ROUNDS):
            creates: list[Pending] = []
            names: set[str] = set()
            later = []
            for p in waiting:
                try:
                    outcome = self._by_name(p, finder, owners, taken.pop(p.index, None))
                except ERPAuthError:
                    raise
                except ERPError as exc:
                    settle(p, failed(p.key, entity, exc, p.digest))
                    continue
                if isinstance(outcome, Receipt):
                    settle(p, outcome)
                elif (name := str(outcome["DisplayName"]).casefold()) in names:
                    later.append(p)  # waits for the customer the first one with this name makes
                else:
                    names.add(name)
                    creates.append(Pending(p.index, p.key, outcome, p.digest))
            for index, receipt in self._batch_create(entity, "Customer", creates, created, fault).items():
                settle(originals[index], receipt)
            waiting = later
            if not waiting:
                return
        for p in waiting:
            if p.index not in taken:
                message = f"customer {p.key}: DisplayName {p.payload['DisplayName']!r} is still contested"
                settle(p, failed(p.key, entity, message, p.digest, ErrorClass.RETRIABLE))

    def _by_name(
        self, p: Pending, finder: CachedFinder, owners: Owners, taken: ERPError | None
    ) -> Receipt | dict[str, Any]:
        """A receipt linking ``p`` to a customer found by DisplayName, or the body to create.

        The customer with ``p``'s name is linked only when :meth:`Owners.may_link` allows it (no
        other record holds it with different data, no other e-mail on it). Otherwise ``p`` gets a
        customer of its own named :func:`~erp_operators.quickbooks.payloads.distinct_name`, found
        again by that name on later runs. ``taken`` is the 6240 a create of ``p`` just got.
        """
        entity = ENTITY_CUSTOMER
        name = p.payload["DisplayName"]
        email = _email_of(p.payload)
        refresh = taken is not None
        existing = finder.by_name(name, refresh=refresh)
        if existing is None:
            if taken is not None:
                message = (
                    f"customer {p.key}: DisplayName {name!r} belongs to a vendor, employee or inactive "
                    f"customer ({taken.message})"
                )
                return failed(p.key, entity, message, p.digest)
            return p.payload
        if owners.may_link(p.key, p.digest, email, existing):
            return self._reconcile_customer(p, existing, via_ledger=False)
        alt = payloads.distinct_name(name, p.key)
        own = finder.by_name(alt, refresh=refresh)
        if own is None:
            return {**p.payload, "DisplayName": alt}
        if owners.may_link(p.key, p.digest, email, own):
            return self._reconcile_customer(p, own, via_ledger=False)
        message = f"customer {p.key}: DisplayName {name!r} and {alt!r} both belong to other customers"
        return failed(p.key, entity, message, p.digest)

    @staticmethod
    def _wanted(p: Pending, existing: Mapping[str, Any]) -> dict[str, Any]:
        """``p``'s body, keeping the distinct DisplayName ``p``'s customer was given, if it was."""
        held = str(existing.get("DisplayName") or "")
        if held.casefold() == payloads.distinct_name(p.payload["DisplayName"], p.key).casefold():
            return {**p.payload, "DisplayName": held}
        return p.payload

    def _reconcile_customer(self, p: Pending, existing: dict[str, Any], via_ledger: bool) -> Receipt:
        """Link to an existing customer, sparse-updating the fields that differ."""
        entity = ENTITY_CUSTOMER
        changes = differences(self._wanted(p, existing), existing)
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
                    changes = differences(self._wanted(p, existing), existing)
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

        receipts, first_of, todo = prepare(
            entity, items, lambda item: item.sku, payloads.item_payload, payloads.PayloadError, known=mapped
        )
        ledger = self._ledger(entity, [p.key for p in todo])
        todo = settle_ledger_hits(entity, todo, ledger, receipts)
        finder = self._finder("Item", "Name", entity, todo, receipts)
        if finder is None:
            return in_order(items, receipts, first_of, lambda item: item.sku)
        to_create: list[Pending] = []
        for p in todo:
            try:
                existing = finder.by_sku(p.key) or finder.by_name(p.payload["Name"])
            except ERPAuthError:
                raise
            except ERPError as exc:
                receipts[p.index] = failed(p.key, entity, exc, p.digest)
                continue
            if existing is not None:
                receipts[p.index] = Receipt(
                    p.key, entity, ReceiptStatus.MATCHED, str(existing["Id"]), payload_hash=p.digest
                )
            elif create_missing:
                to_create.append(p)
            else:
                receipts[p.index] = failed(
                    p.key,
                    entity,
                    f"unknown product: no QuickBooks item with SKU or name {p.payload['Name']!r}",
                    p.digest,
                )

        def created(p: Pending, record: dict[str, Any]) -> Receipt:
            return Receipt(p.key, entity, ReceiptStatus.CREATED, str(record["Id"]), payload_hash=p.digest)

        def fault(p: Pending, error: ERPError) -> Receipt:
            if error.code == "6240":
                existing = finder.by_name(p.payload["Name"], refresh=True)
                if existing is not None:
                    return Receipt(
                        p.key, entity, ReceiptStatus.MATCHED, str(existing["Id"]), payload_hash=p.digest
                    )
            return failed(p.key, entity, error, p.digest)

        receipts.update(self._batch_create(entity, "Item", to_create, created, fault))
        return in_order(items, receipts, first_of, lambda item: item.sku)

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

        receipts, first_of, todo = prepare(
            entity, docs, lambda d: d.external_key, invoice_payload, payloads.PayloadError
        )
        ledger = self._ledger(entity, [p.key for p in todo])
        unseen: list[Pending] = []
        for p in todo:
            if (hit := ledger_hit(entity, p, ledger.get(p.key))) is not None:
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
                receipts[p.index] = failed(p.key, entity, exc, p.digest)
            unseen, existing = [], {}
        to_create: list[Pending] = []
        for p in unseen:
            if (found := existing.get(p.key)) is not None:
                receipts[p.index] = self._doc_receipt(p, found, ReceiptStatus.UNCHANGED)
            else:
                to_create.append(p)

        def created(p: Pending, record: dict[str, Any]) -> Receipt:
            return self._doc_receipt(p, record, ReceiptStatus.CREATED)

        def fault(p: Pending, error: ERPError) -> Receipt:
            number = p.payload.get("DocNumber")
            if error.code == "6210" and number:
                try:
                    found = invoice_by_number(self.client, number)
                except ERPError as exc:
                    return failed(p.key, entity, exc, p.digest)
                if found is not None and payloads.marker_in(found.get("PrivateNote")) == p.key:
                    return self._doc_receipt(p, found, ReceiptStatus.UNCHANGED)
            return failed(p.key, entity, error, p.digest)

        receipts.update(self._batch_create(entity, "Invoice", to_create, created, fault))
        return in_order(docs, receipts, first_of, lambda d: d.external_key)

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
    def _doc_receipt(p: Pending, record: Mapping[str, Any], status: ReceiptStatus) -> Receipt:
        return Receipt(
            p.key,
            ENTITY_DOCUMENT,
            status,
            str(record["Id"]),
            str(record.get("DocNumber") or ""),
            payload_hash=p.digest,
        )

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
