"""
### Streak master data → ERP customers and items

Daily bulk load. Every Streak **organization** and **contact** that the mapping makes a customer
(`customer.sources` in `include/mappings/<erp>.yaml`: with `[organization, contact]`, every
organization and every contact without an organization) becomes an ERP **customer**; the product
catalogue (the `Product` dropdown options of the configured pipeline plus the items listed in the
mapping) becomes ERP **items**.

`plan` pages through Streak once and cuts the work into chunks of `master_data.chunk_size` records
(`include/sync.yaml`); `sync_chunk` is mapped over them (one task instance per chunk, memory bounded
by the chunk size). Each chunk re-reads its records from Streak, validates them with Great
Expectations before any ERP write (bad records are quarantined with the record key and the field,
the rest go on) and writes in the ERP's bulk form (QuickBooks: batches of 30). The ledger keeps a
hash of each record's last written payload: unchanged records are not sent, so a run with no
Streak changes makes no ERP writes. A changed record gets a sparse update.

**Manual runs / backfill** (Trigger DAG w/ config, or `airflow dags trigger --conf '{...}'`):

| param | meaning |
|---|---|
| `entity` | `all` (default), `customers` or `items` |
| `since`, `until` | only organizations/contacts last updated in this window (`YYYY-MM-DD` or ISO datetime, UTC); items are not dated |
| `box_keys` | only the customers of these boxes (their first organization, else first contact); no items |
| `replay_quarantine` | only the quarantined customers/items: re-read from Streak, re-mapped, re-validated; the fixed ones are synced and leave quarantine |
| `erp` | use the pipeline rule and mapping of this ERP |
| `dry_run` | read, map and validate; log what would be written; write and quarantine nothing |

A run made by `airflow backfill create` without `since`/`until` takes its own data interval as the
window. Re-running any window is safe: writes are idempotent and unchanged records are skipped.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from sync_core.config import ERPS, load_config
from sync_core.dag_defaults import deadline, default_args, erp_pool, window_params

CONFIG = load_config()  # include/sync.yaml: a small local file, no network
ERP_POOL = erp_pool(CONFIG)  # bounds concurrent ERP writers (see sync_core.dag_defaults.erp_pool)


@dag(
    dag_id="streak_master_data_sync",
    schedule=CONFIG.master_data.schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["streak", "erp", "master-data"],
    default_args=default_args(),
    params={
        "entity": Param("all", type="string", enum=["all", "customers", "items"], description="what to sync"),
        **window_params(ERPS),
    },
    deadline=deadline(CONFIG, "master-data sync too slow"),
)
def streak_master_data_sync() -> None:
    # Task bodies live in erp_operators.tasks.master_data; they are imported inside each task so
    # the DAG file stays cheap to parse.
    @task
    def prepare(**context) -> dict:
        """The run's settings: Params (or a backfill run's data interval), ERP rule, pipeline."""
        from erp_operators.tasks import master_data
        from erp_operators.tasks.common import run_params

        return master_data.prepare(run_params(context))

    @task
    def plan(run: dict) -> list:
        """Read Streak page by page and cut the work into chunk descriptors (no records in XCom)."""
        from erp_operators.tasks import master_data

        return master_data.plan(run)

    @task(pool=ERP_POOL, map_index_template="{{ chunk_label }}")
    def sync_chunk(run: dict, chunk: dict) -> dict:
        """One chunk: read from Streak, map, validate (GX), write the good records, quarantine the bad."""
        from airflow.sdk import get_current_context

        from erp_operators.tasks import master_data

        get_current_context()["chunk_label"] = chunk.get("label", "")  # names the mapped instance
        return master_data.sync_chunk(run, chunk)

    @task(trigger_rule="none_failed")
    def finish(run: dict, results: list | None) -> dict:
        """Add the chunks' summaries up."""
        from erp_operators.tasks import master_data

        return master_data.finish(run, list(results or []))

    run = prepare()
    finish(run, sync_chunk.partial(run=run).expand(chunk=plan(run)))


streak_master_data_sync()
