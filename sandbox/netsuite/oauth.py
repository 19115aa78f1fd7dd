"""Token-based authentication: OAuth 1.0a with HMAC-SHA256, checked on every API request.

The signature base string is rebuilt from the request exactly as RFC 5849 says (method, base
string URI from the ``Host`` header, sorted query + ``oauth_*`` parameters; a JSON body is not
signed) and compared with ``oauth_signature``. The ``realm`` must be the account id as configured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from oauthlib.oauth1.rfc5849 import signature, utils

from sandbox.common.httpd import Request

MAX_CLOCK_SKEW = 300  # seconds an oauth_timestamp may be away from the server clock
MAX_NONCES = 10_000  # nonces kept before those too old to pass the clock check are forgotten


@dataclass
class TBACredentials:
    """One integration record + access token of one account."""

    account_id: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str
    token_secret: str = field(repr=False)


class AuthFailure(Exception):
    """Why a request's OAuth header was refused (kept for the sandbox's log, not sent)."""


def verify(
    request: Request, creds: TBACredentials, nonces: set[tuple[int, str]] | None = None, scheme: str = "http"
) -> None:
    """Raise :class:`AuthFailure` unless ``request`` carries a valid TBA signature for ``creds``.

    ``nonces`` (when given) remembers the nonces seen, so a replayed request is refused; past
    :data:`MAX_NONCES` the ones older than the clock-skew window are dropped (a long-running sandbox
    does not grow without bound).
    """
    header = request.header("authorization") or ""
    if not header.startswith("OAuth "):
        raise AuthFailure("no OAuth Authorization header")
    try:
        oauth = {key: utils.unescape(value) for key, value in utils.parse_authorization_header(header)}
    except (ValueError, TypeError) as exc:
        raise AuthFailure(f"malformed OAuth header: {exc}") from exc
    if oauth.get("realm") != creds.account_id:
        raise AuthFailure(f"realm {oauth.get('realm')!r} is not account {creds.account_id!r}")
    if oauth.get("oauth_signature_method") != "HMAC-SHA256":
        raise AuthFailure(f"signature method {oauth.get('oauth_signature_method')!r} is not HMAC-SHA256")
    if oauth.get("oauth_consumer_key") != creds.consumer_key or oauth.get("oauth_token") != creds.token_id:
        raise AuthFailure("unknown consumer key or token id")
    for required in ("oauth_nonce", "oauth_timestamp", "oauth_signature"):
        if not oauth.get(required):
            raise AuthFailure(f"{required} missing")
    try:
        stamp = int(oauth["oauth_timestamp"])
    except ValueError as exc:
        raise AuthFailure("oauth_timestamp is not a number") from exc
    if abs(time.time() - stamp) > MAX_CLOCK_SKEW:
        raise AuthFailure("stale oauth_timestamp")
    query = urlencode([(k, v) for k, values in request.query.items() for v in values])
    params = signature.collect_parameters(
        uri_query=query, body=[], headers={"Authorization": header}, exclude_oauth_signature=True
    )
    host = request.header("host") or "127.0.0.1"
    uri = signature.base_string_uri(f"{scheme}://{host}{request.path}")
    base = signature.signature_base_string(request.method, uri, signature.normalize_parameters(params))
    expected = signature.sign_hmac_sha256(base, creds.consumer_secret, creds.token_secret)
    if not signature.safe_string_equals(expected, oauth["oauth_signature"]):
        raise AuthFailure("signature does not match")
    if nonces is not None:
        nonce = (stamp, oauth["oauth_nonce"])
        if nonce in nonces:
            raise AuthFailure("replayed oauth_nonce")
        if len(nonces) >= MAX_NONCES:  # a replay of these would fail the clock check anyway
            cutoff = time.time() - MAX_CLOCK_SKEW
            nonces.difference_update([seen for seen in nonces if seen[0] < cutoff])
        nonces.add(nonce)
