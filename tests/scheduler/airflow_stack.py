"""A real Airflow deployment for one test module: scheduler, dag-processor, triggerer and api-server
(LocalExecutor, parallelism 4) on a fresh PostgreSQL metadata database, with its own AIRFLOW_HOME,
the api-server on an ephemeral 127.0.0.1 port and no log server started (nothing binds beyond
loopback). Every component runs in its own session (setsid) and is stopped by process group."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server", "--host", "127.0.0.1"],  # --port added at start
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
# env the test process may carry that must not leak into the deployment's own settings
_ISOLATE = ("STREAK_ERP_", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__DATABASE__")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresDatabase:
    """A fresh database on the local PostgreSQL server, dropped (WITH FORCE) at :meth:`drop`."""

    def __init__(self, admin_url: str, prefix: str = "streak_erp_sched") -> None:
        self.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self._admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()


class AirflowStack:
    """Starts, drives (REST API v2 with a JWT) and stops one Airflow deployment."""

    def __init__(self, home: Path, env: dict[str, str], db_url: str) -> None:
        self.home = home
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        passwords = home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({"admin": self.password}))
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATE)}
        self.env = {
            **clean,
            **env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # only what the test triggers runs: no cron runs of the sync DAGs behind its back
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # re-parse every few seconds, so a switched config (deadline) is picked up quickly
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self._token: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        cmd = [str(Path(sys.executable).parent / "airflow"), *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def migrate(self) -> None:
        result = self.airflow("db", "migrate")
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )

    def start(self) -> AirflowStack:
        airflow_bin = str(Path(sys.executable).parent / "airflow")
        for name, args in COMPONENTS.items():
            cmd = [airflow_bin, *args]
            if name == "api-server":
                cmd += ["--port", str(self.port)]
            log = (self.home / f"{name}.log").open("w")
            self.procs[name] = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
        return self

    def stop(self, grace: float = 30) -> None:
        """SIGTERM to every component's process group, SIGKILL to what is left after ``grace``."""
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def logs(self, tail: int = 4000) -> str:
        """The components' logs and every task log (tails), to explain a failure."""
        parts = []
        for name in self.procs:
            path = self.home / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-tail:]}")
        for path in sorted((self.home / "logs").rglob("*.log")) if (self.home / "logs").exists() else []:
            parts.append(f"--- {path.relative_to(self.home)} ---\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def listening(self) -> set[tuple[str, int]]:
        """Every (address, port) a process of the deployment listens on."""
        import psutil

        found: set[tuple[str, int]] = set()
        for proc in self.procs.values():
            try:
                family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for member in family:
                try:
                    conns = member.net_connections(kind="inet")
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
        return found

    def _assert_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow component(s) exited: {dead}\n{self.logs()}")

    def wait_healthy(self, timeout: float = 180) -> None:
        """Until the api-server answers and scheduler, triggerer and dag-processor report healthy."""
        end = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < end:
            self._assert_alive()
            try:
                last = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
                if all((last.get(p) or {}).get("status") == "healthy" for p in parts):
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(2)
        raise TimeoutError(f"Airflow not healthy after {timeout}s: {last}\n{self.logs()}")

    # -- REST API v2 ---------------------------------------------------------------------------
    @property
    def token(self) -> str:
        if self._token is None:
            response = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(
            method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=30, **kwargs
        )

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._assert_alive()
            response = self.api("GET", f"/dags/{dag_id}")
            if response.status_code == 200:
                return response.json()
            time.sleep(2)
        errors = self.api("GET", "/importErrors").text
        raise TimeoutError(
            f"DAG {dag_id} not parsed after {timeout}s; import errors: {errors}\n{self.logs()}"
        )

    def dag_versions(self, dag_id: str) -> int:
        response = self.api("GET", f"/dags/{dag_id}/dagVersions")
        response.raise_for_status()
        return int(response.json()["total_entries"])

    def wait_for_new_version(self, dag_id: str, known: int, timeout: float = 120) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._assert_alive()
            count = self.dag_versions(dag_id)
            if count > known:
                return count
            time.sleep(2)
        raise TimeoutError(f"DAG {dag_id} was not re-serialized after {timeout}s\n{self.logs()}")

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        assert response.status_code == 200, response.text
        return str(response.json()["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 240) -> dict[str, Any]:
        end = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < end:
            self._assert_alive()
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
            if run.get("state") in ("success", "failed"):
                return run
            time.sleep(2)
        raise TimeoutError(f"run {run_id} still {run.get('state')} after {timeout}s\n{self.logs()}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        response.raise_for_status()
        return {ti["task_id"]: ti for ti in response.json()["task_instances"]}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {task: ti["state"] for task, ti in self.task_instances(dag_id, run_id).items()}
