"""The two judgement models: Judgement I (category) and Judgement II (``p_described``).

Both are scikit-learn pipelines over precomputed features, so they stay small, fast and
serialisable with skops; the encoder and Sudachi run once per batch in ``suggest``. Probabilities
are calibrated with temperature scaling (one parameter, keeps the ranking of classes) fitted on
out-of-fold predictions; the folds follow the drafts so calibration sees drafts it was not fit on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from pipeline.errors import InputSchemaError, NotFittedError
from pipeline.schema import CATEGORIES

#: Numbers about an opinion's place in its draft that the text alone cannot show: an opinion with
#: no home in any section hints at (b); one close to a settled point hints at (f).
CONTEXT_FEATURES: tuple[str, ...] = (
    "ctx_dense_section_max",
    "ctx_dense_sentence_max",
    "ctx_bm25_max",
    "ctx_rank_top",
    "ctx_rank_gap",
    "ctx_resolved_cos",
    "ctx_resolved_overlap",
    "ctx_has_hint",
    "ctx_hint_resolves",
    "ctx_length",
)

#: Features of an opinion and its best-matching section(s) for Judgement II.
DESCRIBED_FEATURES: tuple[str, ...] = (
    "evidence_cos",
    "section_cos",
    "rank_top",
    "rank_second",
    "bm25_norm",
    "overlap",
    "heading_overlap",
    "hint_exact",
    "evidence_consideration",
    "evidence_conclusion",
    "section_consideration",
    "section_length",
    "rank_gap",
    "dense_gap",
    # How much of the best section's match comes from what *other* submitters citing it wrote
    # rather than from the draft's own words: a point the draft leaves out is found through the
    # opinions that raise it, not through the text (LODO Judgement II 0.838 → 0.853 with both).
    "cited_gain",
    "cited_z",
)


def _check_columns(frame: pd.DataFrame, required: Sequence[str], model: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputSchemaError(
            f"{model} expects columns {list(required)[:4]}…; missing {missing[:5]} "
            f"(found {list(frame.columns)[:8]}…). Build features with pipeline.suggest first."
        )


def _not_fitted(model: object, attribute: str) -> None:
    try:
        check_is_fitted(model, attribute)
    except Exception as exc:
        raise NotFittedError(
            f"This {type(model).__name__} is not fitted yet: call fit first."
        ) from exc


def _calibration_splits(
    groups: Sequence[str] | None, n: int, folds: int
) -> list[tuple[np.ndarray, np.ndarray]] | int:
    if groups is None or len(set(groups)) < 2:
        return folds
    n_splits = min(folds, len(set(groups)))
    return list(GroupKFold(n_splits=n_splits).split(np.zeros(n), groups=list(groups)))


class CategoryModel(ClassifierMixin, BaseEstimator):
    """Judgement I: ``shared`` or an exclusion a–f, from text, embeddings and draft context.

    Input is a frame with ``tokens`` (Sudachi normalised forms joined by spaces), ``text``,
    ``emb_0 … emb_{d-1}`` and the :data:`CONTEXT_FEATURES`. ``embedding_weight`` scales the
    standardised embedding block against the sparse TF-IDF ones (1 by default here, as a baseline
    uses it alone; the pipeline's config sets 0.1, where it helps the TF-IDF instead of swamping it).
    """

    def __init__(
        self,
        *,
        C: float = 4.0,
        use_embeddings: bool = True,
        use_tfidf: bool = True,
        use_char_ngrams: bool = True,
        use_context: bool = True,
        embedding_weight: float = 1.0,
        char_ngram_max: int = 3,
        calibration_folds: int = 3,
        seed: int = 0,
    ) -> None:
        self.C = C
        self.use_embeddings = use_embeddings
        self.use_tfidf = use_tfidf
        self.use_char_ngrams = use_char_ngrams
        self.use_context = use_context
        self.embedding_weight = embedding_weight
        self.char_ngram_max = char_ngram_max
        self.calibration_folds = calibration_folds
        self.seed = seed

    def _pipeline(self, embedding_columns: list[str]) -> Pipeline:
        parts: list[tuple[str, object, object]] = []
        if self.use_tfidf:
            parts.append(
                (
                    "words",
                    TfidfVectorizer(
                        token_pattern=r"\S+", ngram_range=(1, 2), min_df=2, sublinear_tf=True
                    ),
                    "tokens",
                )
            )
        if self.use_char_ngrams:
            parts.append(
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(1, self.char_ngram_max),
                        min_df=2,
                        sublinear_tf=True,
                        max_features=30000,
                    ),
                    "text",
                )
            )
        if self.use_embeddings:
            parts.append(("embedding", StandardScaler(), embedding_columns))
        if self.use_context:
            parts.append(("context", StandardScaler(), list(CONTEXT_FEATURES)))
        features = ColumnTransformer(
            parts, sparse_threshold=1.0, transformer_weights={"embedding": self.embedding_weight}
        )
        head = LogisticRegression(C=self.C, max_iter=3000, random_state=self.seed)
        return Pipeline([("features", features), ("head", head)])

    def fit(
        self, X: pd.DataFrame, y: Sequence[str], groups: Sequence[str] | None = None
    ) -> CategoryModel:
        """Fit on a feature frame and labels; ``groups`` (draft ids) shape the calibration folds."""
        self.embedding_columns_ = [c for c in X.columns if c.startswith("emb_")]
        required = ["tokens", "text", *CONTEXT_FEATURES, *self.embedding_columns_]
        _check_columns(X, required, "CategoryModel")
        unknown = sorted(set(y) - set(CATEGORIES))
        if unknown:
            raise InputSchemaError(f"labels must be among {CATEGORIES}; got {unknown}.")
        pipeline = self._pipeline(self.embedding_columns_)
        splits = _calibration_splits(groups, len(X), self.calibration_folds)
        self.model_ = CalibratedClassifierCV(
            pipeline, method="temperature", cv=splits, ensemble=False
        )
        self.model_.fit(X, np.asarray(y))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, columns in :data:`~pipeline.schema.CATEGORIES` order."""
        _not_fitted(self, "model_")
        proba = self.model_.predict_proba(X)
        out = np.zeros((len(X), len(CATEGORIES)))
        for j, label in enumerate(self.classes_):
            out[:, CATEGORIES.index(label)] = proba[:, j]
        return out / out.sum(axis=1, keepdims=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.array(CATEGORIES)[self.predict_proba(X).argmax(axis=1)]


def neighbour_vote(
    queries: np.ndarray,
    memory: np.ndarray,
    labels: np.ndarray,
    *,
    k: int,
    query_groups: np.ndarray | None = None,
    memory_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Similarity-weighted share of ``labels`` among the ``k`` nearest memory rows, and the mean
    similarity of those neighbours (how familiar the point is). Rows of the query's own group are
    skipped, so training rows are scored as a new draft's would be."""
    similarity = queries @ memory.T
    if query_groups is not None and memory_groups is not None:
        similarity = np.where(query_groups[:, None] == memory_groups[None, :], -np.inf, similarity)
    k = max(1, min(k, memory.shape[0]))
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    weights = np.maximum(np.take_along_axis(similarity, nearest, axis=1), 0.0)
    weights = np.where(np.isfinite(weights), weights, 0.0)
    vote = (labels[nearest] * weights).sum(axis=1) / (weights.sum(axis=1) + 1e-9)
    return np.column_stack([vote, weights.mean(axis=1)])


class DescribedModel(ClassifierMixin, BaseEstimator):
    """Judgement II: P(the draft already describes the direction), for ``shared`` opinions.

    Input is a frame with :data:`DESCRIBED_FEATURES` (how well the best section and its evidence
    sentence cover the opinion) and the opinion's ``emb_*`` vector. The vector feeds a
    nearest-neighbour vote over the training opinions of *other* drafts: points that drafts tend
    to leave out (a transition period for paper, the municipalities' own system costs, outages)
    recur from one draft to the next, and the vote carries that over.
    """

    def __init__(
        self,
        *,
        C: float = 0.5,
        use_neighbours: bool = True,
        neighbours: int = 10,
        calibration_folds: int = 3,
        seed: int = 0,
    ) -> None:
        self.C = C
        self.use_neighbours = use_neighbours
        self.neighbours = neighbours
        self.calibration_folds = calibration_folds
        self.seed = seed

    @staticmethod
    def _embeddings(X: pd.DataFrame) -> np.ndarray:
        return X[[c for c in X.columns if c.startswith("emb_")]].to_numpy(dtype=np.float32)

    def _matrix(self, X: pd.DataFrame, groups: np.ndarray | None = None) -> np.ndarray:
        columns = [X[list(DESCRIBED_FEATURES)].to_numpy(dtype=float)]
        if self.use_neighbours:
            columns.append(
                neighbour_vote(
                    self._embeddings(X),
                    self.memory_,
                    self.memory_labels_,
                    k=self.neighbours,
                    query_groups=groups,
                    memory_groups=self.memory_groups_ if groups is not None else None,
                )
            )
        return np.hstack(columns)

    def fit(
        self, X: pd.DataFrame, y: Sequence[str], groups: Sequence[str] | None = None
    ) -> DescribedModel:
        _check_columns(X, DESCRIBED_FEATURES, "DescribedModel")
        target = np.array([1 if v == "yes" else 0 for v in y])
        group_array = np.asarray(groups if groups is not None else np.arange(len(X))).astype(str)
        self.memory_ = self._embeddings(X)
        self.memory_labels_ = target.astype(np.float32)
        self.memory_groups_ = group_array
        pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                ("head", LogisticRegression(C=self.C, max_iter=3000, random_state=self.seed)),
            ]
        )
        splits = _calibration_splits(groups, len(X), self.calibration_folds)
        self.model_ = CalibratedClassifierCV(pipeline, method="sigmoid", cv=splits, ensemble=False)
        self.model_.fit(self._matrix(X, group_array), target)
        self.classes_ = np.array(["no", "yes"])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns ``[P(no), P(yes)]``."""
        _not_fitted(self, "model_")
        return self.model_.predict_proba(self._matrix(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]
