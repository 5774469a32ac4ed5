"""The ``triage`` command: thin wrappers that parse arguments and call one library function each.

Expected failures (:class:`~pipeline.errors.PipelineError`) print ``Error: …`` and exit 1 without a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from pipeline.errors import InputFileError, PipelineError

app = typer.Typer(
    help="opinion-triage: suggest, review and record verdicts on opinions about policy drafts.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Build and inspect the models under models/.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _fail(exc: PipelineError, code: int = 1) -> typer.Exit:
    click.echo(f"Error: {exc}", err=True)
    return typer.Exit(code)


@app.command()
def validate(
    export: Annotated[
        Path, typer.Argument(help="Consultation export (.csv in UTF-8/cp932, .xlsx).")
    ],
    draft: Annotated[
        list[Path] | None,
        typer.Option("--draft", help="Draft file(s); 対象推進方針案 must name one of them."),
    ] = None,
) -> None:
    """Check a consultation export and list every rejected row with its reason.

    Exit status: 0 when every row is valid, 1 when some rows were rejected, 2 when the file cannot
    be read at all.

    \b
    Example:
        triage validate data/samples/export_cp932.csv --draft data/samples/drafts/koukin-shuunou.md
    """
    from pipeline.drafts import read_draft
    from pipeline.ingest import read_opinions

    try:
        drafts = [read_draft(p) for p in draft or []]
        result = read_opinions(export, drafts=drafts)
    except InputFileError as exc:
        raise _fail(exc, code=2) from exc
    except PipelineError as exc:
        raise _fail(exc) from exc
    click.echo(f"file: {export}")
    click.echo(f"encoding: {result.encoding}")
    click.echo(f"rows read (読込件数): {result.rows_read}")
    click.echo(f"rows accepted (受理): {len(result.opinions)}")
    click.echo(f"rows rejected (不備): {len(result.rejected_rows)}")
    for error in result.errors:
        click.echo(f"  {error}")
    if result.errors:
        raise typer.Exit(1)


@app.command()
def sections(
    draft: Annotated[Path, typer.Argument(help="Policy draft (.md, .txt, .docx, .pdf).")],
    leaves_only: Annotated[bool, typer.Option("--leaves", help="Only leaf sections.")] = False,
) -> None:
    """Print every numbered section of a draft as JSON lines {"section_id", "heading", "text"}.

    \b
    Example:
        triage sections data/samples/drafts/koukin-shuunou.md --leaves
    """
    from pipeline.drafts import read_draft

    try:
        parsed = read_draft(draft)
    except PipelineError as exc:
        raise _fail(exc) from exc
    for section in parsed.sections:
        if leaves_only and not section.is_leaf:
            continue
        record = {
            "section_id": section.section_id,
            "heading": section.heading,
            "text": section.text,
        }
        click.echo(json.dumps(record, ensure_ascii=False))


def main() -> None:
    """Console-script entry point (``triage``)."""
    try:
        app()
    except PipelineError as exc:  # a stage raised outside a command's own handling
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
