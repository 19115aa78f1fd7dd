"""Client settings for Streak, built in one place from a connection or from plain parameters.

Connection mapping: password = API key (sent as the Basic-auth username with a blank password),
host = base URL (default ``https://api.streak.com/api``; ``https://`` is added when the host has no
scheme, ``/api`` when it has no path). Extras: ``timeout``, ``max_retries``,
``requests_per_second``, ``verify``, ``retry_min_wait``, ``retry_max_wait``, ``max_retry_after``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from streak_hooks.errors import StreakConfigError

DEFAULT_BASE_URL = "https://api.streak.com/api"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientSettings:
    """Everything the HTTP client needs; ``api_key`` is kept out of ``repr``."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    timeout: float = 30.0
    max_retries: int = 5
    requests_per_second: float = 10.0
    verify: bool | str = True
    retry_min_wait: float = 1.0
    retry_max_wait: float = 60.0
    max_retry_after: float = 300.0

    @classmethod
    def build(
        cls,
        *,
        host: str | None,
        api_key: str | None,
        extras: Mapping[str, Any] | None = None,
        port: int | None = None,
        schema: str | None = None,
        source: str = "parameters",
    ) -> ClientSettings:
        """Validate and convert; ``source`` names the connection in error messages."""
        if not api_key:
            raise StreakConfigError(
                f"Streak {source}: no API key (put it in the connection's password field)"
            )
        values: dict[str, Any] = {"base_url": normalize_base_url(host, port, schema), "api_key": api_key}
        converters = {
            "timeout": _positive_float,
            "max_retries": _non_negative_int,
            "requests_per_second": _non_negative_float,
            "verify": _verify,
            "retry_min_wait": _non_negative_float,
            "retry_max_wait": _non_negative_float,
            "max_retry_after": _non_negative_float,
        }
        for extra_name, raw in (extras or {}).items():
            name = extra_name.removeprefix("extra__streak__")  # the older UI's prefixed form
            if name not in converters:
                log.warning("Streak %s: ignoring unknown extra %r", source, name)
                continue
            if raw is None or raw == "":
                continue
            try:
                values[name] = converters[name](raw)
            except (TypeError, ValueError):
                raise StreakConfigError(
                    f"Streak {source}: extra {name!r} has an invalid value {raw!r} ({converters[name].__doc__})"
                ) from None
        return cls(**values)


def normalize_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """``api.streak.com`` -> ``https://api.streak.com/api``; a full URL is kept (minus a trailing /)."""
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/") or (f"/{schema.strip('/')}" if schema else "/api")
    return f"{parts.scheme}://{netloc}{path}"


def _positive_float(raw: Any) -> float:
    """a number > 0"""
    value = float(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _non_negative_float(raw: Any) -> float:
    """a number >= 0"""
    value = float(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _non_negative_int(raw: Any) -> int:
    """a whole number >= 0"""
    if isinstance(raw, float) and not raw.is_integer():
        raise ValueError(raw)
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _verify(raw: Any) -> bool | str:
    """true, false or a CA bundle path"""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip()
    if text.lower() in {"true", "1", "yes"}:
        return True
    if text.lower() in {"false", "0", "no"}:
        return False
    if not text:
        raise ValueError(raw)
    return text
