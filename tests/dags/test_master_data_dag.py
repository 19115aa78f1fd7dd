"""End to end through the real ``streak_master_data_sync`` DAG (``dag.test()``) against the Streak and
QuickBooks Online sandboxes: the bulk load creates exactly the expected customers and items in
chunks, a rerun writes nothing, one changed contact is one sparse update with the current
SyncToken, a bad contact is quarantined (key + field) while the rest go on, and a replay after the
fix syncs it and clears its quarantine row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.dags.conftest import REPO, STREAK_KEY

DAG_ID = "streak_master_data_sync"
CHUNK_SIZE = 7  # small, so the seeded data needs several mapped chunks


@pytest.fixture
def env(sync_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The sync sandboxes plus a config whose chunk size makes the seed span several chunks."""
    config = yaml.safe_load((REPO / "include" / "sync.yaml").read_text(encoding="utf-8"))
    config["master_data"] = {**config.get("master_data", {}), "chunk_size": CHUNK_SIZE, "page_size": 5}
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("STREAK_ERP_SYNC_CONFIG", str(path))
    return sync_env


def _run(env, conf: dict[str, Any] | None = None) -> Any:
    """Run the DAG once; returns the DagRun (state asserted by the callers)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{DAG_ID}.py"))
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID).test(run_conf=conf or {})


def _mapped_chunks(run) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return (
            session.query(TaskInstance)
            .filter_by(dag_id=DAG_ID, run_id=run.run_id, task_id="sync_chunk", state="success")
            .count()
        )


def _writes(env) -> dict[str, dict[str, int]]:
    return env.qbo.app.state_snapshot()["counters"]["writes"]


def _write_requests(env) -> int:
    """POSTs to the QuickBooks API other than queries (creates, updates, batches)."""
    return sum(
        1
        for r in env.qbo.app.request_log
        if r["method"] == "POST"
        and "/v3/company/" in r["path"]
        and not r["path"].rstrip("/").endswith("query")
    )


def _expected_customers(env) -> dict[str, str]:
    """Streak key -> QuickBooks display name: every organization, and every contact without one."""
    state = env.streak_state()
    expected = {o["key"]: " ".join(o["name"].split()) for o in state["organizations"]}
    for c in state["contacts"]:
        if not c["organizations"]:
            expected[c["key"]] = f"{c['givenName']} {c['familyName']}".strip()
    return expected


def _streak(env, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.request(
        method, env.streak.url + "/api" + path, json=body, auth=(STREAK_KEY, ""), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def _customers_by_key(env) -> dict[str, dict[str, Any]]:
    by_id = {c["Id"]: c for c in env.qbo_entities("Customer")}
    return {row.source_key: by_id[row.erp_id] for row in env.store.ledger_all("quickbooks", "customer")}


@pytest.mark.slow
def test_bulk_load_creates_exactly_the_expected_records_in_chunks_and_a_rerun_writes_nothing(env) -> None:
    from streak_hooks.models import Pipeline
    from sync_core.mapping import catalogue_items, load_mapping

    expected = _expected_customers(env)
    assert len(set(expected.values())) == len(expected), "the seed must give distinct customer names"
    pipeline = env.streak_state()["pipelines"][0]
    items = catalogue_items(load_mapping("quickbooks"), Pipeline.from_api(pipeline))
    product_options = [
        o["name"]
        for f in pipeline["fields"]
        if f["name"] == "Product"
        for o in f["dropdownSettings"]["items"]
    ]
    seeded_items = {i["Name"] for i in env.qbo_entities("Item")}

    # A dry run reads, maps and validates everything but writes nothing anywhere.
    assert _run(env, {"dry_run": True}).state == "success"
    assert _write_requests(env) == 0
    assert env.qbo_entities("Customer") == []
    store = env.store.create_all()
    assert store.ledger_all() == [] and store.quarantine_list() == []

    run = _run(env)
    assert run.state == "success"
    assert _mapped_chunks(run) >= -(-len(expected) // CHUNK_SIZE) + 1  # customer chunks + item chunk(s)

    customers = env.qbo_entities("Customer")
    assert sorted(c["DisplayName"] for c in customers) == sorted(expected.values())
    linked = _customers_by_key(env)
    assert {k: c["DisplayName"] for k, c in linked.items()} == expected
    assert all(row.payload_hash for row in env.store.ledger_all("quickbooks", "customer"))
    # written in QuickBooks' bulk form: batches of up to 30, not one request per customer
    assert _writes(env)["Customer"]["create"] == len(expected)
    assert env.qbo.app.state_snapshot()["counters"]["batch_requests"] < len(expected)

    new_items = {i["Name"] for i in env.qbo_entities("Item")} - seeded_items
    item_rows = env.store.ledger_all("quickbooks", "item")
    assert {row.source_key for row in item_rows} == {i.sku for i in items}
    assert set(product_options) <= {i["Name"] for i in env.qbo_entities("Item")}
    assert len(new_items) == _writes(env)["Item"]["create"] > 0
    assert env.store.quarantine_list() == []

    # Rerun with no Streak changes: not one ERP write.
    before = _write_requests(env)
    writes = _writes(env)
    assert _run(env).state == "success"
    assert _write_requests(env) == before
    assert _writes(env) == writes


@pytest.mark.slow
def test_one_changed_contact_is_one_sparse_update_with_the_current_sync_token(env) -> None:
    assert _run(env, {"entity": "customers"}).state == "success"
    contact = next(c for c in env.streak_state()["contacts"] if not c["organizations"])
    customer = _customers_by_key(env)[contact["key"]]
    assert customer["SyncToken"] == "0"

    # A bookkeeper edits the customer in QuickBooks (its SyncToken moves on to 1) ...
    from sandbox.quickbooks.entities import Company

    qbo = env.qbo.app
    with qbo.lock:
        realm = next(iter(qbo.realms.values()))
        Company(realm, qbo.clock).update(
            "Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "VIP, call first"}
        )
    # ... and the contact's phone number changes in Streak.
    _streak(env, "POST", f"/v2/contacts/{contact['key']}", {"phoneNumbers": ["+1 217 555-0199"]})
    tokens = {c["Id"]: c["SyncToken"] for c in env.qbo_entities("Customer")}
    writes = _writes(env)["Customer"]

    assert _run(env, {"entity": "customers"}).state == "success"

    after = _writes(env)["Customer"]
    assert (after["create"] - writes["create"], after["update"] - writes["update"]) == (0, 1)
    updated = _customers_by_key(env)[contact["key"]]
    assert updated["PrimaryPhone"]["FreeFormNumber"] == "+1 217 555-0199"
    assert updated["SyncToken"] == "2"  # sent with SyncToken 1: QuickBooks refuses a stale one (5010)
    assert updated["Notes"] == "VIP, call first"  # sparse: the bookkeeper's field is kept
    changed = {c["Id"] for c in env.qbo_entities("Customer") if c["SyncToken"] != tokens[c["Id"]]}
    assert changed == {customer["Id"]}


@pytest.mark.slow
def test_bad_contact_is_quarantined_the_rest_go_on_and_a_replay_after_the_fix_releases_it(env) -> None:
    team = env.streak_state()["team"]["key"]
    bad = _streak(
        env,
        "POST",
        f"/v2/teams/{team}/contacts",
        {"givenName": "Ünal", "familyName": "D'Souza", "emailAddresses": ["unal.dsouza(at)example"]},
    )
    expected = _expected_customers(env)

    assert _run(env, {"entity": "customers"}).state == "success"

    rows = env.store.quarantine_list("quickbooks", "customer")
    assert [row.source_key for row in rows] == [bad["key"]]
    assert bad["key"] in rows[0].reason and "e-mail" in rows[0].reason
    assert [f["field"] for f in rows[0].payload["failures"]] == ["e-mail"]
    assert len(env.qbo_entities("Customer")) == len(expected) - 1

    # Replay before the fix: still bad, one more attempt, nothing written.
    writes = _write_requests(env)
    assert _run(env, {"replay_quarantine": True}).state == "success"
    assert _write_requests(env) == writes
    assert [row.attempts for row in env.store.quarantine_list("quickbooks", "customer")] == [2]

    # Fixed in Streak, then replayed: exactly that customer is created and leaves quarantine.
    _streak(env, "POST", f"/v2/contacts/{bad['key']}", {"emailAddresses": ["unal.dsouza@example.com"]})
    created = _writes(env)["Customer"]["create"]
    assert _run(env, {"replay_quarantine": True, "entity": "customers"}).state == "success"
    assert _writes(env)["Customer"]["create"] == created + 1
    assert env.store.quarantine_list() == []
    customer = _customers_by_key(env)[bad["key"]]
    assert customer["PrimaryEmailAddr"]["Address"] == "unal.dsouza@example.com"
    assert customer["DisplayName"] == "Ünal D'Souza"


@pytest.mark.slow
def test_box_keys_sync_only_those_boxes_customers(env) -> None:
    boxes = env.streak_state()["boxes"]
    with_org = next(b for b in boxes if b["organizations"])
    contact_only = next(b for b in boxes if not b["organizations"])

    assert _run(env, {"box_keys": [with_org["key"], contact_only["key"]]}).state == "success"

    keys = {row.source_key for row in env.store.ledger_all("quickbooks", "customer")}
    assert keys == {with_org["organizations"][0]["key"], contact_only["contacts"][0]["key"]}
    assert len(env.qbo_entities("Customer")) == 2
    assert env.store.ledger_all("quickbooks", "item") == []  # box_keys: customers only

    # Nothing to do at all (items of boxes): no chunk is mapped, the run still succeeds.
    writes = _write_requests(env)
    run = _run(env, {"entity": "items", "box_keys": [with_org["key"]]})
    assert run.state == "success" and _mapped_chunks(run) == 0
    assert _write_requests(env) == writes


# -- planning (no sandboxes, no Airflow run) ---------------------------------------------------
def test_ranges_tile_the_list_and_the_last_one_reads_to_the_end() -> None:
    from erp_operators.tasks.master_data import _ranges

    flags = bytearray([1, 0, 1, 1, 0, 1, 1])
    chunks = _ranges("contact", "team", flags, 2)
    assert [(c["offset"], c["limit"], c["count"]) for c in chunks] == [(0, 3, 2), (3, 3, 2), (6, None, 1)]
    exact = _ranges("organization", "team", bytearray([1, 1, 0, 1, 1]), 2)
    assert [(c["offset"], c["limit"], c["count"]) for c in exact] == [(0, 2, 2), (2, None, 2)]
    assert _ranges("contact", "team", bytearray([0, 0]), 2) == []


def test_chunks_are_merged_to_stay_under_max_chunks() -> None:
    from erp_operators.tasks.master_data import _cap, _ranges

    ranges = _ranges("contact", "t", bytearray([1] * 10), 1)
    keyed = [{"source": "contact", "keys": [f"k{i}"], "count": 1} for i in range(3)]
    capped = _cap(ranges + keyed, 4)
    assert len(capped) <= 4
    assert sum(c["count"] for c in capped) == 13
    spans = [(c["offset"], c["limit"]) for c in capped if "offset" in c]
    assert spans[0][0] == 0 and spans[-1][1] is None  # still one tiling of the whole list
    assert all(a[0] + a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert [k for c in capped if "keys" in c for k in c["keys"]] == ["k0", "k1", "k2"]
    assert _cap(ranges, 100) == ranges


def test_which_organizations_and_contacts_become_customers() -> None:
    from erp_operators.tasks.master_data import becomes_customer, customer_rule
    from streak_hooks.models import Contact, Organization
    from sync_core.mapping import load_mapping

    mapping = load_mapping("quickbooks")
    rule = customer_rule(mapping)  # [organization, contact]: organizations, and contacts without one
    member = Contact.from_api({"key": "c1", "organizations": [{"key": "o1"}], "lastUpdatedTimestamp": 5})
    loner = Contact.from_api({"key": "c2", "lastUpdatedTimestamp": 50})
    org = Organization.from_api({"key": "o1", "name": "Zoë's Bakery", "lastUpdatedTimestamp": 500})
    everything = (None, None)
    assert becomes_customer(org, "organization", rule, everything)
    assert becomes_customer(loner, "contact", rule, everything)
    assert not becomes_customer(member, "contact", rule, everything)
    contacts_first = customer_rule(
        mapping.model_copy(
            update={"customer": mapping.customer.model_copy(update={"sources": ["contact", "organization"]})}
        )
    )
    assert becomes_customer(member, "contact", contacts_first, everything)
    # since/until: by the record's lastUpdatedTimestamp (inclusive)
    assert becomes_customer(loner, "contact", rule, (50, 50))
    assert not becomes_customer(loner, "contact", rule, (51, None))
    assert not becomes_customer(org, "organization", rule, (None, 499))


def test_a_backfill_run_without_a_window_takes_its_data_interval() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from erp_operators.tasks.common import run_params

    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    context = {
        "params": {"since": None, "until": None, "dry_run": False},
        "dag_run": SimpleNamespace(run_type="backfill"),
        "data_interval_start": start,
        "data_interval_end": end,
    }
    assert (
        run_params(context)["since"] == start.isoformat() and run_params(context)["until"] == end.isoformat()
    )
    explicit = {**context, "params": {"since": "2026-10-01", "until": None}}
    assert run_params(explicit)["since"] == "2026-10-01" and run_params(explicit)["until"] is None
    scheduled = {**context, "dag_run": SimpleNamespace(run_type="scheduled")}
    assert run_params(scheduled)["since"] is None
    # a cron trigger schedule gives zero-length intervals: the run covers the time since the last tick
    tick = {
        **context,
        "data_interval_start": end,
        "dag": SimpleNamespace(timetable=SimpleNamespace(expression="0 0 * * *")),
    }
    assert (run_params(tick)["since"], run_params(tick)["until"]) == (start.isoformat(), end.isoformat())


def test_plan_hands_on_list_ranges_not_records(env) -> None:
    """What goes through XCom is a few numbers per chunk, whatever the number of records."""
    import json

    from erp_operators.tasks import master_data

    run = master_data.prepare({"entity": "customers"})
    chunks = master_data.plan(run)
    expected = _expected_customers(env)
    assert sum(c["count"] for c in chunks) == len(expected)
    assert all(c["count"] <= CHUNK_SIZE for c in chunks)
    assert all(set(c) == {"source", "team", "offset", "limit", "count", "label"} for c in chunks)
    text = json.dumps(chunks, ensure_ascii=False)
    assert not any(name in text for name in expected.values())
    assert not any(key in text for key in expected)


def test_master_data_settings_are_read_and_checked(tmp_path: Path) -> None:
    from sync_core.config import ConfigError, load_config

    assert load_config().master_data.chunk_size == 300 and load_config().master_data.schedule == "@daily"
    path = tmp_path / "sync.yaml"
    rules = "pipelines: [{name: Sales, trigger_stages: [Closed-Won], erp: quickbooks}]\n"
    path.write_text(rules + "master_data: {chunk_size: 50, page_size: 25}\n", encoding="utf-8")
    settings = load_config(path).master_data
    assert (settings.chunk_size, settings.page_size, settings.max_chunks) == (50, 25, 1000)
    path.write_text(rules + "master_data: {chunk_size: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"master_data\.chunk_size: expected a whole number >= 1"):
        load_config(path)
