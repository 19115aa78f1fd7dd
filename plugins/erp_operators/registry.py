"""Find an ERP connector class by name, importing only the one asked for."""

from __future__ import annotations

import importlib
from typing import Any

from erp_operators.contract import ERPConnector

# name -> "module:Class"; aliases point at the same entry.
CONNECTORS: dict[str, str] = {
    "quickbooks": "erp_operators.quickbooks.connector:QuickBooksConnector",
    "netsuite": "erp_operators.netsuite.connector:NetSuiteConnector",
}
ALIASES: dict[str, str] = {"qbo": "quickbooks", "quickbooks_online": "quickbooks", "ns": "netsuite"}


def available_erps() -> list[str]:
    """Names accepted by :func:`get_connector` (without aliases)."""
    return sorted(CONNECTORS)


def connector_class(erp: str) -> type[ERPConnector]:
    """The connector class for ``erp`` (case-insensitive; aliases allowed)."""
    name = ALIASES.get(erp.strip().lower(), erp.strip().lower())
    try:
        target = CONNECTORS[name]
    except KeyError:
        raise ValueError(f"unknown ERP {erp!r}; known: {', '.join(available_erps())}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_connector(erp: str, **kwargs: Any) -> ERPConnector:
    """Build the connector for ``erp``; ``kwargs`` go to its constructor (e.g. ``conn_id``, ``store``)."""
    return connector_class(erp)(**kwargs)
