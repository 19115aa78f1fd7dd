"""
### Streak deals → ERP documents

Polls Streak on a schedule. Every box that **entered a trigger stage** (default `Closed-Won` in the
`Sales` pipeline, see `include/sync.yaml`) since the stored watermark becomes a customer and an
invoice or sales order in the configured ERP, and the ERP's document number is written back to the
box.

**Manual runs / backfill** (Trigger DAG w/ config):

| param | meaning |
|---|---|
| `since`, `until` | re-read stage changes in this window (`YYYY-MM-DD` or ISO datetime, UTC) instead of the watermark |
| `box_keys` | sync exactly these boxes (if they are in a trigger stage) |
| `erp` | target a pipeline rule of this ERP instead of the first one |
| `dry_run` | find and print what would happen; claim and write nothing |

Re-running any window is safe: each stage entry is claimed once in the state store and ERP writes
are idempotent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from sync_core.alerts import notify_failure
from sync_core.config import ERPS, load_config

CONFIG = load_config()  # include/sync.yaml: a small local file, no network
# Bounds concurrent ERP writers. Fixed at parse time to the default rule's ERP: a run whose `erp`
# param picks another ERP still uses this pool. `make up` creates it; elsewhere create it with
# `airflow pools set erp_<erp> 4 "..."` (`airflow dags test` does not need it).
ERP_POOL = f"erp_{CONFIG.rule_for().erp}"


def _deadline() -> list:
    """Deadline Alert per run when enabled in include/sync.yaml (off by default: see README)."""
    if not CONFIG.deadline_enabled:
        return []
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=CONFIG.deadline_minutes),
            callback=AsyncCallback(
                "sync_core.alerts.deadline_missed", kwargs={"minutes": CONFIG.deadline_minutes}
            ),
            name="deal sync too slow",
        )
    ]


@dag(
    dag_id="streak_deals_to_erp",
    schedule=CONFIG.schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["streak", "erp", "deals"],
    default_args={
        "owner": "streak-erp-sync",
        "retries": 3,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": notify_failure,
    },
    params={
        "since": Param(None, type=["null", "string"], description="YYYY-MM-DD or ISO datetime (UTC)"),
        "until": Param(None, type=["null", "string"], description="YYYY-MM-DD or ISO datetime (UTC)"),
        "box_keys": Param([], type="array", items={"type": "string"}, description="explicit Streak box keys"),
        "erp": Param(None, type=["null", "string"], enum=[None, *ERPS], description="target ERP"),
        "dry_run": Param(False, type="boolean", description="print what would happen, write nothing"),
    },
    deadline=_deadline(),
)
def streak_deals_to_erp() -> None:
    # Task bodies live in erp_operators.tasks.deals; they are imported inside each task so the
    # DAG file stays cheap to parse.
    @task
    def detect(**context) -> dict:
        """Find the boxes that entered a trigger stage and claim them for this run."""
        from erp_operators.tasks import deals

        return deals.detect(dict(context["params"]), context["run_id"])

    @task
    def map_and_validate(detected: dict, **context) -> dict:
        """Streak -> canonical records, validated with Great Expectations; bad ones quarantined."""
        from erp_operators.tasks import deals

        return deals.map_and_validate(detected, context["run_id"])

    @task(pool=ERP_POOL)
    def upsert_customers(mapped: dict) -> list:
        from erp_operators.tasks import deals

        return deals.upsert_customers(mapped)

    @task(pool=ERP_POOL)
    def resolve_items(mapped: dict) -> list:
        from erp_operators.tasks import deals

        return deals.resolve_items(mapped)

    @task(pool=ERP_POOL)
    def create_documents(mapped: dict, customers: list, items: list) -> list:
        from erp_operators.tasks import deals

        return deals.create_documents(mapped, customers, items)

    @task
    def write_back(mapped: dict, documents: list) -> list:
        """ERP document number -> the Streak box field, plus one comment."""
        from erp_operators.tasks import deals

        return deals.write_back(mapped, documents)

    @task
    def finish(mapped: dict, documents: list, written: list) -> dict:
        """Close this run's claims, release fixed records from quarantine, summarise."""
        from erp_operators.tasks import deals

        return deals.finish(mapped, documents, written)

    mapped = map_and_validate(detect())
    documents = create_documents(mapped, upsert_customers(mapped), resolve_items(mapped))
    finish(mapped, documents, write_back(mapped, documents))


streak_deals_to_erp()
