"""NetSuite (SuiteTalk REST, token-based auth): hook, client, payloads, the connector and its reads."""

from __future__ import annotations
