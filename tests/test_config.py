"""params.yaml → frozen dataclasses; unknown keys and bad ranges are errors that say the fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import Config, MatchConfig, TextConfig, load_config
from pipeline.errors import ConfigError


def test_project_params_load_and_match_the_defaults() -> None:
    assert load_config() == Config()


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "none.yaml") == Config()


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("match:\n  top_kk: 3\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"Unknown key 'top_kk' in 'match'.*Did you mean 'top_k'\?"
    ):
        load_config(path)


def test_unknown_section_lists_known_keys(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("zzz: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Known keys: text, encoder"):
        load_config(path)


def test_split_mode_message_shape() -> None:
    with pytest.raises(
        ConfigError,
        match=r"The 'feature_mode' option of text must be one of 'A', 'B', 'C'\. Got 'D' instead\.",
    ):
        TextConfig(feature_mode="D")


def test_ranges_are_checked_and_replace_applies_overrides() -> None:
    with pytest.raises(ConfigError, match="'top_k' option of match"):
        MatchConfig(top_k=0)
    cfg = dataclasses.replace(Config(), match=MatchConfig(top_k=5))
    assert cfg.match.top_k == 5 and cfg.flat()["match.top_k"] == 5


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().match.top_k = 9  # type: ignore[misc]


def test_extra_training_folders_are_a_list_of_paths(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  extra_dirs: [data/a, data/b]\n", encoding="utf-8")
    assert load_config(path).train.extra_dirs == ("data/a", "data/b")
    path.write_text("train:\n  extra_dirs:\n", encoding="utf-8")
    assert load_config(path).train.extra_dirs == ()
    path.write_text("train:\n  extra_dirs: data/a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'extra_dirs' option of train must be a list"):
        load_config(path)
