"""Fault matrix, OAuth: an access token that expires in the middle of the invoice batch, a refresh
token rotated by Intuit, and a revoked refresh token (one clear "re-authorize" failure, no retry
storm: the token endpoint is asked once, then never again until the connection is re-authorized;
the failed run gives its deals back, so the very next run after the re-authorization syncs them)."""

from __future__ import annotations

import base64
import json
import os
import threading

import pytest
import requests

from sandbox.quickbooks.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REALM_ID,
    DEFAULT_REFRESH_TOKEN,
)
from tests.faults.support import (
    TOKEN_PATH,
    assert_synced_once,
    assert_untouched,
    create_box,
    invoices_by_box,
    quarantine_rows,
    run_dag,
    seeded_bad,
    token_calls,
    won_box_keys,
)

pytestmark = pytest.mark.slow
TOKEN_NAME = f"quickbooks:{DEFAULT_REALM_ID}:oauth"
GOOD = {"Product": "Widget Lite", "Quantity": "3", "Unit Price": "199.00", "Deal Value": "597.00"}


def _valid_won(env) -> set[str]:
    won = set(won_box_keys(env.streak))
    return won - seeded_bad(env.streak)


def _new_won_boxes(env, n: int = 2) -> list[str]:
    orgs = [o["key"] for o in env.streak.app.state_snapshot()["organizations"]]
    return [
        create_box(env.streak, f"Late deal {i}", fields=GOOD, organization_keys=[orgs[-2 - i]])
        for i in range(n)
    ]


def _stored(env) -> dict:
    return json.loads(env.store.get_token(TOKEN_NAME))


def test_access_token_expires_mid_batch(env, monkeypatch: pytest.MonkeyPatch) -> None:
    app = env.qbo.app
    original = app.dispatch
    fired = threading.Event()

    def dispatch(request):
        # every access token dies just as the first invoice batch arrives
        if not fired.is_set() and request.path.endswith("/batch") and b'"Invoice"' in request.body:
            fired.set()
            app.oauth.expire_access_tokens()
        return original(request)

    monkeypatch.setattr(app, "dispatch", dispatch)
    assert run_dag().state == "success"
    assert fired.is_set()
    tokens = app.state_snapshot()["tokens"]
    assert app.state_snapshot()["counters"]["responses_401"] >= 1
    assert token_calls(env.qbo) == 2  # the first token of the run, and one renewal: no storm
    assert tokens["refreshes"] == 2 and tokens["invalid_grants"] == 0
    assert _stored(env)["refresh_token"] == tokens["refresh_token"]  # the rotated one is kept
    assert_synced_once(env.qbo, env.streak, env.store, _valid_won(env))


def test_refresh_token_rotated(env) -> None:
    assert run_dag().state == "success"
    first = env.qbo.app.state_snapshot()["tokens"]
    assert first["refresh_token"] != DEFAULT_REFRESH_TOKEN  # Intuit rotated it; the initial one is dead
    assert _stored(env)["refresh_token"] == first["refresh_token"]
    # the access token dies; the next run (new processes) must refresh with the rotated token from
    # the state store, not the connection's superseded initial one
    requests.post(env.qbo.url + "/__admin/tokens/expire", timeout=10).raise_for_status()
    late = _new_won_boxes(env)
    calls = token_calls(env.qbo)
    assert run_dag().state == "success"
    second = env.qbo.app.state_snapshot()["tokens"]
    assert token_calls(env.qbo) - calls == 1
    assert second["invalid_grants"] == 0 and second["refreshes"] == first["refreshes"] + 1
    assert second["refresh_token"] not in (first["refresh_token"], DEFAULT_REFRESH_TOKEN)
    assert _stored(env)["refresh_token"] == second["refresh_token"]
    assert_synced_once(env.qbo, env.streak, env.store, _valid_won(env))
    assert set(late) <= _valid_won(env)


def _reauthorize(env, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the user does: the consent flow again, and the new refresh token into the connection."""
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    answer = requests.post(
        env.qbo.url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": "AB-consent", "redirect_uri": "http://localhost"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    answer.raise_for_status()
    conn = json.loads(os.environ["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn["extra"]["refresh_token"] = answer.json()["refresh_token"]
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", json.dumps(conn))
    return answer.json()["refresh_token"]


def test_refresh_token_revoked_fails_once_then_recovers(env, monkeypatch, capfd) -> None:
    assert run_dag().state == "success"
    synced_before = _valid_won(env)
    invoices_before = len(invoices_by_box(env.qbo))
    requests.post(env.qbo.url + "/__admin/tokens/revoke", timeout=10).raise_for_status()
    requests.post(env.qbo.url + "/__admin/tokens/expire", timeout=10).raise_for_status()
    late = _new_won_boxes(env)
    calls = token_calls(env.qbo)
    capfd.readouterr()

    result = run_dag()

    out = "".join(capfd.readouterr())
    assert result.state == "failed"
    # one request to the token endpoint (invalid_grant), remembered: no retry storm
    assert token_calls(env.qbo) - calls == 1
    assert env.qbo.app.state_snapshot()["tokens"]["invalid_grants"] == 1
    failed = {t: tries for t, (state, tries) in result.tasks.items() if state == "failed"}
    assert len(failed) == 1 and all(tries == 1 for tries in failed.values()), result.tasks  # no retries
    assert result.tasks["create_documents"][0] == "upstream_failed"
    assert f"re-authorize QuickBooks Online for realm {DEFAULT_REALM_ID}" in out
    assert len(invoices_by_box(env.qbo)) == invoices_before
    assert_untouched(env.qbo, env.streak, set(late))
    assert set(late) & set(quarantine_rows(env.store)) == set()  # not quarantined: pending a retry
    assert {e.box_key for e in env.store.pending_stage_events()} == set(late)
    # the failed run gave its claims back (teardown): any new run may take them now, not in an hour
    assert result.tasks["release_claims"][0] == "success"
    claimable = env.store.pending_stage_events(claimable_by="next-run", lease_seconds=3600)
    assert {e.box_key for e in claimable} == set(late)

    # the user re-authorizes; the very next run (the configured one-hour lease) syncs the rest
    _reauthorize(env, monkeypatch)
    assert run_dag().state == "success"
    assert_synced_once(env.qbo, env.streak, env.store, synced_before | set(late))
    assert env.store.pending_stage_events() == []
