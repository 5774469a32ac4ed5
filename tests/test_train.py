"""Training: one MLflow run per train, metrics equal to metrics.json, reproducible, reviews merged.

The slow tests train on a small subset (3 drafts × 30 opinions of data/samples) with the project's
embedding cache, and log to an MLflow store under tmp_path, never the project's mlruns/.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import tracking
from pipeline.bundle import CONFIG_FILE, load_model
from pipeline.config import Config, load_config
from pipeline.encoder import embedder_for
from pipeline.errors import InputFileError, PipelineError
from pipeline.samples import SampleSet, load_samples
from pipeline.suggest import Workspace, build_workspace, predict_batch
from pipeline.train import (
    EVALUATION_FILES,
    PROMOTION_METRICS,
    TrainResult,
    _check_evaluation_covers,
    compare_metrics,
    data_fingerprint,
    reliability_table,
    train,
    train_tracked,
    training_samples,
)

from .conftest import ROOT, SAMPLES

TINY_DRAFTS = ("furusato-nozei", "koukin-shuunou", "shobo-kyoninka")


@functools.cache
def _all_samples() -> SampleSet:
    return load_samples(SAMPLES)


def tiny_samples(per_draft: int = 30) -> SampleSet:
    """The first ``per_draft`` labelled opinions of three drafts (all from the cp932 export)."""
    full = _all_samples()
    opinions = (
        full.opinions[full.opinions["draft_id"].isin(TINY_DRAFTS)]
        .groupby("draft_id", group_keys=False, sort=True)
        .head(per_draft)
        .reset_index(drop=True)
    )
    drafts = [d for d in full.drafts if d.draft_id in TINY_DRAFTS]
    resolved = full.resolved[full.resolved["draft_id"].isin(TINY_DRAFTS)].reset_index(drop=True)
    return SampleSet(opinions, drafts, resolved)


def write_subset_export(out: Path, opinion_ids: set[str]) -> Path:
    """The cp932 sample export cut down to ``opinion_ids`` (preamble and header kept)."""
    source = SAMPLES / "opinions_r7_a_cp932.csv"
    rows = list(csv.reader(source.read_text(encoding="cp932").splitlines(keepends=True)))
    header = next(i for i, row in enumerate(rows) if row and row[0] == "番号")
    kept = rows[: header + 1] + [r for r in rows[header + 1 :] if r and r[0] in opinion_ids]
    with open(out, "w", encoding="cp932", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(kept)
    return out


def with_tracking(config: Config, uri: str, **train: object) -> Config:
    return dataclasses.replace(
        config, train=dataclasses.replace(config.train, tracking_uri=uri, **train)
    )


@functools.cache
def _tiny_workspace() -> Workspace:
    config = load_config()
    embedder, _ = embedder_for(config.encoder.name_or_path, cache=config.encoder.cache)
    tiny = tiny_samples()
    return build_workspace(tiny.drafts, embedder, resolved=tiny.resolved)


def _suggestions(model_dir: Path) -> pd.DataFrame:
    """What a saved model suggests for the tiny set (skops files embed object ids, so two equal
    models never have equal bytes: compare behaviour instead)."""
    rows = predict_batch(load_model(model_dir), tiny_samples().opinions, _tiny_workspace())
    return rows.drop(columns=["model_version"])


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """``train`` (no MLflow) with the leave-one-draft-out evaluation on the tiny set."""
    out = tmp_path_factory.mktemp("plain")
    return train(load_config(), samples=tiny_samples(), model_dir=out / "model", progress=False)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, str]:
    """``train_tracked`` (what `triage train` runs) on the same tiny set, into a tmp store."""
    out = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{out / 'mlruns' / 'mlflow.db'}"
    result = train_tracked(
        with_tracking(load_config(), uri),
        samples=tiny_samples(),
        model_dir=out / "model",
        progress=False,
    )
    return result, uri


@pytest.mark.slow
def test_train_logs_one_run_whose_metrics_equal_metrics_json(
    tracked: tuple[TrainResult, str], tmp_path: Path
) -> None:
    result, uri = tracked
    config = load_config()
    assert tracking.runs_of(config.train.experiment, configured_uri=uri) == [result.run.run_id]

    import mlflow

    mlflow.set_tracking_uri(uri)
    run = mlflow.get_run(result.run.run_id)
    logged = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="evaluation", dst_path=str(tmp_path)
    )
    metrics_json = json.loads((Path(logged) / "metrics.json").read_text(encoding="utf-8"))
    assert run.data.metrics == pytest.approx(metrics_json, rel=0, abs=0, nan_ok=True)
    assert set(metrics_json) >= set(PROMOTION_METRICS)
    assert {p.name for p in Path(logged).iterdir()} >= {
        "confusion_matrix.png",
        "reliability.png",
        "classification_report.json",
        "baselines.csv",
        "training_data.json",
    }
    # the whole resolved config, and the data fingerprint, as params
    flat = with_tracking(config, uri).flat()
    assert set(run.data.params) >= set(flat)
    assert run.data.params["classify.C"] == str(flat["classify.C"])
    assert run.data.params["data.fingerprint"] == result.fingerprint
    assert run.data.tags["data.fingerprint"] == data_fingerprint(tiny_samples())
    # registered, and the bundle names the registry version it is served as
    assert result.run.model_version == "opinion-triage/1"
    assert result.model.version == "opinion-triage/1"
    saved = json.loads((result.model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    assert saved["version"] == "opinion-triage/1"
    assert saved["metrics"] == pytest.approx(metrics_json, nan_ok=True)


@pytest.mark.slow
def test_same_data_and_params_give_identical_metrics_and_model(
    plain: TrainResult, tracked: tuple[TrainResult, str]
) -> None:
    result, _ = tracked
    assert plain.metrics is not None and result.metrics is not None
    assert plain.metrics == pytest.approx(result.metrics, rel=0, abs=0, nan_ok=True)
    pd.testing.assert_frame_equal(_suggestions(plain.model_dir), _suggestions(result.model_dir))
    assert plain.fingerprint == result.fingerprint


@pytest.mark.slow
def test_fitted_model_does_not_depend_on_the_hash_seed(plain: TrainResult, tmp_path: Path) -> None:
    """Set iteration order changes with PYTHONHASHSEED; the fitted model must not."""
    seed = "4242" if os.environ.get("PYTHONHASHSEED") != "4242" else "99"
    script = (
        "from tests.test_train import tiny_samples\n"
        "from pipeline.config import load_config\n"
        "from pipeline.train import train\n"
        f"train(load_config(), samples=tiny_samples(), model_dir={str(tmp_path / 'm')!r},"
        " evaluate=False, progress=False)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pd.testing.assert_frame_equal(_suggestions(tmp_path / "m"), _suggestions(plain.model_dir))


def test_reviews_join_the_training_data_and_override_samples(tmp_path: Path) -> None:
    from pipeline.drafts import read_draft
    from pipeline.store import confirm, get_engine, import_suggestions

    data = ROOT / "tests" / "data"
    test_draft = read_draft(data / "drafts" / "furusato-nozei.md")
    extra = dataclasses.replace(
        test_draft,
        draft_id="extra-draft",
        sections=tuple(dataclasses.replace(s, draft_id="extra-draft") for s in test_draft.sections),
    )
    frame = pd.read_csv(data / "suggestions_small.csv", dtype=str, keep_default_na=False)
    frame = frame[frame["opinion_id"].isin(["K-001", "F-001"])].copy()
    # K-001 becomes a sample's id (same draft): the review must replace the sample's labels
    frame.loc[frame["opinion_id"] == "K-001", "opinion_id"] = "KS-056"
    frame.loc[frame["opinion_id"] == "F-001", "draft_id"] = "extra-draft"
    db = f"sqlite:///{tmp_path / 'review.sqlite'}"
    engine = get_engine(db)
    koukin = read_draft(data / "drafts" / "koukin-shuunou.md")
    import_suggestions(engine, frame, drafts=[koukin, extra])
    confirm(engine, "KS-056", reviewer="佐藤", based_on_version=0, category="d", sections=[])
    confirm(engine, "F-001", reviewer="鈴木", based_on_version=0)
    engine.dispose()

    config = load_config()
    base, _ = training_samples(config)
    merged, provenance = training_samples(config, db=db)

    assert len(merged.opinions) == len(base.opinions) + 1  # KS-056 replaced, F-001 added
    row = merged.opinions.set_index("opinion_id").loc["KS-056"]
    assert row["category"] == "d" and row["described"] is None and list(row["sections"]) == []
    assert row["text"] == frame.loc[frame["opinion_id"] == "KS-056", "text"].item()
    assert merged.opinions.set_index("opinion_id").loc["F-001", "draft_id"] == "extra-draft"
    assert "extra-draft" in {d.draft_id for d in merged.drafts}
    assert provenance["reviewed_opinions"] == 2 and len(provenance["reviews"]) == 2
    assert data_fingerprint(merged) != data_fingerprint(base)


def test_fingerprint_changes_with_one_label_and_not_with_row_order() -> None:
    samples = tiny_samples()
    shuffled = dataclasses.replace(samples, opinions=samples.opinions.iloc[::-1])
    assert data_fingerprint(shuffled) == data_fingerprint(samples)
    changed = samples.opinions.copy()
    changed.loc[0, "category"] = "c" if changed.loc[0, "category"] != "c" else "a"
    assert data_fingerprint(dataclasses.replace(samples, opinions=changed)) != data_fingerprint(
        samples
    )


GOOD = {"category_macro_f1": 0.70, "verdict_accuracy": 0.80, "section_top1": 0.75}
GOOD["judgement2_accuracy"] = 0.78


@pytest.mark.parametrize(
    ("changes", "ok", "named"),
    [
        ({}, True, None),
        ({"section_top1": -0.02}, False, "section_top1"),
        ({"section_top1": -0.004, "category_macro_f1": +0.01}, True, None),  # within tolerance
        ({"verdict_accuracy": -0.004}, False, "mean"),  # within tolerance but the mean drops
        ({"category_macro_f1": +0.05, "judgement2_accuracy": -0.03}, False, "judgement2"),
    ],
)
def test_compare_metrics(changes: dict[str, float], ok: bool, named: str | None) -> None:
    candidate = {k: v + changes.get(k, 0.0) for k, v in GOOD.items()}
    result = compare_metrics(candidate, GOOD)
    assert result.ok is ok
    if named:
        assert any(named in r for r in result.reasons), result.reasons


def test_compare_metrics_without_champion_or_without_metrics() -> None:
    assert compare_metrics(GOOD, None).ok
    missing = compare_metrics({"category_macro_f1": 0.9}, None)
    assert not missing.ok and "--no-evaluate" in missing.reasons[0]
    assert compare_metrics(GOOD, {k: float("nan") for k in GOOD}).ok  # champion never evaluated


def test_reliability_table_bins_both_judgements() -> None:
    rng = np.random.default_rng(0)
    n = 200
    proba = rng.dirichlet(np.ones(7), size=n)
    categories = np.array(["shared", "a", "b", "c", "d", "e", "f"])
    frame = pd.DataFrame(proba, columns=[f"p_{c}" for c in categories])
    frame["category"] = categories[proba.argmax(axis=1)]
    frame["gold_category"] = np.where(rng.random(n) < 0.5, frame["category"], "shared")
    frame["p_described"] = rng.random(n)
    frame["gold_described"] = np.where(rng.random(n) < frame["p_described"], "yes", "no")
    table = reliability_table(frame, bins=5)
    assert set(table["judgement"]) == {"I (category)", "II (described)"}
    i = table[table["judgement"] == "I (category)"]
    assert i["n"].sum() == n
    assert (
        table[table["judgement"] == "II (described)"]["n"].sum()
        == (frame["gold_category"] == "shared").sum()
    )
    assert ((table["confidence"] >= 0) & (table["confidence"] <= 1)).all()


def test_reused_evaluation_must_cover_the_training_opinions(tmp_path: Path) -> None:
    (tmp_path / EVALUATION_FILES["metrics"]).write_text("{}", encoding="utf-8")
    pd.DataFrame({"opinion_id": ["A-1", "A-2"]}).to_csv(tmp_path / "predictions.csv", index=False)
    files = {"metrics": tmp_path / "metrics.json", "predictions": tmp_path / "predictions.csv"}
    _check_evaluation_covers(files, pd.DataFrame({"opinion_id": ["A-2", "A-1"]}))
    with pytest.raises(PipelineError, match="covers 2 opinions, the training data 3"):
        _check_evaluation_covers(files, pd.DataFrame({"opinion_id": ["A-1", "A-2", "A-3"]}))


def test_a_missing_review_store_is_an_error_not_an_empty_store(tmp_path: Path) -> None:
    from pipeline.errors import InputFileError
    from pipeline.train import reviewed_opinions

    with pytest.raises(InputFileError, match=r"No review store at .*nope\.sqlite"):
        reviewed_opinions(str(tmp_path / "nope.sqlite"))
    assert not (tmp_path / "nope.sqlite").exists()


@pytest.mark.slow
def test_holdout_is_scored_through_score_export_and_judged(trained_model, tmp_path: Path) -> None:
    """The hold-out drafts are new to the model (it learned from two sample drafts)."""
    from pipeline.evaluate import metrics_of
    from pipeline.train import evaluate_holdout

    evaluation = evaluate_holdout(ROOT / "data" / "holdout", trained_model, tmp_path)
    metrics = evaluation.metrics
    assert metrics["n_opinions"] == 200 and metrics["n_missing_from_output"] == 0
    assert (tmp_path / "opinions_r8_holdout_suggestions.parquet").exists()
    recomputed = metrics_of(
        evaluation.predictions, trained_model.config.suggest.described_threshold
    )
    assert all(metrics[k] == pytest.approx(v, nan_ok=True) for k, v in recomputed.items())
    table = evaluation.baselines.set_index(["task", "method"])["score"]
    assert metrics["category_macro_f1"] > table[("Judgement I macro-F1", "majority class")]
    assert metrics["section_top1"] > table[("section top-1", "BM25 (Sudachi mode A)")]


@pytest.mark.slow
def test_holdout_folder_without_labels_is_named(trained_model, tmp_path: Path) -> None:
    from pipeline.train import evaluate_holdout

    with pytest.raises(InputFileError, match=r"labels\.jsonl"):
        evaluate_holdout(tmp_path, trained_model, tmp_path / "out")
