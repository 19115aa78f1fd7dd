"""NetSuite (SuiteTalk REST, token-based auth): hook, client, payloads and the connector."""

from __future__ import annotations
