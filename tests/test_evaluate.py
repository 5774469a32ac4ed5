"""Metric definitions on hand-made predictions, and the confusion-matrix figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluate import _best_threshold, _hint_breakdown, confusion_figure, metrics_of


def predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "category": ["shared", "shared", "a", "d"],
            "gold_category": ["shared", "shared", "a", "c"],
            "verdict": ["revision", "no_revision", "no_revision", "no_revision"],
            "gold_verdict": ["revision", "revision", "no_revision", "no_revision"],
            "sections": ["1;2;3", "2;1;3", "3;1;2", "1;2;3"],
            "gold_sections": [["1"], ["1"], [], ["3"]],
            "p_described": [0.2, 0.7, 0.5, 0.5],
            "gold_described": ["no", "no", None, None],
            "hint_ids": ["1", "2", "", ""],
        }
    )


def test_metrics_by_hand() -> None:
    m = metrics_of(predictions())
    assert m["category_accuracy"] == 0.75
    assert m["verdict_accuracy"] == 0.75
    assert m["section_top1"] == pytest.approx(1 / 3)  # only opinions with gold sections count
    assert m["section_top3"] == 1.0
    assert m["judgement2_accuracy"] == 0.5  # shared only: 0.2→no right, 0.7→yes wrong
    assert m["shared_vs_excluded_accuracy"] == 1.0


def test_hint_breakdown() -> None:
    b = _hint_breakdown(predictions())
    assert (b["n_hint_right"], b["n_hint_wrong"], b["n_hint_missing"]) == (1, 1, 1)
    assert b["section_top1_hint_right"] == 1.0 and b["section_top1_hint_wrong"] == 0.0


def test_best_threshold_separates() -> None:
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    assert _best_threshold(scores, np.array([False, False, True, True])) == 0.8


def test_confusion_figure_is_a_png(tmp_path: Path) -> None:
    confusion_figure(np.eye(7, dtype=int) * 5, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
