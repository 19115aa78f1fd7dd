"""``streak_deals_to_erp`` under Airflow's real scheduler (scheduler, dag-processor, triggerer,
api-server; LocalExecutor; PostgreSQL metadata DB), triggered through the REST API with ``conf``:
a normal run (invoices, write-back, quarantine-growth alert), a revoked QuickBooks token (one
re-authorize alert per failed task, no retries), and the Deadline Alert, switched on through the
deployment's config, firing when the Streak sandbox is slowed past the deadline.

The tests share one deployment and run in file order (the last one changes its config).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.common.httpd import Fault
from tests.scheduler.conftest import DAG_ID, QUARANTINE_THRESHOLD, Deployment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

WRITEBACK = "ERP Invoice #"


def _won_keys(dep: Deployment) -> list[str]:
    pipeline = dep.streak.app.state_snapshot()["pipelines"][0]
    won = next(k for k, s in pipeline["stages"].items() if s["name"] == "Closed-Won")
    return [b["key"] for b in dep.streak.app.state_snapshot()["boxes"] if b["stageKey"] == won]


def test_only_the_api_server_listens_and_only_on_loopback(deployment: Deployment) -> None:
    listening = deployment.airflow.listening()
    assert listening == {("127.0.0.1", deployment.airflow.port)}  # no log server, nothing on 0.0.0.0


def test_deal_dag_triggered_through_the_rest_api_succeeds(deployment: Deployment) -> None:
    dep = deployment
    snapshot = dep.streak.app.state_snapshot()
    bad = set(snapshot["seed"]["bad_box_keys"])
    won = _won_keys(dep)
    since = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()

    run_id = dep.airflow.trigger(DAG_ID, {"since": since})
    run = dep.airflow.wait_for_run(DAG_ID, run_id)

    assert run["state"] == "success", dep.airflow.logs()
    assert run["conf"] == {"since": since}
    states = dep.airflow.task_states(DAG_ID, run_id)
    assert set(states) == {
        "detect",
        "map_and_validate",
        "upsert_customers",
        "resolve_items",
        "create_documents",
        "write_back",
        "finish",
        "release_claims",
    }
    assert set(states.values()) == {"success"}

    # QuickBooks holds one invoice per valid won box, and each box got its invoice number back
    quarantined = {row.source_key: row.reason for row in dep.store.quarantine_list()}
    won_bad = sorted(k for k in won if k in bad)
    assert sorted(quarantined) == won_bad and len(won_bad) > QUARANTINE_THRESHOLD
    synced = [k for k in won if k not in bad]
    invoices = {inv["DocNumber"]: inv for inv in dep.qbo_entities("Invoice")}
    assert len(invoices) == len(synced) >= 8
    pipeline = dep.streak.app.state_snapshot()["pipelines"][0]
    wb_key = next(f["key"] for f in pipeline["fields"] if f["name"] == WRITEBACK)
    boxes = {b["key"]: b for b in dep.streak.app.state_snapshot()["boxes"]}
    for key in synced:
        number = boxes[key]["fields"].get(wb_key)
        assert number in invoices, f"box {key}: no invoice number written back"
        assert key in invoices[number]["PrivateNote"]
    assert [k for k in won_bad if boxes[k]["fields"].get(wb_key)] == []

    # the run left more than the threshold in quarantine: one alert naming this run and every record
    growth = [a for a in dep.webhook.of_kind("quarantine_growth") if a["run_id"] == run_id]
    assert len(growth) == 1, dep.webhook.received
    assert growth[0]["dag_id"] == DAG_ID
    assert sorted(r["key"] for r in growth[0]["records"]) == won_bad
    assert all(r["reason"] == quarantined[r["key"]] for r in growth[0]["records"])
    assert growth[0]["details"]["added_by_run"] == len(won_bad)  # counted from this run's start
    assert any(run_id in body and won_bad[0] in body for body in dep.smtp.bodies())
    # the deadline (30 min) was on and not missed
    assert [a for a in dep.webhook.of_kind("deadline_missed") if a["run_id"] == run_id] == []


def test_revoked_erp_token_fails_at_once_with_a_reauthorize_alert(deployment: Deployment) -> None:
    dep = deployment
    # a valid deal newly won in Streak, while QuickBooks has revoked the app's tokens
    box = "agxzbx000015"
    moved = requests.post(
        f"{dep.streak.url}/__admin/boxes/{box}/stage", json={"stage": "Closed-Won"}, timeout=10
    )
    moved.raise_for_status()
    assert box in _won_keys(dep)
    dep.qbo.app.oauth.revoke()

    run_id = dep.airflow.trigger(DAG_ID, {"box_keys": [box]})
    run = dep.airflow.wait_for_run(DAG_ID, run_id)

    assert run["state"] == "failed"
    tis = dep.airflow.task_instances(DAG_ID, run_id)
    failed = {t: ti for t, ti in tis.items() if ti["state"] == "failed"}
    assert failed, tis
    assert all(ti["try_number"] == 1 for ti in failed.values()), "a revoked token must not be retried"
    assert dep.qbo.app.oauth.snapshot()["invalid_grants"] <= len(failed)  # no retry storm at Intuit
    alerts = [a for a in dep.webhook.of_kind("reauthorize") if a["run_id"] == run_id]
    assert sorted(a["task_id"] for a in alerts) == sorted(failed), dep.webhook.received
    for alert in alerts:
        assert alert["dag_id"] == DAG_ID
        assert "re-authorize QuickBooks Online" in alert["summary"]
        assert "refresh token" in alert["what_to_do"]
        assert [r["key"] for r in alert["records"]] == [box]
        assert alert["replay_conf"] == {"box_keys": [box]}
    assert dep.webhook.of_kind("task_failed") == []
    assert [inv for inv in dep.qbo_entities("Invoice") if box in inv.get("PrivateNote", "")] == []
    # the failed run's teardown gave the deal's claim back: the next run may take it at once
    assert tis["release_claims"]["state"] == "success", tis
    free = dep.store.pending_stage_events(claimable_by="next-run", lease_seconds=3600)
    assert box in {e.box_key for e in free}


def test_deadline_alert_fires_when_streak_is_slowed_past_it(deployment: Deployment) -> None:
    dep = deployment
    airflow = dep.airflow
    versions = airflow.dag_versions(DAG_ID)
    # switch the deadline to 6 s in the deployment's config file (the repo's file is untouched) and
    # wait for the dag-processor to re-serialize the DAG with it
    dep.write_config(deadline_enabled=True, deadline_minutes=0.1)
    airflow.wait_for_new_version(DAG_ID, versions)
    # every Streak call of the run waits 20 s: the run cannot finish within the deadline
    dep.streak.app.faults.schedule(Fault(kind="slow", delay=20), count=3)
    box = next(k for k in _won_keys(dep) if k not in dep.streak.app.state_snapshot()["seed"]["bad_box_keys"])

    run_id = airflow.trigger(DAG_ID, {"box_keys": [box], "dry_run": True})
    alert = dep.webhook.wait_for(
        lambda a: a.get("kind") == "deadline_missed" and a.get("run_id") == run_id, timeout=180
    )

    assert alert is not None, f"no deadline alert; received {dep.webhook.received}\n{airflow.logs()}"
    assert alert["dag_id"] == DAG_ID
    assert "within 0.1 minutes" in alert["summary"]
    assert [r["key"] for r in alert["records"]] == [box]
    assert "What to do:" in alert["message"]
    assert dep.streak.app.faults.snapshot()["injected"].get("slow", 0) >= 1
    # the e-mail went out from the triggerer as well (async SMTP, after the webhook)
    subject = f"[streak-erp-sync] Deadline missed: {DAG_ID} run {run_id}"
    assert (
        dep.smtp.wait_for(lambda m: " ".join(str(m["Subject"]).split()) == subject, timeout=30) is not None
    ), airflow.logs()
    # a missed deadline alerts; it does not fail the run
    assert airflow.wait_for_run(DAG_ID, run_id)["state"] == "success", airflow.logs()
