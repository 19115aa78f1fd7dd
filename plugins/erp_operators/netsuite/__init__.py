"""NetSuite (SuiteTalk REST): connection hook; the connector comes with its issue."""

from __future__ import annotations
