"""Suggestions end to end on real data: a draft the models never saw, the §4 contract, round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipeline.bundle import load_model, save_model
from pipeline.config import Config, SuggestConfig
from pipeline.errors import InputSchemaError
from pipeline.flowchart import suggested_verdict
from pipeline.match import PAIR_FEATURES, SectionMatch
from pipeline.schema import CATEGORIES, SUGGESTION_COLUMNS
from pipeline.suggest import (
    Workspace,
    _close_pairs,
    _priority,
    assign_groups,
    citation_digests,
    predict_batch,
    views_of,
)

from .conftest import TEST_DRAFT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def predictions(trained_model, unseen_opinions, workspace) -> pd.DataFrame:
    return predict_batch(trained_model, unseen_opinions, workspace)


def test_rows_follow_the_contract(predictions: pd.DataFrame, workspace) -> None:
    assert list(predictions.columns[: len(SUGGESTION_COLUMNS)]) == list(SUGGESTION_COLUMNS)
    proba = predictions[[f"p_{c}" for c in CATEGORIES]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert set(predictions["category"]) <= set(CATEGORIES)
    assert (predictions["category"] == np.array(CATEGORIES)[proba.argmax(axis=1)]).all()
    existing = set(workspace.drafts[TEST_DRAFT].section_ids)
    for sections, scores in zip(
        predictions["sections"], predictions["section_scores"], strict=True
    ):
        ids = sections.split(";")
        assert len(ids) == 3 and set(ids) <= existing
        values = [float(s) for s in scores.split(";")]
        assert values == sorted(values, reverse=True)
        # probabilities over the draft's sections: the top three share at most all of it
        assert min(values) >= 0.0 and sum(values) <= 1.0 + 1e-3
    for row in predictions.itertuples():
        assert row.verdict == suggested_verdict(row.category, row.p_described)
        assert (row.resolved_id != "") <= (row.category == "f")
    assert set(predictions["review_priority"]) <= {"high", "medium", "low"}
    assert (predictions["model_version"] == "opinion-triage@test").all()


def test_unseen_draft_is_judged_better_than_chance(
    predictions: pd.DataFrame, unseen_opinions
) -> None:
    """Two training drafts only: far from the full model, but clearly learned (chance is 1/7)."""
    gold = unseen_opinions.set_index("opinion_id")
    joined = predictions.set_index("opinion_id").join(
        gold[["category", "sections"]].add_suffix("_gold")
    )
    accuracy = float((joined["category"] == joined["category_gold"]).mean())
    with_sections = joined[joined["sections_gold"].map(len) > 0]
    top3 = np.mean(
        [
            any(s in g for s in p.split(";"))
            for p, g in zip(with_sections["sections"], with_sections["sections_gold"], strict=True)
        ]
    )
    assert accuracy > 0.5
    assert top3 > 0.7


def test_save_and_reload_give_identical_rows(
    trained_model,
    unseen_opinions,
    workspace,
    predictions: pd.DataFrame,
    tmp_path: Path,
) -> None:
    save_model(trained_model, tmp_path / "model")
    reloaded = load_model(tmp_path / "model")
    again = predict_batch(reloaded, unseen_opinions, workspace)
    pd.testing.assert_frame_equal(again, predictions)


def test_evidence_comes_from_the_best_section(predictions: pd.DataFrame, workspace) -> None:
    draft = workspace.drafts[TEST_DRAFT].draft
    for row in predictions.head(20).itertuples():
        best = draft.get(row.sections.split(";")[0])
        assert row.evidence in f"{best.heading}\n{best.text}"


def test_an_unsure_best_section_goes_up_the_queue(predictions: pd.DataFrame) -> None:
    top = predictions["section_scores"].str.split(";").str[0].astype(float)
    unsure = top < Config().suggest.low_section_confidence
    flagged = predictions["priority_reasons"].str.contains("提案箇所の確信度が低い")
    assert unsure.any() and not unsure.all()  # an unseen draft has both kinds
    assert (flagged == unsure).all()
    assert (predictions.loc[unsure, "review_priority"] == "high").all()


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_priority_flags_the_section_exactly_below_its_threshold(
    best: float, threshold: float, top_p: float
) -> None:
    config = Config(suggest=SuggestConfig(low_section_confidence=threshold))
    match = SectionMatch(["1.(1)", "2"], [best, 0.0], "", 0.5, [], np.zeros(1))
    level, reasons = _priority(top_p, "a", 0.5, match, 0.0, config)
    assert ("提案箇所の確信度が低い" in reasons) == (best < threshold)
    if best < threshold:
        assert level == "high"


def test_unknown_draft_is_an_input_error(trained_model, unseen_opinions, workspace) -> None:
    frame = unseen_opinions.head(2).assign(draft_id="no-such-draft")
    with pytest.raises(InputSchemaError, match="Pass them with --draft"):
        predict_batch(trained_model, frame, workspace)


def test_near_duplicates_share_a_group_and_count_municipalities() -> None:
    frame = pd.DataFrame(
        {
            "opinion_id": ["1", "2", "3", "4"],
            "draft_id": ["d"] * 4,
            "municipality": ["札幌市", "函館市", "札幌市", "横浜市"],
        }
    )
    vectors = np.array(
        [[1, 0, 0], [0.99, 0.141, 0], [0.995, 0.0999, 0], [0, 0, 1]], dtype=np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    grouped = assign_groups(frame, vectors, threshold=0.98)
    assert list(grouped["group_id"]) == ["1", "1", "1", "4"]
    assert list(grouped["group_size"]) == [2, 2, 2, 1]  # 札幌市 twice counts once


@given(
    arrays(
        np.float32, st.tuples(st.integers(1, 40), st.just(3)), elements=st.floats(-1, 1, width=32)
    ),
    st.floats(0.5, 0.99),
)
def test_close_pairs_are_exactly_the_pairs_above_the_threshold(
    vectors: np.ndarray, threshold: float
) -> None:
    vectors = np.vstack([vectors, np.ones((1, 3), dtype=np.float32)])  # never all zero rows
    vectors[np.linalg.norm(vectors, axis=1) < 1e-3] = 1.0
    unit = vectors.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    similarity = unit @ unit.T
    graph = _close_pairs(vectors, threshold, chunk=7).toarray().astype(bool)
    clear = np.abs(similarity - threshold) > 1e-4  # float32 rounding decides the rest
    assert (graph == (similarity >= threshold))[clear].all()


def test_a_section_is_found_by_what_the_opinions_citing_it_say(workspace) -> None:
    """Words the draft never uses (「雪下ろし」) reach a section through the opinions citing it."""
    index = workspace.drafts[TEST_DRAFT]
    target = index.section_ids[-1]
    fresh = Workspace(workspace.embedder, {TEST_DRAFT: index})
    column = PAIR_FEATURES.index("cited_bm25_z")
    query = pd.DataFrame(
        {
            "opinion_id": ["Q"],
            "draft_id": [TEST_DRAFT],
            "location": [""],
            "text": ["雪下ろしの時期の扱いはどうか。"],
        }
    )
    view = views_of(query, fresh)[0][0]
    before, _ = fresh.pair_features(view, TEST_DRAFT, query["text"][0])
    cited, plain = PAIR_FEATURES.index("cited_bm25_log"), PAIR_FEATURES.index("bm25_log")
    assert np.allclose(before[:, cited], before[:, plain])  # nothing cited: the draft's own BM25
    assert index.section_ids[int(np.argmax(before[:, column]))] != target
    citing = pd.DataFrame(
        {
            "opinion_id": ["A", "B"],
            "draft_id": [TEST_DRAFT] * 2,
            "location": [target, f"{target}について"],
            "text": [
                "雪下ろしで窓口が閉まる日の申請期限を示されたい。",
                "豪雪地帯では雪下ろしの時期に来庁できない。",
            ],
        }
    )
    fresh.cite(pd.concat([citing, query], ignore_index=True))
    after, _ = fresh.pair_features(view, TEST_DRAFT, query["text"][0])
    assert index.section_ids[int(np.argmax(after[:, column]))] == target


def test_citation_digest_follows_the_citing_opinions_not_their_order() -> None:
    frame = pd.DataFrame(
        {
            "draft_id": ["d1", "d1", "d2"],
            "location": ["3.(2)", "", ""],
            "text": ["紙の申請", "手数料", "障害時"],
        }
    )
    digests = citation_digests(frame)
    assert citation_digests(frame.iloc[::-1]) == digests
    assert set(digests) == {"d1", "d2"}
    changed = frame.assign(location=["3.(1)", "", ""])
    assert citation_digests(changed)["d1"] != digests["d1"]
    assert citation_digests(changed)["d2"] == digests["d2"]
    uncited = frame.assign(text=["紙の申請", "手数料は無料に", "障害時"])  # a row with no 該当箇所
    assert citation_digests(uncited) == digests


def test_pair_rows_end_with_the_opinion_times_each_heading_path_and_section_vector(
    sample_set, embedder
) -> None:
    """After the named features: opinion ⊙ heading path, then opinion ⊙ section vector, so the
    ranker can weigh e5's dimensions for "this heading" and "this section" apart."""
    from pipeline.match import index_draft, opinion_views, pair_features

    draft = sample_set.drafts[0]
    index = index_draft(draft, embedder)
    text = "紙の申請書による受付も当面は併用できるよう経過措置を設けてほしい。"
    view = opinion_views([text], [""], embedder([text], "query"))[0]
    rows, _ = pair_features(view, index)
    dim = len(view.vector)
    assert rows.shape == (len(index.section_ids), len(PAIR_FEATURES) + 2 * dim)
    by_heading, by_section = rows[:, -2 * dim : -dim], rows[:, -dim:]
    np.testing.assert_allclose(by_heading, index.heading_vectors * view.vector, atol=1e-6)
    np.testing.assert_allclose(by_section, index.section_vectors * view.vector, atol=1e-6)
    # their sums are the two cosines the named columns hold
    dense_heading = rows[:, PAIR_FEATURES.index("dense_heading")]
    dense_section = rows[:, PAIR_FEATURES.index("dense_section")]
    np.testing.assert_allclose(by_heading.sum(axis=1), dense_heading, atol=1e-5)
    np.testing.assert_allclose(by_section.sum(axis=1), dense_section, atol=1e-5)


def test_drafts_and_resolved_points_are_embedded_in_one_pass(sample_set, embedder) -> None:
    """One encoder call for every draft's headings and sentences and every resolved point (no
    text twice), and the same index as drafts embedded one by one."""
    from pipeline.match import index_draft, passage_texts
    from pipeline.suggest import build_workspace

    calls: list[list[str]] = []

    def recording(texts, prompt_name):
        calls.append(list(texts))
        return embedder(texts, prompt_name)

    drafts = list(sample_set.drafts)
    workspace = build_workspace(drafts, recording, resolved=sample_set.resolved)
    texts = [t for d in drafts for t in passage_texts(d)] + list(sample_set.resolved["text"])
    assert len(calls) == 1 and calls[0] == list(dict.fromkeys(texts))
    for draft in drafts:
        alone = index_draft(draft, embedder)
        together = workspace.drafts[draft.draft_id]
        np.testing.assert_allclose(together.section_vectors, alone.section_vectors, atol=1e-5)
        for a, b in zip(together.sentence_vectors, alone.sentence_vectors, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
