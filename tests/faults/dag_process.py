"""Run one DAG with ``dag.test()`` in a process of its own (``python -m tests.faults.dag_process``).

Used where a test needs a real second worker: two runs at once, or a worker killed with SIGKILL
right after the ERP write and before the ledger write (``--kill-before-ledger document``). Prints
one JSON line with the run's state and task tries.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys


def _kill_before_ledger(entity: str) -> None:
    """SIGKILL this process when the ledger is about to record ``entity`` rows (the ERP write is done)."""
    from sync_core.state import StateStore

    original = StateStore.ledger_record

    def ledger_record(self, erp, kind, rows):  # type: ignore[no-untyped-def]
        if kind == entity:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, erp, kind, rows)

    StateStore.ledger_record = ledger_record  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag", default="streak_deals_to_erp")
    parser.add_argument("--conf", default="{}", help="run conf as JSON")
    parser.add_argument("--kill-before-ledger", default="", help="entity, e.g. document")
    args = parser.parse_args(argv)
    if args.kill_before_ledger:
        _kill_before_ledger(args.kill_before_ledger)
    from tests.faults.support import run_dag

    result = run_dag(args.dag, json.loads(args.conf))
    print(json.dumps({"state": result.state, "run_id": result.run_id, "tasks": result.tasks}))
    return 0 if result.state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
