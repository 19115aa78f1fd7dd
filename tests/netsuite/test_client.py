"""NetSuiteHook + NetSuiteClient against the live sandbox: signing, errors, retries, SuiteQL, batch."""

from __future__ import annotations

import json

import pytest

from erp_operators.errors import ERPAuthError, ERPThrottledError, ERPValidationError
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
                },
            }
        ),
    )
    hook = NetSuiteHook()
    assert hook._client is None
    cfg = hook.config
    assert cfg.base_url == f"{ns.url}/services/rest" and cfg.concurrency_limit == 15 and cfg.max_attempts == 3
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


def test_wrong_secret_is_one_clear_auth_error(ns: NSSandbox) -> None:
    c = client(ns, secret="wrong-secret-123")
    with pytest.raises(ERPAuthError) as caught:
        c.suiteql("SELECT id FROM customer")
    message = str(caught.value)
    assert f"account {DEFAULT_ACCOUNT_ID}" in message and "INVALID_LOGIN" in message
    assert "wrong-secret" not in message and "sandbox-token-secret" not in message
    assert ns.state()["counters"]["responses_401"] == 1  # not retried


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
