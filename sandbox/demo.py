"""``make run`` / ``make up``: the sync end to end on the embedded default.

``run``: SQLite metadata DB under a project-local ``AIRFLOW_HOME``, the vendor sandboxes started and
seeded on loopback, each sync DAG run once with ``airflow dags test`` (the master-data load first,
then the deal flow), a summary of each printed from the state store and the sandboxes, and
everything it started stopped again. ``--erp netsuite`` (or
``STREAK_ERP_TARGET=netsuite make run``) sends the deals to the NetSuite sandbox instead of QuickBooks.

``up``: the same sandboxes plus Airflow's scheduler, dag-processor, triggerer and api-server
(UI on http://127.0.0.1:8080, parallelism 4, nothing bound beyond loopback) until Ctrl-C; the pools
``erp_<erp>`` are sized from the connections by ``streak-erp pools sync``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

from sandbox.common.httpd import SandboxServer
from sandbox.netsuite import app as netsuite_app
from sandbox.quickbooks.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REALM_ID,
    DEFAULT_REFRESH_TOKEN,
)
from sandbox.streak.app import DEFAULT_API_KEY

REPO = Path(__file__).resolve().parents[1]
SANDBOXES = ("streak", "quickbooks", "netsuite")
NETSUITE_CONCURRENCY = 5  # the sandbox account's concurrency limit; `pools sync` sizes erp_netsuite by it
MASTER_DAG, DEALS_DAG = "streak_master_data_sync", "streak_deals_to_erp"  # `run` order
MASTER_LISTED = 8  # customers listed by name in the master-data summary (the rest are counted)
TARGET_ENV = "STREAK_ERP_TARGET"  # which ERP `make run` sends the deals to (default: include/sync.yaml's)


def airflow_home() -> Path:
    home = Path(os.environ.get("AIRFLOW_HOME") or REPO / ".airflow")
    home.mkdir(parents=True, exist_ok=True)
    return home


def base_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT="8080",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        PYTHONPATH=f"{REPO}:{REPO / 'plugins'}",
        GX_ANALYTICS_ENABLED="false",
        OAUTHLIB_INSECURE_TRANSPORT="1",
    )
    return env


def fresh_state_db(home: Path) -> Path:
    """The demo's state store file, emptied: the in-memory sandboxes start fresh, so must the state."""
    state_db = home / "demo_state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_db}{suffix}").unlink(missing_ok=True)
    return state_db


def start_sandboxes(ports: dict[str, int]) -> dict[str, SandboxServer]:
    from sandbox.__main__ import load_app

    return {name: SandboxServer(load_app(name), port=port).start() for name, port in ports.items()}


def connection_env(
    servers: dict[str, SandboxServer], state_db: Path, streak_key: str = DEFAULT_API_KEY
) -> dict[str, str]:
    """AIRFLOW_CONN_* variables that point every hook at the sandboxes and a SQLite state store
    (used by ``make run``/``make up`` and by the DAG tests)."""
    env = {
        "AIRFLOW_CONN_STREAK_DEFAULT": json.dumps(
            {"conn_type": "streak", "host": servers["streak"].url + "/api", "password": streak_key}
        ),
        "AIRFLOW_CONN_ERP_SYNC_STATE": json.dumps({"conn_type": "sqlite", "host": str(state_db)}),
    }
    url = servers["quickbooks"].url
    env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"] = json.dumps(
        {
            "conn_type": "quickbooks",
            "login": DEFAULT_CLIENT_ID,
            "password": DEFAULT_CLIENT_SECRET,
            "extra": {
                "realm_id": DEFAULT_REALM_ID,
                "refresh_token": DEFAULT_REFRESH_TOKEN,
                "environment": "sandbox",
                "api_base_url": url + "/v3",
                "discovery_url": url + "/discovery",
            },
        }
    )
    if "netsuite" in servers:
        env["AIRFLOW_CONN_NETSUITE_DEFAULT"] = json.dumps(
            {
                "conn_type": "netsuite",
                "host": servers["netsuite"].url + "/services/rest",
                "login": netsuite_app.DEFAULT_CONSUMER_KEY,
                "password": netsuite_app.DEFAULT_CONSUMER_SECRET,
                "extra": {
                    "account_id": netsuite_app.DEFAULT_ACCOUNT_ID,
                    "token_id": netsuite_app.DEFAULT_TOKEN_ID,
                    "token_secret": netsuite_app.DEFAULT_TOKEN_SECRET,
                    "concurrency_limit": NETSUITE_CONCURRENCY,
                    "backoff_initial": 0.2,
                    "backoff_max": 5,
                    "poll_interval": 0.2,
                },
            }
        )
    return env


def target_config(erp: str, folder: Path) -> Path:
    """A copy of the sync configuration whose pipeline rules all target ``erp`` (for `make run`)."""
    import yaml

    from sync_core.config import default_config_path, load_config

    source = default_config_path()
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    for rule in data.get("pipelines") or []:
        rule["erp"] = erp
    path = folder / f"sync-{erp}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_config(path)  # fails here, naming the file, if the target is not a known ERP
    return path


def airflow(args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "airflow"), *args]
    if log is None:
        return subprocess.run(cmd, env=env, capture_output=True, text=True)
    with log.open("w") as fh:
        return subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)


def _migrate(home: Path, env: dict[str, str]) -> bool:
    """``airflow db migrate`` on the demo's metadata DB; says where the log is when it fails."""
    log = home / "db-migrate.log"
    if airflow(["db", "migrate"], env, log).returncode != 0:
        print(f"airflow db migrate failed; see {log}")
        return False
    return True


def sync_pools(env: dict[str, str]) -> bool:
    """``streak-erp pools sync`` in ``env``: the pools ``erp_<erp>`` sized from its connections."""
    result = subprocess.run([sys.executable, "-m", "sync_core.cli", "pools", "sync"], env=env)
    if result.returncode != 0:
        print("streak-erp pools sync failed (see above)")
    return result.returncode == 0


def run_dag(dag_id: str, home: Path, env: dict[str, str]) -> bool:
    """``airflow dags test <dag_id>`` once; prints the outcome (and the log's tail when it failed)."""
    log = home / f"{dag_id}.log"
    print(f"running {dag_id} once (airflow dags test; log: {log}) ...", flush=True)
    started = time.monotonic()
    result = airflow(["dags", "test", dag_id], env, log)
    ok = result.returncode == 0 and "state=success" in log.read_text()
    print(f"{dag_id}: {'success' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s")
    if not ok:
        print(log.read_text()[-4000:])
    return ok


def _erp_counts(servers: dict[str, SandboxServer], erp: str) -> tuple[int, int]:
    """Active customers and items in the ERP sandbox."""
    if erp == "netsuite":
        counts = servers["netsuite"].app.state_snapshot()["counts"]
        return counts.get("customer", 0), sum(n for rtype, n in counts.items() if rtype.endswith("Item"))
    realm = next(iter(servers["quickbooks"].app.state_snapshot()["realms"].values()))
    customers, items = (
        [r for r in realm.get(kind, []) if r.get("Active", True)] for kind in ("Customer", "Item")
    )
    return len(customers), len(items)


def _statuses(entries: list) -> str:
    from collections import Counter

    counts = Counter(e.status for e in entries)
    shown = ("created", "matched", "updated", "unchanged")
    text = ", ".join(f"{counts.get(s, 0)} {s}" for s in shown)
    others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in shown)
    return f"{text}, {others}" if others else text


def print_master_summary(servers: dict[str, SandboxServer], state_db: Path, erp: str = "quickbooks") -> None:
    """What the master-data load synced: customers and items read back from the ledger + the ERP sandbox."""
    from sync_core.state import StateStore

    store = StateStore.from_url(f"sqlite:///{state_db}")
    streak_state = servers["streak"].app.state_snapshot()
    names = {o["key"]: o["name"] for o in streak_state.get("organizations", [])}
    names.update(
        {
            c["key"]: f"{c.get('givenName', '')} {c.get('familyName', '')}".strip()
            for c in streak_state.get("contacts", [])
        }
    )
    customers = store.ledger_all(erp, "customer")
    items = store.ledger_all(erp, "item")
    print()
    print(f"Master data synced to {erp} (ledger):")
    print(f"  Customers: {len(customers)} ({_statuses(customers)})")
    for entry in customers[:MASTER_LISTED]:
        name = " ".join(names.get(entry.source_key, "?").split())[:40]
        print(f"    {entry.source_key:<16} {name:<40} id {entry.erp_id}")
    if len(customers) > MASTER_LISTED:
        print(f"    ... and {len(customers) - MASTER_LISTED} more")
    print(f"  Items: {len(items)} ({_statuses(items)})")
    listed = ", ".join(f"{e.source_key}\u00a0#{e.erp_id}" for e in items)  # SKU #ERP id, kept on one line
    print(
        textwrap.fill(
            listed, width=110, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
        )
    )
    held_customers, held_items = _erp_counts(servers, erp)
    label = "NetSuite" if erp == "netsuite" else "QuickBooks"
    print(f"  {label} sandbox now holds {held_customers} customers, {held_items} items")
    quarantined = [q for q in store.quarantine_list(erp) if q.entity in ("customer", "item")]
    print(f"  Quarantined: {len(quarantined)}")
    for row in quarantined:
        print(f"    {row.reason}")


def ledger_stamps(state_db: Path, erp: str, entity: str = "customer") -> dict[str, datetime]:
    """``source_key -> updated_at`` of the ledger rows now: tells which rows a later run wrote."""
    from sync_core.state import StateStore

    return {
        e.source_key: e.updated_at
        for e in StateStore.from_url(f"sqlite:///{state_db}").ledger_all(erp, entity)
    }


def print_summary(
    servers: dict[str, SandboxServer],
    state_db: Path,
    erp: str = "quickbooks",
    customers_before: dict[str, datetime] | None = None,
) -> None:
    """What the deal run did, read back from the state store and the sandboxes (not from the DAG's logs).

    ``customers_before`` (:func:`ledger_stamps` taken before the run): count only the customer rows
    the deal run wrote, not those of the master-data load before it.
    """
    from collections import Counter

    from sync_core.state import StateStore

    store = StateStore.from_url(f"sqlite:///{state_db}")
    streak_state = servers["streak"].app.state_snapshot()
    pipeline = streak_state["pipelines"][0]
    boxes = {b["key"]: b for b in streak_state.get("boxes", [])}
    stage_names = {key: stage.get("name", key) for key, stage in (pipeline.get("stages") or {}).items()}
    writeback_key = next((f["key"] for f in pipeline["fields"] if f["name"] == "ERP Invoice #"), None)
    events = store.stage_events_list()
    print()
    print(f"Boxes that entered a trigger stage: {len(events)}")
    for ev in events:
        box = boxes.get(ev.box_key, {})
        when = datetime.fromtimestamp(ev.entered_ts / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
        number = box.get("fields", {}).get(writeback_key) or "-"
        name = box.get("name", "?")
        print(
            f"  {ev.box_key}  {name[:44]:<44} {stage_names.get(ev.stage_key, ev.stage_key):<11} {when}  {number}"
        )
    customer_rows = store.ledger_all(erp, "customer")
    if customers_before is not None:
        customer_rows = [e for e in customer_rows if customers_before.get(e.source_key) != e.updated_at]
    customers = Counter(e.status for e in customer_rows)
    documents = Counter(e.status for e in store.ledger_all(erp, "document"))
    written = sum(1 for ev in events if boxes.get(ev.box_key, {}).get("fields", {}).get(writeback_key))
    print(
        f"Customers: {customers.get('created', 0)} created, {customers.get('matched', 0)} matched, "
        f"{customers.get('updated', 0)} updated, {customers.get('unchanged', 0)} unchanged"
    )
    print(f"Documents: {documents.get('created', 0)} created, {documents.get('failed', 0)} failed")
    print(f"Written back to Streak: {written}")
    if erp == "netsuite":
        counts = servers["netsuite"].app.state_snapshot()["counts"]
        print(
            f"NetSuite sandbox now holds {counts.get('customer', 0)} customers, "
            f"{counts.get('salesOrder', 0)} sales orders, {counts.get('invoice', 0)} invoices"
        )
    else:
        realm = next(iter(servers["quickbooks"].app.state_snapshot()["realms"].values()))
        print(
            f"QuickBooks sandbox now holds {len(realm['Customer'])} customers, "
            f"{len(realm['Invoice'])} invoices"
        )
    # customers and items held back by the master-data load are listed in its own summary
    quarantined = [q for q in store.quarantine_list(erp) if q.entity not in ("customer", "item")]
    print(f"Quarantined: {len(quarantined)}")
    for row in quarantined:
        print(f"  {row.reason}")


def cmd_run(args: argparse.Namespace) -> int:
    home = airflow_home()
    env = base_env(home)
    print(f"AIRFLOW_HOME={home} (SQLite metadata DB)")
    if not _migrate(home, env):
        return 1
    state_db = fresh_state_db(home)
    servers = start_sandboxes(dict.fromkeys(SANDBOXES, 0))
    try:
        for name, server in servers.items():
            print(f"{name} sandbox on {server.url}")
        env.update(connection_env(servers, state_db))
        erp = args.erp or os.environ.get(TARGET_ENV) or ""
        if erp:
            env["STREAK_ERP_SYNC_CONFIG"] = str(target_config(erp, home))
            print(f"target ERP: {erp}")
        if not erp:
            from sync_core.config import load_config

            erp = load_config().rule_for().erp
        if not run_dag(MASTER_DAG, home, env):
            return 1
        print_master_summary(servers, state_db, erp)
        print()
        before = ledger_stamps(state_db, erp)
        if not run_dag(DEALS_DAG, home, env):
            return 1
        print_summary(servers, state_db, erp, before)
        return 0
    finally:
        for server in servers.values():
            server.stop()


def _pidfile(home: Path) -> Path:
    return home / "make-up.pgid"


def cmd_up(args: argparse.Namespace) -> int:
    home = airflow_home()
    env = base_env(home)
    if not _migrate(home, env):
        return 1
    servers = start_sandboxes({"streak": 8401, "quickbooks": 8402, "netsuite": 8403})
    env.update(connection_env(servers, fresh_state_db(home)))
    if not sync_pools(env):
        for server in servers.values():
            server.stop()
        return 1
    if os.getpgrp() != os.getpid():
        os.setpgrp()  # one process group: `make down` stops everything with one signal
    _pidfile(home).write_text(str(os.getpgrp()))
    procs = []
    for name, cmd in {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", "8080"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }.items():
        log = (home / f"{name}.log").open("w")
        procs.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), *cmd],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    pw_file = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 120
    while not pw_file.exists() and time.monotonic() < deadline:
        time.sleep(1)
    password = json.loads(pw_file.read_text()).get("admin") if pw_file.exists() else "(see api-server.log)"
    print("Airflow UI: http://127.0.0.1:8080  user: admin  password:", password)
    for name, server in servers.items():
        print(f"{name} sandbox: {server.url}")
    print("Ctrl-C (or `make down`) stops everything.", flush=True)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        while not stop["now"] and all(p.poll() is None for p in procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    for server in servers.values():
        server.stop()
    _pidfile(home).unlink(missing_ok=True)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    pidfile = _pidfile(airflow_home())
    if not pidfile.exists():
        print("nothing running")
        return 0
    pgid = int(pidfile.read_text())
    try:
        os.killpg(pgid, signal.SIGTERM)
        for _ in range(30):  # give every component up to 30 s to shut down cleanly
            time.sleep(1)
            os.killpg(pgid, 0)
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)
    print(f"stopped process group {pgid}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every sync DAG once against the sandboxes and print a summary")
    run.add_argument(
        "--erp",
        choices=["quickbooks", "netsuite"],
        default=None,
        help=f"target ERP (default: ${TARGET_ENV}, else include/sync.yaml's first rule)",
    )
    sub.add_parser("up", help="Airflow UI on 127.0.0.1:8080 with the sandboxes")
    sub.add_parser("down", help="stop what `up` started")
    args = parser.parse_args(argv)
    return {"run": cmd_run, "up": cmd_up, "down": cmd_down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
