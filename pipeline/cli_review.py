"""``triage review …``, ``triage verdicts`` and ``triage report``: thin commands over the store.

Mounted by :mod:`pipeline.cli`::

    app.add_typer(review_app, name="review")
    app.command("verdicts")(verdicts_command)
    app.command("report")(report_command)

The store is ``--db`` (a SQLAlchemy URL or a SQLite file path), else env ``TRIAGE_DB``, else
``triage.sqlite`` in the working directory. Expected failures print ``Error: …`` and exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer

from pipeline.errors import PipelineError

review_app = typer.Typer(
    help="Import suggestions, confirm or correct them, and round-trip review sheets in Excel.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Review store: SQLAlchemy URL or SQLite file (default: env TRIAGE_DB, else "
        "triage.sqlite).",
    ),
]


def fail(exc: PipelineError, code: int = 1) -> typer.Exit:
    """Print ``Error: …`` (no traceback) and return the exit to raise; shared by both CLI modules."""
    click.echo(f"Error: {exc}", err=True)
    return typer.Exit(code)


@review_app.command("import")
def import_command(
    suggestions: Annotated[
        Path, typer.Argument(help="Suggestions from `triage score` (.csv, .xlsx, .parquet).")
    ],
    draft: Annotated[
        list[Path] | None,
        typer.Option("--draft", help="Draft file(s), so reviewers see the section text."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Load suggestions (and drafts) into the review store; importing again changes nothing.

    A newer model's suggestions are added beside the old ones; reviews and verdicts are kept.
    Exit status 1 when some rows were rejected (the others are imported).

    \b
    Example:
        triage review import out/suggestions.csv --draft data/drafts/koukin-shuunou.md
    """
    from pipeline.drafts import read_draft
    from pipeline.store import get_engine, import_suggestions

    try:
        drafts = [read_draft(p) for p in draft or []]
        result = import_suggestions(get_engine(db), suggestions, drafts=drafts)
    except PipelineError as exc:
        raise fail(exc) from exc
    click.echo(f"file: {suggestions}")
    click.echo(f"rows read (読込件数): {result.rows_read}")
    click.echo(f"suggestions added (追加): {result.suggestions_added}")
    click.echo(f"already imported (取込済み): {result.suggestions_unchanged}")
    click.echo(f"opinions added (新規意見): {result.opinions_added}")
    click.echo(f"drafts added or updated (案文): {result.drafts_changed}")
    click.echo(f"rows rejected (不備): {len(result.errors)}")
    for error in result.errors:
        click.echo(f"  {error}")
    if result.errors:
        raise typer.Exit(1)


@review_app.command("confirm")
def confirm_command(
    opinion: Annotated[str, typer.Option("--opinion", help="Opinion id (番号).")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="Your name, for the audit log.")],
    draft_id: Annotated[
        str | None,
        typer.Option("--draft-id", help="Draft id, when the opinion id exists under several."),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option("--category", help="Correct Judgement I: shared, a–f (or its Japanese name)."),
    ] = None,
    sections: Annotated[
        str | None, typer.Option("--sections", help='Correct the sections: "3.(2);4.(1)".')
    ] = None,
    described: Annotated[
        str | None,
        typer.Option("--described", help="Correct Judgement II: yes or no (shared only)."),
    ] = None,
    comment: Annotated[str, typer.Option("--comment", help="A note kept with the review.")] = "",
    based_on_version: Annotated[
        int | None,
        typer.Option(
            "--based-on-version",
            help="Refuse if the opinion's review version has moved past this (default: current).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Confirm an opinion's suggestion, or correct it, and record the flowchart's verdict.

    With no --category/--sections/--described the suggestion is accepted as it is.

    \b
    Example:
        triage review confirm --opinion D-2025-0042 --reviewer 佐藤
        triage review confirm --opinion D-2025-0042 --reviewer 佐藤 --category shared \\
            --sections "3.(2)" --described no --based-on-version 1
    """
    from pipeline.review import parse_category, parse_described
    from pipeline.schema import VERDICT_NAMES_JA
    from pipeline.store import confirm, get_engine

    try:
        recorded = confirm(
            get_engine(db),
            opinion,
            draft_id=draft_id,
            reviewer=reviewer,
            based_on_version=based_on_version,
            category=parse_category(category) if category is not None else None,
            sections=sections,
            described=parse_described(described) if described is not None else None,
            comment=comment,
        )
    except PipelineError as exc:
        raise fail(exc) from exc
    d = recorded.decision
    click.echo(
        f"{recorded.draft_id}/{recorded.opinion_id}: {recorded.action} by {reviewer} → "
        f"{recorded.verdict} ({VERDICT_NAMES_JA[recorded.verdict]}); category={d.category} "
        f"described={d.described or '-'} sections={';'.join(d.sections) or '-'} "
        f"version={recorded.version}"
    )


@review_app.command("export")
def export_command(
    sheet: Annotated[Path, typer.Argument(help="Review sheet to write (.xlsx).")],
    reviewer: Annotated[
        str | None,
        typer.Option("--reviewer", help="Who will fill it in (with --only-pending: their queue)."),
    ] = None,
    only_pending: Annotated[
        bool,
        typer.Option(
            "--only-pending",
            help="Only opinions without a verdict (with --reviewer: not yet reviewed by them).",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Write a review sheet for Excel: fill 判断 with 確認 or 修正, then `triage review apply`.

    \b
    Example:
        triage review export review_sato.xlsx --reviewer 佐藤 --only-pending
    """
    from pipeline.review import export_review_sheet, review_sheet_frame
    from pipeline.store import get_engine

    try:
        engine = get_engine(db)
        path = export_review_sheet(engine, sheet, reviewer=reviewer, only_pending=only_pending)
        rows = len(review_sheet_frame(engine, reviewer=reviewer, only_pending=only_pending))
    except PipelineError as exc:
        raise fail(exc) from exc
    click.echo(f"wrote {path} ({rows} opinions)")


@review_app.command("apply")
def apply_command(
    sheet: Annotated[Path, typer.Argument(help="A review sheet filled in Excel (.xlsx).")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who made the decisions.")],
    db: DbOption = None,
) -> None:
    """Record the decisions of a filled review sheet; rows that cannot be taken are listed.

    Each row is checked on its own (unknown opinion or category, 判断Ⅱ given for a–f, a version
    someone else has moved past …); the others are applied. Exit status 1 when a row was refused.

    \b
    Example:
        triage review apply review_sato.xlsx --reviewer 佐藤
    """
    from pipeline.review import apply_review_sheet
    from pipeline.store import get_engine

    try:
        result = apply_review_sheet(get_engine(db), sheet, reviewer=reviewer)
    except PipelineError as exc:
        raise fail(exc) from exc
    click.echo(f"applied (確定): {len(result.applied)}")
    click.echo(f"left blank (未記入): {result.blank}")
    click.echo(f"refused (取込不可): {len(result.problems)}")
    for problem in result.problems:
        click.echo(f"  {problem}")
    if result.problems:
        raise typer.Exit(1)


def verdicts_command(
    out: Annotated[Path, typer.Option("--out", help="Output file: .csv, .xlsx or .parquet.")],
    db: DbOption = None,
) -> None:
    """Write the recorded verdicts (confirmed by a reviewer) to a table; pending ones are left out.

    \b
    Example:
        triage verdicts --out out/verdicts.xlsx
    """
    from pipeline.store import VERDICT_HEADERS_JA, get_engine, verdicts_frame
    from pipeline.tables import write_table

    try:
        frame = verdicts_frame(get_engine(db))
        path = write_table(frame, out, headers_ja=VERDICT_HEADERS_JA, sheet_name="判定")
    except PipelineError as exc:
        raise fail(exc) from exc
    click.echo(f"wrote {path} ({len(frame)} verdicts)")


def report_command(
    out: Annotated[Path, typer.Option("--out", help="Workbook to write (.xlsx).")],
    db: DbOption = None,
) -> None:
    """Write the council workbook: 概要, 修正意見一覧, 全件, 評価者間一致 and charts.

    \b
    Example:
        triage report --out out/report.xlsx
    """
    from pipeline.report import build_report
    from pipeline.store import get_engine

    try:
        path = build_report(get_engine(db), out)
    except PipelineError as exc:
        raise fail(exc) from exc
    click.echo(f"wrote {path}")
