"""A live QBO sandbox per test plus helpers to build clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from erp_operators.quickbooks.config import QuickBooksConfig, QuickBooksLimits
from sandbox.common.httpd import SandboxServer

REALM = "9130357992221046"
TIME_SCALE = 60.0  # a limit-minute lasts one second, in the sandbox and in our limiter


class QBOSandbox:
    """The running sandbox and its admin routes."""

    def __init__(self) -> None:
        from sandbox.quickbooks.app import QuickBooksSandbox

        self.server = SandboxServer(QuickBooksSandbox()).start()
        self.http = requests.Session()
        self.http.trust_env = False
        self.admin("POST", "limits", {"time_scale": TIME_SCALE})

    @property
    def url(self) -> str:
        return self.server.url

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/__admin/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "state")

    def objects(self, entity: str) -> list[dict[str, Any]]:
        return self.state()["realms"][REALM][entity]

    def requests_to(self, suffix: str) -> int:
        return sum(1 for r in self.admin("GET", "requests") if r["path"].endswith(suffix))

    def config(
        self, refresh_token: str = "RT-initial", secret: str = "sandbox-client-secret", **limits: Any
    ) -> QuickBooksConfig:
        return QuickBooksConfig(
            client_id="sandbox-client-id",
            client_secret=secret,
            realm_id=REALM,
            refresh_token=refresh_token,
            environment="sandbox",
            api_base_url=self.url,
            discovery_url=f"{self.url}/discovery",
            limits=QuickBooksLimits(**{"time_scale": TIME_SCALE, **limits}),
        )

    def stop(self) -> None:
        self.http.close()
        self.server.stop()


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
