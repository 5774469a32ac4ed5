"""Section matching pieces that need no model: hint relations, heading paths, rank features."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.drafts import sections_from_lines
from pipeline.errors import NotFittedError
from pipeline.match import SectionRanker, _reciprocal_rank, _relation, _z, heading_paths
from pipeline.schema import Draft


@pytest.mark.parametrize(
    ("section_id", "hints", "expected"),
    [
        ("3.(2)", ["3.(2)"], (1, 0, 0, 0)),
        ("3", ["3.(2)"], (0, 1, 0, 0)),
        ("3.(2).①", ["3.(2)"], (0, 0, 1, 0)),
        ("3.(3)", ["3.(2)"], (0, 0, 0, 1)),
        ("4.(2)", ["3.(2)"], (0, 0, 0, 0)),
        ("3.(2)", [], (0, 0, 0, 0)),
        ("3.(2)", ["3.(2)", "4"], (1, 0, 0, 0)),
    ],
)
def test_hint_relations(section_id: str, hints: list[str], expected: tuple[int, ...]) -> None:
    assert _relation(section_id, hints) == expected


def test_heading_paths_carry_the_parents() -> None:
    _, sections = sections_from_lines(
        ["1. 費用負担", "(1) 国の負担", "本文", "① 改修費", "本文"], "d"
    )
    assert heading_paths(Draft("d", "", tuple(sections))) == [
        "費用負担",
        "費用負担 国の負担",
        "費用負担 国の負担 改修費",
    ]


def test_rank_features() -> None:
    assert list(_reciprocal_rank(np.array([0.1, 0.9, 0.5]))) == [1 / 3, 1.0, 1 / 2]
    z = _z(np.array([1.0, 2.0, 3.0]))
    assert np.isclose(z.mean(), 0) and np.isclose(z.std(), 1)
    assert list(_z(np.array([2.0, 2.0]))) == [0.0, 0.0]


def test_ranker_before_fit_says_call_fit() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        SectionRanker().score_pairs(np.zeros((2, 3)))


def test_ranker_learns_the_informative_column() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 1] > 0.5).astype(int)
    scores = SectionRanker(C=1.0).fit(X, y).score_pairs(X)
    assert np.mean((scores > 0.5) == y) > 0.95
