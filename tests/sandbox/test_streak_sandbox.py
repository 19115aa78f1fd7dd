"""The Streak sandbox speaks Streak's wire shapes: auth, v1/v2 lists, edits, errors, seed, admin routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.common.httpd import SandboxServer
from sandbox.streak.app import DEFAULT_API_KEY, StreakSandbox
from sandbox.streak.seed import FIELD_KEY, PIPELINE_KEY, TEAM_KEY, SeedConfig, build_seed

AUTH = (DEFAULT_API_KEY, "")


class Client:
    """Plain HTTP against the sandbox, as any Streak client would send it."""

    def __init__(self, server: SandboxServer) -> None:
        self.base = server.url
        self.app: StreakSandbox = server.app  # type: ignore[assignment]

    def get(self, path: str, auth: Any = AUTH, **params: Any) -> requests.Response:
        return requests.get(f"{self.base}/api{path}", params=params, auth=auth, timeout=30)

    def post(self, path: str, body: Any = None, auth: Any = AUTH, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.base}/api{path}", json=body, auth=auth, timeout=30, **kwargs)

    def admin(self, path: str, body: Any = None) -> requests.Response:
        return requests.post(f"{self.base}/__admin/{path}", json=body or {}, timeout=60)

    def ok(self, response: requests.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def client() -> Iterator[Client]:
    server = SandboxServer(StreakSandbox()).start()
    try:
        yield Client(server)
    finally:
        server.stop()


def assert_streak_error(response: requests.Response, status: int, text: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and text in body["error"]


def test_basic_auth_key_as_username_blank_password(client: Client) -> None:
    assert_streak_error(client.get("/v1/pipelines", auth=None), 401, "Authentication required")
    assert_streak_error(client.get("/v1/pipelines", auth=("wrong", "")), 401, "Invalid API key")
    assert_streak_error(client.get("/v1/pipelines", auth=(DEFAULT_API_KEY, "pw")), 401, "Invalid API key")
    assert_streak_error(
        requests.get(f"{client.base}/api/v1/pipelines", headers={"Authorization": "Basic !!!"}, timeout=10),
        401,
        "Malformed",
    )
    me = client.ok(client.get("/v1/users/me"))
    assert me["email"] == "sales.ops@example.com" and me["key"] == me["userKey"]
    assert_streak_error(client.get("/v1/nope"), 404, "Invalid API path specified")


def test_api_key_is_configurable() -> None:
    with SandboxServer(StreakSandbox(api_key="another-key-123")) as server:
        other = Client(server)
        assert other.get("/v1/users/me").status_code == 401
        assert other.get("/v1/users/me", auth=("another-key-123", "")).status_code == 200


def test_pipeline_stages_and_fields_shapes(client: Client) -> None:
    pipelines = client.ok(client.get("/v1/pipelines"))
    assert isinstance(pipelines, list) and len(pipelines) == 1
    pipeline = pipelines[0]
    assert pipeline["key"] == pipeline["pipelineKey"] == PIPELINE_KEY and pipeline["name"] == "Sales"
    assert pipeline["stageOrder"] == ["5001", "5002", "5003", "5004"]
    stages = client.ok(client.get(f"/v1/pipelines/{PIPELINE_KEY}/stages"))
    assert {k: v["name"] for k, v in stages.items()} == {
        "5001": "Lead",
        "5002": "Proposal",
        "5003": "Closed-Won",
        "5004": "Closed-Lost",
    }
    assert all(v["key"] == k for k, v in stages.items())
    fields = {f["name"]: f for f in client.ok(client.get(f"/v1/pipelines/{PIPELINE_KEY}/fields"))}
    assert fields["Product"]["type"] == "DROPDOWN"
    products = [i["name"] for i in fields["Product"]["dropdownSettings"]["items"]]
    assert len(products) == 8 and "Consulting Hours" in products and "Widget Pro" in products
    assert [i["name"] for i in fields["Deal Type"]["dropdownSettings"]["items"]] == ["Service", "Product"]
    assert {
        fields[n]["type"] for n in ("Quantity", "Unit Price", "Deal Value", "Line Items", "ERP Invoice #")
    } == {"TEXT_INPUT"}
    assert fields["Close Date"]["type"] == "DATE"
    assert_streak_error(client.get("/v1/pipelines/missing"), 404, "Pipeline not found")


def test_v1_boxes_plain_array_or_pages(client: Client) -> None:
    path = f"/v1/pipelines/{PIPELINE_KEY}/boxes"
    everything = client.ok(client.get(path))
    assert isinstance(everything, list) and len(everything) == 50
    stamps = [b["lastUpdatedTimestamp"] for b in everything]
    assert stamps == sorted(stamps, reverse=True)
    pages, page = [], 0
    while True:
        body = client.ok(client.get(path, page=page, limit=20, sortBy="lastUpdatedTimestamp"))
        assert set(body) == {"results", "hasNextPage"}
        pages.append(body)
        if not body["hasNextPage"]:
            break
        page += 1
    assert [len(p["results"]) for p in pages] == [20, 20, 10]
    assert [b["key"] for p in pages for b in p["results"]] == [b["key"] for b in everything]
    won = client.ok(client.get(path, stageKey="5003"))
    assert len(won) == 12 and {b["stageKey"] for b in won} == {"5003"}
    created = [b["creationTimestamp"] for b in client.ok(client.get(path, sortBy="creationTimestamp"))]
    assert created == sorted(created, reverse=True)
    assert_streak_error(client.get(path, sortBy="name"), 400, "Invalid sortBy")
    assert_streak_error(client.get(path, page="x", limit=5), 400, "Invalid page")
    assert_streak_error(client.get(path, stageKey="9"), 400, "Invalid stageKey")


def test_v2_boxes_limit_offset(client: Client) -> None:
    path = f"/v2/pipelines/{PIPELINE_KEY}/boxes"
    first = client.ok(client.get(path, limit=30, offset=0))
    second = client.ok(client.get(path, limit=30, offset=30))
    assert (len(first["results"]), first["hasNextPage"]) == (30, True)
    assert (len(second["results"]), second["hasNextPage"]) == (20, False)
    assert not {b["key"] for b in first["results"]} & {b["key"] for b in second["results"]}


def test_box_shape_and_seed_content(client: Client) -> None:
    raw = requests.get(f"{client.base}/api/v1/pipelines/{PIPELINE_KEY}/boxes", auth=AUTH, timeout=10).content
    assert "Zoë".encode() in raw or "Müller".encode() in raw  # UTF-8 on the wire, not \u escapes
    state = client.app.state_snapshot()
    boxes = state["boxes"]
    box = client.ok(client.get(f"/v1/boxes/{boxes[0]['key']}"))
    for name in ("key", "boxKey", "pipelineKey", "name", "stageKey", "fields", "creationTimestamp", "notes"):
        assert name in box
    assert (
        box["lastStageChangeTimestamp"] > 10**12
        and box["lastUpdatedTimestamp"] >= box["lastStageChangeTimestamp"]
    )
    contacts = {c["key"] for c in state["contacts"]}
    orgs = {o["key"]: o for o in state["organizations"]}
    for b in boxes:
        linked = [c["key"] for c in b["contacts"]] + [o["key"] for o in b["organizations"]]
        assert linked and set(linked) <= contacts | set(orgs)
    names = " ".join([b["name"] for b in boxes] + [c["familyName"] for c in state["contacts"]])
    assert "'" in names and any(ord(ch) > 127 for ch in names)
    won = [b for b in boxes if b["stageKey"] == "5003"]
    assert len(won) == 12
    assert {b["lastStageChangeTimestamp"] for b in won}.__len__() > 1
    assert all(state["clock_ms"] - b["lastStageChangeTimestamp"] < 6 * 86_400_000 for b in won)
    with_lines = [b for b in won if FIELD_KEY["Line Items"] in b["fields"]]
    with_product = [b for b in won if FIELD_KEY["Product"] in b["fields"]]
    assert with_lines and with_product
    assert all(
        len(line.split(" | ")) == 4
        for b in with_lines
        for line in b["fields"][FIELD_KEY["Line Items"]].split("\n")
    )
    assert any("," in b["fields"][FIELD_KEY["Deal Value"]] for b in won)  # European decimals
    bad = state["seed"]["bad_box_keys"]
    by_key = {b["key"]: b for b in boxes}
    assert sorted(bad.values()) == ["missing Unit Price", "non-numeric Quantity", "unknown product"]
    reason_of = {v: by_key[k]["fields"] for k, v in bad.items()}
    assert FIELD_KEY["Unit Price"] not in reason_of["missing Unit Price"]
    assert reason_of["non-numeric Quantity"][FIELD_KEY["Quantity"]] == "ten"
    assert "Flux Capacitor" in reason_of["unknown product"][FIELD_KEY["Line Items"]]


def test_seed_is_deterministic_and_scales() -> None:
    first, second = build_seed(SeedConfig(), 1_800_000_000_000), build_seed(SeedConfig(), 1_800_000_000_000)
    assert json.dumps(first.boxes) == json.dumps(second.boxes)
    assert first.seed_info == second.seed_info
    big = build_seed(SeedConfig(boxes=2000, seed=3), 1_800_000_000_000)
    assert len(big.boxes) == 2000 and len({o["name"] for o in big.organizations.values()}) == len(
        big.organizations
    )


def test_edit_box_stage_and_fields(client: Client) -> None:
    box = client.app.state_snapshot()["boxes"][0]
    client.admin("clock", {"advance_ms": 5_000})
    target = "5004" if box["stageKey"] != "5004" else "5001"
    edited = client.ok(
        client.post(
            f"/v1/boxes/{box['key']}", {"stageKey": target, "notes": "Zoë called", "fields": {"1008": "X-1"}}
        )
    )
    assert (
        edited["stageKey"] == target and edited["notes"] == "Zoë called" and edited["fields"]["1008"] == "X-1"
    )
    assert edited["lastStageChangeTimestamp"] >= box["lastStageChangeTimestamp"] + 5_000
    assert edited["stageHistoryEntries"][-1] == {
        "stageKey": target,
        "previousStageKey": box["stageKey"],
        "timestamp": edited["lastStageChangeTimestamp"],
    }
    again = client.ok(
        client.post(f"/v1/boxes/{box['key']}", {"stageKey": target})
    )  # same stage: no new entry
    assert len(again["stageHistoryEntries"]) == len(edited["stageHistoryEntries"])
    assert_streak_error(client.post(f"/v1/boxes/{box['key']}", {"stageKey": "7777"}), 400, "Invalid stageKey")
    assert_streak_error(
        client.post(f"/v1/boxes/{box['key']}", {"fields": {"1001": "Widget Pro"}}), 400, "option key"
    )
    assert_streak_error(client.post("/v1/boxes/nope", {"name": "x"}), 404, "Box not found")


def test_legacy_form_bodies_are_accepted(client: Client) -> None:
    key = client.app.state_snapshot()["boxes"][1]["key"]
    url = f"{client.base}/api/v1/boxes/{key}"
    wrapped = requests.post(
        url, data={"json": json.dumps({"name": "Café Olé – renewal"})}, auth=AUTH, timeout=10
    )
    assert client.ok(wrapped)["name"] == "Café Olé – renewal"
    plain = requests.post(url, data={"notes": "O'Brien's note"}, auth=AUTH, timeout=10)
    assert client.ok(plain)["notes"] == "O'Brien's note"
    field = requests.post(f"{url}/fields/1002", data={"value": "3"}, auth=AUTH, timeout=10)
    assert client.ok(field)["value"] == "3"
    assert_streak_error(
        requests.post(
            url, data="{not json", headers={"Content-Type": "application/json"}, auth=AUTH, timeout=10
        ),
        400,
        "Missing parameters",
    )


def test_field_values(client: Client) -> None:
    key = client.app.state_snapshot()["seed"]["won_box_keys"][3]
    set_result = client.ok(client.post(f"/v1/boxes/{key}/fields/1008", {"value": "INV-7"}))
    assert set_result["key"] == "1008" and set_result["value"] == "INV-7"
    values = {v["key"]: v["value"] for v in client.ok(client.get(f"/v1/boxes/{key}/fields"))}
    assert values["1008"] == "INV-7"
    assert client.ok(client.post(f"/v1/boxes/{key}/fields/1001", {"value": "9002"}))["value"] == "9002"
    assert (
        client.ok(client.post(f"/v1/boxes/{key}/fields/1007", {"value": "1790000000000"}))["value"]
        == 1790000000000
    )
    assert_streak_error(client.post(f"/v1/boxes/{key}/fields/1001", {"value": "9999"}), 400, "option key")
    assert_streak_error(client.post(f"/v1/boxes/{key}/fields/1007", {"value": "tomorrow"}), 400, "epoch ms")
    assert_streak_error(client.post(f"/v1/boxes/{key}/fields/4242", {"value": "x"}), 400, "does not exist")
    assert_streak_error(client.post(f"/v1/boxes/{key}/fields/1008", {}), 400, "Missing parameters")
    client.ok(client.post(f"/v1/boxes/{key}/fields/1008", {"value": None}))
    assert "1008" not in client.ok(client.get(f"/v1/boxes/{key}"))["fields"]


def test_comments_contacts_orgs_teams(client: Client) -> None:
    key = client.app.state_snapshot()["boxes"][2]["key"]
    created = client.ok(client.post(f"/v2/boxes/{key}/comments", {"message": "Rechnung 42 – bezahlt"}))
    assert (
        created["message"] == "Rechnung 42 – bezahlt"
        and created["boxKey"] == key
        and created["timestamp"] > 10**12
    )
    listed = client.ok(client.get(f"/v2/boxes/{key}/comments"))
    assert listed == {"results": [created], "hasNextPage": False}
    assert_streak_error(client.post(f"/v2/boxes/{key}/comments", {"text": "x"}), 400, "Missing parameters")

    teams = client.ok(client.get("/v2/users/me/teams"))
    assert [t["key"] for t in teams["results"]] == [TEAM_KEY]
    page = client.ok(client.get(f"/v2/teams/{TEAM_KEY}/contacts", limit=40))
    assert len(page["results"]) == 40 and page["hasNextPage"] is True
    rest = client.ok(client.get(f"/v2/teams/{TEAM_KEY}/contacts", limit=40, offset=40))
    assert len(rest["results"]) == 10 and rest["hasNextPage"] is False
    contact = client.ok(client.get(f"/v2/contacts/{page['results'][0]['key']}"))
    assert contact["givenName"] and contact["emailAddresses"][0].isascii()
    orgs = client.ok(client.get(f"/v2/teams/{TEAM_KEY}/organizations", limit=100))
    org = client.ok(client.get(f"/v2/organizations/{orgs['results'][0]['key']}"))
    assert org["name"] == "O'Brien & Sons Plumbing" and org["addresses"]
    assert_streak_error(client.get("/v2/contacts/nope"), 404, "Contact not found")
    assert_streak_error(client.get("/v2/organizations/nope"), 404, "Organization not found")
    assert_streak_error(client.get("/v2/teams/nope/contacts"), 404, "Team not found")


def test_contacts_and_organizations_are_created_and_updated_boxes_deleted(client: Client) -> None:
    contacts = client.ok(client.get(f"/v2/teams/{TEAM_KEY}/contacts", limit=100))["results"]
    first, second = contacts[0], contacts[1]
    updated = client.ok(client.post(f"/v2/contacts/{first['key']}", {"phoneNumbers": ["+49 711 555"]}))
    assert updated["phoneNumbers"] == ["+49 711 555"] and updated["givenName"] == first["givenName"]
    assert updated["lastUpdatedTimestamp"] > first["lastUpdatedTimestamp"]
    assert client.ok(client.get(f"/v2/contacts/{first['key']}")) == updated
    clash = client.post(f"/v2/contacts/{first['key']}", {"emailAddresses": second["emailAddresses"]})
    assert_streak_error(clash, 400, "Contacts can't have duplicate emails")
    assert clash.json()["errorCode"] == 801
    assert_streak_error(
        client.post(f"/v2/contacts/{first['key']}", {"nickname": "x"}), 400, "Unknown contact"
    )
    assert_streak_error(
        client.post(f"/v2/teams/{TEAM_KEY}/contacts", {"title": "CFO"}), 400, "Insufficient params"
    )

    made = client.ok(
        client.post(
            f"/v2/teams/{TEAM_KEY}/contacts", {"givenName": "Ngozi", "emailAddresses": ["n@x.example"]}
        )
    )
    assert made["key"] not in {c["key"] for c in contacts} and made["organizations"] == []
    again = client.post(
        f"/v2/teams/{TEAM_KEY}/contacts?getIfExisting=true", {"emailAddresses": ["N@x.example"]}
    )
    assert client.ok(again)["key"] == made["key"]
    bad_emails = {"emailAddresses": [{"address": "n@x.example"}]}  # Streak takes strings only
    for path in (f"/v2/teams/{TEAM_KEY}/contacts?getIfExisting=true", f"/v2/contacts/{made['key']}"):
        assert_streak_error(client.post(path, bad_emails), 400, "emailAddresses must be an array of strings")
    listed = client.ok(client.get(f"/v2/teams/{TEAM_KEY}/contacts", limit=1, offset=len(contacts)))
    assert listed["results"] == [made]

    org = client.ok(client.get(f"/v2/teams/{TEAM_KEY}/organizations", limit=1))["results"][0]
    renamed = client.ok(client.post(f"/v2/organizations/{org['key']}", {"name": "Zoë's Bakery & Café"}))
    assert renamed["name"] == "Zoë's Bakery & Café" and renamed["domains"] == org["domains"]
    assert_streak_error(
        client.post(f"/v2/organizations/{org['key']}", {"employeeCount": "many"}), 400, "number"
    )
    assert_streak_error(client.post("/v2/organizations/nope", {"name": "x"}), 404, "Organization not found")

    box = client.app.state_snapshot()["boxes"][0]["key"]
    gone = requests.delete(f"{client.base}/api/v1/boxes/{box}", auth=AUTH, timeout=10)
    assert client.ok(gone) == {"success": True}
    assert_streak_error(client.get(f"/v1/boxes/{box}"), 404, "Box not found")


def test_admin_stage_move_create_box_and_clock(client: Client) -> None:
    lead = client.ok(client.get(f"/v1/pipelines/{PIPELINE_KEY}/boxes", stageKey="5001"))[0]
    before = client.ok(client.admin("clock"))["now_ms"]
    after = client.ok(client.admin("clock", {"advance_ms": 3_600_000}))["now_ms"]
    assert after >= before + 3_600_000
    moved = client.ok(client.admin(f"boxes/{lead['key']}/stage", {"stage": "closed-won"}))
    assert moved["stageKey"] == "5003" and moved["lastStageChangeTimestamp"] >= after
    assert moved["stageHistoryEntries"][-1]["previousStageKey"] == "5001"
    assert_streak_error(
        client.admin(f"boxes/{lead['key']}/stage", {"stage": "Nirvana"}), 400, "Unknown stage"
    )

    spec = {
        "name": "Müller GmbH – Widget Pro",
        "stage": "Closed-Won",
        "fields": {"Product": "Widget Pro", "Quantity": "2", "Unit Price": "499.00", "Deal Type": "Product"},
        "organization_keys": [client.app.state_snapshot()["organizations"][2]["key"]],
    }
    box = client.ok(client.admin("boxes", spec))
    assert box["stageKey"] == "5003" and box["fields"] == {
        "1001": "9002",
        "1002": "2",
        "1003": "499.00",
        "1006": "9102",
    }
    assert (
        client.ok(client.get(f"/v1/boxes/{box['key']}"))["organizations"][0]["key"]
        == spec["organization_keys"][0]
    )
    assert_streak_error(
        client.admin("boxes", {"name": "x", "fields": {"Colour": "red"}}), 400, "Unknown field"
    )
    assert_streak_error(
        client.admin("boxes", {"name": "x", "fields": {"Product": "Hoverboard"}}), 400, "option key"
    )
    assert len(client.app.data.boxes) == 51  # the rejected ones left nothing behind


def test_admin_seed_and_reset(client: Client) -> None:
    summary = client.ok(client.admin("seed", {"boxes": 3000, "organizations": 500, "contacts": 900}))
    assert (summary["boxes"], summary["organizations"], summary["contacts"], summary["won"]) == (
        3000,
        500,
        900,
        720,
    )
    last = client.ok(client.get(f"/v1/pipelines/{PIPELINE_KEY}/boxes", page=29, limit=100))
    assert len(last["results"]) == 100 and last["hasNextPage"] is False
    assert_streak_error(client.admin("seed", {"boxes": -1}), 400, "Bad seed spec")
    assert_streak_error(client.admin("seed", {"box": 10}), 400, "unknown seed settings")
    # curl -d sends JSON labelled as a form: still understood
    curl_like = requests.post(f"{client.base}/__admin/seed", data='{"boxes": 60}', timeout=30)
    assert client.ok(curl_like)["boxes"] == 60
    client.ok(client.admin("seed", {"boxes": 3000, "organizations": 500, "contacts": 900}))
    client.ok(client.admin("reset"))
    assert len(client.ok(client.get(f"/v1/pipelines/{PIPELINE_KEY}/boxes"))) == 3000  # reset keeps the config


def test_fault_responses_in_streak_format(client: Client) -> None:
    client.ok(client.admin("faults", {"kind": "status", "status": 429, "retry_after": 2}))
    throttled = client.get("/v1/pipelines")
    assert throttled.headers["Retry-After"] == "2"
    assert_streak_error(throttled, 429, "Too many requests")
    client.ok(client.admin("faults", {"kind": "status", "status": 500}))
    assert_streak_error(client.get("/v1/pipelines"), 500, "Internal server error")
    assert client.get("/v1/pipelines").status_code == 200

    key = client.app.state_snapshot()["boxes"][0]["key"]
    client.ok(client.admin("faults", {"kind": "lose", "status": 503, "path_prefix": f"/api/v2/boxes/{key}"}))
    assert_streak_error(client.post(f"/v2/boxes/{key}/comments", {"message": "lost"}), 503, "unavailable")
    assert [c["message"] for c in client.app.state_snapshot()["comments"][key]] == ["lost"]  # done anyway
    assert_streak_error(client.admin("faults", {"kind": "drop"}), 400, "fault kind")
