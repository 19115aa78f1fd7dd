"""OAuth tokens for one QBO realm, shared by every task process through the state store.

Intuit rotates the refresh token: once a refresh returns a new one, the old one is dead
(``invalid_grant``). So every refresh happens under ``store.token_lock(config.token_name)``:
the stored tokens are re-read inside the lock and, if another process already rotated them,
theirs are used instead of refreshing again. The new refresh token is written before the lock
is released. A rejected refresh token is remembered, so later calls (in any process) fail with
:class:`~erp_operators.errors.ERPAuthError` without asking Intuit again.

The stored value is JSON: ``refresh_token``, ``access_token``, ``expires_at`` (epoch seconds),
``seed`` (fingerprint of the connection's refresh token, so a re-authorized connection wins) and
``dead_refresh_token`` (fingerprint of a token Intuit refused).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any, Protocol

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError

from erp_operators.errors import ERPAuthError, ERPFatalError, ERPRetriableError
from erp_operators.quickbooks.config import QuickBooksConfig

log = logging.getLogger(__name__)

EXPIRY_MARGIN = 120.0  # refresh this many seconds before the access token's stated expiry


class TokenStore(Protocol):
    """The part of :class:`sync_core.state.StateStore` this module uses."""

    def get_token(self, name: str) -> str | None: ...

    def token_lock(self, name: str) -> Any: ...


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def reauthorize_message(config: QuickBooksConfig, detail: str) -> str:
    return (
        f"re-authorize QuickBooks Online for realm {config.realm_id}: {detail}. "
        "Run the OAuth consent flow again and put the new refresh token in the connection's "
        "'refresh_token' extra."
    )


class TokenKeeper:
    """Hands out a valid access token for one realm; refreshes it once per rejection."""

    def __init__(self, config: QuickBooksConfig, store: TokenStore) -> None:
        self.config = config
        self.store = store
        self._auth_client: AuthClient | None = None
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._auth_error: ERPAuthError | None = None
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------------
    def access_token(self) -> str:
        """A usable access token: the cached one, the stored one, or a freshly refreshed one."""
        with self._lock:
            if self._auth_error is not None:
                raise self._auth_error
            if self._access_token and time.time() < self._expires_at - EXPIRY_MARGIN:
                return self._access_token
            return self._obtain(rejected=None)

    def renew(self, rejected: str) -> str:
        """The API said 401 to ``rejected``: get another token (someone else's, or refresh)."""
        with self._lock:
            if self._auth_error is not None:
                raise self._auth_error
            if self._access_token and self._access_token != rejected:
                return self._access_token  # another thread already renewed
            return self._obtain(rejected=rejected)

    # -- internals ------------------------------------------------------------------------------
    def _auth(self) -> AuthClient:
        if self._auth_client is None:
            try:
                client = AuthClient(
                    self.config.client_id,
                    self.config.client_secret,
                    self.config.redirect_uri,
                    environment=self.config.discovery_url,
                )
            except AuthClientError as exc:
                raise ERPRetriableError(
                    f"QuickBooks OAuth discovery {self.config.discovery_url} answered {exc.status_code}",
                    status=exc.status_code,
                ) from exc
            except requests.RequestException as exc:
                raise ERPRetriableError(f"QuickBooks OAuth discovery unreachable: {exc}") from exc
            self._auth_client = client
        return self._auth_client

    def _obtain(self, rejected: str | None) -> str:
        failure: Exception | None = None
        with self.store.token_lock(self.config.token_name) as tok:
            blob: dict[str, Any] = json.loads(tok.value) if tok.value else {}
            seed = fingerprint(self.config.refresh_token) if self.config.refresh_token else ""
            if seed and blob.get("seed") != seed:
                # first use, or the connection was re-authorized with a new refresh token
                blob = {"seed": seed, "refresh_token": self.config.refresh_token}
            stored_access = blob.get("access_token")
            if (
                stored_access
                and stored_access != rejected
                and time.time() < float(blob.get("expires_at", 0)) - EXPIRY_MARGIN
            ):
                self._use(stored_access, float(blob["expires_at"]))
                return stored_access
            refresh_token = blob.get("refresh_token") or ""
            if not refresh_token:
                failure = ERPAuthError(reauthorize_message(self.config, "no refresh token is configured"))
            elif blob.get("dead_refresh_token") == fingerprint(refresh_token):
                failure = ERPAuthError(
                    reauthorize_message(self.config, "the refresh token was refused earlier")
                )
            else:
                failure = self._refresh_into(blob, refresh_token)
                _mask(blob.get("refresh_token"), blob.get("access_token"))  # rotated: new secrets
                tok.set(json.dumps(blob))  # persisted before the lock is released
        if failure is not None:
            if isinstance(failure, ERPAuthError):
                self._auth_error = failure
            raise failure
        self._use(blob["access_token"], float(blob["expires_at"]))
        return blob["access_token"]

    def _refresh_into(self, blob: dict[str, Any], refresh_token: str) -> Exception | None:
        """Refresh with Intuit and update ``blob``; returns the failure instead of raising."""
        try:
            auth = self._auth()
            auth.refresh(refresh_token=refresh_token)
        except AuthClientError as exc:
            body = (
                exc.content.decode("utf-8", "replace") if isinstance(exc.content, bytes) else str(exc.content)
            )
            if "invalid_grant" in body:
                blob["dead_refresh_token"] = fingerprint(refresh_token)
                blob.pop("access_token", None)
                log.error("QuickBooks realm %s: refresh token refused (invalid_grant)", self.config.realm_id)
                return ERPAuthError(
                    reauthorize_message(self.config, "the refresh token was refused (invalid_grant)"),
                    status=exc.status_code,
                    code="invalid_grant",
                )
            if exc.status_code == 429 or exc.status_code >= 500:
                return ERPRetriableError(
                    f"QuickBooks token endpoint answered {exc.status_code}", status=exc.status_code
                )
            if exc.status_code == 401:
                return ERPAuthError(
                    reauthorize_message(self.config, "the client id/secret were refused (invalid_client)"),
                    status=401,
                )
            return ERPFatalError(f"QuickBooks token endpoint answered {exc.status_code}: {body[:200]}")
        except ERPRetriableError as exc:
            return exc
        except requests.RequestException as exc:
            return ERPRetriableError(f"QuickBooks token endpoint unreachable: {exc}")
        expires_in = float(getattr(auth, "expires_in", None) or 3600)
        blob.update(
            refresh_token=auth.refresh_token or refresh_token,
            access_token=auth.access_token,
            expires_at=time.time() + expires_in,
            refreshed_at=time.time(),
        )
        blob.pop("dead_refresh_token", None)
        log.info("QuickBooks realm %s: access token refreshed; refresh token persisted", self.config.realm_id)
        return None

    def _use(self, access_token: str, expires_at: float) -> None:
        _mask(access_token)
        self._access_token = access_token
        self._expires_at = expires_at


def _mask(*secrets: str | None) -> None:
    """Register tokens with Airflow's secrets masker, so a log line that carried one shows ``***``."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)


def stored_refresh_token(store: TokenStore, config: QuickBooksConfig) -> str | None:
    """The newest refresh token persisted for this realm (for tests and the CLI)."""
    raw = store.get_token(config.token_name)
    return json.loads(raw).get("refresh_token") if raw else None
