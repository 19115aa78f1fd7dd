"""Finding QBO records that already exist: by id, email, name, or the invoice's box marker.

Small inputs are looked up with one query per record; large inputs load the whole entity once
(paged past 1,000 rows with STARTPOSITION) and match in memory. Either way the same rules apply.
:class:`Owners` says whether a customer found that way already belongs to another Streak record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from erp_operators import matching_rules
from erp_operators.errors import ERPValidationError
from erp_operators.quickbooks.client import QuickBooksClient, quote
from erp_operators.quickbooks.payloads import marker_in


def _email(record: Mapping[str, Any]) -> str:
    return str((record.get("PrimaryEmailAddr") or {}).get("Address") or "").strip().casefold()


class NameIndex:
    """Customers or items found so far, by Id, email and name (names compared case-insensitively)."""

    def __init__(self, name_field: str) -> None:
        self.name_field = name_field
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_email: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, dict[str, Any]] = {}
        self.by_sku: dict[str, dict[str, Any]] = {}

    def add(self, record: Mapping[str, Any]) -> dict[str, Any]:
        row = dict(record)
        self.by_id[str(row["Id"])] = row
        if email := _email(row):
            self.by_email.setdefault(email, row)
        if name := str(row.get(self.name_field) or "").casefold():
            self.by_name[name] = row
        if sku := str(row.get("Sku") or "").casefold():
            self.by_sku.setdefault(sku, row)
        return row

    def add_all(self, records: Iterable[Mapping[str, Any]]) -> NameIndex:
        for record in records:
            self.add(record)
        return self


class Finder:
    """Looks up existing customers and items, optionally from a preloaded index."""

    def __init__(self, client: QuickBooksClient, entity: str, name_field: str, preload: bool) -> None:
        self.client = client
        self.entity = entity
        self.name_field = name_field
        self.index = NameIndex(name_field)
        self.preloaded = False
        if preload:
            self.preload()

    def by_id(self, entity_id: str) -> dict[str, Any] | None:
        if entity_id in self.index.by_id:
            return self.index.by_id[entity_id]
        try:
            record = self.client.read(self.entity, entity_id)
        except ERPValidationError:  # 610: deleted or merged since
            return None
        if record.get("Active") is False:
            return None
        return self.index.add(record)

    def _query_one(self, field: str, value: str) -> dict[str, Any] | None:
        rows = self.client.query(f"SELECT * FROM {self.entity} WHERE {field} = {quote(value)}").get(
            self.entity, []
        )
        for row in rows:
            self.index.add(row)
        return rows[0] if rows else None

    def preload(self) -> None:
        """Load every active record once (paged) and answer from memory from now on."""
        if not self.preloaded:
            self.index.add_all(self.client.query_all(self.entity))
            self.preloaded = True

    def by_email(self, email: str) -> dict[str, Any] | None:
        key = email.strip().casefold()
        if not key:
            return None
        if key in self.index.by_email or self.preloaded:
            return self.index.by_email.get(key)
        try:
            return self._query_one("PrimaryEmailAddr", email.strip())
        except ERPValidationError as exc:
            if exc.code != "4000":
                raise
            # a company whose API refuses to filter on the email: match in memory instead
            self.preload()
            return self.index.by_email.get(key)

    def by_name(self, name: str, refresh: bool = False) -> dict[str, Any] | None:
        key = name.casefold()
        if not key:
            return None
        if key in self.index.by_name and not refresh:
            return self.index.by_name[key]
        if self.preloaded and not refresh:
            return None
        return self._query_one(self.name_field, name)

    def by_sku(self, sku: str) -> dict[str, Any] | None:
        key = sku.casefold()
        if key in self.index.by_sku or self.preloaded:
            return self.index.by_sku.get(key)
        return self._query_one("Sku", sku)


class Owners(matching_rules.Owners):
    """:class:`erp_operators.matching_rules.Owners` for QBO customer records (see its rules)."""

    def may_link(self, key: str, digest: str, email: str, record: Mapping[str, Any]) -> bool:
        """True when ``record`` (found by name) can become ``key``'s customer without a merge."""
        return self.may_take(key, digest, email, _email(record), str(record["Id"]))


def invoices_with_markers(client: QuickBooksClient, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Existing invoices of these customers that carry a box marker, by box key."""
    found: dict[str, dict[str, Any]] = {}
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 50):
        chunk = ", ".join(quote(i) for i in ids[start : start + 50])
        for row in client.query_all("Invoice", f"CustomerRef IN ({chunk})"):
            if key := marker_in(row.get("PrivateNote")):
                found.setdefault(key, row)
    return found


def invoice_by_number(client: QuickBooksClient, doc_number: str) -> dict[str, Any] | None:
    """The invoice numbered ``doc_number``, if there is one."""
    rows = client.query(f"SELECT * FROM Invoice WHERE DocNumber = {quote(doc_number)}").get("Invoice", [])
    return rows[0] if rows else None
