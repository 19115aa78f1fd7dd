"""Task bodies of ``streak_deals_to_erp``: plain functions of the run's params and upstream results.

Each returns JSON-ready data (XCom) and logs what it did in words an operator can act on.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from sync_core.config import PipelineRule, SyncConfig, load_config

log = logging.getLogger(__name__)


def parse_bound(value: str | None, *, end_of_day: bool = False) -> int | None:
    """A ``since``/``until`` param (``YYYY-MM-DD`` or ISO datetime, UTC if naive) as epoch ms."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, dtime.max if end_of_day else dtime.min, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(
            f"param {'until' if end_of_day else 'since'}={value!r}: expected YYYY-MM-DD or an ISO datetime"
        ) from exc
    return int(moment.timestamp() * 1000)


def select_rule(config: SyncConfig, params: dict[str, Any]) -> PipelineRule:
    erp = params.get("erp") or None
    return config.rule_for(erp)


def detect(params: dict[str, Any], run_id: str, *, config: SyncConfig | None = None) -> dict[str, Any]:
    """Find and claim the boxes that entered a trigger stage (see :mod:`streak_hooks.detection`)."""
    from streak_hooks.detection import DetectionWindow, detect_won_boxes
    from streak_hooks.hook import StreakHook
    from sync_core.state import StateStore

    config = config or load_config()
    rule = select_rule(config, params)
    dry_run = bool(params.get("dry_run"))
    window = DetectionWindow(
        since_ms=parse_bound(params.get("since")),
        until_ms=parse_bound(params.get("until"), end_of_day=True),
        box_keys=tuple(params.get("box_keys") or ()),
        overlap_ms=int(config.overlap_minutes * 60_000),
        initial_lookback_ms=int(config.initial_lookback_days * 86_400_000),
        lease_seconds=config.lease_minutes * 60,
    )
    store = StateStore.from_connection().create_all()
    found = detect_won_boxes(
        StreakHook(),
        store,
        pipeline_name=rule.name,
        trigger_stages=rule.trigger_stages,
        claimant=run_id,
        now_ms=int(time.time() * 1000),
        window=window,
        dry_run=dry_run,
    )
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
            }
            for b in found.boxes
        ],
        "events": [[e.pipeline_key, e.box_key, e.stage_key, e.entered_ts] for e in found.events],
    }
