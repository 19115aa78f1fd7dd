"""A live NetSuite sandbox and its admin routes, shared by the NetSuite tests and the conformance harness."""

from __future__ import annotations

from typing import Any

import requests

from erp_operators.netsuite.hook import NetSuiteConfig
from erp_operators.netsuite.payloads import NetSuiteSettings
from sandbox.common.httpd import SandboxServer
from sandbox.netsuite.app import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
    NetSuiteSandbox,
)

# The sandbox account's internal ids (sandbox.netsuite.records.Account.reset).
SETTINGS = NetSuiteSettings(
    customer={"subsidiary": "1"},
    document={"subsidiary": "1", "location": "1"},
    inventory_item={"assetAccount": "80", "cogsAccount": "81"},
    currencies={"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"},
)
FAST = {"backoff_initial": 0.01, "backoff_max": 0.2, "poll_interval": 0.01, "max_attempts": 8}


class NSSandbox:
    """The running sandbox and its admin routes."""

    def __init__(self, **kwargs: Any) -> None:
        self.app = NetSuiteSandbox(**kwargs)
        self.server = SandboxServer(self.app).start()
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
        self.admin("POST", "reset")

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "state")

    def records(self, rtype: str) -> list[dict[str, Any]]:
        return list(self.state()["records"].get(rtype, []))

    def seed(self, rtype: str, body: dict[str, Any]) -> str:
        """Create one record directly (as a human in the NetSuite UI would); its internal id."""
        return str(self.admin("POST", "seed", {rtype: [body]})["created"][rtype][0])

    def limits(self, **spec: Any) -> dict[str, Any]:
        return self.admin("POST", "limits", spec)

    def config(self, secret: str = DEFAULT_CONSUMER_SECRET, **overrides: Any) -> NetSuiteConfig:
        return NetSuiteConfig(
            **{
                "account_id": DEFAULT_ACCOUNT_ID,
                "consumer_key": DEFAULT_CONSUMER_KEY,
                "consumer_secret": secret,
                "token_id": DEFAULT_TOKEN_ID,
                "token_secret": DEFAULT_TOKEN_SECRET,
                "base_url": f"{self.url}/services/rest",
                **FAST,
                **overrides,
            }
        )

    def stop(self) -> None:
        self.http.close()
        self.server.stop()
