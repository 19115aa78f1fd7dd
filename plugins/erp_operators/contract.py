"""The ERP connector contract: the one interface every ERP (QBO, NetSuite, SYSPRO, GP, Sage 50) implements.

Rules every implementation follows (checked by ``tests/conformance``):

* One :class:`~erp_operators.receipts.Receipt` per input record, in input order; a bad record
  gives a ``failed`` receipt (``error_class`` validation) and never stops the others.
* Writes are idempotent: calling a write twice with the same input writes nothing the second
  time, even when the ledger was lost in between (the ERP itself is searched before creating).
* Errors are classified by :mod:`erp_operators.errors`. Transient failures are retried inside the
  connector with bounded backoff; if they persist, the affected records get ``retriable``
  receipts. A revoked credential raises :class:`~erp_operators.errors.ERPAuthError` at once.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from erp_operators.receipts import Receipt
from sync_core.canonical import Customer, Item, Payment, SalesDocument

# Entity names used in receipts and in the ledger, the same for every ERP.
ENTITY_CUSTOMER = "customer"
ENTITY_ITEM = "item"
ENTITY_DOCUMENT = "document"


class ERPConnector(abc.ABC):
    """Base class of an ERP connector; subclasses set the three names and implement six methods."""

    erp_name: ClassVar[str]  # registry / ledger name, e.g. "quickbooks"
    display_name: ClassVar[str]  # for humans, e.g. "QuickBooks Online"
    document_noun: ClassVar[str]  # what create_documents makes, e.g. "Invoice"

    @abc.abstractmethod
    def health_check(self) -> tuple[bool, str]:
        """Reach the ERP with the configured credentials; ``(ok, human-readable message)``."""

    @abc.abstractmethod
    def upsert_customers(self, customers: Sequence[Customer]) -> list[Receipt]:
        """Find each customer (external key, then email, then display name); create or update it."""

    @abc.abstractmethod
    def resolve_items(self, items: Sequence[Item], create_missing: bool = True) -> list[Receipt]:
        """Find each item by SKU/name; create the missing ones unless ``create_missing`` is False."""

    @abc.abstractmethod
    def create_documents(
        self,
        docs: Sequence[SalesDocument],
        customer_refs: Mapping[str, str],
        item_refs: Mapping[str, str],
    ) -> list[Receipt]:
        """Create one sales document per deal, idempotently.

        ``customer_refs`` maps a customer's external key to its ERP id; ``item_refs`` maps an
        item's SKU to its ERP id (both from earlier receipts).
        """

    @abc.abstractmethod
    def read_payments(self, since: datetime) -> list[Payment]:
        """Payments recorded or changed since ``since`` against documents this sync created."""

    @abc.abstractmethod
    def read_stock(self, skus: Sequence[str]) -> dict[str, Decimal]:
        """Quantity on hand per SKU; SKUs the ERP does not track are left out."""

    def close(self) -> None:  # noqa: B027 - optional hook, most connectors hold nothing
        """Release sessions; the connector may not be used afterwards."""

    def __enter__(self) -> ERPConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
