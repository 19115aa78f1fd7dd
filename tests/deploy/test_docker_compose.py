"""docker-compose.yaml validates with ``docker-compose config`` and wires what the design asks for.

No container is started: the Docker engine is not needed, only the compose v1 client
(``apt-get install -y --no-install-recommends docker-compose``). Without it the tests skip, unless
``STREAK_ERP_REQUIRE_COMPOSE=1`` (as ``.ci/run`` sets): then they fail.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.models.connection import Connection

from erp_operators.provider_info import read_extras

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
SANDBOXES = {"streak-sandbox": "streak", "quickbooks-sandbox": "quickbooks", "netsuite-sandbox": "netsuite"}
REQUIRE_COMPOSE_ENV = "STREAK_ERP_REQUIRE_COMPOSE"  # set by .ci/run: no docker-compose is a failure there


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        reason = "the docker-compose binary is not installed (apt-get install docker-compose)"
        if os.environ.get(REQUIRE_COMPOSE_ENV, "") not in ("", "0"):
            pytest.fail(f"{reason}; {REQUIRE_COMPOSE_ENV} is set, so this cannot be skipped")
        pytest.skip(reason)
    # A clean environment: the file's own defaults are what is checked, not this shell's settings.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [binary, "-f", "docker-compose.yaml", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_missing_binary_skips_locally_but_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv(REQUIRE_COMPOSE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception):
        compose("config")
    monkeypatch.setenv(REQUIRE_COMPOSE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_COMPOSE_ENV):
        compose("config")


def test_config_quiet_passes() -> None:
    result = compose("config", "-q")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_services_follow_airflow_3_layout(config) -> None:
    services = config["services"]

    assert set(services) == {"postgres", "redis", *AIRFLOW_SERVICES, *SANDBOXES}
    assert services["postgres"]["image"] == "postgres:16"
    for name, command in AIRFLOW_SERVICES.items():
        service = services[name]
        assert service["build"]["dockerfile"] == "Dockerfile", name
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        if command is not None:
            actual = service["command"]
            assert (" ".join(actual) if isinstance(actual, list) else actual) == command, name
        if name != "airflow-init":
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", (
                name
            )
    worker_env = services["airflow-worker"]["environment"]
    assert worker_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_nothing_is_published_beyond_loopback(config) -> None:
    published = {
        name: [str(port) for port in service.get("ports", [])] for name, service in config["services"].items()
    }

    assert published["airflow-apiserver"] == ["127.0.0.1:8080:8080/tcp"]
    for name, ports in published.items():
        assert all(port.startswith("127.0.0.1:") for port in ports), (name, ports)
    assert not published["postgres"] and not published["redis"]


def test_project_code_is_mounted_where_it_was_installed(config) -> None:
    service = config["services"]["airflow-scheduler"]
    targets = {volume.split(":")[1] for volume in service["volumes"]}
    env = service["environment"]

    assert {
        "/opt/airflow/project/dags",
        "/opt/airflow/project/plugins",
        "/opt/airflow/project/include",
    } <= targets
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/project/dags"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/airflow/project/plugins"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "WORKDIR /opt/airflow/project" in dockerfile
    assert "pip install --no-cache-dir --no-deps --no-build-isolation -e ." in dockerfile


def test_image_airflow_matches_requirements() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    declared = re.search(r"^ARG AIRFLOW_VERSION=(\S+)$", dockerfile, re.MULTILINE)

    assert pinned and declared and pinned.group(1) == declared.group(1)
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.11" in dockerfile
    assert re.search(
        r"apt-get install -y --no-install-recommends unixodbc odbc-postgresql libsqliteodbc", dockerfile
    )
    assert 'pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r requirements.txt' in dockerfile


def test_sandboxes_are_an_optional_profile_bound_for_the_compose_network(config) -> None:
    for name, app in SANDBOXES.items():
        service = config["services"][name]
        command = [str(part) for part in service["command"]]

        assert service["profiles"] == ["sandboxes"]
        assert service["entrypoint"] == ["python", "-m", "sandbox"]
        assert command[0] == app and command[command.index("--host") + 1] == "0.0.0.0"
        port = command[command.index("--port") + 1]
        assert service["ports"] == [f"127.0.0.1:{port}:{port}/tcp"]


def test_default_connections_reach_the_sandboxes_and_state_db(config) -> None:
    from sandbox.quickbooks.app import QuickBooksSandbox
    from sandbox.streak.app import DEFAULT_API_KEY
    from sync_core.state import url_from_airflow_connection

    env = config["services"]["airflow-worker"]["environment"]
    streak = Connection(conn_id="streak_default", uri=env["AIRFLOW_CONN_STREAK_DEFAULT"])
    qbo = Connection(conn_id="quickbooks_default", uri=env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    state = Connection(conn_id="erp_sync_state", uri=env["AIRFLOW_CONN_ERP_SYNC_STATE"])
    qbo_defaults = {
        name: param.default
        for name, param in inspect.signature(QuickBooksSandbox.__init__).parameters.items()
    }
    qbo_extras = read_extras(qbo, "quickbooks")

    assert (streak.conn_type, streak.host, streak.password) == (
        "streak",
        "http://streak-sandbox:8401/api",
        DEFAULT_API_KEY,
    )
    assert (qbo.conn_type, qbo.login, qbo.password) == (
        "quickbooks",
        qbo_defaults["client_id"],
        qbo_defaults["client_secret"],
    )
    assert qbo_extras["realm_id"] == qbo_defaults["realm_id"]
    assert qbo_extras["refresh_token"] == qbo_defaults["refresh_token"]
    assert qbo_extras["api_base_url"] == "http://quickbooks-sandbox:8402"
    assert qbo_extras["discovery_url"] == "http://quickbooks-sandbox:8402/discovery"
    assert (
        url_from_airflow_connection(state) == "postgresql+psycopg2://airflow:airflow@postgres:5432/erp_sync"
    )


def test_default_netsuite_connection_reaches_its_sandbox(config, monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_operators.netsuite.hook import NetSuiteHook
    from sandbox.netsuite import app as netsuite_app

    uri = config["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_NETSUITE_DEFAULT"]
    monkeypatch.setenv("AIRFLOW_CONN_NETSUITE_DEFAULT", uri)
    netsuite = NetSuiteHook().config

    assert netsuite.base_url == "http://netsuite-sandbox:8403/services/rest"
    assert (
        netsuite.account_id,
        netsuite.consumer_key,
        netsuite.consumer_secret,
        netsuite.token_id,
        netsuite.token_secret,
        netsuite.concurrency_limit,
    ) == (
        netsuite_app.DEFAULT_ACCOUNT_ID,
        netsuite_app.DEFAULT_CONSUMER_KEY,
        netsuite_app.DEFAULT_CONSUMER_SECRET,
        netsuite_app.DEFAULT_TOKEN_ID,
        netsuite_app.DEFAULT_TOKEN_SECRET,
        netsuite_app.DEFAULT_CONCURRENCY,
    )


def test_admin_password_is_never_in_the_file(config) -> None:
    init = config["services"]["airflow-init"]

    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"] == ""
    assert (
        init["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
        == "/opt/airflow/auth/passwords.json"
    )
    raw = (REPO / "docker-compose.yaml").read_text()
    assert "FERNET_KEY" not in raw and "JWT_SECRET" not in raw  # generated into the shared airflow.cfg


def test_init_script_parses(config) -> None:
    script = config["services"]["airflow-init"]["command"][1]
    python_source = script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]

    bash = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    compile(python_source, "airflow-init", "exec")

    assert bash.returncode == 0, bash.stderr
    assert "airflow db migrate" in script
    assert "CREATE DATABASE" in python_source and "erp_sync" in python_source
