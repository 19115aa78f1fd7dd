"""StreakHook against the real Streak sandbox: shapes, paging, writes, retries, auth errors, secrets."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from airflow.sdk.exceptions import AirflowFailException

from sandbox.common.httpd import SandboxServer
from sandbox.streak.app import StreakSandbox
from sandbox.streak.seed import PIPELINE_KEY, TEAM_KEY
from streak_hooks.errors import StreakAPIError, StreakTransientError
from streak_hooks.hook import StreakHook
from streak_hooks.models import Box, Comment, Stage
from tests.streak.conftest import API_KEY, FAST_RETRIES, Admin

BOXES_PATH = f"/api/v1/pipelines/{PIPELINE_KEY}/boxes"


def field_key(hook: StreakHook, name: str) -> str:
    found = next(f for f in hook.get_fields(PIPELINE_KEY) if f.name == name)
    return found.key


def test_pipelines_stages_and_fields(streak_hook: StreakHook) -> None:
    pipelines = streak_hook.get_pipelines()
    assert [p.name for p in pipelines] == ["Sales"]
    pipeline = streak_hook.get_pipeline(pipelines[0].key)
    assert [s.name for s in pipeline.stages] == ["Lead", "Proposal", "Closed-Won", "Closed-Lost"]

    stages = streak_hook.get_stages(pipeline.key)
    assert isinstance(stages, dict)
    assert stages["5003"] == Stage(key="5003", name="Closed-Won")
    assert set(stages) == {s.key for s in pipeline.stages}

    fields = {f.name: f for f in streak_hook.get_fields(pipeline.key)}
    assert {
        "Product",
        "Quantity",
        "Unit Price",
        "Deal Value",
        "Line Items",
        "Deal Type",
        "Close Date",
    } <= set(fields)
    assert fields["Product"].type == "DROPDOWN" and len(fields["Product"].options) >= 8
    assert fields["Deal Type"].option_key("service") is not None
    assert fields["Close Date"].type == "DATE" and fields["ERP Invoice #"].type == "TEXT_INPUT"


def test_iter_boxes_pages_through_every_box(streak_hook: StreakHook, admin: Admin) -> None:
    boxes = list(streak_hook.iter_boxes(PIPELINE_KEY, page_size=7))
    expected = {b["key"] for b in admin.state()["boxes"]}
    assert len(boxes) == len(expected) == 50
    assert {b.key for b in boxes} == expected
    stamps = [b.last_updated_ts for b in boxes]
    assert stamps == sorted(stamps, reverse=True)  # newest first, as the detector relies on
    assert len(admin.requests_to(BOXES_PATH)) == 8  # ceil(50 / 7) pages, no extra empty call


def test_iter_boxes_filters_by_stage_and_sorts_by_creation(streak_hook: StreakHook, admin: Admin) -> None:
    won = list(streak_hook.iter_boxes(PIPELINE_KEY, stage_key="5003", page_size=5))
    assert {b.key for b in won} == set(admin.state()["seed"]["won_box_keys"])
    assert all(isinstance(b, Box) and b.stage_key == "5003" for b in won)
    created = [
        b.creation_ts for b in streak_hook.iter_boxes(PIPELINE_KEY, sort_by="creationTimestamp", page_size=20)
    ]
    assert created == sorted(created, reverse=True) and len(created) == 50
    with pytest.raises(ValueError, match="sort_by"):
        next(streak_hook.iter_boxes(PIPELINE_KEY, sort_by="name"))


def test_recovers_from_429_burst_honouring_retry_after(
    streak_hook: StreakHook, admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    admin.fault(count=3, kind="status", status=429, retry_after=0.2, path_prefix="/api/v1/pipelines")
    with caplog.at_level(logging.WARNING, logger="streak_hooks"):
        assert [p.name for p in streak_hook.get_pipelines()] == ["Sales"]
    statuses = [r["status"] for r in admin.requests_to("/api/v1/pipelines")]
    assert statuses == [429, 429, 429, 200]
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 3
    # Retry-After (0.2 s) wins over the 10-50 ms backoff configured for tests
    assert all("/v1/pipelines" in r.getMessage() and "429" in r.getMessage() for r in retries)
    assert all("retrying in 0.20s" in r.getMessage() for r in retries)


def test_recovers_from_500_burst_in_the_middle_of_paging(streak_hook: StreakHook, admin: Admin) -> None:
    pages = streak_hook.iter_boxes(PIPELINE_KEY, page_size=10)
    first = [next(pages) for _ in range(10)]
    admin.fault(count=3, kind="status", status=500, path_prefix=BOXES_PATH)
    rest = list(pages)
    assert len({b.key for b in first + rest}) == 50
    assert [r["status"] for r in admin.requests_to(BOXES_PATH)].count(500) == 3


def test_recovers_from_connection_resets(streak_hook: StreakHook, admin: Admin) -> None:
    box_key = admin.state()["boxes"][0]["key"]
    admin.fault(count=2, kind="reset", path_prefix=f"/api/v1/boxes/{box_key}")
    assert streak_hook.get_box(box_key).key == box_key
    assert admin.app.faults.snapshot()["injected"]["reset"] == 2


def test_gives_up_after_bounded_attempts_with_a_clear_error(
    streak_sandbox: SandboxServer, admin: Admin
) -> None:
    hook = StreakHook.from_params(
        base_url=f"{streak_sandbox.url}/api", api_key=API_KEY, **{**FAST_RETRIES, "max_retries": 2}
    )
    admin.fault(count=10, kind="status", status=503, path_prefix="/api/v1/pipelines")
    with pytest.raises(StreakTransientError) as caught:
        hook.get_pipelines()
    assert not isinstance(caught.value, AirflowFailException)  # Airflow's task retry may still help
    text = str(caught.value)
    assert "get_pipelines" in text and "GET /v1/pipelines" in text and "503" in text
    assert "Service unavailable" in text and "after 3 attempts" in text
    assert len(admin.requests_to("/api/v1/pipelines")) == 3


def test_wrong_api_key_is_one_clear_error_without_retries(
    streak_sandbox: SandboxServer, admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "sbx-wrong-key-0d8e6b4a2c9f"
    hook = StreakHook.from_params(base_url=f"{streak_sandbox.url}/api", api_key=wrong_key, **FAST_RETRIES)
    with caplog.at_level(logging.DEBUG), pytest.raises(StreakAPIError) as caught:
        hook.get_pipelines()
    error = caught.value
    assert isinstance(error, AirflowFailException)
    assert error.status == 401 and error.endpoint == "/v1/pipelines"
    assert "Invalid API key" in str(error) and "GET /v1/pipelines" in str(error) and "401" in str(error)
    assert len(admin.requests_to("/api/v1/pipelines")) == 1
    assert not [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("streak_hooks")
    ]
    assert wrong_key not in str(error) and wrong_key not in repr(error.args)
    assert wrong_key not in caplog.text

    ok, message = hook.test_connection()
    assert ok is False and "401" in message and "/v1/users/me" in message and wrong_key not in message


def test_api_key_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    # A key no earlier test has used, so the masker check below proves this hook registered it.
    api_key = f"sbx-streak-{uuid.uuid4().hex}"
    from airflow.sdk._shared.secrets_masker import redact

    assert api_key in str(redact(f"key={api_key}"))
    with SandboxServer(StreakSandbox(api_key=api_key)) as server:
        admin = Admin(server)
        hook = StreakHook.from_params(base_url=f"{server.url}/api", api_key=api_key, **FAST_RETRIES)
        admin.fault(count=2, kind="status", status=429, retry_after=0.01)
        admin.fault(count=1, kind="reset")
        admin.fault(count=1, kind="status", status=500)
        with caplog.at_level(logging.DEBUG):
            hook.get_pipelines()
            with pytest.raises(StreakAPIError) as caught:
                hook.get_box("no-such-box")
        hook.close()
    assert caught.value.status == 404 and "Box not found" in str(caught.value)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 4
    assert api_key not in caplog.text and api_key not in str(caught.value)
    assert api_key not in repr(hook.settings)
    # the key is registered with Airflow's secrets masker when the session is built
    assert api_key not in str(redact(f"key={api_key}"))


def test_set_box_field_round_trip(streak_hook: StreakHook, admin: Admin) -> None:
    box_key = admin.state()["seed"]["won_box_keys"][0]
    invoice_field = field_key(streak_hook, "ERP Invoice #")
    result = streak_hook.set_box_field(box_key, invoice_field, "INV-1042 (Müller)")
    assert result["value"] == "INV-1042 (Müller)"
    assert streak_hook.get_box(box_key).fields[invoice_field] == "INV-1042 (Müller)"

    product = next(f for f in streak_hook.get_fields(PIPELINE_KEY) if f.name == "Product")
    widget_pro = product.option_key("Widget Pro")
    streak_hook.set_box_field(box_key, product.key, widget_pro)
    assert streak_hook.get_box(box_key).fields[product.key] == widget_pro
    with pytest.raises(StreakAPIError, match="option key") as caught:
        streak_hook.set_box_field(box_key, product.key, "Widget Pro")  # a name, not a key
    assert caught.value.status == 400
    with pytest.raises(StreakAPIError, match="does not exist"):
        streak_hook.set_box_field(box_key, "9999", "x")


def test_update_box_moves_stage_and_edits_fields(streak_hook: StreakHook) -> None:
    lead = next(streak_hook.iter_boxes(PIPELINE_KEY, stage_key="5001"))
    quantity = field_key(streak_hook, "Quantity")
    updated = streak_hook.update_box(
        lead.key, name="Zoë's Bakery – renewal", stage_key="5002", fields={quantity: "7"}
    )
    assert updated.name == "Zoë's Bakery – renewal" and updated.stage_key == "5002"
    assert updated.fields[quantity] == "7"
    assert updated.last_stage_change_ts > lead.last_stage_change_ts
    assert updated.raw["stageHistoryEntries"][-1]["stageKey"] == "5002"
    with pytest.raises(TypeError, match="unknown changes"):
        streak_hook.update_box(lead.key, colour="red")


def test_create_and_list_comments(streak_hook: StreakHook, admin: Admin) -> None:
    box_key = admin.state()["boxes"][5]["key"]
    comment = streak_hook.create_comment(box_key, "Invoice INV-1042 created in QuickBooks – O'Brien's order")
    assert isinstance(comment, Comment) and comment.box_key == box_key
    admin.fault(count=1, kind="reset", path_prefix=f"/api/v2/boxes/{box_key}/comments")
    streak_hook.create_comment(box_key, "second, after a dropped connection")
    messages = [c.message for c in streak_hook.get_comments(box_key)]
    assert messages == [comment.message, "second, after a dropped connection"]
    assert streak_hook.get_box(box_key).raw["commentCount"] == 2


def test_comment_whose_answer_was_lost_is_not_posted_twice(
    streak_sandbox: SandboxServer, admin: Admin
) -> None:
    # the server takes 0.5 s (the client gives up after 0.3 s) but still stores the comment
    hook = StreakHook.from_params(
        base_url=f"{streak_sandbox.url}/api",
        api_key=API_KEY,
        timeout=0.3,
        retry_min_wait=1.0,
        retry_max_wait=1.0,
    )
    box_key = admin.state()["boxes"][6]["key"]
    admin.fault(count=1, kind="slow", delay=0.5, path_prefix=f"/api/v2/boxes/{box_key}/comments")
    comment = hook.create_comment(box_key, "Payment received: 1.200,00 EUR")
    assert [c.key for c in hook.get_comments(box_key)] == [comment.key]


def test_admin_stage_move_updates_last_stage_change(streak_hook: StreakHook, admin: Admin) -> None:
    proposal = next(streak_hook.iter_boxes(PIPELINE_KEY, stage_key="5002"))
    admin.post("clock", {"advance_ms": 60_000})
    admin.post(f"boxes/{proposal.key}/stage", {"stage": "Closed-Won"})
    moved = streak_hook.get_box(proposal.key)
    assert moved.stage_key == "5003"
    assert moved.last_stage_change_ts >= proposal.last_stage_change_ts + 60_000
    assert moved.last_updated_ts >= moved.last_stage_change_ts
    newest = next(streak_hook.iter_boxes(PIPELINE_KEY, stage_key="5003", page_size=3))
    assert newest.key == proposal.key


def test_contacts_organizations_and_teams(streak_hook: StreakHook, admin: Admin) -> None:
    teams = streak_hook.get_teams()
    assert [t.key for t in teams] == [TEAM_KEY]
    contacts = list(streak_hook.iter_team_contacts(TEAM_KEY, page_size=20))
    orgs = list(streak_hook.iter_team_organizations(TEAM_KEY, page_size=7))
    assert len(contacts) == 50 and len(orgs) == 30
    assert len(admin.requests_to(f"/api/v2/teams/{TEAM_KEY}/organizations")) == 5
    names = {o.name for o in orgs}
    assert "Zoë's Bakery" in names and "Dunkin' Donuts of Springfield" in names
    box = next(b for b in streak_hook.iter_boxes(PIPELINE_KEY) if b.organization_keys and b.contact_keys)
    org = streak_hook.get_organization(box.organization_keys[0])
    contact = streak_hook.get_contact(box.contact_keys[0])
    assert org.name in box.name and org.addresses
    assert contact.emails and contact.given_name and org.key in contact.organization_keys


def test_connection_from_environment_variable(
    streak_sandbox: SandboxServer, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    StreakHook()  # __init__ does no I/O: no connection lookup yet, so no error
    conn = {
        "conn_type": "streak",
        "host": f"{streak_sandbox.url}/api",
        "password": API_KEY,
        "extra": {"max_retries": "2", "retry_min_wait": "0.01", "retry_max_wait": "0.02"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_STREAK_DEFAULT", json.dumps(conn))
    hook = StreakHook()
    assert hook.settings.base_url == f"{streak_sandbox.url}/api" and hook.settings.max_retries == 2
    assert hook.get_conn().auth == (API_KEY, "")
    assert hook.test_connection() == (True, "Connected to Streak as sales.ops@example.com")
    admin.fault(count=2, kind="status", status=502, path_prefix="/api/v1/pipelines")
    assert len(hook.get_pipelines()) == 1

    monkeypatch.setenv(
        "AIRFLOW_CONN_STREAK_DEFAULT", json.dumps({**conn, "password": "sbx-not-the-key-0000"})
    )
    ok, message = StreakHook().test_connection()
    assert not ok and "Invalid API key" in message and "sbx-not-the-key-0000" not in message
