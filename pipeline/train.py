"""Training the suggestion models on the labelled samples, with a leave-one-draft-out score.

``train`` is the plain function behind ``triage train`` (and ``make demo``): notebooks and tests
call it directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.bundle import save_model
from pipeline.config import PROJECT_ROOT, Config, load_config
from pipeline.encoder import embedder_for
from pipeline.evaluate import Evaluation, confusion_figure, leave_one_draft_out
from pipeline.samples import SampleSet, load_samples
from pipeline.suggest import TriageModel, build_workspace, fit_triage


@dataclass
class TrainResult:
    model: TriageModel
    model_dir: Path
    evaluation: Evaluation | None


def resolve(path: str | Path) -> Path:
    """Relative paths in params.yaml are relative to the project root, not the working directory."""
    path = Path(path)
    return path if path.is_absolute() else PROJECT_ROOT / path


def write_evaluation(evaluation: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """metrics.json, baselines.csv, per-class report and the confusion-matrix PNG."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out_dir / "metrics.json",
        "baselines": out_dir / "baselines.csv",
        "report": out_dir / "classification_report.json",
        "confusion": out_dir / "confusion_matrix.png",
        "predictions": out_dir / "predictions.csv",
    }
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
    return paths


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
    unseen drafts; its metrics are saved with the model and returned.
    """
    config = config or load_config()
    samples = samples or load_samples(resolve(config.train.samples_dir))
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
    target = Path(model_dir) if model_dir else resolve(config.train.model_dir)
    save_model(model, target, metrics=evaluation.metrics if evaluation else None)
    return TrainResult(model, target, evaluation)
