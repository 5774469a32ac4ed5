"""Training the suggestion models, tracking the run in MLflow, and promoting a registered model.

``train`` is the plain function behind ``make demo`` (fit and save, nothing logged);
``train_tracked`` is the one behind ``triage train``: training data from the samples plus
confirmed reviews, a leave-one-draft-out evaluation, one MLflow run with the resolved config,
metrics, plots and a pyfunc model registered as ``opinion-triage``. ``promote`` moves the
``champion`` alias only to a version that is at least as good (:func:`compare_metrics`).
Notebooks and tests call these directly; the CLI only parses arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.bundle import load_model, save_model
from pipeline.config import PROJECT_ROOT, Config, load_config
from pipeline.encoder import embedder_for
from pipeline.errors import InputFileError, InputSchemaError, PipelineError
from pipeline.evaluate import Evaluation, confusion_figure, evaluate_scored, leave_one_draft_out
from pipeline.samples import SampleSet, draft_files, export_files, load_sample_sets, load_samples
from pipeline.schema import CATEGORIES, OPINION_COLUMNS, Draft, Section
from pipeline.score import score_export
from pipeline.suggest import (
    TriageModel,
    Workspace,
    assign_groups,
    build_workspace,
    fit_triage,
    predict_batch,
)

#: Files of an evaluation folder (``write_evaluation``), by role.
EVALUATION_FILES = {
    "metrics": "metrics.json",
    "baselines": "baselines.csv",
    "report": "classification_report.json",
    "confusion": "confusion_matrix.png",
    "reliability": "reliability.png",
    "predictions": "predictions.csv",
}
#: The metrics the team agreed a new champion must not lose on (issue 7).
PROMOTION_METRICS = ("category_macro_f1", "verdict_accuracy", "section_top1", "judgement2_accuracy")
#: How much one promotion metric may drop before a candidate counts as worse: about one opinion
#: in 200, below the noise of a retrain on a few more reviews, above float round-off.
PROMOTION_TOLERANCE = 0.005
LABEL_COLUMNS = ("category", "sections", "described", "verdict", "resolved_id")
#: Input columns of the pyfunc model: ``(name, required)``; see :func:`serving_predict`.
SERVING_COLUMNS = (
    ("opinion_id", True),
    ("draft_id", True),
    ("text", True),
    ("location", False),
    ("reason", False),
    ("prefecture", False),
    ("municipality", False),
    ("municipality_code", False),
    ("channel", False),
)
DRAFTS_ARTIFACT = "drafts"
RESOLVED_ARTIFACT = "resolved_points"
#: Pinned into the logged model's requirements; the ``opinion-triage`` package itself must be
#: installed where the model is loaded (it holds the model classes and the scoring code).
SERVING_PACKAGES = (
    "mlflow",
    "scikit-learn",
    "skops",
    "numpy",
    "scipy",
    "pandas",
    "sentence-transformers",
    "sudachipy",
    "sudachidict-core",
    "bm25s",
)


@dataclass
class TrainResult:
    """The fitted model, where it was saved, its evaluation and (when tracked) the MLflow run."""

    model: TriageModel
    model_dir: Path
    evaluation: Evaluation | None
    metrics: dict[str, float] | None = None
    fingerprint: str = ""
    run: Any = None  # pipeline.tracking.LoggedRun when logged


def resolve(path: str | Path) -> Path:
    """Relative paths in params.yaml are relative to the project root, not the working directory."""
    path = Path(path)
    return path if path.is_absolute() else PROJECT_ROOT / path


# --- evaluation files ---------------------------------------------------------------------------


def write_evaluation(evaluation: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """metrics.json, baselines.csv, per-class report, predictions and the two PNG plots."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {role: out_dir / name for role, name in EVALUATION_FILES.items()}
    paths["metrics"].write_text(
        json.dumps(evaluation.metrics, indent=1, sort_keys=True), encoding="utf-8"
    )
    evaluation.baselines.to_csv(paths["baselines"], index=False)
    paths["report"].write_text(
        json.dumps(evaluation.report, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    if evaluation.confusion is not None:
        confusion_figure(evaluation.confusion, str(paths["confusion"]))
    predictions = evaluation.predictions.assign(
        gold_sections=evaluation.predictions["gold_sections"].map(lambda s: ";".join(s))
    )
    predictions.to_csv(paths["predictions"], index=False, encoding="utf-8-sig")
    reliability_figure(predictions, paths["reliability"])
    return {role: path for role, path in paths.items() if path.exists()}


def reliability_table(predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Calibration of both judgements in equal-width probability bins.

    Judgement I uses the top category probability against "the suggested category is right";
    Judgement II uses ``p_described`` against ``described == yes`` on opinions whose gold
    category is ``shared`` (the only ones Judgement II applies to). Reviewers are told to trust
    high probabilities less than low ones only if this curve says so, hence the plot.

    Args:
        predictions: the LODO predictions (``predictions.csv``): ``p_<category>``, ``category``,
            ``gold_category``, ``p_described`` and ``gold_described``.
        bins: number of equal-width bins over [0, 1].

    Returns:
        One row per non-empty bin: ``judgement``, ``bin``, ``confidence`` (mean predicted),
        ``observed`` (fraction right) and ``n``.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    proba = predictions[[f"p_{c}" for c in CATEGORIES]].to_numpy(dtype=float)
    shared = (predictions["gold_category"] == "shared").to_numpy()
    series = {
        "I (category)": (
            proba.max(axis=1),
            (predictions["category"] == predictions["gold_category"]).to_numpy(),
        ),
        "II (described)": (
            predictions.loc[shared, "p_described"].to_numpy(dtype=float),
            (predictions.loc[shared, "gold_described"] == "yes").to_numpy(),
        ),
    }
    rows: list[dict[str, Any]] = []
    for name, (confidence, truth) in series.items():
        which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
        for b in range(bins):
            mask = which == b
            if mask.any():
                rows.append(
                    {
                        "judgement": name,
                        "bin": b,
                        "confidence": float(confidence[mask].mean()),
                        "observed": float(truth[mask].mean()),
                        "n": int(mask.sum()),
                    }
                )
    return pd.DataFrame(rows, columns=["judgement", "bin", "confidence", "observed", "n"])


def reliability_figure(predictions: pd.DataFrame, path: str | Path, bins: int = 10) -> Path:
    """Save the reliability curve of both judgements (see :func:`reliability_table`) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib_fontja  # noqa: F401  (registers IPAexGothic)
    from matplotlib.figure import Figure

    table = reliability_table(predictions, bins)
    figure = Figure(figsize=(6, 5.5), dpi=120)
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="理想（完全に較正）")
    for (name, rows), marker in zip(table.groupby("judgement", sort=True), "os", strict=False):
        ax.plot(rows["confidence"], rows["observed"], marker=marker, label=f"判断{name}")
        for x, y, n in zip(rows["confidence"], rows["observed"], rows["n"], strict=True):
            ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("予測確率（ビン平均）")
    ax.set_ylabel("実際に正しかった割合")
    ax.set_title("信頼度曲線（方針案ごとの交差検証、点の数字は件数）")
    ax.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(str(path))
    return Path(path)


def read_evaluation(out_dir: str | Path) -> tuple[dict[str, float], dict[str, Path]]:
    """The metrics and files of an evaluation folder written by :func:`write_evaluation`.

    Raises:
        PipelineError: ``metrics.json`` is missing (the message names the command that writes it).
    """
    out_dir = Path(out_dir)
    metrics_path = out_dir / EVALUATION_FILES["metrics"]
    if not metrics_path.exists():
        raise PipelineError(
            f"No {EVALUATION_FILES['metrics']} in {out_dir}. Write one with "
            f"`triage evaluate --out-dir {out_dir}` (or `dvc repro evaluate`)."
        )
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    files = {r: out_dir / n for r, n in EVALUATION_FILES.items() if (out_dir / n).exists()}
    return {k: float(v) for k, v in metrics.items()}, files


def _check_evaluation_covers(files: Mapping[str, Path], opinions: pd.DataFrame) -> None:
    """Refuse an evaluation folder made from other data than the training set at hand."""
    if "predictions" not in files:
        raise PipelineError(f"{files['metrics'].parent} has no predictions.csv to check against.")
    evaluated = pd.read_csv(files["predictions"], usecols=["opinion_id"], dtype=str)
    got, want = set(evaluated["opinion_id"]), set(opinions["opinion_id"].astype(str))
    if got != want:
        raise PipelineError(
            f"The evaluation in {files['predictions'].parent} covers {len(got)} opinions, the "
            f"training data {len(want)} ({len(want - got)} not evaluated, e.g. "
            f"{sorted(want - got)[:3]}). Re-run `triage evaluate`, or train without --evaluation."
        )


# --- training data ------------------------------------------------------------------------------


def reviewed_opinions(db: str) -> tuple[pd.DataFrame, list[Draft], list[int]]:
    """Opinions of the review store whose current verdict a person confirmed, with its labels.

    A confirmed review supplies ``category``, ``sections`` and ``described`` (and the flowchart
    ``verdict``); the opinion text comes from the store. Returns (opinions with label columns,
    the store's drafts those opinions are about, the review ids used).
    """
    from pipeline.store import (
        get_draft,
        get_engine,
        opinions_frame,
        resolve_db_url,
        reviews_frame,
    )

    url = resolve_db_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        # get_engine would create an empty store here, and training would quietly use no review
        raise InputFileError(
            f"No review store at {url.removeprefix('sqlite:///')}. Give the --db that "
            "`triage review import` wrote (a SQLite path or a SQLAlchemy URL)."
        )
    engine = get_engine(db)
    opinions = opinions_frame(engine)
    confirmed = opinions[opinions["review_id"].notna()]
    reviews = reviews_frame(engine).set_index("review_id")
    rows: list[dict[str, Any]] = []
    for record in confirmed.to_dict("records"):
        review = reviews.loc[record["review_id"]]
        rows.append(
            {
                **{c: record.get(c) or "" for c in OPINION_COLUMNS},
                "category": review["category"],
                "sections": list(review["sections"] or []),
                "described": review["described"] or None,
                "verdict": record["confirmed_verdict"],
                "resolved_id": None,
                "reviewer": review["reviewer"],
                "review_id": int(record["review_id"]),
            }
        )
    frame = pd.DataFrame(rows, columns=[*OPINION_COLUMNS, *LABEL_COLUMNS, "reviewer", "review_id"])
    drafts = [d for d in (get_draft(engine, i) for i in sorted(set(frame["draft_id"]))) if d]
    engine.dispose()
    return frame, drafts, sorted(frame["review_id"].tolist())


def training_dirs(config: Config) -> list[Path]:
    """The labelled folders training and leave-one-draft-out read: the samples, then
    ``train.extra_dirs``."""
    return [resolve(d) for d in (config.train.samples_dir, *config.train.extra_dirs)]


def training_samples(config: Config, *, db: str | None = None) -> tuple[SampleSet, dict[str, Any]]:
    """The training set: the labels of :func:`training_dirs` plus, with ``db``, the store's
    confirmed reviews.

    A reviewed opinion replaces a sample with the same ``opinion_id`` (the person's later word
    wins). Drafts come from the samples; the store fills in drafts the samples lack. Returns the
    set and a small provenance record (counts and review ids) for the MLflow run.
    """
    samples = load_sample_sets(training_dirs(config))
    provenance: dict[str, Any] = {
        "samples_dir": config.train.samples_dir,
        "extra_dirs": list(config.train.extra_dirs),
        "reviews": [],
    }
    if db is None:
        provenance.update(sample_opinions=len(samples.opinions), reviewed_opinions=0)
        return samples, provenance
    reviewed, store_drafts, review_ids = reviewed_opinions(db)
    kept = samples.opinions[~samples.opinions["opinion_id"].isin(reviewed["opinion_id"])]
    opinions = pd.concat(
        [kept, reviewed.drop(columns=["reviewer", "review_id"])], ignore_index=True
    )
    known = {d.draft_id for d in samples.drafts}
    drafts = [*samples.drafts, *(d for d in store_drafts if d.draft_id not in known)]
    missing = sorted(set(opinions["draft_id"].astype(str)) - {d.draft_id for d in drafts})
    if missing:
        raise InputSchemaError(
            f"Reviewed opinions name drafts found neither in {config.train.samples_dir} nor in "
            f"the store: {missing[:5]}. Import them with `triage review import … --draft`."
        )
    provenance.update(
        sample_opinions=len(kept), reviewed_opinions=len(reviewed), reviews=review_ids
    )
    return SampleSet(opinions, drafts, samples.resolved, samples.problems), provenance


def _canonical(value: Any) -> Any:
    if isinstance(value, np.ndarray | list | tuple):
        return [_canonical(v) for v in value]
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, bool | int | float) else str(value)


def data_fingerprint(samples: SampleSet) -> str:
    """sha256 of exactly what training reads: opinions with labels, drafts and resolved points.

    Computed from content in a canonical order (not from file bytes), so the same labelled data
    gives the same fingerprint whether it came from a cp932 CSV, an Excel export or the review
    store, and any changed label, text, section or review gives another.
    """
    columns = [c for c in (*OPINION_COLUMNS, *LABEL_COLUMNS) if c in samples.opinions.columns]
    opinions = samples.opinions[columns].sort_values(["draft_id", "opinion_id"], kind="stable")
    payload = {
        "opinions": [[_canonical(v) for v in row] for row in opinions.itertuples(index=False)],
        "columns": columns,
        "drafts": [
            [d.draft_id, d.title, [[s.section_id, s.heading, s.text] for s in d.sections]]
            for d in sorted(samples.drafts, key=lambda d: d.draft_id)
        ],
        "resolved": sorted(
            [_canonical(v) for v in row]
            for row in samples.resolved.astype(str).itertuples(index=False)
        ),
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- fitting ------------------------------------------------------------------------------------


def samples_workspace(
    config: Config, samples: SampleSet, *, progress: bool = False
) -> tuple[Workspace, str]:
    """The encoder and a memoizing workspace over the samples' drafts (training refits often).

    Returns the workspace and the encoder's id.
    """
    embedder, encoder_id = embedder_for(
        config.encoder.name_or_path,
        cache=config.encoder.cache,
        batch_size=config.encoder.batch_size,
        show_progress=progress,
    )
    workspace = build_workspace(
        samples.drafts,
        embedder,
        resolved=samples.resolved,
        match_mode=config.text.match_mode,
        memoize=True,
    )
    return workspace, encoder_id


def _fit(
    config: Config, samples: SampleSet, *, evaluate: bool, progress: bool
) -> tuple[TriageModel, Evaluation | None]:
    workspace, encoder_id = samples_workspace(config, samples, progress=progress)
    evaluation = (
        leave_one_draft_out(samples.opinions, workspace, config, progress=progress)
        if evaluate
        else None
    )
    model = fit_triage(samples.opinions, workspace, config, encoder_id=encoder_id)
    model.metadata = {
        "training_opinions": len(samples.opinions),
        "drafts": sorted(d.draft_id for d in samples.drafts),
    }
    return model, evaluation


def train(
    config: Config | None = None,
    *,
    samples: SampleSet | None = None,
    model_dir: str | Path | None = None,
    evaluate: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Fit the models on the samples (and whatever else ``samples`` holds) and save them.

    With ``evaluate``, a leave-one-draft-out run first measures how the same recipe does on
    unseen drafts; its metrics are saved with the model and returned. Nothing is logged to
    MLflow (see :func:`train_tracked`).
    """
    config = config or load_config()
    samples = samples or load_sample_sets(training_dirs(config))
    model, evaluation = _fit(config, samples, evaluate=evaluate, progress=progress)
    target = Path(model_dir) if model_dir else resolve(config.train.model_dir)
    metrics = evaluation.metrics if evaluation else None
    save_model(model, target, metrics=metrics)
    return TrainResult(model, target, evaluation, metrics, data_fingerprint(samples))


def train_tracked(
    config: Config | None = None,
    *,
    samples: SampleSet | None = None,
    db: str | None = None,
    model_dir: str | Path | None = None,
    evaluate: bool = True,
    evaluation_dir: str | Path | None = None,
    register: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train, evaluate and log one MLflow run with the model registered (``triage train``).

    The run holds the whole resolved config as params, the leave-one-draft-out metrics (the
    numbers of ``metrics.json``), the evaluation files, the training-data fingerprint (param and
    tag ``data.fingerprint``) and the model as a pyfunc registered as ``train.registered_model``;
    the saved bundle's ``version`` is the registry version (``opinion-triage/3``), so every
    suggestion says which registered model made it.

    Args:
        config: resolved config (``params.yaml`` by default).
        samples: the training set; by default :func:`training_samples` (samples + ``db``).
        db: review store URL or path whose confirmed reviews join the training data.
        model_dir: where the bundle is saved (``train.model_dir`` by default).
        evaluate: run the leave-one-draft-out evaluation (off: the run has no metrics and
            ``triage promote`` refuses it without ``--force``).
        evaluation_dir: reuse the evaluation that ``triage evaluate`` wrote there (the DVC
            ``evaluate`` stage) instead of running it again; it must cover the same opinions.
        register: register the model (off: logged to the run only).
        progress: progress bars.
    """
    from pipeline import tracking

    config = config or load_config()
    provenance: dict[str, Any] = {}
    if samples is None:
        samples, provenance = training_samples(config, db=db)
    fingerprint = data_fingerprint(samples)
    metrics: dict[str, float] | None = None
    files: dict[str, Path] = {}
    reuse = evaluation_dir is not None
    if evaluation_dir is not None:  # checked before fitting: a mismatch fails in seconds
        metrics, files = read_evaluation(evaluation_dir)
        _check_evaluation_covers(files, samples.opinions)
    model, evaluation = _fit(config, samples, evaluate=evaluate and not reuse, progress=progress)
    target = Path(model_dir) if model_dir else resolve(config.train.model_dir)
    with tempfile.TemporaryDirectory(prefix="triage-train-") as tmp:
        scratch = Path(tmp)
        if evaluation is not None:
            files = write_evaluation(evaluation, scratch / "evaluation")
            metrics = evaluation.metrics
        context = _serving_artifacts(samples, scratch / "serving")
        manifest = scratch / "training_data.json"
        manifest.write_text(
            json.dumps(
                {
                    "fingerprint": fingerprint,
                    "opinions": len(samples.opinions),
                    "drafts": sorted(d.draft_id for d in samples.drafts),
                    **provenance,
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )

        def save_bundle(version: str) -> Path:
            model.version = version  # "" → save_model names it by content hash
            return save_model(model, target, metrics=metrics)

        run = tracking.log_training_run(
            experiment=config.train.experiment,
            params={**config.flat(), "data.fingerprint": fingerprint},
            metrics=metrics,
            tags={
                "data.fingerprint": fingerprint,
                "data.opinions": str(len(samples.opinions)),
                "data.reviewed_opinions": str(provenance.get("reviewed_opinions", 0)),
                "evaluation": "reused" if reuse else ("lodo" if metrics else "none"),
            },
            artifacts=[*files.values(), manifest],
            save_bundle=save_bundle,
            recipe=tracking.PyfuncRecipe(load=serving_load, predict=serving_predict),
            context_artifacts=context,
            input_columns=SERVING_COLUMNS,
            pip_requirements=_pins(),
            registered_model=config.train.registered_model if register else None,
            configured_uri=config.train.tracking_uri,
        )
    return TrainResult(model, target, evaluation, metrics, fingerprint, run)


def _pins() -> list[str]:
    pins = []
    for name in SERVING_PACKAGES:
        try:
            pins.append(f"{name}=={package_version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return ["torch==2.13.0", *pins]


# --- the pyfunc model ---------------------------------------------------------------------------


def _serving_artifacts(samples: SampleSet, out_dir: Path) -> dict[str, Path]:
    """Drafts (JSON) and resolved points (CSV) the pyfunc model scores against."""
    out_dir.mkdir(parents=True, exist_ok=True)
    drafts = out_dir / "drafts.json"
    drafts.write_text(
        json.dumps([dataclasses.asdict(d) for d in samples.drafts], ensure_ascii=False),
        encoding="utf-8",
    )
    resolved = out_dir / "resolved_points.csv"
    samples.resolved.to_csv(resolved, index=False, encoding="utf-8")
    return {DRAFTS_ARTIFACT: drafts, RESOLVED_ARTIFACT: resolved}


def _drafts_from_json(path: Path) -> list[Draft]:
    return [
        Draft(**{**d, "sections": tuple(Section(**s) for s in d["sections"])})
        for d in json.loads(path.read_text(encoding="utf-8"))
    ]


@dataclass
class Served:
    """What the pyfunc model holds once loaded: the bundle, the embedder and the drafts."""

    model: TriageModel
    embedder: Any
    workspace: Any


def serving_load(artifacts: Mapping[str, str]) -> Served:
    """``load_context`` of the pyfunc model: the bundle via ``bundle.load_model``, plus drafts.

    Loads the encoder named by the model's own config (the packaged e5-small by default), so
    the registry copy scores exactly as the local directory does.
    """
    model = load_model(artifacts["triage_model"])
    cfg = model.config
    embedder, _ = embedder_for(
        cfg.encoder.name_or_path, cache=cfg.encoder.cache, batch_size=cfg.encoder.batch_size
    )
    drafts = _drafts_from_json(Path(artifacts[DRAFTS_ARTIFACT]))
    resolved = pd.read_csv(artifacts[RESOLVED_ARTIFACT], dtype=str, keep_default_na=False)
    workspace = build_workspace(drafts, embedder, resolved=resolved, match_mode=cfg.text.match_mode)
    return Served(model, embedder, workspace)


def serving_predict(served: Served, opinions: pd.DataFrame) -> pd.DataFrame:
    """``predict`` of the pyfunc model: suggestion rows for a frame of opinions.

    Input: one row per opinion with ``opinion_id``, ``draft_id`` (one of the drafts logged with
    the model), ``text`` and optionally ``location`` (該当箇所), ``reason``, ``prefecture``,
    ``municipality``, ``municipality_code``, ``channel`` — the columns of a validated export.
    Output: the suggestion columns of DATA_FORMATS.md §4 plus the review columns, as
    ``triage score`` writes them (near-duplicate groups computed over the whole frame).
    """
    frame = opinions.copy()
    for column, _ in SERVING_COLUMNS:
        frame[column] = (
            frame[column].fillna("").astype(str) if column in frame else [""] * len(frame)
        )
    rows = predict_batch(served.model, frame.reset_index(drop=True), served.workspace)
    if len(rows):
        vectors = served.embedder([str(t) for t in rows["text"]], "query")
        rows = assign_groups(rows, vectors, threshold=served.model.config.suggest.group_threshold)
    return rows


# --- promotion ----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """A candidate's promotion metrics against the champion's, and the verdict on them."""

    ok: bool
    rows: list[tuple[str, float, float | None]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'metric':<22} {'candidate':>10} {'champion':>10} {'change':>8}"]
        for name, cand, champ in self.rows:
            champ_text = "-" if champ is None else f"{champ:.4f}"
            change = "" if champ is None else f"{cand - champ:+.4f}"
            lines.append(f"{name:<22} {cand:>10.4f} {champ_text:>10} {change:>8}")
        return "\n".join(lines)


def compare_metrics(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    metrics: Sequence[str] = PROMOTION_METRICS,
    tolerance: float = PROMOTION_TOLERANCE,
) -> Comparison:
    """Is ``candidate`` at least as good as ``champion``?

    "At least as good" means both: no agreed metric is lower by more than ``tolerance``
    (absolute), and the mean of the agreed metrics is not lower. The first stops a model that
    buys a better category F1 with worse section matching; the second stops a drift of small
    losses that each stay within the tolerance. With no champion, any candidate that has all
    the metrics qualifies; a candidate missing one (trained with ``--no-evaluate``) does not.

    Example:
        >>> compare_metrics({"a": 0.80, "b": 0.70}, {"a": 0.81, "b": 0.69}, metrics=("a", "b")).ok
        False
    """
    missing = [m for m in metrics if not _finite(candidate.get(m))]
    if missing:
        return Comparison(
            False,
            [],
            [f"the candidate has no {', '.join(missing)} (trained with --no-evaluate?)"],
        )
    rows = [(m, float(candidate[m]), _value(champion, m)) for m in metrics]
    if champion is None:
        return Comparison(True, rows, [])
    compared = [(m, c, h) for m, c, h in rows if h is not None]
    reasons = [
        f"{m} got worse: {c:.4f} < champion {h:.4f} (by {h - c:.4f}; tolerance {tolerance})"
        for m, c, h in compared
        if c < h - tolerance
    ]
    if compared:
        mean_c = float(np.mean([c for _, c, _ in compared]))
        mean_h = float(np.mean([h for _, _, h in compared]))
        if mean_c < mean_h - 1e-12:
            worst = min(compared, key=lambda r: r[1] - r[2])
            reasons.append(
                f"the mean of {', '.join(m for m, _, _ in compared)} got worse: {mean_c:.4f} < "
                f"champion {mean_h:.4f} (largest drop: {worst[0]} {worst[1] - worst[2]:+.4f})"
            )
    return Comparison(not reasons, rows, reasons)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def _value(metrics: Mapping[str, float] | None, name: str) -> float | None:
    if metrics is None or not _finite(metrics.get(name)):
        return None
    return float(metrics[name])


class PromotionRefused(PipelineError, ValueError):
    """The candidate is worse than the champion on an agreed metric (``--force`` overrides)."""


@dataclass
class Promotion:
    """What :func:`promote` did: the new champion, the one it replaced, and the comparison."""

    name: str
    version: str
    previous: str | None
    comparison: Comparison
    forced: bool = False


def promote(
    version: str | None = None,
    *,
    force: bool = False,
    config: Config | None = None,
    alias: str = "champion",
    actor: str = "",
) -> Promotion:
    """Give ``alias`` (champion) to a registered version if it is at least as good.

    Reads the candidate's and the current champion's metrics from their MLflow runs and applies
    :func:`compare_metrics`. With ``force`` the alias moves anyway; the override is recorded as
    tags (``promotion.forced`` and the reasons it overrode) on the version and on its run.

    Args:
        version: registry version number; the newest when ``None``.
        force: promote even when the comparison refuses.
        config: for ``train.registered_model`` and ``train.tracking_uri``.
        alias: the alias to move.
        actor: who promoted (recorded as a tag).

    Raises:
        PromotionRefused: the candidate is worse; the message names each metric that got worse.
        pipeline.tracking.TrackingError: no such model or version.
    """
    from pipeline import tracking

    config = config or load_config()
    name, uri = config.train.registered_model, config.train.tracking_uri
    candidate = tracking.model_version(name, version, configured_uri=uri)
    champion = tracking.aliased_version(name, alias, configured_uri=uri)
    if champion is not None and champion.version == candidate.version:
        return Promotion(name, candidate.version, champion.version, Comparison(True))
    comparison = compare_metrics(candidate.metrics, champion.metrics if champion else None)
    if not comparison.ok and not force:
        against = f"champion {champion.label}" if champion else "the agreed metrics"
        raise PromotionRefused(
            f"{candidate.label} is not promoted to @{alias}: "
            + "; ".join(comparison.reasons)
            + f" (compared with {against}). Use --force to promote it anyway (recorded)."
        )
    tags = {
        "promotion.at": datetime.now(UTC).isoformat(timespec="seconds"),
        "promotion.previous": champion.label if champion else "",
        "promotion.forced": str(bool(force and not comparison.ok)).lower(),
    }
    if actor:
        tags["promotion.by"] = actor
    if force and not comparison.ok:
        tags["promotion.overrode"] = "; ".join(comparison.reasons)[:5000]
    tracking.set_alias(name, candidate.version, alias=alias, tags=tags, configured_uri=uri)
    return Promotion(
        name,
        candidate.version,
        champion.version if champion else None,
        comparison,
        forced=force and not comparison.ok,
    )


def evaluate_holdout(
    holdout_dir: str | Path, model: TriageModel, out_dir: str | Path
) -> Evaluation:
    """Score a labelled hold-out folder with ``model`` the way ``triage score`` does, and judge it.

    Each export in ``holdout_dir`` (laid out like ``data/samples``) is scored against all its
    drafts and resolved points with the row cache off, so nothing is reused from earlier runs;
    the suggestions are kept in ``out_dir`` next to the metrics.
    """
    holdout_dir = Path(holdout_dir)
    labels = holdout_dir / "labels.jsonl"
    if not labels.exists() or not export_files(holdout_dir):
        raise InputFileError(
            f"{holdout_dir}: a hold-out folder needs labels.jsonl, drafts/ and opinions_*.csv|xlsx "
            f"(laid out like data/samples); {'labels.jsonl' if not labels.exists() else 'no export'}"
            " is missing."
        )
    sample = load_samples(holdout_dir)
    if sample.opinions.empty:
        raise InputFileError(f"{holdout_dir}: no labelled opinions found (exports + labels.jsonl).")
    embedder, _ = embedder_for(
        model.config.encoder.name_or_path,
        cache=model.config.encoder.cache,
        batch_size=model.config.encoder.batch_size,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = holdout_dir / "resolved_points.csv"
    frames = []
    for export in export_files(holdout_dir):
        out = out_dir / f"{export.stem}_suggestions.parquet"
        score_export(
            export,
            draft_files(holdout_dir),
            out,
            model,
            embedder,
            resolved_path=resolved if resolved.exists() else None,
            cache=False,
        )
        frames.append(pd.read_parquet(out))
    workspace = build_workspace(
        sample.drafts, embedder, match_mode=model.config.text.match_mode, memoize=False
    )
    return evaluate_scored(
        pd.concat(frames, ignore_index=True),
        sample.opinions,
        workspace,
        threshold=model.config.suggest.described_threshold,
    )
