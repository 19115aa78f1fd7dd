"""``streak-erp``: the command line of streak-erp-sync.

Command groups are Typer sub-apps added to :data:`app`; today ``mapping`` (``check``, ``preview``)
and ``pools`` (``sync``).
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
pools_app = typer.Typer(
    help="Size the Airflow pools erp_<erp> from the ERP connections (needs the metadata DB).",
    no_args_is_help=True,
)
app.add_typer(pools_app, name="pools")


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


@pools_app.command("sync")
def pools_sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
) -> None:
    """Create or resize erp_<erp> for each ERP connection that exists (and each ERP include/sync.yaml
    targets): NetSuite, the account's concurrency limit; QuickBooks, the concurrent request limit
    (Intuit's 10 or the connection's limits.concurrent_requests); others, 4."""
    from rich.console import Console
    from rich.table import Table

    from erp_operators.pools import configured_erps, plan_pools, sync_pools

    try:
        specs = plan_pools(required=configured_erps())
    except ValueError as exc:  # a connection or include/sync.yaml that cannot size a pool
        typer.echo(f"pools not changed: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        changes = sync_pools(specs, dry_run=dry_run)
    except Exception as exc:  # the metadata DB is missing, not migrated or unreachable
        typer.echo(
            f"cannot {'read' if dry_run else 'write'} pools in the Airflow metadata DB "
            f"(run `airflow db migrate` first?): {type(exc).__name__}: {exc}",
            err=True,
        )
        raise typer.Exit(1) from exc
    table = Table(title="Airflow pools (dry run: nothing written)" if dry_run else "Airflow pools")
    for column in ("pool", "slots", "source", "change"):
        table.add_column(column, justify="right" if column == "slots" else "left")
    for change in changes:
        spec = change.spec
        table.add_row(spec.name, str(spec.slots), spec.source, change.describe(dry_run))
    Console().print(table)


def main() -> None:
    """Console-script entry point (``streak-erp``)."""
    app()


if __name__ == "__main__":
    main()
