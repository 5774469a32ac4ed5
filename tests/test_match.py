"""Section matching pieces that need no model: hint relations, heading paths, rank features."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from pipeline.drafts import sections_from_lines
from pipeline.errors import NotFittedError
from pipeline.match import (
    DEFAULT_CHARS_PER_PAGE,
    PAIR_FEATURES,
    RAW_PAGE_COLUMNS,
    CitationBM25,
    SectionRanker,
    _reciprocal_rank,
    _relation,
    _z,
    heading_paths,
    softmax,
)
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
    z, flat = _z(np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]))  # each row on its own
    assert np.isclose(z.mean(), 0) and np.isclose(z.std(), 1)
    assert list(flat) == [0.0, 0.0, 0.0]


def test_ranker_before_fit_says_call_fit() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        SectionRanker().score_pairs(np.zeros((2, 3)))


def _pairs(rng: np.random.Generator, n: int, interactions: int = 4) -> np.ndarray:
    """Random pair rows with the full named layout plus a few interaction columns."""
    return rng.normal(size=(n, len(PAIR_FEATURES) + interactions))


def _grouped(
    rng: np.random.Generator, opinions: int, candidates: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pair rows for ``opinions`` opinions of ``candidates`` sections each, no page cited."""
    X = _pairs(rng, opinions * candidates)
    X[:, [PAIR_FEATURES.index(c) for c in RAW_PAGE_COLUMNS]] = 0.0
    return X, np.repeat(np.arange(opinions), candidates)


def test_ranker_learns_the_informative_column() -> None:
    rng = np.random.default_rng(0)
    column = PAIR_FEATURES.index("bm25_z")

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X, opinions = _grouped(rng, n, 10)
        right = rng.integers(10, size=n) + np.arange(n) * 10
        X[right, column] += 3.0  # the right section stands out on one score, among noise
        return X, opinions, right

    X, opinions, right = draw(200)
    ranker = SectionRanker().fit(X, np.isin(np.arange(len(X)), right).astype(int), opinions)
    X_new, _, right_new = draw(200)
    offsets = np.arange(200) * 10
    best = ranker.score_pairs(X_new).reshape(200, 10).argmax(axis=1) + offsets
    oracle = X_new[:, column].reshape(200, 10).argmax(axis=1) + offsets
    # as good as knowing which column matters, give or take the noise in the other weights
    assert np.mean(best == right_new) >= np.mean(oracle == right_new) - 0.05 > 0.8


def test_ranker_recovers_the_weights_of_a_conditional_logit() -> None:
    """Choices drawn from a known softmax over candidates: the fit finds the same direction."""
    rng = np.random.default_rng(3)
    X, opinions = _grouped(rng, 1500, 8)
    ranker = SectionRanker(l2=0.0, interaction_weight=1.0).fit(
        X, np.tile([1] + [0] * 7, 1500), opinions
    )  # fitted once only to learn the design (scaling) of X
    Z = ranker._design(X)
    true = np.zeros(Z.shape[1])
    true[:5] = [1.5, -1.0, 0.8, 0.0, 0.5]
    utilities = (Z @ true).reshape(1500, 8)
    p = np.exp(utilities - utilities.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    chosen = np.array([rng.choice(8, p=row) for row in p])
    y = (np.arange(8)[None, :] == chosen[:, None]).astype(int).ravel()
    fitted = SectionRanker(l2=0.0, interaction_weight=1.0).fit(X, y, opinions)
    assert np.corrcoef(fitted.coef_, true)[0, 1] > 0.95
    assert np.allclose(fitted.coef_[:5], true[:5], atol=0.2)


def test_ranker_ignores_opinions_without_a_labelled_candidate_and_scores_are_probabilities() -> (
    None
):
    rng = np.random.default_rng(4)
    X, opinions = _grouped(rng, 40, 6)
    y = (np.arange(len(X)) % 6 == 0).astype(int)
    y[opinions >= 30] = 0  # ten opinions whose right section is not among the rows
    ranker = SectionRanker().fit(X, y, opinions)
    reference = SectionRanker().fit(X[opinions < 30], y[opinions < 30], opinions[opinions < 30])
    assert np.allclose(ranker.coef_, reference.coef_)
    probabilities = softmax(ranker.score_pairs(X[:6]))
    assert np.isclose(probabilities.sum(), 1.0) and (probabilities > 0).all()
    with pytest.raises(ValueError, match="no opinion has a labelled section"):
        SectionRanker().fit(X, np.zeros(len(X), dtype=int), opinions)


def test_ranker_learns_how_many_characters_a_cited_page_holds() -> None:
    """Opinions cite page p for a section that starts near (p - 1) * 600 characters in."""
    rng = np.random.default_rng(1)
    page_col, start_col, end_col = (PAIR_FEATURES.index(c) for c in RAW_PAGE_COLUMNS[:3])
    rows, labels = [], []
    for _ in range(120):
        starts = np.arange(0, 6000, 300.0)  # 20 sections of 300 characters
        right = int(rng.integers(len(starts)))
        block = _pairs(rng, len(starts)) * 0.1
        block[:, page_col] = int(starts[right] // 600) + 1
        block[:, start_col] = starts
        block[:, end_col] = starts + 300
        block[:, [PAIR_FEATURES.index("page_first"), PAIR_FEATURES.index("page_last")]] = 0.0
        rows.append(block)
        labels.append((np.arange(len(starts)) == right).astype(int))
    X, y = np.vstack(rows), np.concatenate(labels)
    ranker = SectionRanker().fit(X, y, np.repeat(np.arange(120), 20))
    assert 450 < ranker.chars_per_page_ < 800
    scores = ranker.score_pairs(X).reshape(120, 20)
    blocks = X.reshape(120, 20, -1)
    pages_off = [
        abs(blocks[i, np.argmax(scores[i]), start_col] // 600 + 1 - blocks[i, 0, page_col])
        for i in range(120)
    ]
    # the best section lies on or next to the cited page (by chance: about 1 in 4)
    assert np.mean(np.array(pages_off) <= 1) > 0.95


def test_sections_that_know_their_pages_are_placed_by_them_not_by_characters() -> None:
    """A PDF draft's sections carry the pages they span: a cited page is then exact, whatever
    the characters-per-page the ranker learned from text drafts."""
    rng = np.random.default_rng(3)
    page_col = PAIR_FEATURES.index("page")
    first_col, last_col = PAIR_FEATURES.index("page_first"), PAIR_FEATURES.index("page_last")
    start_col, end_col = PAIR_FEATURES.index("char_start"), PAIR_FEATURES.index("char_end")
    rows, labels = [], []
    for _ in range(120):
        starts = np.arange(0, 6000, 300.0)
        right = int(rng.integers(len(starts)))
        block = _pairs(rng, len(starts)) * 0.1
        block[:, page_col] = int(starts[right] // 600) + 1
        block[:, start_col], block[:, end_col] = starts, starts + 300
        block[:, [first_col, last_col]] = 0.0
        rows.append(block)
        labels.append((np.arange(len(starts)) == right).astype(int))
    ranker = SectionRanker().fit(
        np.vstack(rows), np.concatenate(labels), np.repeat(np.arange(120), 20)
    )
    # One opinion on a printed draft citing page 7: its sections span pages 1-2, 3, 7 and 8-9,
    # while their characters alone would put every one of them on pages 1-3.
    X = _pairs(rng, 4) * 0.0
    X[:, page_col] = 7
    X[:, start_col], X[:, end_col] = [0, 300, 600, 900], [300, 600, 900, 1200]
    X[:, first_col], X[:, last_col] = [1, 3, 7, 8], [2, 3, 7, 9]
    design = ranker._with_page_distance(X)
    distance = design[:, ranker.n_named_ - 2]
    # In pages between the cited page and the section, as for text drafts: pages 1-2 and 3 are
    # three or more away (capped), page 7 is it, pages 8-9 start right after it.
    np.testing.assert_allclose(distance, [3.0, 3.0, 0.0, 0.001], atol=1e-6)
    assert list(design[:, ranker.n_named_ - 1]) == [0.0, 0.0, 1.0, 0.0]  # on the cited page
    assert int(np.argmax(ranker.score_pairs(X))) == 2


def test_without_page_citations_the_default_page_size_is_used() -> None:
    rng = np.random.default_rng(2)
    X = _pairs(rng, 200)
    X[:, PAIR_FEATURES.index("page")] = 0.0
    y = (np.arange(200) % 10 == 0).astype(int)
    ranker = SectionRanker().fit(X, y, np.repeat(np.arange(20), 10))
    assert ranker.chars_per_page_ == DEFAULT_CHARS_PER_PAGE


DOCUMENTS = [
    ["紙", "申請", "経過", "措置", "移行"],
    ["手数料", "負担", "費用"],
    ["障害", "運用", "停止", "連絡"],
    ["申請", "受付", "機能"],
]


@pytest.mark.parametrize(
    "query",
    [["紙", "申請"], ["障害", "連絡", "費用"], ["受付"], ["無関係"], ["申請", "移行", "運用"]],
)
def test_citation_bm25_scores_as_bm25s_does(query: list[str]) -> None:
    reference = bm25s.BM25()
    reference.index(DOCUMENTS, show_progress=False)
    expected = reference.get_scores(query)
    assert np.allclose(CitationBM25(DOCUMENTS).scores(query), expected, atol=1e-5)


def test_leaving_an_opinion_out_scores_as_if_it_had_never_been_cited() -> None:
    own = ["紙", "申請", "窓口"]
    cited = [d + own if i == 0 else d for i, d in enumerate(DOCUMENTS)]
    query = ["紙", "窓口", "運用"]
    left_out = CitationBM25(cited).scores(query, leave_out=(0, own))
    assert np.allclose(left_out, CitationBM25(DOCUMENTS).scores(query))
    assert CitationBM25(cited).scores(query)[0] > left_out[0]  # its own words would have counted
