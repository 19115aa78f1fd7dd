"""Intuit OAuth 2.0 emulation: discovery document, token endpoint with rotating refresh tokens.

Every successful refresh issues a new refresh token and supersedes the old one, which then answers
``invalid_grant`` (Intuit may keep the old value alive for a while; the sandbox is strict so that
a client which forgets to persist the new token fails in tests, not in production).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

ACCESS_TOKEN_LIFETIME = 3600
REFRESH_TOKEN_LIFETIME = 8726400
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}


def discovery_document(base_url: str) -> dict[str, Any]:
    """The OpenID discovery document, every endpoint pointing at this server."""
    return {
        "issuer": f"{base_url}/op/v1",
        "authorization_endpoint": f"{base_url}/connect/oauth2",
        "token_endpoint": f"{base_url}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base_url}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base_url}/oauth2/v1/tokens/revoke",
        "jwks_uri": f"{base_url}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint answers: (HTTP status, JSON body)."""

    status: int
    body: dict[str, Any]


class TokenAuthority:
    """Holds the one live refresh token and the issued access tokens of the sandbox app."""

    def __init__(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self._initial_refresh_token = refresh_token
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.refresh_token: str | None = self._initial_refresh_token
            self.superseded: set[str] = set()
            self.access_tokens: dict[str, float] = {}  # token -> monotonic expiry
            self.access_lifetime = float(ACCESS_TOKEN_LIFETIME)
            self.refreshes = 0
            self.invalid_grants = 0

    # -- token endpoint -----------------------------------------------------------------------
    def client_authenticated(self, authorization: str | None, form: dict[str, str]) -> bool:
        """Basic client auth (what intuit-oauth sends), or client_id/client_secret in the form."""
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
            except ValueError:
                return False
            client_id, _, secret = decoded.partition(":")
            return client_id == self.client_id and secret == self.client_secret
        return form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret

    def grant(self, form: dict[str, str]) -> TokenGrant:
        grant_type = form.get("grant_type", "")
        with self._lock:
            if grant_type == "refresh_token":
                presented = form.get("refresh_token", "")
                if not presented or presented != self.refresh_token:
                    self.invalid_grants += 1
                    return TokenGrant(400, dict(INVALID_GRANT))
                self.superseded.add(presented)
            elif grant_type == "authorization_code":
                if not form.get("code"):
                    return TokenGrant(
                        400, {"error": "invalid_request", "error_description": "code is missing"}
                    )
                if self.refresh_token:
                    self.superseded.add(self.refresh_token)
            else:
                return TokenGrant(400, {"error": "unsupported_grant_type"})
            self.refreshes += 1
            self.refresh_token = f"RT-{secrets.token_hex(12)}"
            access_token = f"AT-{secrets.token_hex(16)}"
            self.access_tokens[access_token] = time.monotonic() + self.access_lifetime
            body = {
                "access_token": access_token,
                "refresh_token": self.refresh_token,
                "token_type": "bearer",
                "expires_in": int(self.access_lifetime),
                "x_refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
            }
            return TokenGrant(200, body)

    def revoke(self, token: str | None = None) -> None:
        """Revoke the refresh token (or the given one) and every access token issued so far."""
        with self._lock:
            if token is None or token == self.refresh_token or token in self.access_tokens:
                if self.refresh_token:
                    self.superseded.add(self.refresh_token)
                self.refresh_token = None
                self.access_tokens.clear()

    # -- API side -----------------------------------------------------------------------------
    def check_access(self, authorization: str | None) -> str | None:
        """None when the bearer token is valid, else the 401 ``detail`` text."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return "Authorization header missing or not a Bearer token"
        token = authorization[7:].strip()
        with self._lock:
            expiry = self.access_tokens.get(token)
        if expiry is None:
            return f"Token revoked or invalid: {token[:12]}..."
        if time.monotonic() >= expiry:
            return f"Token expired: {token[:12]}..."
        return None

    def expire_access_tokens(self) -> int:
        with self._lock:
            now = time.monotonic()
            for token in self.access_tokens:
                self.access_tokens[token] = now
            return len(self.access_tokens)

    def set_access_lifetime(self, seconds: float) -> None:
        with self._lock:
            self.access_lifetime = float(seconds)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            return {
                "refresh_token": self.refresh_token,
                "superseded_refresh_tokens": len(self.superseded),
                "access_tokens_live": sum(1 for e in self.access_tokens.values() if e > now),
                "access_token_lifetime": self.access_lifetime,
                "refreshes": self.refreshes,
                "invalid_grants": self.invalid_grants,
            }
