"""QuickBooks Online: hook (connection type ``quickbooks``), client, payload mapping and connector."""

from __future__ import annotations
