"""ODBC connection-string helpers shared by the ODBC-based ERP hooks (Dynamics GP, Sage 50)."""

from __future__ import annotations

_FORBIDDEN_ATTRIBUTES = {"driver", "dsn", "filedsn", "savefile"}


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
