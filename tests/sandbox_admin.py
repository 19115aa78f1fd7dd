"""A live sandbox on 127.0.0.1 (ephemeral port) seen through its ``/__admin`` routes: the common
base of the per-ERP test helpers (:mod:`tests.netsuite.ns_admin`, :mod:`tests.quickbooks.qbo_admin`)."""

from __future__ import annotations

from typing import Any

import requests

from sandbox.common.httpd import SandboxApp, SandboxServer


class SandboxAdmin:
    """A running sandbox app and its admin routes (reset, state, seed, faults, limits, ...)."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self.server = SandboxServer(app).start()
        self.http = requests.Session()
        self.http.trust_env = False

    @property
    def url(self) -> str:
        return self.server.url

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/__admin/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        """Empty the sandbox."""
        self.admin("POST", "reset")

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "state")

    def seed(self, kind: str, body: dict[str, Any]) -> str:
        """Create one record directly (as a human in the ERP's UI would); its id."""
        return str(self.admin("POST", "seed", {kind: [body]})["created"][kind][0])

    def stop(self) -> None:
        self.http.close()
        self.server.stop()
