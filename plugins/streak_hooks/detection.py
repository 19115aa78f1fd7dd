"""Stage-change detection: which boxes entered a trigger stage since the stored watermark.

Configured by names (pipeline name, stage names); names are resolved to keys through the API.
A box's entry into a stage is a :class:`~sync_core.state.StageEvent` (box key, stage key,
``lastStageChangeTimestamp``). Events are claimed in the state store, so overlapping runs see
each event once, and a box that leaves the stage and re-enters it later is a new event. Events a
dead run claimed but never finished are handed out again after their lease, so nothing is lost
even when they fall behind the watermark.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streak_hooks.errors import StreakAPIError
from streak_hooks.models import Box, Pipeline

if TYPE_CHECKING:
    from streak_hooks.hook import StreakHook
    from sync_core.state import StageEvent, StateStore

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
DAY_MS = 86_400_000


class DetectionError(ValueError):
    """The configured pipeline or stage names do not exist in Streak."""


@dataclass(frozen=True, slots=True)
class DetectionWindow:
    """Which stage changes to look at (epoch ms, inclusive) and how."""

    since_ms: int | None = None  # None: watermark minus the overlap
    until_ms: int | None = None
    box_keys: tuple[str, ...] = ()  # explicit replay: these boxes, whatever the watermark
    overlap_ms: int = 10 * MINUTE_MS
    initial_lookback_ms: int = 30 * DAY_MS
    lease_seconds: float = 3600.0


@dataclass(slots=True)
class Detection:
    """What one detection pass found; ``boxes`` are the ones this run now owns."""

    pipeline: Pipeline
    trigger_stage_keys: tuple[str, ...]
    boxes: list[Box] = field(default_factory=list)
    events: list[StageEvent] = field(default_factory=list)
    seen: int = 0  # candidate boxes in a trigger stage inside the window (before de-duplication)
    lower_ms: int = 0
    upper_ms: int | None = None
    skipped: list[str] = field(default_factory=list)  # human-readable notes


def resolve_pipeline(hook: StreakHook, pipeline_name: str) -> Pipeline:
    """Find a pipeline by name, with its stages and field definitions.

    ``/v1/pipelines`` already carries both; they are fetched separately only when it does not.
    """
    pipelines = hook.get_pipelines()
    found = [p for p in pipelines if p.name.strip().casefold() == pipeline_name.strip().casefold()]
    if not found:
        names = ", ".join(sorted(p.name for p in pipelines)) or "none"
        raise DetectionError(f"Streak pipeline {pipeline_name!r} not found (pipelines: {names})")
    pipeline = found[0]
    if pipeline.stages and pipeline.fields:
        return pipeline
    stages = hook.get_stages(pipeline.key)
    order = [k for k in pipeline.raw.get("stageOrder") or [] if k in stages] or list(stages)
    return dataclasses.replace(
        pipeline, stages=tuple(stages[k] for k in order), fields=tuple(hook.get_fields(pipeline.key))
    )


def pipeline_to_api(pipeline: Pipeline) -> dict:
    """A resolved pipeline back in Streak's JSON shape (``Pipeline.from_api`` reads it), for XCom."""
    return {
        **pipeline.raw,
        "stages": {s.key: {**s.raw, "key": s.key, "name": s.name} for s in pipeline.stages},
        "stageOrder": [s.key for s in pipeline.stages],
        "fields": [f.raw for f in pipeline.fields],
    }


def resolve_stage_keys(pipeline: Pipeline, stage_names: Sequence[str]) -> tuple[str, ...]:
    keys = []
    for name in stage_names:
        stage = pipeline.stage_by_name(name)
        if stage is None:
            names = ", ".join(s.name for s in pipeline.stages)
            raise DetectionError(f"stage {name!r} not found in pipeline {pipeline.name!r} (stages: {names})")
        keys.append(stage.key)
    return tuple(keys)


def watermark_name(pipeline: Pipeline, stage_keys: Iterable[str]) -> str:
    return f"stage-entered:{pipeline.key}:{','.join(sorted(stage_keys))}"


def _event(box: Box) -> StageEvent:
    from sync_core.state import StageEvent

    return StageEvent(box.pipeline_key, box.key, box.stage_key, box.last_stage_change_ts)


def _boxes_entered(
    hook: StreakHook, pipeline_key: str, stage_key: str, lower_ms: int, until_ms: int | None
) -> dict[str, Box]:
    """Boxes in ``stage_key`` whose stage change lies in [lower_ms, until_ms].

    Boxes come newest first by ``lastUpdatedTimestamp``, which is never older than the stage
    change, so paging stops at the first box last updated before ``lower_ms``, but only while the
    order seen really is newest first (Streak does not document the sort direction).
    """
    found: dict[str, Box] = {}
    previous: int | None = None
    for box in hook.iter_boxes(pipeline_key, stage_key=stage_key):
        descending = previous is None or box.last_updated_ts <= previous
        previous = box.last_updated_ts
        if descending and box.last_updated_ts < lower_ms:
            break
        if box.stage_key != stage_key or box.last_stage_change_ts < lower_ms:
            continue
        if until_ms is not None and box.last_stage_change_ts > until_ms:
            continue
        found[box.key] = box
    return found


def _unfinished(
    hook: StreakHook,
    store: StateStore,
    pipeline_key: str,
    stage_keys: tuple[str, ...],
    candidates: dict[str, Box],
    claimant: str,
    window: DetectionWindow,
    close_superseded: bool = True,
) -> dict[str, Box]:
    """Deals an earlier run claimed but never finished (it died, or gave them back).

    Only events this run could claim now are looked up. An event whose box has since left the
    stage, or entered it again later (a newer event), is closed so it is not looked up forever.
    """
    found: dict[str, Box] = {}
    superseded = []
    for pending in store.pending_stage_events(
        pipeline_key=pipeline_key, claimable_by=claimant, lease_seconds=window.lease_seconds
    ):
        if pending.box_key in candidates:
            continue
        box = hook.get_box(pending.box_key)
        if box.stage_key in stage_keys and box.last_stage_change_ts == pending.entered_ts:
            found[box.key] = box
        elif box.stage_key in stage_keys and box.last_stage_change_ts > pending.entered_ts:
            found[box.key] = box  # the newer entry is the event to sync; the old one is closed
            superseded.append(pending)
        else:
            log.warning("box %s left the trigger stage before it was synced; closing its old claim", box.key)
            superseded.append(pending)
    if superseded and close_superseded:
        store.complete_stage_events(superseded)
    return found


def detect_won_boxes(
    hook: StreakHook,
    store: StateStore,
    *,
    pipeline_name: str,
    trigger_stages: Sequence[str],
    claimant: str,
    now_ms: int,
    window: DetectionWindow | None = None,
    dry_run: bool = False,
) -> Detection:
    """Find and claim the boxes that entered a trigger stage; advance the watermark.

    ``dry_run`` finds the boxes but claims nothing and leaves the watermark alone.
    """
    window = window or DetectionWindow()
    pipeline = resolve_pipeline(hook, pipeline_name)
    stage_keys = resolve_stage_keys(pipeline, trigger_stages)
    wm_name = watermark_name(pipeline, stage_keys)
    det = Detection(pipeline=pipeline, trigger_stage_keys=stage_keys, upper_ms=window.until_ms)

    uses_watermark = not window.box_keys and window.since_ms is None
    mark = store.get_watermark(wm_name) if uses_watermark else None
    candidates: dict[str, Box] = {}
    if window.box_keys:
        for key in window.box_keys:
            try:
                box = hook.get_box(key)
            except StreakAPIError as exc:
                if exc.status != 404:
                    raise
                det.skipped.append(f"box {key}: not found in Streak (deleted, or a mistyped key)")
                continue
            if box.stage_key in stage_keys:
                candidates[box.key] = box
            else:
                stage = pipeline.stage_by_key(box.stage_key)
                det.skipped.append(
                    f"box {key}: in stage {stage.name if stage else box.stage_key!r}, not a trigger stage"
                )
    else:
        if window.since_ms is not None:
            det.lower_ms = window.since_ms
        else:
            det.lower_ms = (
                (mark - window.overlap_ms) if mark is not None else now_ms - window.initial_lookback_ms
            )
        for key in stage_keys:
            candidates.update(_boxes_entered(hook, pipeline.key, key, det.lower_ms, window.until_ms))
        candidates.update(
            _unfinished(hook, store, pipeline.key, stage_keys, candidates, claimant, window, not dry_run)
        )
    det.seen = len(candidates)
    events = {_event(b): b for b in candidates.values()}
    if dry_run:
        det.events = list(events)
        det.boxes = list(events.values())
        return det
    claimed = store.claim_stage_events(events, claimant, lease_seconds=window.lease_seconds)
    det.events = claimed
    det.boxes = [events[e] for e in claimed]
    if uses_watermark and candidates:
        newest = max(b.last_stage_change_ts for b in candidates.values())
        store.advance_watermark(wm_name, min(newest, now_ms))
    elif uses_watermark and mark is None:
        store.advance_watermark(wm_name, det.lower_ms)
    log.info(
        "pipeline %r: %d box(es) in %s since %d, %d claimed by this run",
        pipeline.name,
        det.seen,
        "/".join(trigger_stages),
        det.lower_ms,
        len(det.boxes),
    )
    return det
