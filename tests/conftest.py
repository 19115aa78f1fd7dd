"""Session-wide test settings: a project-local AIRFLOW_HOME, the migrated Airflow metadata DB and
the state-store fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.netsuite.ns_admin import NSSandbox

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow-test"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

PG_ADMIN_URL = os.environ.get("STREAK_ERP_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in the test AIRFLOW_HOME, once per session.

    Defined here, at the root, so every test directory (dags, faults, security, chaos, ...) shares
    the one migration: a fixture imported into several conftest files is a separate fixture in
    each, and each would migrate again.
    """
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).parent / "airflow")
    result = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return home


@pytest.fixture
def sqlite_store(tmp_path: Path):
    from sync_core.state import StateStore

    return StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}").create_all()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server (dropped afterwards)."""
    import sqlalchemy as sa

    name = f"streak_erp_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is needed for this test: {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path):
    """The state store on both supported backends."""
    from sync_core.state import StateStore

    if request.param == "sqlite":
        return StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}").create_all()
    url = request.getfixturevalue("pg_url")
    store = StateStore.from_url(url).create_all()
    from sync_core.state import metadata

    with store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return store


@pytest.fixture
def ns() -> Iterator[NSSandbox]:
    """A live NetSuite sandbox (127.0.0.1, ephemeral port), stopped after the test.

    Here at the root because the NetSuite tests and the sandbox's own wire tests both use it.
    """
    from tests.netsuite.ns_admin import NSSandbox

    sandbox = NSSandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()
