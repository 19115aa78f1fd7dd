"""Canonical -> QBO JSON, request ids, query quoting, receipts and error classification (no I/O)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from erp_operators.errors import VendorCodes, classify_failure
from erp_operators.quickbooks.client import batch_request_id, quote, request_id
from erp_operators.quickbooks.config import QuickBooksLimits, config_from_connection
from erp_operators.quickbooks.faults import QBO_CODES
from erp_operators.quickbooks.payloads import (
    PayloadError,
    customer_payload,
    document_payload,
    item_payload,
    marker_in,
)
from erp_operators.receipts import (
    ErrorClass,
    Receipt,
    ReceiptStatus,
    payload_hash,
    receipts_from_json,
    receipts_to_json,
    summarize,
)
from erp_operators.registry import available_erps, connector_class
from sync_core.canonical import Address, Customer, Item, ItemType, Line, SalesDocument

D = Decimal


def _doc(**changes: object) -> SalesDocument:
    item = Item("SKU-1", "Widget", ItemType.SERVICE, D("10"))
    fields = {
        "external_key": "agxzfm1haWxmb29nYWVyLwsSDE9yZ2FuaXphdGlvbiIRYWNtZS5leGFtcGxlLmNvbQwLEgRDYXNlGICAgICAgIAKDA",
        "customer": Customer("org-1", "Acme"),
        "lines": (
            Line(item, D("2.5"), D("10.00"), D("25.00"), "two and a half"),
            Line(item, D("1"), D("4.99"), D("4.99")),
        ),
        "currency": "usd",
        "doc_date": date(2026, 11, 1),
        "due_date": date(2026, 12, 1),
        "memo": "Won deal",
        "class_ref": "200",
        "custom_fields": (("1", "Q4 promo"), ("Region", "EMEA")),
    }
    fields.update(changes)
    return SalesDocument(**fields)  # type: ignore[arg-type]


def test_customer_payload_respects_qbo_name_rules() -> None:
    body = customer_payload(
        Customer(
            "org-1",
            "  Acme:  Widgets " + "x" * 120,
            email=" ap@acme.test ",
            billing_address=Address("1 Main", city="Cork", region="CO", postal_code="T12", country="IE"),
        )
    )
    assert ":" not in body["DisplayName"] and len(body["DisplayName"]) <= 100
    assert body["DisplayName"].startswith("Acme- Widgets")
    assert body["PrimaryEmailAddr"] == {"Address": "ap@acme.test"}
    assert body["BillAddr"] == {
        "Line1": "1 Main",
        "City": "Cork",
        "CountrySubDivisionCode": "CO",
        "PostalCode": "T12",
        "Country": "IE",
    }
    with pytest.raises(PayloadError, match="org-2"):
        customer_payload(Customer("org-2", " : "[:1]))


def test_item_payload_types_and_inventory_requirements() -> None:
    body = item_payload(Item("SKU-9", "Consulting", ItemType.SERVICE, D("150"), income_account_ref="1"))
    assert body == {
        "Name": "Consulting",
        "Type": "Service",
        "Sku": "SKU-9",
        "UnitPrice": 150.0,
        "IncomeAccountRef": {"value": "1"},
    }
    with pytest.raises(PayloadError, match="asset account"):
        item_payload(Item("SKU-I", "Stocked", ItemType.INVENTORY, income_account_ref="79"))


def test_document_payload_lines_marker_and_fields() -> None:
    doc = _doc()
    body = document_payload(doc, "58", {"SKU-1": "7"})
    assert body["CustomerRef"] == {"value": "58"}
    assert [line["SalesItemLineDetail"] for line in body["Line"]] == [
        {"ItemRef": {"value": "7"}, "Qty": 2.5, "UnitPrice": 10.0},
        {"ItemRef": {"value": "7"}, "Qty": 1, "UnitPrice": 4.99},
    ]
    assert [line["Amount"] for line in body["Line"]] == [25.0, 4.99]
    assert all(line["DetailType"] == "SalesItemLineDetail" for line in body["Line"])
    assert body["TxnDate"] == "2026-11-01" and body["DueDate"] == "2026-12-01"
    assert body["CurrencyRef"] == {"value": "USD"} and body["ClassRef"] == {"value": "200"}
    assert body["CustomField"] == [
        {"Type": "StringType", "StringValue": "Q4 promo", "DefinitionId": "1"},
        {"Type": "StringType", "StringValue": "EMEA", "Name": "Region"},
    ]
    assert body["PrivateNote"].startswith("Won deal\n") and marker_in(body["PrivateNote"]) == doc.external_key
    json.dumps(body)  # plain JSON, no Decimals


def test_document_payload_refuses_bad_input_with_a_named_reason() -> None:
    with pytest.raises(PayloadError, match="SKU-1"):
        document_payload(_doc(), "58", {})
    with pytest.raises(PayloadError, match="no QuickBooks id"):
        document_payload(_doc(), "", {"SKU-1": "7"})
    with pytest.raises(PayloadError, match="21 characters"):
        document_payload(_doc(doc_number="INV-2026-0000000000001"), "58", {"SKU-1": "7"})
    assert document_payload(_doc(doc_number="INV-2026-000000000001"), "58", {"SKU-1": "7"})["DocNumber"]


def test_request_ids_are_deterministic_and_short() -> None:
    body = document_payload(_doc(), "58", {"SKU-1": "7"})
    rid = request_id("9130357992221046", "document", _doc().external_key, payload_hash(body))
    assert rid == request_id(
        "9130357992221046", "document", _doc().external_key, payload_hash(dict(reversed(body.items())))
    )
    assert len(rid) <= 50
    assert rid != request_id("9130357992221046", "document", "other-box", payload_hash(body))
    assert len(batch_request_id("9130357992221046", [rid] * 30)) <= 36


def test_quote_escapes_apostrophes() -> None:
    assert quote("O'Brien's") == "'O\\'Brien\\'s'"
    assert quote("Café") == "'Café'"


def test_receipts_round_trip_and_summary() -> None:
    receipts = [
        Receipt("a", "customer", ReceiptStatus.CREATED, "1", payload_hash="h"),
        Receipt("b", "customer", "unchanged", "2"),
        Receipt.failed("c", "customer", ErrorClass.VALIDATION, "6240 Duplicate Name Exists"),
    ]
    rows = json.loads(json.dumps(receipts_to_json(receipts)))
    assert receipts_from_json(rows) == receipts
    summary = summarize(receipts)
    assert summary["total"] == 3 and summary["ok"] == 2 and summary["created"] == 1 and summary["failed"] == 1
    assert summary["errors"] == {"validation": 1}
    assert summary["failures"][0]["external_key"] == "c"
    assert receipts[2].ledger_row()["error"] == "validation: 6240 Duplicate Name Exists"
    with pytest.raises(ValueError, match="error_class"):
        Receipt("d", "customer", ReceiptStatus.FAILED)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, None, ErrorClass.RETRIABLE),
        (503, None, ErrorClass.RETRIABLE),
        (400, "6240", ErrorClass.VALIDATION),
        (400, "610", ErrorClass.VALIDATION),
        (200, "3001", ErrorClass.RETRIABLE),
        (200, "3100", ErrorClass.RETRIABLE),
        (401, "3200", ErrorClass.AUTH),
        (400, "6190", ErrorClass.FATAL),
        (405, None, ErrorClass.FATAL),
    ],
)
def test_classification_table(status: int, code: str | None, expected: ErrorClass) -> None:
    assert classify_failure(status=status, code=code, vendor=QBO_CODES) is expected


def test_transport_errors_are_retriable_whatever_the_vendor() -> None:
    assert classify_failure(transport_error=True, vendor=VendorCodes()) is ErrorClass.RETRIABLE
    assert classify_failure(transport_error=True, status=400, code="6240", vendor=QBO_CODES) is (
        ErrorClass.RETRIABLE
    )


def test_connection_extras_are_parsed_in_one_place() -> None:
    config = config_from_connection(
        "cid",
        "secret",
        {
            "realm_id": 123,
            "refresh_token": "RT",
            "api_base_url": "http://127.0.0.1:9/",
            "time_scale": 60,
            "limits": {"max_attempts": 3},
        },
    )
    assert config.api_base_url == "http://127.0.0.1:9/v3" and config.realm_id == "123"
    assert config.limits == QuickBooksLimits(time_scale=60.0, max_attempts=3)
    assert config.discovery_url.startswith("https://developer.intuit.com/")
    assert "secret" not in repr(config) and "RT" not in repr(config)
    with pytest.raises(ValueError, match="realm_id"):
        config_from_connection("cid", "secret", {})
    with pytest.raises(ValueError, match="unknown keys"):
        config_from_connection("cid", "secret", {"realm_id": "1", "limits": {"rpm": 1}})


def test_connection_extras_honour_the_declared_fields_and_legacy_keys() -> None:
    config = config_from_connection(
        "cid",
        "secret",
        {
            "extra__quickbooks__realm_id": "456",
            "extra__quickbooks__refresh_token": "RT-prefixed",
            "extra__quickbooks__environment": "Sandbox",
            "extra__quickbooks__api_base_url": "http://127.0.0.1:9",
            "minorversion": 80,
            "redirect_uri": "https://example.test/cb",
            "time_scale": 10,
        },
        conn_id="qbo_legacy",
    )
    assert (config.realm_id, config.refresh_token, config.environment) == ("456", "RT-prefixed", "sandbox")
    assert config.api_base_url == "http://127.0.0.1:9/v3"
    assert config.minorversion == 80 and config.redirect_uri == "https://example.test/cb"
    assert config.limits.time_scale == 10.0
    with pytest.raises(ValueError, match="connection 'qbo_bad' extra 'environment' must be one of"):
        config_from_connection("cid", "secret", {"realm_id": "1", "environment": "staging"}, "qbo_bad")


def test_hook_module_imports_no_client_library() -> None:
    code = (
        "import sys; import erp_operators.quickbooks.hook; "
        "print(sorted(m for m in ('quickbooks', 'intuitlib.client', 'intuitlib.config', 'requests') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([".", "plugins"])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def test_registry_lazy_lookup() -> None:
    assert "quickbooks" in available_erps()
    assert connector_class("QBO").display_name == "QuickBooks Online"
    with pytest.raises(ValueError, match="unknown ERP"):
        connector_class("oracle")
