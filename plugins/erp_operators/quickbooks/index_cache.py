"""A process-wide cache of preloaded QBO name lists (customers, items), kept fresh by delta queries.

A bulk load runs many chunks; each would otherwise page through the whole customer list again
(``ceil(count / 1000)`` queries per chunk, growing with every chunk written). The first preload in a
process reads the whole list; later ones read only what changed since then
(``MetaData.LastUpdatedTime >=`` the server time of the previous read, active and inactive rows),
so a record a person edited, renamed or made inactive in QuickBooks in between is seen as it is now.
QBO never deletes customers or items (they become inactive), so the count of all rows can only
grow: when it differs from the rows the cache knows, the whole list is read again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from erp_operators.quickbooks.client import MAX_RESULTS, QuickBooksClient, quote
from erp_operators.quickbooks.matching import Finder, NameIndex, _email

MAX_AGE_SECONDS = 3600.0  # older than this: read the whole list again
OVERLAP = timedelta(seconds=2)  # re-read a little before the last stamp (second-precision times)


@dataclass
class _Entry:
    index: NameIndex
    inactive: set[str]
    stamp: str  # server time (company zone) just before the last read began
    loaded_at: float


_CACHE: dict[tuple[str, str, str], _Entry] = {}
_LOCK = threading.Lock()


def clear() -> None:
    """Forget every cached list (tests; a process that must re-read)."""
    with _LOCK:
        _CACHE.clear()


def _replace(entry: _Entry, row: dict[str, Any]) -> None:
    """Put ``row`` in the index, dropping the keys of its previous version (renamed, deactivated)."""
    index = entry.index
    old = index.by_id.pop(str(row["Id"]), None)
    if old is not None:
        keys = (
            (index.by_email, _email(old)),
            (index.by_name, str(old.get(index.name_field) or "").casefold()),
            (index.by_sku, str(old.get("Sku") or "").casefold()),
        )
        for table, key in keys:
            if key and table.get(key) is old:
                del table[key]
    if row.get("Active", True) is False:
        entry.inactive.add(str(row["Id"]))
    else:
        entry.inactive.discard(str(row["Id"]))
        index.add(row)


class CachedFinder(Finder):
    """A :class:`Finder` whose preload is shared by every finder of the same company and entity."""

    def _page(self, where: str, start: int) -> tuple[list[dict[str, Any]], str]:
        clause = f" WHERE {where}" if where else ""
        statement = (
            f"SELECT * FROM {self.entity}{clause} ORDERBY Id STARTPOSITION {start} MAXRESULTS {MAX_RESULTS}"
        )
        body = self.client.call("POST", "query", statement, content_type="application/text")
        return (body.get("QueryResponse") or {}).get(self.entity, []), str(body.get("time") or "")

    def _read(self, where: str) -> tuple[list[dict[str, Any]], str]:
        """Every row matching ``where`` and the server time of the first page (minus the overlap)."""
        rows, server_time = self._page(where, 1)
        page = rows
        while len(page) == MAX_RESULTS:
            page, _ = self._page(where, len(rows) + 1)
            rows.extend(page)
        try:
            stamp = (datetime.fromisoformat(server_time) - OVERLAP).isoformat(timespec="seconds")
        except ValueError:
            stamp = ""  # no usable server time: the next preload reads everything again
        return rows, stamp

    def _count_all(self) -> int:
        found = self.client.query(f"SELECT COUNT(*) FROM {self.entity} WHERE Active IN (true, false)")
        return int(found.get("totalCount", -1))

    def preload(self) -> None:
        if self.preloaded:
            return
        client: QuickBooksClient = self.client
        key = (client.company_url, self.entity, self.name_field)
        with _LOCK:
            entry = _CACHE.get(key)
        if entry is not None and not (entry.stamp and time.time() - entry.loaded_at < MAX_AGE_SECONDS):
            entry = None
        if entry is not None and len(entry.index.by_id) + len(entry.inactive) < MAX_RESULTS:
            entry = None  # one page reads it all: cheaper than a delta query plus a count
        if entry is not None:
            where = f"Active IN (true, false) AND MetaData.LastUpdatedTime >= {quote(entry.stamp)}"
            rows, stamp = self._read(where)
            for row in rows:
                _replace(entry, row)
            entry.stamp = stamp
            if self._count_all() != len(entry.index.by_id) + len(entry.inactive):
                entry = None  # rows the cache never saw (or lost): read the whole list again
        if entry is None:
            rows, stamp = self._read("Active IN (true, false)")
            entry = _Entry(NameIndex(self.name_field), set(), stamp, time.time())
            for row in rows:
                _replace(entry, row)
        with _LOCK:
            _CACHE[key] = entry
        self.index = entry.index
        self.preloaded = True
