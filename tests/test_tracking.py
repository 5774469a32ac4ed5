"""The MLflow registry: promotion rules on real registry state, scoring through an alias.

A real model is trained once (tiny subset, no evaluation) and registered in an MLflow store under
a temporary directory; further versions reuse its bundle with made-up run metrics, which is all
``promote`` reads.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import tracking
from pipeline.bundle import load_model, save_model
from pipeline.cli import app
from pipeline.config import Config, load_config
from pipeline.drafts import read_draft
from pipeline.ingest import read_opinions
from pipeline.schema import SUGGESTION_COLUMNS
from pipeline.train import (
    PromotionRefused,
    TrainResult,
    promote,
    serving_load,
    serving_predict,
    train_tracked,
)

from .conftest import SAMPLES
from .test_train import GOOD, TINY_DRAFTS, tiny_samples, with_tracking, write_subset_export

runner = CliRunner()


@dataclass
class Registry:
    config: Config
    uri: str
    root: Path
    first: TrainResult


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    config = with_tracking(load_config(), uri)
    first = train_tracked(
        config, samples=tiny_samples(), model_dir=root / "model", evaluate=False, progress=False
    )
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri  # the CLI reads params.yaml, whose tracking_uri is null
    yield Registry(config, uri, root, first)
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


def _register(registry: Registry, name: str, metrics: dict[str, float] | None) -> str:
    """Log a run with ``metrics`` and register the first model's bundle as a new version."""

    def save(version: str) -> Path:
        model = load_model(registry.first.model_dir)
        model.version = version
        return save_model(model, registry.root / version.replace("/", "-"), metrics=metrics)

    run = tracking.log_training_run(
        experiment="promotion-tests",
        params={"made_up": True},
        metrics=metrics,
        tags={},
        artifacts=[],
        save_bundle=save,
        recipe=tracking.PyfuncRecipe(load=serving_load, predict=serving_predict),
        registered_model=name,
        configured_uri=registry.uri,
    )
    return run.version


def _config_for(registry: Registry, name: str) -> Config:
    return dataclasses.replace(
        registry.config, train=dataclasses.replace(registry.config.train, registered_model=name)
    )


def _champion(registry: Registry, name: str) -> str | None:
    found = tracking.aliased_version(name, configured_uri=registry.uri)
    return found.version if found else None


@pytest.mark.slow
def test_promote_refuses_a_worse_model_and_accepts_a_better_one(registry: Registry) -> None:
    name = "promotion-a"
    config = _config_for(registry, name)
    v1 = _register(registry, name, GOOD)
    assert promote(config=config).version == v1  # no champion yet: any evaluated model
    assert _champion(registry, name) == v1

    worse = _register(registry, name, {**GOOD, "section_top1": GOOD["section_top1"] - 0.02})
    with pytest.raises(PromotionRefused, match=r"section_top1 got worse: 0\.7300 < champion 0\.75"):
        promote(worse, config=config)
    assert _champion(registry, name) == v1

    better = {k: v + 0.01 for k, v in GOOD.items()}
    v3 = _register(registry, name, better)
    done = promote(config=config)  # the newest version
    assert (done.version, done.previous, done.forced) == (v3, v1, False)
    assert _champion(registry, name) == v3

    forced = promote(worse, force=True, config=config)
    assert forced.forced and _champion(registry, name) == worse
    info = tracking.model_version(name, worse, configured_uri=registry.uri)
    assert info.tags["promotion.forced"] == "true"
    assert "section_top1" in info.tags["promotion.overrode"]
    import mlflow

    run_tags = mlflow.MlflowClient(registry.uri).get_run(info.run_id).data.tags
    assert run_tags["promotion.forced"] == "true"
    assert run_tags["promotion.previous"] == f"{name}/{v3}"


@pytest.mark.slow
def test_promote_command_names_the_metric_and_records_force(registry: Registry) -> None:
    """`triage promote` reads params.yaml (opinion-triage) and MLFLOW_TRACKING_URI (the tmp store)."""
    name = registry.config.train.registered_model
    promote("1", force=True, config=registry.config)  # the real model, never evaluated
    good = _register(registry, name, GOOD)
    accepted = runner.invoke(app, ["promote", good])
    assert accepted.exit_code == 0, accepted.output
    assert f"{name}/{good} is now @champion (was {name}/1)." in accepted.stdout

    worse = _register(registry, name, {**GOOD, "judgement2_accuracy": 0.70})
    refused = runner.invoke(app, ["promote"])  # the newest version
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"Error: {name}/{worse} is not promoted to @champion: ")
    assert "judgement2_accuracy got worse: 0.7000 < champion 0.7800" in refused.stderr
    assert "Traceback" not in refused.output
    assert _champion(registry, name) == good

    forced = runner.invoke(app, ["promote", worse, "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"{name}/{worse} is now @champion (was {name}/{good})." in forced.stdout
    assert "forced: judgement2_accuracy got worse" in forced.stderr
    assert _champion(registry, name) == worse
    tags = tracking.model_version(name, worse, configured_uri=registry.uri).tags
    assert tags["promotion.forced"] == "true"


@pytest.mark.slow
def test_promote_refuses_a_model_trained_without_evaluation(registry: Registry) -> None:
    name = "promotion-unevaluated"
    version = _register(registry, name, None)
    with pytest.raises(PromotionRefused, match=r"no category_macro_f1.*--no-evaluate"):
        promote(version, config=_config_for(registry, name))
    assert _champion(registry, name) is None


@pytest.mark.slow
def test_score_through_the_registry_alias_equals_the_local_directory(
    registry: Registry, tmp_path: Path
) -> None:
    promote("1", force=True, config=registry.config)  # trained with evaluate=False
    ids = set(tiny_samples(per_draft=6).opinions["opinion_id"])
    export = write_subset_export(tmp_path / "export.csv", ids)
    drafts = [SAMPLES / "drafts" / f"{d}.md" for d in TINY_DRAFTS]
    common = [
        "score",
        "--opinions",
        str(export),
        "--resolved",
        str(SAMPLES / "resolved_points.csv"),
    ]
    for draft in drafts:
        common += ["--draft", str(draft)]

    local = runner.invoke(
        app, [*common, "--model", str(registry.first.model_dir), "--out", str(tmp_path / "a.csv")]
    )
    assert local.exit_code == 0, local.output
    alias = runner.invoke(
        app,
        [*common, "--model", "models:/opinion-triage@champion", "--out", str(tmp_path / "b.csv")],
    )
    assert alias.exit_code == 0, alias.output
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    rows = pd.read_csv(tmp_path / "a.csv", dtype=str, keep_default_na=False)
    assert len(rows) == len(ids)
    assert set(rows["model_version"]) == {"opinion-triage/1"}

    # the pyfunc flavour: a frame of opinions in, the same suggestion rows out
    opinions = read_opinions(export, drafts=[read_draft(d) for d in drafts]).opinions
    model = tracking.load_pyfunc("models:/opinion-triage@champion", configured_uri=registry.uri)
    predicted = model.predict(opinions[["opinion_id", "draft_id", "text", "location", "reason"]])
    columns = [*SUGGESTION_COLUMNS, "group_id", "group_size"]
    got = predicted[columns].astype(str).reset_index(drop=True)
    assert got.equals(rows[columns].reset_index(drop=True))
