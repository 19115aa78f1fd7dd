"""Hold invalid records back in the state store's quarantine, and let them go once they sync.

One quarantine row per (ERP, entity, source key): every failure of that record is kept, its
reasons joined in one human-readable text and listed in the payload. Putting a record again
(the next run still finds it invalid) counts one more attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sync_core.mapping.results import RecordFailure


class QuarantineStore(Protocol):
    """The part of :class:`sync_core.state.StateStore` quarantine needs."""

    def quarantine_put(
        self, erp: str, entity: str, source_key: str, reason: str, payload: dict[str, Any]
    ) -> int: ...

    def quarantine_release(self, erp: str, entity: str, source_keys: Iterable[str]) -> int: ...


def group_failures(failures: Iterable[RecordFailure]) -> dict[tuple[str, str], list[RecordFailure]]:
    """Failures grouped per (entity, source key), in first-seen order."""
    grouped: dict[tuple[str, str], list[RecordFailure]] = {}
    for failure in failures:
        grouped.setdefault((failure.entity, failure.source_key), []).append(failure)
    return grouped


def quarantine_failures(
    store: QuarantineStore, erp: str, failures: Iterable[RecordFailure]
) -> dict[tuple[str, str], int]:
    """Quarantine every failed record once; returns the attempt count per (entity, source key)."""
    attempts: dict[tuple[str, str], int] = {}
    for (entity, source_key), group in group_failures(failures).items():
        reasons = list(dict.fromkeys(f.reason for f in group))
        payload = {
            "record": next((f.payload for f in group if f.payload), {}),
            "failures": [{"field": f.field, "reason": f.reason} for f in group],
        }
        attempts[(entity, source_key)] = store.quarantine_put(
            erp, entity, source_key, "; ".join(reasons), payload
        )
    return attempts


def release_synced(store: QuarantineStore, erp: str, entity: str, source_keys: Iterable[str]) -> int:
    """Release records that have now synced (a box fixed in Streak leaves quarantine); returns the count."""
    return store.quarantine_release(erp, entity, list(dict.fromkeys(source_keys)))
