"""Stage-change detection against the Streak sandbox and a real SQLite state store."""

from __future__ import annotations

import threading

import pytest

from streak_hooks.detection import DetectionError, DetectionWindow, detect_won_boxes
from sync_core.state import StateStore
from tests.streak.conftest import Admin

WON = ["Closed-Won"]


def _detect(hook, store: StateStore, admin: Admin, claimant: str, **window) -> list[str]:
    found = detect_won_boxes(
        hook,
        store,
        pipeline_name="Sales",
        trigger_stages=WON,
        claimant=claimant,
        now_ms=admin.app.clock.now_ms(),
        window=DetectionWindow(**window) if window else None,
    )
    return [b.key for b in found.boxes]


def _won_keys(admin: Admin) -> set[str]:
    state = admin.state()
    pipeline = state["pipelines"][0]
    won = next(k for k, s in pipeline["stages"].items() if s["name"] == "Closed-Won")
    return {b["key"] for b in state["boxes"] if b["stageKey"] == won}


def _open_box(admin: Admin) -> str:
    state = admin.state()
    pipeline = state["pipelines"][0]
    lead = next(k for k, s in pipeline["stages"].items() if s["name"] == "Lead")
    return next(b["key"] for b in state["boxes"] if b["stageKey"] == lead)


def test_first_run_finds_seeded_won_boxes_and_second_run_finds_none(streak_hook, sqlite_store, admin) -> None:
    first = _detect(streak_hook, sqlite_store, admin, "run-1")
    assert set(first) == _won_keys(admin)
    assert len(first) >= 5
    assert _detect(streak_hook, sqlite_store, admin, "run-2") == []


def test_box_moved_after_watermark_found_once(streak_hook, sqlite_store, admin) -> None:
    _detect(streak_hook, sqlite_store, admin, "run-1")
    box = _open_box(admin)
    admin.post("clock", {"advance_ms": 60_000})
    admin.post(f"boxes/{box}/stage", {"stage": "Closed-Won"})
    assert _detect(streak_hook, sqlite_store, admin, "run-2") == [box]
    assert _detect(streak_hook, sqlite_store, admin, "run-3") == []


def test_overlapping_runs_find_each_box_once(streak_hook, sqlite_store, admin) -> None:
    _detect(streak_hook, sqlite_store, admin, "run-0")
    moved = []
    for _ in range(3):
        box = _open_box(admin)
        admin.post("clock", {"advance_ms": 1_000})
        admin.post(f"boxes/{box}/stage", {"stage": "Closed-Won"})
        moved.append(box)
    results: dict[str, list[str]] = {}

    def run(name: str) -> None:
        results[name] = _detect(streak_hook, StateStore.from_url(sqlite_store.url), admin, name)

    threads = [threading.Thread(target=run, args=(f"overlap-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    claimed = results["overlap-0"] + results["overlap-1"]
    assert sorted(claimed) == sorted(moved)


def test_box_that_leaves_and_reenters_is_found_again(streak_hook, sqlite_store, admin) -> None:
    box = _open_box(admin)
    admin.post(f"boxes/{box}/stage", {"stage": "Closed-Won"})
    assert box in _detect(streak_hook, sqlite_store, admin, "run-1")
    admin.post("clock", {"advance_ms": 60_000})
    admin.post(f"boxes/{box}/stage", {"stage": "Proposal"})
    assert _detect(streak_hook, sqlite_store, admin, "run-2") == []
    admin.post("clock", {"advance_ms": 60_000})
    admin.post(f"boxes/{box}/stage", {"stage": "Closed-Won"})
    assert _detect(streak_hook, sqlite_store, admin, "run-3") == [box]


def test_unfinished_claim_is_handed_out_again_after_its_lease(streak_hook, sqlite_store, admin) -> None:
    first = _detect(streak_hook, sqlite_store, admin, "dead-run")
    assert first
    # The run died: nothing completed. Its claims come back once the lease is over, even though the
    # watermark has moved past them.
    again = _detect(streak_hook, sqlite_store, admin, "next-run", lease_seconds=0)
    assert set(again) == set(first)


def test_explicit_box_keys_and_window(streak_hook, sqlite_store, admin) -> None:
    won = sorted(_won_keys(admin))
    lead = _open_box(admin)
    assert _detect(streak_hook, sqlite_store, admin, "replay", box_keys=(won[0], lead)) == [won[0]]
    assert _detect(streak_hook, sqlite_store, admin, "window", since_ms=0, until_ms=1) == []


def test_unknown_stage_name_is_a_clear_error(streak_hook, sqlite_store) -> None:
    with pytest.raises(
        DetectionError, match=r"stage 'Closed Won!' not found in pipeline 'Sales' \(stages: Lead"
    ):
        detect_won_boxes(
            streak_hook,
            sqlite_store,
            pipeline_name="Sales",
            trigger_stages=["Closed Won!"],
            claimant="x",
            now_ms=0,
        )
    with pytest.raises(DetectionError, match="pipeline 'Nope' not found"):
        detect_won_boxes(
            streak_hook, sqlite_store, pipeline_name="Nope", trigger_stages=WON, claimant="x", now_ms=0
        )
