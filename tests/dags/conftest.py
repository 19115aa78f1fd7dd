"""Fixtures for running the real DAGs with ``dag.test()`` against the sandboxes (``airflow_db``, the
migrated metadata DB, comes from tests/conftest.py: one migration per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.common.httpd import SandboxServer
from sync_core.state import StateStore

REPO = Path(__file__).resolve().parents[2]
STREAK_KEY = "sbx-e2e-streak-key-5d1c"


class SyncEnv:
    """Sandboxes + state store wired into Airflow connections for one test."""

    def __init__(self, streak: SandboxServer, qbo: SandboxServer, state_url: str) -> None:
        self.streak = streak
        self.qbo = qbo
        self.state_url = state_url

    @property
    def store(self) -> StateStore:
        from sync_core.state import StateStore

        return StateStore.from_url(self.state_url)

    def qbo_entities(self, entity: str) -> list[dict[str, Any]]:
        realms = self.qbo.app.state_snapshot()["realms"]
        realm = next(iter(realms.values()))
        return [o for o in realm.get(entity, []) if o.get("Active", True)]

    def streak_state(self) -> dict[str, Any]:
        return self.streak.app.state_snapshot()

    def run_dag(self, dag_id: str = "streak_deals_to_erp", conf: dict[str, Any] | None = None) -> str:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
        assert bag.import_errors == {}
        run = bag.get_dag(dag_id).test(run_conf=conf or {})
        return str(run.state)


@pytest.fixture
def sync_env(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncEnv]:
    from sandbox.demo import connection_env
    from sandbox.quickbooks.app import QuickBooksSandbox
    from sandbox.streak.app import StreakSandbox

    streak = SandboxServer(StreakSandbox(api_key=STREAK_KEY)).start()
    qbo = SandboxServer(QuickBooksSandbox()).start()
    state_db = tmp_path / "state.db"
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.delenv("STREAK_ERP_STATE_URL", raising=False)
    for name, value in connection_env({"streak": streak, "quickbooks": qbo}, state_db, STREAK_KEY).items():
        monkeypatch.setenv(name, value)
    try:
        yield SyncEnv(streak, qbo, f"sqlite:///{state_db}")
    finally:
        streak.stop()
        qbo.stop()
