"""The QuickBooks Online sandbox over real HTTP: OAuth, entities, query, batch, CDC, errors, limits.

Every test starts its own server on a free 127.0.0.1 port; the last test drives it through the
real python-quickbooks + intuit-oauth clients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sandbox.common.httpd import SandboxServer
from sandbox.quickbooks.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REALM_ID,
    DEFAULT_REFRESH_TOKEN,
    QuickBooksSandbox,
)

REALM = DEFAULT_REALM_ID
CLIENT = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)


@dataclass
class QboClient:
    """A thin requests wrapper that talks to the sandbox like an app would."""

    url: str
    access_token: str = ""
    refresh_token: str = DEFAULT_REFRESH_TOKEN

    @property
    def api(self) -> str:
        return f"{self.url}/v3/company/{REALM}"

    def refresh(self) -> requests.Response:
        response = requests.post(
            f"{self.url}/oauth2/v1/tokens/bearer",
            data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
            auth=CLIENT,
            timeout=10,
        )
        if response.status_code == 200:
            self.access_token = response.json()["access_token"]
            self.refresh_token = response.json()["refresh_token"]
        return response

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "Accept": "application/json",
            "Content-Type": content_type,
        }

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        params.setdefault("minorversion", 75)
        return requests.post(
            f"{self.api}/{path}", json=body, params=params, headers=self.headers(), timeout=10
        )

    def get(self, path: str, **params: Any) -> requests.Response:
        params.setdefault("minorversion", 75)
        return requests.get(f"{self.api}/{path}", params=params, headers=self.headers(), timeout=10)

    def query(self, sql: str) -> requests.Response:
        return requests.post(
            f"{self.api}/query",
            data=sql.encode("utf-8"),
            params={"minorversion": 75},
            headers=self.headers("application/text"),
            timeout=10,
        )

    def admin(self, path: str, body: Any = None) -> dict[str, Any]:
        response = requests.post(f"{self.url}/__admin/{path}", json=body or {}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/__admin/state", timeout=30).json()


@pytest.fixture
def qbo_server() -> Iterator[SandboxServer]:
    server = SandboxServer(QuickBooksSandbox()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def qbo(qbo_server: SandboxServer) -> QboClient:
    client = QboClient(qbo_server.url)
    assert client.refresh().status_code == 200
    return client


def _error(response: requests.Response) -> dict[str, Any]:
    return response.json()["Fault"]["Error"][0]


def _invoice(customer_id: str, *amounts: float, **extra: Any) -> dict[str, Any]:
    lines = [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": amount,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": amount},
        }
        for amount in amounts
    ]
    return {"CustomerRef": {"value": customer_id}, "Line": lines, **extra}


# -- OAuth ------------------------------------------------------------------------------------


def test_discovery_points_at_the_sandbox_and_refresh_tokens_rotate(qbo_server: SandboxServer) -> None:
    doc = requests.get(f"{qbo_server.url}/discovery", timeout=10).json()
    for key in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ):
        assert doc[key].startswith(qbo_server.url), key

    client = QboClient(qbo_server.url)
    first = client.refresh()
    assert first.status_code == 200
    body = first.json()
    assert (
        body["token_type"] == "bearer"
        and body["expires_in"] == 3600
        and body["x_refresh_token_expires_in"] > 0
    )
    assert body["refresh_token"] != "RT-initial"

    superseded = requests.post(
        doc["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": "RT-initial"},
        auth=CLIENT,
        timeout=10,
    )
    assert superseded.status_code == 400
    assert superseded.json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect or invalid refresh token",
    }

    second = client.refresh()
    assert second.status_code == 200 and second.json()["refresh_token"] != body["refresh_token"]
    read = client.get("item/1")  # the new access token is accepted
    assert read.status_code == 200 and read.json()["Item"]["Id"] == "1"

    wrong_secret = requests.post(
        doc["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": client.refresh_token},
        auth=(CLIENT[0], "wrong"),
        timeout=10,
    )
    assert wrong_secret.status_code == 401


def test_expired_revoked_or_missing_access_token_gives_lowercase_401(qbo: QboClient) -> None:
    assert qbo.get("item/1").status_code == 200
    qbo.admin("tokens/expire")
    expired = qbo.get("item/1")
    assert expired.status_code == 401
    fault = expired.json()["fault"]
    assert fault["type"] == "AUTHENTICATION" and fault["error"][0]["code"] == "3200"
    assert "Token expired" in fault["error"][0]["detail"]

    assert qbo.refresh().status_code == 200
    assert qbo.get("item/1").status_code == 200
    no_token = requests.get(f"{qbo.api}/item/1", timeout=10)
    assert no_token.status_code == 401 and "fault" in no_token.json()

    qbo.admin("tokens/lifetime", {"seconds": 0.3})
    assert qbo.refresh().json()["expires_in"] == 0
    assert qbo.get("item/1").status_code == 200
    time.sleep(0.4)
    assert qbo.get("item/1").status_code == 401

    qbo.admin("tokens/revoke")
    assert qbo.get("item/1").status_code == 401
    assert qbo.refresh().json()["error"] == "invalid_grant"


def test_minorversion_below_75_is_rejected_and_absent_is_accepted(qbo: QboClient) -> None:
    old = qbo.get("item/1", minorversion=40)
    assert old.status_code == 400 and _error(old)["element"] == "minorversion"
    absent = requests.get(f"{qbo.api}/item/1", headers=qbo.headers(), timeout=10)
    assert absent.status_code == 200 and absent.json()["Item"]["Name"] == "Services"
    other_realm = requests.get(f"{qbo.url}/v3/company/123/item/1", headers=qbo.headers(), timeout=10)
    assert other_realm.status_code == 403 and _error(other_realm)["code"] == "120"


# -- entities ---------------------------------------------------------------------------------


def test_create_read_sparse_update_and_stale_sync_token(qbo: QboClient) -> None:
    created = qbo.post(
        "customer", {"DisplayName": "Acme Ltd", "PrimaryEmailAddr": {"Address": "ap@acme.test"}}
    )
    assert created.status_code == 200
    customer = created.json()["Customer"]
    assert customer["SyncToken"] == "0" and customer["Active"] is True
    assert set(customer["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
    assert "time" in created.json()

    read = qbo.get(f"customer/{customer['Id']}").json()["Customer"]
    assert read == customer

    updated = qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Acme"}
    )
    assert updated.status_code == 200
    after = updated.json()["Customer"]
    assert after["SyncToken"] == "1" and after["CompanyName"] == "Acme"
    assert after["PrimaryEmailAddr"] == {"Address": "ap@acme.test"}  # sparse keeps what was not sent

    stale = qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Other"}
    )
    assert stale.status_code == 400 and _error(stale)["code"] == "5010"
    assert qbo.get(f"customer/{customer['Id']}").json()["Customer"]["CompanyName"] == "Acme"

    missing = qbo.get("customer/9999")
    assert missing.status_code == 400 and _error(missing)["code"] == "610"


def test_duplicate_and_invalid_names(qbo: QboClient) -> None:
    first = qbo.post("customer", {"DisplayName": "Globex"}).json()["Customer"]
    duplicate = qbo.post("customer", {"DisplayName": "globex"})
    assert duplicate.status_code == 400
    error = _error(duplicate)
    assert error["code"] == "6240" and f"Id={first['Id']}" in error["Detail"]

    assert _error(qbo.post("customer", {"DisplayName": "Parent:Child"}))["element"] == "DisplayName"
    too_long = qbo.post("customer", {"DisplayName": "x" * 101})
    assert too_long.status_code == 400 and _error(too_long)["code"] == "2050"

    item = {"Name": "Widget", "Type": "Service", "IncomeAccountRef": {"value": "79"}}
    created = qbo.post("item", item).json()["Item"]
    assert created["IncomeAccountRef"] == {"value": "79", "name": "Sales of Product Income"}
    assert _error(qbo.post("item", item))["code"] == "6240"
    assert _error(qbo.post("item", {"Name": "NoAccount", "Type": "Service"}))["code"] == "2020"
    assert (
        _error(
            qbo.post("item", {"Name": "BadAcct", "Type": "Service", "IncomeAccountRef": {"value": "999"}})
        )["code"]
        == "610"
    )
    assert (
        _error(qbo.post("item", {"Name": "Stock", "Type": "Inventory", "IncomeAccountRef": {"value": "79"}}))[
            "code"
        ]
        == "2020"
    )
    non_inventory = {"Name": "Paper", "Type": "NonInventory", "ExpenseAccountRef": {"value": "80"}}
    assert qbo.post("item", non_inventory).status_code == 200
    inventory = {
        "Name": "Gadget",
        "Type": "Inventory",
        "TrackQtyOnHand": True,
        "QtyOnHand": 10,
        "InvStartDate": "2026-01-01",
        "IncomeAccountRef": {"value": "79"},
        "ExpenseAccountRef": {"value": "80"},
        "AssetAccountRef": {"value": "81"},
    }
    assert qbo.post("item", inventory).json()["Item"]["QtyOnHand"] == 10


def test_invoice_rules_numbers_and_totals(qbo: QboClient) -> None:
    customer = qbo.post("customer", {"DisplayName": "Initech"}).json()["Customer"]
    custom = [{"DefinitionId": "1", "Name": "Streak Box", "Type": "StringType", "StringValue": "box-1"}]
    first = qbo.post("invoice", _invoice(customer["Id"], 100, 25.5, CustomField=custom))
    assert first.status_code == 200
    invoice = first.json()["Invoice"]
    assert invoice["DocNumber"] == "1001" and invoice["TotalAmt"] == 125.5 and invoice["Balance"] == 125.5
    assert invoice["CustomField"] == custom
    assert invoice["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert qbo.post("invoice", _invoice(customer["Id"], 1)).json()["Invoice"]["DocNumber"] == "1002"
    assert qbo.get(f"customer/{customer['Id']}").json()["Customer"]["Balance"] == 126.5

    duplicate = qbo.post("invoice", _invoice(customer["Id"], 5, DocNumber="1001"))
    assert _error(duplicate)["code"] == "6210" and f"TxnId={invoice['Id']}" in _error(duplicate)["Detail"]
    assert _error(qbo.post("invoice", _invoice(customer["Id"], 5, DocNumber="X" * 22)))["code"] == "2050"

    unknown_customer = qbo.post("invoice", _invoice("9999", 5))
    assert _error(unknown_customer)["code"] == "610" and _error(unknown_customer)["element"] == "CustomerRef"
    bad_item = _invoice(customer["Id"], 5)
    bad_item["Line"][0]["SalesItemLineDetail"]["ItemRef"] = {"value": "999"}
    assert _error(qbo.post("invoice", bad_item))["element"].endswith("ItemRef")

    lines = _invoice(customer["Id"], 60, 40)["Line"]
    resized = qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "Line": lines})
    assert resized.json()["Invoice"]["TotalAmt"] == 100 and resized.json()["Invoice"]["DocNumber"] == "1001"
    stale = qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert _error(stale)["code"] == "5010"

    qbo.post("customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    inactive = qbo.post("invoice", _invoice(customer["Id"], 5))
    assert _error(inactive)["code"] == "610"
    assert len(qbo.state()["realms"][REALM]["Invoice"]) == 2


def test_payment_reduces_invoice_balance_and_refuses_overpayment(qbo: QboClient) -> None:
    customer = qbo.post("customer", {"DisplayName": "Umbrella"}).json()["Customer"]
    invoice = qbo.post("invoice", _invoice(customer["Id"], 200)).json()["Invoice"]
    payment = {
        "CustomerRef": {"value": customer["Id"]},
        "TotalAmt": 150,
        "Line": [{"Amount": 120, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
    }
    paid = qbo.post("payment", payment)
    assert paid.status_code == 200 and paid.json()["Payment"]["UnappliedAmt"] == 30
    after = qbo.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert after["Balance"] == 80 and after["SyncToken"] == "1"
    assert {"TxnId": paid.json()["Payment"]["Id"], "TxnType": "Payment"} in after["LinkedTxn"]

    payment["Line"][0]["Amount"] = 90
    payment["TotalAmt"] = 90
    over = qbo.post("payment", payment)
    assert over.status_code == 400 and qbo.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 80
    assert _error(qbo.post("payment", {"CustomerRef": {"value": customer["Id"]}}))["code"] == "2020"


# -- query ------------------------------------------------------------------------------------


def test_query_grammar_escaping_and_parse_errors(qbo: QboClient) -> None:
    qbo.admin(
        "seed",
        {
            "Customer": [
                {"DisplayName": "O'Brien & Sons", "PrimaryEmailAddr": {"Address": "ob@example.test"}},
                {"DisplayName": "Beta Corp", "PrimaryEmailAddr": {"Address": "beta@example.test"}},
                {"DisplayName": "Gamma Inc"},
            ]
        },
    )
    found = qbo.query("SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien & Sons'").json()["QueryResponse"]
    assert [c["DisplayName"] for c in found["Customer"]] == ["O'Brien & Sons"]
    assert found["startPosition"] == 1 and found["maxResults"] == 1

    unescaped = qbo.query("SELECT * FROM Customer WHERE DisplayName = 'O'Brien & Sons'")
    assert unescaped.status_code == 400
    assert _error(unescaped)["code"] == "4000" and _error(unescaped)["Message"] == "Error parsing query"
    assert "QueryParserError" in _error(unescaped)["Detail"]
    assert (
        _error(qbo.query("SELECT * FROM Customer WHERE DisplayName = 'a' OR DisplayName = 'b'"))["code"]
        == "4000"
    )

    by_email = qbo.query("select * from Customer where PrimaryEmailAddr.Address = 'beta@example.test'").json()
    assert [c["DisplayName"] for c in by_email["QueryResponse"]["Customer"]] == ["Beta Corp"]
    names = qbo.query(
        "SELECT * FROM Customer WHERE DisplayName IN ('Beta Corp', 'Gamma Inc') ORDERBY DisplayName DESC"
    ).json()["QueryResponse"]["Customer"]
    assert [c["DisplayName"] for c in names] == ["Gamma Inc", "Beta Corp"]
    like = qbo.query("SELECT * FROM Customer WHERE DisplayName LIKE '%corp%'").json()["QueryResponse"][
        "Customer"
    ]
    assert [c["DisplayName"] for c in like] == ["Beta Corp"]
    recent = qbo.query(
        "SELECT * FROM Customer WHERE Metadata.LastUpdatedTime >= '2020-01-01T00:00:00+00:00' "
        "ORDERBY Metadata.LastUpdatedTime ASC MAXRESULTS 2"
    ).json()["QueryResponse"]
    assert recent["maxResults"] == 2
    assert qbo.query("SELECT COUNT(*) FROM Customer").json()["QueryResponse"] == {"totalCount": 3}
    assert qbo.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'").json()["QueryResponse"] == {}
    via_get = qbo.get("query", query="select * from Item where Name = 'Services'").json()["QueryResponse"]
    assert via_get["Item"][0]["Id"] == "1"


def test_startposition_pages_beyond_1000(qbo: QboClient) -> None:
    total = 1105
    qbo.admin("seed", {"Customer": [{"DisplayName": f"Customer {n:04d}"} for n in range(total)]})
    seen: list[str] = []
    start = 1
    while True:
        page = qbo.query(f"SELECT * FROM Customer STARTPOSITION {start} MAXRESULTS 1000").json()[
            "QueryResponse"
        ]
        if not page:
            break
        assert page["startPosition"] == start
        seen.extend(c["Id"] for c in page["Customer"])
        start += page["maxResults"]
    assert len(seen) == total and len(set(seen)) == total
    capped = qbo.query("SELECT * FROM Customer MAXRESULTS 5000").json()["QueryResponse"]
    assert capped["maxResults"] == 1000
    assert qbo.query("SELECT * FROM Customer").json()["QueryResponse"]["maxResults"] == 100
    since = datetime.fromtimestamp(time.time() - 60, UTC).isoformat()
    cdc = qbo.get("cdc", entities="Customer", changedSince=since).json()["CDCResponse"][0]["QueryResponse"]
    assert len(cdc[0]["Customer"]) == 1000  # CDC answers at most 1000 objects


# -- idempotency and batch --------------------------------------------------------------------


def test_requestid_replays_the_original_response_and_writes_once(qbo: QboClient) -> None:
    body = {"DisplayName": "Hooli"}
    first = qbo.post("customer", body, requestid="deal-42-customer")
    second = qbo.post("customer", body, requestid="deal-42-customer")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    state = qbo.state()
    assert [c["DisplayName"] for c in state["realms"][REALM]["Customer"]] == ["Hooli"]
    assert state["counters"]["writes"]["Customer"]["create"] == 1 and state["counters"]["replayed"] == 1
    # a write whose answer is lost after the commit: the retry with the same requestid gets the answer
    qbo.admin("lose_response", {"count": 1})
    lost = qbo.post("customer", {"DisplayName": "Pied Piper"}, requestid="deal-43-customer")
    assert lost.status_code == 504 and lost.json()["Fault"]["type"] == "SystemFault"
    recovered = qbo.post("customer", {"DisplayName": "Pied Piper"}, requestid="deal-43-customer")
    assert recovered.status_code == 200 and recovered.json()["Customer"]["DisplayName"] == "Pied Piper"
    names = [c["DisplayName"] for c in qbo.state()["realms"][REALM]["Customer"]]
    assert names == ["Hooli", "Pied Piper"]
    # without the requestid the same body is a real second write, refused as a duplicate
    assert _error(qbo.post("customer", body))["code"] == "6240"
    assert _error(qbo.post("customer", body, requestid="x" * 51))["element"] == "requestid"


def test_batch_runs_items_with_per_item_faults(qbo: QboClient) -> None:
    qbo.post("customer", {"DisplayName": "Existing"})
    batch = {
        "BatchItemRequest": [
            {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "New One"}},
            {"bId": "b2", "operation": "create", "Customer": {"DisplayName": "Existing"}},
            {"bId": "b3", "operation": "create", "Customer": {"DisplayName": "New Two"}},
            {"bId": "q1", "Query": "select * from Customer where DisplayName = 'New One'"},
        ]
    }
    response = qbo.post("batch", batch)
    assert response.status_code == 200
    answers = {a["bId"]: a for a in response.json()["BatchItemResponse"]}
    assert answers["b1"]["Customer"]["DisplayName"] == "New One"
    assert answers["b2"]["Fault"]["type"] == "ValidationFault"
    assert answers["b2"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["b3"]["Customer"]["DisplayName"] == "New Two"
    assert answers["q1"]["QueryResponse"]["Customer"][0]["Id"] == answers["b1"]["Customer"]["Id"]

    update = {
        "BatchItemRequest": [
            {
                "bId": "u1",
                "operation": "update",
                "Customer": {
                    "Id": answers["b1"]["Customer"]["Id"],
                    "SyncToken": "0",
                    "sparse": True,
                    "Notes": "hi",
                },
            }
        ]
    }
    assert qbo.post("batch", update).json()["BatchItemResponse"][0]["Customer"]["SyncToken"] == "1"

    too_many = {
        "BatchItemRequest": [{"bId": f"x{n}", "Customer": {"DisplayName": f"Bulk {n}"}} for n in range(31)]
    }
    rejected = qbo.post("batch", too_many)
    assert rejected.status_code == 400 and "Fault" in rejected.json()
    state = qbo.state()
    assert not any(c["DisplayName"].startswith("Bulk") for c in state["realms"][REALM]["Customer"])
    assert state["counters"]["batch_requests"] == 3


# -- faults and limits ------------------------------------------------------------------------


def test_injected_500_and_200_with_fault(qbo: QboClient) -> None:
    qbo.admin("faults", {"status": 500, "path_prefix": "/v3"})
    failed = qbo.post("customer", {"DisplayName": "Soylent"})
    assert failed.status_code == 500
    assert failed.json()["Fault"]["type"] == "SystemFault" and _error(failed)["code"] == "3100"

    qbo.admin("fault_200", {"count": 1})
    hidden = qbo.post("customer", {"DisplayName": "Soylent"}, requestid="soylent-1")
    assert hidden.status_code == 200 and "Fault" in hidden.json() and "Customer" not in hidden.json()
    assert qbo.state()["realms"][REALM]["Customer"] == []

    retried = qbo.post("customer", {"DisplayName": "Soylent"}, requestid="soylent-1")
    assert retried.status_code == 200 and retried.json()["Customer"]["DisplayName"] == "Soylent"

    qbo.admin("faults", {"status": 429, "path_prefix": "/v3"})
    throttled = qbo.get("item/1")
    assert throttled.status_code == 429 and throttled.headers["Content-Type"].startswith("application/xml")


def test_write_faults_spare_reads_and_queries_and_clear_with_the_other_faults(qbo: QboClient) -> None:
    assert qbo.admin("fault_200", {"count": 2, "code": "6000", "type": "ValidationFault"}) == {
        "fault_200_pending": 2
    }
    assert qbo.admin("lose_response", {"count": 1, "status": 502}) == {"lost_responses_pending": 1}
    assert qbo.get("item/1").status_code == 200  # reads and queries are not writes
    assert qbo.query("select * from Item").json()["QueryResponse"]["Item"]
    state = qbo.state()
    assert (state["fault_200_pending"], state["lost_responses_pending"]) == (2, 1)

    refused = qbo.post("customer", {"DisplayName": "Initech"})
    assert refused.status_code == 200 and _error(refused)["code"] == "6000"
    assert refused.json()["Fault"]["type"] == "ValidationFault"
    batch = {"BatchItemRequest": [{"bId": "b1", "Customer": {"DisplayName": "Initech"}}]}
    assert qbo.post("batch", batch).json()["Fault"]["type"] == "ValidationFault"
    lost = qbo.post("batch", batch)  # done, but answered 502
    assert lost.status_code == 502 and _error(lost)["code"] == "3100"
    state = qbo.state()
    assert [c["DisplayName"] for c in state["realms"][REALM]["Customer"]] == ["Initech"]
    assert state["counters"]["fault_200_sent"] == 2 and state["counters"]["responses_lost"] == 1
    assert (state["fault_200_pending"], state["lost_responses_pending"]) == (0, 0)

    qbo.admin("fault_200", {"count": 3})
    qbo.admin("lose_response", {"count": 3})
    assert requests.delete(f"{qbo.url}/__admin/faults", timeout=10).json()["queued"] == 0
    state = qbo.state()
    assert (state["fault_200_pending"], state["lost_responses_pending"]) == (0, 0)
    assert qbo.post("customer", {"DisplayName": "Umbrella"}).json()["Customer"]["DisplayName"] == "Umbrella"


def test_per_minute_limits_answer_xml_429_and_recover(qbo: QboClient) -> None:
    qbo.admin("limits", {"time_scale": 60.0, "requests_per_minute": 5, "batch_per_minute": 2})
    statuses = [qbo.get("item/1").status_code for _ in range(6)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    throttled = qbo.get("item/1")
    assert throttled.headers["Content-Type"].startswith("application/xml")
    assert "ThrottleExceeded" in throttled.text and 'code="3001"' in throttled.text
    time.sleep(1.1)  # one limit-minute is one second at time_scale=60
    assert qbo.get("item/1").status_code == 200

    time.sleep(1.1)
    query = {"BatchItemRequest": [{"bId": "q", "Query": "select * from Item"}]}
    batch_statuses = [qbo.post("batch", query).status_code for _ in range(3)]
    assert batch_statuses == [200, 200, 429]
    counters = qbo.state()["counters"]
    assert counters["responses_429"] == 3
    assert qbo.state()["limits"]["throttled"] == {"requests_per_minute": 2, "batch_per_minute": 1}
    qbo.admin("limits", {"enabled": False})
    assert {qbo.get("item/1").status_code for _ in range(8)} == {200}


def test_concurrency_limit_of_ten(qbo: QboClient) -> None:
    qbo.admin("limits", {"latency_seconds": 1.5})
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        status = qbo.get("item/1").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=call) for _ in range(15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 10 + [429] * 5
    assert qbo.state()["limits"]["realms"][REALM]["peak_in_flight"] == 10


# -- CDC and counters -------------------------------------------------------------------------


def test_cdc_reports_changes_and_deletions_since(qbo: QboClient) -> None:
    before = qbo.post("customer", {"DisplayName": "Old Customer"}).json()["Customer"]
    since = datetime.now(UTC).isoformat()
    customer = qbo.post("customer", {"DisplayName": "New Customer"}).json()["Customer"]
    invoice = qbo.post("invoice", _invoice(customer["Id"], 40)).json()["Invoice"]
    payment = qbo.post(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 40,
            "Line": [{"Amount": 40, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    ).json()["Payment"]
    deleted = qbo.post(
        "payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]}, operation="delete"
    )
    assert deleted.json()["Payment"]["status"] == "Deleted"

    cdc = qbo.get("cdc", entities="Customer,Invoice,Payment", changedSince=since).json()
    blocks = cdc["CDCResponse"][0]["QueryResponse"]
    by_entity = {
        key: block[key] for block in blocks for key in block if key not in ("startPosition", "maxResults")
    }
    assert [c["Id"] for c in by_entity["Customer"]] == [customer["Id"]] and before["Id"] != customer["Id"]
    assert by_entity["Invoice"][0]["Balance"] == 40  # the payment was applied and then deleted
    assert by_entity["Payment"] == [
        {
            "domain": "QBO",
            "status": "Deleted",
            "Id": payment["Id"],
            "MetaData": by_entity["Payment"][0]["MetaData"],
        }
    ]

    qbo.admin("clock", {"advance_seconds": 31 * 86400})
    too_old = qbo.get("cdc", entities="Customer", changedSince=since)
    assert too_old.status_code == 400 and _error(too_old)["element"] == "changedSince"


def test_state_counts_requests_writes_and_timestamps(qbo: QboClient) -> None:
    qbo.post("customer", {"DisplayName": "Counted"})
    qbo.query("select * from Customer")
    qbo.get("item/1")
    counters = qbo.state()["counters"]
    assert counters["requests_total"] == 3
    assert counters["requests_by_kind"] == {"create": 1, "query": 1, "read": 1}
    assert counters["writes"]["Customer"]["create"] == 1
    assert counters["first_request_at"] <= counters["last_request_at"]
    requests.post(f"{qbo.url}/__admin/reset", timeout=10)
    state = qbo.state()
    assert state["counters"]["requests_total"] == 0 and state["realms"][REALM]["Customer"] == []
    assert state["tokens"]["refresh_token"] == "RT-initial"


# -- the real client libraries ----------------------------------------------------------------


def test_python_quickbooks_and_intuit_oauth_end_to_end(
    qbo_server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    from intuitlib.client import AuthClient
    from intuitlib.exceptions import AuthClientError
    from quickbooks import QuickBooks
    from quickbooks.batch import batch_create
    from quickbooks.exceptions import AuthorizationException, QuickbooksException, ValidationException
    from quickbooks.objects.base import Ref
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.invoice import Invoice

    class LocalQuickBooks(QuickBooks):
        api_url_v3 = sandbox_api_url_v3 = f"{qbo_server.url}/v3"

    def connect(refresh_token: str) -> tuple[AuthClient, QuickBooks]:
        auth = AuthClient(*CLIENT, "http://localhost/callback", environment=f"{qbo_server.url}/discovery")
        client = LocalQuickBooks(
            auth_client=auth, refresh_token=refresh_token, company_id=REALM, minorversion=75
        )
        return auth, client

    auth, qb = connect("RT-initial")
    rotated = auth.refresh_token
    assert rotated != "RT-initial"

    customer = Customer()
    customer.DisplayName = "D'Angelo Bakery"
    saved = customer.save(qb=qb, request_id="pq-customer-1")
    again = Customer()
    again.DisplayName = "D'Angelo Bakery"
    assert again.save(qb=qb, request_id="pq-customer-1").Id == saved.Id
    assert [c.Id for c in Customer.filter(DisplayName="D'Angelo Bakery", qb=qb)] == [saved.Id]
    with pytest.raises(ValidationException):
        Customer.where("DisplayName = 'D'Angelo Bakery'", qb=qb)

    fetched = Customer.get(saved.Id, qb=qb)
    fetched.CompanyName = "D'Angelo Bakery LLC"
    assert fetched.save(qb=qb).SyncToken == "1"

    invoice = Invoice()
    line = SalesItemLine()
    line.Amount = 42.5
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "1"
    invoice.Line.append(line)
    invoice.CustomerRef = fetched.to_ref()
    created = invoice.save(qb=qb)
    assert created.DocNumber == "1001" and created.TotalAmt == 42.5

    fresh, dup = Customer(), Customer()
    fresh.DisplayName, dup.DisplayName = "Batch Fresh", "D'Angelo Bakery"
    result = batch_create([fresh, dup], qb=qb)
    assert [c.DisplayName for c in result.successes] == ["Batch Fresh"]
    assert [f.Error[0].code for f in result.faults] == ["6240"]
    assert Customer.count(qb=qb) == 2

    requests.post(f"{qbo_server.url}/__admin/faults", json={"status": 429, "path_prefix": "/v3"}, timeout=10)
    with pytest.raises(QuickbooksException) as throttled:
        Customer.all(qb=qb)
    assert throttled.value.error_code == 10000 and "ThrottleExceeded" in throttled.value.message

    requests.post(f"{qbo_server.url}/__admin/tokens/expire", timeout=10)
    with pytest.raises(AuthorizationException):
        Customer.all(qb=qb)
    auth2, qb2 = connect(rotated)
    assert len(Customer.all(qb=qb2)) == 2
    with pytest.raises(AuthClientError):
        connect(rotated)  # superseded by the refresh just above
    assert auth2.refresh_token != rotated
