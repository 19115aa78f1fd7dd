"""Fault matrix, duplicates from races: two runs of the deal DAG at once over overlapping boxes (two
processes sharing the state store and the ERP), and a worker killed after the ERP write but before
the ledger write (the next run finds the invoice by its marker and creates no second one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.faults.support import (
    REPO,
    assert_synced_once,
    duplicate_customers,
    invoices_by_box,
    quarantine_rows,
    run_dag,
    seeded_bad,
    short_lease_config,
    won_box_keys,
)

pytestmark = pytest.mark.slow


def _worker(home: Path, airflow_db: Path, *args: str) -> subprocess.Popen:
    """A second Airflow worker: its own metadata DB (a copy of the migrated one), same connections."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(airflow_db / "airflow.db", home / "airflow.db")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.dag_process", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _result(proc: subprocess.Popen) -> tuple[int, dict]:
    out, _ = proc.communicate(timeout=300)
    lines = [line for line in out.splitlines() if line.startswith('{"state"')]
    return proc.returncode, (json.loads(lines[-1]) if lines else {"output": out[-3000:]})


def test_two_runs_at_once_over_overlapping_boxes(env, airflow_db, tmp_path) -> None:
    won = set(won_box_keys(env.streak))
    valid = sorted(won - seeded_bad(env.streak))
    # slow every QBO answer a little so the two runs really overlap
    requests.post(
        env.qbo.url + "/__admin/limits", json={"latency_seconds": 0.05}, timeout=10
    ).raise_for_status()
    a = _worker(tmp_path / "worker-a", airflow_db)  # everything past the watermark
    b = _worker(
        tmp_path / "worker-b", airflow_db, "--conf", json.dumps({"box_keys": valid[: len(valid) // 2 + 2]})
    )
    (rc_a, out_a), (rc_b, out_b) = _result(a), _result(b)
    assert rc_a == 0 and rc_b == 0, (out_a, out_b)
    assert_synced_once(env.qbo, env.streak, env.store, valid)
    assert duplicate_customers(env.qbo) == []
    assert set(quarantine_rows(env.store)) == won & seeded_bad(env.streak)
    assert env.store.pending_stage_events() == []
    writes = env.qbo.app.state_snapshot()["counters"]["writes"]["Invoice"]
    assert writes["create"] == len(valid)  # each invoice written once, not once per run


def test_worker_killed_between_erp_write_and_ledger_write(env, airflow_db, tmp_path, monkeypatch) -> None:
    won = set(won_box_keys(env.streak))
    valid = won - seeded_bad(env.streak)
    worker = _worker(tmp_path / "worker", airflow_db, "--kill-before-ledger", "document")
    rc, _ = _result(worker)
    assert rc == -9  # SIGKILL, right after create_documents wrote to QuickBooks
    invoices = invoices_by_box(env.qbo)
    assert set(invoices) == valid and all(len(v) == 1 for v in invoices.values())
    assert env.store.ledger_all("quickbooks", "document") == []  # the ledger never heard of them
    creates = env.qbo.app.state_snapshot()["counters"]["writes"]["Invoice"]["create"]

    # the next run, once the dead run's claims are free, finds each invoice by its marker
    monkeypatch.setenv("STREAK_ERP_SYNC_CONFIG", str(short_lease_config(tmp_path)))
    assert run_dag().state == "success"
    assert env.qbo.app.state_snapshot()["counters"]["writes"]["Invoice"]["create"] == creates
    assert_synced_once(env.qbo, env.streak, env.store, valid)
    assert {e.status for e in env.store.ledger_all("quickbooks", "document")} == {"unchanged"}
    assert env.store.pending_stage_events() == []
