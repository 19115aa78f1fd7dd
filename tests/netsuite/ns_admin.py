"""A live NetSuite sandbox and its admin routes, shared by the NetSuite tests and the conformance harness."""

from __future__ import annotations

from typing import Any

from erp_operators.netsuite.hook import NetSuiteConfig
from erp_operators.netsuite.payloads import NetSuiteSettings
from sandbox.netsuite.app import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
    NetSuiteSandbox,
)
from tests.sandbox_admin import SandboxAdmin

# The sandbox account's internal ids (sandbox.netsuite.records.Account.reset).
SETTINGS = NetSuiteSettings(
    customer={"subsidiary": "1"},
    document={"subsidiary": "1", "location": "1"},
    inventory_item={"assetAccount": "80", "cogsAccount": "81"},
    currencies={"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"},
)
FAST = {"backoff_initial": 0.01, "backoff_max": 0.2, "poll_interval": 0.01, "max_attempts": 8}


class NSSandbox(SandboxAdmin):
    """The running NetSuite sandbox and its admin routes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NetSuiteSandbox(**kwargs))

    def records(self, rtype: str) -> list[dict[str, Any]]:
        return list(self.state()["records"].get(rtype, []))

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
