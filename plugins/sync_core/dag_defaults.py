"""What every sync DAG shares: ``default_args`` (retries, backoff, failure notifier), the Deadline
Alert, the ERP pool name and the manual-run Params.

Cheap to import (DAG files use it at parse time): only ``datetime``, the config loader and the
alert callbacks; Airflow's Deadline classes are imported only when a deadline is switched on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sync_core.alerts import notify_failure
from sync_core.config import SyncConfig


def default_args(**overrides: Any) -> dict[str, Any]:
    """Retries with exponential backoff (20 s doubling, at most 10 min) and the failure notifier."""
    return {
        "owner": "streak-erp-sync",
        "retries": 3,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": notify_failure,
        **overrides,
    }


def erp_pool(config: SyncConfig) -> str:
    """The pool that bounds concurrent ERP writers, named after the default rule's ERP.

    Fixed at parse time: a run whose ``erp`` param picks another ERP still uses this pool. `make up`
    creates it; elsewhere ``streak-erp pools sync`` (`airflow dags test` needs none).
    """
    return f"erp_{config.rule_for().erp}"


def deadline(config: SyncConfig, name: str) -> list:
    """A Deadline Alert per run when enabled in include/sync.yaml (off by default: see README)."""
    if not config.deadline_enabled:
        return []
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=config.deadline_minutes),
            callback=AsyncCallback(
                "sync_core.alerts.deadline_missed", kwargs={"minutes": config.deadline_minutes}
            ),
            name=name,
        )
    ]


def window_params(erps: tuple[str, ...]) -> dict[str, Any]:
    """The manual-run / backfill Params both sync DAGs take (``entity`` is added per DAG)."""
    from airflow.sdk import Param

    return {
        "since": Param(None, type=["null", "string"], description="YYYY-MM-DD or ISO datetime (UTC)"),
        "until": Param(None, type=["null", "string"], description="YYYY-MM-DD or ISO datetime (UTC)"),
        "box_keys": Param([], type="array", items={"type": "string"}, description="explicit Streak box keys"),
        "replay_quarantine": Param(
            False,
            type="boolean",
            description="re-read the quarantined records from Streak, re-map, re-validate; fixed ones sync",
        ),
        "erp": Param(None, type=["null", "string"], enum=[None, *erps], description="target ERP"),
        "dry_run": Param(False, type="boolean", description="print what would happen, write nothing"),
    }
