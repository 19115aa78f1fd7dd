"""Alert callbacks used by the sync DAGs: task failure notifier and Deadline Alert callback.

Every alert says which DAG and run, what failed, and what to do. Delivery: the task log always;
plus a JSON POST to ``$STREAK_ERP_ALERT_WEBHOOK`` when that is set. (E-mail delivery and the
quarantine-growth alert arrive with the reliability work.)
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any

log = logging.getLogger("streak_erp_sync.alerts")
WEBHOOK_ENV = "STREAK_ERP_ALERT_WEBHOOK"


def _deliver(alert: dict[str, Any]) -> None:
    log.error("ALERT %s: %s", alert["kind"], alert["message"])
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return
    request = urllib.request.Request(
        url, data=json.dumps(alert).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError as exc:  # an alert channel being down must not hide the original failure
        log.error("could not deliver alert to the webhook: %s", exc)


def notify_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: a task failed after its retries."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", "?")
    error = context.get("exception")
    _deliver(
        {
            "kind": "task_failed",
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "message": (
                f"{dag_id}.{task_id} failed in run {run_id}: {error}. "
                "What to do: read the task log in the Airflow UI; fix the cause named there, then clear the "
                "task to retry. Writes are idempotent, so a retry never duplicates ERP documents."
            ),
        }
    )


async def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Deadline Alert callback (runs in the triggerer): a sync run is taking too long."""
    dag_run = (context or {}).get("dag_run") or {}
    dag_id = dag_run.get("dag_id") if isinstance(dag_run, dict) else getattr(dag_run, "dag_id", "?")
    run_id = dag_run.get("run_id") if isinstance(dag_run, dict) else getattr(dag_run, "run_id", "?")
    _deliver(
        {
            "kind": "deadline_missed",
            "dag_id": dag_id,
            "run_id": run_id,
            "message": (
                f"{dag_id} run {run_id} has not finished within {kwargs.get('minutes', '?')} minutes. "
                "What to do: check whether the ERP or Streak is slow or rate-limiting (task logs show retries)."
            ),
        }
    )
