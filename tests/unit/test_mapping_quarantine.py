"""Quarantine: invalid records go to the state store with reasons; fixed ones leave on their next sync."""

from __future__ import annotations

import json
from pathlib import Path

from streak_hooks.models import Box, Contact, Organization, Pipeline
from sync_core.mapping import load_mapping, map_boxes
from sync_core.quarantine import quarantine_failures, release_synced
from sync_core.state import StateStore
from sync_core.validation import validate_batch

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mixed_batch.json"


def _sync_once(store: StateStore, data: dict) -> list[str]:
    """What the DAG does between Streak and the ERP: map, validate, quarantine, release the written ones."""
    mapping = load_mapping("quickbooks")
    pipeline = Pipeline.from_api(data["pipeline"])
    boxes = [Box.from_api(b) for b in data["boxes"]]
    contacts = {c["key"]: Contact.from_api(c) for c in data["contacts"]}
    orgs = {o["key"]: Organization.from_api(o) for o in data["organizations"]}
    mapped = map_boxes(mapping, pipeline, boxes, contacts, orgs)
    report = validate_batch(mapped.documents, mapped.customers, mapped.items, mapping, None)
    quarantine_failures(store, "quickbooks", [*mapped.failures, *report.failures])
    written = [d.external_key for d in report.valid_documents]  # the ERP write succeeded for these
    release_synced(store, "quickbooks", "deal", written)
    release_synced(store, "quickbooks", "customer", [c.external_key for c in report.valid_customers])
    return written


def test_invalid_records_are_quarantined_and_released_once_fixed(tmp_path: Path) -> None:
    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}").create_all()
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))

    written = _sync_once(store, data)
    assert written == ["agxGoodSingle", "agxGoodLines", "agxApostrophe", "agxEuroDecimal"]
    rows = {(r.entity, r.source_key): r for r in store.quarantine_list("quickbooks")}
    assert set(rows) == {
        ("deal", "agxMissingAmount"), ("deal", "agxBadQuantity"), ("deal", "agxUnknownProduct"),
        ("deal", "agxBadTotal"), ("deal", "agxBadEmail"), ("customer", "c_jane"),
    }  # fmt: skip
    bad_quantity = rows[("deal", "agxBadQuantity")]
    assert bad_quantity.reason == "box agxBadQuantity: Quantity 'ten' is not a number"
    assert bad_quantity.attempts == 1
    assert bad_quantity.payload["record"]["box"]["boxKey"] == "agxBadQuantity"
    assert bad_quantity.payload["failures"] == [{"field": "Quantity", "reason": bad_quantity.reason}]
    assert rows[("customer", "c_jane")].reason.startswith("customer c_jane (Jane Doe): e-mail")

    _sync_once(store, data)  # nothing fixed yet: one more attempt each, nothing duplicated
    rows = {(r.entity, r.source_key): r for r in store.quarantine_list("quickbooks")}
    assert len(rows) == 6 and rows[("deal", "agxBadQuantity")].attempts == 2

    for box in data["boxes"]:  # the user fixes two deals and the contact's e-mail in Streak
        if box["boxKey"] == "agxBadQuantity":
            box["fields"]["1002"] = "10"
        if box["boxKey"] == "agxBadTotal":
            box["fields"]["1004"] = "357.95"
    next(c for c in data["contacts"] if c["key"] == "c_jane")["emailAddresses"] = ["jane.doe@example.com"]
    written = _sync_once(store, data)
    assert {"agxBadQuantity", "agxBadTotal", "agxBadEmail"} <= set(written)
    remaining = sorted((r.entity, r.source_key) for r in store.quarantine_list("quickbooks"))
    assert remaining == [("deal", "agxMissingAmount"), ("deal", "agxUnknownProduct")]
