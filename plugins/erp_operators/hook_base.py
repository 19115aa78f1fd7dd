"""The shared skeleton of the ERP connection hooks (NetSuite, SYSPRO, Dynamics GP, Sage 50).

Each hook stores its connection id under its ``conn_name_attr``, takes its form from
:mod:`erp_operators.provider_info`, and parses the Airflow connection once, lazily, into a frozen
config dataclass through :meth:`ConnectionHook._build_config`.
"""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from erp_operators import provider_info

C = TypeVar("C")


def normalize_base_url(host: str, default_path: str) -> str:
    """A host override as a base URL: ``https://`` added when no scheme, ``default_path`` when no path."""
    url = host.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    if not urlsplit(url).path:
        url += default_path
    return url


def mask_secrets(*secrets: str | None) -> None:
    """Register secrets with Airflow's secrets masker: a log line that carried one shows ``***``."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)


class ConnectionHook(BaseHook, Generic[C], metaclass=abc.ABCMeta):
    """Base of a hook whose settings come from one Airflow connection, parsed into a config ``C``.

    Subclasses set ``conn_name_attr``, ``default_conn_name``, ``conn_type`` and ``hook_name``, keep a
    keyword ``__init__(self, <x>_conn_id=default_conn_name, **kwargs)`` that calls
    ``super().__init__(<x>_conn_id, **kwargs)``, and implement :meth:`_build_config`.
    """

    conn_type: str

    def __init__(self, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        setattr(self, self.conn_name_attr, conn_id)
        self._config: C | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour (fallback for code paths that still ask the hook)."""
        return provider_info.ui_field_behaviour(cls.conn_type)

    @property
    def config(self) -> C:
        """Connection settings, read from the Airflow connection on first use."""
        if self._config is None:
            self._config = self.config_from(self.get_connection(getattr(self, self.conn_name_attr)))
        return self._config

    def config_from(self, conn: Any) -> C:
        """The config of an Airflow connection object (e.g. one read outside a task)."""
        return self._build_config(conn, provider_info.read_extras(conn, self.conn_type))

    @abc.abstractmethod
    def _build_config(self, conn: Any, extras: dict[str, Any]) -> C:
        """The config of ``conn`` (an Airflow connection) and its typed, defaulted ``extras``."""
