"""Microsoft Dynamics GP (SQL Server via ODBC): connection hook; the connector comes with its issue."""

from __future__ import annotations
