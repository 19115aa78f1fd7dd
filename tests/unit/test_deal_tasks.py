"""Task bodies of the deal DAG called directly against a real SQLite state store (no ERP call)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sync_core.state import StageEvent, StateStore


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("STREAK_ERP_STATE_URL", url)
    return StateStore.from_url(url).create_all()


def test_deal_whose_customer_the_erp_refused_is_closed_as_quarantined(state: StateStore) -> None:
    from erp_operators.receipts import ErrorClass, Receipt, receipts_to_json
    from erp_operators.tasks import deals
    from sync_core.canonical import Customer, Item, Line, SalesDocument, to_jsonable

    event = StageEvent("pl1", "box-refused", "won", 1_700_000_000_000)
    assert state.claim_stage_events([event], "run-1") == [event]
    doc = SalesDocument(
        external_key="box-refused",
        customer=Customer("org-1", "Acme Ltd"),
        lines=(Line(Item("SKU-1", "Widget"), Decimal(1), Decimal(10), Decimal(10)),),
        currency="USD",
        doc_date=date(2026, 1, 1),
    )
    mapped = {
        "erp": "quickbooks",
        "dry_run": False,
        "events": [[event.pipeline_key, event.box_key, event.stage_key, event.entered_ts]],
        "documents": [to_jsonable(doc)],
        "failures": [],
    }
    refused = Receipt.failed("org-1", "customer", ErrorClass.VALIDATION, "Invalid e-mail (2170)")

    receipts = deals.create_documents(mapped, receipts_to_json([refused]), [])
    summary = deals.finish(mapped, receipts, [])

    assert summary["quarantined"] == ["box-refused"]
    (row,) = state.quarantine_list("quickbooks", "deal")
    assert row.source_key == "box-refused"
    assert "org-1" in row.reason and "Invalid e-mail (2170)" in row.reason, row.reason
    # its stage event is done: not left claimed for the teardown to hand to the next run
    assert state.stage_events_list(pending_only=True) == []
    assert deals.release_claims("run-1") == []
