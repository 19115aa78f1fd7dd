"""Harnesses for the ERP connector conformance suite: one per ERP, each = connector + live sandbox.

Adding an ERP (NetSuite, SYSPRO, GP, Sage 50) means writing one harness class with the methods of
:class:`Harness` and adding it to ``HARNESSES``; every test in ``test_contract.py`` then runs
against it. The tests only speak the contract and the harness; nothing ERP-specific leaks in.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from erp_operators.contract import ERPConnector
from sync_core.state import StateStore

if TYPE_CHECKING:
    from tests.netsuite.ns_admin import NSSandbox
    from tests.quickbooks.qbo_admin import QBOSandbox
    from tests.sandbox_admin import SandboxAdmin


@dataclass(frozen=True)
class DocumentState:
    """One sales document as the ERP holds it, reduced to what the contract promises."""

    external_key: str
    customer_name: str
    total: Decimal
    lines: tuple[tuple[str, Decimal, Decimal, Decimal], ...]  # (item name, qty, unit price, amount)
    number: str


@dataclass(frozen=True)
class ERPState:
    """The ERP's records, without ids, so a clean run and a faulty run can be compared."""

    customers: tuple[tuple[str, str], ...]  # (display name, email)
    items: tuple[str, ...]  # item names
    documents: tuple[DocumentState, ...]

    def document(self, external_key: str) -> DocumentState:
        return next(d for d in self.documents if d.external_key == external_key)


class Harness(abc.ABC):
    """A connector plus the sandbox it talks to, with the sandbox's admin controls."""

    name: str
    item_defaults: dict[str, Any] = {}  # fields canonical Items need in this ERP (e.g. income account)
    features: frozenset[str] = frozenset()  # "oauth_refresh", "payments", "stock"

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.generation = 0
        self.store = self._new_store()

    def _new_store(self) -> StateStore:
        self.generation += 1
        return StateStore.from_url(f"sqlite:///{self.tmp_path / f'state-{self.generation}.db'}").create_all()

    def wipe_ledger(self) -> None:
        """Lose every ledger row (tokens and budgets stay), as if the ledger writes never happened."""
        from sync_core.state import ledger

        with self.store.engine.begin() as conn:
            conn.execute(ledger.delete())

    @abc.abstractmethod
    def connector(self) -> ERPConnector:
        """A fresh connector (as a new task process would build it) on the shared state store."""

    @abc.abstractmethod
    def snapshot(self) -> ERPState: ...

    @abc.abstractmethod
    def reset(self) -> None:
        """Empty sandbox and a new, empty state store."""

    @abc.abstractmethod
    def inject(self, status: int, count: int = 1, rate: float = 0.0) -> None:
        """Make the next ``count`` API calls (or a ``rate`` share of them) answer ``status``."""

    @abc.abstractmethod
    def clear_faults(self) -> None: ...

    @abc.abstractmethod
    def faults_injected(self) -> int:
        """How many injected faults the sandbox has answered with so far."""

    @abc.abstractmethod
    def seed_customer(self, display_name: str, email: str = "") -> str:
        """Create a customer directly in the ERP (as a human would); returns its ERP id."""

    @abc.abstractmethod
    def existing_item_name(self) -> str:
        """The name of an item the sandbox already holds."""

    def expire_access_tokens(self) -> None:
        raise NotImplementedError

    def revoke_refresh_token(self) -> None:
        raise NotImplementedError

    def token_requests(self) -> int:
        raise NotImplementedError

    def rotate_refresh_token_elsewhere(self) -> None:
        """Another worker refreshes (and so rotates) the shared token."""
        raise NotImplementedError

    def record_payment(self, document_erp_id: str, amount: Decimal) -> str:
        raise NotImplementedError

    def seed_stock(self, sku: str, quantity: Decimal) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


class SandboxHarness(Harness):
    """A harness whose ERP is a sandbox from ``sandbox/`` driven through its admin routes
    (:class:`tests.sandbox_admin.SandboxAdmin`); faults are injected on ``api_prefix`` paths."""

    api_prefix: str
    sandbox: SandboxAdmin

    def __init__(self, tmp_path: Path, sandbox: SandboxAdmin) -> None:
        super().__init__(tmp_path)
        self.sandbox = sandbox
        self._connectors: list[ERPConnector] = []

    def _track(self, conn: ERPConnector) -> ERPConnector:
        """Remember a connector so reset/close can close it."""
        self._connectors.append(conn)
        return conn

    def _close_connectors(self) -> None:
        for conn in self._connectors:
            conn.close()
        self._connectors.clear()

    def reset(self) -> None:
        self._close_connectors()
        self.sandbox.reset()
        self.store = self._new_store()

    def inject(self, status: int, count: int = 1, rate: float = 0.0) -> None:
        spec: dict[str, Any] = {"kind": "status", "status": status, "path_prefix": self.api_prefix}
        if rate:
            spec.update(mode="random", rate=rate, seed=7)
        else:
            spec.update(count=count)
        self.sandbox.admin("POST", "faults", spec)

    def clear_faults(self) -> None:
        self.sandbox.admin("DELETE", "faults")

    def faults_injected(self) -> int:
        return sum(self.sandbox.admin("GET", "faults")["injected"].values())

    def existing_item_name(self) -> str:
        return "Hours"  # both sandboxes seed a service item of that name

    def close(self) -> None:
        self._close_connectors()
        self.sandbox.stop()


class QuickBooksHarness(SandboxHarness):
    """QBO connector against ``sandbox.quickbooks`` (time scaled x60: a limit-minute is one second).

    The sandbox and its admin routes are the QBO tests' own helper
    (:class:`tests.quickbooks.qbo_admin.QBOSandbox`).
    """

    name = "quickbooks"
    item_defaults = {"income_account_ref": "1"}
    features = frozenset({"oauth_refresh", "payments", "stock"})
    api_prefix = "/v3/"
    sandbox: QBOSandbox

    def __init__(self, tmp_path: Path) -> None:
        from tests.quickbooks.qbo_admin import QBOSandbox

        super().__init__(tmp_path, QBOSandbox())

    def config(self, **limits: Any):  # -> QuickBooksConfig
        return self.sandbox.config(**{"max_attempts": 8, **limits})

    def connector(self, **limits: Any) -> ERPConnector:
        from erp_operators.quickbooks.connector import QuickBooksConnector

        return self._track(QuickBooksConnector(config=self.config(**limits), store=self.store))

    def snapshot(self) -> ERPState:
        from erp_operators.quickbooks.payloads import marker_in

        customers = self.sandbox.objects("Customer")
        names = {c["Id"]: c["DisplayName"] for c in customers}
        items = {i["Id"]: i["Name"] for i in self.sandbox.objects("Item")}
        documents = []
        for inv in self.sandbox.objects("Invoice"):
            lines = tuple(
                (
                    items[line["SalesItemLineDetail"]["ItemRef"]["value"]],
                    Decimal(str(line["SalesItemLineDetail"]["Qty"])),
                    Decimal(str(line["SalesItemLineDetail"]["UnitPrice"])),
                    Decimal(str(line["Amount"])).quantize(Decimal("0.01")),
                )
                for line in inv["Line"]
                if line.get("DetailType") == "SalesItemLineDetail"
            )
            documents.append(
                DocumentState(
                    external_key=marker_in(inv.get("PrivateNote")) or f"?{inv['Id']}",
                    customer_name=names.get(inv["CustomerRef"]["value"], "?"),
                    total=Decimal(str(inv["TotalAmt"])).quantize(Decimal("0.01")),
                    lines=lines,
                    number=str(inv.get("DocNumber", "")),
                )
            )
        return ERPState(
            customers=tuple(
                sorted(
                    (c["DisplayName"], (c.get("PrimaryEmailAddr") or {}).get("Address", ""))
                    for c in customers
                )
            ),
            items=tuple(sorted(items.values())),
            documents=tuple(sorted(documents, key=lambda d: d.external_key)),
        )

    def seed_customer(self, display_name: str, email: str = "") -> str:
        body: dict[str, Any] = {"DisplayName": display_name}
        if email:
            body["PrimaryEmailAddr"] = {"Address": email}
        return self.sandbox.seed("Customer", body)

    def expire_access_tokens(self) -> None:
        self.sandbox.admin("POST", "tokens/expire")

    def revoke_refresh_token(self) -> None:
        self.sandbox.admin("POST", "tokens/revoke")

    def token_requests(self) -> int:
        return self.sandbox.requests_to("/oauth2/v1/tokens/bearer")

    def rotate_refresh_token_elsewhere(self) -> None:
        from erp_operators.quickbooks.auth import TokenKeeper

        other = TokenKeeper(self.config(), self.store)
        other.renew(rejected=other.access_token())  # forces a refresh: the shared token rotates

    def record_payment(self, document_erp_id: str, amount: Decimal) -> str:
        invoice = next(i for i in self.sandbox.objects("Invoice") if i["Id"] == document_erp_id)
        line = {"Amount": float(amount), "LinkedTxn": [{"TxnId": document_erp_id, "TxnType": "Invoice"}]}
        body = {
            "CustomerRef": {"value": invoice["CustomerRef"]["value"]},
            "TotalAmt": float(amount),
            "Line": [line],
        }
        return self.sandbox.seed("Payment", body)

    def seed_stock(self, sku: str, quantity: Decimal) -> None:
        self.sandbox.seed(
            "Item",
            {
                "Name": f"Stock {sku}",
                "Sku": sku,
                "Type": "Inventory",
                "TrackQtyOnHand": True,
                "QtyOnHand": float(quantity),
                "InvStartDate": "2026-01-01",
                "IncomeAccountRef": {"value": "79"},
                "ExpenseAccountRef": {"value": "80"},
                "AssetAccountRef": {"value": "81"},
            },
        )


class NetSuiteHarness(SandboxHarness):
    """NetSuite connector against ``sandbox.netsuite`` (fast backoff; batches from three records on)."""

    name = "netsuite"
    item_defaults = {"income_account_ref": "54"}
    features = frozenset({"payments", "stock"})
    api_prefix = "/services/rest/"
    sandbox: NSSandbox

    def __init__(self, tmp_path: Path) -> None:
        from tests.netsuite.ns_admin import NSSandbox

        super().__init__(tmp_path, NSSandbox())

    def connector(self) -> ERPConnector:
        from erp_operators.netsuite.connector import NetSuiteConnector
        from tests.netsuite.ns_admin import SETTINGS

        return self._track(
            NetSuiteConnector(
                config=self.sandbox.config(), store=self.store, settings=SETTINGS, bulk_threshold=2
            )
        )

    def snapshot(self) -> ERPState:
        records = self.sandbox.state()["records"]
        customers = records.get("customer", [])
        names = {c["id"]: c["entityId"] for c in customers}
        items = {
            i["id"]: i.get("displayName") or i["itemId"]
            for kind in ("inventoryItem", "nonInventorySaleItem", "serviceSaleItem")
            for i in records.get(kind, [])
        }
        documents = [
            DocumentState(
                external_key=doc.get("externalId") or f"?{doc['id']}",
                customer_name=names.get(doc["entity"]["id"], "?"),
                total=Decimal(str(doc["total"])).quantize(Decimal("0.01")),
                lines=tuple(
                    (
                        items[line["item"]["id"]],
                        Decimal(str(line["quantity"])),
                        Decimal(str(line["rate"])),
                        Decimal(str(line["amount"])).quantize(Decimal("0.01")),
                    )
                    for line in doc["item"]["items"]
                ),
                number=str(doc.get("tranId", "")),
            )
            for kind in ("salesOrder", "invoice")
            for doc in records.get(kind, [])
            if not doc.get("createdFrom")  # an invoice transformed from an order is not a second document
        ]
        return ERPState(
            customers=tuple(sorted((c["entityId"], c.get("email", "")) for c in customers)),
            items=tuple(sorted(items.values())),
            documents=tuple(sorted(documents, key=lambda d: d.external_key)),
        )

    def seed_customer(self, display_name: str, email: str = "") -> str:
        body: dict[str, Any] = {
            "entityId": display_name,
            "companyName": display_name,
            "subsidiary": {"id": "1"},
        }
        if email:
            body["email"] = email
        return self.sandbox.seed("customer", body)

    def record_payment(self, document_erp_id: str, amount: Decimal) -> str:
        invoice = next(i for i in self.sandbox.records("invoice") if i["id"] == document_erp_id)
        applied = {"doc": {"id": document_erp_id}, "apply": True, "amount": float(amount)}
        body = {
            "customer": {"id": invoice["entity"]["id"]},
            "payment": float(amount),
            "tranDate": "2026-11-25",
            "apply": {"items": [applied]},
        }
        return self.sandbox.seed("customerPayment", body)

    def seed_stock(self, sku: str, quantity: Decimal) -> None:
        self.sandbox.seed(
            "inventoryItem",
            {
                "externalId": sku,
                "itemId": f"Stock {sku}",
                "quantityOnHand": float(quantity),
                "assetAccount": {"id": "80"},
                "cogsAccount": {"id": "81"},
            },
        )


HARNESSES: dict[str, Callable[[Path], Harness]] = {
    "quickbooks": QuickBooksHarness,
    "netsuite": NetSuiteHarness,
}


@pytest.fixture(params=sorted(HARNESSES))
def erp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Each ERP's connector + live sandbox, fresh for every test."""
    harness = HARNESSES[request.param](tmp_path)
    try:
        yield harness
    finally:
        harness.close()
