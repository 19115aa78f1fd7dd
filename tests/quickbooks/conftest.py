"""A live QBO sandbox per test plus a fresh state store (the helper lives in ``qbo_admin``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.quickbooks.qbo_admin import QBOSandbox


@pytest.fixture
def qbo() -> Iterator[QBOSandbox]:
    sandbox = QBOSandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    from sync_core.state import StateStore

    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore.from_url(url).create_all()
    return url
