"""The judgement models' contracts: not-fitted errors, probabilities, column checks, neighbours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.classify import (
    CONTEXT_FEATURES,
    DESCRIBED_FEATURES,
    CategoryModel,
    DescribedModel,
    neighbour_vote,
)
from pipeline.errors import InputSchemaError, NotFittedError
from pipeline.schema import CATEGORIES


def category_frame(n: int = 70, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Feature frames whose label is written in the text: enough to check the plumbing."""
    rng = np.random.default_rng(seed)
    labels = [CATEGORIES[i % len(CATEGORIES)] for i in range(n)]
    words = {
        "shared": "収納 統一",
        "a": "声 聞く",
        "b": "他 制度",
        "c": "丁寧 配慮",
        "d": "本市 契約",
        "e": "決まる 判断",
        "f": "回答 済み",
    }
    frame = pd.DataFrame(
        {"tokens": [f"{words[c]} 意見" for c in labels], "text": [words[c] for c in labels]}
    )
    for name in CONTEXT_FEATURES:
        frame[name] = rng.normal(size=n)
    for i in range(4):
        frame[f"emb_{i}"] = rng.normal(size=n)
    return frame, labels


def test_category_model_learns_and_calibrates() -> None:
    frame, labels = category_frame()
    groups = [f"g{i % 3}" for i in range(len(labels))]
    model = CategoryModel(C=10.0).fit(frame, labels, groups=groups)
    proba = model.predict_proba(frame)
    assert proba.shape == (len(frame), len(CATEGORIES))
    assert np.allclose(proba.sum(axis=1), 1)
    assert np.mean(model.predict(frame) == np.array(labels)) > 0.95


def test_embedding_weight_scales_the_embedding_block() -> None:
    """Weight 0 silences the embeddings (as if left out); a larger one lets a label that only
    the embedding carries be learned."""
    frame, labels = category_frame(seed=1)
    frame["text"] = frame["tokens"] = "意見"  # no word says the label: only emb_0 does
    frame["emb_0"] = [CATEGORIES.index(c) == 1 for c in labels]
    frame[list(CONTEXT_FEATURES)] = 0.0
    groups = [f"g{i % 3}" for i in range(len(labels))]

    is_a = np.array(labels) == "a"

    def separation(weight: float) -> float:
        """How much more probable ``a`` is on the ``a`` rows than on the others."""
        model = CategoryModel(C=10.0, embedding_weight=weight).fit(frame, labels, groups=groups)
        p_a = model.predict_proba(frame)[:, CATEGORIES.index("a")]
        return float(p_a[is_a].mean() - p_a[~is_a].mean())

    assert abs(separation(0.0)) < 0.01 and separation(1.0) > 0.3


def test_category_model_before_fit() -> None:
    frame, _ = category_frame()
    with pytest.raises(NotFittedError, match="CategoryModel is not fitted yet: call fit"):
        CategoryModel().predict_proba(frame)


def test_category_model_names_missing_columns() -> None:
    frame, labels = category_frame()
    with pytest.raises(InputSchemaError, match=r"missing \['tokens'\]"):
        CategoryModel().fit(frame.drop(columns=["tokens"]), labels)


def test_unknown_labels_are_refused() -> None:
    frame, labels = category_frame()
    with pytest.raises(InputSchemaError, match="labels must be among"):
        CategoryModel().fit(frame, ["zzz", *labels[1:]])


def test_neighbour_vote_skips_the_own_group() -> None:
    memory = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    labels = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    queries = np.array([[1, 0]], dtype=np.float32)
    vote, _ = neighbour_vote(queries, memory, labels, k=1)[0]
    assert vote in (0.0, 1.0)
    skipped = neighbour_vote(
        queries,
        memory,
        labels,
        k=1,
        query_groups=np.array(["a"]),
        memory_groups=np.array(["a", "b", "b"]),
    )
    assert skipped[0, 0] == 0.0  # only row 1 (label 0) of another group is that close


def test_described_model_uses_features_and_neighbours() -> None:
    rng = np.random.default_rng(1)
    n = 120
    y = np.array(["yes" if i % 2 else "no" for i in range(n)])
    frame = pd.DataFrame({name: rng.normal(size=n) for name in DESCRIBED_FEATURES})
    frame["evidence_cos"] = (y == "yes") + rng.normal(scale=0.3, size=n)
    for i in range(3):
        frame[f"emb_{i}"] = rng.normal(size=n)
    model = DescribedModel().fit(frame, y, groups=[f"g{i % 4}" for i in range(n)])
    assert np.mean(model.predict(frame) == y) > 0.85
    with pytest.raises(NotFittedError):
        DescribedModel().predict_proba(frame)
