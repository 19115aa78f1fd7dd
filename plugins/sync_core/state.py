"""The sync state store: ledger, watermarks, quarantine, stage events, OAuth tokens and rate budgets.

One SQLAlchemy database reached through the Airflow connection ``erp_sync_state`` (a SQLite file in
``$AIRFLOW_HOME`` by default; a PostgreSQL URL works the same). Task code keeps its own state
here and never touches Airflow's metadata database. Tables are created idempotently.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

DEFAULT_CONN_ID = "erp_sync_state"
STATE_URL_ENV = "STREAK_ERP_STATE_URL"

metadata = sa.MetaData()

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("erp", sa.String(32), primary_key=True),
    sa.Column("entity", sa.String(32), primary_key=True),
    sa.Column("source_key", sa.String(200), primary_key=True),
    sa.Column("erp_id", sa.String(100)),
    sa.Column("erp_number", sa.String(100)),
    sa.Column("payload_hash", sa.String(64)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("erp", sa.String(32), primary_key=True),
    sa.Column("entity", sa.String(32), primary_key=True),
    sa.Column("source_key", sa.String(200), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
)

stage_events = sa.Table(
    "stage_events",
    metadata,
    sa.Column("pipeline_key", sa.String(200), primary_key=True),
    sa.Column("box_key", sa.String(200), primary_key=True),
    sa.Column("stage_key", sa.String(50), primary_key=True),
    sa.Column("entered_ts", sa.BigInteger, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),  # claimed | done
    sa.Column("claimed_by", sa.String(250)),
    sa.Column("claimed_at", sa.Float),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

rate_events = sa.Table(
    "rate_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bucket", sa.String(200), nullable=False, index=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("cost", sa.Integer, nullable=False),
)


_CREATED: set[str] = set()  # database URLs whose tables this process has already ensured


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What we last wrote to an ERP for one source record."""

    erp: str
    entity: str
    source_key: str
    erp_id: str | None
    erp_number: str | None
    payload_hash: str | None
    status: str
    error: str | None
    attempts: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A record held back from the ERP, with the human-readable reason."""

    erp: str
    entity: str
    source_key: str
    reason: str
    payload: dict[str, Any]
    attempts: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class StageEvent:
    """A box entering a stage at ``entered_ts`` (epoch ms); the unit of deal-won detection."""

    pipeline_key: str
    box_key: str
    stage_key: str
    entered_ts: int


def _event_key(ev: StageEvent) -> tuple[Any, ...]:
    """The primary-key condition of one stage event."""
    return (
        stage_events.c.pipeline_key == ev.pipeline_key,
        stage_events.c.box_key == ev.box_key,
        stage_events.c.stage_key == ev.stage_key,
        stage_events.c.entered_ts == ev.entered_ts,
    )


class TokenHandle:
    """A token row read under :meth:`StateStore.token_lock`; ``set`` writes inside the same lock."""

    def __init__(self, conn: Connection, name: str, value: str | None, version: int) -> None:
        self._conn = conn
        self.name = name
        self.value = value
        self.version = version

    def set(self, value: str) -> None:
        self._conn.execute(
            tokens.update()
            .where(tokens.c.name == self.name)
            .values(value=value, version=self.version + 1, updated_at=_now())
        )
        self.value = value
        self.version += 1


def default_sqlite_path() -> Path:
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return home / "erp_sync_state.db"


def url_from_airflow_connection(conn: Any) -> str:
    """Build a SQLAlchemy URL from an Airflow connection (sqlite, postgres or an explicit URL)."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        return f"sqlite:///{conn.host or conn.schema}"
    if conn_type in {"postgres", "postgresql"}:
        url = sa.engine.URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or "127.0.0.1",
            port=conn.port or 5432,
            database=conn.schema or "postgres",
        )
        return url.render_as_string(hide_password=False)
    raise ValueError(f"connection {conn.conn_id!r}: conn_type {conn_type!r} is not sqlite or postgres")


class StateStore:
    """Access to the sync state database. Cheap to build; the engine is created lazily."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str) -> StateStore:
        return cls(url)

    @classmethod
    def from_connection(cls, conn_id: str = DEFAULT_CONN_ID) -> StateStore:
        """The store behind an Airflow connection; ``$STREAK_ERP_STATE_URL`` or a SQLite file otherwise."""
        if os.environ.get(STATE_URL_ENV):
            return cls(os.environ[STATE_URL_ENV])
        from airflow.exceptions import AirflowNotFoundException
        from airflow.sdk import BaseHook

        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:  # not defined at all: the embedded default
            return cls(f"sqlite:///{default_sqlite_path()}")
        # A connection that exists but is wrong must fail loudly: falling back to a local file
        # would silently split the state between workers.
        return cls(url_from_airflow_connection(conn))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def _make_engine(self) -> Engine:
        if not self.is_sqlite:
            return sa.create_engine(self.url, pool_pre_ping=True, future=True)
        path = self.url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(self.url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN itself
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA busy_timeout=60000")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def create_all(self) -> StateStore:
        """Create missing tables (once per database per process: every task asks, one checks)."""
        if self.url not in _CREATED:
            metadata.create_all(self.engine, checkfirst=True)
            _CREATED.add(self.url)
        return self

    @contextmanager
    def _locked(self, lock_name: str) -> Iterator[Connection]:
        """A transaction that holds a cross-process lock named ``lock_name`` until it ends."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                if not self.is_sqlite:
                    key = zlib.crc32(lock_name.encode()) & 0x7FFFFFFF
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
                yield conn

    # -- watermarks -----------------------------------------------------------------------------
    def get_watermark(self, name: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(watermarks.c.value).where(watermarks.c.name == name)).scalar()

    def advance_watermark(self, name: str, value: int) -> int:
        """Move a watermark forward (never back); returns the stored value."""
        with self._locked(f"watermark:{name}") as conn:
            current = conn.execute(sa.select(watermarks.c.value).where(watermarks.c.name == name)).scalar()
            if current is None:
                conn.execute(watermarks.insert().values(name=name, value=value, updated_at=_now()))
                return value
            if value > current:
                conn.execute(
                    watermarks.update()
                    .where(watermarks.c.name == name)
                    .values(value=value, updated_at=_now())
                )
                return value
            return current

    # -- ledger ---------------------------------------------------------------------------------
    def ledger_get(self, erp: str, entity: str, source_key: str) -> LedgerEntry | None:
        found = self.ledger_get_many(erp, entity, [source_key])
        return found.get(source_key)

    def ledger_get_many(self, erp: str, entity: str, source_keys: Iterable[str]) -> dict[str, LedgerEntry]:
        with self.engine.connect() as conn:
            return self._ledger_rows(conn, erp, entity, source_keys)

    @staticmethod
    def _ledger_rows(
        conn: Connection, erp: str, entity: str, source_keys: Iterable[str]
    ) -> dict[str, LedgerEntry]:
        keys = list(dict.fromkeys(source_keys))
        out: dict[str, LedgerEntry] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = conn.execute(
                sa.select(ledger).where(
                    ledger.c.erp == erp, ledger.c.entity == entity, ledger.c.source_key.in_(chunk)
                )
            )
            for row in rows:
                out[row.source_key] = LedgerEntry(**row._mapping)
        return out

    def ledger_holding(self, erp: str, entity: str, erp_ids: Iterable[str]) -> list[LedgerEntry]:
        """The ledger rows whose ERP id is one of ``erp_ids`` (which source records hold them)."""
        ids = list(dict.fromkeys(erp_ids))
        out: list[LedgerEntry] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(ledger).where(
                        ledger.c.erp == erp,
                        ledger.c.entity == entity,
                        ledger.c.erp_id.in_(ids[start : start + 500]),
                    )
                )
                out.extend(LedgerEntry(**row._mapping) for row in rows)
        return out

    def ledger_all(self, erp: str | None = None, entity: str | None = None) -> list[LedgerEntry]:
        query = sa.select(ledger)
        if erp:
            query = query.where(ledger.c.erp == erp)
        if entity:
            query = query.where(ledger.c.entity == entity)
        with self.engine.connect() as conn:
            return [LedgerEntry(**row._mapping) for row in conn.execute(query.order_by(ledger.c.source_key))]

    def ledger_record(self, erp: str, entity: str, rows: Iterable[dict[str, Any]]) -> int:
        """Upsert ledger rows (keys: source_key, erp_id, erp_number, payload_hash, status, error)."""
        rows = list(rows)
        if not rows:
            return 0
        now = _now()
        with self._locked(f"ledger:{erp}:{entity}") as conn:
            # read under the lock: two writers must not both see "absent" and both insert
            existing = self._ledger_rows(conn, erp, entity, [r["source_key"] for r in rows])
            for row in rows:
                key = row["source_key"]
                values = {
                    "erp_id": row.get("erp_id"),
                    "erp_number": row.get("erp_number"),
                    "payload_hash": row.get("payload_hash"),
                    "status": row.get("status", "created"),
                    "error": row.get("error"),
                    "updated_at": now,
                }
                prev = existing.get(key)
                if prev is None:
                    conn.execute(
                        ledger.insert().values(erp=erp, entity=entity, source_key=key, attempts=1, **values)
                    )
                else:
                    if values["erp_id"] is None:  # a failed attempt keeps the last known ERP ids
                        values.update(erp_id=prev.erp_id, erp_number=prev.erp_number)
                        values["payload_hash"] = values["payload_hash"] or prev.payload_hash
                    conn.execute(
                        ledger.update()
                        .where(ledger.c.erp == erp, ledger.c.entity == entity, ledger.c.source_key == key)
                        .values(attempts=prev.attempts + 1, **values)
                    )
        return len(rows)

    # -- quarantine -----------------------------------------------------------------------------
    def quarantine_put(
        self, erp: str, entity: str, source_key: str, reason: str, payload: dict[str, Any]
    ) -> int:
        """Hold a record back with its reason; returns the attempt count."""
        now = _now()
        body = json.dumps(payload, default=str, sort_keys=True)
        where = (
            quarantine.c.erp == erp,
            quarantine.c.entity == entity,
            quarantine.c.source_key == source_key,
        )
        with self._locked(f"quarantine:{erp}") as conn:
            attempts = conn.execute(sa.select(quarantine.c.attempts).where(*where)).scalar()
            if attempts is None:
                conn.execute(
                    quarantine.insert().values(
                        erp=erp,
                        entity=entity,
                        source_key=source_key,
                        reason=reason,
                        payload=body,
                        attempts=1,
                        first_seen=now,
                        last_seen=now,
                    )
                )
                return 1
            conn.execute(
                quarantine.update()
                .where(*where)
                .values(reason=reason, payload=body, attempts=attempts + 1, last_seen=now)
            )
            return attempts + 1

    def quarantine_release(self, erp: str, entity: str, source_keys: Iterable[str]) -> int:
        keys = list(source_keys)
        if not keys:
            return 0
        with self._locked(f"quarantine:{erp}") as conn:
            result = conn.execute(
                quarantine.delete().where(
                    quarantine.c.erp == erp, quarantine.c.entity == entity, quarantine.c.source_key.in_(keys)
                )
            )
            return result.rowcount or 0

    def quarantine_list(self, erp: str | None = None, entity: str | None = None) -> list[QuarantineRow]:
        query = sa.select(quarantine)
        if erp:
            query = query.where(quarantine.c.erp == erp)
        if entity:
            query = query.where(quarantine.c.entity == entity)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(quarantine.c.first_seen, quarantine.c.source_key))
            return [
                QuarantineRow(**{**row._mapping, "payload": json.loads(row.payload)})  # type: ignore[arg-type]
                for row in rows
            ]

    # -- stage events (deal-won detection) ------------------------------------------------------
    def claim_stage_events(
        self, events: Iterable[StageEvent], claimant: str, lease_seconds: float = 3600.0
    ) -> list[StageEvent]:
        """Claim events for processing; returns those this claimant now owns.

        An event is handed out once: a second, overlapping run gets nothing for it. An event whose
        claim was never completed (the run died) is handed out again after ``lease_seconds``.
        """
        events = list(dict.fromkeys(events))
        won: list[StageEvent] = []
        now = time.time()
        with self._locked("stage_events") as conn:
            for ev in events:
                where = _event_key(ev)
                row = conn.execute(sa.select(stage_events).where(*where)).first()
                if row is None:
                    conn.execute(
                        stage_events.insert().values(
                            pipeline_key=ev.pipeline_key,
                            box_key=ev.box_key,
                            stage_key=ev.stage_key,
                            entered_ts=ev.entered_ts,
                            status="claimed",
                            claimed_by=claimant,
                            claimed_at=now,
                        )
                    )
                    won.append(ev)
                elif row.status != "done" and (
                    row.claimed_by == claimant or now - row.claimed_at > lease_seconds
                ):
                    conn.execute(
                        stage_events.update().where(*where).values(claimed_by=claimant, claimed_at=now)
                    )
                    won.append(ev)
        return won

    def complete_stage_events(self, events: Iterable[StageEvent]) -> None:
        """Mark events done (synced or quarantined): they are never handed out again."""
        with self._locked("stage_events") as conn:
            for ev in events:
                conn.execute(stage_events.update().where(*_event_key(ev)).values(status="done"))

    def release_stage_events(self, events: Iterable[StageEvent]) -> None:
        """Give up a claim (e.g. a retriable failure) so the next run picks the events up at once."""
        with self._locked("stage_events") as conn:
            for ev in events:
                conn.execute(
                    stage_events.update()
                    .where(*_event_key(ev), stage_events.c.status != "done")
                    .values(claimed_by=None, claimed_at=0.0)
                )

    def release_claims_of(self, claimant: str) -> list[StageEvent]:
        """Give up every unfinished claim held by ``claimant`` (a run that is over); returns them.

        Only rows whose ``claimed_by`` is exactly ``claimant`` are touched: another run's claims
        and finished events stay as they are.
        """
        if not claimant:
            raise ValueError("release_claims_of: claimant must be a run id, not empty")
        mine = (stage_events.c.claimed_by == claimant, stage_events.c.status != "done")
        with self._locked("stage_events") as conn:
            rows = conn.execute(sa.select(stage_events).where(*mine).order_by(stage_events.c.entered_ts))
            released = [StageEvent(r.pipeline_key, r.box_key, r.stage_key, r.entered_ts) for r in rows]
            if released:
                conn.execute(stage_events.update().where(*mine).values(claimed_by=None, claimed_at=0.0))
        return released

    def reopen_stage_events(self, events: Iterable[StageEvent]) -> int:
        """Hand finished events out again (an explicit replay of quarantined deals); returns the count."""
        reopened = 0
        with self._locked("stage_events") as conn:
            for ev in events:
                result = conn.execute(
                    stage_events.update()
                    .where(*_event_key(ev), stage_events.c.status == "done")
                    .values(status="claimed", claimed_by=None, claimed_at=0.0)
                )
                reopened += result.rowcount or 0
        return reopened

    def stage_events_list(
        self,
        pending_only: bool = False,
        pipeline_key: str | None = None,
        claimable_by: str | None = None,
        lease_seconds: float = 3600.0,
    ) -> list[StageEvent]:
        """Claimed stage events in order of entry.

        ``pending_only``: never completed (the run died or gave them back). ``claimable_by``: only
        those :meth:`claim_stage_events` would hand to that claimant now (its own, or lease over).
        """
        query = sa.select(stage_events).order_by(stage_events.c.entered_ts)
        if pending_only:
            query = query.where(stage_events.c.status != "done")
        if pipeline_key is not None:
            query = query.where(stage_events.c.pipeline_key == pipeline_key)
        if claimable_by is not None:
            query = query.where(
                sa.or_(
                    stage_events.c.claimed_by == claimable_by,
                    sa.func.coalesce(stage_events.c.claimed_at, 0.0) < time.time() - lease_seconds,
                )
            )
        with self.engine.connect() as conn:
            return [
                StageEvent(r.pipeline_key, r.box_key, r.stage_key, r.entered_ts) for r in conn.execute(query)
            ]

    def pending_stage_events(self, **filters: Any) -> list[StageEvent]:
        """Events claimed but never completed; ``filters`` as in :meth:`stage_events_list`."""
        return self.stage_events_list(pending_only=True, **filters)

    # -- tokens ---------------------------------------------------------------------------------
    def get_token(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(tokens.c.value).where(tokens.c.name == name)).scalar()

    def put_token(self, name: str, value: str) -> None:
        with self.token_lock(name) as tok:
            tok.set(value)

    @contextmanager
    def token_lock(self, name: str) -> Iterator[TokenHandle]:
        """Hold a cross-process lock on one token while refreshing it.

        Do not call other StateStore methods inside the block: on SQLite the lock is the database's
        write lock and a second connection would wait for it.
        """
        with self._locked(f"token:{name}") as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.name == name)).first()
            if row is None:
                conn.execute(tokens.insert().values(name=name, value=None, version=0, updated_at=_now()))
                handle = TokenHandle(conn, name, None, 0)
            else:
                handle = TokenHandle(conn, name, row.value, row.version)
            yield handle

    # -- shared rate budget ---------------------------------------------------------------------
    def take_budget(self, bucket: str, cost: int, capacity: int, window_seconds: float) -> float:
        """Take ``cost`` units from a sliding-window budget shared by every process.

        Returns 0.0 when granted, else the seconds to wait before asking again (nothing taken).
        """
        return self.take_budgets([(bucket, cost, capacity)], window_seconds)

    def take_budgets(self, takes: Iterable[tuple[str, int, int]], window_seconds: float) -> float:
        """Take ``(bucket, cost, capacity)`` units from several sliding-window budgets, all or none.

        Returns 0.0 when every one was granted, else the longest wait among the refused ones
        (nothing taken). The grant is stamped after the lock is held, so a wait for the lock
        cannot make a unit look older than it is.
        """
        takes = list(takes)
        for bucket, cost, capacity in takes:
            if cost > capacity:
                raise ValueError(f"bucket {bucket}: cost {cost} exceeds capacity {capacity}")
        names = sorted({bucket for bucket, _, _ in takes})
        with self._locked(f"budget:{names[0]}") as conn:
            if not self.is_sqlite:  # SQLite's write lock covers every bucket already
                for name in names[1:]:
                    key = zlib.crc32(f"budget:{name}".encode()) & 0x7FFFFFFF
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            now = time.time()
            wait = max(self._budget_wait(conn, b, c, cap, now, window_seconds) for b, c, cap in takes)
            if wait > 0:
                return wait
            conn.execute(rate_events.insert(), [{"bucket": b, "ts": now, "cost": c} for b, c, _ in takes])
            return 0.0

    @staticmethod
    def _budget_wait(
        conn: Connection, bucket: str, cost: int, capacity: int, now: float, window_seconds: float
    ) -> float:
        """0.0 when ``cost`` more fits the bucket's window now, else the seconds until it will."""
        conn.execute(
            rate_events.delete().where(
                rate_events.c.bucket == bucket, rate_events.c.ts <= now - window_seconds
            )
        )
        rows = conn.execute(
            sa.select(rate_events.c.ts, rate_events.c.cost)
            .where(rate_events.c.bucket == bucket)
            .order_by(rate_events.c.ts)
        ).all()
        used = sum(r.cost for r in rows)
        if used + cost <= capacity:
            return 0.0
        excess = used + cost - capacity  # wait until enough of the oldest events leave the window
        freed = 0
        for r in rows:
            freed += r.cost
            if freed >= excess:
                return max(0.001, r.ts + window_seconds - now)
        return window_seconds
