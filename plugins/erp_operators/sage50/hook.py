"""Sage50Hook: the ``sage50`` connection (the company data through the Sage 50 ODBC driver).

Connection fields: ``schema`` = company data path (or database name on a server), ``host``/``port`` =
server when the driver is client/server, ``login``/``password`` = Sage user. Extras (see
``provider_info``): ``driver`` (an installed ODBC driver name) or ``dsn`` (a configured data source),
``path_attribute`` (the keyword that carries the data path: ``Database`` for SQLite, ``DIR`` for Sage 50
UK, ``DBQ`` for Pervasive), ``login_timeout``, ``test_query``, ``odbc_attributes``.

The driver must be registered with the driver manager (no library paths), and ``odbc_attributes``
may not set Driver/DSN/FILEDSN/SAVEFILE. A local data path must exist: file drivers would otherwise
create an empty company file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from erp_operators.odbc import odbc_error_text, odbc_value, parse_attributes
from erp_operators.provider_info import read_extras, ui_field_behaviour

if TYPE_CHECKING:
    import pyodbc


@dataclass(frozen=True)
class Sage50Config:
    """Everything needed to open an ODBC connection to one Sage 50 company."""

    driver: str = ""
    dsn: str = ""
    data_path: str = ""
    path_attribute: str = "Database"
    server: str = ""
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    login_timeout: int = 15
    test_query: str = "SELECT 1"
    attributes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if bool(self.driver) == bool(self.dsn):
            raise ValueError("Sage 50 connection needs exactly one of extra 'driver' or extra 'dsn'")
        if self.driver and not self.data_path:
            raise ValueError("Sage 50 connection needs schema (the company data path) with a driver")

    @property
    def is_local_path(self) -> bool:
        return bool(self.driver and self.data_path and not self.server)

    @property
    def target(self) -> str:
        return f"DSN {self.dsn}" if self.dsn else self.data_path

    def connection_string(self) -> str:
        """DSN-less (driver + path) or DSN-based ODBC connection string."""
        if self.dsn:
            parts = [("DSN", odbc_value(self.dsn))]
        else:
            parts = [("Driver", "{" + self.driver.replace("}", "}}") + "}")]
        if self.server:
            parts.append(("Server", odbc_value(self.server)))
        if self.port:
            parts.append(("Port", str(self.port)))
        if self.data_path:
            parts.append((self.path_attribute, odbc_value(self.data_path)))
        if self.user:
            parts += [("UID", odbc_value(self.user)), ("PWD", odbc_value(self.password))]
        parts += [(key, odbc_value(value)) for key, value in self.attributes]
        return ";".join(f"{key}={value}" for key, value in parts)


class Sage50Hook(BaseHook):
    """Opens pyodbc connections to a Sage 50 company.

    :param sage50_conn_id: Airflow connection id of conn type ``sage50``.
    """

    conn_name_attr = "sage50_conn_id"
    default_conn_name = "sage50_default"
    conn_type = "sage50"
    hook_name = "Sage 50 (ODBC)"

    def __init__(self, sage50_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sage50_conn_id = sage50_conn_id
        self._config: Sage50Config | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour (fallback for code paths that still ask the hook)."""
        return ui_field_behaviour(cls.conn_type)

    @property
    def config(self) -> Sage50Config:
        """Connection settings, read from the Airflow connection on first use."""
        if self._config is None:
            self._config = self._config_from_connection()
        return self._config

    def _config_from_connection(self) -> Sage50Config:
        conn = self.get_connection(self.sage50_conn_id)
        extras = read_extras(conn, self.conn_type)
        return Sage50Config(
            driver=extras["driver"] or "",
            dsn=extras["dsn"] or "",
            data_path=conn.schema or "",
            path_attribute=extras["path_attribute"],
            server=conn.host or "",
            port=conn.port,
            user=conn.login or "",
            password=conn.password or "",
            login_timeout=extras["login_timeout"],
            test_query=extras["test_query"],
            attributes=tuple(parse_attributes(extras["odbc_attributes"], "the driver or dsn field")),
        )

    def get_conn(self) -> pyodbc.Connection:
        """A new pyodbc connection (autocommit off); the caller closes it."""
        import pyodbc

        cfg = self.config
        if cfg.driver:
            installed = pyodbc.drivers()
            if cfg.driver not in installed:
                raise ValueError(
                    f"ODBC driver {cfg.driver!r} is not installed; installed drivers: {', '.join(installed) or 'none'}"
                )
        if cfg.is_local_path and not os.path.exists(cfg.data_path):
            raise ValueError(f"Sage 50 company data path {cfg.data_path!r} does not exist on this machine")
        return pyodbc.connect(cfg.connection_string(), autocommit=False, timeout=cfg.login_timeout)

    def test_connection(self) -> tuple[bool, str]:
        """Open an ODBC connection and run the (trivial) test query."""
        import pyodbc

        try:
            cfg = self.config
            conn = self.get_conn()
        except ValueError as exc:
            return False, str(exc)
        except pyodbc.Error as exc:
            return False, f"ODBC connection to {cfg.target} failed: {odbc_error_text(exc, cfg.password)}"
        try:
            row = conn.cursor().execute(cfg.test_query).fetchone()
        except pyodbc.Error as exc:
            return False, f"Connected, but {cfg.test_query!r} failed: {odbc_error_text(exc, cfg.password)}"
        finally:
            conn.close()
        return (
            True,
            f"Connected to Sage 50 data at {cfg.target}; {cfg.test_query!r} returned {row[0] if row else None!r}",
        )
