"""A live QBO sandbox and its admin routes, shared by the QBO tests and the conformance harness."""

from __future__ import annotations

from typing import Any

from erp_operators.quickbooks.config import QuickBooksConfig, QuickBooksLimits
from tests.sandbox_admin import SandboxAdmin

REALM = "9130357992221046"
TIME_SCALE = 60.0  # a limit-minute lasts one second, in the sandbox and in our limiter


class QBOSandbox(SandboxAdmin):
    """The running QBO sandbox (time scaled by ``TIME_SCALE``) and its admin routes."""

    def __init__(self) -> None:
        from sandbox.quickbooks.app import QuickBooksSandbox

        super().__init__(QuickBooksSandbox())
        self._scale_time()

    def _scale_time(self) -> None:
        self.admin("POST", "limits", {"time_scale": TIME_SCALE})

    def reset(self) -> None:
        """Empty the sandbox (keeping the time scale)."""
        super().reset()
        self._scale_time()

    def objects(self, entity: str) -> list[dict[str, Any]]:
        return list(self.state()["realms"][REALM].get(entity, []))

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
