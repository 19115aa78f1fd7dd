"""Secret hygiene: the sync DAGs run with recognisable fake secrets (Streak API key, QBO client
secret, refresh and access tokens, including the rotated ones), through a clean run, an access
token that dies mid-run and a revoked refresh token; and the deal DAG targeting NetSuite (TBA
consumer and token secrets) through a clean run and a token secret NetSuite no longer accepts. Then the secrets are searched for in the task
logs (everything the runs printed, plus any log file under AIRFLOW_HOME), XCom, rendered templates,
DAG run conf and the state store's ledger, quarantine, watermarks, stage events and rate budget:
zero hits. Airflow's masker must know every one of them, so a log line that did carry one would
show ``***``.

Excluded on purpose: the state store's ``tokens`` table, where the rotating QBO tokens must live
(the test checks they are there).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from sandbox.common.httpd import SandboxServer
from tests.faults.support import create_box, fast_retries, run_dag

pytestmark = pytest.mark.slow

STREAK_KEY = "SECRET-streak-apikey-4f7c2e19d5"
CLIENT_ID = "hygiene-client-id"
CLIENT_SECRET = "SECRET-qbo-clientsecret-9b31d0aa"
REFRESH_TOKEN = "SECRET-qbo-refresh-77e1c5d2b8"
METADATA_TABLES = ("xcom", "rendered_task_instance_fields", "dag_run", "task_instance", "log")
STATE_TABLES = ("ledger", "quarantine", "watermarks", "stage_events", "rate_events")  # not "tokens"


class World:
    """Sandboxes with the fake secrets, and the connections that carry them."""

    def __init__(self, streak: SandboxServer, qbo: SandboxServer, state_db: Path) -> None:
        self.streak, self.qbo, self.state_db = streak, qbo, state_db
        self.seen: set[str] = set()

    def issued_tokens(self) -> set[str]:
        """Every access and refresh token the QBO sandbox handed out so far (rotated ones included)."""
        oauth = self.qbo.app.oauth
        with oauth._lock:
            self.seen |= set(oauth.access_tokens) | set(oauth.superseded) | {oauth.refresh_token or ""}
        self.seen.discard("")
        return set(self.seen)

    def secrets(self) -> dict[str, str]:
        found = {
            "streak api key": STREAK_KEY,
            "qbo client secret": CLIENT_SECRET,
            "qbo refresh token": REFRESH_TOKEN,
        }
        found.update({f"qbo token {t[:6]}…": t for t in self.issued_tokens() if t != REFRESH_TOKEN})
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        found["qbo client basic-auth header"] = basic
        found["streak basic-auth header"] = base64.b64encode(f"{STREAK_KEY}:".encode()).decode()
        return found


@pytest.fixture
def world(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from sandbox.demo import connection_env
    from sandbox.quickbooks.app import QuickBooksSandbox
    from sandbox.streak.app import StreakSandbox

    streak = SandboxServer(StreakSandbox(api_key=STREAK_KEY)).start()
    qbo = SandboxServer(
        QuickBooksSandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    ).start()
    state_db = tmp_path / "state.db"
    env = connection_env({"streak": streak, "quickbooks": qbo}, state_db, STREAK_KEY)
    conn = json.loads(env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn.update(login=CLIENT_ID, password=CLIENT_SECRET)
    conn["extra"]["refresh_token"] = REFRESH_TOKEN
    env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"] = json.dumps(conn)
    env.update(fast_retries(env))
    for name, value in {**env, "OAUTHLIB_INSECURE_TRANSPORT": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STREAK_ERP_STATE_URL", raising=False)
    try:
        yield World(streak, qbo, state_db)
    finally:
        streak.stop()
        qbo.stop()


def _hits(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted(name for name, value in secrets.items() if value and value in text)


def _table_text(engine: sa.Engine, table: str) -> str:
    meta = sa.MetaData()
    try:
        rows = sa.Table(table, meta, autoload_with=engine)
    except sa.exc.NoSuchTableError:
        return ""
    with engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for row in conn.execute(sa.select(rows)))


def _assert_nowhere(secrets: dict[str, str], printed: str, run_ids: list[str], state_db: Path) -> None:
    """Zero hits in the task logs (``printed`` plus any log file under AIRFLOW_HOME), Airflow's
    metadata tables and the state store (except ``tokens``). The runs but the last (a failed one)
    must have left XCom and rendered fields, so the scan is known to cover them."""
    logs = printed
    home = Path(os.environ["AIRFLOW_HOME"])
    for path in (home / "logs").rglob("*") if (home / "logs").exists() else []:
        if path.is_file():
            logs += path.read_text(encoding="utf-8", errors="replace")
    assert _hits(logs, secrets) == [], "secrets in task logs"

    # Airflow metadata DB: XCom, rendered templates, run conf, task instances, audit log
    from airflow import settings

    xcom = _table_text(settings.engine, "xcom")
    rendered = _table_text(settings.engine, "rendered_task_instance_fields")
    for run_id in run_ids[:-1]:  # the scan below really covers these runs
        assert run_id in xcom and run_id in rendered, f"run {run_id}: no XCom or rendered fields found"
    for table in METADATA_TABLES:
        assert _hits(_table_text(settings.engine, table), secrets) == [], (
            f"secrets in Airflow's {table} table"
        )

    # the state store, except the tokens table (where rotating tokens belong)
    store = sa.create_engine(f"sqlite:///{state_db}")
    assert "Hygiene bad deal" in _table_text(store, "quarantine")
    assert _table_text(store, "ledger")
    for table in STATE_TABLES:
        assert _hits(_table_text(store, table), secrets) == [], f"secrets in the state store's {table} table"
    store.dispose()


def _assert_masked(secrets: dict[str, str]) -> None:
    """Airflow's masker knows every secret the tasks handled."""
    from airflow.sdk.log import redact

    unmasked = [name for name, value in secrets.items() if value in str(redact(f"<{value}>"))]
    assert unmasked == [], f"not registered with Airflow's secrets masker: {unmasked}"


def test_no_secret_in_logs_xcom_rendered_fields_ledger_or_quarantine(world: World, capfd, caplog) -> None:
    capfd.readouterr()
    orgs = [o["key"] for o in world.streak.app.state_snapshot()["organizations"]]
    bad = {"Product": "Widget Pro", "Quantity": "lots", "Unit Price": "499.00"}
    create_box(world.streak, "Hygiene bad deal", fields=bad, organization_keys=[orgs[0]])  # -> quarantine
    dags = ["streak_deals_to_erp"]
    if Path(__file__).resolve().parents[2].joinpath("dags", "streak_master_data_sync.py").exists():
        dags.insert(0, "streak_master_data_sync")
    run_ids = []
    for dag_id in dags:  # clean runs: tokens issued and rotated
        run_ids.append(run_dag(dag_id).run_id)

    # an access token dies in the middle of the next run (401, renewal, rotation)
    app = world.qbo.app
    original = app.dispatch

    def dispatch(request):
        if "write" in app.fault_targets(request) and not expired:
            expired.append(app.oauth.expire_access_tokens())
        return original(request)

    expired: list[int] = []

    app.dispatch = dispatch  # type: ignore[method-assign]
    create_box(
        world.streak, "Hygiene good deal", fields={**bad, "Quantity": "2"}, organization_keys=[orgs[1]]
    )
    try:
        run_ids.append(run_dag().run_id)
    finally:
        app.dispatch = original  # type: ignore[method-assign]
    assert expired and app.state_snapshot()["counters"]["responses_401"] >= 1
    world.issued_tokens()  # remember them before the revocation forgets the access tokens

    # the refresh token is revoked: the failure message must not carry any token either
    requests.post(world.qbo.url + "/__admin/tokens/revoke", timeout=10).raise_for_status()
    requests.post(world.qbo.url + "/__admin/tokens/expire", timeout=10).raise_for_status()
    create_box(
        world.streak, "Hygiene late deal", fields={**bad, "Quantity": "3"}, organization_keys=[orgs[2]]
    )
    failed = run_dag()
    assert failed.state == "failed"
    run_ids.append(failed.run_id)

    secrets = world.secrets()
    assert len(world.issued_tokens()) >= 4  # several access and rotated refresh tokens to look for

    out, err = capfd.readouterr()
    printed = out + err + caplog.text  # what went to the terminal and what pytest's log capture took
    assert "re-authorize QuickBooks Online" in printed  # the logs were captured
    _assert_nowhere(secrets, printed, run_ids, world.state_db)
    store = sa.create_engine(f"sqlite:///{world.state_db}")
    assert app.oauth.snapshot()["refresh_token"] is None  # revoked
    assert REFRESH_TOKEN not in _table_text(store, "tokens")  # only fingerprints of the seed
    assert any(t in _table_text(store, "tokens") for t in world.issued_tokens())  # rotated ones live here
    store.dispose()

    _assert_masked({k: v for k, v in secrets.items() if "basic-auth" not in k})


NS_CONSUMER_KEY = "hygiene-ns-consumerkey-0c5e"
NS_CONSUMER_SECRET = "SECRET-ns-consumersecret-3e8a61c0"
NS_TOKEN_ID = "hygiene-ns-tokenid-91d4"
NS_TOKEN_SECRET = "SECRET-ns-tokensecret-d47b902f"


class NetSuiteWorld:
    """Streak and NetSuite sandboxes with fake TBA secrets; the pipeline rule targets NetSuite."""

    def __init__(self, streak: SandboxServer, ns: SandboxServer, state_db: Path) -> None:
        self.streak, self.ns, self.state_db = streak, ns, state_db

    @staticmethod
    def secrets() -> dict[str, str]:
        return {
            "streak api key": STREAK_KEY,
            "streak basic-auth header": base64.b64encode(f"{STREAK_KEY}:".encode()).decode(),
            "netsuite consumer key": NS_CONSUMER_KEY,  # half of a credential: kept out as well
            "netsuite token id": NS_TOKEN_ID,
            "netsuite consumer secret": NS_CONSUMER_SECRET,
            "netsuite token secret": NS_TOKEN_SECRET,
            "netsuite signing key": f"{NS_CONSUMER_SECRET}&{NS_TOKEN_SECRET}",
        }


@pytest.fixture
def ns_world(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetSuiteWorld]:
    from sandbox.demo import connection_env, target_config
    from sandbox.netsuite.app import NetSuiteSandbox
    from sandbox.quickbooks.app import QuickBooksSandbox
    from sandbox.streak.app import StreakSandbox

    servers = {
        "streak": SandboxServer(StreakSandbox(api_key=STREAK_KEY)).start(),
        "quickbooks": SandboxServer(QuickBooksSandbox()).start(),  # wired, never used by these runs
        "netsuite": SandboxServer(
            NetSuiteSandbox(
                consumer_key=NS_CONSUMER_KEY,
                consumer_secret=NS_CONSUMER_SECRET,
                token_id=NS_TOKEN_ID,
                token_secret=NS_TOKEN_SECRET,
            )
        ).start(),
    }
    state_db = tmp_path / "state.db"
    env = connection_env(servers, state_db, STREAK_KEY)
    conn = json.loads(env["AIRFLOW_CONN_NETSUITE_DEFAULT"])
    conn.update(login=NS_CONSUMER_KEY, password=NS_CONSUMER_SECRET)
    conn["extra"].update(token_id=NS_TOKEN_ID, token_secret=NS_TOKEN_SECRET, backoff_initial=0.02)
    env["AIRFLOW_CONN_NETSUITE_DEFAULT"] = json.dumps(conn)
    env.update(fast_retries(env))
    env["STREAK_ERP_SYNC_CONFIG"] = str(target_config("netsuite", tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STREAK_ERP_STATE_URL", raising=False)
    try:
        yield NetSuiteWorld(servers["streak"], servers["netsuite"], state_db)
    finally:
        for server in servers.values():
            server.stop()


def test_no_netsuite_secret_in_logs_xcom_rendered_fields_ledger_or_quarantine(
    ns_world: NetSuiteWorld, capfd, caplog
) -> None:
    capfd.readouterr()
    orgs = [o["key"] for o in ns_world.streak.app.state_snapshot()["organizations"]]
    bad = {"Product": "Widget Pro", "Quantity": "lots", "Unit Price": "499.00"}
    create_box(ns_world.streak, "Hygiene bad deal", fields=bad, organization_keys=[orgs[0]])
    conf = {"erp": "netsuite"}
    clean = run_dag(conf=conf)  # customers, sales orders, invoices, write-back, one quarantined deal
    assert clean.state == "success", clean.tasks
    counters = ns_world.ns.app.state_snapshot()["counters"]
    assert counters["writes_total"] > 0  # signed requests really went to NetSuite

    # NetSuite stops accepting the token secret (revoked in the account): one clear failure
    rotated = {"token_secret": "revoked-in-netsuite"}
    requests.post(ns_world.ns.url + "/__admin/credentials", json=rotated, timeout=10).raise_for_status()
    create_box(
        ns_world.streak, "Hygiene late deal", fields={**bad, "Quantity": "3"}, organization_keys=[orgs[2]]
    )
    failed = run_dag(conf=conf)
    assert failed.state == "failed", failed.tasks
    assert ns_world.ns.app.state_snapshot()["counters"]["responses_401"] >= 1

    assert failed.tasks["release_claims"][0] == "success"  # the failed run's teardown ran too

    out, err = capfd.readouterr()
    printed = out + err + caplog.text  # what went to the terminal and what pytest's log capture took
    assert "NetSuite rejected the token-based authentication" in printed  # the logs were captured
    secrets = ns_world.secrets()
    _assert_nowhere(secrets, printed, [clean.run_id, failed.run_id], ns_world.state_db)
    _assert_masked(
        {k: v for k, v in secrets.items() if k in ("netsuite consumer secret", "netsuite token secret")}
    )
