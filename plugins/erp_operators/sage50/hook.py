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

from erp_operators import odbc
from erp_operators.hook_base import ConnectionHook
from erp_operators.odbc import odbc_value, parse_attributes

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
        """``DSN name`` or the data path, as error messages name it."""
        return f"DSN {self.dsn}" if self.dsn else self.data_path

    def connection_string(self) -> str:
        """DSN-less (driver + path) or DSN-based ODBC connection string."""
        if self.dsn:
            parts = [("DSN", odbc_value(self.dsn))]
        else:
            parts = [("Driver", odbc.quote_driver(self.driver))]
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


class Sage50Hook(ConnectionHook[Sage50Config]):
    """Opens pyodbc connections to a Sage 50 company.

    :param sage50_conn_id: Airflow connection id of conn type ``sage50``.
    """

    conn_name_attr = "sage50_conn_id"
    default_conn_name = "sage50_default"
    conn_type = "sage50"
    hook_name = "Sage 50 (ODBC)"

    def __init__(self, sage50_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(sage50_conn_id, **kwargs)

    def _build_config(self, conn: Any, extras: dict[str, Any]) -> Sage50Config:
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
        cfg = self.config
        if cfg.driver:
            odbc.require_driver(cfg.driver)
        if cfg.is_local_path and not os.path.exists(cfg.data_path):
            raise ValueError(f"Sage 50 company data path {cfg.data_path!r} does not exist on this machine")
        return odbc.connect(cfg)

    def test_connection(self) -> tuple[bool, str]:
        """Open an ODBC connection and run the (trivial) test query."""
        return odbc.check_connection(self, lambda cfg: f"Connected to Sage 50 data at {cfg.target}")
