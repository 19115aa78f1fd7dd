"""The four ERP connection hooks' ``test_connection`` against real local servers.

NetSuite and SYSPRO are checked against throwaway HTTP apps (SandboxApp) that verify the OAuth 1.0a
HMAC-SHA256 signature and the e.net logon form; Dynamics GP and Sage 50 open real ODBC connections
(PostgreSQL on 127.0.0.1:5432 through "PostgreSQL Unicode", a SQLite file through "SQLite3").
Connections go through the same path as the UI's Test button: ``Connection.get_uri()`` in an
``AIRFLOW_CONN_*`` variable, then ``Connection.test_connection()``.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from airflow.models.connection import Connection
from oauthlib.oauth1.rfc5849 import signature, utils

from erp_operators.dynamics_gp.hook import DynamicsGPHook, GPConfig
from erp_operators.netsuite import hook as netsuite_hook
from erp_operators.netsuite.hook import NetSuiteHook, rest_base_url
from erp_operators.sage50.hook import Sage50Hook
from erp_operators.syspro.hook import SysproHook, normalize_base_url, unwrap_text
from sandbox.common.httpd import Request, Response, SandboxApp, SandboxServer

PG_HOST, PG_PORT, PG_DATABASE = "127.0.0.1", 5432, "test"


def register(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> Connection:
    """Make a connection visible to hooks exactly as the UI's connection test does."""
    extra = fields.pop("extra", None)
    conn = Connection(
        conn_id=f"t_{uuid.uuid4().hex[:10]}", extra=json.dumps(extra) if extra else None, **fields
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", conn.get_uri())
    return conn


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- NetSuite -------------------------------------------------------------------------------------

ACCOUNT = "1234567_SB1"
NS_CREDENTIALS = {
    "consumer_key": "ck-7f3a9e",
    "consumer_secret": "cs-secret-41b2d8",
    "token_id": "tk-19c0aa",
    "token_secret": "ts-secret-88e1f0",
}
INVALID_LOGIN = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)


class NetSuiteTBAApp(SandboxApp):
    """Just enough NetSuite REST to verify a token-based-authentication signature."""

    name = "netsuite-tba"

    def __init__(self) -> None:
        super().__init__()
        self.nonces: set[str] = set()
        self.accepted: list[dict[str, str]] = []
        self.rejections: list[str] = []
        self.route("GET", "/services/rest/record/v1/metadata-catalog", self._catalog)

    def _catalog(self, request: Request) -> Response:
        names = (request.arg("select") or "customer").split(",")
        return Response(200, {"items": [{"name": name, "links": []} for name in names]})

    def authorize(self, request: Request) -> Response | None:
        problem = self._signature_problem(request)
        if problem is None:
            return None
        self.rejections.append(problem)
        body = {
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2",
            "title": "Unauthorized",
            "status": 401,
            "o:errorDetails": [{"detail": INVALID_LOGIN, "o:errorCode": "INVALID_LOGIN"}],
        }
        return Response(401, body, {"WWW-Authenticate": 'OAuth realm="' + ACCOUNT + '"'})

    def _signature_problem(self, request: Request) -> str | None:
        header = request.header("authorization") or ""
        if not header.startswith("OAuth "):
            return "no OAuth Authorization header"
        params = {key: utils.unescape(value) for key, value in utils.parse_authorization_header(header)}
        expected = {
            "realm": ACCOUNT,
            "oauth_signature_method": "HMAC-SHA256",
            "oauth_version": "1.0",
            "oauth_consumer_key": NS_CREDENTIALS["consumer_key"],
            "oauth_token": NS_CREDENTIALS["token_id"],
        }
        for key, value in expected.items():
            if params.get(key) != value:
                return f"{key} is {params.get(key)!r}, expected {value!r}"
        if abs(time.time() - int(params.get("oauth_timestamp", "0"))) > 300:
            return "stale oauth_timestamp"
        nonce = params.get("oauth_nonce", "")
        if not nonce or nonce in self.nonces:
            return "missing or replayed oauth_nonce"
        self.nonces.add(nonce)
        query = urlencode([(key, value) for key, values in request.query.items() for value in values])
        collected = signature.collect_parameters(
            uri_query=query, headers={"Authorization": header}, exclude_oauth_signature=True, with_realm=False
        )
        base_string = signature.signature_base_string(
            request.method,
            signature.base_string_uri(f"http://{request.header('host')}{request.path}"),
            signature.normalize_parameters(collected),
        )
        wanted = signature.sign_hmac_sha256(
            base_string, NS_CREDENTIALS["consumer_secret"], NS_CREDENTIALS["token_secret"]
        )
        if not signature.safe_string_equals(wanted, params.get("oauth_signature", "")):
            return "signature mismatch"
        self.accepted.append(params)
        return None


@pytest.fixture
def netsuite_app() -> Iterator[tuple[NetSuiteTBAApp, str]]:
    app = NetSuiteTBAApp()
    with SandboxServer(app) as server:
        yield app, f"{server.url}/services/rest"


def netsuite_conn(monkeypatch: pytest.MonkeyPatch, base_url: str, **overrides: str) -> Connection:
    creds = {**NS_CREDENTIALS, **overrides}
    return register(
        monkeypatch,
        conn_type="netsuite",
        host=base_url,
        login=creds["consumer_key"],
        password=creds["consumer_secret"],
        extra={"account_id": ACCOUNT, "token_id": creds["token_id"], "token_secret": creds["token_secret"]},
    )


def test_netsuite_signed_request_is_accepted(netsuite_app, monkeypatch) -> None:
    app, base_url = netsuite_app
    conn = netsuite_conn(monkeypatch, base_url)

    ok, message = conn.test_connection()

    assert ok, message
    assert ACCOUNT in message and "HTTP 200" in message
    assert app.rejections == []
    assert [params["realm"] for params in app.accepted] == [ACCOUNT]


def test_netsuite_wrong_token_secret_is_a_clear_failure(netsuite_app, monkeypatch) -> None:
    app, base_url = netsuite_app
    conn = netsuite_conn(monkeypatch, base_url, token_secret="ts-wrong-000000")

    ok, message = NetSuiteHook(netsuite_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message.startswith("NetSuite answered HTTP 401: INVALID_LOGIN: Invalid login attempt")
    assert app.rejections == ["signature mismatch"]
    assert "ts-wrong" not in message and NS_CREDENTIALS["consumer_secret"] not in message


def test_netsuite_missing_token_is_named(monkeypatch) -> None:
    conn = register(
        monkeypatch,
        conn_type="netsuite",
        login="ck",
        password="cs",
        extra={"account_id": ACCOUNT, "token_secret": "ts"},
    )

    ok, message = NetSuiteHook(netsuite_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message == "NetSuite connection is missing extra 'token_id'"


def test_netsuite_unreachable_host(monkeypatch) -> None:
    conn = netsuite_conn(monkeypatch, f"{closed_port_url()}/services/rest")

    ok, message = NetSuiteHook(netsuite_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message.startswith("Could not reach NetSuite at http://127.0.0.1:")


def test_netsuite_host_comes_from_the_account_id(monkeypatch) -> None:
    conn = netsuite_conn(monkeypatch, "")

    hook = NetSuiteHook(netsuite_conn_id=conn.conn_id)

    assert rest_base_url("1234567_SB1") == "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"
    assert hook.config.base_url == rest_base_url(ACCOUNT)
    assert hook.url("query/v1/suiteql") == f"{rest_base_url(ACCOUNT)}/query/v1/suiteql"
    assert hook.get_conn().auth.client.realm == ACCOUNT
    assert NS_CREDENTIALS["token_secret"] not in repr(hook.config)
    assert netsuite_hook.normalize_base_url("1234567-sb1.suitetalk.api.netsuite.com") == rest_base_url(
        ACCOUNT
    )
    assert netsuite_hook.normalize_base_url("http://127.0.0.1:9000/rest/") == "http://127.0.0.1:9000/rest"


# -- SYSPRO ---------------------------------------------------------------------------------------

SYSPRO_LOGON = {
    "Operator": "ADMIN",
    "OperatorPassword": "op-pass;&=1",
    "CompanyId": "EDU1",
    "CompanyPassword": "",
}


class SysproLogonApp(SandboxApp):
    """The e.net REST logon/logoff pair: GET with credentials in the query string, GUID or ERROR text back."""

    name = "syspro-logon"

    def __init__(self, wrap: str = "bare") -> None:
        super().__init__()
        self.wrap = wrap
        self.sessions: set[str] = set()
        self.logoffs: list[str] = []
        self.route("GET", "/SYSPROWCFService/Rest/Logon", self._logon)
        self.route("GET", "/SYSPROWCFService/Rest/Logoff", self._logoff)

    def _text(self, text: str) -> Response:
        if self.wrap == "json":
            return Response(200, json.dumps(text), content_type="application/json")
        if self.wrap == "xml":
            body = f'<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">{text}</string>'
            return Response(200, body, content_type="application/xml")
        return Response(200, text)

    def _logon(self, request: Request) -> Response:
        given = {key: request.arg(key) for key in SYSPRO_LOGON}
        if given["Operator"] != SYSPRO_LOGON["Operator"] or given["CompanyId"] != SYSPRO_LOGON["CompanyId"]:
            return self._text("ERROR: Operator or company not found")
        if given["OperatorPassword"] != SYSPRO_LOGON["OperatorPassword"]:
            return self._text("ERROR: Invalid operator password")
        guid = uuid.uuid4().hex.upper()
        self.sessions.add(guid)
        return self._text(guid)

    def _logoff(self, request: Request) -> Response:
        user_id = request.arg("UserId") or ""
        if user_id not in self.sessions:
            return self._text("ERROR: UserId not logged on")
        self.sessions.discard(user_id)
        self.logoffs.append(user_id)
        return self._text("true")


def syspro_conn(monkeypatch: pytest.MonkeyPatch, base_url: str, password: str) -> Connection:
    return register(
        monkeypatch,
        conn_type="syspro",
        host=base_url,
        login=SYSPRO_LOGON["Operator"],
        password=password,
        extra={"company_id": SYSPRO_LOGON["CompanyId"]},
    )


@pytest.mark.parametrize("wrap", ["bare", "json", "xml"])
def test_syspro_logon_and_logoff(monkeypatch, wrap) -> None:
    app = SysproLogonApp(wrap)
    with SandboxServer(app) as server:
        conn = syspro_conn(
            monkeypatch, f"{server.url}/SYSPROWCFService/Rest", SYSPRO_LOGON["OperatorPassword"]
        )

        ok, message = conn.test_connection()

    assert ok, message
    assert message.startswith("Logged on to SYSPRO company EDU1 as operator ADMIN")
    assert len(app.logoffs) == 1 and app.sessions == set()  # the licence seat was given back
    assert [entry["path"] for entry in app.request_log] == [
        "/SYSPROWCFService/Rest/Logon",
        "/SYSPROWCFService/Rest/Logoff",
    ]


def test_syspro_wrong_password_is_a_clear_failure(monkeypatch) -> None:
    app = SysproLogonApp()
    with SandboxServer(app) as server:
        conn = syspro_conn(monkeypatch, f"{server.url}/SYSPROWCFService/Rest", "not-the-password")

        ok, message = SysproHook(syspro_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message == "SYSPRO refused the logon: ERROR: Invalid operator password"
    assert app.sessions == set() and app.logoffs == []


def test_syspro_unreachable_never_leaks_the_password(monkeypatch) -> None:
    conn = syspro_conn(monkeypatch, f"{closed_port_url()}/SYSPROWCFService/Rest", "pw-in-the-url-123")

    ok, message = SysproHook(syspro_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message.startswith("could not reach SYSPRO e.net at 127.0.0.1:")
    assert "pw-in-the-url" not in message and "OperatorPassword" not in message


def test_syspro_base_url_and_answer_forms() -> None:
    assert normalize_base_url("syspro-app:40000") == "https://syspro-app:40000/SYSPROWCFService/Rest"
    assert normalize_base_url("http://10.0.0.5:8080/Custom/Rest/") == "http://10.0.0.5:8080/Custom/Rest"
    assert (
        unwrap_text('"ABC"')
        == unwrap_text("<string xmlns='x'>ABC</string>")
        == unwrap_text(" ABC\n")
        == "ABC"
    )


# -- Dynamics GP (ODBC) ---------------------------------------------------------------------------


def gp_conn(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Connection:
    return register(
        monkeypatch,
        conn_type="dynamics_gp",
        host=PG_HOST,
        port=PG_PORT,
        schema=extra.pop("schema", PG_DATABASE),
        login="postgres",
        password="s3cret;{pw}",
        extra={"driver": "PostgreSQL Unicode", **extra},
    )


def test_gp_odbc_connection_and_test_query(monkeypatch) -> None:
    conn = gp_conn(monkeypatch)

    ok, message = conn.test_connection()
    hook = DynamicsGPHook(dynamics_gp_conn_id=conn.conn_id)
    odbc = hook.get_conn()
    try:
        database = odbc.cursor().execute("SELECT current_database()").fetchone()[0]
    finally:
        odbc.close()

    assert ok, message
    assert message.endswith("'SELECT 1' returned 1")
    assert database == PG_DATABASE


def test_gp_unknown_database_is_a_clear_failure(monkeypatch) -> None:
    conn = gp_conn(monkeypatch, schema="no_such_gp_company")

    ok, message = DynamicsGPHook(dynamics_gp_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message.startswith("ODBC connection to 127.0.0.1/no_such_gp_company failed:")
    assert "no_such_gp_company" in message.split("failed:", 1)[1]
    assert "s3cret" not in message


def test_gp_driver_must_be_installed(monkeypatch) -> None:
    conn = gp_conn(monkeypatch, driver="ODBC Driver 18 for SQL Server")

    ok, message = DynamicsGPHook(dynamics_gp_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message.startswith("ODBC driver 'ODBC Driver 18 for SQL Server' is not installed")
    assert "PostgreSQL Unicode" in message


def test_gp_extra_attributes_cannot_swap_the_driver(monkeypatch) -> None:
    conn = gp_conn(monkeypatch, odbc_attributes="ApplicationIntent=ReadOnly; Driver=/tmp/evil.so")

    ok, message = DynamicsGPHook(dynamics_gp_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message == "extra 'odbc_attributes' may not set Driver; use the driver field"


def test_gp_sql_server_connection_string() -> None:
    config = GPConfig(
        driver="ODBC Driver 18 for SQL Server",
        server="sql01.corp.local",
        database="TWO",
        port=1433,
        user="sa",
        password="p;w}d",
        trust_server_certificate=True,
        attributes=(("ApplicationIntent", "ReadOnly"),),
    )

    assert config.connection_string() == (
        "Driver={ODBC Driver 18 for SQL Server};Server=sql01.corp.local,1433;Database=TWO;UID=sa;"
        "PWD={p;w}}d};Encrypt=yes;TrustServerCertificate=yes;ApplicationIntent=ReadOnly"
    )
    assert "p;w}d" not in repr(config)


# -- Sage 50 (ODBC) -------------------------------------------------------------------------------


@pytest.fixture
def company_file(tmp_path: Path) -> Path:
    path = tmp_path / "Sage Company 1" / "company.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE Customers (CustomerID TEXT PRIMARY KEY, Name TEXT)")
        db.executemany(
            "INSERT INTO Customers VALUES (?, ?)", [("OBRIEN01", "O'Brien & Sons"), ("ZOE01", "Zoë's Café")]
        )
    return path


def sage_conn(monkeypatch: pytest.MonkeyPatch, path: str, **extra: Any) -> Connection:
    return register(monkeypatch, conn_type="sage50", schema=path, extra={"driver": "SQLite3", **extra})


def test_sage50_file_database(monkeypatch, company_file) -> None:
    conn = sage_conn(monkeypatch, str(company_file), test_query="SELECT COUNT(*) FROM Customers")

    ok, message = conn.test_connection()
    odbc = Sage50Hook(sage50_conn_id=conn.conn_id).get_conn()
    try:
        names = [row[0] for row in odbc.cursor().execute("SELECT Name FROM Customers ORDER BY CustomerID")]
    finally:
        odbc.close()

    assert ok, message
    assert (
        message == f"Connected to Sage 50 data at {company_file}; 'SELECT COUNT(*) FROM Customers' returned 2"
    )
    assert names == ["O'Brien & Sons", "Zoë's Café"]


def test_sage50_missing_data_path_is_not_created(monkeypatch, tmp_path) -> None:
    missing = tmp_path / "nowhere" / "company.db"
    conn = sage_conn(monkeypatch, str(missing))

    ok, message = Sage50Hook(sage50_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message == f"Sage 50 company data path {str(missing)!r} does not exist on this machine"
    assert not missing.exists()


def test_sage50_bad_test_query_reports_the_driver_error(monkeypatch, company_file) -> None:
    conn = sage_conn(monkeypatch, str(company_file), test_query="SELECT * FROM NoSuchTable")

    ok, message = Sage50Hook(sage50_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message.startswith("Connected, but 'SELECT * FROM NoSuchTable' failed:")
    assert "NoSuchTable" in message.split("failed:", 1)[1]


def test_sage50_through_a_dsn(monkeypatch, company_file, tmp_path) -> None:
    odbc_ini = tmp_path / "odbc.ini"
    odbc_ini.write_text(f"[SageLine50Demo]\nDriver=SQLite3\nDatabase={company_file}\n")
    monkeypatch.setenv("ODBCINI", str(odbc_ini))
    conn = register(monkeypatch, conn_type="sage50", extra={"dsn": "SageLine50Demo"})

    ok, message = Sage50Hook(sage50_conn_id=conn.conn_id).test_connection()

    assert ok, message
    assert message == "Connected to Sage 50 data at DSN SageLine50Demo; 'SELECT 1' returned 1"


def test_sage50_needs_driver_or_dsn_not_both(monkeypatch, company_file) -> None:
    conn = sage_conn(monkeypatch, str(company_file), dsn="SageLine50Demo")

    ok, message = Sage50Hook(sage50_conn_id=conn.conn_id).test_connection()

    assert not ok
    assert message == "Sage 50 connection needs exactly one of extra 'driver' or extra 'dsn'"


def test_hooks_do_no_io_in_init() -> None:
    # No connection with these ids exists: constructing must still succeed (I/O is lazy).
    for hook_class in (NetSuiteHook, SysproHook, DynamicsGPHook, Sage50Hook):
        hook = hook_class(**{hook_class.conn_name_attr: f"missing_{uuid.uuid4().hex[:6]}"})
        assert hook._config is None
