"""The Streak HTTP client: one session, one rate limiter, and error handling decided in one place.

:meth:`StreakHttpClient.request` sends a call and classifies the outcome (as Meltano's RESTStream
does): 2xx returns the decoded JSON; 429, 408, 5xx, timeouts and dropped connections are retried
with exponential backoff and jitter (tenacity), honouring ``Retry-After``, for a bounded number of
attempts; any other status raises :class:`StreakAPIError` at once. Every retry is logged at WARNING
with the endpoint and status, never the API key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from streak_hooks.errors import StreakAPIError, StreakTransientError
from streak_hooks.ratelimit import RateLimiter, shared_limiter
from streak_hooks.settings import ClientSettings

log = logging.getLogger(__name__)

RETRIABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "streak-erp-sync/0.1 (+python-requests)"


class StreakHttpClient:
    """Sends Streak API calls for a :class:`ClientSettings`; the session is built on first use."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.limiter = limiter or shared_limiter(settings.base_url, settings.requests_per_second)
        self._sleep = sleep
        self._session: requests.Session | None = None
        self._backoff = wait_exponential_jitter(
            initial=settings.retry_min_wait, max=settings.retry_max_wait, jitter=settings.retry_min_wait
        )

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.auth = (self.settings.api_key, "")
            session.verify = self.settings.verify
            session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
            adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def url(self, endpoint: str) -> str:
        return f"{self.settings.base_url}{endpoint}"

    # -- the one place that decides retry / fail ---------------------------------------------
    def request(
        self,
        method: str,
        endpoint: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        """Send ``method endpoint`` (e.g. ``GET /v1/pipelines``) and return the decoded JSON.

        ``recover`` is for calls that are not idempotent: before a retry it is called and, when it
        returns something other than None (the earlier attempt did take effect), that is returned
        instead of sending again.
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(StreakTransientError),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        last: StreakTransientError | None = None
        try:
            for attempt in retrying:
                with attempt:
                    if recover is not None and attempt.retry_state.attempt_number > 1:
                        if last is not None and last.status is None:
                            # no answer (timed out, dropped): the server may still be doing it;
                            # give it a timeout's length before looking, so the look-up can see it
                            self._sleep(self.settings.timeout)
                        recovered = recover()
                        if recovered is not None:
                            return recovered
                    try:
                        return self._send_once(method, endpoint, operation, params, json)
                    except StreakTransientError as exc:
                        last = exc
                        raise
        except StreakTransientError as exc:
            exc.gave_up_after(retrying.statistics.get("attempt_number", 1))
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _send_once(self, method: str, endpoint: str, operation: str, params: Any, body: Any) -> Any:
        self.limiter.acquire()
        try:
            response = self.session.request(
                method, self.url(endpoint), params=params, json=body, timeout=self.settings.timeout
            )
        except requests.Timeout as exc:
            raise StreakTransientError(
                operation, method, endpoint, None, f"timed out ({type(exc).__name__})"
            ) from None
        except requests.ConnectionError as exc:
            reason = f"connection error ({type(exc).__name__}: {self._redact(_root_cause(exc))})"
            raise StreakTransientError(operation, method, endpoint, None, reason) from None
        if response.status_code in RETRIABLE_STATUSES:
            raise StreakTransientError(
                operation,
                method,
                endpoint,
                response.status_code,
                self._error_text(response),
                retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
            )
        if not response.ok:
            raise StreakAPIError(
                operation, method, endpoint, response.status_code, self._error_text(response)
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise StreakAPIError(
                operation,
                method,
                endpoint,
                response.status_code,
                "response is not JSON: " + self._snippet(response),
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server sent one (capped), else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.settings.max_retry_after)
        return self._backoff(state)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, StreakTransientError):
            status = exc.status if exc.status is not None else exc.streak_message
            log.warning(
                "Streak %s %s %s: %s on attempt %d/%d; retrying in %.2fs",
                exc.operation,
                exc.method,
                exc.endpoint,
                status,
                state.attempt_number,
                self.settings.max_retries + 1,
                delay,
            )

    # -- error text ---------------------------------------------------------------------------
    def _error_text(self, response: requests.Response) -> str:
        """Streak's ``error`` field when the body is its JSON error, else a short body snippet."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("error"):
            return self._redact(str(payload["error"]))
        return self._snippet(response) or response.reason or "no message"

    def _snippet(self, response: requests.Response) -> str:
        return self._redact(response.text[:300].strip())

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "***") if key else text


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's class name (e.g. ConnectionResetError), without URLs or headers."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    for arg in getattr(exc, "args", ()):
        reason = getattr(arg, "reason", None)
        if isinstance(reason, BaseException):
            seen = reason
    return type(seen).__name__
