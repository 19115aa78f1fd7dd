"""Helpers shared by the sync DAGs' task bodies: run params, the state store, ERP calls, the ledger."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any

from erp_operators.contract import ENTITY_CUSTOMER, ENTITY_ITEM

if TYPE_CHECKING:
    from erp_operators.contract import ERPConnector
    from erp_operators.receipts import Receipt
    from sync_core.state import StateStore

log = logging.getLogger(__name__)


def store() -> StateStore:
    """The state store behind the ``erp_sync_state`` connection (tables created if missing)."""
    from sync_core.state import StateStore

    return StateStore.from_connection().create_all()


def parse_bound(value: str | None, *, end_of_day: bool = False) -> int | None:
    """A ``since``/``until`` param (``YYYY-MM-DD`` or ISO datetime, UTC if naive) as epoch ms."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, dtime.max if end_of_day else dtime.min, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(
            f"param {'until' if end_of_day else 'since'}={value!r}: expected YYYY-MM-DD or an ISO datetime"
        ) from exc
    return int(moment.timestamp() * 1000)


def run_params(context: Mapping[str, Any]) -> dict[str, Any]:
    """The run's Params; a backfill run (``airflow backfill create``) without ``since``/``until``
    takes the time its logical date covers as the window: its data interval, or, for the
    zero-length intervals of a cron trigger schedule, the time since the schedule's previous tick."""
    params = dict(context.get("params") or {})
    dag_run = context.get("dag_run")
    run_type = str(getattr(getattr(dag_run, "run_type", None), "value", getattr(dag_run, "run_type", "")))
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if run_type == "backfill" and not params.get("since") and not params.get("until") and start and end:
        if start == end:
            start = _previous_tick(context.get("dag"), end) or start
        params["since"] = start.isoformat()
        params["until"] = end.isoformat()
        log.info("backfill run: window %s .. %s", params["since"], params["until"])
    return params


def _previous_tick(dag: Any, moment: datetime) -> datetime | None:
    """The cron schedule's fire time before ``moment`` (None when the DAG has no cron schedule)."""
    expression = getattr(getattr(dag, "timetable", None), "expression", None)
    if not expression:
        return None
    from croniter import croniter

    return croniter(expression, moment).get_prev(datetime)


def connector(erp: str, state: StateStore) -> ERPConnector:
    from erp_operators.registry import get_connector

    return get_connector(erp, store=state)


def call_erp(erp: str, state: StateStore, method: str, *args: Any) -> list[Receipt]:
    """One connector call; a revoked credential fails the task at once (no Airflow retries)."""
    from erp_operators.errors import ERPAuthError

    try:
        with connector(erp, state) as conn:
            return getattr(conn, method)(*args)
    except ERPAuthError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{method}: {exc}") from exc


def raise_on_unwritten(step: str, receipts: list[Receipt]) -> None:
    """Records the ERP did not take (transient or fatal errors) fail the task, so Airflow retries it.

    The retry is safe (writes are idempotent); a fatal error fails again and the alert names it.
    Validation refusals are not raised: they are quarantined.
    """
    from erp_operators.receipts import ErrorClass

    unwritten = [r for r in receipts if r.error_class in (ErrorClass.RETRIABLE, ErrorClass.FATAL)]
    if unwritten:
        detail = "; ".join(f"{r.external_key}: {r.message}" for r in unwritten[:5])
        raise RuntimeError(f"{step}: {len(unwritten)} record(s) not written: {detail}")


def record(
    state: StateStore, erp: str, entity: str, receipts: list[Receipt], *, skip_unchanged: bool = False
) -> None:
    """Ledger rows for the receipts; a customer or item that synced leaves quarantine.

    ``skip_unchanged``: a receipt that wrote nothing and whose ledger row already holds the same
    ERP id and payload hash is not rewritten (a bulk load of unchanged records touches no row),
    unless that row records a failed attempt (whose write reached the ERP after all).
    """
    from erp_operators.receipts import ReceiptStatus

    same: set[str] = set()
    if skip_unchanged:
        quiet = [r for r in receipts if r.status is ReceiptStatus.UNCHANGED]
        known = state.ledger_get_many(erp, entity, [r.external_key for r in quiet]) if quiet else {}
        same = {
            r.external_key
            for r in quiet
            if (row := known.get(r.external_key)) is not None
            and row.payload_hash == r.payload_hash
            and row.erp_id == r.erp_id
            and row.status != "failed"
        }
    state.ledger_record(erp, entity, [r.ledger_row() for r in receipts if r.external_key not in same])
    if entity in (ENTITY_CUSTOMER, ENTITY_ITEM):
        state.quarantine_release(erp, entity, [r.external_key for r in receipts if r.ok])
