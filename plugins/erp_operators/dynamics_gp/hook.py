"""DynamicsGPHook: the ``dynamics_gp`` connection (the GP company database on SQL Server, via ODBC).

Connection fields: ``host``/``port`` = SQL Server, ``schema`` = company database (e.g. ``TWO``),
``login``/``password`` = SQL login. Extras (see ``provider_info``): ``driver`` (an installed ODBC
driver name), ``encrypt`` and ``trust_server_certificate`` (SQL Server drivers only),
``login_timeout``, ``test_query``, ``odbc_attributes``.

The connection string is DSN-less. The driver must be one registered with the driver manager (no
library paths), and ``odbc_attributes`` may not set Driver/DSN/FILEDSN/SAVEFILE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from erp_operators.odbc import odbc_error_text, odbc_value, parse_attributes
from erp_operators.provider_info import read_extras, ui_field_behaviour

if TYPE_CHECKING:
    import pyodbc


@dataclass(frozen=True)
class GPConfig:
    """Everything needed to open an ODBC connection to a GP company database."""

    driver: str
    server: str
    database: str
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    encrypt: bool = True
    trust_server_certificate: bool = False
    login_timeout: int = 15
    test_query: str = "SELECT 1"
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def is_sql_server_driver(self) -> bool:
        return "sql server" in self.driver.lower()

    def connection_string(self) -> str:
        """The DSN-less ODBC connection string (SQL Server syntax ``Server=host,port`` when it applies)."""
        parts = [("Driver", "{" + self.driver.replace("}", "}}") + "}")]
        if self.is_sql_server_driver:
            parts.append(("Server", f"{self.server},{self.port}" if self.port else self.server))
        else:
            parts.append(("Server", self.server))
            if self.port:
                parts.append(("Port", str(self.port)))
        parts.append(("Database", odbc_value(self.database)))
        if self.user:
            parts += [("UID", odbc_value(self.user)), ("PWD", odbc_value(self.password))]
        if self.is_sql_server_driver:
            parts.append(("Encrypt", "yes" if self.encrypt else "no"))
            parts.append(("TrustServerCertificate", "yes" if self.trust_server_certificate else "no"))
        parts += [(key, odbc_value(value)) for key, value in self.attributes]
        return ";".join(f"{key}={value}" for key, value in parts)


class DynamicsGPHook(BaseHook):
    """Opens pyodbc connections to a Dynamics GP company database.

    :param dynamics_gp_conn_id: Airflow connection id of conn type ``dynamics_gp``.
    """

    conn_name_attr = "dynamics_gp_conn_id"
    default_conn_name = "dynamics_gp_default"
    conn_type = "dynamics_gp"
    hook_name = "Microsoft Dynamics GP (SQL Server ODBC)"

    def __init__(self, dynamics_gp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dynamics_gp_conn_id = dynamics_gp_conn_id
        self._config: GPConfig | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour (fallback for code paths that still ask the hook)."""
        return ui_field_behaviour(cls.conn_type)

    @property
    def config(self) -> GPConfig:
        """Connection settings, read from the Airflow connection on first use."""
        if self._config is None:
            self._config = self._config_from_connection()
        return self._config

    def _config_from_connection(self) -> GPConfig:
        conn = self.get_connection(self.dynamics_gp_conn_id)
        extras = read_extras(conn, self.conn_type)
        if not conn.host or not conn.schema:
            raise ValueError("Dynamics GP connection needs host (SQL Server) and schema (company database)")
        return GPConfig(
            driver=extras["driver"],
            server=conn.host,
            database=conn.schema,
            port=conn.port,
            user=conn.login or "",
            password=conn.password or "",
            encrypt=extras["encrypt"],
            trust_server_certificate=extras["trust_server_certificate"],
            login_timeout=extras["login_timeout"],
            test_query=extras["test_query"],
            attributes=tuple(parse_attributes(extras["odbc_attributes"])),
        )

    def get_conn(self) -> pyodbc.Connection:
        """A new pyodbc connection (autocommit off); the caller closes it."""
        import pyodbc

        cfg = self.config
        installed = pyodbc.drivers()
        if cfg.driver not in installed:
            raise ValueError(
                f"ODBC driver {cfg.driver!r} is not installed; installed drivers: {', '.join(installed) or 'none'}"
            )
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
            return (
                False,
                f"ODBC connection to {cfg.server}/{cfg.database} failed: {odbc_error_text(exc, cfg.password)}",
            )
        try:
            row = conn.cursor().execute(cfg.test_query).fetchone()
        except pyodbc.Error as exc:
            return False, f"Connected, but {cfg.test_query!r} failed: {odbc_error_text(exc, cfg.password)}"
        finally:
            conn.close()
        return (
            True,
            f"Connected to {cfg.database} on {cfg.server} via {cfg.driver}; {cfg.test_query!r} returned {row[0] if row else None!r}",
        )
