"""A live QBO sandbox and its admin routes, shared by the QBO tests and the conformance harness."""

from __future__ import annotations

from typing import Any

import requests

from erp_operators.quickbooks.config import QuickBooksConfig, QuickBooksLimits
from sandbox.common.httpd import SandboxServer

REALM = "9130357992221046"
TIME_SCALE = 60.0  # a limit-minute lasts one second, in the sandbox and in our limiter


class QBOSandbox:
    """The running sandbox (time scaled by ``TIME_SCALE``) and its admin routes."""

    def __init__(self) -> None:
        from sandbox.quickbooks.app import QuickBooksSandbox

        self.server = SandboxServer(QuickBooksSandbox()).start()
        self.http = requests.Session()
        self.http.trust_env = False
        self._scale_time()

    @property
    def url(self) -> str:
        return self.server.url

    def _scale_time(self) -> None:
        self.admin("POST", "limits", {"time_scale": TIME_SCALE})

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/__admin/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        """Empty the sandbox (keeping the time scale)."""
        self.admin("POST", "reset")
        self._scale_time()

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "state")

    def objects(self, entity: str) -> list[dict[str, Any]]:
        return list(self.state()["realms"][REALM].get(entity, []))

    def seed(self, entity: str, body: dict[str, Any]) -> str:
        """Create one record directly in the sandbox (as a human in the QBO UI would); its Id."""
        return str(self.admin("POST", "seed", {entity: [body]})["created"][entity][0])

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
