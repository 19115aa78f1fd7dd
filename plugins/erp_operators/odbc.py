"""ODBC helpers shared by the ODBC-based ERP hooks (Dynamics GP, Sage 50).

Connection-string quoting, the "driver is installed" check, opening a connection and the
``test_connection`` flow (connect, run the test query, report) live here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import pyodbc

_FORBIDDEN_ATTRIBUTES = {"driver", "dsn", "filedsn", "savefile"}


class OdbcSettings(Protocol):
    """What the shared flow needs of a hook's config (GPConfig, Sage50Config)."""

    password: str
    login_timeout: int
    test_query: str

    @property
    def target(self) -> str: ...

    def connection_string(self) -> str: ...


S = TypeVar("S", bound=OdbcSettings)


class OdbcHook(Protocol[S]):
    """A hook with a lazily parsed ``config`` and a ``get_conn()`` opening a pyodbc connection."""

    @property
    def config(self) -> S: ...

    def get_conn(self) -> Any: ...


def quote_driver(driver: str) -> str:
    """A driver name as the ``Driver`` value: always in braces, ``}`` doubled."""
    return "{" + driver.replace("}", "}}") + "}"


def odbc_value(value: str) -> str:
    """Quote a connection-string value with braces when it holds ``;{}=`` or edge spaces."""
    if any(ch in value for ch in ";{}=") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def parse_attributes(text: str | None, hint: str = "the driver field") -> list[tuple[str, str]]:
    """``"A=1; B=2"`` -> ``[("A", "1"), ("B", "2")]``; refuses keys that would swap the driver."""
    pairs: list[tuple[str, str]] = []
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"extra 'odbc_attributes' needs Key=Value pairs, got {part.strip()!r}")
        if key.lower() in _FORBIDDEN_ATTRIBUTES:
            raise ValueError(f"extra 'odbc_attributes' may not set {key}; use {hint}")
        pairs.append((key, value.strip()))
    return pairs


def odbc_error_text(exc: Exception, secret: str) -> str:
    """The driver's message of a pyodbc error (its second arg), with the password masked."""
    text = str(exc.args[1] if len(exc.args) > 1 else exc).strip()
    return text.replace(secret, "***") if secret else text


def require_driver(driver: str) -> None:
    """Raise ``ValueError`` unless ``driver`` is registered with the ODBC driver manager."""
    import pyodbc

    installed = pyodbc.drivers()
    if driver not in installed:
        raise ValueError(
            f"ODBC driver {driver!r} is not installed; installed drivers: {', '.join(installed) or 'none'}"
        )


def connect(cfg: OdbcSettings) -> pyodbc.Connection:
    """A new pyodbc connection for ``cfg`` (autocommit off); the caller closes it."""
    import pyodbc

    return pyodbc.connect(cfg.connection_string(), autocommit=False, timeout=cfg.login_timeout)


def check_connection(hook: OdbcHook[S], connected: Callable[[S], str]) -> tuple[bool, str]:
    """Open a connection through ``hook``, run its test query; ``connected(cfg)`` starts the success text."""
    import pyodbc

    try:
        cfg = hook.config
        conn = hook.get_conn()
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
    return True, f"{connected(cfg)}; {cfg.test_query!r} returned {row[0] if row else None!r}"
