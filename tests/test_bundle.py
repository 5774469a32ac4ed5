"""Model directories: round trip (in test_suggest), tampering and absence are refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.bundle import CONFIG_FILE, PARTS, load_model, save_model
from pipeline.errors import ModelNotFoundError, PipelineError
from pipeline.match import PAIR_FEATURES

pytestmark = pytest.mark.slow


def test_missing_model_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="triage train"):
        load_model(tmp_path / "none")


def test_changed_file_is_refused(trained_model, tmp_path: Path) -> None:
    directory = save_model(trained_model, tmp_path / "m")
    info = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    assert info["labels"] == ["shared", "a", "b", "c", "d", "e", "f"] and info["files"]
    assert (directory / "README.md").read_text(encoding="utf-8").startswith("# opinion-triage@test")
    path = directory / PARTS["ranker"]
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(PipelineError, match="sha256 does not match"):
        load_model(directory)


def test_model_from_another_feature_set_is_refused(trained_model, tmp_path: Path) -> None:
    """A model trained before the pair features changed would mis-score silently; refuse it."""
    directory = save_model(trained_model, tmp_path / "m")
    config = directory / CONFIG_FILE
    info = json.loads(config.read_text(encoding="utf-8"))
    assert info["pair_features"] == list(PAIR_FEATURES)
    info["pair_features"] = info["pair_features"][:-3]
    config.write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(PipelineError, match="retrain it with `triage train`"):
        load_model(directory)


def test_model_in_an_older_format_is_refused(trained_model, tmp_path: Path) -> None:
    """Format 2 bundles hold a logistic-regression ranker this version cannot score with."""
    directory = save_model(trained_model, tmp_path / "m")
    config = directory / CONFIG_FILE
    info = json.loads(config.read_text(encoding="utf-8"))
    info["format"] = 2
    config.write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(PipelineError, match="another model format"):
        load_model(directory)


def test_model_from_another_judgement_ii_feature_set_is_refused(trained_model, tmp_path) -> None:
    directory = save_model(trained_model, tmp_path / "m")
    config = directory / CONFIG_FILE
    info = json.loads(config.read_text(encoding="utf-8"))
    info["described_features"] = info["described_features"][:-2]
    config.write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(PipelineError, match="Judgement II features"):
        load_model(directory)
