"""Fault matrix, network: connection resets, timeouts, slow answers and a 5xx burst on both Streak
and QuickBooks. Each ends with every valid won box synced exactly once (one invoice, one
write-back, one comment, one ledger row) and only the seeded bad boxes in quarantine."""

from __future__ import annotations

import time

import pytest

from tests.faults.support import (
    QBO_API,
    STREAK_API,
    assert_final_state,
    injected,
    invoices_by_box,
    quarantine_rows,
    run_dag,
    schedule_fault,
    seeded_bad,
    won_box_keys,
)

pytestmark = pytest.mark.slow


def test_connection_resets(env) -> None:
    schedule_fault(env.streak.url, 3, STREAK_API, kind="reset")
    schedule_fault(env.qbo.url, 3, QBO_API, kind="reset")
    schedule_fault(env.qbo.url, 2, QBO_API, kind="reset", target="write")  # a write's connection drops
    assert run_dag().state == "success"
    assert injected(env.streak.url) == {"reset": 3}
    assert injected(env.qbo.url) == {"reset": 5}
    assert_final_state(env)


def test_timeouts(env) -> None:
    # the clients time out after 2 s; these answers come after 3 s. A QBO write that timed out is
    # still performed by the server afterwards: the retry must not make a second invoice.
    schedule_fault(env.streak.url, 1, STREAK_API, kind="slow", delay=3.0)
    schedule_fault(env.streak.url, 2, "/api/v1/boxes/", kind="slow", delay=3.0)  # write-back calls
    schedule_fault(env.qbo.url, 1, QBO_API, kind="slow", delay=3.0)
    schedule_fault(env.qbo.url, 2, QBO_API, kind="slow", delay=3.0, target="write")
    assert run_dag().state == "success"
    assert injected(env.streak.url) == {"slow": 3}
    assert injected(env.qbo.url) == {"slow": 3}
    assert_final_state(env)


def test_timeout_on_streak_comment_posts_it_once(env) -> None:
    # Streak has no idempotency key: a comment POST that times out while the server still performs
    # it must not be posted a second time (the client waits a timeout's length, then looks it up)
    schedule_fault(env.streak.url, 1, "/api/v2/boxes", kind="slow", delay=3.0)  # the first comment POST
    assert run_dag().state == "success"
    assert injected(env.streak.url) == {"slow": 1}
    time.sleep(3.0)  # a slowed request still in flight lands before the comments are counted
    assert_final_state(env)


def test_slow_responses(env) -> None:
    schedule_fault(env.streak.url, 6, STREAK_API, kind="slow", delay=0.4)
    schedule_fault(env.qbo.url, 6, QBO_API, kind="slow", delay=0.4)
    result = run_dag()
    assert result.state == "success"
    assert result.task_retries == 0  # slow but within the timeout: nothing failed
    assert injected(env.streak.url) == {"slow": 6} and injected(env.qbo.url) == {"slow": 6}
    assert_final_state(env)


def test_5xx_burst(env) -> None:
    for status in (500, 502, 503):
        schedule_fault(env.streak.url, 2, STREAK_API, kind="status", status=status)
        schedule_fault(env.qbo.url, 2, QBO_API, kind="status", status=status)
    schedule_fault(env.qbo.url, 2, QBO_API, kind="status", status=503, target="write")
    assert run_dag().state == "success"
    assert sum(injected(env.streak.url).values()) == 6
    assert sum(injected(env.qbo.url).values()) == 8
    assert_final_state(env)


def test_outage_past_the_retries_fails_the_run_and_the_next_run_takes_its_deals_at_once(env) -> None:
    import requests

    valid = set(won_box_keys(env.streak)) - seeded_bad(env.streak)
    # QuickBooks refuses every write for longer than the client's and Airflow's retries last
    schedule_fault(env.qbo.url, 500, QBO_API, kind="status", status=503, target="write")

    failed = run_dag(task_retries=1)

    assert failed.state == "failed", failed.tasks
    gave_up = {t: tries for t, (state, tries) in failed.tasks.items() if state == "failed"}
    assert gave_up and all(tries == 2 for tries in gave_up.values()), failed.tasks  # retried, then failed
    assert failed.tasks["release_claims"][0] == "success"
    assert invoices_by_box(env.qbo) == {}
    # every deal of the failed run is pending (not lost, not quarantined) and free for the next run
    pending = {e.box_key for e in env.store.pending_stage_events()}
    claimable = {
        e.box_key for e in env.store.pending_stage_events(claimable_by="next-run", lease_seconds=3600)
    }
    assert valid <= pending and claimable == pending
    assert set(quarantine_rows(env.store)) & valid == set()

    requests.delete(env.qbo.url + "/__admin/faults", timeout=10).raise_for_status()  # QuickBooks is back
    assert run_dag().state == "success"  # the next scheduled run, with the real one-hour lease
    assert_final_state(env)
