"""Provider metadata for Airflow: the six connection types and their connection forms.

Airflow calls :func:`get_provider_info` through the ``apache_airflow_provider`` entry point declared in
``pyproject.toml`` and validates the result against ``airflow/provider_info.schema.json``. Since Airflow
3.2 the connection form is read from ``conn-fields`` / ``ui-field-behaviour`` here, without importing
the hooks; each hook's ``get_ui_field_behaviour()`` returns the same data for older code paths.

This module is imported at provider discovery time, so it imports nothing heavy.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Protocol

PACKAGE_NAME = "streak-erp-sync"
FALLBACK_VERSION = "0.1.0"
STANDARD_FIELDS = ("host", "schema", "login", "password", "port", "extra")


class _HasExtras(Protocol):
    conn_id: str | None
    extra_dejson: dict[str, Any]


def _field(
    label: str,
    description: str,
    *,
    json_type: str = "string",
    default: Any = None,
    secret: bool = False,
    enum: list[str] | None = None,
) -> dict[str, Any]:
    """One ``conn-fields`` entry: a label, a description and a JSON-Schema ``schema``."""
    schema: dict[str, Any] = {"type": [json_type, "null"]}
    if secret:
        schema["format"] = "password"
    if enum is not None:
        schema["enum"] = [*enum, None]
    if default is not None:
        schema["default"] = default
    return {"label": label, "description": description, "schema": schema}


def _behaviour(hidden: list[str], relabeling: dict[str, str], placeholders: dict[str, str]) -> dict[str, Any]:
    return {"hidden-fields": hidden, "relabeling": relabeling, "placeholders": placeholders}


_TIMEOUT = _field("Timeout (seconds)", "Per-request timeout.", json_type="number", default=30)
_TEST_QUERY = _field(
    "Test query",
    "Trivial query run by the connection test.",
    default="SELECT 1",
)
_LOGIN_TIMEOUT = _field("Login timeout (seconds)", "ODBC login timeout.", json_type="integer", default=15)
_ODBC_ATTRIBUTES = _field(
    "Extra ODBC attributes",
    "Further Key=Value; pairs appended to the connection string (Driver/DSN cannot be set here).",
)

CONNECTION_TYPES: dict[str, dict[str, Any]] = {
    "streak": {
        "hook-class-name": "streak_hooks.hook.StreakHook",
        "hook-name": "Streak",
        "ui-field-behaviour": _behaviour(
            ["login", "port", "schema"],
            {"host": "Base URL", "password": "API key"},
            {
                "host": "https://api.streak.com/api",
                "password": "Streak API key (Streak > Integrations > API key)",
            },
        ),
        "conn-fields": {
            "timeout": _TIMEOUT,
            "max_retries": _field(
                "Max retries", "Retries of 429/5xx/timeouts before failing.", json_type="integer", default=5
            ),
            "requests_per_second": _field(
                "Requests per second",
                "Client-side rate limit (Streak asks for at most 10).",
                json_type="number",
                default=10,
            ),
            "verify": _field(
                "Verify TLS certificate",
                "Turn off only for a test server.",
                json_type="boolean",
                default=True,
            ),
        },
    },
    "quickbooks": {
        "hook-class-name": "erp_operators.quickbooks.hook.QuickBooksHook",
        "hook-name": "QuickBooks Online",
        "ui-field-behaviour": _behaviour(
            ["host", "schema", "port"],
            {"login": "Client ID", "password": "Client Secret"},
            # the declared extras are form fields; this hints at the advanced, undeclared ones
            {"extra": '{"minorversion": 75}'},
        ),
        "conn-fields": {
            "realm_id": _field("Realm ID", "The QuickBooks company id (realmId)."),
            "refresh_token": _field(
                "Refresh token",
                "Initial OAuth 2.0 refresh token; rotated tokens are kept in the state store.",
                secret=True,
            ),
            "environment": _field(
                "Environment", "Intuit environment.", default="production", enum=["sandbox", "production"]
            ),
            "api_base_url": _field(
                "API base URL (optional)",
                "Overrides Intuit's API host, e.g. https://quickbooks.api.intuit.com/v3.",
            ),
            "discovery_url": _field(
                "OAuth discovery URL (optional)", "Overrides Intuit's discovery document."
            ),
        },
    },
    "netsuite": {
        "hook-class-name": "erp_operators.netsuite.hook.NetSuiteHook",
        "hook-name": "Oracle NetSuite (REST, TBA)",
        "ui-field-behaviour": _behaviour(
            ["schema", "port"],
            {
                "host": "REST base URL override (optional)",
                "login": "Consumer key",
                "password": "Consumer secret",
            },
            {"host": "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"},
        ),
        "conn-fields": {
            "account_id": _field("Account ID", "As shown in NetSuite, e.g. 1234567 or 1234567_SB1."),
            "token_id": _field("Token ID", "Token-based authentication token id."),
            "token_secret": _field("Token secret", "Token-based authentication token secret.", secret=True),
            "concurrency_limit": _field(
                "Concurrency limit",
                "The account's concurrent request limit (Integration Governance); sizes the erp_netsuite pool.",
                json_type="integer",
                default=5,
            ),
            "timeout": _TIMEOUT,
        },
    },
    "syspro": {
        "hook-class-name": "erp_operators.syspro.hook.SysproHook",
        "hook-name": "SYSPRO e.net (REST)",
        "ui-field-behaviour": _behaviour(
            ["schema", "port"],
            {"host": "e.net REST base URL", "login": "Operator", "password": "Operator password"},
            {"host": "https://syspro-app:40000/SYSPROWCFService/Rest", "login": "ADMIN"},
        ),
        "conn-fields": {
            "company_id": _field("Company ID", "SYSPRO company to log on to."),
            "company_password": _field("Company password", "Empty when the company has none.", secret=True),
            "verify_ssl": _field(
                "Verify TLS certificate",
                "Turn off only for a self-signed test server.",
                json_type="boolean",
                default=True,
            ),
            "timeout": _TIMEOUT,
        },
    },
    "dynamics_gp": {
        "hook-class-name": "erp_operators.dynamics_gp.hook.DynamicsGPHook",
        "hook-name": "Microsoft Dynamics GP (SQL Server ODBC)",
        "ui-field-behaviour": _behaviour(
            [],
            {"host": "SQL Server host", "schema": "Company database", "login": "SQL login"},
            {"host": "sql01.example.local", "port": "1433", "schema": "TWO"},
        ),
        "conn-fields": {
            "driver": _field(
                "ODBC driver", "Name of an installed ODBC driver.", default="ODBC Driver 18 for SQL Server"
            ),
            "encrypt": _field("Encrypt", "SQL Server drivers only.", json_type="boolean", default=True),
            "trust_server_certificate": _field(
                "Trust server certificate", "SQL Server drivers only.", json_type="boolean", default=False
            ),
            "login_timeout": _LOGIN_TIMEOUT,
            "test_query": _TEST_QUERY,
            "odbc_attributes": _ODBC_ATTRIBUTES,
        },
    },
    "sage50": {
        "hook-class-name": "erp_operators.sage50.hook.Sage50Hook",
        "hook-name": "Sage 50 (ODBC)",
        "ui-field-behaviour": _behaviour(
            [],
            {
                "host": "Server (optional)",
                "schema": "Company data path or database",
                "login": "Sage user",
                "password": "Sage password",
            },
            {"schema": "C:\\ProgramData\\Sage\\Accounts\\2024\\Company.000\\ACCDATA"},
        ),
        "conn-fields": {
            "driver": _field(
                "ODBC driver", "Name of an installed ODBC driver (leave empty when a DSN is set)."
            ),
            "dsn": _field(
                "DSN (optional)", "A data source configured in odbc.ini, used instead of the driver."
            ),
            "path_attribute": _field(
                "Data path keyword",
                "Connection-string keyword that carries the data path: Database (SQLite), DIR (Sage 50 UK), "
                "DBQ (Pervasive).",
                default="Database",
            ),
            "login_timeout": _LOGIN_TIMEOUT,
            "test_query": _TEST_QUERY,
            "odbc_attributes": _ODBC_ATTRIBUTES,
        },
    },
}


def _version() -> str:
    try:
        return metadata.version(PACKAGE_NAME)
    except metadata.PackageNotFoundError:
        return FALLBACK_VERSION


def get_provider_info() -> dict[str, Any]:
    """Provider info for Airflow's ProvidersManager (schema: ``airflow/provider_info.schema.json``)."""
    version = _version()
    return {
        "package-name": PACKAGE_NAME,
        "name": "Streak ERP Sync",
        "description": "Connection types, hooks and operators that sync Streak CRM with QuickBooks Online, "
        "NetSuite, SYSPRO, Microsoft Dynamics GP and Sage 50.",
        "versions": [version],
        "integrations": [
            {"integration-name": spec["hook-name"], "tags": ["service"]} for spec in CONNECTION_TYPES.values()
        ],
        "hooks": [
            {
                "integration-name": spec["hook-name"],
                "python-modules": [spec["hook-class-name"].rsplit(".", 1)[0]],
            }
            for spec in CONNECTION_TYPES.values()
        ],
        "connection-types": [
            {"connection-type": conn_type, **spec} for conn_type, spec in CONNECTION_TYPES.items()
        ],
    }


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """The ``get_ui_field_behaviour()`` form (snake_case keys) of one connection type's behaviour."""
    behaviour = CONNECTION_TYPES[conn_type]["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
    }


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}


def _coerce(value: Any, json_type: str, where: str) -> Any:
    if value is None:
        return None
    if json_type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(f"{where} must be true or false, not {value!r}")
    if json_type in {"number", "integer"}:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be a number, not {value!r}") from None
        return int(number) if json_type == "integer" else number
    return str(value)


def read_extras(conn: _HasExtras, conn_type: str) -> dict[str, Any]:
    """The declared ``conn-fields`` of ``conn``, typed and defaulted, in one place for every hook.

    Accepts plain keys (``{"token_id": ...}``, what the UI and JSON connections store) and the legacy
    prefixed form (``extra__netsuite__token_id``). Empty strings count as unset.
    """
    extras = conn.extra_dejson or {}
    fields = CONNECTION_TYPES[conn_type]["conn-fields"]
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        schema = spec["schema"]
        raw = extras.get(name)
        if raw in (None, ""):
            raw = extras.get(f"extra__{conn_type}__{name}")
        if raw in (None, ""):
            raw = schema.get("default")
        json_type = schema["type"][0]
        value = _coerce(raw, json_type, f"connection {conn.conn_id!r} extra {name!r}")
        allowed = schema.get("enum")
        if allowed is not None and value not in allowed:
            choices = ", ".join(str(choice) for choice in allowed if choice is not None)
            raise ValueError(
                f"connection {conn.conn_id!r} extra {name!r} must be one of {choices}, not {value!r}"
            )
        values[name] = value
    return values
