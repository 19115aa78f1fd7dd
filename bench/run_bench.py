"""``make bench``: the bulk and deal DAGs against a time-scaled QBO sandbox, plus map + validate.

1. Seeds the Streak sandbox with N synthetic organizations, N contacts and N won boxes
   (``BENCH_N``, default 10,000) and starts the QBO sandbox (limits as documented, time-scaled).
2. Runs ``streak_master_data_sync`` then ``streak_deals_to_erp`` with ``dag.test()`` (each in its
   own process, so its CPU time and peak RSS are its own), then each a second time with no
   change in Streak.
3. Runs the map + validate benchmark on ``BENCH_MV_N`` deals (default 100,000).
4. Writes ``bench/RESULTS.md`` (``BENCH_RESULTS`` overrides the path) and the raw figures to
   ``bench/out/results.json``.

Throughput is measured over each run's write phase: first to last ERP request as the QBO sandbox
recorded them. The time scale (``BENCH_TIME_SCALE``, else chosen per DAG so that the phase would
last ``BENCH_PHASE_SECONDS``, default 180 s, at the ceiling) shrinks the sandbox's and the
connector's minute alike. ``BENCH_SKIP`` (comma list of ``bulk``, ``deals``, ``dags``,
``map_validate``) leaves parts out; ``BENCH_MV_REPEAT`` sets the map + validate repetitions;
``BENCH_CHUNK_SIZE`` overrides ``master_data.chunk_size`` of ``include/sync.yaml`` for the bulk DAG.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ceiling import QboLimits
from bench.report import write_report

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
STREAK_KEY = "bench-streak-key"
TARGET_PHASE_SECONDS = float(os.environ.get("BENCH_PHASE_SECONDS") or 180.0)
BULK_DAG = "streak_master_data_sync"
DEAL_DAG = "streak_deals_to_erp"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, Python and the date, recorded beside the figures."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal")))
        info["memory_gib"] = round(kb / 1024 / 1024, 1)
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
            "",
        )
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, StopIteration, ValueError):
        pass
    return info


class Bench:
    """Sandboxes, Airflow home and the phases of one benchmark run."""

    def __init__(self, n: int, time_scale: float | None) -> None:
        self.n = n
        self.forced_scale = time_scale
        self.chunk_size = _env_int("BENCH_CHUNK_SIZE", 0)  # 0: the chunk size of include/sync.yaml
        self.limits = QboLimits()
        self.home = OUT / "airflow"
        self.servers: dict[str, Any] = {}

    # -- set-up -----------------------------------------------------------------------------------
    def start(self) -> None:
        from sandbox.common.httpd import SandboxServer
        from sandbox.quickbooks.app import QuickBooksSandbox
        from sandbox.streak.app import StreakSandbox
        from sandbox.streak.seed import SeedConfig, build_synthetic

        t0 = time.perf_counter()
        streak = StreakSandbox(api_key=STREAK_KEY, seed=SeedConfig(boxes=0, bad_boxes=0))
        with streak.lock:  # N organizations, N contacts (unique names), N won boxes
            streak.data = build_synthetic(self.n, streak.clock.now_ms())
            streak._sorted_cache.clear()
        self.servers = {
            "streak": SandboxServer(streak).start(),
            "quickbooks": SandboxServer(QuickBooksSandbox()).start(),
        }
        self.seed_seconds = round(time.perf_counter() - t0, 2)
        self.home.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.home / 'bench_state.db'}{suffix}").unlink(missing_ok=True)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def env(self, time_scale: float) -> dict[str, str]:
        from sandbox.demo import base_env, connection_env

        env = base_env(self.home)
        env.update(connection_env(self.servers, self.home / "bench_state.db", STREAK_KEY))
        streak = json.loads(env["AIRFLOW_CONN_STREAK_DEFAULT"])
        streak["extra"] = {"requests_per_second": 0}  # the local sandbox: Streak's pace is not measured
        env["AIRFLOW_CONN_STREAK_DEFAULT"] = json.dumps(streak)
        qbo = json.loads(env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
        qbo["extra"]["time_scale"] = time_scale
        env["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"] = json.dumps(qbo)
        env["STREAK_ERP_STATE_URL"] = f"sqlite:///{self.home / 'bench_state.db'}"
        if self.chunk_size:
            env["STREAK_ERP_SYNC_CONFIG"] = str(self.sync_config())
        return env

    def sync_config(self) -> Path:
        """``include/sync.yaml`` with ``master_data.chunk_size`` set to ``BENCH_CHUNK_SIZE``."""
        import yaml

        config = yaml.safe_load((REPO / "include" / "sync.yaml").read_text())
        config.setdefault("master_data", {})["chunk_size"] = self.chunk_size
        path = OUT / "sync.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def migrate(self) -> None:
        env = self.env(1.0)
        airflow = str(Path(sys.executable).parent / "airflow")
        result = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"airflow db migrate failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def scale_for(self, records: int) -> float:
        """A time scale at which ``records`` written at the ceiling take ``TARGET_PHASE_SECONDS`` (never below 1)."""
        if self.forced_scale:
            return self.forced_scale
        minutes = self.limits.fastest_minutes(records)
        return round(max(1.0, minutes * 60.0 / TARGET_PHASE_SECONDS), 2)

    # -- one DAG run --------------------------------------------------------------------------------
    def run_dag(self, label: str, dag_id: str, time_scale: float, conf: dict[str, Any] | None = None) -> dict:
        qbo = self.servers["quickbooks"].app
        qbo.limiter.configure({"time_scale": time_scale})
        before = json.loads(json.dumps(qbo.state_snapshot()["counters"]))
        t0 = time.time()
        result_file = OUT / f"{label}.json"
        log_file = OUT / f"{label}.log"
        with log_file.open("w") as log:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.dag_phase", dag_id, json.dumps(conf or {}), str(result_file)],
                env=self.env(time_scale),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        phase = json.loads(result_file.read_text()) if result_file.exists() else {"state": "crashed"}
        phase.update(
            label=label, dag_id=dag_id, exit_code=proc.returncode, log=str(log_file.relative_to(REPO))
        )
        phase["time_scale"] = time_scale
        phase["erp"] = self.erp_figures(t0, before, time_scale)
        print(f"{label}: {phase['state']} in {phase.get('wall_s')} s; {json.dumps(phase['erp'])}", flush=True)
        return phase

    def erp_figures(self, since: float, before: dict[str, Any], time_scale: float) -> dict[str, Any]:
        """What the QBO sandbox saw during one run (its own counters and admission log)."""
        qbo = self.servers["quickbooks"].app
        after = qbo.state_snapshot()["counters"]
        decisions = qbo.limiter.decision_log(since)
        admitted = [d for d in decisions if d["throttled"] is None]
        writes = {
            entity: sum(
                after["writes"][entity][k] - before["writes"][entity][k] for k in ("create", "update")
            )
            for entity in after["writes"]
        }
        records = sum(writes.values())
        by_kind = {
            kind: after["requests_by_kind"].get(kind, 0) - before["requests_by_kind"].get(kind, 0)
            for kind in after["requests_by_kind"]
        }
        batch_requests = after["batch_requests"] - before["batch_requests"]
        batch_items = after["batch_items"] - before["batch_items"]
        figures: dict[str, Any] = {
            "api_requests": len(decisions),
            "throttled_429": len(decisions) - len(admitted),
            "throttled_by_reason": _count(d["throttled"] for d in decisions if d["throttled"]),
            "batch_requests": batch_requests,
            "batch_items": batch_items,
            "requests_by_kind": by_kind,
            "records_written": records,
            "writes_by_entity": {k: v for k, v in writes.items() if v},
        }
        if not admitted:
            return figures
        window = 60.0 / time_scale
        first, last = admitted[0]["ts"], admitted[-1]["ts"]
        duration = max(last - first, 1e-9)
        limit_minutes = duration / window
        most, most_batches = _busiest_window(admitted, window)
        figures.update(
            write_phase_s=round(duration, 2),
            write_phase_limit_minutes=round(limit_minutes, 3),
            busiest_window_requests=most,
            busiest_window_batches=most_batches,
        )
        if records:
            figures.update(
                records_per_s=round(records / duration, 1),
                records_per_limit_minute=round(records / limit_minutes, 1),
                ceiling_per_limit_minute=self.limits.records_per_minute,
                fraction_of_ceiling=round(records / limit_minutes / self.limits.records_per_minute, 3),
                requests_per_record=round(len(decisions) / records, 4),
                minimum_requests_at_ceiling=self.limits.requests_at_ceiling(records),
                fewest_requests_batch_only=self.limits.fewest_requests(records),
                requests_vs_minimum=round(len(decisions) / self.limits.requests_at_ceiling(records), 3),
            )
        return figures


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def _busiest_window(admitted: list[dict[str, Any]], window: float) -> tuple[int, int]:
    """The most requests (and batch requests) the sandbox admitted in any window of its minute."""
    most = most_batches = start = batches = 0
    for end, decision in enumerate(admitted):
        batches += decision["batch"]
        while admitted[start]["ts"] <= decision["ts"] - window:
            batches -= admitted[start]["batch"]
            start += 1
        most = max(most, end - start + 1)
        most_batches = max(most_batches, batches)
    return most, most_batches


def _default_chunk_size() -> Any:
    import yaml

    return (yaml.safe_load((REPO / "include" / "sync.yaml").read_text()).get("master_data") or {}).get(
        "chunk_size", "?"
    )


def map_validate(deals: int, repeat: int) -> dict[str, Any]:
    """The map + validate benchmark in its own process (its peak RSS is its own)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}", "GX_ANALYTICS_ENABLED": "false"}
    cmd = [
        sys.executable,
        str(REPO / "bench" / "bench_map_validate.py"),
        "--deals",
        str(deals),
        "--repeat",
        str(repeat),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        return {"error": result.stderr[-3000:]}
    return json.loads(result.stdout[result.stdout.index("{") :])


def main() -> int:
    n = _env_int("BENCH_N", 10_000)
    mv_n = _env_int("BENCH_MV_N", 100_000 if n >= 10_000 else 10 * n)
    forced = float(os.environ.get("BENCH_TIME_SCALE") or 0) or None
    skip = {s.strip() for s in os.environ.get("BENCH_SKIP", "").split(",") if s.strip()}
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "n": n,
        "map_validate_n": mv_n,
        "phase_seconds": TARGET_PHASE_SECONDS,
        "chunk_size": _env_int("BENCH_CHUNK_SIZE", 0) or f"{_default_chunk_size()}, from include/sync.yaml",
        "machine": machine(),
        "phases": [],
    }
    started = time.perf_counter()
    if "dags" not in skip:
        bench = Bench(n, forced)
        bench.start()
        results["seed_seconds"] = bench.seed_seconds
        try:
            bench.migrate()
            wanted = [d for d, name in ((BULK_DAG, "bulk"), (DEAL_DAG, "deals")) if name not in skip]
            dags = [d for d in wanted if (REPO / "dags" / f"{d}.py").exists()]
            for dag_id in dags:
                expected = round(n * 1.1) if dag_id == BULK_DAG else n  # orgs + contacts without an org
                scale = bench.scale_for(expected)
                results["phases"].append(bench.run_dag(f"{dag_id}-first", dag_id, scale))
                results["phases"].append(bench.run_dag(f"{dag_id}-second", dag_id, scale))
            results["missing_dags"] = [d for d in wanted if d not in dags]
        finally:
            bench.stop()
    if "map_validate" not in skip:
        print(f"map + validate: {mv_n} deals", flush=True)
        results["map_validate"] = map_validate(mv_n, _env_int("BENCH_MV_REPEAT", 3))
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_seconds"] = round(time.perf_counter() - started)
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    path = Path(os.environ.get("BENCH_RESULTS") or REPO / "bench" / "RESULTS.md")
    write_report(results, path)
    print(f"wrote {path} ({results['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
