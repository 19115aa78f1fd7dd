"""The rules that keep two Streak records from being merged into one ERP customer (every ERP).

A customer found by ledger, e-mail or name is linked to a record only when that takes over no
other record's customer: no other record holds it with different data (:class:`Owners`), and
its e-mail is empty or the record's own. Otherwise the record gets a customer of its own named
:func:`distinct_name` (``"Name (<key tail>)"``), the same on every run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

TAG_LENGTH = 8


def key_tag(external_key: str) -> str:
    """The last 8 letters/digits of a Streak key (a short hash of it when it has none)."""
    tag = re.sub(r"[^0-9A-Za-z]", "", external_key)[-TAG_LENGTH:]
    return tag or hashlib.sha256(external_key.encode()).hexdigest()[:TAG_LENGTH]


def distinct_name(name: str, external_key: str, limit: int, clean: Callable[[str, int], str]) -> str:
    """``"Name (<key tail>)"``: the name of a second, different customer called ``name``.

    ``clean(text, limit)`` is the ERP's own name cleaner; the name part is cut so that the whole
    fits ``limit``.
    """
    suffix = f" ({key_tag(external_key)})"
    return f"{clean(name, limit - len(suffix))}{suffix}"


def emails_clash(ours: str, theirs: str) -> bool:
    """True when both e-mails are set and differ (compared without case)."""
    a, b = ours.strip().casefold(), theirs.strip().casefold()
    return bool(a and b and a != b)


class Owners:
    """Which source records hold each ERP customer: the ledger's rows, then this call's receipts.

    ``digest`` is the hash of a record's data (the same for two records with the same data).
    """

    def __init__(self, store: Any, erp: str, entity: str) -> None:
        self.store = store
        self.erp = erp
        self.entity = entity
        self._ledger: dict[str, dict[str, str]] = {}  # erp id -> {source key: payload hash}
        self._claims: dict[str, dict[str, str]] = {}  # the same, from this call's receipts
        self._claimed: dict[str, str] = {}  # source key -> erp id it holds after this call

    def claim(self, key: str, erp_id: str, digest: str) -> None:
        """``key`` holds ``erp_id`` now (with the payload hashed as ``digest``)."""
        old = self._claimed.get(key)
        if old is not None and old != erp_id:
            self._claims.get(old, {}).pop(key, None)
        self._claimed[key] = erp_id
        self._claims.setdefault(erp_id, {})[key] = digest

    def prefetch(self, erp_ids: Iterable[str]) -> None:
        """Read the ledger rows of many ERP ids at once (one query per 500)."""
        wanted = [i for i in dict.fromkeys(erp_ids) if i not in self._ledger]
        if not wanted:
            return
        for erp_id in wanted:
            self._ledger[erp_id] = {}
        for row in self.store.ledger_holding(self.erp, self.entity, wanted):
            self._ledger[str(row.erp_id)][row.source_key] = row.payload_hash or ""

    def of(self, erp_id: str) -> dict[str, str]:
        """The source keys holding ``erp_id`` and their payload hashes."""
        if erp_id not in self._ledger:
            rows = self.store.ledger_holding(self.erp, self.entity, [erp_id])
            self._ledger[erp_id] = {row.source_key: row.payload_hash or "" for row in rows}
        held = {k: d for k, d in self._ledger[erp_id].items() if self._claimed.get(k, erp_id) == erp_id}
        held.update(self._claims.get(erp_id, {}))
        return held

    def held_by_another(self, key: str, digest: str, erp_id: str) -> bool:
        """True when a record other than ``key`` holds ``erp_id`` with different data."""
        return any(d != digest for k, d in self.of(erp_id).items() if k != key)

    def may_take(self, key: str, digest: str, email: str, their_email: str, erp_id: str) -> bool:
        """True when the customer ``erp_id`` (e-mail ``their_email``), found by name, can become
        ``key``'s customer without a merge."""
        if emails_clash(email, their_email):
            return False
        return not self.held_by_another(key, digest, erp_id)
