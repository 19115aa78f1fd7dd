"""Exceptions raised by the Streak client: fatal API errors, exhausted transient errors, bad config.

Messages name the hook method, HTTP method, endpoint, status and Streak's own ``error`` text; they
never contain the API key (endpoints carry no credentials and response text is redacted).
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class StreakError(AirflowException):
    """Base of every error from a Streak call; carries where it happened and what Streak said."""

    def __init__(
        self,
        operation: str,
        method: str,
        endpoint: str,
        status: int | None,
        message: str,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.operation = operation
        self.method = method
        self.endpoint = endpoint
        self.status = status
        self.streak_message = message
        self.retry_after = retry_after
        self.attempts = 1
        super().__init__(self._describe())

    def _describe(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"Streak {self.operation} failed: {self.method} {self.endpoint} -> {status}: {self.streak_message}"
        return text + (f" (gave up after {self.attempts} attempts)" if self.attempts > 1 else "")

    def gave_up_after(self, attempts: int) -> None:
        """Record how many attempts were made; the message (``args``) says so from now on."""
        self.attempts = attempts
        self.args = (self._describe(),)


class StreakAPIError(StreakError, AirflowFailException):
    """A fatal answer (400/401/403/404/...): retrying the same request cannot help."""


class StreakTransientError(StreakError):
    """429, 5xx, a timeout or a dropped connection; raised only once the retries are used up.

    It is not an ``AirflowFailException``, so Airflow's own task retries still apply.
    """


class StreakConfigError(AirflowFailException):
    """The connection or parameters cannot make a working client (no API key, bad extra, ...)."""
