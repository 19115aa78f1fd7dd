"""``streak-erp``: the command line of streak-erp-sync.

Command groups are Typer sub-apps added to :data:`app`; today ``mapping`` (``check``, ``preview``).
Another group is added with ``app.add_typer(other_app, name="...")``.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="streak-erp", help="Streak CRM <-> ERP sync tools.", no_args_is_help=True, add_completion=False
)
mapping_app = typer.Typer(
    help="Check mapping files and preview what they make of Streak data.", no_args_is_help=True
)
app.add_typer(mapping_app, name="mapping")


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


@mapping_app.command("check")
def mapping_check(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Mapping files or folders (default: the mappings folder).")
    ] = None,
) -> None:
    """Load every mapping file; print file:key: reason for each problem and exit 1 if any."""
    from sync_core.mapping.loader import check_files, resolve_mappings_dir

    report = check_files(paths or [resolve_mappings_dir()])
    if not report:
        typer.echo("no mapping files found", err=True)
        raise typer.Exit(2)
    broken = 0
    for path, problems in report.items():
        if problems:
            broken += 1
            for problem in problems:
                typer.echo(problem, err=True)
        else:
            typer.echo(f"ok {path}")
    if broken:
        typer.echo(f"{broken} of {len(report)} mapping files are broken", err=True)
        raise typer.Exit(1)


@mapping_app.command("preview")
def mapping_preview(
    input_file: Annotated[
        Path, typer.Option("--input", help="JSON export: pipeline, boxes, contacts, organizations.")
    ],
    erp: Annotated[str, typer.Option(help="Target ERP (the mapping file name).")] = "quickbooks",
    output: Annotated[
        OutputFormat, typer.Option("--format", help="json or a readable table.")
    ] = OutputFormat.table,
    mappings_dir: Annotated[Path | None, typer.Option(help="Folder of mapping files.")] = None,
    results_dir: Annotated[
        Path | None, typer.Option(help="Write the GX validation results (JSON) here.")
    ] = None,
) -> None:
    """Show, per box, the canonical record, the ERP payload and the validation verdict with reasons."""
    from sync_core.mapping.loader import MappingError, load_mapping
    from sync_core.mapping.preview import build_preview, load_export, render_table

    try:
        mapping = load_mapping(erp, mappings_dir)
    except MappingError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    try:
        export = load_export(input_file)
    except (OSError, ValueError, KeyError) as exc:
        typer.echo(f"cannot read {input_file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    preview = build_preview(mapping, export, results_dir)
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(preview, indent=2, ensure_ascii=False) + "\n")
    else:
        from rich.console import Console

        Console().print(render_table(preview))


def main() -> None:
    """Console-script entry point (``streak-erp``)."""
    app()


if __name__ == "__main__":
    main()
