"""The steps every connector's write takes, whatever the ERP.

1. :func:`prepare`: the first record of each key gets a payload (a repeated key shares its receipt;
   a payload that cannot be built is a failed receipt naming the record).
2. :func:`settle_ledger_hits`: the state store's ledger settles what was written before.
3. The ERP-specific look-ups and writes.
4. :func:`in_order`: one receipt per input record, in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from erp_operators.errors import ERPError
from erp_operators.receipts import ErrorClass, Receipt, ReceiptStatus, payload_hash

R = TypeVar("R")


@dataclass
class Pending:
    """One record on its way to the ERP: its input position, key, payload and payload hash."""

    index: int
    key: str
    payload: dict[str, Any]
    digest: str
    rtype: str = ""  # the ERP record type, where the ERP has several for one entity


def failed(
    key: str, entity: str, exc: ERPError | str, digest: str = "", cls: ErrorClass | None = None
) -> Receipt:
    """A failed receipt from an ERP error (its class and message), or from a message and ``cls``."""
    if isinstance(exc, ERPError):
        return Receipt.failed(key, entity, exc.error_class, exc.message, digest)
    return Receipt.failed(key, entity, cls or ErrorClass.VALIDATION, exc, digest)


def prepare(
    entity: str,
    records: Sequence[R],
    key: Callable[[R], str],
    build: Callable[[R], dict[str, Any]],
    payload_error: type[Exception],
    known: Callable[[R], Receipt | None] = lambda record: None,
    digest: Callable[[dict[str, Any]], str] = payload_hash,
) -> tuple[dict[int, Receipt], dict[str, int], list[Pending]]:
    """The first record of each key gets a payload (and its ``digest``, :func:`payload_hash` by default).

    Returns the receipts settled already (a ``known`` one, or a failed one when ``build`` raised
    ``payload_error``), the index of each key's first record, and the records still to handle.
    """
    receipts: dict[int, Receipt] = {}
    first_of: dict[str, int] = {}
    todo: list[Pending] = []
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
        except payload_error as exc:
            receipts[i] = failed(k, entity, str(exc))
            continue
        todo.append(Pending(i, k, payload, digest(payload)))
    return receipts, first_of, todo


def ledger_hit(entity: str, p: Pending, entry: Any, same_payload: bool = False) -> Receipt | None:
    """An ``unchanged`` receipt when the ledger already holds a good ERP id for ``p``.

    With ``same_payload`` the ledger entry must also carry ``p``'s payload hash (else it changed).
    """
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


def settle_ledger_hits(
    entity: str,
    todo: Sequence[Pending],
    ledger: Mapping[str, Any],
    receipts: dict[int, Receipt],
    same_payload: bool = False,
) -> list[Pending]:
    """Receipts for the records the ledger settles; returns the rest."""
    rest = []
    for p in todo:
        if (hit := ledger_hit(entity, p, ledger.get(p.key), same_payload)) is not None:
            receipts[p.index] = hit
        else:
            rest.append(p)
    return rest


def in_order(
    records: Sequence[Any],
    receipts: Mapping[int, Receipt],
    first_of: Mapping[str, int],
    key: Callable[[Any], str],
) -> list[Receipt]:
    """One receipt per input record, in input order (a repeated key shares the first one's receipt)."""
    return [receipts[i] if i in receipts else receipts[first_of[key(r)]] for i, r in enumerate(records)]
