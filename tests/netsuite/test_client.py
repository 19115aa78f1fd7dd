"""NetSuiteHook + NetSuiteClient against the live sandbox: signing, errors, retries, SuiteQL, batch."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from erp_operators.errors import ERPAuthError, ERPRetriableError, ERPThrottledError, ERPValidationError
from erp_operators.netsuite.client import NetSuiteClient, error_details, make_error
from erp_operators.netsuite.hook import NetSuiteHook, pool_slots
from erp_operators.receipts import ErrorClass
from sandbox.netsuite.app import DEFAULT_ACCOUNT_ID, DEFAULT_CONSUMER_KEY, DEFAULT_TOKEN_ID
from tests.netsuite.ns_admin import NSSandbox


def client(ns: NSSandbox, **config: object) -> NetSuiteClient:
    return NetSuiteHook.from_config(ns.config(**config)).get_conn()


def test_connection_extras_build_the_client_lazily(ns: NSSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NETSUITE_DEFAULT",
        json.dumps(
            {
                "conn_type": "netsuite",
                "host": ns.url,
                "login": DEFAULT_CONSUMER_KEY,
                "password": "sandbox-consumer-secret",
                "extra": {
                    "account_id": DEFAULT_ACCOUNT_ID,
                    "token_id": DEFAULT_TOKEN_ID,
                    "token_secret": "sandbox-token-secret",
                    "concurrency_limit": "15",
                    "max_attempts": 3,
                    "job_timeout": "30",
                },
            }
        ),
    )
    hook = NetSuiteHook()
    assert hook._client is None
    cfg = hook.config
    assert cfg.base_url == f"{ns.url}/services/rest" and cfg.concurrency_limit == 15 and cfg.max_attempts == 3
    assert cfg.job_timeout == 30.0
    assert pool_slots(cfg) == 15 and pool_slots(cfg, share=0.5) == 7
    conn = hook.get_conn()
    assert conn is hook.get_conn() and conn.auth.client.realm == DEFAULT_ACCOUNT_ID
    assert conn.auth.client.signature_method == "HMAC-SHA256"
    assert hook.test_connection()[0]
    monkeypatch.setenv(
        "AIRFLOW_CONN_NETSUITE_DEFAULT",
        json.dumps(
            {
                "conn_type": "netsuite",
                "login": "k",
                "password": "s",
                "extra": {
                    "account_id": "1",
                    "token_id": "t",
                    "token_secret": "x",
                    "concurrency_limit": "many",
                },
            }
        ),
    )
    with pytest.raises(ValueError, match="extra 'concurrency_limit' must be a number, not 'many'"):
        _ = NetSuiteHook().config


def test_error_details_are_parsed_into_a_clear_message() -> None:
    body = {
        "type": "x",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "Please enter a value for [entity].",
                "o:errorCode": "USER_ERROR",
                "o:errorPath": "entity",
            }
        ],
    }
    assert error_details(body) == ("USER_ERROR", "Please enter a value for [entity].", "entity")
    exc = make_error(400, body, "salesOrder for box agxzbx000011")
    assert isinstance(exc, ERPValidationError)
    assert exc.message == (
        "NetSuite refused salesOrder for box agxzbx000011: Please enter a value for [entity]. "
        "(USER_ERROR 400, field entity)"
    )
    limit = make_error(
        400, {"o:errorDetails": [{"detail": "busy", "o:errorCode": "SSS_REQUEST_LIMIT_EXCEEDED"}]}, "x"
    )
    assert isinstance(limit, ERPThrottledError) and limit.error_class is ErrorClass.RETRIABLE
    assert make_error(503, {"title": "Service Unavailable"}, "x").error_class is ErrorClass.RETRIABLE
    assert make_error(409, {}, "x").error_class is ErrorClass.VALIDATION
    two_fields = {
        "o:errorDetails": [
            {
                "detail": "Please enter a value for [entity].",
                "o:errorCode": "USER_ERROR",
                "o:errorPath": "entity",
            },
            {
                "detail": "Please enter a value for [item].",
                "o:errorCode": "USER_ERROR",
                "o:errorPath": "item",
            },
        ]
    }
    assert make_error(400, two_fields, "salesOrder for box b1").message == (
        "NetSuite refused salesOrder for box b1: Please enter a value for [entity].; "
        "Please enter a value for [item]. [item] (USER_ERROR 400, field entity)"
    )


def test_wrong_secret_is_one_clear_auth_error(ns: NSSandbox) -> None:
    c = client(ns, secret="wrong-secret-123")
    with pytest.raises(ERPAuthError) as caught:
        c.suiteql("SELECT id FROM customer")
    message = str(caught.value)
    assert f"account {DEFAULT_ACCOUNT_ID}" in message and "INVALID_LOGIN" in message
    assert "wrong-secret" not in message and "sandbox-token-secret" not in message
    assert ns.state()["counters"]["responses_401"] == 1  # not retried
    ok, summary = NetSuiteHook.from_config(ns.config(secret="wrong-secret-123")).test_connection()
    assert not ok and summary.startswith("NetSuite answered HTTP 401: INVALID_LOGIN: Invalid login attempt")


def test_throttling_and_5xx_are_retried(ns: NSSandbox) -> None:
    c = client(ns)
    ns.admin(
        "POST", "faults", {"kind": "status", "status": 429, "count": 2, "path_prefix": "/services/rest/"}
    )
    ns.admin(
        "POST", "faults", {"kind": "status", "status": 502, "count": 1, "path_prefix": "/services/rest/"}
    )
    rows = c.suiteql("SELECT itemid FROM item")
    assert rows == [{"itemid": "Hours"}]
    assert c.retries == 3 and c.http_calls == 4


def test_retries_are_bounded(ns: NSSandbox) -> None:
    c = client(ns, max_attempts=3)
    ns.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 5, "path_prefix": "/services/rest/"}
    )
    with pytest.raises(Exception, match="503"):
        c.suiteql("SELECT id FROM item")
    assert c.http_calls == 3


def test_suiteql_follows_pages(ns: NSSandbox) -> None:
    ns.admin(
        "POST",
        "seed",
        {"customer": [{"companyName": f"P{n:03d}", "subsidiary": {"id": "1"}} for n in range(23)]},
    )
    c = client(ns)
    rows = c.suiteql("SELECT entityid FROM customer ORDER BY id", page_size=10)
    assert [r["entityid"] for r in rows] == [f"P{n:03d}" for n in range(23)]
    assert c.http_calls == 3
    names = c.select_in("customer", "entityid", "entityid", ["p001", "P002", "x'y"], lower=True)
    assert sorted(r["entityid"] for r in names) == ["P001", "P002"]


@pytest.mark.parametrize("result_form", ["collection", "per_task"])
def test_batch_polls_the_job_and_reads_per_record_results(ns: NSSandbox, result_form: str) -> None:
    ns.limits(job_polls=3, result_form=result_form)
    c = client(ns)
    items = [{"externalId": f"E{n}", "companyName": f"E{n}", "subsidiary": {"id": "1"}} for n in range(3)]
    items.append({"externalId": "E9", "companyName": "E9", "subsidiary": {"id": "77"}})
    results = c.batch("customer", "PUT", items, "a test batch")
    assert [r.ok for r in results] == [True, True, True, False]
    assert all(r.id for r in results[:3])
    error = results[3].error
    assert error is not None and error.error_class is ErrorClass.VALIDATION
    assert "record E9 of a test batch" in error.message and "field subsidiary" in error.message
    assert ns.state()["counters"]["batch_jobs"] == 1
    with pytest.raises(ValueError, match="at most 100"):
        c.batch("customer", "PUT", [{"externalId": str(n)} for n in range(101)], "too big")


def test_a_lost_batch_answer_is_answered_from_the_first_job(ns: NSSandbox) -> None:
    c = client(ns)
    ns.admin(
        "POST", "faults", {"kind": "lose", "status": 504, "target": "write", "path_prefix": "/services/rest/"}
    )
    items = [{"externalId": f"L{n}", "companyName": f"L{n}", "subsidiary": {"id": "1"}} for n in range(4)]
    results = c.batch("customer", "PUT", items, "a batch whose answer is lost")
    assert all(r.ok for r in results)
    state = ns.state()
    assert state["counters"]["batch_jobs"] == 1 and state["counts"]["customer"] == 4


def test_the_same_records_sent_again_later_are_written_again(ns: NSSandbox) -> None:
    # A change, then a change back, on the same day: the third batch is new work, not a repeat of
    # the first one (a content-derived idempotency key would answer it from the first job).
    c = client(ns)
    first = [{"externalId": "R1", "companyName": "R1", "subsidiary": {"id": "1"}, "email": "a@r1.test"}]
    changed = [{**first[0], "email": "b@r1.test"}]
    for items in (first, changed, first):
        assert [r.ok for r in c.batch("customer", "PUT", items, "a customer batch")] == [True]
    state = ns.state()
    assert state["counters"]["batch_jobs"] == 3
    assert [r["email"] for r in state["records"]["customer"]] == ["a@r1.test"]


def test_a_job_that_never_completes_fails_after_the_bounded_wait(ns: NSSandbox) -> None:
    ns.limits(job_polls=1_000_000)
    c = client(ns, job_timeout=0.05)
    items = [{"externalId": "W1", "companyName": "W1", "subsidiary": {"id": "1"}}]
    with pytest.raises(ERPRetriableError) as caught:
        c.batch("customer", "PUT", items, "a slow batch")
    message = str(caught.value)
    assert "/async/v1/job/1" in message and "a slow batch" in message
    assert "still pending after 0.05s" in message and "a rerun is safe" in message


def test_consumer_and_token_secrets_are_masked_when_the_hook_reads_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    consumer_secret, token_secret = f"cs-{uuid.uuid4().hex}", f"ts-{uuid.uuid4().hex}"
    assert consumer_secret in str(redact(f"s={consumer_secret}"))  # not known to the masker yet
    sandbox = NSSandbox(consumer_secret=consumer_secret, token_secret=token_secret)
    try:
        hook = NetSuiteHook.from_config(sandbox.config(secret=consumer_secret, token_secret=token_secret))
        sandbox.admin(
            "POST", "faults", {"kind": "status", "status": 503, "count": 1, "path_prefix": "/services/rest/"}
        )
        with caplog.at_level(logging.DEBUG):
            assert hook.get_conn().suiteql("SELECT itemid FROM item") == [{"itemid": "Hours"}]
        hook.close()
    finally:
        sandbox.stop()
    assert consumer_secret not in caplog.text and token_secret not in caplog.text
    assert consumer_secret not in repr(hook.config) and token_secret not in repr(hook.config)
    assert consumer_secret not in str(redact(f"s={consumer_secret}"))
    assert token_secret not in str(redact(f"s={token_secret}"))
