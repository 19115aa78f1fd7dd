"""QuickBooks Online sandbox: Accounting API v3 + Intuit OAuth 2.0 (see ``app.QuickBooksSandbox``)."""

from __future__ import annotations
