"""QuickBooksHook: the Airflow face of a QBO company (connection type ``quickbooks``).

``__init__`` stores ids only; :meth:`get_conn` builds a :class:`QuickBooksClient` on first use.
Rotating OAuth tokens and the shared rate budget live in the sync state store
(:class:`sync_core.state.StateStore`, connection ``erp_sync_state``), never in the connection.
Outside Airflow (tests, CLI) use :meth:`QuickBooksHook.from_params`.

Airflow imports this module at provider discovery, so python-quickbooks, intuit-oauth, tenacity
and requests are only imported once a client is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from erp_operators import provider_info
from erp_operators.errors import ERPError
from erp_operators.quickbooks.config import QuickBooksConfig, config_from_connection

if TYPE_CHECKING:
    from erp_operators.quickbooks.client import QuickBooksClient


class QuickBooksHook(BaseHook):
    """Connects to QuickBooks Online with python-quickbooks + intuit-oauth.

    :param quickbooks_conn_id: the Airflow connection (login = client id, password = client
        secret, extras = realm_id, refresh_token, environment, api_base_url, discovery_url, ...).
    :param store: the state store for tokens and rate budget; default: ``erp_sync_state``.
    """

    conn_name_attr = "quickbooks_conn_id"
    default_conn_name = "quickbooks_default"
    conn_type = "quickbooks"
    hook_name = "QuickBooks Online"

    def __init__(
        self, quickbooks_conn_id: str = default_conn_name, *, store: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.quickbooks_conn_id = quickbooks_conn_id
        self._store = store
        self._config: QuickBooksConfig | None = None
        self._client: QuickBooksClient | None = None

    @classmethod
    def from_params(
        cls, *, store: Any = None, config: QuickBooksConfig | None = None, **params: Any
    ) -> QuickBooksHook:
        """A hook that needs no Airflow connection: pass a config or :class:`QuickBooksConfig` fields."""
        hook = cls(quickbooks_conn_id="", store=store)
        hook._config = config or QuickBooksConfig(**params)
        return hook

    @property
    def config(self) -> QuickBooksConfig:
        if self._config is None:
            conn = self.get_connection(self.quickbooks_conn_id)
            self._config = config_from_connection(
                conn.login, conn.password, conn.extra_dejson, conn_id=self.quickbooks_conn_id
            )
        return self._config

    @property
    def store(self) -> Any:
        if self._store is None:
            from sync_core.state import StateStore

            self._store = StateStore.from_connection().create_all()
        return self._store

    def get_conn(self) -> QuickBooksClient:
        """The (cached) client for this company."""
        if self._client is None:
            from erp_operators.quickbooks.client import QuickBooksClient

            self._client = QuickBooksClient(self.config, self.store)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def test_connection(self) -> tuple[bool, str]:
        """Refresh a token and run one query: ``(ok, message)`` for the UI's Test button."""
        try:
            client = self.get_conn()
            client.query("SELECT * FROM Customer MAXRESULTS 1")
        except (ERPError, ValueError) as exc:
            return False, f"{self.hook_name}: {exc}"
        return (
            True,
            f"Connected to {self.hook_name} company {self.config.realm_id} ({self.config.environment})",
        )

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour (fallback for code paths that still ask the hook)."""
        return provider_info.ui_field_behaviour(cls.conn_type)
