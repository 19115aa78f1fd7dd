"""
### Streak deals → ERP documents

Polls Streak on a schedule. Every box that **entered a trigger stage** (default `Closed-Won` in the
`Sales` pipeline, see `include/sync.yaml`) since the stored watermark becomes a customer and an
invoice or sales order in the configured ERP, and the ERP's document number is written back to the
box.

**Manual runs / backfill** (Trigger DAG w/ config, or `airflow dags trigger --conf '{...}'`):

| param | meaning |
|---|---|
| `since`, `until` | re-read stage changes in this window (`YYYY-MM-DD` or ISO datetime, UTC) instead of the watermark |
| `box_keys` | sync exactly these boxes (if they are in a trigger stage); `since`/`until` are then not used |
| `replay_quarantine` | also re-read every quarantined deal's box from Streak, re-map and re-validate it; the fixed ones are synced and leave quarantine, the others stay with their new reason |
| `erp` | target a pipeline rule of this ERP instead of the first one |
| `dry_run` | find and print what would happen; claim and write nothing |

A run made by `airflow backfill create` without `since`/`until` takes its own data interval as the
window. Re-running any window is safe: each stage entry is claimed once in the state store and ERP writes
are idempotent. A run that fails (a revoked token, retries used up) gives its unfinished claims back in
the teardown task `release_claims`, so the next run takes those deals at once. A quarantined deal's
stage entry is re-opened only for an explicit replay (`box_keys` or `replay_quarantine`). This DAG
syncs deals (with their customers and items); bulk customers and items are `streak_master_data_sync`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task, teardown

from sync_core.config import ERPS, load_config
from sync_core.dag_defaults import deadline, default_args, erp_pool, window_params

CONFIG = load_config()  # include/sync.yaml: a small local file, no network
ERP_POOL = erp_pool(CONFIG)  # bounds concurrent ERP writers (see sync_core.dag_defaults.erp_pool)


@dag(
    dag_id="streak_deals_to_erp",
    schedule=CONFIG.schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["streak", "erp", "deals"],
    default_args=default_args(),
    params=window_params(ERPS),
    deadline=deadline(CONFIG, "deal sync too slow"),
)
def streak_deals_to_erp() -> None:
    # Task bodies live in erp_operators.tasks.deals; they are imported inside each task so the
    # DAG file stays cheap to parse.
    @task
    def detect(**context) -> dict:
        """Find the boxes that entered a trigger stage and claim them for this run."""
        from erp_operators.tasks import deals
        from erp_operators.tasks.common import run_params

        return deals.detect(run_params(context), context["run_id"])

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

    @teardown
    def release_claims(**context) -> list:
        """After every other task, even failed ones: give back the claims this run did not finish."""
        from erp_operators.tasks import deals

        return deals.release_claims(context["run_id"])

    detected = detect()
    mapped = map_and_validate(detected)
    customers, items = upsert_customers(mapped), resolve_items(mapped)
    documents = create_documents(mapped, customers, items)
    written = write_back(mapped, documents)
    done = finish(mapped, documents, written)
    [detected, mapped, customers, items, documents, written, done] >> release_claims()


streak_deals_to_erp()
