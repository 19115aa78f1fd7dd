"""Fault matrix, rate limits: a 429 storm on Streak and on QuickBooks ends in the same final state
as a clean run (every valid won box synced once, the bad ones quarantined), with no duplicate."""

from __future__ import annotations

import pytest

from tests.faults.support import (
    QBO_API,
    STREAK_API,
    assert_final_state,
    injected,
    run_dag,
    schedule_fault,
)

pytestmark = pytest.mark.slow


def test_streak_429_storm(env) -> None:
    # more 429s in a row than one request's retry budget: the client backs off (Retry-After),
    # a task gives up once and Airflow's task retry finishes the job
    schedule_fault(env.streak.url, 10, STREAK_API, kind="status", status=429, retry_after=0.05)
    result = run_dag()
    assert result.state == "success", result.tasks
    assert injected(env.streak.url) == {"status:429": 10}
    assert result.task_retries >= 1  # one request's retry budget was not enough
    assert_final_state(env, min_synced=8)


def test_qbo_429_storm(env) -> None:
    schedule_fault(env.qbo.url, 10, QBO_API, kind="status", status=429)
    result = run_dag()
    assert result.state == "success", result.tasks
    assert injected(env.qbo.url) == {"status:429": 10}
    assert env.qbo.app.state_snapshot()["counters"]["responses_429"] >= 10
    assert_final_state(env, min_synced=8)
