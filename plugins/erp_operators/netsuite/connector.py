"""NetSuiteConnector: the ERP connector contract for NetSuite (SuiteTalk REST, token-based auth).

* Customers and items carry ``externalId`` = the Streak key and are written with the upsert
  (``PUT {type}/eid:{key}``), so a retry or a lost answer can never make a second copy. Before
  writing: the ledger (same payload hash -> ``unchanged``), then SuiteQL by ``externalid``, then by
  e-mail / name (a record a human made is linked, ``matched``, and only its differing fields are
  patched). More than ``bulk_threshold`` new records go through the async batch (<= 100 per job).
* Two Streak records are never merged into one customer (:mod:`erp_operators.matching_rules`): a
  customer another record holds with different data (ledger, this call, or its ``externalId``),
  or one with another e-mail, is not linked by name; the record gets its own customer with the
  unique ``entityId`` ``"Name (<key tail>)"`` (its ``companyName`` stays the name). Customers
  that share an ``entityId`` are created one per name per round, so the second sees the first.
* Sales documents: one per box, ``externalId`` = box key. The ledger, then SuiteQL by
  ``externalid`` are searched before a ``POST``; a ``DUP_RCRD`` answer (an earlier attempt did
  land) is resolved by looking the order up. When ``erp_defaults.invoice_from_order`` is set, each
  sales order is transformed into an invoice (``!transform/invoice``) unless an invoice
  ``createdfrom`` it exists already. The receipt's ``erp_number`` is the order's ``tranId``.
* Payments and stock are read by :mod:`erp_operators.netsuite.reads`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from erp_operators.contract import ENTITY_CUSTOMER, ENTITY_DOCUMENT, ENTITY_ITEM, ERPConnector
from erp_operators.errors import ERPAuthError, ERPError, ERPRetriableError
from erp_operators.matching_rules import Owners, emails_clash
from erp_operators.netsuite import payloads, reads
from erp_operators.netsuite.client import BATCH_MAX, NetSuiteClient
from erp_operators.netsuite.hook import NetSuiteConfig, NetSuiteHook
from erp_operators.netsuite.payloads import NetSuiteSettings
from erp_operators.receipts import ErrorClass, Receipt, ReceiptStatus
from erp_operators.write_steps import Pending, failed, in_order, prepare, settle_ledger_hits
from sync_core.canonical import Customer, Item, Payment, SalesDocument

log = logging.getLogger(__name__)

CUSTOMER_COLUMNS = "id, externalid, entityid, companyname, email, phone, isperson, firstname, lastname"
ITEM_COLUMNS = "id, externalid, itemid, displayname, itemtype"
TRANSACTION_COLUMNS = "id, externalid, tranid, type"
# Fields of a customer a human made that the sync never changes when it links to it.
FOREIGN_IMMUTABLE = frozenset({"externalId", "subsidiary", "currency", "isPerson"})
TABLES = {"customer": "customer", "salesOrder": "transaction", "invoice": "transaction"}  # else item
NOT_COMPARED = FOREIGN_IMMUTABLE | {"entityId"}  # not data: what tells two records' customers apart
NAME_ROUNDS = 3  # creates of customers that share an entityId go one per name per round
ITEM_TYPES_BY_CODE = {
    "InvtPart": "inventoryItem",
    "NonInvtPart": "nonInventorySaleItem",
    "Service": "serviceSaleItem",
}


def _email_of(body_or_row: Mapping[str, Any]) -> str:
    return str(body_or_row.get("email") or "").strip().lower()


def _same(wanted: Any, actual: Any) -> bool:
    if isinstance(wanted, bool):
        return str(actual) in (("T", "true", "True") if wanted else ("F", "false", "False", "None", ""))
    if isinstance(wanted, int | float):
        try:
            return Decimal(str(wanted)) == Decimal(str(actual))
        except ArithmeticError:
            return False
    return str(wanted).strip() == str(actual if actual is not None else "").strip()


def differences(
    payload: Mapping[str, Any], row: Mapping[str, Any], skip: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Fields of ``payload`` whose value differs from the SuiteQL ``row``.

    Only columns the query selected are compared; sublists (addresses, lines) are not.
    """
    changed: dict[str, Any] = {}
    for key, value in payload.items():
        if key in skip or key.lower() not in row:  # compare only what was read back
            continue
        if isinstance(value, dict):
            if "items" in value:
                continue
            if not _same(value.get("id"), row.get(key.lower())):
                changed[key] = value
        elif not _same(value, row.get(key.lower())):
            changed[key] = value
    return changed


class NetSuiteConnector(ERPConnector):
    """NetSuite through its REST web services (see module docstring)."""

    erp_name: ClassVar[str] = "netsuite"
    display_name: ClassVar[str] = "NetSuite"
    document_noun: ClassVar[str] = "Sales order"

    def __init__(
        self,
        hook: NetSuiteHook | None = None,
        *,
        conn_id: str = NetSuiteHook.default_conn_name,
        store: Any = None,
        config: NetSuiteConfig | None = None,
        settings: NetSuiteSettings | None = None,
        bulk_threshold: int = 5,
    ) -> None:
        if hook is None:
            hook = NetSuiteHook.from_config(config) if config else NetSuiteHook(conn_id)
        self.hook = hook
        self._store = store
        self._settings = settings
        self.bulk_threshold = bulk_threshold

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def client(self) -> NetSuiteClient:
        return self.hook.get_conn()

    @property
    def store(self) -> Any:
        if self._store is None:
            from sync_core.state import StateStore

            self._store = StateStore.from_connection().create_all()
        return self._store

    @property
    def settings(self) -> NetSuiteSettings:
        if self._settings is None:
            from sync_core.mapping import load_mapping

            self._settings = NetSuiteSettings.from_mapping(load_mapping(self.erp_name))
        return self._settings

    def close(self) -> None:
        self.hook.close()

    def _ledger(self, entity: str, keys: Sequence[str]) -> dict[str, Any]:
        return self.store.ledger_get_many(self.erp_name, entity, keys)

    def _write_new(
        self, entity: str, pending: Sequence[Pending], what: Callable[[Pending], str], method: str = "PUT"
    ) -> dict[int, tuple[str, ERPError | None]]:
        """Write new records (upsert by external id, or POST); ``index -> (id, error)``.

        Up to ``bulk_threshold`` records go one by one; more go through the async batch, at most 100
        per job and one record type per job. A batch that stays down (retriable) marks its chunk and
        every later one retriable and stops; a refused batch fails only its own chunk.
        """
        out: dict[int, tuple[str, ERPError | None]] = {}
        if len(pending) <= self.bulk_threshold:
            for p in pending:
                try:
                    if method == "PUT":
                        record_id = self.client.upsert(p.rtype, p.key, p.payload, what(p))
                    else:
                        record_id = self.client.create(p.rtype, p.payload, what(p))
                    out[p.index] = (record_id, None)
                except ERPAuthError:
                    raise
                except ERPError as exc:
                    out[p.index] = ("", exc)
            return out
        chunks: list[list[Pending]] = []
        for rtype in dict.fromkeys(p.rtype for p in pending):
            same = [p for p in pending if p.rtype == rtype]
            chunks += [same[i : i + BATCH_MAX] for i in range(0, len(same), BATCH_MAX)]
        for n, chunk in enumerate(chunks):
            label = f"a batch of {len(chunk)} {chunk[0].rtype} record(s)"
            try:
                results = self.client.batch(chunk[0].rtype, method, [p.payload for p in chunk], label)
            except ERPAuthError:
                raise
            except ERPError as exc:
                retriable = isinstance(exc, ERPRetriableError)
                for later in chunks[n:] if retriable else [chunk]:
                    for p in later:
                        out[p.index] = ("", exc)
                if retriable:
                    break
                continue
            for p, result in zip(chunk, results, strict=True):
                if result.ok:
                    out[p.index] = (result.id, None)
                else:
                    out[p.index] = ("", result.error or ERPRetriableError(f"{what(p)}: no batch result"))
        self._fill_missing_ids(pending, out)
        return out

    def _create_once_per_name(
        self,
        entity: str,
        to_create: Sequence[Pending],
        name_field: str,
        receipts: dict[int, Receipt],
        taken: Callable[[Pending, ERPError], Receipt | None],
    ) -> None:
        """Create the new records, one per name (NetSuite's names are unique, without case).

        Keys that share a name with an earlier key in the same call are matched to its record.
        ``taken`` turns a refusal (the name exists already) into a receipt, or None to fail it.
        """
        leaders: dict[str, Pending] = {}
        followers: list[tuple[Pending, Pending]] = []
        for p in to_create:
            name = str(p.payload[name_field]).casefold()
            if name in leaders:
                followers.append((p, leaders[name]))
            else:
                leaders[name] = p
        written = self._write_new(entity, list(leaders.values()), lambda p: f"{entity} {p.key}")
        for p in leaders.values():
            record_id, error = written[p.index]
            if error is None:
                receipts[p.index] = Receipt(
                    p.key, entity, ReceiptStatus.CREATED, record_id, payload_hash=p.digest
                )
            else:
                receipts[p.index] = taken(p, error) or failed(p.key, entity, error, p.digest)
        for p, leader in followers:
            lead = receipts[leader.index]
            receipts[p.index] = (
                Receipt(p.key, entity, ReceiptStatus.MATCHED, lead.erp_id, payload_hash=p.digest)
                if lead.ok
                else failed(p.key, entity, lead.message, p.digest, lead.error_class)
            )

    def _fill_missing_ids(
        self, pending: Sequence[Pending], out: dict[int, tuple[str, ERPError | None]]
    ) -> None:
        """A batch result that said "done" without an id: find the record by its external id."""
        missing = [p for p in pending if p.index in out and out[p.index][1] is None and not out[p.index][0]]
        if not missing:
            return
        table = TABLES.get(missing[0].rtype, "item")
        try:
            rows = self.client.select_in(table, "id, externalid", "externalid", [p.key for p in missing])
        except ERPAuthError:
            raise
        except ERPError as exc:
            for p in missing:
                out[p.index] = ("", exc)
            return
        found = {str(r["externalid"]): str(r["id"]) for r in rows}
        for p in missing:
            out[p.index] = (
                (found[p.key], None)
                if p.key in found
                else (
                    "",
                    ERPRetriableError(f"NetSuite reported {p.rtype} {p.key} written but has no such record"),
                )
            )

    # -- contract -------------------------------------------------------------------------------
    def health_check(self) -> tuple[bool, str]:
        return self.hook.test_connection()

    def upsert_customers(self, customers: Sequence[Customer]) -> list[Receipt]:
        entity = ENTITY_CUSTOMER
        receipts, first_of, todo = prepare(
            entity,
            customers,
            lambda c: c.external_key,
            lambda c: payloads.customer_payload(c, self.settings),
            payloads.PayloadError,
            digest=payloads.customer_digest,
        )
        for p in todo:
            p.rtype = "customer"
        ledger = self._ledger(entity, [p.key for p in todo])
        remaining = settle_ledger_hits(entity, todo, ledger, receipts, same_payload=True)
        try:
            self._settle_customers(remaining, ledger, receipts)
        except ERPAuthError:
            raise
        except ERPError as exc:  # the lookups failed: nothing can be written safely
            for p in remaining:
                receipts.setdefault(p.index, failed(p.key, entity, exc, p.digest))
        return in_order(customers, receipts, first_of, lambda c: c.external_key)

    def _customer_rows(self, column: str, values: Sequence[str], lower: bool = False) -> list[dict[str, Any]]:
        return self.client.select_in("customer", CUSTOMER_COLUMNS, column, values, lower=lower)

    def _settle_customers(
        self, remaining: list[Pending], ledger: Mapping[str, Any], receipts: dict[int, Receipt]
    ) -> None:
        """Refresh our own customers (by external id), link by ledger or e-mail, then place by name.

        A customer found by ledger, e-mail or name is linked only when that merges no two Streak
        records (:meth:`_mine`, :meth:`_may_link`); the rest go to :meth:`_place_by_name`.
        """
        entity = ENTITY_CUSTOMER
        if not remaining:
            return
        owners = Owners(self.store, self.erp_name, entity)

        def settle(p: Pending, receipt: Receipt) -> None:
            receipts[p.index] = receipt
            if receipt.ok and receipt.erp_id:
                owners.claim(p.key, receipt.erp_id, p.digest)

        ours = {
            str(r["externalid"]): r for r in self._customer_rows("externalid", [p.key for p in remaining])
        }
        others = [p for p in remaining if p.key not in ours]
        linked_ids = [e.erp_id for p in others if (e := ledger.get(p.key)) and e.erp_id]
        by_id = {str(r["id"]): r for r in self._customer_rows("id", linked_ids)} if linked_ids else {}
        owners.prefetch([*linked_ids, *(str(r["id"]) for r in ours.values())])
        emails = [_email_of(p.payload) for p in others if _email_of(p.payload)]
        by_email: dict[str, list[dict[str, Any]]] = {}
        for row in self._customer_rows("email", emails, lower=True) if emails else []:
            by_email.setdefault(_email_of(row), []).append(row)
        for p in remaining:
            if (row := ours.get(p.key)) is not None:
                try:
                    settle(p, self._refresh_ours(p, row))
                except ERPAuthError:
                    raise
                except ERPError as exc:
                    receipts[p.index] = failed(p.key, entity, exc, p.digest)
        by_name: list[Pending] = []
        for p in others:
            entry = ledger.get(p.key)
            row = by_id.get(entry.erp_id) if entry and entry.erp_id else None
            via_ledger = row is not None and self._mine(p, row, owners)
            if not via_ledger:
                row = next(
                    (r for r in by_email.get(_email_of(p.payload), []) if self._mine(p, r, owners)), None
                )
            if row is None:
                by_name.append(p)
                continue
            try:
                settle(p, self._link_foreign(p, row, via_ledger))
            except ERPAuthError:
                raise
            except ERPError as exc:
                receipts[p.index] = failed(p.key, entity, exc, p.digest)
        self._place_by_name(by_name, owners, settle)

    def _mine(self, p: Pending, row: Mapping[str, Any], owners: Owners) -> bool:
        """True when linking ``row`` to ``p`` takes over no other Streak record's customer.

        Another record holds it with different data when the ledger or this call says so, or when
        the row carries another record's external id and data unlike ``p``'s.
        """
        other = str(row.get("externalid") or "")
        if other and other != p.key and self._changes(p, row, NOT_COMPARED):
            return False
        return not owners.held_by_another(p.key, p.digest, str(row["id"]))

    def _may_link(self, p: Pending, row: Mapping[str, Any], owners: Owners) -> bool:
        """:meth:`_mine`, and the row's e-mail is empty or ``p``'s (for a customer found by name)."""
        return not emails_clash(_email_of(p.payload), _email_of(row)) and self._mine(p, row, owners)

    def _name_index(self, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Customers whose ``entityid`` (first) or ``companyname`` is one of ``names``, by lower-case name."""
        index: dict[str, list[dict[str, Any]]] = {}
        for column in ("entityid", "companyname"):
            for row in self._customer_rows(column, names, lower=True):
                bucket = index.setdefault(str(row.get(column) or "").lower(), [])
                if all(str(r["id"]) != str(row["id"]) for r in bucket):
                    bucket.append(row)
        return index

    def _place_by_name(
        self, waiting: list[Pending], owners: Owners, settle: Callable[[Pending, Receipt], None]
    ) -> None:
        """Link each record to the customer with its name, or create one (see :meth:`_by_name`).

        New customers are created one per ``entityId`` per round, and every round looks the names
        up afresh, so a second record with the same name sees the customer the first one made. A
        create refused with ``DUP_ENTITY`` (a customer the look-up missed) is looked at again.
        """
        entity = ENTITY_CUSTOMER
        tried: dict[int, tuple[str, ERPError]] = {}  # index -> (entityId refused, the refusal)
        for _ in range(NAME_ROUNDS):
            if not waiting:
                return
            names = [
                n
                for p in waiting
                for n in (p.payload["entityId"], payloads.distinct_entity_id(p.payload["entityId"], p.key))
            ]
            try:
                index = self._name_index(names)
            except ERPAuthError:
                raise
            except ERPError as exc:  # cannot prove the names are free: do not create blind
                for p in waiting:
                    settle(p, failed(p.key, entity, exc, p.digest))
                return
            creates: list[Pending] = []
            seen: set[str] = set()
            later: list[Pending] = []
            for p in waiting:
                try:
                    outcome = self._by_name(p, index, owners, tried.pop(p.index, None))
                except ERPAuthError:
                    raise
                except ERPError as exc:
                    settle(p, failed(p.key, entity, exc, p.digest))
                    continue
                if isinstance(outcome, Receipt):
                    settle(p, outcome)
                elif (name := str(outcome["entityId"]).lower()) in seen:
                    later.append(p)  # waits for the customer the first one with this name makes
                else:
                    seen.add(name)
                    creates.append(Pending(p.index, p.key, outcome, p.digest, p.rtype))
            written = self._write_new(entity, creates, lambda c: f"{entity} {c.key}")
            originals = {p.index: p for p in waiting}
            for c in creates:
                record_id, error = written[c.index]
                if error is None:
                    settle(c, Receipt(c.key, entity, ReceiptStatus.CREATED, record_id, payload_hash=c.digest))
                elif error.code == "DUP_ENTITY":
                    tried[c.index] = (str(c.payload["entityId"]), error)
                    later.append(originals[c.index])
                else:
                    settle(c, failed(c.key, entity, error, c.digest))
            waiting = later
        for p in waiting:
            message = f"customer {p.key}: entityId {p.payload['entityId']!r} is still contested"
            settle(p, failed(p.key, entity, message, p.digest, ErrorClass.RETRIABLE))

    def _by_name(
        self,
        p: Pending,
        index: Mapping[str, list[dict[str, Any]]],
        owners: Owners,
        tried: tuple[str, ERPError] | None,
    ) -> Receipt | dict[str, Any]:
        """A receipt linking ``p`` to a customer found by name, or the body to create.

        A customer with ``p``'s name is linked only when :meth:`_may_link` allows it. Otherwise
        ``p`` gets a customer of its own: with its plain ``entityId`` when no customer has that
        id, else with :func:`~erp_operators.netsuite.payloads.distinct_entity_id`. ``tried`` is
        the ``entityId`` a create of ``p`` just had refused as taken, and the refusal.
        """
        entity = ENTITY_CUSTOMER
        name = str(p.payload["entityId"])
        alt = payloads.distinct_entity_id(name, p.key)
        for candidate in (name, alt):
            rows = index.get(candidate.lower(), [])
            if (row := next((r for r in rows if self._may_link(p, r, owners)), None)) is not None:
                return self._link_foreign(p, row, via_ledger=False)
            if not any(str(r.get("entityid") or "").lower() == candidate.lower() for r in rows):
                if tried is not None and tried[0].lower() == candidate.lower():
                    message = (
                        f"customer {p.key}: entityId {candidate!r} belongs to a record the look-up "
                        f"cannot see ({tried[1].message})"
                    )
                    return failed(p.key, entity, message, p.digest)
                return {**p.payload, "entityId": candidate}
        message = f"customer {p.key}: entityId {name!r} and {alt!r} both belong to other customers"
        return failed(p.key, entity, message, p.digest)

    @staticmethod
    def _wanted(p: Pending, row: Mapping[str, Any]) -> dict[str, Any]:
        """``p``'s customer body, keeping the distinct ``entityId`` its customer was given, if it was."""
        held = str(row.get("entityid") or "")
        if (
            p.rtype == "customer"
            and held.lower() == payloads.distinct_entity_id(p.payload["entityId"], p.key).lower()
        ):
            return {**p.payload, "entityId": held}
        return p.payload

    def _changes(self, p: Pending, row: Mapping[str, Any], skip: frozenset[str]) -> dict[str, Any]:
        """Fields of ``p``'s customer body that differ from ``row`` (a person has no company name)."""
        changes = differences(self._wanted(p, row), row, skip)
        if row.get("isperson") == "T":
            changes.pop("companyName", None)
        return changes

    def _refresh_ours(self, p: Pending, row: Mapping[str, Any]) -> Receipt:
        """A customer/item we wrote before (found by external id): upsert again only if it changed.

        A customer whose new name another customer holds keeps a distinct ``entityId``.
        """
        entity = ENTITY_CUSTOMER if p.rtype == "customer" else ENTITY_ITEM
        body = self._wanted(p, row)
        if not differences(body, row):
            return Receipt(p.key, entity, ReceiptStatus.UNCHANGED, str(row["id"]), payload_hash=p.digest)
        try:
            record_id = self.client.upsert(p.rtype, p.key, body, f"{entity} {p.key}")
        except ERPError as exc:
            if exc.code != "DUP_ENTITY" or entity != ENTITY_CUSTOMER:
                raise
            body = {**body, "entityId": payloads.distinct_entity_id(p.payload["entityId"], p.key)}
            record_id = self.client.upsert(p.rtype, p.key, body, f"{entity} {p.key}")
        return Receipt(p.key, entity, ReceiptStatus.UPDATED, record_id, payload_hash=p.digest)

    def _link_foreign(self, p: Pending, row: Mapping[str, Any], via_ledger: bool) -> Receipt:
        """Link to a customer found by ledger, e-mail or name; patch the fields that differ (never its keys)."""
        entity = ENTITY_CUSTOMER
        changes = self._changes(p, row, FOREIGN_IMMUTABLE)
        if not changes:
            status = ReceiptStatus.UNCHANGED if via_ledger else ReceiptStatus.MATCHED
            return Receipt(p.key, entity, status, str(row["id"]), payload_hash=p.digest)
        self.client.update("customer", str(row["id"]), changes, f"customer {p.key} (NetSuite id {row['id']})")
        return Receipt(p.key, entity, ReceiptStatus.UPDATED, str(row["id"]), payload_hash=p.digest)

    def resolve_items(self, items: Sequence[Item], create_missing: bool = True) -> list[Receipt]:
        entity = ENTITY_ITEM

        def mapped(item: Item) -> Receipt | None:
            return Receipt(item.sku, entity, ReceiptStatus.MATCHED, item.erp_ref) if item.erp_ref else None

        types = {i.sku: payloads.item_record_type(i) for i in items}
        receipts, first_of, todo = prepare(
            entity,
            items,
            lambda i: i.sku,
            lambda i: payloads.item_payload(i, self.settings),
            payloads.PayloadError,
            known=mapped,
        )
        for p in todo:
            p.rtype = types[p.key]
        remaining = settle_ledger_hits(entity, todo, self._ledger(entity, [p.key for p in todo]), receipts)
        try:
            self._settle_items(remaining, receipts, create_missing)
        except ERPAuthError:
            raise
        except ERPError as exc:
            for p in remaining:
                receipts.setdefault(p.index, failed(p.key, entity, exc, p.digest))
        return in_order(items, receipts, first_of, lambda i: i.sku)

    def _settle_items(
        self, remaining: list[Pending], receipts: dict[int, Receipt], create_missing: bool
    ) -> None:
        entity = ENTITY_ITEM
        if not remaining:
            return
        select = self.client.select_in
        ours = {
            str(r["externalid"]): r
            for r in select("item", ITEM_COLUMNS, "externalid", [p.key for p in remaining])
        }
        rest = [p for p in remaining if p.key not in ours]
        by_sku: dict[str, dict[str, Any]] = {}
        by_name: dict[str, dict[str, Any]] = {}
        if rest:
            for row in select("item", ITEM_COLUMNS, "itemid", [p.key for p in rest], lower=True):
                by_sku.setdefault(str(row.get("itemid") or "").lower(), row)
            names = [str(p.payload["itemId"]) for p in rest]
            for column in ("itemid", "displayname"):
                for row in select("item", ITEM_COLUMNS, column, names, lower=True):
                    by_name.setdefault(str(row.get(column) or "").lower(), row)
        to_create: list[Pending] = []
        for p in remaining:
            if (row := ours.get(p.key)) is not None:
                p.rtype = ITEM_TYPES_BY_CODE.get(str(row.get("itemtype")), p.rtype)
                try:
                    receipts[p.index] = self._refresh_ours(p, row)
                except ERPAuthError:
                    raise
                except ERPError as exc:
                    receipts[p.index] = failed(p.key, entity, exc, p.digest)
                continue
            row = by_sku.get(p.key.lower()) or by_name.get(str(p.payload["itemId"]).lower())
            if row is not None:
                receipts[p.index] = Receipt(
                    p.key, entity, ReceiptStatus.MATCHED, str(row["id"]), payload_hash=p.digest
                )
            elif create_missing:
                to_create.append(p)
            else:
                receipts[p.index] = failed(
                    p.key,
                    entity,
                    f"unknown product: no NetSuite item with external ID or name {p.key!r} "
                    f"or name {p.payload['itemId']!r}",
                    p.digest,
                )

        def taken(p: Pending, error: ERPError) -> Receipt | None:
            if error.code != "DUP_ITEM":  # the name is taken: match that item, never a second one
                return None
            rows = select("item", ITEM_COLUMNS, "itemid", [p.payload["itemId"]], lower=True)
            return (
                Receipt(p.key, entity, ReceiptStatus.MATCHED, str(rows[0]["id"]), payload_hash=p.digest)
                if rows
                else None
            )

        self._create_once_per_name(entity, to_create, "itemId", receipts, taken)

    # -- documents --------------------------------------------------------------------------------
    def create_documents(
        self,
        docs: Sequence[SalesDocument],
        customer_refs: Mapping[str, str],
        item_refs: Mapping[str, str],
    ) -> list[Receipt]:
        entity = ENTITY_DOCUMENT
        by_key = {d.external_key: d for d in docs}

        def build(doc: SalesDocument) -> dict[str, Any]:
            return payloads.document_payload(
                doc, customer_refs.get(doc.customer.external_key, ""), item_refs, self.settings
            )

        receipts, first_of, todo = prepare(
            entity, docs, lambda d: d.external_key, build, payloads.PayloadError
        )
        for p in todo:
            p.rtype = payloads.document_record_type(by_key[p.key])
        unseen = settle_ledger_hits(entity, todo, self._ledger(entity, [p.key for p in todo]), receipts)
        done: list[tuple[Pending, str]] = []  # (pending, sales order id) needing an invoice check
        try:
            existing = (
                {
                    str(r["externalid"]): r
                    for r in self.client.select_in(
                        "transaction", TRANSACTION_COLUMNS, "externalid", [p.key for p in unseen]
                    )
                }
                if unseen
                else {}
            )
        except ERPAuthError:
            raise
        except ERPError as exc:  # cannot prove they do not exist yet: do not create blind
            for p in unseen:
                receipts[p.index] = failed(p.key, entity, exc, p.digest)
            unseen, existing = [], {}
        to_create: list[Pending] = []
        for p in unseen:
            if (row := existing.get(p.key)) is not None:
                receipts[p.index] = self._doc_receipt(p, row, ReceiptStatus.UNCHANGED)
                done.append((p, str(row["id"])))
            else:
                to_create.append(p)
        written = self._write_new(entity, to_create, lambda p: f"{p.rtype} for box {p.key}", method="POST")
        created_ids = [record_id for record_id, error in written.values() if error is None]
        try:
            numbers = (
                {
                    str(r["id"]): r
                    for r in self.client.select_in("transaction", TRANSACTION_COLUMNS, "id", created_ids)
                }
                if created_ids
                else {}
            )
        except ERPAuthError:
            raise
        except ERPError:
            numbers = {}
        for p in to_create:
            record_id, error = written[p.index]
            if error is None:
                row = numbers.get(record_id) or {"id": record_id, "tranid": self._tran_id(p.rtype, record_id)}
                receipts[p.index] = self._doc_receipt(p, row, ReceiptStatus.CREATED)
                done.append((p, record_id))
            elif error.code == "DUP_RCRD":  # an earlier attempt landed after all
                receipts[p.index] = self._found_after_duplicate(p, error)
                if receipts[p.index].ok:
                    done.append((p, receipts[p.index].erp_id))
            else:
                receipts[p.index] = failed(p.key, entity, error, p.digest)
        if self.settings.invoice_from_order:
            self._ensure_invoices([(p, i) for p, i in done if p.rtype == "salesOrder"], by_key, receipts)
        return in_order(docs, receipts, first_of, lambda d: d.external_key)

    def _tran_id(self, rtype: str, record_id: str) -> str:
        try:
            record = self.client.get_record(rtype, record_id, f"{rtype} {record_id}")
        except ERPAuthError:
            raise
        except ERPError:
            return ""
        return str((record or {}).get("tranId") or "")

    def _found_after_duplicate(self, p: Pending, error: ERPError) -> Receipt:
        try:
            rows = self.client.select_in("transaction", TRANSACTION_COLUMNS, "externalid", [p.key])
        except ERPAuthError:
            raise
        except ERPError as exc:
            return failed(p.key, ENTITY_DOCUMENT, exc, p.digest)
        if not rows:
            return failed(p.key, ENTITY_DOCUMENT, error, p.digest)
        return self._doc_receipt(p, rows[0], ReceiptStatus.UNCHANGED)

    @staticmethod
    def _doc_receipt(p: Pending, row: Mapping[str, Any], status: ReceiptStatus) -> Receipt:
        return Receipt(
            p.key,
            ENTITY_DOCUMENT,
            status,
            str(row["id"]),
            str(row.get("tranid") or ""),
            payload_hash=p.digest,
        )

    def _ensure_invoices(
        self,
        orders: Sequence[tuple[Pending, str]],
        docs: Mapping[str, SalesDocument],
        receipts: dict[int, Receipt],
    ) -> None:
        """Transform each sales order into an invoice once (an invoice created from it means done)."""
        if not orders:
            return
        try:
            invoiced = {
                str(r["createdfrom"])
                for r in self.client.select_in(
                    "transaction",
                    "id, tranid, createdfrom",
                    "createdfrom",
                    [i for _, i in orders],
                    where="type = 'CustInvc'",
                )
            }
        except ERPAuthError:
            raise
        except ERPError as exc:
            for p, _ in orders:
                receipts[p.index] = failed(
                    p.key, ENTITY_DOCUMENT, f"invoice not checked: {exc.message}", p.digest, exc.error_class
                )
            return
        for p, order_id in orders:
            if order_id in invoiced:
                continue
            body = payloads.invoice_transform_body(docs[p.key])
            try:
                self.client.transform("salesOrder", order_id, "invoice", body, f"the invoice for box {p.key}")
            except ERPAuthError:
                raise
            except ERPError as exc:
                if exc.code == "DUP_RCRD":
                    continue  # made by an earlier attempt whose answer was lost
                if isinstance(exc, ERPRetriableError):
                    receipts[p.index] = failed(p.key, ENTITY_DOCUMENT, exc, p.digest)
                else:  # the order stands; say why there is no invoice
                    done = receipts[p.index]
                    receipts[p.index] = Receipt(
                        done.external_key,
                        done.entity,
                        done.status,
                        done.erp_id,
                        done.erp_number,
                        message=f"sales order {done.erp_number} created, invoice not: {exc.message}",
                        payload_hash=done.payload_hash,
                    )

    # -- reads (see erp_operators.netsuite.reads) -----------------------------------------------------
    def read_payments(self, since: datetime) -> list[Payment]:
        return reads.read_payments(self.client, self.settings, since)

    def read_stock(self, skus: Sequence[str]) -> dict[str, Decimal]:
        return reads.read_stock(self.client, skus)
