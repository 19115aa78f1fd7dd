"""One DAG run in its own process (``dag.test()``), for the benchmark: wall, CPU and peak RSS.

Run by :mod:`bench.run_bench` as ``python -m bench.dag_phase <dag_id> <conf json> <result json>``
with ``AIRFLOW_HOME`` and the ``AIRFLOW_CONN_*`` variables pointing at the benchmark's sandboxes.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(dag_id: str, conf: str, out: str) -> int:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    if bag.import_errors:
        raise SystemExit(f"{dag_id}: import errors {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    wall1 = time.perf_counter()
    run = dag.test(run_conf=json.loads(conf))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "dag_id": dag_id,
        "state": str(run.state),
        "started": time.time() - (time.perf_counter() - wall1),
        "run_wall_s": round(time.perf_counter() - wall1, 2),
        "wall_s": round(time.perf_counter() - wall0, 2),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "tasks": {
            ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): str(ti.state)
            for ti in run.get_task_instances()
        },  # fmt: skip
    }
    Path(out).write_text(json.dumps(result, indent=1))
    return 0 if result["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
