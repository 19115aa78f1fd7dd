"""SysproHook: the ``syspro`` connection (SYSPRO 8 e.net business objects over the WCF REST host).

Connection fields: ``host`` = e.net REST base URL (``https://app:40000/SYSPROWCFService/Rest``; a bare
``host:port`` gets ``https://`` and the default path), ``login`` = operator, ``password`` = operator
password. Extras (see ``provider_info``): ``company_id``, ``company_password``, ``verify_ssl``, ``timeout``.

e.net takes every credential and the session id in the query string, so no URL of this hook is ever
logged or put into an error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from erp_operators import hook_base
from erp_operators.hook_base import ConnectionHook

if TYPE_CHECKING:
    import requests

DEFAULT_PATH = "/SYSPROWCFService/Rest"
_STRING_WRAPPER = re.compile(r"^<string[^>]*>(.*)</string>$", re.DOTALL)


class SysproLogonError(Exception):
    """e.net refused the logon (its message starts with ``ERROR``) or was unreachable."""


def normalize_base_url(host: str) -> str:
    """``app:40000`` -> ``https://app:40000/SYSPROWCFService/Rest``; full URLs keep their path."""
    return hook_base.normalize_base_url(host, DEFAULT_PATH)


def unwrap_text(body: str) -> str:
    """The WCF REST host may answer bare, JSON-quoted, or wrapped in ``<string>``: return the text."""
    text = body.strip()
    match = _STRING_WRAPPER.match(text)
    if match:
        text = match.group(1).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text


@dataclass(frozen=True)
class SysproConfig:
    """Everything needed to log on to one SYSPRO company through e.net."""

    base_url: str
    operator: str
    operator_password: str = field(repr=False)
    company_id: str
    company_password: str = field(repr=False, default="")
    verify_ssl: bool = True
    timeout: float = 30.0

    def __post_init__(self) -> None:
        missing = [
            label
            for label, value in (
                ("host (e.net REST base URL)", self.base_url),
                ("login (operator)", self.operator),
                ("extra 'company_id'", self.company_id),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"SYSPRO connection is missing {', '.join(missing)}")


class SysproHook(ConnectionHook[SysproConfig]):
    """Logon/logoff against SYSPRO e.net; the business-object calls come with the connector.

    :param syspro_conn_id: Airflow connection id of conn type ``syspro``.
    """

    conn_name_attr = "syspro_conn_id"
    default_conn_name = "syspro_default"
    conn_type = "syspro"
    hook_name = "SYSPRO e.net (REST)"

    def __init__(self, syspro_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(syspro_conn_id, **kwargs)
        self._session: requests.Session | None = None

    def _build_config(self, conn: Any, extras: dict[str, Any]) -> SysproConfig:
        return SysproConfig(
            base_url=normalize_base_url(conn.host) if conn.host else "",
            operator=conn.login or "",
            operator_password=conn.password or "",
            company_id=extras["company_id"] or "",
            company_password=extras["company_password"] or "",
            verify_ssl=extras["verify_ssl"],
            timeout=extras["timeout"],
        )

    def get_conn(self) -> requests.Session:
        """A ``requests.Session`` for the e.net REST host (TLS verification per the connection)."""
        if self._session is None:
            import requests

            session = requests.Session()
            session.verify = self.config.verify_ssl
            self._session = session
        return self._session

    def _get_text(self, path: str, params: dict[str, str]) -> str:
        import requests

        cfg = self.config
        try:
            response = self.get_conn().get(f"{cfg.base_url}/{path}", params=params, timeout=cfg.timeout)
        except requests.RequestException as exc:
            # The exception text contains the URL, i.e. the passwords: name only the class and host.
            where = urlsplit(cfg.base_url).netloc
            raise SysproLogonError(f"could not reach SYSPRO e.net at {where}: {type(exc).__name__}") from None
        if not response.ok:
            raise SysproLogonError(f"SYSPRO e.net {path} answered HTTP {response.status_code}")
        return unwrap_text(response.text)

    def logon(self) -> str:
        """Log on; return the e.net session id (``UserId``). Raises :class:`SysproLogonError`."""
        cfg = self.config
        text = self._get_text(
            "Logon",
            {
                "Operator": cfg.operator,
                "OperatorPassword": cfg.operator_password,
                "CompanyId": cfg.company_id,
                "CompanyPassword": cfg.company_password,
            },
        )
        if not text or text.upper().startswith("ERROR"):
            raise SysproLogonError(f"SYSPRO refused the logon: {text or 'empty answer'}")
        return text

    def logoff(self, user_id: str) -> None:
        """Log off a session, freeing its e.net licence seat."""
        self._get_text("Logoff", {"UserId": user_id})

    @contextmanager
    def session(self) -> Iterator[str]:
        """``with hook.session() as user_id:`` logs on, and always logs off afterwards."""
        user_id = self.logon()
        try:
            yield user_id
        finally:
            try:
                self.logoff(user_id)
            except SysproLogonError as exc:
                self.log.warning("SYSPRO logoff failed (the seat frees at session timeout): %s", exc)

    def test_connection(self) -> tuple[bool, str]:
        """Log on and off once through e.net."""
        try:
            cfg = self.config
            with self.session():
                pass
        except (ValueError, SysproLogonError) as exc:
            return False, str(exc)
        return (
            True,
            f"Logged on to SYSPRO company {cfg.company_id} as operator {cfg.operator} (and off again)",
        )
