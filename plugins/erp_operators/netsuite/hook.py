"""NetSuiteHook: the ``netsuite`` connection (SuiteTalk REST with token-based authentication).

Connection fields: ``login`` = consumer key, ``password`` = consumer secret, ``host`` = optional REST
base URL override (a local sandbox is reached this way). Extras (see ``provider_info``): ``account_id``
(required), ``token_id``, ``token_secret``, ``concurrency_limit`` (the account's concurrent-request
limit, default 5; sizes the Airflow pool, see :func:`pool_slots`), ``timeout``. Advanced extras, read
from the extra JSON: ``max_attempts`` (default 6), ``backoff_initial`` / ``backoff_max`` (seconds,
default 1 / 60), ``poll_interval`` (async job polling, default 1 s), ``job_timeout`` (how long
one async job is waited for, default 900 s).

``get_conn()`` builds the :class:`~erp_operators.netsuite.client.NetSuiteClient` on first use;
``session`` is the signed ``requests.Session`` under it.

Requests are signed with OAuth 1.0a HMAC-SHA256; the ``realm`` is the account id exactly as given,
the host is the account id lower-cased with ``_`` -> ``-`` (``1234567_SB1`` ->
``https://1234567-sb1.suitetalk.api.netsuite.com/services/rest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from erp_operators import hook_base
from erp_operators.hook_base import ConnectionHook

if TYPE_CHECKING:
    import requests

    from erp_operators.netsuite.client import NetSuiteClient

# Cheap, permission-light endpoint used by test_connection (lists one record type's metadata).
TEST_ENDPOINT = "record/v1/metadata-catalog"
DEFAULT_PATH = "/services/rest"


def rest_base_url(account_id: str) -> str:
    """The SuiteTalk REST base URL of an account id (``1234567_SB1`` -> ``https://1234567-sb1...``)."""
    host = account_id.strip().lower().replace("_", "-")
    return f"https://{host}.suitetalk.api.netsuite.com/services/rest"


def normalize_base_url(host: str) -> str:
    """A host override as a REST base URL: ``https://`` and ``/services/rest`` added when missing."""
    return hook_base.normalize_base_url(host, DEFAULT_PATH)


@dataclass(frozen=True)
class NetSuiteConfig:
    """Everything needed to sign requests for one NetSuite account."""

    account_id: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str
    token_secret: str = field(repr=False)
    base_url: str
    timeout: float = 30.0
    concurrency_limit: int = 5
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    poll_interval: float = 1.0
    job_timeout: float = 15 * 60.0  # NetSuite times a request out after 15 minutes

    def __post_init__(self) -> None:
        missing = [
            label
            for label, value in (
                ("extra 'account_id'", self.account_id),
                ("login (consumer key)", self.consumer_key),
                ("password (consumer secret)", self.consumer_secret),
                ("extra 'token_id'", self.token_id),
                ("extra 'token_secret'", self.token_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"NetSuite connection is missing {', '.join(missing)}")
        if self.concurrency_limit < 1 or self.max_attempts < 1:
            raise ValueError("NetSuite connection: concurrency_limit and max_attempts must be at least 1")


ADVANCED_EXTRAS = {
    "max_attempts": int,
    "backoff_initial": float,
    "backoff_max": float,
    "poll_interval": float,
    "job_timeout": float,
}


def advanced_extras(extra: dict[str, Any], conn_id: str = "") -> dict[str, Any]:
    """The advanced extras present in ``extra``, typed (a bad value names the connection and key)."""
    values: dict[str, Any] = {}
    for name, kind in ADVANCED_EXTRAS.items():
        raw = extra.get(name)
        if raw in (None, ""):
            continue
        try:
            values[name] = kind(raw)
        except (TypeError, ValueError):
            raise ValueError(f"connection {conn_id!r} extra {name!r} must be a number, not {raw!r}") from None
    return values


def pool_slots(config: NetSuiteConfig, share: float = 1.0) -> int:
    """Airflow pool size for NetSuite writers: the account's concurrency limit (times ``share``).

    Each connector sends one request at a time, so a pool of this size keeps the sync within the
    account limit; pass ``share`` < 1 when other integrations use the same account.
    """
    return max(1, int(config.concurrency_limit * share))


class NetSuiteHook(ConnectionHook[NetSuiteConfig]):
    """Signed ``requests`` session for NetSuite's REST web services.

    :param netsuite_conn_id: Airflow connection id of conn type ``netsuite``.
    """

    conn_name_attr = "netsuite_conn_id"
    default_conn_name = "netsuite_default"
    conn_type = "netsuite"
    hook_name = "Oracle NetSuite (REST, TBA)"

    def __init__(self, netsuite_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(netsuite_conn_id, **kwargs)
        self._session: requests.Session | None = None
        self._client: NetSuiteClient | None = None

    @classmethod
    def from_config(cls, config: NetSuiteConfig) -> NetSuiteHook:
        """A hook that needs no Airflow connection (tests, CLI)."""
        hook = cls(netsuite_conn_id="")
        hook._config = config
        return hook

    def _build_config(self, conn: Any, extras: dict[str, Any]) -> NetSuiteConfig:
        hook_base.mask_secrets(conn.password, extras["token_secret"])
        account_id = (extras["account_id"] or "").strip()
        return NetSuiteConfig(
            account_id=account_id,
            consumer_key=conn.login or "",
            consumer_secret=conn.password or "",
            token_id=extras["token_id"] or "",
            token_secret=extras["token_secret"] or "",
            base_url=normalize_base_url(conn.host)
            if conn.host
            else (rest_base_url(account_id) if account_id else ""),
            timeout=extras["timeout"],
            concurrency_limit=extras["concurrency_limit"],
            **advanced_extras(conn.extra_dejson or {}, conn.conn_id),
        )

    def url(self, endpoint: str) -> str:
        """Absolute URL of an endpoint relative to ``/services/rest/`` (e.g. ``query/v1/suiteql``)."""
        return f"{self.config.base_url}/{endpoint.lstrip('/')}"

    def get_conn(self) -> NetSuiteClient:
        """The (cached) REST client of this account, built on first use."""
        if self._client is None:
            from erp_operators.netsuite.client import NetSuiteClient

            self._client = NetSuiteClient(self.config, self.session)
        return self._client

    def close(self) -> None:
        """Close the signed session; the next call builds a new one."""
        if self._session is not None:
            self._session.close()
        self._session = None
        self._client = None

    @property
    def session(self) -> requests.Session:
        """A ``requests.Session`` that signs every request with OAuth 1.0a HMAC-SHA256."""
        if self._session is None:
            import requests
            from requests_oauthlib import OAuth1

            cfg = self.config
            hook_base.mask_secrets(cfg.consumer_secret, cfg.token_secret)
            session = requests.Session()
            session.trust_env = False  # proxies from the environment must not capture a loopback sandbox
            session.auth = OAuth1(
                cfg.consumer_key,
                client_secret=cfg.consumer_secret,
                resource_owner_key=cfg.token_id,
                resource_owner_secret=cfg.token_secret,
                signature_method="HMAC-SHA256",
                realm=cfg.account_id,
            )
            session.headers.update({"Accept": "application/json", "Content-Type": "application/json"})
            self._session = session
        return self._session

    def test_connection(self) -> tuple[bool, str]:
        """Sign one cheap GET (the customer record's metadata) and report the HTTP outcome."""
        import requests

        try:
            cfg = self.config
            response = self.session.get(
                self.url(TEST_ENDPOINT), params={"select": "customer"}, timeout=cfg.timeout
            )
        except ValueError as exc:
            return False, str(exc)
        except requests.RequestException as exc:
            return False, f"Could not reach NetSuite at {self.config.base_url}: {type(exc).__name__}"
        if response.ok:
            return (
                True,
                f"Signed request to NetSuite account {cfg.account_id} succeeded (HTTP {response.status_code})",
            )
        return False, f"NetSuite answered HTTP {response.status_code}: {error_summary(response)}"


def error_summary(response: requests.Response) -> str:
    """``o:errorCode: detail`` from NetSuite's REST error body, or the start of the raw text."""
    from erp_operators.netsuite.client import error_details

    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    code, detail, _ = error_details(body)
    if code:
        return f"{code}: {detail}".strip()
    return detail or response.text[:200]
