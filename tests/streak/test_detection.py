"""Stage-change detection against the Streak sandbox and a real SQLite state store."""

from __future__ import annotations

import threading

import pytest

from streak_hooks.detection import DetectionError, DetectionWindow, detect_won_boxes, watermark_name
from sync_core.state import StateStore
from tests.streak.conftest import Admin

WON = ["Closed-Won"]


def _detect(hook, store: StateStore, admin: Admin, claimant: str, **window) -> list[str]:
    return [b.key for b in _detection(hook, store, admin, claimant, **window).boxes]


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


def test_an_unknown_box_key_is_skipped_with_a_note_and_the_others_go_on(
    streak_hook, sqlite_store, admin
) -> None:
    won = sorted(_won_keys(admin))
    found = _detection(streak_hook, sqlite_store, admin, "replay", box_keys=("agxzNOSUCHBOX", won[1]))
    assert [b.key for b in found.boxes] == [won[1]]
    assert found.skipped == ["box agxzNOSUCHBOX: not found in Streak (deleted, or a mistyped key)"]


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


def _detection(hook, store: StateStore, admin: Admin, claimant: str, dry_run: bool = False, **window):
    return detect_won_boxes(
        hook,
        store,
        pipeline_name="Sales",
        trigger_stages=WON,
        claimant=claimant,
        now_ms=admin.app.clock.now_ms(),
        window=DetectionWindow(**window) if window else None,
        dry_run=dry_run,
    )


def test_since_until_window_finds_the_box_inside_and_leaves_the_watermark(
    streak_hook, sqlite_store, admin
) -> None:
    box = _open_box(admin)
    admin.post(f"boxes/{box}/stage", {"stage": "Closed-Won"})
    entered = next(b for b in admin.state()["boxes"] if b["key"] == box)["lastStageChangeTimestamp"]
    found = _detection(streak_hook, sqlite_store, admin, "window", since_ms=entered - 1, until_ms=entered + 1)
    assert [b.key for b in found.boxes] == [box]
    assert sqlite_store.get_watermark(watermark_name(found.pipeline, found.trigger_stage_keys)) is None


def test_dry_run_claims_nothing_and_moves_no_watermark(streak_hook, sqlite_store, admin) -> None:
    found = _detection(streak_hook, sqlite_store, admin, "dry", dry_run=True)
    assert {b.key for b in found.boxes} == _won_keys(admin)
    assert sqlite_store.stage_events_list() == []
    assert sqlite_store.get_watermark(watermark_name(found.pipeline, found.trigger_stage_keys)) is None
    # and a real run afterwards still gets every box
    assert set(_detect(streak_hook, sqlite_store, admin, "real")) == _won_keys(admin)


def test_paging_stops_at_boxes_older_than_the_watermark(streak_hook, sqlite_store, admin) -> None:
    admin.post("seed", {"boxes": 1200, "won_fraction": 0.5})
    path = "/api/v1/pipelines/{}/boxes".format(admin.state()["pipelines"][0]["key"])
    _detect(streak_hook, sqlite_store, admin, "run-1")
    first_pages = len(admin.requests_to(path))
    assert first_pages >= 5  # ~600 won boxes, 100 a page
    box = _open_box(admin)
    admin.post("clock", {"advance_ms": 3_600_000})
    admin.post(f"boxes/{box}/stage", {"stage": "Closed-Won"})
    assert _detect(streak_hook, sqlite_store, admin, "run-2") == [box]
    assert len(admin.requests_to(path)) - first_pages == 1  # newest first: one page is enough


def test_claim_of_a_box_that_left_the_stage_is_closed_not_looked_up_forever(
    streak_hook, sqlite_store, admin
) -> None:
    box = _open_box(admin)
    admin.post(f"boxes/{box}/stage", {"stage": "Closed-Won"})
    assert box in _detect(streak_hook, sqlite_store, admin, "dead-run")
    admin.post("clock", {"advance_ms": 60_000})
    admin.post(f"boxes/{box}/stage", {"stage": "Closed-Lost"})
    # the dead run's claims are stale (lease 0): the box is looked up once, then its claim closed
    assert box not in _detect(streak_hook, sqlite_store, admin, "run-2", lease_seconds=0)
    assert box not in {e.box_key for e in sqlite_store.pending_stage_events()}
