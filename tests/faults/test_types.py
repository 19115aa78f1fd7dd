"""Fault matrix, mismatched data types during transformation: Streak answers a field with another
JSON type than its definition says. Numbers where text is expected are read as the numbers they
are; values that cannot mean anything (a list, an object, an unreadable date) quarantine only
their own box, naming the box and the field; the run goes on for the others."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.faults.support import (
    GOOD_DEAL,
    assert_final_state,
    create_box,
    field_key,
    invoices_by_box,
    org_keys,
    quarantine_rows,
    run_dag,
)

pytestmark = pytest.mark.slow


def test_mismatched_types_are_read_or_quarantined_by_field(env) -> None:
    orgs = org_keys(env.streak)
    cases = {  # field name -> (raw JSON value Streak sends, quarantined?)
        "Quantity": (2, False),  # a JSON number in a TEXT_INPUT field
        "Unit Price": (499.0, False),  # a float
        "Deal Value": (["998.00"], True),  # a list
        "Product": ({"key": "9002"}, True),  # an object where a dropdown key belongs
        "Close Date": ("the day after tomorrow", True),  # text where epoch ms belong
    }
    boxes = {}
    for i, (name, (value, _)) in enumerate(cases.items()):
        key = create_box(env.streak, f"Typed deal {name}", fields=GOOD_DEAL, organization_keys=[orgs[i]])
        with env.streak.app.lock:  # what the API answers, bypassing the sandbox's own coercion
            env.streak.app.data.boxes[key]["fields"][field_key(env.streak, name)] = value
        boxes[name] = key

    assert run_dag().state == "success"

    quarantined = quarantine_rows(env.store)
    bad = {boxes[name] for name, (_, q) in cases.items() if q}
    for name, (_, expect_quarantine) in cases.items():
        key = boxes[name]
        if expect_quarantine:
            row = quarantined.get(key)
            assert row is not None, f"{name}: box {key} not quarantined"
            assert key in row.reason and name in [f["field"] for f in row.payload["failures"]], row.reason
    assert_final_state(env, bad)
    for name in ("Quantity", "Unit Price"):
        (invoice,) = invoices_by_box(env.qbo)[boxes[name]]
        assert Decimal(str(invoice["TotalAmt"])) == Decimal("998.00")
