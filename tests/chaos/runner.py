"""Chaos run: the sync DAGs run again and again while both sandboxes inject random faults.

``run_chaos`` starts a Streak and a QuickBooks sandbox, wires them into Airflow connections, and then,
``runs`` times: moves a few boxes into Closed-Won (now and then a deal with bad data), runs the
master-data DAG (when its file exists) and the deal DAG with ``dag.test()`` while every request may
be answered with a 429, a 5xx, a dropped connection, a slow answer or, for QuickBooks writes, a
lost answer after the commit (seeded RNG, rate ``rate``). Access tokens are expired at random
between runs.

After every round it checks, from the sandboxes and the state store (never the DAG's own words):

* no duplicate: at most one invoice per box (found by its marker) and one customer per name;
* no lost record: every won box is synced, quarantined with a reason naming it, or pending retry
  (its stage entry still claimed, or its ledger row failed);

then turns the faults off, runs once more, and compares the whole QuickBooks state (invoices with
lines and totals, customers, items) with a reference made by a clean run over the same Streak data:
they must be equal. ``python -m tests.chaos.runner`` (``make chaos``) prints the counts; knobs are
``CHAOS_RUNS``, ``CHAOS_RATE``, ``CHAOS_SEED``, ``CHAOS_NEW_BOXES``, ``CHAOS_BOXES``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEAL_DAG = "streak_deals_to_erp"
MASTER_DAG = "streak_master_data_sync"
STREAK_KEY = "chaos-streak-key"
GOOD_FIELDS = {"Product": "Sensor Kit X2", "Quantity": "4", "Unit Price": "349.95", "Deal Value": "1399.80"}
BAD_FIELDS = {"Product": "Sensor Kit X2", "Quantity": "a few", "Unit Price": "349.95"}


@dataclass(frozen=True)
class ChaosConfig:
    """How much chaos: ``runs`` DAG rounds at fault ``rate`` (0..1 per request), ``seed`` for all RNGs."""

    runs: int = 3
    rate: float = 0.15
    seed: int = 1
    new_boxes: int = 3  # boxes moved to Closed-Won before each run
    boxes: int = 50  # size of the Streak seed
    master_data: bool = True  # also run streak_master_data_sync when dags/ has it
    client_attempts: int = 3  # tries per request in the Streak and QBO clients (small: tasks do fail)
    task_retries: int = 1  # Airflow retries per task (small: runs do fail, and the next run takes over)

    @classmethod
    def from_env(cls, **overrides: Any) -> ChaosConfig:
        env = {
            "runs": int(os.environ.get("CHAOS_RUNS", cls.runs)),
            "rate": float(os.environ.get("CHAOS_RATE", cls.rate)),
            "seed": int(os.environ.get("CHAOS_SEED", cls.seed)),
            "new_boxes": int(os.environ.get("CHAOS_NEW_BOXES", cls.new_boxes)),
            "boxes": int(os.environ.get("CHAOS_BOXES", cls.boxes)),
            "client_attempts": int(os.environ.get("CHAOS_CLIENT_ATTEMPTS", cls.client_attempts)),
            "task_retries": int(os.environ.get("CHAOS_TASK_RETRIES", cls.task_retries)),
        }
        return cls(**{**env, **overrides})


@dataclass
class ChaosReport:
    """What happened, counted from the sandboxes and the state store."""

    runs: int = 0
    dag_runs: dict[str, dict[str, int]] = field(default_factory=dict)  # dag id -> {state: count}
    faults_injected: dict[str, int] = field(default_factory=dict)  # "sandbox kind" -> count
    request_retries: int = 0  # requests answered with a fault that forces the client to send again
    task_retries: int = 0  # Airflow task tries beyond the first
    token_expiries: int = 0
    records: int = 0  # won boxes (deals) at the end
    synced: int = 0
    quarantined: int = 0
    pending_seen: int = 0  # deals found waiting for a retry after a chaos round (summed over rounds)
    customers: int = 0
    duplicates: int = 0
    lost: int = 0
    equal_to_reference: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def faults_total(self) -> int:
        return sum(self.faults_injected.values())

    def summary(self) -> str:
        runs = ", ".join(f"{dag}: {dict(states)}" for dag, states in self.dag_runs.items())
        return (
            f"chaos: runs={self.runs} ({runs}) faults_injected={self.faults_total} "
            f"{dict(sorted(self.faults_injected.items()))} retries={self.request_retries} "
            f"task_retries={self.task_retries} token_expiries={self.token_expiries} "
            f"records={self.records} synced={self.synced} quarantined={self.quarantined} "
            f"pending_seen={self.pending_seen} customers={self.customers} "
            f"duplicates={self.duplicates} lost={self.lost} equal_to_reference={self.equal_to_reference}"
        )


# -- environment --------------------------------------------------------------------------------
@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _config_file(directory: Path) -> Path:
    """include/sync.yaml with small master-data chunks. The claim lease stays as configured: a run
    that fails gives its unfinished deals back (the DAG's ``release_claims`` teardown), so the next
    round takes them at once."""
    import yaml

    config = yaml.safe_load((REPO / "include" / "sync.yaml").read_text(encoding="utf-8"))
    if "master_data" in config:
        config["master_data"] = {**config["master_data"], "chunk_size": 20, "page_size": 20}
    path = directory / "sync-chaos.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class World:
    """A Streak + QuickBooks sandbox pair and a state store, wired into Airflow connections."""

    def __init__(self, cfg: ChaosConfig, directory: Path) -> None:
        self.cfg = cfg
        from sandbox.common.httpd import SandboxServer
        from sandbox.quickbooks.app import QuickBooksSandbox
        from sandbox.streak.app import StreakSandbox
        from sandbox.streak.seed import SeedConfig

        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.streak = SandboxServer(
            StreakSandbox(api_key=STREAK_KEY, seed=SeedConfig(boxes=cfg.boxes, seed=cfg.seed))
        ).start()
        self.qbo = SandboxServer(QuickBooksSandbox()).start()
        self.state_db = directory / "state.db"

    def env(self) -> dict[str, str]:
        from sandbox.demo import connection_env
        from tests.faults.support import fast_retries

        env = connection_env({"streak": self.streak, "quickbooks": self.qbo}, self.state_db, STREAK_KEY)
        env.update(fast_retries(env))
        qbo = json.loads(env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
        qbo["extra"]["limits"]["max_attempts"] = self.cfg.client_attempts
        streak = json.loads(env["AIRFLOW_CONN_STREAK_DEFAULT"])
        streak["extra"]["max_retries"] = self.cfg.client_attempts - 1
        env.update(
            AIRFLOW_CONN_QUICKBOOKS_DEFAULT=json.dumps(qbo), AIRFLOW_CONN_STREAK_DEFAULT=json.dumps(streak)
        )
        env.update(
            OAUTHLIB_INSECURE_TRANSPORT="1",
            STREAK_ERP_SYNC_CONFIG=str(_config_file(self.directory)),
        )
        return env

    @property
    def store(self) -> Any:
        from sync_core.state import StateStore

        return StateStore.from_url(f"sqlite:///{self.state_db}")

    def stop(self) -> None:
        self.streak.stop()
        self.qbo.stop()


def _dags(cfg: ChaosConfig) -> list[str]:
    master = cfg.master_data and (REPO / "dags" / f"{MASTER_DAG}.py").exists()
    return [MASTER_DAG, DEAL_DAG] if master else [DEAL_DAG]


# -- actions (recorded, so the reference world gets the same Streak data) ----------------------
def _plan_actions(world: World, cfg: ChaosConfig, rng: random.Random, round_no: int) -> list[dict[str, Any]]:
    """Boxes to move to Closed-Won before this round, and now and then a new deal (sometimes bad)."""
    from tests.faults.support import stage_key

    won = stage_key(world.streak, "Closed-Won")
    open_boxes = sorted(b["key"] for b in world.streak.app.state_snapshot()["boxes"] if b["stageKey"] != won)
    actions: list[dict[str, Any]] = [
        {"move": key} for key in rng.sample(open_boxes, min(cfg.new_boxes, len(open_boxes)))
    ]
    orgs = sorted(o["key"] for o in world.streak.app.state_snapshot()["organizations"])
    if rng.random() < 0.5:
        fields = BAD_FIELDS if rng.random() < 0.4 else GOOD_FIELDS
        actions.append({"create": f"Chaos deal {round_no}", "fields": fields, "org": rng.choice(orgs)})
    return actions


def _apply(world: World, actions: list[dict[str, Any]]) -> None:
    from tests.faults.support import create_box, move_box

    for action in actions:
        if "move" in action:
            move_box(world.streak, action["move"], "Closed-Won")
        else:
            create_box(
                world.streak, action["create"], fields=action["fields"], organization_keys=[action["org"]]
            )


# -- faults -------------------------------------------------------------------------------------
STREAK_FAULTS = [
    {"kind": "status", "status": 429, "retry_after": 0.05},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
    {"kind": "reset"},
    {"kind": "slow", "delay": 0.3},
]
QBO_FAULTS = [
    {"kind": "status", "status": 429},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
    {"kind": "reset"},
    {"kind": "slow", "delay": 0.3},
    {"kind": "lose", "status": 504, "target": "write"},  # done, but the answer never arrives
    {"kind": "lose", "status": 502, "target": "write"},
]


def _faults_on(world: World, cfg: ChaosConfig, round_no: int, rng: random.Random) -> None:
    """Random faults at ``cfg.rate`` on both sandboxes; QBO writes are rare, so now and then one is
    also queued to lose its answer after the commit, or to answer HTTP 200 with a Fault."""
    from tests.faults.support import admin

    if rng.random() < 0.6:
        admin(world.qbo.url, "/__admin/lose_response", {"count": 1, "status": rng.choice([502, 504])})
    if rng.random() < 0.4:
        admin(world.qbo.url, "/__admin/fault_200", {"count": 1})
    for server, faults, prefix in ((world.streak, STREAK_FAULTS, "/api/"), (world.qbo, QBO_FAULTS, "/")):
        seed = cfg.seed * 1000 + round_no
        admin(
            server.url,
            "/__admin/faults",
            {"mode": "random", "rate": cfg.rate, "faults": faults, "path_prefix": prefix, "seed": seed},
        )


def _faults_off(world: World) -> None:
    import requests

    for server in (world.streak, world.qbo):
        requests.delete(server.url + "/__admin/faults", timeout=10).raise_for_status()


def _injected(world: World) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, server in (("streak", world.streak), ("quickbooks", world.qbo)):
        for kind, n in server.app.faults.snapshot()["injected"].items():
            out[f"{name} {kind}"] = n
    return out


# -- checks -------------------------------------------------------------------------------------
def full_state(qbo: Any) -> list[tuple]:
    """Invoices (number, customer, total, lines), customers and items of the QBO sandbox."""
    from tests.faults.support import qbo_entities, qbo_state

    items = sorted(("item", i["Name"]) for i in qbo_entities(qbo, "Item"))
    return qbo_state(qbo) + items


def classify(world: World) -> dict[str, set[str]]:
    """Every won box as synced / quarantined / pending / lost, and the duplicated ones."""
    from tests.faults.support import invoices_by_box, won_box_keys, write_backs

    store = world.store
    won = set(won_box_keys(world.streak))
    invoices = invoices_by_box(world.qbo)
    numbers = write_backs(world.streak)
    ledger = {e.source_key: e for e in store.ledger_all("quickbooks", "document")}
    quarantine = {r.source_key: r.reason for r in store.quarantine_list("quickbooks", "deal")}
    pending_events = {e.box_key for e in store.pending_stage_events()}
    out: dict[str, set[str]] = {k: set() for k in ("synced", "quarantined", "pending", "lost")}
    out["duplicated"] = {k for k, v in invoices.items() if len(v) > 1}
    for key in won:
        entry = ledger.get(key)
        done = (
            key in invoices
            and entry is not None
            and entry.status != "failed"
            and numbers.get(key) == invoices[key][0]["DocNumber"]
        )
        if done:
            out["synced"].add(key)
        elif key in quarantine and key in quarantine[key]:
            out["quarantined"].add(key)
        elif key in pending_events or (entry is not None and entry.status == "failed"):
            out["pending"].add(key)
        else:
            out["lost"].add(key)
    out["orphans"] = set(invoices) - won  # an invoice for a box that is not won: never expected
    return out


def _run_round(dags: list[str], report: ChaosReport, task_retries: int | None = None) -> None:
    from tests.faults.support import run_dag

    for dag_id in dags:
        result = run_dag(dag_id, task_retries=task_retries)
        states = report.dag_runs.setdefault(dag_id, {})
        states[result.state] = states.get(result.state, 0) + 1
        report.task_retries += result.task_retries


def _reference(cfg: ChaosConfig, directory: Path, actions: list[list[dict[str, Any]]]) -> list[tuple]:
    """The QBO state a clean run produces from the same Streak data."""
    from tests.faults.support import run_dag

    world = World(cfg, directory)
    try:
        with _environ(world.env()):
            for round_actions in actions:
                _apply(world, round_actions)
            for dag_id in _dags(cfg):
                state = run_dag(dag_id).state
                if state != "success":
                    raise RuntimeError(f"the clean reference run of {dag_id} ended {state}")
        return full_state(world.qbo)
    finally:
        world.stop()


def run_chaos(cfg: ChaosConfig, directory: Path) -> ChaosReport:
    """The whole chaos run (see the module docstring); needs a migrated Airflow metadata DB."""
    import requests

    from tests.faults.support import duplicate_customers

    rng = random.Random(cfg.seed)
    report = ChaosReport()
    dags = _dags(cfg)
    actions: list[list[dict[str, Any]]] = []
    world = World(cfg, directory / "chaos")
    try:
        with _environ(world.env()):
            for round_no in range(cfg.runs):
                round_actions = _plan_actions(world, cfg, rng, round_no)
                actions.append(round_actions)
                _apply(world, round_actions)
                if round_no and rng.random() < 0.5:  # the access token dies between runs
                    requests.post(world.qbo.url + "/__admin/tokens/expire", timeout=10).raise_for_status()
                    report.token_expiries += 1
                _faults_on(world, cfg, round_no, rng)
                _run_round(dags, report, cfg.task_retries)
                _faults_off(world)
                report.runs += 1
                # after every round: nothing duplicated, nothing lost (synced, quarantined or pending)
                seen = classify(world)
                report.pending_seen += len(seen["pending"])
                report.duplicates += len(seen["duplicated"]) + len(seen["orphans"])
                report.lost += len(seen["lost"])
                if seen["lost"] or seen["duplicated"] or seen["orphans"]:
                    report.problems.append(
                        f"round {round_no}: lost {sorted(seen['lost'])}, duplicated "
                        f"{sorted(seen['duplicated'])}, invoices of boxes not won {sorted(seen['orphans'])}"
                    )
            report.faults_injected = _injected(world)
            report.request_retries = sum(
                n for kind, n in report.faults_injected.items() if "slow" not in kind
            )

            _run_round(dags, report)  # faults off: whatever was pending must now go through
            settled = classify(world)
            won = settled["synced"] | settled["quarantined"] | settled["pending"] | settled["lost"]
            report.records = len(won)
            report.synced = len(settled["synced"])
            report.quarantined = len(settled["quarantined"])
            report.duplicates += len(settled["duplicated"]) + len(settled["orphans"])
            dup_customers = duplicate_customers(world.qbo)
            report.duplicates += len(dup_customers)
            if settled["pending"] or settled["lost"]:
                report.lost += len(settled["lost"])
                report.problems.append(
                    f"after the fault-free run: pending {sorted(settled['pending'])}, lost {sorted(settled['lost'])}"
                )
            if dup_customers:
                report.problems.append(f"duplicate customers: {dup_customers}")
            chaos_state = full_state(world.qbo)
        reference = _reference(cfg, directory / "reference", actions)
        report.customers = sum(1 for row in reference if row[0] == "customer")
        report.equal_to_reference = chaos_state == reference
        if not report.equal_to_reference:
            missing = [r for r in reference if r not in chaos_state]
            extra = [r for r in chaos_state if r not in reference]
            report.problems.append(
                f"QBO state differs from the reference: missing {missing[:5]}, extra {extra[:5]}"
            )
    finally:
        world.stop()
    return report


# -- make chaos ---------------------------------------------------------------------------------
def _migrate() -> None:
    import subprocess

    airflow = str(Path(sys.executable).parent / "airflow")
    result = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chaos run of the sync DAGs (see tests/chaos/runner.py).")
    defaults = ChaosConfig.from_env(runs=int(os.environ.get("CHAOS_RUNS", 12)))
    parser.add_argument("--runs", type=int, default=defaults.runs)
    parser.add_argument("--rate", type=float, default=defaults.rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--new-boxes", type=int, default=defaults.new_boxes)
    parser.add_argument("--boxes", type=int, default=defaults.boxes)
    parser.add_argument("--client-attempts", type=int, default=defaults.client_attempts)
    parser.add_argument("--task-retries", type=int, default=defaults.task_retries)
    parser.add_argument("--json", action="store_true", help="print the report as JSON too")
    args = parser.parse_args(argv)
    cfg = ChaosConfig(
        args.runs,
        args.rate,
        args.seed,
        args.new_boxes,
        args.boxes,
        client_attempts=args.client_attempts,
        task_retries=args.task_retries,
    )
    os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow-chaos"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    _migrate()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        report = run_chaos(cfg, Path(tmp))
    print(report.summary())
    for problem in report.problems:
        print("PROBLEM:", problem)
    if args.json:
        print(json.dumps({**asdict(report), "faults_total": report.faults_total}))
    ok = report.duplicates == 0 and report.lost == 0 and report.equal_to_reference and not report.problems
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
