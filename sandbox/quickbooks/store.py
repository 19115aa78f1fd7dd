"""In-memory data of one QuickBooks company (realm) and the sandbox clock.

Objects are kept as the JSON dicts the API returns. What clients never see (exact change times
for CDC, deleted-object tombstones, the ``requestid`` replay cache) lives beside them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

# QBO stamps times in the company's zone; the sandbox company is on Pacific daylight time.
COMPANY_TZ = timezone(timedelta(hours=-7))

WRITABLE_ENTITIES = ("Customer", "Item", "Invoice", "Payment")
ALL_ENTITIES = (*WRITABLE_ENTITIES, "Account")
NAME_LIST_ENTITIES = frozenset({"Customer", "Item", "Account"})

SEED_ACCOUNTS = (
    {"Id": "1", "Name": "Services", "AccountType": "Income", "AccountSubType": "ServiceFeeIncome"},
    {
        "Id": "79",
        "Name": "Sales of Product Income",
        "AccountType": "Income",
        "AccountSubType": "SalesOfProductIncome",
    },
    {
        "Id": "80",
        "Name": "Cost of Goods Sold",
        "AccountType": "Cost of Goods Sold",
        "AccountSubType": "SuppliesMaterialsCogs",
    },
    {
        "Id": "81",
        "Name": "Inventory Asset",
        "AccountType": "Other Current Asset",
        "AccountSubType": "Inventory",
    },
)
SEED_ITEMS = (
    {
        "Id": "1",
        "Name": "Services",
        "Type": "Service",
        "IncomeAccountRef": {"value": "1", "name": "Services"},
    },
    {"Id": "2", "Name": "Hours", "Type": "Service", "IncomeAccountRef": {"value": "1", "name": "Services"}},
)


class Clock:
    """Wall-clock time in the company zone, shiftable forward by the admin API (for CDC look-back)."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> datetime:
        return datetime.now(COMPANY_TZ) + timedelta(seconds=self.offset_seconds)


def meta_time(moment: datetime) -> str:
    """``MetaData`` timestamps: second precision with the zone offset (``2026-05-30T10:33:39-07:00``)."""
    return moment.astimezone(COMPANY_TZ).replace(microsecond=0).isoformat()


def response_time(moment: datetime) -> str:
    """The envelope's ``time``: millisecond precision with the zone offset."""
    return moment.astimezone(COMPANY_TZ).isoformat(timespec="milliseconds")


@dataclass
class StoredResponse:
    """A write's original answer, replayed for a repeated ``requestid``."""

    status: int
    body: Any


@dataclass
class Tombstone:
    """A deleted transaction, reported by CDC with ``status: Deleted``."""

    entity: str
    object_id: str
    deleted_at: datetime


@dataclass
class RealmData:
    """Everything one company holds."""

    realm_id: str
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {e: {} for e in ALL_ENTITIES}
    )
    changed_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALL_ENTITIES, 1))
    next_doc_number: int = 1001
    tombstones: list[Tombstone] = field(default_factory=list)
    replay: dict[str, StoredResponse] = field(default_factory=dict)

    def new_id(self, entity: str) -> str:
        taken = self.objects[entity]
        while str(self.next_ids[entity]) in taken:
            self.next_ids[entity] += 1
        object_id = str(self.next_ids[entity])
        self.next_ids[entity] += 1
        return object_id

    def get(self, entity: str, object_id: str) -> dict[str, Any] | None:
        return self.objects[entity].get(str(object_id))

    def put(self, entity: str, obj: dict[str, Any], moment: datetime) -> None:
        self.objects[entity][obj["Id"]] = obj
        self.changed_at[(entity, obj["Id"])] = moment

    def remove(self, entity: str, object_id: str, moment: datetime) -> None:
        del self.objects[entity][object_id]
        self.changed_at.pop((entity, object_id), None)
        self.tombstones.append(Tombstone(entity, object_id, moment))

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {entity: [copy.deepcopy(o) for o in objs.values()] for entity, objs in self.objects.items()}


def seed_realm(realm: RealmData, moment: datetime) -> None:
    """The starting chart of accounts and items of a fresh sandbox company."""
    stamp = {"CreateTime": meta_time(moment), "LastUpdatedTime": meta_time(moment)}
    for account in SEED_ACCOUNTS:
        obj = {
            **account,
            "FullyQualifiedName": account["Name"],
            "Active": True,
            "Classification": "Revenue" if account["AccountType"] == "Income" else "Expense",
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "domain": "QBO",
            "sparse": False,
            "SyncToken": "0",
            "MetaData": dict(stamp),
        }
        realm.put("Account", obj, moment)
    for item in SEED_ITEMS:
        obj = {
            **copy.deepcopy(item),
            "FullyQualifiedName": item["Name"],
            "Active": True,
            "Taxable": False,
            "UnitPrice": 0,
            "TrackQtyOnHand": False,
            "domain": "QBO",
            "sparse": False,
            "SyncToken": "0",
            "MetaData": dict(stamp),
        }
        realm.put("Item", obj, moment)
