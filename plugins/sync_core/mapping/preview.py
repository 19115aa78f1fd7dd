"""``mapping preview``: map and validate a Streak export, and show per box what the ERP would get."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from streak_hooks.models import Box, Contact, Organization, Pipeline
from sync_core.canonical import SalesDocument, to_jsonable
from sync_core.mapping.engine import map_boxes
from sync_core.mapping.schema import Mapping

Export = tuple[Pipeline, list[Box], dict[str, Contact], dict[str, Organization]]


def load_export(path: Path) -> Export:
    """Read ``{"pipeline", "boxes", "contacts", "organizations"}`` as the Streak API returns them."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("pipeline"), dict):
        raise ValueError(f"{path}: expected a JSON object with a 'pipeline' object and 'boxes' list")
    pipeline = Pipeline.from_api(data["pipeline"])
    boxes = [Box.from_api(b) for b in data.get("boxes") or []]
    contacts = {str(c["key"]): Contact.from_api(c) for c in data.get("contacts") or []}
    organizations = {str(o["key"]): Organization.from_api(o) for o in data.get("organizations") or []}
    return pipeline, boxes, contacts, organizations


def _renderer(erp: str) -> Any | None:
    """The ERP's payload module, or None when that ERP ships none (other import errors propagate)."""
    package = f"erp_operators.{erp}"
    try:
        return importlib.import_module(f"{package}.payloads")
    except ModuleNotFoundError as exc:
        if exc.name in (package, f"{package}.payloads"):
            return None
        raise


def _payload(renderer: Any, doc: SalesDocument) -> dict[str, Any]:
    """The ERP bodies for a document; new records get placeholder references ("new:<key>")."""
    items = list({line.item.sku: line.item for line in doc.lines}.values())
    refs = {i.sku: i.erp_ref or f"new:{i.sku}" for i in items}
    return {
        "customer": renderer.customer_payload(doc.customer),
        "items": [renderer.item_payload(i) for i in items if not i.erp_ref],
        "document": renderer.document_payload(doc, f"new:{doc.customer.external_key}", refs),
    }


def build_preview(mapping: Mapping, export: Export, results_dir: Path | None = None) -> dict[str, Any]:
    """Map + validate every box of a loaded export; one entry per box with canonical, payload and verdict."""
    from sync_core.validation import validate_batch

    pipeline, boxes, contacts, organizations = export
    mapped = map_boxes(mapping, pipeline, boxes, contacts, organizations)
    report = validate_batch(mapped.documents, mapped.customers, mapped.items, mapping, results_dir)
    reasons: dict[str, list[str]] = {}
    for failure in [*mapped.failures, *report.failures]:
        if failure.entity == "deal":
            reasons.setdefault(failure.source_key, []).append(failure.reason)
    documents = {d.external_key: d for d in mapped.documents}
    renderer = _renderer(mapping.erp)
    entries = []
    for box in boxes:
        doc = documents.get(box.key)
        entry: dict[str, Any] = {
            "box_key": box.key,
            "name": box.name,
            "verdict": "invalid" if box.key in reasons or doc is None else "valid",
            "reasons": reasons.get(box.key, []),
            "canonical": to_jsonable(doc) if doc else None,
            "payload": None,
            "payload_note": "",
        }
        if doc is not None:
            if renderer is None:
                entry["payload_note"] = f"payload renderer not available for {mapping.erp}"
            else:
                try:
                    entry["payload"] = _payload(renderer, doc)
                except ValueError as exc:
                    entry["payload_note"] = f"payload not renderable: {exc}"
        entries.append(entry)
    valid = sum(1 for e in entries if e["verdict"] == "valid")
    return {
        "erp": mapping.erp,
        "mapping": mapping.source,
        "summary": {"boxes": len(entries), "valid": valid, "invalid": len(entries) - valid},
        "boxes": entries,
    }


def render_table(preview: dict[str, Any]) -> Any:
    """A rich renderable: one panel per box (canonical summary, verdict, reasons, payload)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    parts: list[Any] = []
    for entry in preview["boxes"]:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        valid = entry["verdict"] == "valid"
        table.add_row("verdict", "[green]valid[/green]" if valid else "[red]invalid[/red]")
        for reason in entry["reasons"]:
            table.add_row("reason", reason)
        doc = entry["canonical"]
        if doc:
            customer = doc["customer"]
            table.add_row(
                "customer", f"{customer['display_name']} ({customer['external_key']}, {customer['source']})"
            )
            table.add_row(
                "document", f"{doc['kind']} {doc['doc_number']} dated {doc['doc_date']}, {doc['currency']}"
            )
            for line in doc["lines"]:
                table.add_row(
                    "line",
                    f"{line['item']['sku']}: {line['quantity']} x {line['unit_price']} = {line['amount']}",
                )
            table.add_row(
                "deal value", str(doc["declared_total"]) if doc["declared_total"] is not None else "-"
            )
        if entry["payload"] is not None:
            table.add_row("payload", json.dumps(entry["payload"]["document"], ensure_ascii=False))
        elif entry["payload_note"]:
            table.add_row("payload", entry["payload_note"])
        title = f"{entry['box_key']}  {entry['name']}"
        parts.append(Panel(table, title=title, title_align="left", border_style="green" if valid else "red"))
    summary = preview["summary"]
    parts.append(
        f"{summary['boxes']} boxes: {summary['valid']} valid, {summary['invalid']} invalid ({preview['erp']})"
    )
    return Group(*parts)
