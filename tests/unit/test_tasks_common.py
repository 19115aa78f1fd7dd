"""Shared task helpers (erp_operators.tasks.common) against a real SQLite state store."""

from __future__ import annotations

from pathlib import Path

from sync_core.state import StateStore


def test_unchanged_receipt_settles_a_ledger_row_left_failed(tmp_path: Path) -> None:
    # an update reached the ERP but its answer was lost: the ledger holds a failed attempt with the
    # ERP id and the payload hash; the retry finds the ERP record equal and answers "unchanged"
    from erp_operators.receipts import ErrorClass, Receipt, ReceiptStatus
    from erp_operators.tasks.common import record

    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}").create_all()
    store.ledger_record(
        "quickbooks",
        "customer",
        [{"source_key": "org-1", "erp_id": "58", "payload_hash": "h1", "status": "created"}],
    )
    lost = Receipt.failed("org-1", "customer", ErrorClass.RETRIABLE, "read timed out", "h2")
    record(store, "quickbooks", "customer", [lost], skip_unchanged=True)
    assert store.ledger_get("quickbooks", "customer", "org-1").status == "failed"

    same = Receipt("org-1", "customer", ReceiptStatus.UNCHANGED, "58", payload_hash="h2")
    record(store, "quickbooks", "customer", [same], skip_unchanged=True)
    assert store.ledger_get("quickbooks", "customer", "org-1").status == "unchanged"

    # a row that is settled already is not rewritten by an unchanged receipt
    settled = store.ledger_get("quickbooks", "customer", "org-1")
    record(store, "quickbooks", "customer", [same], skip_unchanged=True)
    assert store.ledger_get("quickbooks", "customer", "org-1").updated_at == settled.updated_at
