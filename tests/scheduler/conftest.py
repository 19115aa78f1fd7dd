"""One real Airflow deployment (PostgreSQL metadata DB, LocalExecutor) for the scheduler tests,
wired to the Streak and QuickBooks sandboxes and to alert capture servers, all on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.common.httpd import SandboxServer
from tests.capture_servers import SmtpCapture, WebhookCapture
from tests.conftest import PG_ADMIN_URL
from tests.scheduler.airflow_stack import AirflowStack, PostgresDatabase

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "streak_deals_to_erp"
QUARANTINE_THRESHOLD = 2  # the seed holds 3 bad deals: the first run must raise the growth alert


@dataclass
class Deployment:
    """The running deployment and everything it talks to."""

    airflow: AirflowStack
    streak: SandboxServer
    qbo: SandboxServer
    webhook: WebhookCapture
    smtp: SmtpCapture
    config_path: Path
    state_url: str

    def write_config(self, **alerts: Any) -> None:
        """The deployment's sync.yaml: the repo's file with these ``alerts`` keys changed."""
        data = yaml.safe_load((REPO / "include" / "sync.yaml").read_text())
        data["alerts"] = {**(data.get("alerts") or {}), **alerts}
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))

    @property
    def store(self):
        from sync_core.state import StateStore

        return StateStore.from_url(self.state_url)

    def qbo_entities(self, entity: str) -> list[dict[str, Any]]:
        realm = next(iter(self.qbo.app.state_snapshot()["realms"].values()))
        return [o for o in realm.get(entity, []) if o.get("Active", True)]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    from sandbox.demo import base_env, connection_env
    from sandbox.quickbooks.app import QuickBooksSandbox
    from sandbox.streak.app import DEFAULT_API_KEY, StreakSandbox

    home = tmp_path_factory.mktemp("airflow-home")
    try:
        database = PostgresDatabase(PG_ADMIN_URL)
    except Exception as exc:  # CI and the dev machines have it; say so plainly when it is missing
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is needed for the scheduler tests: {exc}")
    started: list[Any] = []
    stack = None
    try:
        streak = SandboxServer(StreakSandbox(api_key=DEFAULT_API_KEY)).start()
        started.append(streak)
        qbo = SandboxServer(QuickBooksSandbox()).start()
        started.append(qbo)
        webhook = WebhookCapture().start()
        started.append(webhook)
        smtp = SmtpCapture().start()
        started.append(smtp)
        state_db = home / "state.db"
        env = {
            k: v
            for k, v in base_env(home).items()
            if k.startswith(("AIRFLOW__CORE__", "PYTHONPATH", "GX_", "OAUTH"))
        }
        env.update(connection_env({"streak": streak, "quickbooks": qbo}, state_db, DEFAULT_API_KEY))
        config_path = home / "sync.yaml"
        env.update(
            STREAK_ERP_SYNC_CONFIG=str(config_path),
            STREAK_ERP_ALERT_WEBHOOK=webhook.url,
            STREAK_ERP_ALERT_EMAIL="ops@example.com",
            STREAK_ERP_QUARANTINE_THRESHOLD=str(QUARANTINE_THRESHOLD),
            AIRFLOW_CONN_SMTP_DEFAULT=smtp.connection_json(from_email="airflow@example.com"),
        )
        dep = Deployment(
            stack := AirflowStack(home, env, database.url),
            streak,
            qbo,
            webhook,
            smtp,
            config_path,
            f"sqlite:///{state_db}",
        )
        # the deadline is on from the start, with an interval no run of this size comes near
        dep.write_config(deadline_enabled=True, deadline_minutes=30)
        stack.migrate()
        stack.start()
        stack.wait_healthy()
        response = stack.api("POST", "/pools", json={"name": "erp_quickbooks", "slots": 4})
        assert response.status_code in (200, 201, 409), response.text
        stack.wait_for_dag(DAG_ID)
        response = stack.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
        assert response.status_code == 200, response.text
        yield dep
    finally:
        if stack is not None:
            stack.stop()
        for server in reversed(started):
            server.stop()
        database.drop()
