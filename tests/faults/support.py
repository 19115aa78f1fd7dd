"""Shared helpers of the fault, chaos and secret-hygiene tests: run the real DAGs fast, read the
final state of QuickBooks (sandbox), Streak (sandbox) and the state store, and check it.

Everything here reads state back from the sandboxes and the state store; nothing trusts the DAG's
own XCom or logs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
WRITEBACK = "ERP Invoice #"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
QBO_API = "/v3/company/"
STREAK_API = "/api/v"
# the fields of a valid deal (one line: 2 x Widget Pro at 499.00)
GOOD_DEAL = {"Product": "Widget Pro", "Quantity": "2", "Unit Price": "499.00", "Deal Value": "998.00"}


# -- running ------------------------------------------------------------------------------------
def fast_retries(env: dict[str, str] | None = None) -> dict[str, str]:
    """Connection variables with short client backoffs (the same retry logic, scaled down).

    Returns the changed ``AIRFLOW_CONN_*`` values; ``env`` defaults to ``os.environ``.
    """
    source = os.environ if env is None else env
    qbo = json.loads(source["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    qbo["extra"]["limits"] = {
        "backoff_initial": 0.02,
        "backoff_max": 0.2,
        "max_attempts": 8,
        "timeout": 2.0,
    }
    streak = json.loads(source["AIRFLOW_CONN_STREAK_DEFAULT"])
    streak["extra"] = {
        "retry_min_wait": 0.02,
        "retry_max_wait": 0.2,
        "max_retry_after": 0.2,
        "max_retries": 7,
        "timeout": 2.0,
        "requests_per_second": 0,
    }
    return {
        "AIRFLOW_CONN_QUICKBOOKS_DEFAULT": json.dumps(qbo),
        "AIRFLOW_CONN_STREAK_DEFAULT": json.dumps(streak),
    }


@dataclass
class RunResult:
    """One DAG run: its state, run id and per-task (state, try number)."""

    dag_id: str
    state: str
    run_id: str
    tasks: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def task_retries(self) -> int:
        return sum(max(tries - 1, 0) for _, tries in self.tasks.values())


def load_dag(dag_id: str = "streak_deals_to_erp", task_retries: int | None = None) -> Any:
    """The DAG from its file, with task retries immediate (``retry_delay`` 0) so tests do not wait."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.get_dag(dag_id)
    for task in dag.tasks:
        task.retry_delay = timedelta(0)
        task.max_retry_delay = timedelta(0)
        task.retry_exponential_backoff = 0
        if task_retries is not None:
            task.retries = task_retries
    return dag


def run_dag(
    dag_id: str = "streak_deals_to_erp", conf: dict[str, Any] | None = None, task_retries: int | None = None
) -> RunResult:
    """``dag.test()`` of the real DAG file; returns the final run state and each task's tries."""
    dag = load_dag(dag_id, task_retries)
    run = dag.test(run_conf=conf or {})
    tasks = {ti.task_id: (str(ti.state), int(ti.try_number or 0)) for ti in run.get_task_instances()}
    return RunResult(dag_id, str(run.state), run.run_id, tasks)


# -- sandboxes ----------------------------------------------------------------------------------
def admin(url: str, path: str, body: Any = None) -> Any:
    """POST an admin route of a sandbox; returns its JSON."""
    response = requests.post(url + path, json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def schedule_fault(url: str, count: int = 1, path_prefix: str = "", **fault: Any) -> None:
    """Queue ``count`` faults (``kind``, ``status``, ``delay``, ``retry_after``, ``target``)."""
    admin(url, "/__admin/faults", {**fault, "count": count, "path_prefix": path_prefix})


def injected(url: str) -> dict[str, int]:
    return requests.get(url + "/__admin/faults", timeout=10).json()["injected"]


def request_log(server: Any) -> list[dict[str, Any]]:
    with server.app.lock:
        return list(server.app.request_log)


def token_calls(qbo: Any) -> int:
    """How many times the QBO sandbox's token endpoint was called."""
    return sum(1 for r in request_log(qbo) if r["path"] == TOKEN_PATH)


def qbo_realm(qbo: Any) -> dict[str, Any]:
    realms = qbo.app.state_snapshot()["realms"]
    return next(iter(realms.values()))


def qbo_entities(qbo: Any, entity: str) -> list[dict[str, Any]]:
    return [o for o in qbo_realm(qbo).get(entity, []) if o.get("Active", True)]


def invoices_by_box(qbo: Any) -> dict[str, list[dict[str, Any]]]:
    """Every invoice this sync made, grouped by the box key of its marker (``streak-box:<key>``)."""
    from erp_operators.quickbooks.payloads import marker_in

    out: dict[str, list[dict[str, Any]]] = {}
    for inv in qbo_entities(qbo, "Invoice"):
        key = marker_in(inv.get("PrivateNote"))
        if key:
            out.setdefault(key, []).append(inv)
    return out


def qbo_state(qbo: Any) -> list[tuple]:
    """Invoices as (doc number, customer, total, lines) plus customer names: comparable across sandboxes."""
    customers = {c["Id"]: c["DisplayName"] for c in qbo_entities(qbo, "Customer")}
    items = {i["Id"]: i["Name"] for i in qbo_realm(qbo).get("Item", [])}
    invoices = []
    for inv in qbo_entities(qbo, "Invoice"):
        lines = tuple(
            (
                items.get(ln["SalesItemLineDetail"]["ItemRef"]["value"], "?"),
                str(ln["SalesItemLineDetail"]["Qty"]),
                str(ln["Amount"]),
            )
            for ln in inv["Line"]
            if ln.get("DetailType") == "SalesItemLineDetail"
        )
        invoices.append(
            (inv["DocNumber"], customers.get(inv["CustomerRef"]["value"], "?"), str(inv["TotalAmt"]), lines)
        )
    return sorted(invoices) + sorted(("customer", name) for name in customers.values())


def duplicate_customers(qbo: Any) -> list[str]:
    names = Counter(c["DisplayName"].casefold() for c in qbo_entities(qbo, "Customer"))
    return sorted(n for n, k in names.items() if k > 1)


def streak_pipeline(streak: Any) -> dict[str, Any]:
    return streak.app.state_snapshot()["pipelines"][0]


def field_key(streak: Any, name: str) -> str:
    return next(f["key"] for f in streak_pipeline(streak)["fields"] if f["name"] == name)


def stage_key(streak: Any, name: str) -> str:
    return next(k for k, s in streak_pipeline(streak)["stages"].items() if s["name"] == name)


def won_box_keys(streak: Any) -> list[str]:
    won = stage_key(streak, "Closed-Won")
    return [b["key"] for b in streak.app.state_snapshot()["boxes"] if b["stageKey"] == won]


def write_backs(streak: Any) -> dict[str, str]:
    """Box key -> the ERP number in its write-back field (boxes that have one)."""
    key = field_key(streak, WRITEBACK)
    return {b["key"]: b["fields"][key] for b in streak.app.state_snapshot()["boxes"] if b["fields"].get(key)}


def comment_counts(streak: Any) -> Counter:
    comments = streak.app.state_snapshot()["comments"]
    return Counter({key: len(items) for key, items in comments.items() if items})


def org_keys(streak: Any) -> list[str]:
    """The keys of the seeded organizations, in seed order."""
    return [o["key"] for o in streak.app.state_snapshot()["organizations"]]


def create_box(streak: Any, name: str, stage: str = "Closed-Won", **body: Any) -> str:
    """A box created as a user would (``fields`` by name); returns its key."""
    return admin(streak.url, "/__admin/boxes", {"name": name, "stage": stage, **body})["key"]


def move_box(streak: Any, box_key: str, stage: str) -> None:
    admin(streak.url, f"/__admin/boxes/{box_key}/stage", {"stage": stage})


# -- final-state checks -------------------------------------------------------------------------
def assert_synced_once(qbo: Any, streak: Any, store: Any, keys: list[str] | set[str]) -> None:
    """Each box: exactly one invoice (found by its marker), its number written back to the box
    once (one comment), a ledger row with that invoice, and no quarantine row."""
    invoices = invoices_by_box(qbo)
    numbers = write_backs(streak)
    comments = comment_counts(streak)
    ledger = {e.source_key: e for e in store.ledger_all("quickbooks", "document")}
    quarantined = {r.source_key for r in store.quarantine_list("quickbooks", "deal")}
    for key in keys:
        found = invoices.get(key, [])
        assert len(found) == 1, f"box {key}: {len(found)} invoices in QuickBooks"
        assert numbers.get(key) == found[0]["DocNumber"], f"box {key}: write-back {numbers.get(key)!r}"
        assert comments[key] == 1, f"box {key}: {comments[key]} comments"
        assert key in ledger and ledger[key].erp_id == str(found[0]["Id"]), (
            f"box {key}: ledger {ledger.get(key)}"
        )
        assert key not in quarantined, f"box {key} is synced but still quarantined"


def assert_untouched(qbo: Any, streak: Any, keys: list[str] | set[str]) -> None:
    """No invoice, no write-back and no comment for these boxes."""
    invoices, numbers, comments = invoices_by_box(qbo), write_backs(streak), comment_counts(streak)
    for key in keys:
        assert key not in invoices, f"box {key} got an invoice"
        assert key not in numbers, f"box {key} got a write-back"
        assert comments[key] == 0, f"box {key} got a comment"


def assert_final_state(env: Any, bad: set[str] | frozenset[str] = frozenset(), min_synced: int = 0) -> None:
    """The end state every fault row must reach: each valid won box synced exactly once; the
    seeded bad boxes plus ``bad`` quarantined and untouched (and nothing else quarantined); no
    duplicate customer; every claim closed. ``min_synced``: at least that many boxes synced."""
    won = set(won_box_keys(env.streak))
    seeded = seeded_bad(env.streak) & won
    assert seeded, "the seed has no bad won box: the quarantine half of this check would be empty"
    held = seeded | set(bad)
    assert len(won - held) >= min_synced, f"only {len(won - held)} valid won boxes"
    assert_synced_once(env.qbo, env.streak, env.store, won - held)
    assert_untouched(env.qbo, env.streak, held)
    assert set(quarantine_rows(env.store)) == held
    assert duplicate_customers(env.qbo) == []
    assert env.store.pending_stage_events() == []  # nothing left hanging


def quarantine_rows(store: Any, entity: str = "deal") -> dict[str, Any]:
    return {r.source_key: r for r in store.quarantine_list("quickbooks", entity)}


def seeded_bad(streak: Any) -> set[str]:
    return set(streak.app.state_snapshot()["seed"]["bad_box_keys"])


def short_lease_config(directory: Path, lease_minutes: float = 0.0) -> Path:
    """A copy of ``include/sync.yaml`` whose claims expire after ``lease_minutes`` (point
    ``$STREAK_ERP_SYNC_CONFIG`` at it): the next run takes over what a dead run (a killed worker,
    whose teardown never ran) claimed, as it would once the lease is over. A run that merely
    failed needs no such copy: its ``release_claims`` teardown gives its claims back."""
    import re

    text = (REPO / "include" / "sync.yaml").read_text(encoding="utf-8")
    text, n = re.subn(r"(?m)^(\s*lease_minutes:\s*)[0-9.]+", rf"\g<1>{lease_minutes}", text)
    assert n == 1, "include/sync.yaml has no detection.lease_minutes"
    path = directory / "sync-short-lease.yaml"
    path.write_text(text, encoding="utf-8")
    return path
