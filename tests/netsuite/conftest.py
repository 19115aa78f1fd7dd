"""A connector factory on a fresh state store, against the live NetSuite sandbox of the root ``ns``
fixture (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from erp_operators.netsuite.connector import NetSuiteConnector
from sync_core.state import StateStore
from tests.netsuite.ns_admin import SETTINGS, NSSandbox


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}").create_all()


@pytest.fixture
def connector(ns: NSSandbox, store: StateStore) -> Iterator[Callable[..., NetSuiteConnector]]:
    made: list[NetSuiteConnector] = []

    def make(settings: Any = SETTINGS, bulk_threshold: int = 5, **config: Any) -> NetSuiteConnector:
        conn = NetSuiteConnector(
            config=ns.config(**config), store=store, settings=settings, bulk_threshold=bulk_threshold
        )
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()
