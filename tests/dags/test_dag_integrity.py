"""DagBag integrity: every DAG imports cleanly, is tagged, retries >= 2, and parses cheaply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
HEAVY = (
    "great_expectations",
    "pandas",
    "quickbooks",
    "intuitlib",
    "pyodbc",
    "sqlalchemy",
    "streak_hooks.hook",
)


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dag_bag) -> None:
    assert dag_bag.import_errors == {}
    assert {"streak_deals_to_erp", "streak_master_data_sync"} <= set(dag_bag.dag_ids)


def test_every_dag_is_tagged_documented_and_retries(dag_bag) -> None:
    for dag_id, dag in dag_bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.catchup is False, f"{dag_id} must not catch up"
        assert dag.default_args.get("retries", 0) >= 2, f"{dag_id} retries < 2"
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries < 2"


BACKFILL_PARAMS = {"since", "until", "box_keys", "replay_quarantine", "dry_run", "erp"}


def test_sync_dags_share_defaults_and_take_the_backfill_params(dag_bag) -> None:
    from sync_core.alerts import notify_failure

    for dag_id in ("streak_deals_to_erp", "streak_master_data_sync"):
        dag = dag_bag.dags[dag_id]
        assert BACKFILL_PARAMS <= set(dag.params), f"{dag_id} lacks backfill params"
        assert dag.params["dry_run"] is False and dag.params["replay_quarantine"] is False
        assert dag.default_args["on_failure_callback"] is notify_failure
        assert dag.default_args["retry_exponential_backoff"]
        assert "| `replay_quarantine` |" in dag.doc_md, f"{dag_id}: params table missing from doc_md"


def test_master_data_dag_is_daily_and_maps_one_task_per_chunk(dag_bag) -> None:
    dag = dag_bag.dags["streak_master_data_sync"]
    assert dag.schedule == "@daily"
    assert dag.params["entity"] == "all"
    assert dag.params.get_param("entity").schema["enum"] == ["all", "customers", "items"]
    chunk = dag.get_task("sync_chunk")
    assert chunk.is_mapped and chunk.upstream_task_ids == {"prepare", "plan"}
    assert dag.get_task("finish").trigger_rule == "none_failed"  # runs when there is nothing to map


PROBE = r"""
import importlib.util, json, sys, time
import airflow.sdk  # what every DAG file pays anyway
before = set(sys.modules)
path = sys.argv[1]
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "new_modules": sorted(set(sys.modules) - before)}))
"""


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[f.name for f in DAG_FILES])
def test_dag_file_parses_fast_without_heavy_imports(dag_file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(dag_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = [m for m in result["new_modules"] if m.split(".")[0] in HEAVY or m in HEAVY]
    assert heavy == [], f"{dag_file.name} imports heavy modules at parse time: {heavy}"
    assert result["seconds"] < 1.0, f"{dag_file.name} adds {result['seconds']:.2f}s to the parse"


def test_plugin_loader_does_not_import_our_packages_as_loose_modules() -> None:
    """Airflow imports every .py under plugins/ as a top-level module named after the file; our
    packages (with modules such as ``http.py``) must be excluded by plugins/.airflowignore."""
    from airflow._shared.module_loading import find_path_from_directory

    loose = [
        p
        for p in find_path_from_directory(str(REPO / "plugins"), ".airflowignore", "glob")
        if p.endswith(".py")
    ]
    assert loose == []
