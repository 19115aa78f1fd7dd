"""Benchmark: map + validate N Streak deals (records/s, CPU seconds, peak RSS).

Run by ``make bench`` (``bench/run_bench.py``) on 100,000 deals; its figures are in ``bench/RESULTS.md``.
Alone: PYTHONPATH=.:plugins .venv/bin/python bench/bench_map_validate.py [--deals 10000] [--repeat 3]
The Great Expectations import is timed separately and excluded from the throughput figure.
Deals mix single-product boxes and multi-line ``Line Items`` boxes; 2% have a bad quantity (failed
by the mapping) and 1% of the contacts a bad e-mail (failed by validation, so GX's detailed pass runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import time
from typing import Any

from streak_hooks.models import Box, Contact, Organization, Pipeline

CLOSE = 1717243200000
FIELDS = [
    ("1001", "Product", "DROPDOWN"), ("1002", "Quantity", "TEXT_INPUT"), ("1003", "Unit Price", "TEXT_INPUT"),
    ("1004", "Deal Value", "TEXT_INPUT"), ("1005", "Line Items", "TEXT_INPUT"), ("1006", "Deal Type", "DROPDOWN"),
    ("1007", "Close Date", "DATE"), ("1008", "ERP Invoice #", "TEXT_INPUT"),
]  # fmt: skip
PRODUCTS = ["Widget Standard", "Widget Pro", "Gadget", "Support Plan", "Consulting Hour"]
SKUS = ["WID-STD", "WID-PRO", "GADGET", "SUPPORT", "CONSULT-HR"]


def make_pipeline() -> Pipeline:
    fields: list[dict[str, Any]] = []
    for key, name, kind in FIELDS:
        field: dict[str, Any] = {"key": key, "name": name, "type": kind}
        if name == "Product":
            field["dropdownSettings"] = {
                "items": [{"key": f"90{i}", "name": n} for i, n in enumerate(PRODUCTS)]
            }
        if name == "Deal Type":
            field["dropdownSettings"] = {
                "items": [{"key": "9101", "name": "Service"}, {"key": "9102", "name": "Product"}]
            }
        fields.append(field)
    stages = {"5003": {"key": "5003", "name": "Closed-Won"}}
    return Pipeline.from_api(
        {"key": "p", "name": "Sales", "stages": stages, "stageOrder": ["5003"], "fields": fields}
    )


def make_batch(n: int, seed: int = 7) -> tuple[list[Box], dict[str, Contact], dict[str, Organization]]:
    rng = random.Random(seed)
    orgs = {
        f"org{i}": Organization.from_api(
            {
                "key": f"org{i}",
                "name": f"Company {i} GmbH",
                "addresses": [f"{i} Main St, Springfield, IL 62704"],
            }
        )
        for i in range(n // 5)
    }
    contacts = {
        f"c{i}": Contact.from_api(
            {
                "key": f"c{i}",
                "givenName": "Zoë",
                "familyName": f"Nr{i}",
                "emailAddresses": [f"z{i}(at)example.com" if i % 100 == 1 else f"z{i}@example.com"],
            }
        )
        for i in range(n // 5)
    }
    boxes = []
    for i in range(n):
        fields: dict[str, Any] = {"1007": CLOSE + i * 1000, "1006": rng.choice(["9101", "9102"])}
        if i % 2:
            rows = [
                (rng.choice(SKUS), rng.randint(1, 20), rng.randint(100, 99999) / 100)
                for _ in range(rng.randint(1, 4))
            ]
            fields["1005"] = "\n".join(f"{s} | {q} | {p:,.2f} | item {j}" for j, (s, q, p) in enumerate(rows))
            fields["1004"] = f"{sum(round(q * p, 2) for _, q, p in rows):,.2f}"
        else:
            qty, price = rng.randint(1, 50), rng.randint(100, 99999) / 100
            fields.update(
                {"1001": f"90{rng.randrange(len(PRODUCTS))}", "1002": str(qty), "1003": f"${price:,.2f}"}
            )
            fields["1004"] = f"{round(qty * price, 2):,.2f}"
        if i % 50 == 0:  # an even deal, so a single-product one: 2% with a bad quantity
            fields["1002"] = "ten"
        links = (
            {"organizations": [{"key": f"org{i % (n // 5)}"}]}
            if i % 3
            else {"contacts": [{"key": f"c{i % (n // 5)}"}]}
        )
        boxes.append(
            Box.from_api(
                {
                    "boxKey": f"agxBench{i:06d}",
                    "pipelineKey": "p",
                    "name": f"Deal {i}",
                    "stageKey": "5003",
                    "fields": fields,
                    **links,
                }
            )
        )
    return boxes, contacts, orgs


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()
    import great_expectations  # noqa: F401  (timed on its own, excluded below)

    gx_import = {
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "rss_mb": round(peak_rss_mb()),
    }
    from sync_core.mapping import load_mapping, map_boxes
    from sync_core.validation import validate_batch

    mapping = load_mapping("quickbooks")
    pipeline = make_pipeline()
    boxes, contacts, orgs = make_batch(args.deals)
    runs = []
    for _ in range(args.repeat):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        mapped = map_boxes(mapping, pipeline, boxes, contacts, orgs)
        cpu1 = time.process_time()
        report = validate_batch(mapped.documents, mapped.customers, mapped.items, mapping, None)
        cpu2, wall2 = time.process_time(), time.perf_counter()
        runs.append(
            {
                "map_cpu_s": round(cpu1 - cpu0, 3),
                "validate_cpu_s": round(cpu2 - cpu1, 3),
                "total_cpu_s": round(cpu2 - cpu0, 3),
                "wall_s": round(wall2 - wall0, 3),
                "deals_per_cpu_s": round(args.deals / (cpu2 - cpu0)),
                "documents": len(mapped.documents),
                "lines": sum(len(d.lines) for d in mapped.documents),
                "valid": len(report.valid_documents),
                "failed_deals": len(
                    {f.source_key for f in [*mapped.failures, *report.failures] if f.entity == "deal"}
                ),
                "failed_by_validation": len({f.source_key for f in report.failures if f.entity == "deal"}),
            }
        )
        del mapped, report  # the next repetition must not hold two batches at once (peak RSS)
    ranked = sorted(runs, key=lambda r: r["total_cpu_s"])
    summary = {"best": ranked[0], "median": ranked[len(ranked) // 2]}
    print(json.dumps({"deals": args.deals, "python": platform.python_version(), "nproc": os.cpu_count(),
                      "gx_import": gx_import, "runs": runs, **summary, "peak_rss_mb": round(peak_rss_mb())},
                     indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
