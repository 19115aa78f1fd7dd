"""``streak-erp pools sync``: the pools ``erp_<erp>`` sized from the ERP connections (AIRFLOW_CONN_*),
written to a real, freshly migrated SQLite Airflow metadata DB and read back from it; ``make up``
(``sandbox.demo.sync_pools``) goes through the same command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")

NETSUITE = {
    "conn_type": "netsuite",
    "login": "consumer-key-1",
    "password": "consumer-secret-1",
    "extra": {
        "account_id": "1234567_SB1",
        "token_id": "token-id-1",
        "token_secret": "token-secret-1",
        "concurrency_limit": 7,
    },
}
QUICKBOOKS = {
    "conn_type": "quickbooks",
    "login": "client-id-1",
    "password": "client-secret-1",
    "extra": {"realm_id": "9130000000000001", "refresh_token": "refresh-token-1"},
}
SYSPRO = {"conn_type": "syspro", "host": "syspro.example.internal"}


def _clean_env(home: Path) -> dict[str, str]:
    """This process's environment without connections or DB settings of other tests, on ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__DATABASE__", "STREAK_ERP_"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'plugins'}",
        COLUMNS="200",  # rich's table is not wrapped in the captured output
    )
    return env


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata DB in an AIRFLOW_HOME of this module's own."""
    home = tmp_path_factory.mktemp("pools-airflow-home")
    result = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=_clean_env(home), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return home


def _env(home: Path, **connections: dict[str, Any]) -> dict[str, str]:
    env = _clean_env(home)
    for conn_id, conn in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def _pools_sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sync_core.cli", "pools", "sync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _pools(home: Path) -> dict[str, tuple[int, str]]:
    """Every pool in the metadata DB: name -> (slots, description), read back from Airflow's table."""
    with sqlite3.connect(home / "airflow.db") as db:
        return {
            name: (slots, desc)
            for name, slots, desc in db.execute("SELECT pool, slots, description FROM slot_pool")
        }


def _with(conn: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**conn, "extra": {**conn["extra"], **extra}}


@pytest.mark.slow
def test_pools_are_sized_from_each_connection_and_resized_when_a_limit_changes(airflow_home: Path) -> None:
    env = _env(airflow_home, netsuite_default=NETSUITE, quickbooks_default=QUICKBOOKS, syspro_default=SYSPRO)
    result = _pools_sync(env)
    assert result.returncode == 0, result.stderr
    pools = _pools(airflow_home)
    assert pools["erp_quickbooks"][0] == 1  # one writer task; its dispatcher fills Intuit's 10 requests
    assert pools["erp_netsuite"][0] == 7  # the account's concurrency limit
    assert pools["erp_syspro"][0] == 4  # the default for the other ERPs
    assert "erp_sage50" not in pools and "erp_dynamics_gp" not in pools  # no connection, not targeted
    assert pools["default_pool"][0] == 128  # Airflow's own pool is left alone
    assert "netsuite_default: account concurrency limit 7" in pools["erp_netsuite"][1]
    for line in ("erp_netsuite", "netsuite_default: account concurrency limit 7", "created"):
        assert line in result.stdout
    assert "its 10 parallel requests fill Intuit's concurrent limit" in result.stdout

    # The limits change: a dry run shows the resize and writes nothing ...
    env = _env(
        airflow_home,
        netsuite_default=_with(NETSUITE, concurrency_limit=2),
        quickbooks_default=_with(QUICKBOOKS, limits={"concurrent_requests": 3}),
        syspro_default=SYSPRO,
    )
    dry = _pools_sync(env, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would resize from 7" in dry.stdout
    assert "unchanged" in dry.stdout  # syspro stays at 4, QuickBooks at 1
    assert _pools(airflow_home) == pools

    # ... and the real run resizes.
    done = _pools_sync(env)
    assert done.returncode == 0, done.stderr
    after = _pools(airflow_home)
    assert after["erp_quickbooks"][0] == 1 and after["erp_netsuite"][0] == 2 and after["erp_syspro"][0] == 4
    assert (
        "quickbooks_default: one writer task at a time; its 3 parallel requests" in after["erp_quickbooks"][1]
    )
    assert "resized from 7" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("conn_id", "conn", "field"),
    [
        (
            "netsuite_default",
            {**NETSUITE, "extra": {**NETSUITE["extra"], "token_secret": ""}},
            "token_secret",
        ),
        ("netsuite_default", _with(NETSUITE, concurrency_limit=0), "concurrency_limit"),
        (
            "quickbooks_default",
            _with(QUICKBOOKS, limits={"concurrent_requests": "ten"}),
            "concurrent_requests",
        ),
    ],
)
def test_a_connection_that_cannot_size_its_pool_fails_naming_it_and_changes_nothing(
    airflow_home: Path, conn_id: str, conn: dict[str, Any], field: str
) -> None:
    before = _pools(airflow_home)
    result = _pools_sync(_env(airflow_home, **{conn_id: conn}, syspro_default=SYSPRO))
    assert result.returncode == 1
    assert conn_id in result.stderr and field in result.stderr, result.stderr
    assert _pools(airflow_home) == before


@pytest.mark.slow
def test_without_a_migrated_metadata_db_it_says_so(tmp_path: Path) -> None:
    result = _pools_sync(_env(tmp_path, syspro_default=SYSPRO))
    assert result.returncode == 1
    assert "airflow db migrate" in result.stderr


def test_plan_names_the_pools_as_the_dags_do_and_defaults_a_targeted_erp_without_connection() -> None:
    from airflow.models.connection import Connection

    from erp_operators.pools import conn_id, plan_pools, pool_name
    from sync_core.config import load_config
    from sync_core.dag_defaults import erp_pool

    config = load_config()
    assert pool_name(config.rule_for().erp) == erp_pool(config)

    conns = {
        "sage50_default": Connection.from_json(json.dumps({"conn_type": "sage50"}), conn_id="sage50_default")
    }
    specs = plan_pools(conns.get, required=["quickbooks", "netsuite"])
    assert [(s.name, s.slots) for s in specs] == [
        ("erp_quickbooks", 1),
        ("erp_netsuite", 4),
        ("erp_sage50", 4),
    ]
    assert "no connection 'netsuite_default'" in specs[1].source
    assert plan_pools({}.get) == []
    assert conn_id("dynamics_gp") == "dynamics_gp_default"


@pytest.mark.parametrize("erp", ["quickbooks", "netsuite", "syspro", "dynamics_gp", "sage50"])
def test_the_connection_read_is_the_one_the_erp_hook_uses_by_default(erp: str) -> None:
    import importlib

    from erp_operators.pools import conn_id

    module = importlib.import_module(f"erp_operators.{erp}.hook")
    hooks = [c for c in vars(module).values() if isinstance(c, type) and getattr(c, "conn_type", None) == erp]
    assert hooks and {h.default_conn_name for h in hooks} == {conn_id(erp)}


@pytest.mark.slow
def test_make_up_sizes_the_pools_through_the_same_command(airflow_home: Path, tmp_path: Path) -> None:
    from sandbox import demo

    servers = demo.start_sandboxes(dict.fromkeys(demo.SANDBOXES, 0))
    try:
        env = {**demo.base_env(airflow_home), **_clean_env(airflow_home)}
        env.update(demo.connection_env(servers, tmp_path / "state.db"))
        assert demo.sync_pools(env)
    finally:
        for server in servers.values():
            server.stop()
    pools = _pools(airflow_home)
    assert pools["erp_netsuite"][0] == demo.NETSUITE_CONCURRENCY
    assert pools["erp_quickbooks"][0] == 1
