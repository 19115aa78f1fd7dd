"""Fixtures of the fault-matrix tests: the DAG-test fixtures (sandboxes + state store wired into
Airflow connections) with client backoffs scaled down so a fault costs milliseconds, not minutes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dags.conftest import SyncEnv, sync_env  # noqa: F401  (fixture re-exported)
from tests.faults.support import fast_retries


@pytest.fixture
def env(sync_env: SyncEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncEnv]:  # noqa: F811
    """``sync_env`` with short client backoffs (same retry logic, faster)."""
    for name, value in fast_retries().items():
        monkeypatch.setenv(name, value)
    yield sync_env
