"""Alerts of the sync DAGs: which DAG and run, which records, what happened and what to do.

Four alerts (``kind``):

* ``task_failed``: a task failed after its retries (``notify_failure``, the ``on_failure_callback``);
* ``reauthorize``: the same callback when the cause is a revoked or expired credential; one alert,
  the task is not retried;
* ``deadline_missed``: a run is still not finished ``alerts.deadline_minutes`` after it was queued
  (``deadline_missed``, the Deadline Alert callback; it runs in the triggerer);
* ``quarantine_growth``: a run added records to a quarantine that now holds more than
  ``alerts.quarantine_threshold`` (``check_quarantine_growth``, called at the end of a sync run).

Delivery, every channel on its own (a channel that is down is logged and never hides the alert or
the original failure): the log always; a JSON POST to ``alerts.webhook_url`` /
``$STREAK_ERP_ALERT_WEBHOOK``; an e-mail to ``alerts.email_to`` / ``$STREAK_ERP_ALERT_EMAIL``
through the Airflow SMTP connection ``alerts.smtp_conn_id`` (default ``smtp_default``).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sync_core.config import ConfigError, SyncConfig, load_config

if TYPE_CHECKING:
    from sync_core.state import StateStore

log = logging.getLogger("streak_erp_sync.alerts")
MAX_LISTED = 20  # records listed in the alert text (the webhook JSON carries up to MAX_RECORDS)
MAX_RECORDS = 200
TITLES = {
    "task_failed": "Task failed",
    "reauthorize": "Re-authorize needed",
    "deadline_missed": "Deadline missed",
    "quarantine_growth": "Quarantine growing",
}


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One record an alert is about: its source key (a Streak box key for deals) and why."""

    key: str
    reason: str = ""
    entity: str = "deal"


@dataclass(frozen=True)
class Alert:
    """Everything an operator needs: where, what, which records, what to do, how to replay."""

    kind: str
    dag_id: str
    run_id: str
    summary: str
    what_to_do: str
    records: tuple[AlertRecord, ...] = ()
    task_id: str | None = None
    replay_conf: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        where = f"{self.dag_id}.{self.task_id}" if self.task_id else self.dag_id
        return f"[streak-erp-sync] {TITLES.get(self.kind, self.kind)}: {where} run {self.run_id}"

    @property
    def text(self) -> str:
        """The alert as plain text (log line, e-mail body, webhook ``message``)."""
        lines = [
            f"{TITLES.get(self.kind, self.kind)}: {self.summary}",
            f"DAG: {self.dag_id}   run: {self.run_id}" + (f"   task: {self.task_id}" if self.task_id else ""),
        ]
        if self.records:
            lines.append(f"Records ({len(self.records)}):")
            for rec in self.records[:MAX_LISTED]:
                label = f"{'box' if rec.entity == 'deal' else rec.entity} {rec.key}"
                if rec.reason and rec.key in rec.reason:  # quarantine reasons already name the record
                    lines.append(f"  - {rec.reason}")
                else:
                    lines.append(f"  - {label}" + (f": {rec.reason}" if rec.reason else ""))
            if len(self.records) > MAX_LISTED:
                lines.append(f"  ... and {len(self.records) - MAX_LISTED} more")
        lines.append(f"What to do: {self.what_to_do}")
        if self.replay_conf is not None and self.dag_id not in ("", "?"):
            lines.append(
                f"Replay: airflow dags trigger {self.dag_id} --conf '{json.dumps(self.replay_conf)}'"
                " (or Trigger DAG w/ config in the UI)"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "summary": self.summary,
            "records": [
                {"key": r.key, "entity": r.entity, "reason": r.reason} for r in self.records[:MAX_RECORDS]
            ],
            "record_count": len(self.records),
            "what_to_do": self.what_to_do,
            "replay_conf": self.replay_conf,
            "details": self.details,
            "message": self.text,
        }


# -- delivery ------------------------------------------------------------------------------------
def _settings(config: SyncConfig | None) -> SyncConfig | None:
    """The alert settings; a broken config file must not stop the alert (it is logged instead)."""
    if config is not None:
        return config
    try:
        return load_config()
    except ConfigError as exc:
        log.error("alert channels unknown, only logging this alert: %s", exc)
        return None


def _redact(value: Any) -> Any:
    """``value`` with every secret Airflow's masker knows replaced by ``***`` (as in task logs)."""
    try:
        from airflow.sdk.log import redact
    except ImportError:  # pragma: no cover - Airflow is always installed with this package
        return value
    return redact(value)


def _post_webhook(url: str, alert: Alert) -> None:
    import requests

    response = requests.post(url, json=_redact(alert.to_json()), timeout=10)
    response.raise_for_status()


def _email_parts(alert: Alert) -> dict[str, Any]:
    text = _redact(alert.text)
    return {"subject": _redact(alert.subject), "html_content": f"<pre>{html.escape(text, quote=False)}</pre>"}


def _send_email(cfg: SyncConfig, alert: Alert) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=cfg.smtp_conn_id) as hook:
        sender = cfg.alert_email_from or hook.from_email or "streak-erp-sync@localhost"
        hook.send_email_smtp(to=list(cfg.alert_email_to), from_email=sender, **_email_parts(alert))


async def _asend_email(cfg: SyncConfig, alert: Alert) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    async with SmtpHook(smtp_conn_id=cfg.smtp_conn_id) as hook:
        sender = cfg.alert_email_from or hook.from_email or "streak-erp-sync@localhost"
        await hook.asend_email_smtp(to=list(cfg.alert_email_to), from_email=sender, **_email_parts(alert))


def _log_alert(alert: Alert) -> None:
    log.error("ALERT %s\n%s", alert.kind, _redact(alert.text))


def deliver(alert: Alert, config: SyncConfig | None = None) -> dict[str, str]:
    """Send ``alert`` on every configured channel; returns ``{channel: "sent" | error text}``."""
    _log_alert(alert)
    outcome = {"log": "sent"}
    cfg = _settings(config)
    if cfg is None:
        return outcome
    if cfg.alert_webhook_url:
        try:
            _post_webhook(cfg.alert_webhook_url, alert)
            outcome["webhook"] = "sent"
        except Exception as exc:  # an alert channel being down must not hide the original failure
            outcome["webhook"] = f"failed: {exc}"
            log.error("could not deliver alert %s to the webhook: %s", alert.kind, exc)
    if cfg.alert_email_to:
        try:
            _send_email(cfg, alert)
            outcome["email"] = "sent"
        except Exception as exc:
            outcome["email"] = f"failed: {exc}"
            log.error("could not e-mail alert %s via %s: %s", alert.kind, cfg.smtp_conn_id, exc)
    return outcome


async def adeliver(alert: Alert, config: SyncConfig | None = None) -> dict[str, str]:
    """:func:`deliver` for async callers (the triggerer): no blocking call on the event loop."""
    _log_alert(alert)
    outcome = {"log": "sent"}
    cfg = config if config is not None else await asyncio.to_thread(_settings, None)
    if cfg is None:
        return outcome
    if cfg.alert_webhook_url:
        try:
            await asyncio.to_thread(_post_webhook, cfg.alert_webhook_url, alert)
            outcome["webhook"] = "sent"
        except Exception as exc:
            outcome["webhook"] = f"failed: {exc}"
            log.error("could not deliver alert %s to the webhook: %s", alert.kind, exc)
    if cfg.alert_email_to:
        try:
            await _asend_email(cfg, alert)
            outcome["email"] = "sent"
        except Exception as exc:
            outcome["email"] = f"failed: {exc}"
            log.error("could not e-mail alert %s via %s: %s", alert.kind, cfg.smtp_conn_id, exc)
    return outcome


# -- task failure / re-authorize -------------------------------------------------------------------
def _causes(exc: BaseException | None) -> Iterable[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _auth_problem(exc: BaseException | None) -> str | None:
    """``"erp"`` / ``"streak"`` when the failure is a rejected credential a human must renew."""
    for cause in _causes(exc):
        name = type(cause).__name__
        if name == "ERPAuthError" or "re-authorize" in str(cause):
            return "erp"
        if name == "StreakAPIError" and getattr(cause, "status", None) in (401, 403):
            return "streak"
    return None


def _as_record(item: Any) -> AlertRecord:
    if isinstance(item, AlertRecord):
        return item
    if isinstance(item, tuple | list) and len(item) == 2:
        return AlertRecord(str(item[0]), str(item[1]))
    return AlertRecord(str(item))


def _records_of(exc: BaseException | None, ti: Any) -> tuple[AlertRecord, ...]:
    """The records a failure is about: an exception's ``records``, else the boxes this run detected."""
    for cause in _causes(exc):
        found = getattr(cause, "records", None)
        if found:
            return tuple(_as_record(r) for r in found)
    try:  # the deal DAG: every box the run claimed is in flight
        detected = ti.xcom_pull(task_ids="detect") if ti is not None else None
    except Exception:  # no XCom backend (e.g. called outside a task): the error text names them
        detected = None
    boxes = detected.get("boxes", []) if isinstance(detected, dict) else []
    return tuple(
        AlertRecord(str(b["key"]), "in this run") for b in boxes if isinstance(b, dict) and "key" in b
    )


def _erp_reauthorize_steps(error: BaseException | None, dag_id: str = "") -> str:
    """What the operator does when the ERP refused the stored credential (NetSuite or QuickBooks)."""
    if "NetSuite" in str(error):
        fix = (
            "Issue a new access token for the integration in NetSuite (or fix its consumer key/secret) "
            "and put it in the connection netsuite_default (extra `token_id`/`token_secret`; consumer "
            "key/secret are login/password)"
        )
    else:
        fix = (
            "Re-connect the app to the ERP (QuickBooks Online: authorize it again for this realm and "
            "copy the new refresh token), put the new refresh token in the ERP connection's extra "
            "`refresh_token` (e.g. quickbooks_default)"
        )
    if dag_id == "streak_deals_to_erp":  # its release_claims teardown gave the run's deals back
        then = "let the next scheduled run take the deals (the failed run gave its claims back)"
    else:
        then = "let the next scheduled run sync the records (unchanged ones are skipped)"
    return (
        f"{fix}, then clear the failed task, or {then}. The task was not retried: retrying cannot "
        "help until a human re-authorizes. Writes are idempotent."
    )


def failure_alert(context: dict[str, Any]) -> Alert:
    """The alert for a failed task, built from the Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = str(getattr(ti, "dag_id", None) or "?")
    task_id = str(getattr(ti, "task_id", None) or "?")
    run_id = str(getattr(ti, "run_id", None) or context.get("run_id") or "?")
    error = context.get("exception")
    records = _records_of(error, ti)
    replay = {"box_keys": [r.key for r in records]} if records else None
    details: dict[str, Any] = {"error": str(error)}
    problem = _auth_problem(error)
    if problem == "erp":
        kind, summary = "reauthorize", f"the ERP refused the stored credential: {error}"
        what_to_do = _erp_reauthorize_steps(error, dag_id)
    elif problem == "streak":
        kind, summary = "reauthorize", f"Streak refused the API key: {error}"
        what_to_do = (
            "Check the Streak API key (the password of the connection streak_default): create a new "
            "key in Streak if it was revoked, update the connection, then clear the failed task."
        )
    else:
        kind, summary = "task_failed", f"{dag_id}.{task_id} failed after its retries: {error}"
        what_to_do = (
            "Read the task log in the Airflow UI (it names the record and the field or the failing call); "
            "fix the cause there (Streak or ERP down or rate-limiting: wait; a bad record: fix it at the "
            "source), then clear the task to run it again. Writes are idempotent: a retry never "
            "duplicates ERP documents."
        )
        details["try_number"] = getattr(ti, "try_number", None)
    return Alert(
        kind=kind,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        summary=summary,
        what_to_do=what_to_do,
        records=records,
        replay_conf=replay,
        details=details,
    )


def notify_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: a task failed after its retries (or at once on a revoked credential)."""
    deliver(failure_alert(context))


# -- deadline ------------------------------------------------------------------------------------
def deadline_alert(context: dict[str, Any] | None, minutes: float | str = "?", **kwargs: Any) -> Alert:
    """The alert for a missed Deadline; ``context`` is what the scheduler hands the callback."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    if not isinstance(dag_run, dict):  # a DagRun object (other callers)
        dag_run = {"dag_id": getattr(dag_run, "dag_id", None), "run_id": getattr(dag_run, "run_id", None)}
    dag_id = str(dag_run.get("dag_id") or kwargs.get("dag_id") or "?")
    run_id = str(dag_run.get("dag_run_id") or dag_run.get("run_id") or "?")
    conf = dag_run.get("conf") or {}
    deadline = context.get("deadline") or {}
    box_keys = (conf.get("box_keys") or []) if isinstance(conf, dict) else []
    return Alert(
        kind="deadline_missed",
        dag_id=dag_id,
        run_id=run_id,
        summary=(
            f"{dag_id} run {run_id} has not finished within {minutes} minutes of being queued"
            + (f" (deadline {deadline.get('deadline_time')})" if deadline.get("deadline_time") else "")
        ),
        what_to_do=(
            "Open the run in the Airflow UI. A task in up_for_retry: Streak or the ERP is failing or "
            "rate-limiting (its log says which); it goes on by itself, fix the cause if it persists. A task "
            "stuck in queued/scheduled: no free worker or pool slot (pool erp_<erp>, parallelism). A "
            "running task: a large backlog; let it finish. Do not start a second run of the same window to "
            "'speed it up': overlapping runs are safe but only add load."
        ),
        records=tuple(AlertRecord(str(k), "requested in this run's conf") for k in box_keys),
        replay_conf=None,
        details={"conf": conf, "queued_at": dag_run.get("queued_at"), "state": dag_run.get("state")},
    )


async def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Deadline Alert callback (``AsyncCallback``, runs in the triggerer): a sync run is too slow."""
    await adeliver(deadline_alert(context, **kwargs))


# -- quarantine growth ---------------------------------------------------------------------------
def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _current_run() -> tuple[str | None, str | None, datetime | None]:
    """(dag_id, run_id, run start) of the running task, or Nones outside a task."""
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
    except Exception:
        return None, None, None
    dag_run = context.get("dag_run")
    ti = context.get("ti")
    started = getattr(dag_run, "start_date", None)
    return (
        getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        context.get("run_id") or getattr(dag_run, "run_id", None),
        started if isinstance(started, datetime) else None,
    )


def check_quarantine_growth(
    store: StateStore,
    erp: str,
    dag_id: str | None = None,
    run_id: str | None = None,
    threshold: int | None = None,
    *,
    since: datetime | None = None,
    config: SyncConfig | None = None,
) -> Alert | None:
    """Alert when this run added records to a quarantine that now holds more than ``threshold``.

    ``dag_id``/``run_id``/``since`` (the run's start) default to the running task's; records first
    quarantined at or after ``since`` are this run's growth. Without a ``since`` (outside a task)
    any quarantine over the threshold alerts. ``threshold`` defaults to
    ``alerts.quarantine_threshold``. Returns the alert sent, or None.
    """
    ctx_dag, ctx_run, ctx_start = _current_run()
    dag_id, run_id, since = dag_id or ctx_dag or "?", run_id or ctx_run or "?", since or ctx_start
    cfg = _settings(config)
    if threshold is None:
        threshold = cfg.quarantine_threshold if cfg is not None else 10
    rows = store.quarantine_list(erp)
    if len(rows) <= threshold:
        return None
    new = [r for r in rows if since is None or _utc(r.first_seen) >= _utc(since)]
    if not new:
        return None  # over the threshold, but this run added nothing: already alerted when it grew
    new_keys = {(r.entity, r.source_key) for r in new}
    old = [r for r in rows if (r.entity, r.source_key) not in new_keys]
    records = tuple(AlertRecord(r.source_key, r.reason, r.entity) for r in [*new, *old])
    alert = Alert(
        kind="quarantine_growth",
        dag_id=dag_id,
        run_id=run_id,
        summary=(
            f"the {erp} quarantine holds {len(rows)} records (threshold {threshold}); "
            f"{len(new)} added by this run (listed first)"
        ),
        what_to_do=(
            "Each record was held back with its reason (the record, the field and the value). Fix it at the "
            "source: the Streak box field named in the reason, or the missing product/customer in the "
            "catalogue or the ERP. Then replay the fixed records (they sync and leave quarantine; the "
            "others stay with their new reason): deals with replay_quarantine on streak_deals_to_erp, "
            "customers and items with replay_quarantine on streak_master_data_sync (its scheduled run "
            "also retries them). Many records with the same reason usually mean a mapping "
            "problem: check include/mappings/ before fixing records one by one."
        ),
        records=records,
        replay_conf={"replay_quarantine": True},
        details={"erp": erp, "quarantined": len(rows), "added_by_run": len(new), "threshold": threshold},
    )
    deliver(alert, cfg)
    return alert
