"""The state store on SQLite and PostgreSQL: idempotent schema, ledger, watermarks, quarantine,
stage-event claims, token lock and the shared rate budget, including across processes."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from sync_core.state import StageEvent, StateStore


def test_create_all_is_idempotent(any_store: StateStore) -> None:
    any_store.create_all()
    any_store.create_all()
    assert any_store.get_watermark("nothing") is None


def test_watermark_only_moves_forward(any_store: StateStore) -> None:
    assert any_store.advance_watermark("wm", 100) == 100
    assert any_store.advance_watermark("wm", 50) == 100
    assert any_store.advance_watermark("wm", 150) == 150
    assert any_store.get_watermark("wm") == 150


def test_ledger_upsert_counts_attempts_and_keeps_ids_on_failure(any_store: StateStore) -> None:
    any_store.ledger_record(
        "quickbooks",
        "invoice",
        [{"source_key": "box1", "erp_id": "7", "erp_number": "1001", "status": "created"}],
    )
    any_store.ledger_record(
        "quickbooks", "invoice", [{"source_key": "box1", "status": "failed", "error": "429 throttled"}]
    )
    entry = any_store.ledger_get("quickbooks", "invoice", "box1")
    assert entry is not None
    assert (entry.erp_id, entry.erp_number, entry.status, entry.attempts) == ("7", "1001", "failed", 2)
    assert entry.error == "429 throttled"
    assert any_store.ledger_get("quickbooks", "customer", "box1") is None


def test_quarantine_put_increments_and_release_removes(any_store: StateStore) -> None:
    assert (
        any_store.quarantine_put("quickbooks", "deal", "b1", "Quantity 'ten' is not a number", {"q": "ten"})
        == 1
    )
    assert any_store.quarantine_put("quickbooks", "deal", "b1", "still bad", {"q": "ten"}) == 2
    any_store.quarantine_put("quickbooks", "deal", "b2", "missing Unit Price", {})
    rows = any_store.quarantine_list("quickbooks")
    assert [(r.source_key, r.attempts, r.reason) for r in rows] == [
        ("b1", 2, "still bad"),
        ("b2", 1, "missing Unit Price"),
    ]
    assert rows[0].payload == {"q": "ten"}
    assert any_store.quarantine_release("quickbooks", "deal", ["b1"]) == 1
    assert [r.source_key for r in any_store.quarantine_list()] == ["b2"]


def test_stage_event_claimed_once_then_done(any_store: StateStore) -> None:
    ev = StageEvent("p", "box", "5003", 1_700_000_000_000)
    assert any_store.claim_stage_events([ev], "run-1") == [ev]
    assert any_store.claim_stage_events([ev], "run-2") == []  # overlapping run gets nothing
    assert any_store.claim_stage_events([ev], "run-1") == [ev]  # a retry of the owner keeps it
    any_store.complete_stage_events([ev])
    assert any_store.claim_stage_events([ev], "run-1") == []
    again = StageEvent("p", "box", "5003", 1_700_000_500_000)  # left and re-entered the stage
    assert any_store.claim_stage_events([again], "run-3") == [again]


def test_stage_event_lease_expiry_and_release(any_store: StateStore) -> None:
    ev = StageEvent("p", "box", "5003", 1)
    assert any_store.claim_stage_events([ev], "dead-run", lease_seconds=3600) == [ev]
    assert any_store.claim_stage_events([ev], "next-run", lease_seconds=3600) == []
    assert any_store.claim_stage_events([ev], "next-run", lease_seconds=0) == [ev]
    any_store.release_stage_events([ev])
    assert any_store.claim_stage_events([ev], "third-run", lease_seconds=3600) == [ev]
    assert any_store.pending_stage_events() == [ev]


def test_release_claims_of_touches_only_that_runs_unfinished_claims(any_store: StateStore) -> None:
    mine = [StageEvent("p", f"box{i}", "5003", i) for i in range(3)]
    theirs = StageEvent("p", "other", "5003", 9)
    assert any_store.claim_stage_events(mine, "failed-run") == mine
    assert any_store.claim_stage_events([theirs], "running-run") == [theirs]
    any_store.complete_stage_events(mine[:1])  # finished before the run failed: stays done
    assert any_store.release_claims_of("failed-run") == mine[1:]
    assert any_store.release_claims_of("failed-run") == []  # nothing left to give back
    assert any_store.claim_stage_events([*mine, theirs], "next-run", lease_seconds=3600) == mine[1:]
    assert any_store.claim_stage_events([theirs], "running-run") == [theirs]  # still its own
    with pytest.raises(ValueError, match="claimant"):
        any_store.release_claims_of("")


def test_token_lock_round_trip(any_store: StateStore) -> None:
    assert any_store.get_token("qbo:realm") is None
    with any_store.token_lock("qbo:realm") as tok:
        assert tok.value is None
        tok.set("RT-1")
    any_store.put_token("qbo:realm", "RT-2")
    assert any_store.get_token("qbo:realm") == "RT-2"


def test_budget_grants_until_capacity_then_asks_to_wait(any_store: StateStore) -> None:
    assert any_store.take_budget("b", 30, 40, 60.0) == 0.0
    assert any_store.take_budget("b", 10, 40, 60.0) == 0.0
    wait = any_store.take_budget("b", 1, 40, 60.0)
    assert 59.0 < wait <= 60.0
    assert any_store.take_budget("short", 1, 1, 0.2) == 0.0
    time.sleep(0.25)
    assert any_store.take_budget("short", 1, 1, 0.2) == 0.0


def _claim_worker(url: str, name: str, queue: mp.Queue) -> None:
    store = StateStore.from_url(url)
    events = [StageEvent("p", f"box{i}", "5003", i) for i in range(40)]
    queue.put((name, [e.box_key for e in store.claim_stage_events(events, name)]))


def _token_worker(url: str, queue: mp.Queue) -> None:
    store = StateStore.from_url(url)
    for _ in range(10):
        with store.token_lock("counter") as tok:
            value = int(tok.value or 0)
            time.sleep(0.005)  # widen the race window: without the lock increments get lost
            tok.set(str(value + 1))
    queue.put("done")


def test_processes_never_claim_the_same_event_and_never_lose_a_token_write(any_store: StateStore) -> None:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_worker, args=(any_store.url, f"run{i}", queue)) for i in range(3)]
    procs += [ctx.Process(target=_token_worker, args=(any_store.url, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    claims = [keys for item in results if item != "done" for _, keys in [item]]
    all_claimed = [k for keys in claims for k in keys]
    assert sorted(all_claimed) == sorted(f"box{i}" for i in range(40))  # each exactly once
    assert any_store.get_token("counter") == "30"
