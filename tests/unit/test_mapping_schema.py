"""Mapping files: the shipped ones load; broken ones fail with file:key: what was expected."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from sync_core.mapping import MappingError, check_files, load_mapping
from sync_core.mapping.loader import ENV_MAPPINGS_DIR, resolve_mappings_dir

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "mappings"


@pytest.fixture()
def mappings_copy(tmp_path: Path) -> Path:
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("erp", ["quickbooks", "netsuite"])
def test_shipped_mappings_load_with_shared_lookups(erp: str) -> None:
    mapping = load_mapping(erp)
    assert mapping.erp == erp
    assert mapping.catalogues["products"]["Widget Pro"].sku == "WID-PRO"
    assert mapping.rate("EUR", "USD") == Decimal("1.0850")
    assert all(problems == [] for problems in check_files([SHIPPED]).values())


def test_default_dir_is_found_relative_to_the_package_or_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, mappings_copy: Path
) -> None:
    monkeypatch.delenv(ENV_MAPPINGS_DIR, raising=False)
    assert resolve_mappings_dir() == SHIPPED
    monkeypatch.setenv(ENV_MAPPINGS_DIR, str(mappings_copy))
    assert resolve_mappings_dir() == mappings_copy
    assert load_mapping("quickbooks").source == str(mappings_copy / "quickbooks.yaml")


def test_qbo_limits_and_rates() -> None:
    mapping = load_mapping("quickbooks")
    assert mapping.limits.display_name.max_length == 100 and mapping.limits.display_name.forbidden == ":"
    assert mapping.limits.doc_number.max_length == 21
    assert mapping.rate("USD", "EUR") == Decimal(1) / Decimal("1.0850")  # inverse of a declared pair
    assert mapping.rate("EUR", "GBP") is None  # never guessed through a third currency


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("quickbooks.yaml", "document_kind: invoice", "document_kind: receipt",
         "quickbooks.yaml:settings.document_kind: expected 'invoice' or 'sales_order', got 'receipt'"),
        ("quickbooks.yaml", "timezone: America/New_York", "timezone: Mars/Olympus",
         "quickbooks.yaml:settings.timezone: expected an IANA time zone such as 'America/New_York', got 'Mars/Olympus'"),
        ("quickbooks.yaml", "doc_number: {max_length: 21}", "doc_number: {max_length: -3}",
         "quickbooks.yaml:limits.doc_number.max_length: expected greater than 0, got -3"),
        ("quickbooks.yaml", "  catalogue: products", "  catalog: products",
         "quickbooks.yaml:items.catalog: no such key is allowed here (got 'products')"),
        ("quickbooks.yaml", "home_currency: USD", "home_currency: XYZ",
         "quickbooks.yaml:settings.home_currency: expected an ISO-4217 currency code such as 'USD', got 'XYZ'"),
        ("quickbooks.yaml", "status: {lookup: stage_status,", "status: {lookup: stage_states,",
         "quickbooks.yaml:document.status.lookup: expected one of the lookup tables ['pipeline_class', 'stage_status'], got 'stage_states'"),
        ("quickbooks.yaml", "locale: en_US ", "locale: xx_YY ",
         "quickbooks.yaml:settings.locale: expected a locale such as 'en_US' or 'de_DE', got 'xx_YY'"),
        ("quickbooks.yaml", "erp: quickbooks", "erp: ''",
         "quickbooks.yaml:erp: expected at least 1 character, got ''"),
        ("lookups.yaml", "GBP/USD: 1.2700", "GBP-USD: 1.27",
         "lookups.yaml:rates: expected currency pairs written 'EUR/USD', got 'GBP-USD'"),
        ("lookups.yaml", "sku: WID-PRO, unit_price: 129.00", "sku: WID-PRO, unit_price: lots",
         "lookups.yaml:catalogues.products.Widget Pro.unit_price: expected a valid decimal, got 'lots'"),
        ("quickbooks.yaml", "lookups_file: lookups.yaml", "lookups_file: nowhere.yaml",
         "quickbooks.yaml:lookups_file: expected a file next to the mapping, got 'nowhere.yaml'"),
        ("quickbooks.yaml", "    - set: {}", "    - set: {}\n    - set: {type: service}",
         "quickbooks.yaml:items.rules.1.when: expected a condition (only the last rule may omit it)"),
        ("quickbooks.yaml", "declared_total: {field: Deal Value, parse: number}",
         "declared_total: {field: Deal Value, parse: number, default: lots}",
         "quickbooks.yaml:document.declared_total.default: expected a valid decimal, got 'lots'"),
        ("quickbooks.yaml", "quantity: {field: Quantity, parse: number}", "quantity: {field: Quantity, parse: date}",
         "quickbooks.yaml:lines.quantity.parse: expected 'number', got 'date'"),
        ("quickbooks.yaml", "product: {field: Product}", "product: {field: Product, parse: number}",
         "quickbooks.yaml:lines.product.parse: no such key is allowed here (got 'number')"),
        ("quickbooks.yaml", "product: {field: Product}", "product: {field: Product, default: Widget Pro}",
         "quickbooks.yaml:lines.product.default: no such key is allowed here (got 'Widget Pro')"),
        ("quickbooks.yaml", "currency: {field: Currency, default: USD}", "currency: {field: Currency, default: usd}",
         "quickbooks.yaml:document.currency.default: expected an ISO-4217 currency code such as 'USD', got 'usd'"),
        ("quickbooks.yaml", "  default_country: US", "  default_country: US\n  currency: EURO",
         "quickbooks.yaml:customer.currency: expected an ISO-4217 currency code such as 'USD', got 'EURO'"),
        ("quickbooks.yaml", "settings:\n", "settings: [\n",
         "quickbooks.yaml:line 9: valid YAML"),
    ],
)  # fmt: skip
def test_broken_mapping_fails_at_load_with_file_key_and_expectation(
    mappings_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    _edit(mappings_copy / file, old, new)
    with pytest.raises(MappingError) as raised:
        load_mapping("quickbooks", mappings_copy)
    assert any(problem.startswith(expected) for problem in raised.value.problems), raised.value.problems


def test_every_problem_is_reported_at_once(mappings_copy: Path) -> None:
    _edit(mappings_copy / "quickbooks.yaml", "document_kind: invoice", "document_kind: receipt")
    _edit(mappings_copy / "quickbooks.yaml", "due_days: 30", "due_days: soon")
    report = check_files([mappings_copy])
    assert report[mappings_copy / "netsuite.yaml"] == []
    assert report[mappings_copy / "quickbooks.yaml"] == [
        "quickbooks.yaml:settings.document_kind: expected 'invoice' or 'sales_order', got 'receipt'",
        "quickbooks.yaml:document.due_days: expected a valid integer, unable to parse string as an integer, got 'soon'",
    ]


def test_unknown_erp_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"sage50.yaml:\(file\): expected a mapping for ERP 'sage50'"):
        load_mapping("sage50", tmp_path)
