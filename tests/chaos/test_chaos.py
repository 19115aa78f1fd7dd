"""The chaos run, small enough for CI: a few rounds of the master-data and deal DAGs under random
faults on both sandboxes, then duplicates = 0, lost = 0 and the QuickBooks state equal to a clean
run's. ``make chaos`` runs the same with more rounds (see tests/chaos/runner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.runner import ChaosConfig, run_chaos

pytestmark = pytest.mark.slow


def test_chaos_small(airflow_db: Path, tmp_path: Path) -> None:
    cfg = ChaosConfig(runs=3, rate=0.2, seed=11, new_boxes=2, boxes=30, client_attempts=3, task_retries=1)
    report = run_chaos(cfg, tmp_path)
    print(report.summary())
    assert report.runs == 3
    assert report.faults_total >= 10, report.summary()  # the chaos really struck
    assert report.records >= 8 and report.synced >= 5, report.summary()
    assert report.duplicates == 0, report.summary()
    assert report.lost == 0, report.summary()
    assert report.problems == [], report.problems
    assert report.equal_to_reference, report.summary()
