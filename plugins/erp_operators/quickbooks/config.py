"""QuickBooks Online connection settings, parsed from an Airflow connection in one place.

Connection fields: ``login`` = OAuth client id, ``password`` = client secret. The extras declared
in ``provider_info`` (``realm_id`` .. ``discovery_url``) are read with
:func:`erp_operators.provider_info.read_extras` (plain or ``extra__quickbooks__*`` keys); the
advanced ones below them are read from the extra JSON directly. Extras:

=================  =====================================================================
``realm_id``        the QBO company id (required)
``refresh_token``   the initial refresh token; rotated ones live in the state store
``environment``     ``production`` (default) or ``sandbox``: picks Intuit's URLs
``api_base_url``    override the API host, e.g. ``http://127.0.0.1:8402`` (``/v3`` is added)
``discovery_url``   override the OAuth discovery document (a local sandbox is reached like Intuit)
``minorversion``    default 75 (the minimum Intuit accepts)
``redirect_uri``    only used for the consent flow; defaults to a localhost placeholder
``time_scale``      divide every minute of the limiter and every backoff by this (tests)
``limits``          ``{requests_per_minute, concurrent_requests, batch_per_minute, time_scale,
                    max_attempts, backoff_initial, backoff_max, timeout, batch_size,
                    single_channel, window_margin, margin_seconds}``
=================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any

from erp_operators.provider_info import read_extras

API_URLS = {
    "production": "https://quickbooks.api.intuit.com/v3",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com/v3",
}
MIN_MINOR_VERSION = 75
DEFAULT_REDIRECT_URI = "http://localhost:8080/callback"
CONN_TYPE = "quickbooks"
_ENVIRONMENT_KEYS = ("environment", f"extra__{CONN_TYPE}__environment")


@dataclass(frozen=True, slots=True)
class QuickBooksLimits:
    """Intuit's published per-realm limits plus our retry policy (seconds are real-time seconds)."""

    requests_per_minute: int = 500
    concurrent_requests: int = 10
    batch_per_minute: int = 40
    batch_size: int = 30
    time_scale: float = 1.0  # >1 makes a "minute" shorter, to match a time-scaled sandbox
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0  # Intuit: wait 60 s after a 429
    timeout: float = 120.0  # Intuit times requests out at 120 s
    # budgets are counted over a slightly longer minute, so network jitter cannot push a request
    # into Intuit's previous window: 2% of the minute, at least ``margin_seconds`` (real seconds)
    single_channel: bool = True  # creates also go one by one while the batch channel is used up
    window_margin: float = 0.02
    margin_seconds: float = 0.25

    @property
    def minute(self) -> float:
        return 60.0 / self.time_scale

    @property
    def budget_window(self) -> float:
        return self.minute + max(self.minute * self.window_margin, self.margin_seconds)

    @property
    def records_per_minute(self) -> int:
        """The ceiling for creates: full batches on the batch channel plus singles for the rest."""
        return self.batch_per_minute * self.batch_size + self.requests_per_minute - self.batch_per_minute

    def scaled(self, seconds: float) -> float:
        return seconds / self.time_scale


@dataclass(frozen=True, slots=True)
class QuickBooksConfig:
    """Everything needed to reach one QBO company."""

    client_id: str
    client_secret: str = field(repr=False)
    realm_id: str
    refresh_token: str = field(default="", repr=False)
    environment: str = "production"
    api_base_url: str = ""
    discovery_url: str = ""
    minorversion: int = MIN_MINOR_VERSION
    redirect_uri: str = DEFAULT_REDIRECT_URI
    limits: QuickBooksLimits = field(default_factory=QuickBooksLimits)

    def __post_init__(self) -> None:
        from intuitlib.config import DISCOVERY_URL

        env = self.environment.strip().lower() or "production"
        if env not in API_URLS:
            raise ValueError(
                f"QuickBooks environment must be production or sandbox, not {self.environment!r}"
            )
        if not self.realm_id:
            raise ValueError("QuickBooks connection: extra 'realm_id' (the company id) is required")
        if not self.client_id or not self.client_secret:
            raise ValueError(
                "QuickBooks connection: login (client id) and password (client secret) are required"
            )
        if self.minorversion < MIN_MINOR_VERSION:
            raise ValueError(
                f"QuickBooks minorversion must be >= {MIN_MINOR_VERSION}, not {self.minorversion}"
            )
        object.__setattr__(self, "environment", env)
        object.__setattr__(self, "api_base_url", normalize_api_url(self.api_base_url or API_URLS[env]))
        object.__setattr__(self, "discovery_url", self.discovery_url or DISCOVERY_URL[env])

    @property
    def token_name(self) -> str:
        """The state-store token row holding this realm's rotating OAuth tokens."""
        return f"quickbooks:{self.realm_id}:oauth"


def normalize_api_url(url: str) -> str:
    """``http://host:port`` or ``.../v3`` -> ``.../v3`` without a trailing slash."""
    url = url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"


def parse_limits(extra: Mapping[str, Any]) -> QuickBooksLimits:
    raw = dict(extra.get("limits") or {})
    if "time_scale" in extra and "time_scale" not in raw:
        raw["time_scale"] = extra["time_scale"]
    known = {f.name for f in fields(QuickBooksLimits)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"QuickBooks extra 'limits': unknown keys {sorted(unknown)}; known: {sorted(known)}")
    kinds = {name: type(getattr(QuickBooksLimits(), name)) for name in known}
    return QuickBooksLimits(**{key: _convert(kinds[key], value) for key, value in raw.items()})


def _convert(kind: type, value: Any) -> Any:
    if kind is bool and isinstance(value, str):  # "false" from a form field is False
        return value.strip().lower() in ("1", "true", "yes", "on")
    return kind(value)


def config_from_connection(
    login: str | None, password: str | None, extra: Mapping[str, Any], conn_id: str | None = None
) -> QuickBooksConfig:
    """The one parser of a ``quickbooks`` connection's fields and extras."""
    extra = dict(extra or {})
    for key in _ENVIRONMENT_KEYS:  # "Sandbox" is accepted, as the config itself accepts it
        if isinstance(extra.get(key), str):
            extra[key] = extra[key].strip().lower()
    declared = read_extras(SimpleNamespace(conn_id=conn_id, extra_dejson=extra), CONN_TYPE)
    return QuickBooksConfig(
        client_id=login or "",
        client_secret=password or "",
        realm_id=declared["realm_id"] or "",
        refresh_token=declared["refresh_token"] or "",
        environment=declared["environment"],
        api_base_url=declared["api_base_url"] or "",
        discovery_url=declared["discovery_url"] or "",
        minorversion=int(extra.get("minorversion") or MIN_MINOR_VERSION),
        redirect_uri=str(extra.get("redirect_uri") or DEFAULT_REDIRECT_URI),
        limits=parse_limits(extra),
    )
