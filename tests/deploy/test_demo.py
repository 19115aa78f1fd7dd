"""``make run`` (``python -m sandbox.demo run``) end to end in a throwaway AIRFLOW_HOME: the master-data
DAG runs first, its summary matches the state store ledger, and the deal DAG's summary counts only
the customers the deal run wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOOD_DEALS = 9  # the seeded Streak sandbox: 12 won deals, 3 of them deliberately bad


def _expected_customers() -> int:
    """Every seeded organization, and every contact without one (``customer.sources`` of the mappings)."""
    from sandbox.__main__ import load_app

    state = load_app("streak").state_snapshot()
    return len(state["organizations"]) + sum(1 for c in state["contacts"] if not c["organizations"])


@pytest.mark.slow
@pytest.mark.parametrize("erp", ["quickbooks", "netsuite"])
def test_make_run_syncs_master_data_before_the_deals_and_reports_it_from_the_ledger(
    erp: str, tmp_path: Path
) -> None:
    from sync_core.state import StateStore

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__DATABASE__", "STREAK_ERP_"))
    }
    env["AIRFLOW_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.demo", "run", "--erp", erp],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    master, _, deals = out.partition("running streak_deals_to_erp once")
    assert "streak_master_data_sync: success" in master and "streak_deals_to_erp: success" in deals

    store = StateStore.from_url(f"sqlite:///{tmp_path / 'demo_state.db'}")
    customers = re.search(r"^  Customers: (\d+) \((\d+) created", master, re.M)
    items = re.search(r"^  Items: (\d+) \(", master, re.M)
    assert customers and items, master
    # the ledger now also holds what the deal run wrote, but no customer or item more
    assert int(customers[1]) == len(store.ledger_all(erp, "customer")) == _expected_customers()
    assert int(customers[2]) == int(customers[1])  # a fresh sandbox: every customer is new
    assert int(items[1]) == len(store.ledger_all(erp, "item")) > 0
    held = re.search(r"sandbox now holds (\d+) customers, (\d+) items", master)
    assert held and int(held[1]) == int(customers[1]) and int(held[2]) >= int(items[1])

    line = re.search(r"^Customers: (\d+) created, (\d+) matched, (\d+) updated, (\d+) unchanged", deals, re.M)
    assert line, deals
    assert sum(int(n) for n in line.groups()) == GOOD_DEALS  # the deal run's customers only
    assert int(line[1]) == 0  # the master-data load created them all already
    assert f"Documents: {GOOD_DEALS} created, 0 failed" in deals
    assert "Quarantined: 3" in deals
