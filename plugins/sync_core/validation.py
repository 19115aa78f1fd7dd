"""Validate a batch of canonical records with Great Expectations 1.x, per record.

One ephemeral GX context per call; one validation per frame (customers, items, documents, lines),
run on DataFrames built column-wise; failing rows are attributed to their record through
GX's ``unexpected_index_list``. A document fails too when its customer or one of its items fails.
``great_expectations`` and ``pandas`` are imported inside the functions only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_core.canonical import Customer, Item, SalesDocument, to_jsonable
from sync_core.mapping.results import RecordFailure
from sync_core.mapping.schema import Mapping
from sync_core.validation_suites import (
    ENTITY,
    INDEX_COLUMNS,
    Check,
    build_expectation,
    build_frames,
    derive_checks,
)


@dataclass(slots=True)
class ValidationReport:
    """The records that passed, and one failure per failed expectation per record."""

    valid_documents: list[SalesDocument] = field(default_factory=list)
    valid_customers: list[Customer] = field(default_factory=list)
    valid_items: list[Item] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)
    results_files: list[Path] = field(default_factory=list)


def _context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _run_frame(
    context: Any, name: str, columns: dict[str, list[Any]], checks: list[tuple[int, Check]]
) -> tuple[Any, Any | None]:
    """Validate one frame: a cheap pass for verdicts, then a COMPLETE pass over failed expectations only.

    The second pass yields ``unexpected_index_list`` (the failing rows' keys) for attribution.
    Returns both GX results (the second is None when everything passed).
    """
    import great_expectations as gx
    import pandas as pd

    batch_def = (
        context.data_sources.add_or_update_pandas(name=f"batch_{name}")
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe(f"{name}_all")
    )
    batch = batch_def.get_batch(batch_parameters={"dataframe": pd.DataFrame(columns)})
    expectations = []
    for index, check in checks:
        value_set = check.kwargs.get("value_set")
        if value_set is not None:  # same verdicts, far cheaper for GX: only the values present here
            present = {v for v in columns[check.kwargs["column"]] if v is not None}
            allowed = sorted(present.intersection(value_set)) or ["XXX"]  # XXX: ISO "no currency"
            check = dataclasses.replace(check, kwargs={**check.kwargs, "value_set": allowed})
        expectations.append(build_expectation(check, index))
    # Suites are built whole and not saved in the context: no store writes.
    quick = batch.validate(
        gx.ExpectationSuite(name=f"{name}_suite", expectations=expectations), result_format="BOOLEAN_ONLY"
    )
    failed_ids = {
        o.expectation_config.meta["check"] for o in quick.results if not o.success
    }  # results are not in suite order
    failed = [e for e in expectations if e.meta["check"] in failed_ids]
    if not failed:
        return quick, None
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": INDEX_COLUMNS[name]}
    suite = gx.ExpectationSuite(name=f"{name}_failures", expectations=[e.copy() for e in failed])
    return quick, batch.validate(suite, result_format=result_format)


def _prefix(frame: str, row: dict[str, Any]) -> str:
    key = row.get("source_key")
    if frame == "customers":
        return f"customer {key} ({row.get('display_name') or 'no name'})"
    if frame == "items":
        return f"item {key}"
    return f"box {key}"


def validate_batch(
    documents: Sequence[SalesDocument],
    customers: Sequence[Customer],
    items: Sequence[Item],
    mapping: Mapping,
    results_dir: Path | None = None,
) -> ValidationReport:
    """Validate the batch; GX results are written as JSON to ``results_dir`` when given."""
    frames = build_frames(documents, customers, items, mapping)
    checks = derive_checks(mapping)
    report = ValidationReport()
    payloads = {
        "customer": {c.external_key: c for c in customers},
        "item": {i.sku: i for i in items},
        "deal": {d.external_key: d for d in documents},
    }
    bad: dict[str, dict[str, list[str]]] = {"customer": defaultdict(list), "item": defaultdict(list)}
    failed_deals: set[str] = set()
    context = _context() if any(frames.size(n) for n in INDEX_COLUMNS) else None
    for name in INDEX_COLUMNS:
        if not frames.size(name):
            continue
        numbered = [(i, c) for i, c in enumerate(checks) if c.frame == name]
        verdicts, details = _run_frame(context, name, frames.columns[name], numbered)
        if results_dir is not None:
            report.results_files.append(_write(results_dir, f"gx_{name}.json", verdicts))
            if details is not None:
                report.results_files.append(_write(results_dir, f"gx_{name}_failures.json", details))
        for outcome in details.results if details is not None else ():
            if outcome.success:
                continue
            check = checks[int(outcome.expectation_config.meta["check"])]
            entity = ENTITY[name]
            for row in outcome.result.get("unexpected_index_list") or []:
                key = str(row.get("source_key"))
                words = check.describe(row)
                reason = f"{_prefix(name, row)}: {words}"
                if entity == "deal":
                    failed_deals.add(key)
                else:
                    bad[entity][key].append(words)
                record = payloads[entity].get(key)
                report.failures.append(
                    RecordFailure(key, entity, check.field, reason, to_jsonable(record) if record else {})
                )  # type: ignore[arg-type]
    bad_customers, bad_items = bad["customer"], bad["item"]
    for doc in documents:  # a document fails with its customer and with each of its items
        customer = doc.customer
        causes = [
            (doc.lines_field or "item", f"item {sku}", bad_items[sku])
            for sku in dict.fromkeys(line.item.sku for line in doc.lines)
            if sku in bad_items
        ]
        if customer.external_key in bad_customers:
            what = f"customer {customer.external_key} ({customer.display_name})"
            causes.insert(0, ("Organization/Contact", what, bad_customers[customer.external_key]))
        for field_name, what, why in causes:
            reason = f"box {doc.external_key}: {what} failed validation: {'; '.join(why)}"
            failed_deals.add(doc.external_key)
            report.failures.append(
                RecordFailure(doc.external_key, "deal", field_name, reason, to_jsonable(doc))
            )
    report.valid_documents = [d for d in documents if d.external_key not in failed_deals]
    report.valid_customers = [c for c in customers if c.external_key not in bad_customers]
    report.valid_items = [i for i in items if i.sku not in bad_items]
    return report


def _write(results_dir: Path, file_name: str, result: Any) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / file_name
    path.write_text(json.dumps(result.to_json_dict(), indent=1, default=str), encoding="utf-8")
    return path
