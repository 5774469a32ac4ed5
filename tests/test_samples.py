"""The labelled sample set keeps the rules (issue #4), and the checker catches what breaks them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.samples import check_samples

from .conftest import SAMPLES


def test_samples_pass_the_checker_with_the_required_mix() -> None:
    problems, summary = check_samples(SAMPLES)
    assert problems == []
    assert summary["drafts"] >= 5 and summary["opinions"] >= 800
    mix = summary["mix"]
    assert all(mix[c] >= 60 for c in "abcdef")
    total = summary["opinions"]
    assert 0.28 <= mix["shared+yes"] / total <= 0.40
    assert 0.18 <= mix["shared+no"] / total <= 0.30


@pytest.mark.parametrize(
    ("folder", "drafts"),
    [
        ("holdout", 2),
        ("holdout2", 2),
        ("holdout3", 2),
        ("holdout4", 2),
        ("holdout5", 2),
        ("holdout6", 2),
        ("holdout7", 2),
        ("holdout8", 2),
        ("holdout9", 2),
        ("holdout10", 2),
        ("holdout11", 2),
        ("holdout12", 2),
        ("holdout13", 2),
        ("holdout14", 2),
        ("holdout15", 2),
        ("holdout16", 2),
        ("holdout17", 2),
        ("extra1", 4),
        ("extra2", 2),
    ],
)
def test_holdout_sets_pass_the_checker_with_their_mix(folder: str, drafts: int) -> None:
    problems, summary = check_samples(SAMPLES.parent / folder)
    assert problems == []
    assert summary["drafts"] == drafts and summary["opinions"] == 100 * drafts
    for counts in summary["per_draft"].values():
        assert counts["shared"] == 58 and all(counts[c] == 7 for c in "abcdef")


def test_checker_reports_broken_labels(tmp_path: Path) -> None:
    copy = tmp_path / "samples"
    shutil.copytree(SAMPLES, copy, ignore=shutil.ignore_patterns("raw", "agreement"))
    lines = (copy / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    first, second, third = (json.loads(x) for x in lines[:3])
    first["described"] = "yes" if first["category"] != "shared" else None
    second["sections"] = ["99.(9)"]
    third["verdict"] = "revision" if third["verdict"] == "no_revision" else "no_revision"
    lines[:3] = [json.dumps(r, ensure_ascii=False) for r in (first, second, third)]
    (copy / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems, _ = check_samples(copy)
    text = "\n".join(problems)
    assert f"({first['opinion_id']})" in text and "described" in text
    assert "section '99.(9)' is not in draft" in text
    assert f"({third['opinion_id']}): verdict" in text
    result = CliRunner().invoke(app, ["samples", "check", str(copy)])
    assert result.exit_code == 1 and "problem(s)" in result.output


TRAINING_FOLDERS = [
    "samples",
    "holdout",
    "holdout2",
    "holdout3",
    "holdout4",
    "holdout5",
    "holdout6",
    "holdout7",
    "holdout8",
    "holdout9",
    "holdout10",
    "holdout11",
    "holdout12",
    "holdout13",
    "holdout14",
    "holdout15",
    "holdout16",
    "extra1",
    "extra2",
]


def test_training_folders_load_as_one_set() -> None:
    from pipeline.config import load_config
    from pipeline.samples import load_sample_sets, load_samples
    from pipeline.train import training_dirs

    folders = training_dirs(load_config())
    assert [f.name for f in folders] == TRAINING_FOLDERS
    together = load_sample_sets(folders)
    parts = [load_samples(f) for f in folders]
    assert len(together.opinions) == sum(len(p.opinions) for p in parts) == 4700
    assert together.opinions["opinion_id"].is_unique
    assert len({d.draft_id for d in together.drafts}) == len(together.drafts) == 44
    assert len(together.resolved) == sum(len(p.resolved) for p in parts)


def test_a_folder_given_twice_is_refused_naming_the_opinion(tmp_path: Path) -> None:
    from pipeline.errors import InputSchemaError
    from pipeline.samples import load_sample_sets

    copy = tmp_path / "again"
    shutil.copytree(SAMPLES.parent / "holdout3", copy)
    with pytest.raises(
        InputSchemaError, match=r"opinion \S+ is labelled in both .*holdout3 and .*again"
    ):
        load_sample_sets([SAMPLES.parent / "holdout3", copy])
    result = CliRunner().invoke(
        app, ["samples", "check", str(SAMPLES.parent / "holdout3"), str(copy)]
    )
    assert result.exit_code == 1 and "labelled in both" in result.output


def test_check_without_folders_checks_every_training_folder() -> None:
    result = CliRunner().invoke(app, ["samples", "check"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [Path(k).name for k in summary] == TRAINING_FOLDERS
    assert summary[next(iter(summary))]["opinions"] == 900


def test_every_labelled_folder_can_join_the_training_data() -> None:
    """The hold-out joins training once read, so no opinion or resolved id may repeat anywhere."""
    from pipeline.samples import load_sample_sets

    folders = sorted(p.parent for p in SAMPLES.parent.glob("*/labels.jsonl"))
    together = load_sample_sets(folders)
    assert together.opinions["opinion_id"].is_unique
    assert together.resolved["resolved_id"].is_unique
