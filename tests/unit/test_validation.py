"""Great Expectations validation: per-record failures in plain words, results saved as JSON."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sync_core.canonical import Customer, Item, ItemType, Line, SalesDocument
from sync_core.mapping import load_mapping
from sync_core.mapping.schema import Mapping
from sync_core.validation import validate_batch

WIDGET = Item("WID-PRO", "Widget Pro", ItemType.NON_INVENTORY, Decimal("129"), "79")
ACME = Customer("org1", "Acme", email="billing@acme.example", currency="USD")


def doc(key: str, *lines: Line, customer: Customer = ACME, **changes: object) -> SalesDocument:
    base = SalesDocument(
        key,
        customer,
        lines or (line(),),
        "USD",
        date(2024, 6, 1),
        doc_number=f"SK-{key}",
        lines_field="Line Items",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def line(qty: str = "2", price: str = "129", amount: str | None = None, item: Item = WIDGET) -> Line:
    total = (
        Decimal(amount) if amount is not None else (Decimal(qty) * Decimal(price)).quantize(Decimal("0.01"))
    )
    return Line(item, Decimal(qty), Decimal(price), total)


@pytest.fixture(scope="module")
def qbo() -> Mapping:
    return load_mapping("quickbooks")


def test_gx_and_pandas_are_not_imported_by_the_modules() -> None:
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    code = "import sys, sync_core.validation, sync_core.mapping, sync_core.cli; print(sorted({'great_expectations', 'pandas'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'plugins'}"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"


def test_good_batch_passes_and_results_are_saved(qbo: Mapping, tmp_path: Path) -> None:
    documents = [doc("b1"), doc("b2", line("1", "10.50"), declared_total=Decimal("10.50"))]
    report = validate_batch(documents, [ACME], [WIDGET], qbo, tmp_path / "gx")
    assert report.failures == []
    assert (
        report.valid_documents == documents
        and report.valid_customers == [ACME]
        and report.valid_items == [WIDGET]
    )
    saved = {p.name: json.loads(p.read_text()) for p in report.results_files}
    assert set(saved) == {"gx_customers.json", "gx_items.json", "gx_documents.json", "gx_lines.json"}
    assert all(result["success"] for result in saved.values())
    assert any(
        r["expectation_config"]["type"] == "expect_column_values_to_be_unique"
        for r in saved["gx_documents.json"]["results"]
    )


def test_each_failed_expectation_is_named_per_record(qbo: Mapping, tmp_path: Path) -> None:
    bad_customer = Customer("c9", "Jane Doe", email="jane(at)example.com", currency="ZZZ")
    cheap = Item("NEG", "Negative", ItemType.SERVICE, Decimal("-1"), "")
    documents = [
        doc("ok"),
        doc("dup"),
        doc("dup"),
        doc("neg", line("-2", "10")),
        doc("sum", line("2", "10", amount="25.00")),
        doc("declared", line("1", "100"), declared_total=Decimal("150")),
        doc("money", currency="EUROS"),
        doc("who", customer=bad_customer),
        doc("item", line("1", "5", item=cheap)),
        doc("nolines", lines=()),
    ]
    report = validate_batch(documents, [ACME, bad_customer], [WIDGET, cheap], qbo, tmp_path)
    assert [d.external_key for d in report.valid_documents] == ["ok"]
    assert report.valid_customers == [ACME] and report.valid_items == [WIDGET]
    by_key: dict[str, list[str]] = {}
    for failure in report.failures:
        by_key.setdefault(failure.source_key, []).append(failure.reason)
    assert by_key["c9"] == [
        "customer c9 (Jane Doe): e-mail 'jane(at)example.com' is not a valid e-mail address",
        "customer c9 (Jane Doe): currency 'ZZZ' is not an ISO-4217 currency code",
    ]
    assert by_key["NEG"] == ["item NEG: income account is missing", "item NEG: unit price -1 is below 0"]
    assert by_key["dup"] == ["box dup: external key (box key) appears more than once in the batch"] * 2
    assert by_key["neg"] == [
        "box neg: document total -20.00 is below 0",
        "box neg: line 1: Quantity -2 is below 0",
        "box neg: line 1: amount -20 is below 0",
    ]
    assert by_key["sum"] == ["box sum: line 1: amount is not quantity x unit price (within 0.01)"]
    assert by_key["declared"] == [
        "box declared: Deal Value 150.00 does not match the sum of the lines 100.00"
    ]
    assert by_key["money"] == ["box money: Currency 'EUROS' is not an ISO-4217 currency code"]
    assert by_key["who"] == [
        "box who: customer c9 (Jane Doe) failed validation: e-mail 'jane(at)example.com' is not a valid e-mail address; "
        "currency 'ZZZ' is not an ISO-4217 currency code"
    ]
    assert by_key["item"] == [
        "box item: item NEG failed validation: income account is missing; unit price -1 is below 0"
    ]
    assert by_key["nolines"] == ["box nolines: has no lines"]
    fields = {(f.source_key, f.entity, f.field) for f in report.failures}
    assert {
        ("c9", "customer", "e-mail"),
        ("neg", "deal", "Quantity"),
        ("declared", "deal", "Deal Value"),
        ("who", "deal", "Organization/Contact"),
    } <= fields
    assert (
        next(f for f in report.failures if f.source_key == "declared").payload["external_key"] == "declared"
    )
    assert not json.loads((tmp_path / "gx_documents.json").read_text())["success"]
    details = json.loads((tmp_path / "gx_documents_failures.json").read_text())
    unique = next(
        r
        for r in details["results"]
        if r["expectation_config"]["type"] == "expect_column_values_to_be_unique"
    )
    assert [row["source_key"] for row in unique["result"]["unexpected_index_list"]] == ["dup", "dup"]


def test_empty_batch_needs_no_gx(qbo: Mapping, monkeypatch: pytest.MonkeyPatch) -> None:
    import sync_core.validation as validation

    monkeypatch.setattr(validation, "_context", lambda: pytest.fail("an empty batch built a GX context"))
    monkeypatch.setattr(validation, "_run_frame", lambda *args: pytest.fail("an empty batch ran GX"))
    report = validate_batch([], [], [], qbo, None)
    assert report.failures == [] and report.valid_documents == []
