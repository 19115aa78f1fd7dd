"""Per-record write receipts: what an ERP connector did with each canonical record.

A connector returns one :class:`Receipt` per input record, in input order. Receipts travel
through XCom as plain JSON (:meth:`Receipt.to_dict` / :meth:`Receipt.from_dict`), feed the
ledger (:meth:`Receipt.ledger_row`) and the run summary (:func:`summarize`).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


class ReceiptStatus(enum.StrEnum):
    """The outcome for one record."""

    CREATED = "created"  # written new in the ERP
    UPDATED = "updated"  # existed, changed fields written
    UNCHANGED = "unchanged"  # existed (written by us before), nothing to write
    MATCHED = "matched"  # existed in the ERP (found by a natural key), linked, nothing written
    FAILED = "failed"  # not written; see error_class and message


class ErrorClass(enum.StrEnum):
    """Why a record failed, which decides what happens next."""

    RETRIABLE = "retriable"  # throttled / ERP down / timeout: retry later, same input
    FATAL = "fatal"  # misconfiguration or an ERP refusal no retry will fix
    VALIDATION = "validation"  # the record itself is bad: quarantine it with the message
    AUTH = "auth"  # credentials revoked or expired: a human must re-authorize


SUCCESS_STATUSES = frozenset(
    {ReceiptStatus.CREATED, ReceiptStatus.UPDATED, ReceiptStatus.UNCHANGED, ReceiptStatus.MATCHED}
)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The result of writing (or looking up) one record in an ERP."""

    external_key: str
    entity: str  # "customer" | "item" | "document" (erp_operators.contract.ENTITY_*)
    status: ReceiptStatus
    erp_id: str = ""
    erp_number: str = ""  # the human document number (invoice #), when there is one
    error_class: ErrorClass | None = None
    message: str = ""
    payload_hash: str = ""  # hash of what was (or would be) written; stored in the ledger

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ReceiptStatus(self.status))
        if self.error_class is not None:
            object.__setattr__(self, "error_class", ErrorClass(self.error_class))
        if self.status is ReceiptStatus.FAILED and self.error_class is None:
            raise ValueError(f"failed receipt for {self.external_key!r} needs an error_class")

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS_STATUSES

    @classmethod
    def failed(
        cls, external_key: str, entity: str, error_class: ErrorClass, message: str, payload_hash: str = ""
    ) -> Receipt:
        return cls(
            external_key=external_key,
            entity=entity,
            status=ReceiptStatus.FAILED,
            error_class=error_class,
            message=message,
            payload_hash=payload_hash,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["error_class"] = self.error_class.value if self.error_class else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Receipt:
        return cls(
            external_key=str(data["external_key"]),
            entity=str(data["entity"]),
            status=ReceiptStatus(data["status"]),
            erp_id=str(data.get("erp_id") or ""),
            erp_number=str(data.get("erp_number") or ""),
            error_class=ErrorClass(data["error_class"]) if data.get("error_class") else None,
            message=str(data.get("message") or ""),
            payload_hash=str(data.get("payload_hash") or ""),
        )

    def ledger_row(self) -> dict[str, Any]:
        """The row :meth:`sync_core.state.StateStore.ledger_record` expects."""
        return {
            "source_key": self.external_key,
            "erp_id": self.erp_id or None,
            "erp_number": self.erp_number or None,
            "payload_hash": self.payload_hash or None,
            "status": self.status.value,
            "error": f"{self.error_class.value}: {self.message}" if self.error_class else None,
        }


def payload_hash(payload: Mapping[str, Any]) -> str:
    """A stable hash of an ERP body (sorted keys), stored in the ledger and used in request ids."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def receipts_to_json(receipts: Iterable[Receipt]) -> list[dict[str, Any]]:
    """Receipts as XCom-safe JSON."""
    return [r.to_dict() for r in receipts]


def receipts_from_json(rows: Iterable[Mapping[str, Any]]) -> list[Receipt]:
    """Inverse of :func:`receipts_to_json`."""
    return [Receipt.from_dict(r) for r in rows]


def summarize(receipts: Iterable[Receipt]) -> dict[str, Any]:
    """Counts per status and per error class, plus the failures (key, class, message)."""
    receipts = list(receipts)
    statuses = Counter(r.status.value for r in receipts)
    errors = Counter(r.error_class.value for r in receipts if r.error_class)
    return {
        "total": len(receipts),
        "ok": sum(1 for r in receipts if r.ok),
        **{status.value: statuses.get(status.value, 0) for status in ReceiptStatus},
        "errors": dict(errors),
        "failures": [
            {
                "external_key": r.external_key,
                "entity": r.entity,
                "error_class": r.error_class.value,
                "message": r.message,
            }
            for r in receipts
            if not r.ok and r.error_class
        ],
    }
