"""Suggestions for a batch of opinions: category, sections, p_described, resolved point, groups.

This room joins the text, encoder, match and classify rooms. It knows nothing of files or the CLI:
it takes frames and drafts and returns frames with the columns of DATA_FORMATS.md §4.

Training (:func:`fit_triage`) is here too because the three models depend on each other: the
category and Judgement II models learn from what the ranker finds, so they are trained on the
ranker's *out-of-fold* matches (folds by draft), the same kind of matches they will see on a new
draft.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import GroupKFold

from pipeline.classify import CategoryModel, DescribedModel
from pipeline.config import Config
from pipeline.errors import InputSchemaError
from pipeline.flowchart import suggested_verdict
from pipeline.match import (
    PAIR_FEATURES,
    DraftIndex,
    Embedder,
    OpinionView,
    ResolvedIndex,
    SectionMatch,
    SectionRanker,
    best_sections,
    citation_index,
    closest_resolved,
    index_draft,
    index_resolved,
    opinion_views,
    pair_features,
    passage_texts,
)
from pipeline.schema import (
    CATEGORIES,
    OPINION_DETAIL_COLUMNS,
    SUGGESTION_COLUMNS,
    SUGGESTION_EXTRA_COLUMNS,
    Draft,
)
from pipeline.text import content_words, normalized_forms

REQUIRES = ("opinion_id", "draft_id", "text")
ASSIGNS = SUGGESTION_COLUMNS + SUGGESTION_EXTRA_COLUMNS

_CONSIDERATION = re.compile(
    r"検討|在り方|あり方|見直し|整理する|調整する|結論を得る|協議する|研究する"
)
_CONCLUSION = re.compile(
    r"(とする|を行う|する|実施する|整備する|対象とする|負担する|開始する|活用する|提供する)。?$"
)

_I = {name: i for i, name in enumerate(PAIR_FEATURES)}


# --- the per-batch workspace --------------------------------------------------------------------


def _locations(frame: pd.DataFrame) -> list[str]:
    return [
        str(x) if isinstance(x, str) else ""
        for x in frame.get("location", pd.Series([""] * len(frame)))
    ]


def _cited_rows(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(draft_id, 該当箇所, text) of every opinion; the 該当箇所 may be empty."""
    return list(
        zip(
            frame["draft_id"].astype(str),
            _locations(frame),
            frame["text"].astype(str),
            strict=True,
        )
    )


def citation_digests(frame: pd.DataFrame) -> dict[str, str]:
    """Per draft, a fingerprint of what its citation index is built from (the export's opinions
    that give a 該当箇所): a suggestion depends on them, so cached rows are keyed by it."""
    cited: dict[str, list[str]] = {}
    for draft_id, location, text in _cited_rows(frame):
        cited.setdefault(draft_id, [])
        if location.strip():
            cited[draft_id].append(f"{location}\0{text}")
    return {
        draft_id: hashlib.sha256("\0\0".join(sorted(rows)).encode()).hexdigest()
        for draft_id, rows in cited.items()
    }


@dataclass
class Workspace:
    """Indexes of the drafts and resolved points in play, built once per scoring run, and the
    citation indexes of the export being scored (:meth:`cite`)."""

    embedder: Embedder
    drafts: dict[str, DraftIndex]
    resolved: dict[str, ResolvedIndex] = field(default_factory=dict)
    match_mode: str = "A"
    #: Pair features per (draft, citations, text, location): training refits the ranker on several
    #: folds on the same opinions.
    _pairs: dict[tuple[str, str, str, str], tuple[np.ndarray, list[str]]] = field(
        default_factory=dict
    )
    #: Per draft, the CitationBM25 of the export's opinions, and the digest
    #: (:func:`citation_digests`) of what it was built from.
    citations: dict[str, Any] = field(default_factory=dict)
    _cited: dict[str, str] = field(default_factory=dict)

    #: Keep the pair-feature cache above; training turns it on, batch scoring leaves it off so
    #: memory stays flat however many opinions an export holds.
    memoize: bool = False

    def cite(self, frame: pd.DataFrame) -> None:
        """Build each draft's :func:`~pipeline.match.citation_index` from ``frame``'s opinions
        (drafts ``frame`` does not mention keep theirs; an unchanged set is not rebuilt).

        Scoring in chunks calls it once with the *whole* export, so every chunk sees the same
        citations and a row does not depend on where the chunks were cut.
        """
        digests = citation_digests(frame)
        todo = {
            d for d, digest in digests.items() if d in self.drafts and self._cited.get(d) != digest
        }
        if not todo:
            return
        cited: dict[str, list[tuple[str, list[str]]]] = {d: [] for d in todo}
        for draft_id, location, text in _cited_rows(frame):
            if draft_id not in todo or not location.strip():
                continue
            hint_ids = self.drafts[draft_id].resolve(location)
            if len(hint_ids) == 1:
                cited[draft_id].append((hint_ids[0], content_words(text, mode=self.match_mode)))
        for draft_id in todo:
            self.citations[draft_id] = citation_index(self.drafts[draft_id], cited[draft_id])
            self._cited[draft_id] = digests[draft_id]

    def pair_features(
        self, view: OpinionView, draft_id: str, text: str
    ) -> tuple[np.ndarray, list[str]]:
        citations = self.citations.get(draft_id)
        if not self.memoize:
            return pair_features(view, self.drafts[draft_id], citations)
        key = (draft_id, self._cited.get(draft_id, ""), text, view.location)
        if key not in self._pairs:
            self._pairs[key] = pair_features(view, self.drafts[draft_id], citations)
        return self._pairs[key]


def build_workspace(
    drafts: Sequence[Draft],
    embedder: Embedder,
    *,
    resolved: pd.DataFrame | None = None,
    match_mode: str = "A",
    memoize: bool = False,
) -> Workspace:
    """Index every draft (and its resolved points, matched to drafts by ``draft_id``).

    All their texts are embedded in one pass before the drafts are indexed: a draft's headings
    and sentences are short, and encoded draft by draft they filled batches badly and repeated
    the headings drafts share (「目的」「推進体制」); one pass over six drafts took 7.3 s instead of
    10.0 s (benchmarks/, tenth session)."""
    resolved_texts = [] if resolved is None else [str(t) for t in resolved["text"]]
    passages = embedded_once(
        embedder, [t for d in drafts for t in passage_texts(d)] + resolved_texts, "passage"
    )
    indexes = {d.draft_id: index_draft(d, passages, match_mode=match_mode) for d in drafts}
    resolved_indexes: dict[str, ResolvedIndex] = {}
    if resolved is not None and len(resolved):
        for draft_id, rows in resolved.groupby("draft_id", sort=False):
            resolved_indexes[str(draft_id)] = index_resolved(
                list(rows["resolved_id"]), list(rows["text"]), passages
            )
    return Workspace(embedder, indexes, resolved_indexes, match_mode, memoize=memoize)


def embedded_once(embedder: Embedder, texts: Sequence[str], prompt_name: str) -> Embedder:
    """An embedder that answers from one call of ``embedder`` on ``texts`` (with
    ``prompt_name``) and passes anything else through."""
    unique = list(dict.fromkeys(texts))
    known = dict(zip(unique, embedder(unique, prompt_name), strict=True)) if unique else {}

    def lookup(batch: Sequence[str], prompt: str) -> np.ndarray:
        if not batch or prompt != prompt_name or any(t not in known for t in batch):
            return embedder(batch, prompt)
        return np.stack([known[t] for t in batch])

    return lookup


def _check(frame: pd.DataFrame, workspace: Workspace) -> None:
    missing = [c for c in REQUIRES if c not in frame.columns]
    if missing:
        raise InputSchemaError(
            f"suggest requires columns {list(REQUIRES)}; missing {missing}, found {list(frame.columns)}."
        )
    unknown = sorted(set(frame["draft_id"].astype(str)) - set(workspace.drafts))
    if unknown:
        raise InputSchemaError(
            f"opinions name drafts that were not given: {unknown[:5]}. Pass them with --draft "
            f"(given: {sorted(workspace.drafts)})."
        )


def views_of(frame: pd.DataFrame, workspace: Workspace) -> tuple[list[OpinionView], np.ndarray]:
    texts = [str(t) for t in frame["text"]]
    locations = _locations(frame)
    vectors = workspace.embedder(texts, "query")
    return opinion_views(texts, locations, vectors, match_mode=workspace.match_mode), vectors


# --- features -----------------------------------------------------------------------------------


def _context_row(
    match: SectionMatch, view: OpinionView, resolved: tuple[str, str, float, float], text: str
) -> dict[str, float]:
    feats = match.best_features
    return {
        "ctx_dense_section_max": float(feats[_I["dense_section"]] - feats[_I["dense_section_gap"]]),
        "ctx_dense_sentence_max": float(
            feats[_I["dense_sentence"]] - feats[_I["dense_sentence_gap"]]
        ),
        "ctx_bm25_max": float(feats[_I["bm25_log"]]),
        "ctx_rank_top": match.scores[0],
        "ctx_rank_gap": match.scores[0] - (match.scores[1] if len(match.scores) > 1 else 0.0),
        "ctx_resolved_cos": resolved[2],
        "ctx_resolved_overlap": resolved[3],
        "ctx_has_hint": 1.0 if view.location.strip() else 0.0,
        "ctx_hint_resolves": 1.0 if match.hint_ids else 0.0,
        "ctx_length": float(np.log1p(len(text))),
    }


def _described_row(match: SectionMatch, index: DraftIndex) -> dict[str, float]:
    feats = match.best_features
    best = index.section_ids.index(match.section_ids[0])
    section = index.draft.sections[best]
    return {
        "evidence_cos": match.evidence_similarity,
        "section_cos": float(feats[_I["dense_section"]]),
        "rank_top": match.scores[0],
        "rank_second": match.scores[1] if len(match.scores) > 1 else 0.0,
        "bm25_norm": float(feats[_I["bm25_norm"]]),
        "overlap": float(feats[_I["overlap"]]),
        "heading_overlap": float(feats[_I["heading_overlap"]]),
        "hint_exact": float(feats[_I["hint_exact"]]),
        "evidence_consideration": 1.0 if _CONSIDERATION.search(match.evidence) else 0.0,
        "evidence_conclusion": 1.0 if _CONCLUSION.search(match.evidence.strip()) else 0.0,
        "section_consideration": 1.0 if _CONSIDERATION.search(section.text) else 0.0,
        "section_length": float(np.log1p(len(section.text))),
        "rank_gap": match.scores[0] - (match.scores[1] if len(match.scores) > 1 else 0.0),
        "dense_gap": float(feats[_I["dense_sentence_gap"]]),
        "cited_gain": float(feats[_I["cited_bm25_log"]] - feats[_I["bm25_log"]]),
        "cited_z": float(feats[_I["cited_bm25_z"]]),
    }


@dataclass
class BatchFeatures:
    """Everything the judgement models need for a batch, plus what the output rows show."""

    category: pd.DataFrame
    described: pd.DataFrame
    matches: list[SectionMatch]
    resolved: list[tuple[str, str, float, float]]
    vectors: np.ndarray
    views: list[OpinionView]


def batch_features(
    frame: pd.DataFrame,
    workspace: Workspace,
    ranker: SectionRanker,
    *,
    top_k: int = 3,
    feature_mode: str = "C",
    views: list[OpinionView] | None = None,
    vectors: np.ndarray | None = None,
    cite: bool = True,
) -> BatchFeatures:
    """Match every opinion and build the category and Judgement II feature frames.

    ``cite``: first build the drafts' citation indexes from ``frame`` (:meth:`Workspace.cite`);
    pass False when ``frame`` is a part of an export the workspace was already cited with.
    """
    if cite:
        workspace.cite(frame)
    if views is None or vectors is None:
        views, vectors = views_of(frame, workspace)
    matches: list[SectionMatch] = []
    resolved: list[tuple[str, str, float, float]] = []
    category_rows: list[dict[str, Any]] = []
    described_rows: list[dict[str, float]] = []
    evidence_vectors: list[np.ndarray] = []
    draft_ids = frame["draft_id"].astype(str).tolist()
    texts = frame["text"].astype(str).tolist()
    pairs = [
        workspace.pair_features(view, draft_id, text)
        for view, draft_id, text in zip(views, draft_ids, texts, strict=True)
    ]
    # One ranker call for the whole batch: per-opinion calls cost more than the scoring itself.
    all_scores = ranker.score_pairs(np.vstack([p[0] for p in pairs])) if pairs else np.zeros(0)
    bounds = np.cumsum([0] + [len(p[0]) for p in pairs])
    for i, (view, draft_id, text, reason) in enumerate(
        zip(
            views,
            draft_ids,
            texts,
            frame.get("reason", pd.Series([""] * len(frame))),
            strict=True,
        )
    ):
        index = workspace.drafts[draft_id]
        match = best_sections(
            view,
            index,
            ranker,
            top_k=top_k,
            features=pairs[i],
            scores=all_scores[bounds[i] : bounds[i + 1]],
        )
        close = closest_resolved(view, workspace.resolved.get(draft_id))
        matches.append(match)
        resolved.append(close)
        full_text = text if not isinstance(reason, str) or not reason else f"{text}\n{reason}"
        category_rows.append(
            {
                "tokens": " ".join(
                    view.forms
                    if feature_mode == "C" and full_text == text and view.forms
                    else normalized_forms(full_text, mode=feature_mode)
                ),
                "text": full_text,
                **_context_row(match, view, close, text),
            }
        )
        described_rows.append(_described_row(match, index))
        best = index.section_ids.index(match.section_ids[0])
        sentence = index.sentences[best].index(match.evidence)
        evidence_vectors.append(index.sentence_vectors[best][sentence])
    dim = vectors.shape[1] if len(vectors) else 0
    emb = pd.DataFrame(vectors, columns=[f"emb_{i}" for i in range(dim)], index=frame.index)
    evd = pd.DataFrame(
        np.array(evidence_vectors).reshape(len(frame), dim),
        columns=[f"evd_{i}" for i in range(dim)],
        index=frame.index,
    )
    category = pd.concat([pd.DataFrame(category_rows, index=frame.index), emb], axis=1)
    described = pd.concat([pd.DataFrame(described_rows, index=frame.index), emb, evd], axis=1)
    return BatchFeatures(category, described, matches, resolved, vectors, views)


# --- the model bundle ---------------------------------------------------------------------------


@dataclass
class TriageModel:
    """The three fitted models and what produced them; ``version`` goes into every output row."""

    ranker: SectionRanker
    category: CategoryModel
    described: DescribedModel
    config: Config
    encoder_id: str
    version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Out-of-fold feature frames the judgement models were fit on (evaluation only; not saved).
    training_features: tuple[pd.DataFrame, pd.DataFrame] | None = field(default=None, repr=False)


def pair_training_set(
    frame: pd.DataFrame, views: Sequence[OpinionView], workspace: Workspace
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, row index) over every section of each labelled opinion's draft."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    for position, (view, draft_id, gold, text) in enumerate(
        zip(
            views,
            frame["draft_id"].astype(str),
            frame["sections"],
            frame["text"].astype(str),
            strict=True,
        )
    ):
        if not gold:
            continue
        index = workspace.drafts[draft_id]
        features, _ = workspace.pair_features(view, draft_id, str(text))
        xs.append(features)
        ys.append(np.array([1 if sid in gold else 0 for sid in index.section_ids]))
        rows.append(np.full(len(index.section_ids), position))
    if not xs:
        raise InputSchemaError(
            "no labelled opinion has sections: the ranker has nothing to learn from."
        )
    return np.vstack(xs), np.concatenate(ys), np.concatenate(rows)


def _new_ranker(config: Config) -> SectionRanker:
    """An unfitted section ranker with the ``match`` settings (the final one and each fold's)."""
    m = config.match
    return SectionRanker(l2=m.l2, interaction_weight=m.interaction_weight, seed=m.seed)


def fit_triage(
    labelled: pd.DataFrame, workspace: Workspace, config: Config, *, encoder_id: str = ""
) -> TriageModel:
    """Fit ranker, category and Judgement II models on labelled opinions.

    ``labelled`` has the opinion columns plus ``category``, ``sections`` (list of ids) and
    ``described`` ("yes"/"no"/None), as in ``data/samples/labels.jsonl``.
    """
    _check(labelled, workspace)
    frame = labelled.reset_index(drop=True)
    workspace.cite(frame)
    views, vectors = views_of(frame, workspace)
    X, y, rows = pair_training_set(frame, views, workspace)
    ranker = _new_ranker(config).fit(X, y, rows)

    # Out-of-fold matches: the category and Judgement II models must learn from matches made by a
    # ranker that never saw the opinion's draft, as will happen on a new draft.
    groups = frame["draft_id"].astype(str).to_numpy()
    n_groups = len(set(groups))
    if n_groups >= 2:
        category_parts, described_parts = [], []
        for train_idx, test_idx in GroupKFold(n_splits=min(5, n_groups)).split(
            frame, groups=groups
        ):
            mask = np.isin(rows, train_idx)
            fold_ranker = _new_ranker(config).fit(X[mask], y[mask], rows[mask])
            part = batch_features(
                frame.iloc[test_idx],
                workspace,
                fold_ranker,
                top_k=config.match.top_k,
                feature_mode=config.text.feature_mode,
                views=[views[i] for i in test_idx],
                vectors=vectors[test_idx],
                cite=False,
            )
            category_parts.append(part.category)
            described_parts.append(part.described)
        category_X = pd.concat(category_parts).loc[frame.index]
        described_X = pd.concat(described_parts).loc[frame.index]
    else:
        full = batch_features(
            frame,
            workspace,
            ranker,
            top_k=config.match.top_k,
            feature_mode=config.text.feature_mode,
            views=views,
            vectors=vectors,
            cite=False,
        )
        category_X, described_X = full.category, full.described

    c = config.classify
    category = CategoryModel(
        C=c.C,
        use_embeddings=c.use_embeddings,
        embedding_weight=c.embedding_weight,
        use_tfidf=c.use_tfidf,
        use_char_ngrams=c.use_char_ngrams,
        char_ngram_max=c.char_ngram_max,
        calibration_folds=c.calibration_folds,
        seed=c.seed,
    ).fit(category_X, frame["category"].tolist(), groups=groups)
    shared = (frame["category"] == "shared").to_numpy()
    described = DescribedModel(calibration_folds=c.calibration_folds, seed=c.seed).fit(
        described_X[shared], frame.loc[shared, "described"].tolist(), groups=groups[shared]
    )
    model = TriageModel(ranker, category, described, config, encoder_id)
    model.training_features = (category_X, described_X)
    return model


# --- predicting ---------------------------------------------------------------------------------


def _priority(
    top_p: float,
    category: str,
    p_described: float,
    match: SectionMatch,
    resolved_cos: float,
    cfg: Config,
) -> tuple[str, str]:
    """Where a person is needed most: (high|medium|low, reasons in Japanese)."""
    reasons: list[str] = []
    strong = False
    if top_p < cfg.suggest.low_confidence:
        reasons.append("判断Ⅰの確信度が低い")
        strong = True
    if category == "shared" and abs(p_described - cfg.suggest.described_threshold) < 0.2:
        reasons.append("判断Ⅱが僅差")
    if match.hint_ids and not any(
        s == h or s.startswith(h + ".") or h.startswith(s + ".")
        for s in match.section_ids[:1]
        for h in match.hint_ids
    ):
        reasons.append("意見の該当箇所と提案箇所が異なる")
        strong = True
    if match.scores and match.scores[0] < cfg.suggest.low_section_confidence:
        reasons.append("提案箇所の確信度が低い")
        strong = True
    if resolved_cos >= cfg.suggest.resolved_threshold and category != "f":
        reasons.append("解決済事項に類似")
    if category == "f" and resolved_cos < cfg.suggest.resolved_threshold:
        reasons.append("解決済事項を特定できない")
    if strong or len(reasons) >= 2:
        level = "high"
    elif reasons or top_p < 0.8:
        level = "medium"
    else:
        level = "low"
    return level, "・".join(reasons)


def predict_batch(
    model: TriageModel, frame: pd.DataFrame, workspace: Workspace, *, cite: bool = True
) -> pd.DataFrame:
    """Suggestion rows (DATA_FORMATS.md §4 plus review columns) for a batch of opinions.

    ``group_id``/``group_size`` are filled per batch here; :func:`assign_groups` redoes them over a
    whole export once all chunks are scored. ``cite=False``: ``frame`` is a chunk of an export
    the workspace was already cited with (see :meth:`Workspace.cite`).
    """
    _check(frame, workspace)
    cfg = model.config
    features = batch_features(
        frame,
        workspace,
        model.ranker,
        top_k=cfg.match.top_k,
        feature_mode=cfg.text.feature_mode,
        cite=cite,
    )
    return suggestions_from_features(model, frame, features)


def suggestions_from_features(
    model: TriageModel, frame: pd.DataFrame, features: BatchFeatures
) -> pd.DataFrame:
    """The suggestion rows for ``frame`` given its :func:`batch_features`."""
    cfg = model.config
    proba = model.category.predict_proba(features.category)
    p_described = model.described.predict_proba(features.described)[:, 1]
    rows: list[dict[str, Any]] = []
    for i, opinion in enumerate(frame.to_dict("records")):  # iterrows builds a Series a row
        category = CATEGORIES[int(np.argmax(proba[i]))]
        match = features.matches[i]
        resolved_id, resolved_text, resolved_cos, _ = features.resolved[i]
        level, reasons = _priority(
            float(proba[i].max()), category, float(p_described[i]), match, resolved_cos, cfg
        )
        is_f = category == "f" and bool(resolved_id)
        rows.append(
            {
                "opinion_id": opinion["opinion_id"],
                "draft_id": opinion["draft_id"],
                "category": category,
                **{f"p_{c}": round(float(proba[i][j]), 6) for j, c in enumerate(CATEGORIES)},
                "sections": ";".join(match.section_ids),
                "section_scores": ";".join(f"{s:.4f}" for s in match.scores),
                "p_described": round(float(p_described[i]), 6),
                "verdict": suggested_verdict(
                    category, float(p_described[i]), cfg.suggest.described_threshold
                ),
                "resolved_id": resolved_id if is_f else "",
                "model_version": model.version,
                **{c: _text(opinion.get(c)) for c in OPINION_DETAIL_COLUMNS},
                "evidence": match.evidence,
                "resolved_text": resolved_text if is_f else "",
                "group_id": opinion["opinion_id"],
                "group_size": 1,
                "review_priority": level,
                "priority_reasons": reasons,
            }
        )
    out = pd.DataFrame(rows, columns=list(ASSIGNS))
    return out


def _text(value: object) -> str:
    return (
        ""
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
        else str(value)
    )


def _close_pairs(vectors: np.ndarray, threshold: float, chunk: int = 1024) -> sparse.csr_matrix:
    """Sparse graph of the pairs whose cosine is at least ``threshold``, a block of rows at a time
    (a few hundred small blocks per export: plain matrix products beat a neighbour index here)."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    rows, cols = [], []
    for start in range(0, len(unit), chunk):
        block = unit[start : start + chunk] @ unit.T
        r, c = np.nonzero(block >= threshold)
        rows.append(r + start)
        cols.append(c)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(len(unit),) * 2)


def assign_groups(
    suggestions: pd.DataFrame, vectors: np.ndarray, *, threshold: float
) -> pd.DataFrame:
    """Give near-duplicate opinions one ``group_id``: the same point from several municipalities.

    Two opinions are linked when they share draft, suggested category and best section and their
    cosine is at least ``threshold``; groups are the connected components. (Cosine alone chains
    whole topics together: e5 puts most opinions on one draft above 0.9.) On the samples this
    gives groups of 2–5 whose members mostly share their gold labels. Memory grows with the
    number of close pairs (rows are compared a block at a time). ``group_id`` is the group's
    first opinion id; ``group_size`` counts distinct municipalities (or opinions without one).
    """
    ids = suggestions["opinion_id"].astype(str).to_numpy()
    municipalities = (
        suggestions["municipality"].astype(str).to_numpy()
        if "municipality" in suggestions
        else np.array([""] * len(suggestions))
    )
    group_id = ids.copy()
    group_size = np.ones(len(suggestions), dtype=int)
    keys = pd.DataFrame(
        {
            "draft_id": suggestions["draft_id"].astype(str).to_numpy(),
            "category": suggestions["category"].astype(str).to_numpy()
            if "category" in suggestions
            else "",
            "section": suggestions["sections"].astype(str).str.split(";").str[0].to_numpy()
            if "sections" in suggestions
            else "",
        }
    )
    for positions in keys.groupby(["draft_id", "category", "section"], sort=False).indices.values():
        if len(positions) < 2:
            continue
        _, labels = connected_components(
            _close_pairs(vectors[positions], threshold), directed=False
        )
        for label in np.unique(labels):
            members = positions[labels == label]
            distinct = {
                m if m else f"_{i}"
                for m, i in zip(municipalities[members], ids[members], strict=True)
            }
            group_id[members] = ids[members[0]]
            group_size[members] = len(distinct)
    return suggestions.assign(group_id=group_id, group_size=group_size)
