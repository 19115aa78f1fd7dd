"""The Airflow pools ``erp_<erp>`` that bound concurrent ERP writers, sized from each ERP connection.

Deploy-time code (``streak-erp pools sync``, ``make up``): it reads connections through Airflow's
secrets chain (environment, secrets backends, metadata DB) and writes pools with Airflow's own
:meth:`airflow.models.Pool.create_or_update_pool`, so it needs the metadata DB. Task code never calls it.

Sizes: NetSuite, the account's concurrency limit (:func:`erp_operators.netsuite.hook.pool_slots`);
QuickBooks Online, the per-realm concurrent request limit (Intuit's 10, or the connection's
``limits.concurrent_requests``); any other ERP, :data:`DEFAULT_SLOTS`. A pool is planned for every ERP
whose ``<erp>_default`` connection exists, and for every ERP that ``include/sync.yaml`` targets
(with its default size when its connection is missing, so no DAG ever waits on a missing pool).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sync_core.config import ERPS

DEFAULT_SLOTS = 4
Lookup = Callable[[str], Any]  # conn id -> Airflow connection, or None when it does not exist


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """One pool to create or resize: its name, its slots and where the size comes from."""

    erp: str
    name: str
    slots: int
    source: str

    @property
    def description(self) -> str:
        return f"concurrent {self.erp} writers; {self.source}"


@dataclass(frozen=True, slots=True)
class PoolChange:
    """A planned pool next to the slots it had before (``None``: the pool did not exist)."""

    spec: PoolSpec
    before: int | None

    def describe(self, dry_run: bool) -> str:
        if self.before == self.spec.slots:
            return "unchanged"
        if self.before is None:
            return "would create" if dry_run else "created"
        return f"{'would resize' if dry_run else 'resized'} from {self.before}"


class PoolConfigError(ValueError):
    """An ERP connection whose settings cannot size its pool (the message names the connection)."""


def pool_name(erp: str) -> str:
    """``erp_<erp>``: the name :func:`sync_core.dag_defaults.erp_pool` gives the DAGs."""
    return f"erp_{erp}"


def conn_id(erp: str) -> str:
    """The connection the ERP's hook reads by default (``quickbooks_default``, ``netsuite_default``...)."""
    return f"{erp}_default"


def airflow_connection(conn_id: str) -> Any:
    """The connection from Airflow's secrets chain (env, backends, metadata DB), or None if undefined."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None


def default_slots(erp: str) -> tuple[int, str]:
    """The size of a pool whose ERP has no connection, with the reason."""
    if erp == "quickbooks":
        from erp_operators.quickbooks.config import QuickBooksLimits

        return 1, _QBO_ONE_WRITER.format(limit=QuickBooksLimits().concurrent_requests)
    return DEFAULT_SLOTS, "default"


def size_from_connection(erp: str, conn: Any) -> tuple[int, str]:
    """Slots and their source for ``erp`` from its Airflow connection ``conn``."""
    cid = conn.conn_id
    try:
        if erp == "netsuite":
            from erp_operators.netsuite.hook import NetSuiteHook, pool_slots

            config = NetSuiteHook(cid).config_from(conn)
            return pool_slots(config), f"{cid}: account concurrency limit {config.concurrency_limit}"
        if erp == "quickbooks":
            return _quickbooks_slots(cid, conn.extra_dejson or {})
    except PoolConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise PoolConfigError(f"connection {cid!r} ({erp}): {exc}") from exc
    return DEFAULT_SLOTS, f"{cid}: default"


# One QBO writer task per realm at a time: each task's dispatcher already keeps up to
# ``concurrent_requests`` requests in flight (Intuit allows 10 per realm), so a second task in
# parallel would exceed that limit across processes instead of adding throughput.
_QBO_ONE_WRITER = "one writer task at a time; its {limit} parallel requests fill Intuit's concurrent limit"


def _quickbooks_slots(cid: str, extra: dict[str, Any]) -> tuple[int, str]:
    """QuickBooks: 1 slot (see ``_QBO_ONE_WRITER``); the connection's limits are checked here."""
    from erp_operators.quickbooks.config import parse_limits

    limits = extra.get("limits") or {}
    if not isinstance(limits, dict):
        raise PoolConfigError(
            f"connection {cid!r} (quickbooks): extra 'limits' must be an object, not {limits!r}"
        )
    raw = limits.get("concurrent_requests")
    if raw is not None and (isinstance(raw, bool) or not str(raw).strip().isdigit() or int(raw) < 1):
        raise PoolConfigError(
            f"connection {cid!r} (quickbooks): extra limits.concurrent_requests must be a whole number "
            f">= 1, not {raw!r}"
        )
    limit = parse_limits(extra).concurrent_requests
    return 1, f"{cid}: " + _QBO_ONE_WRITER.format(limit=limit)


def plan_pools(
    lookup: Lookup = airflow_connection,
    *,
    erps: Iterable[str] = ERPS,
    required: Iterable[str] = (),
) -> list[PoolSpec]:
    """One :class:`PoolSpec` per ERP whose connection exists, plus the ``required`` ERPs.

    Raises :class:`PoolConfigError` (naming the connection and the setting) for a connection whose
    limit is not a positive whole number or that misses what its ERP needs.
    """
    required = set(required)
    specs = []
    for erp in erps:
        conn = lookup(conn_id(erp))
        if conn is not None:
            slots, source = size_from_connection(erp, conn)
        elif erp in required:
            slots, source = default_slots(erp)
            source = f"{source} (no connection {conn_id(erp)!r})"
        else:
            continue
        if slots < 1:
            raise PoolConfigError(
                f"connection {conn_id(erp)!r} ({erp}): the pool needs at least 1 slot, not {slots}"
            )
        specs.append(PoolSpec(erp=erp, name=pool_name(erp), slots=slots, source=source))
    return specs


def configured_erps() -> list[str]:
    """The ERPs the pipeline rules of the sync configuration (``include/sync.yaml``) send deals to."""
    from sync_core.config import load_config

    return [rule.erp for rule in load_config().pipelines]


def current_pools(names: Iterable[str], session: Any = None) -> dict[str, Any]:
    """The existing pools among ``names`` (Airflow ``Pool`` rows), by name."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    if session is None:
        with create_session() as own:
            return current_pools(names, own)
    pools = {name: Pool.get_pool(name, session=session) for name in names}
    return {name: pool for name, pool in pools.items() if pool is not None}


def sync_pools(specs: list[PoolSpec], *, dry_run: bool = False) -> list[PoolChange]:
    """Create or resize each pool in one transaction (nothing is written on a dry run).

    An existing pool keeps its ``include_deferred`` setting; only slots and description change.
    """
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        existing = current_pools([s.name for s in specs], session)
        changes = [
            PoolChange(spec, existing[spec.name].slots if spec.name in existing else None) for spec in specs
        ]
        if not dry_run:
            for spec in specs:
                deferred = bool(existing[spec.name].include_deferred) if spec.name in existing else False
                Pool.create_or_update_pool(spec.name, spec.slots, spec.description, deferred, session=session)
    return changes
