"""The ranker-only leave-one-draft-out harness (scripts/ranker_lodo.py): splits and hit counting."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from pipeline.match import PAIR_FEATURES, RAW_PAGE_COLUMNS, SectionRanker

_SPEC = importlib.util.spec_from_file_location(
    "ranker_lodo", Path(__file__).resolve().parent.parent / "scripts" / "ranker_lodo.py"
)
assert _SPEC is not None and _SPEC.loader is not None
ranker_lodo = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ranker_lodo)


@pytest.mark.parametrize("folds", [None, 2, 3])
def test_every_draft_is_held_out_once_and_never_trained_on_while_held_out(
    folds: int | None,
) -> None:
    drafts = np.repeat(np.array(["a", "b", "c", "d", "e"]), [3, 5, 2, 4, 6])
    tested = []
    for train, test in ranker_lodo.held_out_splits(drafts, folds):
        assert not set(drafts[train]) & set(drafts[test])
        assert len(train) + len(test) == len(drafts)
        tested.extend(test)
    assert sorted(tested) == list(range(len(drafts)))
    if folds is None:
        assert len(list(ranker_lodo.held_out_splits(drafts, None))) == 5


def test_top_k_hits_counts_per_opinion_and_breaks_ties_by_section_order() -> None:
    rows = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    y = np.array([0, 1, 0, 0, 0, 1, 1, 0])
    scores = np.array([0.5, 0.5, 0.1, 0.9, 0.3, 0.2, 0.4, 0.6])
    # opinion 0: a tie between its first two sections goes to the first (wrong) one
    assert ranker_lodo.top_k_hits(scores, y, rows, 1).tolist() == [False, False, False]
    assert ranker_lodo.top_k_hits(scores, y, rows, 2).tolist() == [True, False, True]
    assert ranker_lodo.top_k_hits(scores, y, rows, 3).tolist() == [True, True, True]


def test_held_out_scores_come_from_a_ranker_fitted_without_the_draft() -> None:
    """Drafts where the right section stands out on one score: each held-out draft is ranked
    well, and its scores equal those of a ranker fitted on the other drafts alone."""
    rng = np.random.default_rng(1)
    opinions, candidates = 120, 8
    X = rng.normal(size=(opinions * candidates, len(PAIR_FEATURES) + 4))
    X[:, [PAIR_FEATURES.index(c) for c in RAW_PAGE_COLUMNS]] = 0.0
    rows = np.repeat(np.arange(opinions), candidates)
    right = rng.integers(candidates, size=opinions) + np.arange(opinions) * candidates
    X[right, PAIR_FEATURES.index("bm25_z")] += 3.0
    y = np.isin(np.arange(len(X)), right).astype(int)
    drafts = np.repeat(np.array(["p", "q", "r", "s"]), opinions * candidates // 4)

    scores = ranker_lodo.held_out_scores(X, y, rows, drafts, SectionRanker)

    assert ranker_lodo.top_k_hits(scores, y, rows, 1).mean() > 0.8
    others = drafts != "q"
    alone = SectionRanker().fit(X[others], y[others], rows[others])
    np.testing.assert_allclose(scores[~others], alone.score_pairs(X[~others]))
