"""Alerts delivered for real: e-mail to an aiosmtpd server and JSON to a webhook HTTP server, both on
127.0.0.1; the config switches (file + environment) that turn them and the deadline on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync_core.alerts import check_quarantine_growth, deadline_missed, deliver, notify_failure
from sync_core.config import ConfigError, load_config
from tests.capture_servers import SmtpCapture, WebhookCapture

ALERT_ENV = (
    "STREAK_ERP_DEADLINE_ENABLED",
    "STREAK_ERP_DEADLINE_MINUTES",
    "STREAK_ERP_QUARANTINE_THRESHOLD",
    "STREAK_ERP_ALERT_EMAIL",
    "STREAK_ERP_ALERT_WEBHOOK",
    "STREAK_ERP_SYNC_CONFIG",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALERT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    with SmtpCapture() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[WebhookCapture]:
    with WebhookCapture() as server:
        yield server


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch, smtp: SmtpCapture, webhook: WebhookCapture) -> None:
    """Both channels on, through the environment only (the repo's sync.yaml has them off)."""
    monkeypatch.setenv("STREAK_ERP_ALERT_WEBHOOK", webhook.url)
    monkeypatch.setenv("STREAK_ERP_ALERT_EMAIL", "ops@example.com, erp-team@example.com")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp.connection_json(from_email="airflow@example.com"))


class _TI:
    """The parts of Airflow's task instance the failure callback reads (dag, task, run, XCom)."""

    def __init__(self, detected: dict[str, Any] | None = None) -> None:
        self.dag_id, self.task_id, self.run_id, self.try_number = (
            "streak_deals_to_erp",
            "create_documents",
            "manual__2026-11-27T06:00:00+00:00",
            4,
        )
        self._detected = detected

    def xcom_pull(self, task_ids: str) -> Any:
        return self._detected if task_ids == "detect" else None


# -- config --------------------------------------------------------------------------------------
def test_env_switches_the_deadline_and_channels_without_editing_the_file(monkeypatch) -> None:
    repo_default = load_config()
    assert repo_default.deadline_enabled is False and repo_default.alert_email_to == ()

    monkeypatch.setenv("STREAK_ERP_DEADLINE_ENABLED", "true")
    monkeypatch.setenv("STREAK_ERP_DEADLINE_MINUTES", "0.1")
    monkeypatch.setenv("STREAK_ERP_QUARANTINE_THRESHOLD", "2")
    monkeypatch.setenv("STREAK_ERP_ALERT_EMAIL", "a@example.com,b@example.com")
    monkeypatch.setenv("STREAK_ERP_ALERT_WEBHOOK", "http://127.0.0.1:9/hook")
    cfg = load_config()
    assert (cfg.deadline_enabled, cfg.deadline_minutes, cfg.quarantine_threshold) == (True, 0.1, 2)
    assert cfg.alert_email_to == ("a@example.com", "b@example.com")
    assert cfg.alert_webhook_url == "http://127.0.0.1:9/hook"


def test_alerts_section_from_a_file_named_by_env(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(
        "pipelines: [{name: Sales, trigger_stages: [Closed-Won], erp: quickbooks}]\n"
        "alerts: {deadline_enabled: true, deadline_minutes: 5, email_to: ops@example.com,"
        " email_from: sync@example.com, smtp_conn_id: smtp_alerts, webhook_url: 'https://hooks.example.com/x'}\n"
    )
    monkeypatch.setenv("STREAK_ERP_SYNC_CONFIG", str(path))
    cfg = load_config()
    assert cfg.deadline_enabled and cfg.deadline_minutes == 5.0
    assert cfg.alert_email_to == ("ops@example.com",) and cfg.alert_email_from == "sync@example.com"
    assert cfg.smtp_conn_id == "smtp_alerts" and cfg.alert_webhook_url == "https://hooks.example.com/x"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STREAK_ERP_DEADLINE_ENABLED", "maybe", "$STREAK_ERP_DEADLINE_ENABLED: expected true or false"),
        (
            "STREAK_ERP_DEADLINE_MINUTES",
            "soon",
            "$STREAK_ERP_DEADLINE_MINUTES: expected a number of minutes (got 'soon')",
        ),
        ("STREAK_ERP_DEADLINE_MINUTES", "0", "$STREAK_ERP_DEADLINE_MINUTES: expected minutes > 0"),
        (
            "STREAK_ERP_QUARANTINE_THRESHOLD",
            "-1",
            "$STREAK_ERP_QUARANTINE_THRESHOLD: expected a whole number",
        ),
        (
            "STREAK_ERP_ALERT_EMAIL",
            "ops-at-example.com",
            "$STREAK_ERP_ALERT_EMAIL: expected e-mail addresses",
        ),
        (
            "STREAK_ERP_ALERT_WEBHOOK",
            "hooks.example.com",
            "$STREAK_ERP_ALERT_WEBHOOK: expected an http(s) URL",
        ),
    ],
)
def test_bad_override_names_the_variable(monkeypatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(
        ConfigError, match=message.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")
    ):
        load_config()


# -- task failure ---------------------------------------------------------------------------------
def test_failed_task_alert_reaches_email_and_webhook_naming_dag_run_and_records(
    channels, smtp: SmtpCapture, webhook: WebhookCapture
) -> None:
    detected = {"boxes": [{"key": "agxzbx000019"}, {"key": "agxzbx000020"}]}
    error = RuntimeError("create documents: 1 record(s) not written: agxzbx000020: HTTP 503")
    notify_failure({"ti": _TI(detected), "exception": error})

    [alert] = webhook.received
    assert alert["kind"] == "task_failed"
    assert (alert["dag_id"], alert["task_id"]) == ("streak_deals_to_erp", "create_documents")
    assert alert["run_id"] == "manual__2026-11-27T06:00:00+00:00"
    assert [r["key"] for r in alert["records"]] == ["agxzbx000019", "agxzbx000020"]
    assert "clear the task" in alert["what_to_do"]
    assert alert["replay_conf"] == {"box_keys": ["agxzbx000019", "agxzbx000020"]}

    [msg] = smtp.messages
    assert smtp.envelopes[0]["to"] == ["ops@example.com", "erp-team@example.com"]
    assert smtp.envelopes[0]["from"] == "airflow@example.com"
    assert msg["Subject"] == (
        "[streak-erp-sync] Task failed: streak_deals_to_erp.create_documents run manual__2026-11-27T06:00:00+00:00"
    )
    [body] = smtp.bodies()
    for text in ("agxzbx000020", "HTTP 503", "What to do:", "box_keys", "streak_deals_to_erp"):
        assert text in body


def test_records_carried_by_the_exception_are_named(channels, webhook: WebhookCapture) -> None:
    class UnwrittenRecords(RuntimeError):
        records = [("agxzbx000030", "HTTP 503 from QuickBooks"), ("agxzbx000033", "timeout")]

    notify_failure({"ti": _TI({"boxes": [{"key": "other"}]}), "exception": UnwrittenRecords("2 not written")})
    [alert] = webhook.received
    assert alert["records"] == [
        {"key": "agxzbx000030", "entity": "deal", "reason": "HTTP 503 from QuickBooks"},
        {"key": "agxzbx000033", "entity": "deal", "reason": "timeout"},
    ]
    assert "box agxzbx000030: HTTP 503 from QuickBooks" in alert["message"]


def test_revoked_erp_token_is_a_reauthorize_alert(channels, smtp: SmtpCapture, webhook) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from erp_operators.errors import ERPAuthError

    try:
        try:
            raise ERPAuthError("QuickBooks Online refused the refresh token (invalid_grant)")
        except ERPAuthError as exc:
            raise AirflowFailException(f"upsert_customers: {exc}") from exc
    except AirflowFailException as exc:
        notify_failure({"ti": _TI(), "exception": exc})

    [alert] = webhook.received
    assert alert["kind"] == "reauthorize"
    assert "refresh token" in alert["what_to_do"] and "not retried" in alert["what_to_do"]
    assert "gave its claims back" in alert["what_to_do"]
    assert "invalid_grant" in alert["summary"]
    assert smtp.messages[0]["Subject"].startswith(
        "[streak-erp-sync] Re-authorize needed: streak_deals_to_erp"
    )


def test_reauthorize_alert_of_the_master_data_dag_does_not_speak_of_claims(channels, webhook) -> None:
    from erp_operators.errors import ERPAuthError

    ti = _TI()
    ti.dag_id, ti.task_id = "streak_master_data_sync", "sync_chunk"
    notify_failure({"ti": ti, "exception": ERPAuthError("QuickBooks Online refused the refresh token")})
    [alert] = webhook.received
    assert alert["kind"] == "reauthorize"
    assert "claims" not in alert["what_to_do"] and "next scheduled run sync" in alert["what_to_do"]


def test_rejected_streak_key_is_a_reauthorize_alert(channels, webhook: WebhookCapture) -> None:
    from streak_hooks.errors import StreakAPIError

    error = StreakAPIError("get pipelines", "GET", "/v1/pipelines", 401, "Authentication failed")
    notify_failure({"ti": _TI(), "exception": error})
    [alert] = webhook.received
    assert alert["kind"] == "reauthorize" and "Streak refused the API key" in alert["summary"]
    assert "streak_default" in alert["what_to_do"]


def test_a_channel_that_is_down_does_not_stop_the_others(
    monkeypatch, smtp: SmtpCapture, caplog: pytest.LogCaptureFixture
) -> None:
    with WebhookCapture(status=500) as broken:
        monkeypatch.setenv("STREAK_ERP_ALERT_WEBHOOK", broken.url)
        monkeypatch.setenv("STREAK_ERP_ALERT_EMAIL", "ops@example.com")
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp.connection_json())
        from sync_core.alerts import failure_alert

        with caplog.at_level(logging.ERROR, logger="streak_erp_sync.alerts"):
            outcome = deliver(failure_alert({"ti": _TI(), "exception": ValueError("boom")}))
    assert outcome["webhook"].startswith("failed: 500")
    assert outcome["email"] == "sent" and len(smtp.messages) == 1
    assert smtp.envelopes[0]["from"] == "streak-erp-sync@localhost"  # no sender configured anywhere
    assert "could not deliver alert task_failed to the webhook" in caplog.text
    assert "ALERT task_failed" in caplog.text


def test_secrets_known_to_airflows_masker_never_leave_in_an_alert(
    channels, smtp: SmtpCapture, webhook: WebhookCapture, caplog
) -> None:
    from airflow.sdk.log import mask_secret

    secret = "RT-fake-refresh-7f3a9c2e41d8"
    mask_secret(secret)
    with caplog.at_level(logging.ERROR, logger="streak_erp_sync.alerts"):
        notify_failure({"ti": _TI(), "exception": RuntimeError(f"token endpoint refused {secret}")})
    assert secret not in str(webhook.received) and "refused ***" in webhook.received[0]["summary"]
    assert secret not in smtp.bodies()[0] and "refused ***" in smtp.bodies()[0]
    assert secret not in caplog.text


def test_without_channels_the_alert_is_still_logged(webhook, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="streak_erp_sync.alerts"):
        notify_failure({"ti": _TI(), "exception": ValueError("box agxzbx000011: Quantity 'ten'")})
    assert webhook.received == []
    assert "streak_deals_to_erp" in caplog.text and "Quantity 'ten'" in caplog.text


# -- deadline ------------------------------------------------------------------------------------
def test_deadline_callback_sends_async_with_the_schedulers_context(
    channels, smtp: SmtpCapture, webhook: WebhookCapture
) -> None:
    # the context the scheduler gives a Deadline callback: DAGRunResponse JSON + the deadline row
    context = {
        "dag_run": {
            "dag_id": "streak_deals_to_erp",
            "dag_run_id": "manual__2026-11-27T06:10:00+00:00",
            "queued_at": "2026-11-27T06:10:00+00:00",
            "state": "running",
            "conf": {"box_keys": ["agxzbx000019"]},
        },
        "deadline": {"id": "0193", "deadline_time": "2026-11-27T06:40:00+00:00"},
    }
    asyncio.run(deadline_missed(context, minutes=30))

    [alert] = webhook.received
    assert alert["kind"] == "deadline_missed"
    assert (alert["dag_id"], alert["run_id"]) == ("streak_deals_to_erp", "manual__2026-11-27T06:10:00+00:00")
    assert "within 30 minutes" in alert["summary"] and "2026-11-27T06:40:00" in alert["summary"]
    assert [r["key"] for r in alert["records"]] == ["agxzbx000019"]
    assert "up_for_retry" in alert["what_to_do"]
    assert smtp.messages[0]["Subject"].startswith(
        "[streak-erp-sync] Deadline missed: streak_deals_to_erp run"
    )


# -- quarantine growth ---------------------------------------------------------------------------
def _quarantine(store, *keys: str) -> None:
    for key in keys:
        store.quarantine_put("quickbooks", "deal", key, f"box {key}: Quantity 'ten' is not a number", {})


def test_quarantine_growth_past_threshold_names_the_records(
    channels, sqlite_store, webhook: WebhookCapture, smtp: SmtpCapture
) -> None:
    _quarantine(sqlite_store, "agxzbx000001", "agxzbx000002")
    run_start = datetime.now(UTC)
    _quarantine(sqlite_store, "agxzbx000011", "agxzbx000012")

    alert = check_quarantine_growth(
        sqlite_store, "quickbooks", "streak_deals_to_erp", "scheduled__x", threshold=3, since=run_start
    )
    assert alert is not None
    [sent] = webhook.received
    assert sent["kind"] == "quarantine_growth" and sent["run_id"] == "scheduled__x"
    assert sent["details"] == {"erp": "quickbooks", "quarantined": 4, "added_by_run": 2, "threshold": 3}
    # this run's additions first, each with its reason
    assert [r["key"] for r in sent["records"]] == [
        "agxzbx000011",
        "agxzbx000012",
        "agxzbx000001",
        "agxzbx000002",
    ]
    assert sent["records"][0]["reason"] == "box agxzbx000011: Quantity 'ten' is not a number"
    assert sent["replay_conf"] == {"replay_quarantine": True}
    assert "Fix it at the source" in sent["what_to_do"]
    # the replay conf only replays this DAG's entity: the text says where customers/items replay
    assert "replay_quarantine on streak_master_data_sync" in sent["what_to_do"]
    assert "agxzbx000012: Quantity 'ten' is not a number" in smtp.bodies()[0]


def test_quarantine_at_threshold_or_not_growing_stays_quiet(channels, sqlite_store, webhook) -> None:
    _quarantine(sqlite_store, "agxzbx000001", "agxzbx000002", "agxzbx000003")
    assert check_quarantine_growth(sqlite_store, "quickbooks", "d", "r1", threshold=3) is None
    # over the threshold, but nothing was added since this run started: no repeat alert
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert check_quarantine_growth(sqlite_store, "quickbooks", "d", "r2", threshold=2, since=later) is None
    # another ERP's quarantine does not count
    assert check_quarantine_growth(sqlite_store, "netsuite", "d", "r3", threshold=0) is None
    assert webhook.received == []


def test_quarantine_threshold_defaults_to_config(monkeypatch, channels, sqlite_store, webhook) -> None:
    monkeypatch.setenv("STREAK_ERP_QUARANTINE_THRESHOLD", "1")
    _quarantine(sqlite_store, "agxzbx000001", "agxzbx000002")
    alert = check_quarantine_growth(sqlite_store, "quickbooks", "streak_deals_to_erp", "r1")
    assert alert is not None and alert.details["threshold"] == 1
    assert len(webhook.of_kind("quarantine_growth")) == 1


# -- the deadline on every sync DAG ---------------------------------------------------------------
def test_deadline_switch_reaches_every_sync_dag(monkeypatch) -> None:
    """With the switch on (env only), each sync DAG carries a Deadline Alert calling our callback."""
    from airflow.dag_processing.dagbag import DagBag

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("STREAK_ERP_DEADLINE_ENABLED", "true")
    monkeypatch.setenv("STREAK_ERP_DEADLINE_MINUTES", "45")
    bag = DagBag(dag_folder=str(repo / "dags"))
    assert bag.import_errors == {}
    sync_dags = [d for d in bag.dags.values() if "streak" in d.tags]
    assert {d.dag_id for d in sync_dags} >= {"streak_deals_to_erp", "streak_master_data_sync"}
    for dag in sync_dags:
        deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        assert len(deadlines) == 1, dag.dag_id
        assert deadlines[0].interval == timedelta(minutes=45)
        assert "sync_core.alerts.deadline_missed" in str(deadlines[0].callback.path)

    monkeypatch.delenv("STREAK_ERP_DEADLINE_ENABLED")  # the repo default: off
    bag = DagBag(dag_folder=str(repo / "dags"))
    assert all(not d.deadline for d in bag.dags.values() if "streak" in d.tags)
