"""The mapping engine: Streak boxes -> canonical documents, items, customers, or named failures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streak_hooks.models import Box, Contact, Organization, Pipeline
from sync_core.canonical import DocumentKind, ItemType
from sync_core.mapping import (
    catalogue_items,
    load_mapping,
    load_mapping_file,
    map_boxes,
    map_contact,
    map_organization,
)
from sync_core.mapping.schema import Mapping

CLOSE = 1717243200000  # 2024-06-01T12:00:00Z
PRODUCTS = {"p1": "Widget Standard", "p2": "Widget Pro", "p3": "Support Plan", "p4": "Mystery Box"}
FIELDS = [  # odd keys on purpose: the engine must find fields by name
    ("k-prod", "Product", "DROPDOWN", PRODUCTS),
    ("k-qty", "Quantity", "TEXT_INPUT", None),
    ("k-price", "Unit Price", "TEXT_INPUT", None),
    ("k-value", "Deal Value", "TEXT_INPUT", None),
    ("k-lines", "Line Items", "TEXT_INPUT", None),
    ("k-type", "Deal Type", "DROPDOWN", {"t1": "Service", "t2": "Product"}),
    ("k-close", "Close Date", "DATE", None),
    ("k-cur", "Currency", "TEXT_INPUT", None),
    ("k-rush", "Rush Order", "CHECKBOX", None),
    ("k-inv", "ERP Invoice #", "TEXT_INPUT", None),
]


def pipeline_json(name: str = "Sales") -> dict[str, Any]:
    fields = []
    for key, label, kind, options in FIELDS:
        field: dict[str, Any] = {"key": key, "name": label, "type": kind}
        if options:
            field["dropdownSettings"] = {"items": [{"key": k, "name": v} for k, v in options.items()]}
        fields.append(field)
    stages = {"5001": {"key": "5001", "name": "Lead"}, "5002": {"key": "5002", "name": "Proposal"}}
    stages["5003"] = {"key": "5003", "name": "Closed-Won"}
    return {
        "key": "pipe1",
        "name": name,
        "stageOrder": ["5001", "5002", "5003"],
        "stages": stages,
        "fields": fields,
    }


PIPELINE = Pipeline.from_api(pipeline_json())
KEY_BY_NAME = {label: key for key, label, _, _ in FIELDS}
ORGS = {
    "org1": Organization.from_api(
        {"key": "org1", "name": "O'Brien & Sons", "addresses": ["123 Main St, Springfield, IL 62704"]}
    ),
}
CONTACTS = {
    "c1": Contact.from_api(
        {"key": "c1", "givenName": "Zoë", "familyName": "Müller", "emailAddresses": ["zoe@example.de"]}
    ),
}


def make_box(
    key: str = "agx1",
    stage: str = "5003",
    orgs: tuple[str, ...] = ("org1",),
    contacts: tuple[str, ...] = (),
    **values: Any,
) -> Box:
    fields = {KEY_BY_NAME[name.replace("_", " ")]: value for name, value in values.items()}
    return Box.from_api(
        {
            "boxKey": key, "pipelineKey": "pipe1", "name": f"Deal {key}", "stageKey": stage, "fields": fields,
            "lastStageChangeTimestamp": CLOSE + 86_400_000 * 2,
            "organizations": [{"key": o} for o in orgs], "contacts": [{"key": c} for c in contacts],
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def qbo() -> Mapping:
    return load_mapping("quickbooks")


def run(mapping: Mapping, *boxes: Box, pipeline: Pipeline = PIPELINE) -> Any:
    return map_boxes(mapping, pipeline, list(boxes), CONTACTS, ORGS)


def reasons(result: Any) -> list[str]:
    return [f.reason for f in result.failures]


def test_single_product_deal_resolves_dropdown_and_numbers(qbo: Mapping) -> None:
    result = run(
        qbo,
        make_box(
            Product="p2",
            Quantity="3",
            Unit_Price="$1,290.50",
            Deal_Value="3,871.50",
            Deal_Type="t2",
            Close_Date=CLOSE,
        ),
    )
    assert reasons(result) == []
    (doc,) = result.documents
    (line,) = doc.lines
    assert (line.item.sku, line.item.name, line.quantity, line.unit_price, line.amount) == (
        "WID-PRO", "Widget Pro", Decimal(3), Decimal("1290.50"), Decimal("3871.50"))  # fmt: skip
    assert line.item.type is ItemType.NON_INVENTORY and line.item.income_account_ref == "79"
    assert (
        doc.external_key == "agx1" and doc.doc_date == date(2024, 6, 1) and doc.due_date == date(2024, 7, 1)
    )
    assert doc.declared_total == Decimal("3871.50") and doc.kind is DocumentKind.INVOICE
    assert doc.customer.external_key == "org1" and result.customers == [doc.customer]
    assert result.items == [line.item]
    assert doc.custom_fields == (("1", "Product"),)  # Deal Type passed through to QBO custom field 1


def test_close_date_is_the_day_in_the_configured_time_zone(qbo: Mapping, tmp_path: Path) -> None:
    early = 1717203600000  # 2024-06-01T01:00:00Z, still 2024-05-31 (21:00) in New York
    assert run(qbo, make_box(Product="p2", Close_Date=early)).documents[0].doc_date == date(2024, 5, 31)
    in_utc = _variant(tmp_path, "timezone: America/New_York", "timezone: UTC")
    assert run(in_utc, make_box(Product="p2", Close_Date=early)).documents[0].doc_date == date(2024, 6, 1)


def test_european_decimal_uses_the_declared_fallback_locale(qbo: Mapping) -> None:
    result = run(qbo, make_box(Product="p1", Quantity="2", Unit_Price="1.234,50"))
    assert result.documents[0].lines[0].unit_price == Decimal("1234.50")


def test_line_items_field_wins_and_resolves_skus_and_dropdown_names(qbo: Mapping) -> None:
    text = "WID-STD | 10 | 49.00 | Blue\nsupport | 1 | 500\nMystery Box | 2 | 5"
    result = run(qbo, make_box(Product="p2", Line_Items=text))
    assert reasons(result) == []
    lines = result.documents[0].lines
    assert [(ln.item.sku, ln.quantity, ln.amount, ln.description) for ln in lines] == [
        ("WID-STD", Decimal(10), Decimal("490.00"), "Blue"),
        ("SUPPORT", Decimal(1), Decimal("500.00"), ""),
        ("MYSTERY-BOX", Decimal(2), Decimal("10.00"), ""),
    ]
    assert lines[1].item.type is ItemType.SERVICE  # from the catalogue
    assert result.documents[0].lines_field == "Line Items"


def test_conditional_deal_type_service_selects_a_service_item(qbo: Mapping) -> None:
    result = run(
        qbo,
        make_box("s1", Product="p1", Quantity="1", Unit_Price="10", Deal_Type="t1"),
        make_box("s2", Product="p1", Quantity="1", Unit_Price="10"),
    )
    service, product = (doc.lines[0].item for doc in result.documents)
    assert (service.sku, service.type, service.income_account_ref) == ("WID-STD-SVC", ItemType.SERVICE, "1")
    assert (product.sku, product.type, product.income_account_ref) == (
        "WID-STD",
        ItemType.NON_INVENTORY,
        "79",
    )
    assert {i.sku for i in result.items} == {"WID-STD-SVC", "WID-STD"}


def test_defaults_fill_erp_required_values(qbo: Mapping) -> None:
    result = run(qbo, make_box(Product="p2"))  # no quantity, no unit price, no close date
    (doc,) = result.documents
    assert doc.lines[0].quantity == Decimal(1)  # default quantity
    assert doc.lines[0].unit_price == Decimal("129.0")  # catalogue price stands in
    assert doc.doc_date == date(2024, 6, 3)  # stage-change date, New York time
    assert doc.currency == "USD" and doc.status == "B" and doc.class_ref == "Sales"


def test_declared_number_default_stands_in_for_an_empty_field(tmp_path: Path) -> None:
    mapping = _variant(
        tmp_path,
        "quantity: {field: Quantity, parse: number}",
        "quantity: {field: Quantity, parse: number, default: 2.5}",
    )
    (line,) = run(mapping, make_box(Product="p2", Unit_Price="10")).documents[0].lines
    assert (line.quantity, line.amount) == (Decimal("2.5"), Decimal("25.00"))


def test_lookup_tables_map_stage_and_pipeline(qbo: Mapping) -> None:
    renewals = Pipeline.from_api(pipeline_json("Renewals"))
    result = run(qbo, make_box(stage="5002", Product="p2"), pipeline=renewals)
    assert run(qbo, make_box(stage="5001", Product="p2")).documents[0].status == ""  # declared default
    assert (result.documents[0].status, result.documents[0].class_ref) == ("A", "Renewals")
    unknown = Pipeline.from_api(pipeline_json("Somewhere Else"))
    assert run(qbo, make_box(Product="p2"), pipeline=unknown).documents[0].class_ref == ""  # declared default


def test_lookup_without_default_fails_naming_the_table(tmp_path: Path) -> None:
    mapping = _variant(
        tmp_path,
        'class_ref: {lookup: pipeline_class, from: pipeline, default: ""}',
        "class_ref: {lookup: pipeline_class, from: pipeline}",
    )
    result = run(mapping, make_box(Product="p2"), pipeline=Pipeline.from_api(pipeline_json("Elsewhere")))
    assert reasons(result) == ["box agx1: Pipeline 'Elsewhere' has no entry in lookup table 'pipeline_class'"]


def test_currency_conversion_uses_the_rate_table(qbo: Mapping) -> None:
    result = run(
        qbo, make_box(Product="p2", Quantity="2", Unit_Price="100,00", Deal_Value="200", Currency="eur")
    )
    (doc,) = result.documents
    assert (doc.currency, doc.source_currency) == ("USD", "EUR")
    assert doc.lines[0].unit_price == Decimal("108.50") and doc.lines[0].amount == Decimal("217.00")
    assert doc.declared_total == Decimal("217.00")


def test_missing_rate_is_a_failure_naming_the_pair(qbo: Mapping) -> None:
    result = run(qbo, make_box(Product="p2", Quantity="1", Unit_Price="5", Currency="SEK"))
    assert result.documents == []
    assert reasons(result) == [
        "box agx1: Currency 'SEK' cannot be converted: no exchange rate SEK/USD in the rate table"
    ]


def test_rate_file_named_by_the_mapping_is_used(tmp_path: Path) -> None:
    mapping = _variant(tmp_path, "lookups_file: lookups.yaml", "lookups_file: rates.yaml", keep_lookups=False)
    assert mapping.rate("SEK", "USD") == Decimal("0.095")


def test_checkbox_custom_field_passes_through_as_bool(tmp_path: Path) -> None:
    mapping = _variant(
        tmp_path,
        '    - {streak_field: Deal Type, erp_field: "1"}',
        '    - {streak_field: Rush Order, erp_field: "2"}\n    - {streak_field: Close Date, erp_field: "3"}',
    )
    result = run(mapping, make_box(Product="p2", Rush_Order=True, Close_Date=CLOSE))
    assert result.documents[0].custom_fields == (("2", "true"), ("3", "2024-06-01"))


def test_qbo_limits_on_display_name_and_doc_number(qbo: Mapping) -> None:
    long_key = "agxzfm1haWxmb29nYWVyMgsLEgRDYXNlGICAgICAgAoM"
    org = Organization.from_api({"key": "long", "name": "Acme: " + "Ünïcode Holdings " * 10})
    result = map_boxes(qbo, PIPELINE, [make_box(long_key, orgs=("long",), Product="p2")], {}, {"long": org})
    (doc,) = result.documents
    assert len(doc.doc_number) <= 21 and doc.doc_number.startswith("SK-agxzfm1haWx")
    assert len(doc.customer.display_name) <= 100 and ":" not in doc.customer.display_name
    assert doc.customer.company_name.startswith("Acme: ")  # the company name keeps the original text


def test_customer_is_first_organization_else_first_contact(qbo: Mapping) -> None:
    result = run(
        qbo,
        make_box("a", orgs=("missing", "org1"), contacts=("c1",), Product="p2"),
        make_box("b", orgs=(), contacts=("c1",), Product="p2"),
    )
    assert [d.customer.external_key for d in result.documents] == ["org1", "c1"]
    contact_customer = result.documents[1].customer
    assert (contact_customer.display_name, contact_customer.email, contact_customer.source) == (
        "Zoë Müller",
        "zoe@example.de",
        "contact",
    )
    nobody = run(qbo, make_box("c", orgs=(), Product="p2"))
    assert reasons(nobody) == [
        "box c: Organization/Contact is missing: the box links no known organization or contact"
    ]
    assert [(f.source_key, f.entity, f.field) for f in nobody.failures] == [
        ("c", "deal", "Organization/Contact")
    ]  # a deal failure keyed by the box: preview shows it and the deal leaves quarantine once synced


def test_map_organization_and_contact_split_addresses(qbo: Mapping) -> None:
    customer = map_organization(qbo, ORGS["org1"])
    assert (
        customer.billing_address.city,
        customer.billing_address.region,
        customer.billing_address.country,
    ) == ("Springfield", "IL", "US")
    assert (
        map_contact(qbo, Contact.from_api({"key": "x", "emailAddresses": ["a@b.co"]})).display_name
        == "a@b.co"
    )
    assert map_contact(qbo, Contact.from_api({"key": "y", "fullName": "Mary O'Neil"})).family_name == "O'Neil"


def test_every_problem_of_a_box_is_named(qbo: Mapping) -> None:
    result = run(
        qbo,
        make_box("bad1", Product="p1", Quantity="ten", Unit_Price="abc", Close_Date="someday"),
        make_box("bad2", Line_Items="NOPE | 1 | 2\nWID-STD | x | 1"),
        make_box("bad3", Product="p4", Quantity="1"),
        make_box("bad4", Product="zz"),
        make_box("ok", Product="p2"),
    )
    assert [d.external_key for d in result.documents] == ["ok"]
    assert reasons(result) == [
        "box bad1: Quantity 'ten' is not a number",
        "box bad1: Unit Price 'abc' is not a number",
        "box bad1: Close Date 'someday' is not a date",
        "box bad2: Line Items line 2: quantity 'x' is not a number",
        "box bad2: Line Items line 1: product 'NOPE' is not in the catalogue",
        "box bad3: Unit Price is missing",
        "box bad4: Product 'zz' is not one of the field's options",
    ]
    assert {(f.source_key, f.entity, f.field) for f in result.failures} >= {
        ("bad1", "deal", "Quantity"),
        ("bad3", "deal", "Unit Price"),
    }
    assert result.failures[0].payload["box"]["boxKey"] == "bad1"


def test_catalogue_items_cover_dropdown_options_catalogue_and_rule_variants(qbo: Mapping) -> None:
    items = {i.sku: i for i in catalogue_items(qbo, PIPELINE)}
    assert {"WID-STD", "WID-PRO", "SUPPORT", "MYSTERY-BOX", "GADGET", "ONBOARD", "WID-STD-SVC"} <= set(items)
    assert items["MYSTERY-BOX"].name == "Mystery Box" and items["MYSTERY-BOX"].unit_price is None
    assert items["WID-STD-SVC"].type is ItemType.SERVICE


def test_netsuite_mapping_makes_sales_orders_without_conversion() -> None:
    mapping = load_mapping("netsuite")
    doc = run(mapping, make_box(Product="p2", Quantity="1", Unit_Price="10", Currency="EUR")).documents[0]
    assert (doc.kind, doc.currency, doc.doc_number) == (DocumentKind.SALES_ORDER, "EUR", "STREAK-agx1")


def _variant(tmp_path: Path, old: str, new: str, keep_lookups: bool = True) -> Mapping:
    shipped = Path(__file__).resolve().parents[2] / "include" / "mappings"
    text = (shipped / "quickbooks.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "quickbooks.yaml").write_text(text.replace(old, new), encoding="utf-8")
    if keep_lookups:
        (tmp_path / "lookups.yaml").write_text(
            (shipped / "lookups.yaml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    else:
        (tmp_path / "rates.yaml").write_text(
            (shipped / "lookups.yaml").read_text(encoding="utf-8") + "\n" + "  SEK/USD: 0.095\n",
            encoding="utf-8",
        )
    return load_mapping_file(tmp_path / "quickbooks.yaml")
