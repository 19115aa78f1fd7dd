"""What mapping and validation hand on: canonical records plus per-record failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sync_core.canonical import Customer, Item, SalesDocument

Entity = Literal["deal", "customer", "item"]


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """One reason one record cannot be written; ``reason`` is plain words naming the key and field."""

    source_key: str
    entity: Entity
    field: str
    reason: str
    payload: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(slots=True)
class MappingResult:
    """Canonical records made from a batch of boxes, and the boxes that could not be mapped."""

    documents: list[SalesDocument] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)
