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

from erp_operators import odbc
from erp_operators.hook_base import ConnectionHook
from erp_operators.odbc import odbc_value, parse_attributes

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

    @property
    def target(self) -> str:
        """``server/database``, as error messages name it."""
        return f"{self.server}/{self.database}"

    def connection_string(self) -> str:
        """The DSN-less ODBC connection string (SQL Server syntax ``Server=host,port`` when it applies)."""
        parts = [("Driver", odbc.quote_driver(self.driver))]
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


class DynamicsGPHook(ConnectionHook[GPConfig]):
    """Opens pyodbc connections to a Dynamics GP company database.

    :param dynamics_gp_conn_id: Airflow connection id of conn type ``dynamics_gp``.
    """

    conn_name_attr = "dynamics_gp_conn_id"
    default_conn_name = "dynamics_gp_default"
    conn_type = "dynamics_gp"
    hook_name = "Microsoft Dynamics GP (SQL Server ODBC)"

    def __init__(self, dynamics_gp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(dynamics_gp_conn_id, **kwargs)

    def _build_config(self, conn: Any, extras: dict[str, Any]) -> GPConfig:
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
        cfg = self.config
        odbc.require_driver(cfg.driver)
        return odbc.connect(cfg)

    def test_connection(self) -> tuple[bool, str]:
        """Open an ODBC connection and run the (trivial) test query."""
        return odbc.check_connection(
            self, lambda cfg: f"Connected to {cfg.database} on {cfg.server} via {cfg.driver}"
        )
