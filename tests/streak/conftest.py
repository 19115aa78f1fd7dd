"""Fixtures: a running Streak sandbox (real HTTP on 127.0.0.1, free port) and a hook pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.common.httpd import SandboxServer
from sandbox.streak.app import StreakSandbox
from streak_hooks.hook import StreakHook

# A long, distinctive key so "the key never appears" checks cannot pass by accident.
API_KEY = "sbx-streak-7f3c9a1e5b2d4c6e8f0a"
FAST_RETRIES = {"retry_min_wait": 0.01, "retry_max_wait": 0.05, "max_retries": 4, "requests_per_second": 200}


@pytest.fixture
def streak_sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(StreakSandbox(api_key=API_KEY)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def streak_hook(streak_sandbox: SandboxServer) -> Iterator[StreakHook]:
    hook = StreakHook.from_params(base_url=f"{streak_sandbox.url}/api", api_key=API_KEY, **FAST_RETRIES)
    yield hook
    hook.close()


class Admin:
    """Talks to the sandbox's /__admin routes (plain requests: these are test controls, not Streak)."""

    def __init__(self, server: SandboxServer) -> None:
        self.url = server.url
        self.app: StreakSandbox = server.app  # type: ignore[assignment]

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.post(f"{self.url}/__admin/{path}", json=body or {}, timeout=10)
        response.raise_for_status()
        return response.json()

    def fault(self, count: int = 1, path_prefix: str = "", **fault: Any) -> None:
        self.post("faults", {**fault, "count": count, "path_prefix": path_prefix})

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        log = requests.get(f"{self.url}/__admin/requests", timeout=10).json()
        return [r for r in log if r["path"] == path]

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/__admin/state", timeout=30).json()


@pytest.fixture
def admin(streak_sandbox: SandboxServer) -> Admin:
    return Admin(streak_sandbox)
