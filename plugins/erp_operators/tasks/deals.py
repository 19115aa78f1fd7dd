"""Task bodies of ``streak_deals_to_erp``: plain functions of the run's params and upstream results.

Each returns JSON-ready data (XCom) and logs what it did in words an operator can act on.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from erp_operators.contract import ENTITY_CUSTOMER, ENTITY_DOCUMENT, ENTITY_ITEM
from erp_operators.tasks.common import call_erp as _call_erp
from erp_operators.tasks.common import parse_bound
from erp_operators.tasks.common import raise_on_unwritten as _raise_on_unwritten
from erp_operators.tasks.common import record as _record
from erp_operators.tasks.common import store as _store
from sync_core.config import SyncConfig, load_config

if TYPE_CHECKING:
    from streak_hooks.hook import StreakHook
    from sync_core.state import StateStore

__all__ = [
    "create_documents",
    "detect",
    "finish",
    "map_and_validate",
    "parse_bound",
    "release_claims",
    "resolve_items",
    "upsert_customers",
    "write_back",
]

log = logging.getLogger(__name__)


def detect(params: dict[str, Any], run_id: str, *, config: SyncConfig | None = None) -> dict[str, Any]:
    """Find and claim the boxes that entered a trigger stage (see :mod:`streak_hooks.detection`).

    ``replay_quarantine`` adds every quarantined deal to ``box_keys``. An explicitly named box whose
    deal is quarantined has its finished stage entry re-opened, so the replay can claim it again;
    a box that synced already stays done (nothing is written twice).
    """
    from streak_hooks.detection import (
        Detection,
        DetectionWindow,
        detect_won_boxes,
        pipeline_to_api,
        resolve_pipeline,
        resolve_stage_keys,
    )
    from streak_hooks.hook import StreakHook

    config = config or load_config()
    rule = config.rule_for(params.get("erp") or None)
    dry_run = bool(params.get("dry_run"))
    replay = bool(params.get("replay_quarantine"))
    hook, state = StreakHook(), _store()
    box_keys = list(dict.fromkeys(params.get("box_keys") or ()))
    quarantined = (
        {row.source_key for row in state.quarantine_list(rule.erp, "deal")} if box_keys or replay else set()
    )
    if replay:
        log.info("replay: %d quarantined deal(s) for %s: %s", len(quarantined), rule.erp, sorted(quarantined))
        box_keys += sorted(quarantined - set(box_keys))
    gone = _reopen_quarantined(hook, state, [k for k in box_keys if k in quarantined], dry_run=dry_run)
    box_keys = [k for k in box_keys if k not in gone]
    window = DetectionWindow(
        since_ms=parse_bound(params.get("since")),
        until_ms=parse_bound(params.get("until"), end_of_day=True),
        box_keys=tuple(box_keys),
        overlap_ms=int(config.overlap_minutes * 60_000),
        initial_lookback_ms=int(config.initial_lookback_days * 86_400_000),
        lease_seconds=config.lease_minutes * 60,
    )
    if not box_keys and (replay or gone):  # nothing (left) to replay; not a watermark run either
        pipeline = resolve_pipeline(hook, rule.name)
        found = Detection(pipeline, resolve_stage_keys(pipeline, rule.trigger_stages))
    else:
        found = detect_won_boxes(
            hook,
            state,
            pipeline_name=rule.name,
            trigger_stages=rule.trigger_stages,
            claimant=run_id,
            now_ms=int(time.time() * 1000),
            window=window,
            dry_run=dry_run,
        )
    found.skipped += [f"box {key}: no longer exists in Streak; its quarantine row is kept" for key in gone]
    claimed = {b.key for b in found.boxes}
    for key in box_keys:
        if key not in claimed and not any(note.startswith(f"box {key}:") for note in found.skipped):
            found.skipped.append(f"box {key}: not claimed: synced already, or taken by a run still going")
    for note in found.skipped:
        log.warning("%s", note)
    stage_names = {s.key: s.name for s in found.pipeline.stages}
    for box in found.boxes:
        entered = datetime.fromtimestamp(box.last_stage_change_ts / 1000, UTC).isoformat(timespec="seconds")
        log.info("box %s %r entered %s at %s", box.key, box.name, stage_names.get(box.stage_key), entered)
    if dry_run:
        log.info(
            "dry run: %d box(es) would be synced to %s; nothing was claimed or written",
            len(found.boxes),
            rule.erp,
        )
    return {
        "erp": rule.erp,
        "pipeline": {"key": found.pipeline.key, "name": found.pipeline.name},
        "pipeline_api": pipeline_to_api(found.pipeline),  # so later tasks need not fetch it again
        "trigger_stages": list(rule.trigger_stages),
        "writeback_field": rule.writeback_field,
        "dry_run": dry_run,
        "seen": found.seen,
        "window": {"since_ms": found.lower_ms, "until_ms": found.upper_ms},
        "skipped": found.skipped,
        "boxes": [
            {
                "key": b.key,
                "name": b.name,
                "stage": stage_names.get(b.stage_key, b.stage_key),
                "entered_ts": b.last_stage_change_ts,
                "raw": b.raw,
            }
            for b in found.boxes
        ],
        "events": [[e.pipeline_key, e.box_key, e.stage_key, e.entered_ts] for e in found.events],
    }


def _reopen_quarantined(
    hook: StreakHook, state: StateStore, box_keys: list[str], *, dry_run: bool
) -> list[str]:
    """Re-open the finished stage entry of each quarantined box named for a replay (not in a dry
    run); returns the keys of boxes deleted from Streak since, which cannot be replayed."""
    from streak_hooks.errors import StreakAPIError
    from sync_core.state import StageEvent

    events, gone = [], []
    for key in box_keys:
        try:
            box = hook.get_box(key)
        except StreakAPIError as exc:
            if exc.status != 404:
                raise
            gone.append(key)
            continue
        events.append(StageEvent(box.pipeline_key, box.key, box.stage_key, box.last_stage_change_ts))
    if events and not dry_run:
        log.info("replay: %d quarantined box(es) re-opened", state.reopen_stage_events(events))
    return gone


# -- map + validate ----------------------------------------------------------------------------
def map_and_validate(
    detected: dict[str, Any], run_id: str, *, results_dir: str | None = None
) -> dict[str, Any]:
    """Streak boxes -> canonical records; invalid ones quarantined with reasons, the rest go on."""
    from pathlib import Path

    from streak_hooks.hook import StreakHook
    from streak_hooks.models import Box, Pipeline
    from sync_core.canonical import to_jsonable
    from sync_core.mapping import load_mapping, map_boxes
    from sync_core.quarantine import quarantine_failures
    from sync_core.validation import validate_batch

    erp = detected["erp"]
    result: dict[str, Any] = {
        "erp": erp,
        "dry_run": detected["dry_run"],
        "pipeline": detected["pipeline"],
        "events": detected["events"],
        "documents": [],
        "customers": [],
        "items": [],
        "failures": [],
    }
    if not detected["boxes"]:
        return result
    hook = StreakHook()
    pipeline = Pipeline.from_api(detected["pipeline_api"])
    writeback = pipeline.field_by_name(detected["writeback_field"])
    if writeback is None:  # checked before anything is written to the ERP
        raise ValueError(
            f"write-back field {detected['writeback_field']!r} not found in pipeline {pipeline.name!r}"
        )
    boxes = [Box.from_api(b["raw"]) for b in detected["boxes"]]
    from streak_hooks.errors import StreakAPIError

    def linked(get: Any, keys: Any) -> dict[str, Any]:
        """Contacts/orgs by key; one deleted in Streak (404) is left out, so only its box is quarantined."""
        found: dict[str, Any] = {}
        for k in dict.fromkeys(keys):
            try:
                found[k] = get(k)
            except StreakAPIError as exc:
                if exc.status != 404:
                    raise
                log.warning("%s; the boxes linking it are quarantined", exc)
        return found

    contacts = linked(hook.get_contact, (k for b in boxes for k in b.contact_keys[:1]))
    orgs = linked(hook.get_organization, (k for b in boxes for k in b.organization_keys[:1]))
    mapping = load_mapping(erp)
    mapped = map_boxes(mapping, pipeline, boxes, contacts, orgs)
    out_dir = Path(results_dir) if results_dir else None
    report = validate_batch(mapped.documents, mapped.customers, mapped.items, mapping, out_dir)
    failures = list(mapped.failures) + list(report.failures)
    for failure in failures:
        log.warning("quarantine %s: %s", failure.source_key, failure.reason)
    if not detected["dry_run"] and failures:
        quarantine_failures(_store(), erp, failures)
    log.info(
        "%d deal(s) mapped: %d valid, %d quarantined",
        len(boxes),
        len(report.valid_documents),
        len({f.source_key for f in failures}),
    )
    result.update(
        writeback_field={"key": writeback.key, "name": writeback.name},
        documents=[to_jsonable(d) for d in report.valid_documents],
        customers=[to_jsonable(c) for c in report.valid_customers],
        items=[to_jsonable(i) for i in report.valid_items],
        failures=[
            {"source_key": f.source_key, "entity": f.entity, "field": f.field, "reason": f.reason}
            for f in failures
        ],
    )
    return result


# -- ERP writes --------------------------------------------------------------------------------
def upsert_customers(mapped: dict[str, Any]) -> list[dict[str, Any]]:
    """Find or create the customer of every valid deal (one receipt per customer)."""
    from erp_operators.receipts import receipts_to_json
    from sync_core.canonical import customer_from_json

    customers = [customer_from_json(c) for c in mapped["customers"]]
    if mapped["dry_run"]:
        for c in customers:
            log.info(
                "dry run: would upsert customer %s %r in %s", c.external_key, c.display_name, mapped["erp"]
            )
        return []
    if not customers:
        return []
    store = _store()
    receipts = _call_erp(mapped["erp"], store, "upsert_customers", customers)
    for r in receipts:
        log.info("customer %s: %s %s %s", r.external_key, r.status.value, r.erp_id, r.message)
    _record(store, mapped["erp"], ENTITY_CUSTOMER, receipts)
    _raise_on_unwritten("upsert customers", receipts)
    return receipts_to_json(receipts)


def resolve_items(mapped: dict[str, Any]) -> list[dict[str, Any]]:
    """Resolve (and create when missing) every item the valid deals sell."""
    from erp_operators.receipts import receipts_to_json
    from sync_core.canonical import item_from_json

    items = [item_from_json(i) for i in mapped["items"]]
    if mapped["dry_run"]:
        for i in items:
            log.info("dry run: would resolve item %s %r in %s", i.sku, i.name, mapped["erp"])
        return []
    if not items:
        return []
    store = _store()
    receipts = _call_erp(mapped["erp"], store, "resolve_items", items)
    _record(store, mapped["erp"], ENTITY_ITEM, receipts)
    _raise_on_unwritten("resolve items", receipts)
    return receipts_to_json(receipts)


def create_documents(
    mapped: dict[str, Any], customer_receipts: list[dict[str, Any]], item_receipts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Create one invoice / sales order per valid deal; ERP-side refusals are quarantined.

    A deal whose customer the ERP refused gets a failed (validation) receipt too, so that
    :func:`finish` closes its stage event as quarantined instead of leaving it claimed.
    """
    from erp_operators.receipts import ErrorClass, Receipt, receipts_from_json, receipts_to_json
    from sync_core.canonical import document_from_json
    from sync_core.mapping.results import RecordFailure
    from sync_core.quarantine import quarantine_failures

    docs = [document_from_json(d) for d in mapped["documents"]]
    if mapped["dry_run"]:
        for d in docs:
            log.info(
                "dry run: would create %s for box %s (%s %s, %d line(s)) in %s",
                d.kind.value,
                d.external_key,
                d.total,
                d.currency,
                len(d.lines),
                mapped["erp"],
            )
        return []
    customers = receipts_from_json(customer_receipts)
    customer_refs = {r.external_key: r.erp_id for r in customers if r.ok}
    customer_errors = {r.external_key: f": {r.message}" for r in customers if not r.ok and r.message}
    item_refs = {r.external_key: r.erp_id for r in receipts_from_json(item_receipts) if r.ok}
    ready = [d for d in docs if d.customer.external_key in customer_refs]
    store = _store()
    no_customer = [
        RecordFailure(
            d.external_key,
            "deal",
            "customer",
            f"box {d.external_key}: customer {d.customer.external_key} ({d.customer.display_name!r}) "
            f"could not be written to the ERP{customer_errors.get(d.customer.external_key, '')}",
            {"customer": d.customer.external_key},
        )
        for d in docs
        if d.customer.external_key not in customer_refs
    ]
    failures = list(no_customer)
    receipts = (
        _call_erp(mapped["erp"], store, "create_documents", ready, customer_refs, item_refs) if ready else []
    )
    for r in receipts:
        log.info("document for box %s: %s %s %s", r.external_key, r.status.value, r.erp_number, r.message)
    failures += [
        RecordFailure(r.external_key, "deal", "", f"box {r.external_key}: {r.message}")
        for r in receipts
        if r.error_class == ErrorClass.VALIDATION
    ]
    quarantine_failures(store, mapped["erp"], failures)
    _record(store, mapped["erp"], ENTITY_DOCUMENT, receipts)
    _raise_on_unwritten("create documents", receipts)
    # a failed receipt for each deal left without a customer (not put in the ledger: no document was
    # attempted), so that finish() closes it as quarantined instead of leaving its claim open
    refused = [
        Receipt.failed(f.source_key, ENTITY_DOCUMENT, ErrorClass.VALIDATION, f.reason) for f in no_customer
    ]
    return receipts_to_json([*receipts, *refused])


# -- write back + finish -----------------------------------------------------------------------
def write_back(mapped: dict[str, Any], document_receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put the ERP document number on each box (field + one comment); skipped when already there."""
    from erp_operators.receipts import receipts_from_json
    from erp_operators.registry import connector_class
    from streak_hooks.hook import StreakHook

    receipts = [r for r in receipts_from_json(document_receipts) if r.ok and r.erp_number]
    if not receipts:
        return []
    cls = connector_class(mapped["erp"])
    hook = StreakHook()
    field_key, field_name = mapped["writeback_field"]["key"], mapped["writeback_field"]["name"]
    done = []
    for r in receipts:
        box = hook.get_box(r.external_key)
        if str(box.fields.get(field_key) or "") == r.erp_number:
            done.append({"box_key": r.external_key, "erp_number": r.erp_number, "written": False})
            continue
        hook.set_box_field(r.external_key, field_key, r.erp_number)
        hook.create_comment(
            r.external_key, f"{cls.document_noun} {r.erp_number} created in {cls.display_name}"
        )
        done.append({"box_key": r.external_key, "erp_number": r.erp_number, "written": True})
        log.info("box %s: %s = %s", r.external_key, field_name, r.erp_number)
    return done


def finish(
    mapped: dict[str, Any], document_receipts: list[dict[str, Any]], written: list[dict[str, Any]]
) -> dict[str, Any]:
    """Close the run's claims, release fixed records from quarantine and summarise."""
    from erp_operators.receipts import receipts_from_json, summarize
    from sync_core.alerts import check_quarantine_growth
    from sync_core.quarantine import release_synced
    from sync_core.state import StageEvent

    receipts = receipts_from_json(document_receipts)
    synced = {r.external_key for r in receipts if r.ok}
    quarantined = {f["source_key"] for f in mapped.get("failures", [])}
    quarantined |= {r.external_key for r in receipts if not r.ok}
    summary = {
        "erp": mapped["erp"],
        "dry_run": mapped["dry_run"],
        "documents": summarize(receipts),
        "written_back": sum(1 for w in written if w["written"]),
        "quarantined": sorted(quarantined),
    }
    if mapped["dry_run"]:
        return summary
    store = _store()
    events = [StageEvent(*e) for e in mapped.get("events", [])]
    store.complete_stage_events([e for e in events if e.box_key in synced | quarantined])
    release_synced(store, mapped["erp"], "deal", sorted(synced))
    check_quarantine_growth(store, mapped["erp"])  # alert if this run grew it past the threshold
    log.info("run summary: %s", summary)
    return summary


def release_claims(run_id: str) -> list[str]:
    """Give back the stage-event claims this run took but did not finish; returns their box keys.

    Runs as the DAG's teardown, once every other task of the run is over (succeeded, failed for
    good, or never ran), so a run that failed (a revoked token, retries used up) does not keep its
    deals from the next run until the lease ends. Only claims held by ``run_id`` are touched.
    """
    released = _store().release_claims_of(run_id)
    boxes = sorted({e.box_key for e in released})
    if boxes:
        log.warning(
            "run %s ended with %d deal(s) unfinished; released for the next run: %s",
            run_id,
            len(boxes),
            ", ".join(boxes),
        )
    else:
        log.info("run %s holds no unfinished claims", run_id)
    return boxes
