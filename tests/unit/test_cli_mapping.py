"""`streak-erp mapping check|preview` run as a real process (python -m sync_core.cli)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "mixed_batch.json"
SHIPPED = ROOT / "include" / "mappings"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
        "COLUMNS": "200",
        **(env or {}),
    }
    environment.pop("STREAK_ERP_MAPPINGS_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "sync_core.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
    )


def test_preview_of_a_mixed_batch_names_what_passes_and_why_the_rest_fails(tmp_path: Path) -> None:
    run = cli(
        "mapping",
        "preview",
        "--erp",
        "quickbooks",
        "--input",
        str(FIXTURE),
        "--format",
        "json",
        "--results-dir",
        str(tmp_path),
    )
    assert run.returncode == 0, run.stderr
    preview = json.loads(run.stdout)
    verdicts = {b["box_key"]: (b["verdict"], b["reasons"]) for b in preview["boxes"]}
    assert verdicts == {
        "agxGoodSingle": ("valid", []),
        "agxGoodLines": ("valid", []),
        "agxApostrophe": ("valid", []),
        "agxEuroDecimal": ("valid", []),
        "agxMissingAmount": ("invalid", ["box agxMissingAmount: Unit Price is missing"]),
        "agxBadQuantity": ("invalid", ["box agxBadQuantity: Quantity 'ten' is not a number"]),
        "agxUnknownProduct": (
            "invalid",
            ["box agxUnknownProduct: Line Items line 1: product 'NOPE-1' is not in the catalogue"],
        ),
        "agxBadTotal": (
            "invalid",
            ["box agxBadTotal: Deal Value 400.00 does not match the sum of the lines 357.95"],
        ),
        "agxBadEmail": (
            "invalid",
            [
                "box agxBadEmail: customer c_jane (Jane Doe) failed validation: e-mail 'jane.doe(at)example.com' is not a valid e-mail address"
            ],
        ),
    }
    assert preview["summary"] == {"boxes": 9, "valid": 4, "invalid": 5}
    boxes = {b["box_key"]: b for b in preview["boxes"]}
    euro = boxes["agxEuroDecimal"]["canonical"]
    assert euro["lines"][0]["unit_price"] == "1234.50" and euro["declared_total"] == "2469.00"
    lines = boxes["agxGoodLines"]["canonical"]
    assert lines["customer"]["display_name"] == "Zoë Müller-Łukasiewicz"
    assert lines["customer"]["billing_address"]["country"] == "PL"
    assert [ln["item"]["sku"] for ln in lines["lines"]] == [
        "WID-STD-SVC",
        "SUPPORT-SVC",
    ]  # Deal Type = Service
    assert boxes["agxApostrophe"]["canonical"]["customer"]["display_name"] == "L'Oréal Société- Division Nord"
    assert boxes["agxBadQuantity"]["canonical"] is None
    payload = boxes["agxGoodSingle"]["payload"]
    assert payload is not None, boxes["agxGoodSingle"]["payload_note"]  # the QuickBooks renderer ships
    assert payload["document"]["DocNumber"] == "SK-agxGoodSingle"
    assert payload["document"]["Line"][0]["Amount"] == 387.0
    assert payload["customer"]["DisplayName"] == "O'Brien & Sons"
    assert (tmp_path / "gx_documents.json").is_file()


def test_preview_table_is_readable() -> None:
    run = cli("mapping", "preview", "--input", str(FIXTURE), "--format", "table")
    assert run.returncode == 0, run.stderr
    assert "agxBadQuantity" in run.stdout and "Quantity 'ten' is not a number" in run.stdout
    assert "9 boxes: 4 valid, 5 invalid (quickbooks)" in run.stdout


def test_preview_without_a_payload_renderer_still_shows_the_canonical_record(tmp_path: Path) -> None:
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    text = (
        (SHIPPED / "quickbooks.yaml").read_text(encoding="utf-8").replace("erp: quickbooks", "erp: acme_erp")
    )
    (tmp_path / "acme_erp.yaml").write_text(text, encoding="utf-8")
    run = cli(
        "mapping",
        "preview",
        "--erp",
        "acme_erp",
        "--mappings-dir",
        str(tmp_path),
        "--input",
        str(FIXTURE),
        "--format",
        "json",
    )
    assert run.returncode == 0, run.stderr
    good = next(b for b in json.loads(run.stdout)["boxes"] if b["box_key"] == "agxGoodSingle")
    assert good["payload"] is None and good["payload_note"] == "payload renderer not available for acme_erp"
    assert good["canonical"]["lines"][0]["item"]["sku"] == "WID-PRO"


def test_check_passes_on_the_shipped_files() -> None:
    run = cli("mapping", "check")
    assert run.returncode == 0, run.stderr
    assert (
        f"ok {SHIPPED / 'quickbooks.yaml'}" in run.stdout and f"ok {SHIPPED / 'netsuite.yaml'}" in run.stdout
    )


def test_check_fails_on_a_broken_copy_with_file_key_reason(tmp_path: Path) -> None:
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    broken = tmp_path / "quickbooks.yaml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("due_days: 30", "due_days: -1"), encoding="utf-8"
    )
    run = cli("mapping", "check", str(tmp_path))
    assert run.returncode == 1
    assert (
        "quickbooks.yaml:document.due_days: expected greater than or equal to 0, got -1"
        in run.stderr.splitlines()
    )
    assert f"ok {tmp_path / 'netsuite.yaml'}" in run.stdout
    assert "1 of 2 mapping files are broken" in run.stderr


def test_preview_blames_the_input_file_only_when_it_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    run = cli("mapping", "preview", "--input", str(missing), "--format", "json")
    assert run.returncode == 2 and f"cannot read {missing}:" in run.stderr


def test_renderer_is_none_only_for_an_erp_without_a_payload_module() -> None:
    from sync_core.mapping.preview import _renderer

    assert _renderer("quickbooks").__name__ == "erp_operators.quickbooks.payloads"
    assert _renderer("acme_erp") is None
