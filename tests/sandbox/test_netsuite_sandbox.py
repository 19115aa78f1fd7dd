"""The NetSuite sandbox speaks NetSuite's REST wire format and enforces its rules (raw HTTP, signed)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth1

from sandbox.netsuite.app import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
)
from tests.netsuite.ns_admin import NSSandbox

COLLECTION = "application/vnd.oracle.resource+json; type=collection"


def signed_session(
    secret: str = DEFAULT_CONSUMER_SECRET, realm: str = DEFAULT_ACCOUNT_ID, method: str = "HMAC-SHA256"
) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.auth = OAuth1(
        DEFAULT_CONSUMER_KEY,
        client_secret=secret,
        resource_owner_key=DEFAULT_TOKEN_ID,
        resource_owner_secret=DEFAULT_TOKEN_SECRET,
        signature_method=method,
        realm=realm,
    )
    session.headers["Content-Type"] = "application/json"
    return session


class Api:
    def __init__(self, sandbox: NSSandbox, session: requests.Session | None = None) -> None:
        self.sandbox = sandbox
        self.base = f"{sandbox.url}/services/rest"
        self.http = session or signed_session()

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.base}/{path}", json=body, timeout=30, **kwargs)

    def suiteql(self, q: str, **params: Any) -> requests.Response:
        return self("POST", "query/v1/suiteql", {"q": q}, params=params, headers={"Prefer": "transient"})


@pytest.fixture
def api(ns: NSSandbox) -> Api:
    return Api(ns)


def customer(name: str, **extra: Any) -> dict[str, Any]:
    return {"companyName": name, "entityId": name, "subsidiary": {"id": "1"}, **extra}


def detail(response: requests.Response) -> dict[str, Any]:
    return response.json()["o:errorDetails"][0]


# -- authentication ------------------------------------------------------------------------------
def test_signed_request_is_accepted_and_wrong_secret_is_401(ns: NSSandbox, api: Api) -> None:
    assert api("GET", "record/v1/metadata-catalog").status_code == 200
    bad = Api(ns, signed_session(secret="not-the-secret"))("GET", "record/v1/metadata-catalog")
    assert bad.status_code == 401
    body = bad.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"
    assert detail(bad)["o:errorCode"] == "INVALID_LOGIN"
    assert detail(bad)["detail"].startswith("Invalid login attempt")
    assert ns.state()["auth_failures"] == ["signature does not match"]


def test_realm_must_be_the_account_id_as_given(ns: NSSandbox) -> None:
    lowered = Api(ns, signed_session(realm=DEFAULT_ACCOUNT_ID.lower().replace("_", "-")))
    assert lowered("GET", "record/v1/metadata-catalog").status_code == 401
    assert "realm" in ns.state()["auth_failures"][0]


def test_hmac_sha1_is_refused_even_with_the_right_secrets(ns: NSSandbox) -> None:
    sha1 = Api(ns, signed_session(method="HMAC-SHA1"))
    assert sha1("GET", "record/v1/metadata-catalog").status_code == 401
    assert ns.state()["auth_failures"] == ["signature method 'HMAC-SHA1' is not HMAC-SHA256"]


def test_unsigned_and_replayed_requests_are_refused(ns: NSSandbox, api: Api) -> None:
    plain = requests.get(f"{api.base}/record/v1/metadata-catalog", timeout=10)
    assert plain.status_code == 401
    prepared = api.http.prepare_request(requests.Request("GET", f"{api.base}/record/v1/metadata-catalog"))
    assert api.http.send(prepared, timeout=10).status_code == 200
    assert api.http.send(prepared, timeout=10).status_code == 401  # same nonce and signature
    assert ns.state()["auth_failures"][-1] == "replayed oauth_nonce"


def test_query_parameters_are_part_of_the_signature(ns: NSSandbox, api: Api) -> None:
    ok = api.suiteql("SELECT id FROM customer", limit=5, offset=0)
    assert ok.status_code == 200
    prepared = api.http.prepare_request(
        requests.Request(
            "POST",
            f"{api.base}/query/v1/suiteql",
            json={"q": "SELECT id FROM item"},
            params={"limit": 5},
            headers={"Prefer": "transient"},
        )
    )
    prepared.url = prepared.url.replace("limit=5", "limit=6")  # tampered after signing
    assert api.http.send(prepared, timeout=10).status_code == 401


# -- record service ------------------------------------------------------------------------------
def test_upsert_by_external_id_creates_then_updates(ns: NSSandbox, api: Api) -> None:
    first = api("PUT", "record/v1/customer/eid:ORG-1", customer("Acme"))
    assert first.status_code == 204 and first.content == b""
    location = first.headers["Location"]
    assert location.startswith(f"{api.base}/record/v1/customer/")
    second = api("PUT", "record/v1/customer/eid:ORG-1", {"email": "ap@acme.test"})
    assert second.status_code == 204 and second.headers["Location"] == location
    record = api("GET", "record/v1/customer/eid:ORG-1").json()
    assert record["externalId"] == "ORG-1" and record["email"] == "ap@acme.test"
    assert record["id"] == location.rsplit("/", 1)[-1]
    assert api("GET", f"record/v1/customer/{record['id']}").json()["companyName"] == "Acme"
    assert ns.state()["counts"]["customer"] == 1
    assert api("PUT", f"record/v1/customer/{record['id']}", customer("x")).status_code == 400  # eid: only
    missing = api("GET", "record/v1/customer/eid:NOPE")
    assert missing.status_code == 404 and detail(missing)["o:errorCode"] == "NONEXISTENT_ID"


def test_post_creates_with_204_and_location_and_refuses_a_second_external_id(api: Api) -> None:
    created = api("POST", "record/v1/customer", customer("Beta", externalId="ORG-2"))
    assert created.status_code == 204 and "/record/v1/customer/" in created.headers["Location"]
    again = api("POST", "record/v1/customer", customer("Beta 2", externalId="ORG-2"))
    assert again.status_code == 400 and detail(again)["o:errorCode"] == "DUP_RCRD"
    same_name = api("POST", "record/v1/customer", customer("beta"))
    assert same_name.status_code == 400 and detail(same_name)["o:errorCode"] == "DUP_ENTITY"


def test_required_fields_and_references_are_enforced(api: Api) -> None:
    no_sub = api("POST", "record/v1/customer", {"companyName": "No Sub"})
    assert no_sub.status_code == 400
    assert detail(no_sub) == {
        "detail": "Please enter a value for [subsidiary].",
        "o:errorCode": "USER_ERROR",
        "o:errorPath": "subsidiary",
    }
    bad_sub = api("POST", "record/v1/customer", customer("Bad Sub", subsidiary={"id": "99"}))
    assert (
        detail(bad_sub)["o:errorCode"] == "INVALID_KEY_OR_REF"
        and detail(bad_sub)["o:errorPath"] == "subsidiary"
    )
    no_entity = api(
        "POST", "record/v1/salesOrder", {"item": {"items": [{"item": {"id": "201"}, "quantity": 1}]}}
    )
    assert detail(no_entity)["o:errorPath"] == "entity"
    cust = api("PUT", "record/v1/customer/eid:C1", customer("Gamma")).headers["Location"].rsplit("/", 1)[-1]
    no_lines = api("POST", "record/v1/salesOrder", {"entity": {"id": cust}})
    assert detail(no_lines)["o:errorPath"] == "item"
    bad_item = api(
        "POST",
        "record/v1/salesOrder",
        {"entity": {"id": cust}, "item": {"items": [{"item": {"id": "987654"}}]}},
    )
    assert bad_item.status_code == 400
    assert detail(bad_item)["detail"] == "Invalid Field Value 987654 for the following field: item"
    bad_eid = api("PUT", "record/v1/customer/eid:has space", customer("Delta"))
    assert bad_eid.status_code == 400 and detail(bad_eid)["o:errorPath"] == "externalId"


def test_sales_order_and_transform_to_invoice(ns: NSSandbox, api: Api) -> None:
    cust = api("PUT", "record/v1/customer/eid:C1", customer("Gamma")).headers["Location"].rsplit("/", 1)[-1]
    hours = api.suiteql("SELECT id FROM item WHERE itemid = 'Hours'").json()["items"][0]["id"]
    order = api(
        "POST",
        "record/v1/salesOrder",
        {
            "externalId": "box-1",
            "entity": {"id": cust},
            "item": {"items": [{"item": {"id": hours}, "quantity": 2.5, "rate": 95}]},
        },
    )
    assert order.status_code == 204
    order_id = order.headers["Location"].rsplit("/", 1)[-1]
    so = api("GET", f"record/v1/salesOrder/{order_id}").json()
    assert so["tranId"].startswith("SO") and so["total"] == 237.5
    assert so["item"]["items"][0]["amount"] == 237.5
    invoice = api("POST", f"record/v1/salesOrder/{order_id}/!transform/invoice", {"externalId": "box-1-inv"})
    assert invoice.status_code == 204 and "/record/v1/invoice/" in invoice.headers["Location"]
    rows = api.suiteql(
        f"SELECT id, tranid, createdfrom, type FROM transaction WHERE createdfrom = '{order_id}'"
    ).json()["items"]
    assert [(r["type"], r["createdfrom"]) for r in rows] == [("CustInvc", order_id)]
    again = api("POST", f"record/v1/salesOrder/{order_id}/!transform/invoice", {"externalId": "box-1-inv"})
    assert again.status_code == 400 and detail(again)["o:errorCode"] == "DUP_RCRD"
    assert ns.state()["counts"]["invoice"] == 1


# -- SuiteQL ---------------------------------------------------------------------------------------
def test_suiteql_needs_prefer_transient(api: Api) -> None:
    response = api("POST", "query/v1/suiteql", {"q": "SELECT id FROM customer"})
    assert response.status_code == 400 and "Prefer: transient" in detail(response)["detail"]


def test_suiteql_pages_with_limit_offset_has_more_and_links(ns: NSSandbox, api: Api) -> None:
    ns.admin("POST", "seed", {"customer": [customer(f"Customer {n:02d}") for n in range(25)]})
    seen: list[str] = []
    offset = 0
    pages = 0
    while True:
        page = api.suiteql("SELECT id, entityid FROM customer ORDER BY id", limit=10, offset=offset).json()
        pages += 1
        assert page["totalResults"] == 25 and page["offset"] == offset and page["count"] == len(page["items"])
        seen += [row["entityid"] for row in page["items"]]
        rels = {link["rel"] for link in page["links"]}
        assert ("next" in rels) == page["hasMore"]
        if not page["hasMore"]:
            break
        offset += page["count"]
    assert pages == 3 and seen == [f"Customer {n:02d}" for n in range(25)]
    too_big = api.suiteql("SELECT id FROM customer", limit=1001)
    assert too_big.status_code == 400


def test_suiteql_where_subset(ns: NSSandbox, api: Api) -> None:
    ns.admin(
        "POST",
        "seed",
        {"customer": [customer("O'Brien & Sons", email="AP@Obrien.test", externalId="o1"), customer("Zeta")]},
    )
    rows = api.suiteql(
        "SELECT entityid, email FROM customer WHERE LOWER(email) IN ('ap@obrien.test') OR entityid = 'Nope'"
    ).json()["items"]
    assert [r["entityid"] for r in rows] == ["O'Brien & Sons"]
    quoted = api.suiteql(
        "SELECT id FROM customer WHERE entityid = 'O''Brien & Sons' AND externalid IS NOT NULL"
    )
    assert quoted.json()["count"] == 1
    like = api.suiteql("SELECT entityid FROM customer WHERE entityid LIKE 'Z%' AND NOT (entityid = 'x')")
    assert [r["entityid"] for r in like.json()["items"]] == ["Zeta"]
    services = api.suiteql("SELECT itemid, itemtype FROM item WHERE itemtype = 'Service'").json()["items"]
    assert {"links": [], "itemid": "Hours", "itemtype": "Service"} in services
    broken = api.suiteql("SELEC id FROM customer")
    assert broken.status_code == 400 and detail(broken)["o:errorCode"] == "INVALID_PARAMETER"


def test_collection_filter_q(ns: NSSandbox, api: Api) -> None:
    ns.admin(
        "POST",
        "seed",
        {
            "customer": [
                customer("Acme", email="ap@acme.test"),
                customer("Acme East", email="east@acme.test"),
                customer("Beta", email="x@beta.test"),
            ]
        },
    )
    page = api("GET", "record/v1/customer", params={"q": 'email IS "AP@acme.test"'}).json()
    assert page["count"] == 1 and page["totalResults"] == 1 and page["hasMore"] is False
    assert set(page["items"][0]) == {"links", "id"}
    both = api(
        "GET", "record/v1/customer", params={"q": 'companyName START_WITH "acme" AND email CONTAIN "east"'}
    )
    assert both.json()["count"] == 1
    either = api(
        "GET",
        "record/v1/customer",
        params={"q": 'companyName IS Beta OR email END_WITH "@acme.test"', "limit": 2},
    ).json()
    assert either["totalResults"] == 3 and either["count"] == 2 and either["hasMore"] is True
    assert any(link["rel"] == "next" for link in either["links"])
    # reserved and non-ASCII characters in a signed query string: the signature still matches
    ns.admin("POST", "seed", {"customer": [customer("Müller & Söhne (100%) #1")]})
    umlaut = api("GET", "record/v1/customer", params={"q": 'companyName IS "Müller & Söhne (100%) #1"'})
    assert umlaut.status_code == 200 and umlaut.json()["count"] == 1
    bad = api("GET", "record/v1/customer", params={"q": "email LOOKS_LIKE x"})
    assert bad.status_code == 400 and detail(bad)["o:errorCode"] == "INVALID_PARAMETER"


# -- async batch -----------------------------------------------------------------------------------
def batch(api: Api, method: str, rtype: str, items: list[dict[str, Any]], key: str = "") -> requests.Response:
    headers = {"Prefer": "respond-async", "Content-Type": COLLECTION}
    if key:
        headers["X-NetSuite-Idempotency-Key"] = key
    return api(method, f"record/v1/{rtype}", {"items": items}, headers=headers)


def test_async_batch_job_is_polled_to_per_record_results(ns: NSSandbox, api: Api) -> None:
    items = [customer(f"Batch {n}", externalId=f"B{n}") for n in range(3)] + [
        {"companyName": "No Sub", "externalId": "B9"}
    ]
    accepted = batch(api, "PUT", "customer", items, key="k-1")
    assert accepted.status_code == 202 and accepted.headers["Preference-Applied"] == "respond-async"
    job_url = accepted.headers["Location"]
    assert "/services/rest/async/v1/job/" in job_url
    first = api.http.get(job_url, timeout=10).json()
    assert first["completed"] is False and first["progress"] == "pending"
    done = api.http.get(job_url, timeout=10).json()
    assert done["completed"] is True and done["progress"] == "succeeded"
    tasks = api.http.get(done["task"]["links"][0]["href"], timeout=10).json()
    task_url = tasks["items"][0]["links"][0]["href"]
    task = api.http.get(task_url, timeout=10).json()
    assert task["completed"] is True and task["progress"] == "succeeded" and task["startTime"]
    results = api.http.get(f"{task_url}/result", timeout=10).json()["items"]
    assert [r["status"] for r in results] == [204, 204, 204, 400]
    assert results[3]["o:errorDetails"][0]["o:errorPath"] == "subsidiary"
    assert ns.state()["counts"]["customer"] == 3
    repeat = batch(api, "PUT", "customer", items, key="k-1")
    assert repeat.status_code == 400 and detail(repeat)["o:errorCode"] == "IDEMPOTENCY_ERROR"
    assert repeat.headers["Location"] == job_url
    assert ns.state()["counters"]["batch_jobs"] == 1


def test_batch_body_may_be_a_bare_list_and_results_one_task_per_record(ns: NSSandbox, api: Api) -> None:
    ns.limits(result_form="per_task", job_polls=0)
    headers = {"Prefer": "respond-async", "Content-Type": COLLECTION}
    items = [customer("L1", externalId="L1"), {"externalId": "L2", "companyName": "L2"}]
    job_url = api("PUT", "record/v1/customer", items, headers=headers).headers["Location"]
    assert api.http.get(job_url, timeout=10).json()["completed"] is True
    tasks = api.http.get(f"{job_url}/task", timeout=10).json()["items"]
    assert len(tasks) == 2
    assert [api.http.get(t["links"][0]["href"], timeout=10).json()["id"] for t in tasks] == ["1", "2"]
    results = [api.http.get(t["links"][0]["href"] + "/result", timeout=10).json() for t in tasks]
    assert [r["status"] for r in results] == [204, 400] and results[0]["externalId"] == "L1"


def test_batch_is_capped_at_100_records(api: Api) -> None:
    too_many = batch(api, "PUT", "customer", [customer(f"C{n}", externalId=f"C{n}") for n in range(101)])
    assert too_many.status_code == 400 and "at most 100" in detail(too_many)["detail"]
    accepted = batch(api, "PUT", "customer", [customer("No Eid")])
    api.http.get(accepted.headers["Location"], timeout=10)
    api.http.get(accepted.headers["Location"], timeout=10)
    result = api.http.get(f"{accepted.headers['Location']}/task/1/result", timeout=10).json()["items"][0]
    assert result["status"] == 400 and result["o:errorDetails"][0]["o:errorPath"] == "externalId"


# -- limits, faults, admin ------------------------------------------------------------------------
def test_concurrency_limit_answers_429_while_the_account_is_busy(ns: NSSandbox, api: Api) -> None:
    ns.limits(concurrency=1, latency_seconds=1.0)
    slow: dict[str, int] = {}
    first = threading.Thread(
        target=lambda: slow.update(status=Api(ns)("GET", "record/v1/metadata-catalog").status_code)
    )
    first.start()
    while ns.state()["counters"]["in_flight"] == 0:
        time.sleep(0.01)
    blocked = api("GET", "record/v1/metadata-catalog")
    first.join()
    assert slow["status"] == 200
    assert blocked.status_code == 429
    assert detail(blocked)["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    state = ns.state()["counters"]
    assert state["responses_429"] == 1 and state["max_in_flight"] == 1


def test_injected_faults_use_the_error_body(ns: NSSandbox, api: Api) -> None:
    ns.admin("POST", "faults", {"kind": "status", "status": 503, "path_prefix": "/services/rest/"})
    failed = api("GET", "record/v1/metadata-catalog")
    assert (
        failed.status_code == 503 and failed.json()["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
    )
    assert api("GET", "record/v1/metadata-catalog").status_code == 200


def test_state_counts_records_writes_and_request_times(ns: NSSandbox, api: Api) -> None:
    before = ns.state()
    assert before["counters"]["first_request_at"] is None and before["counts"] == {"serviceSaleItem": 1}
    api("PUT", "record/v1/customer/eid:A", customer("A"))
    api("PUT", "record/v1/customer/eid:A", customer("A"))
    state = ns.state()
    assert state["counts"]["customer"] == 1 and state["counters"]["writes"] == {"customer": 2}
    assert state["counters"]["first_request_at"] <= state["counters"]["last_request_at"]
    ns.reset()
    assert ns.state()["counts"] == {"serviceSaleItem": 1}


def test_nonces_too_old_to_replay_are_forgotten_once_many_are_kept() -> None:
    from oauthlib.oauth1 import Client

    from sandbox.common.httpd import Request
    from sandbox.netsuite.oauth import MAX_CLOCK_SKEW, MAX_NONCES, TBACredentials, verify

    creds = TBACredentials(
        DEFAULT_ACCOUNT_ID,
        DEFAULT_CONSUMER_KEY,
        DEFAULT_CONSUMER_SECRET,
        DEFAULT_TOKEN_ID,
        DEFAULT_TOKEN_SECRET,
    )
    signer = Client(
        DEFAULT_CONSUMER_KEY,
        client_secret=DEFAULT_CONSUMER_SECRET,
        resource_owner_key=DEFAULT_TOKEN_ID,
        resource_owner_secret=DEFAULT_TOKEN_SECRET,
        signature_method="HMAC-SHA256",
        realm=DEFAULT_ACCOUNT_ID,
    )
    _, headers, _ = signer.sign("http://127.0.0.1:9/services/rest/record/v1/customer?limit=5")
    request = Request(
        "GET",
        "/services/rest/record/v1/customer",
        {"limit": ["5"]},
        {"authorization": headers["Authorization"], "host": "127.0.0.1:9"},
        b"",
    )
    old = int(time.time()) - 2 * MAX_CLOCK_SKEW
    fresh = (int(time.time()), "fresh-nonce")
    nonces = {(old, f"old-{n}") for n in range(MAX_NONCES)} | {fresh}
    verify(request, creds, nonces)
    assert len(nonces) == 2 and fresh in nonces  # the old ones went; the fresh one and this request's stay
