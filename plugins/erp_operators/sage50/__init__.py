"""Sage 50 (ODBC): connection hook; the connector comes with its issue."""

from __future__ import annotations
