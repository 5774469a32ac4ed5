"""Leave-one-draft-out evaluation of the suggestion models, with baselines.

Each draft in turn is held out; the models are trained on the others and judged on it, so every
figure says how the pipeline does on a draft it has never seen (the situation of a new round).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from tqdm.auto import tqdm

from pipeline.classify import CategoryModel
from pipeline.config import Config
from pipeline.match import PAIR_FEATURES
from pipeline.schema import CATEGORIES, CATEGORY_NAMES_JA
from pipeline.suggest import (
    Workspace,
    batch_features,
    fit_triage,
    suggestions_from_features,
    views_of,
)

GOLD = ("category", "sections", "described", "verdict", "resolved_id")


@dataclass
class Evaluation:
    """Predictions with gold labels, the headline metrics and the baselines table."""

    predictions: pd.DataFrame
    metrics: dict[str, float]
    baselines: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)
    confusion: np.ndarray | None = None


def _top_k(sections: pd.Series, gold: pd.Series, k: int) -> float:
    hits = [
        any(s in g for s in str(pred).split(";")[:k])
        for pred, g in zip(sections, gold, strict=True)
        if len(g)
    ]
    return float(np.mean(hits)) if hits else float("nan")


def metrics_of(pred: pd.DataFrame, threshold: float = 0.5) -> dict[str, float]:
    """Headline metrics of predictions joined with ``gold_*`` columns."""
    shared = pred["gold_category"] == "shared"
    return {
        "category_macro_f1": float(
            f1_score(
                pred["gold_category"], pred["category"], average="macro", labels=list(CATEGORIES)
            )
        ),
        "category_accuracy": float(accuracy_score(pred["gold_category"], pred["category"])),
        "shared_vs_excluded_accuracy": float(np.mean((pred["category"] == "shared") == shared)),
        "verdict_accuracy": float(accuracy_score(pred["gold_verdict"], pred["verdict"])),
        "section_top1": _top_k(pred["sections"], pred["gold_sections"], 1),
        "section_top3": _top_k(pred["sections"], pred["gold_sections"], 3),
        "judgement2_accuracy": float(
            np.mean(
                (pred.loc[shared, "p_described"] >= threshold)
                == (pred.loc[shared, "gold_described"] == "yes")
            )
        ),
        "n_opinions": float(len(pred)),
    }


def _rank_by(features: list[np.ndarray], ids: list[list[str]], column: str) -> list[str]:
    j = PAIR_FEATURES.index(column)
    return [
        ";".join(np.array(i)[np.argsort(-f[:, j], kind="stable")[:3]])
        for f, i in zip(features, ids, strict=True)
    ]


def leave_one_draft_out(
    labelled: pd.DataFrame,
    workspace: Workspace,
    config: Config,
    *,
    progress: bool = True,
    category_variants: dict[str, Callable[[], CategoryModel]] | None = None,
) -> Evaluation:
    """Train on all drafts but one, predict the held-out one, for every draft.

    ``category_variants`` (name → unfitted model) are fitted on the same features per fold, for
    the baselines table.
    """
    variants = category_variants if category_variants is not None else default_variants(config)
    frames: list[pd.DataFrame] = []
    baseline_rows: list[pd.DataFrame] = []
    drafts = sorted(labelled["draft_id"].astype(str).unique())
    for draft_id in tqdm(drafts, desc="leave-one-draft-out", disable=not progress):
        train = labelled[labelled["draft_id"] != draft_id].reset_index(drop=True)
        test = labelled[labelled["draft_id"] == draft_id].reset_index(drop=True)
        model = fit_triage(train, workspace, config)
        features = batch_features(
            test,
            workspace,
            model.ranker,
            top_k=config.match.top_k,
            feature_mode=config.text.feature_mode,
        )
        pred = suggestions_from_features(model, test, features)
        for column in GOLD:
            pred[f"gold_{column}"] = test[column].to_numpy()
        pred["hint_ids"] = [";".join(m.hint_ids) for m in features.matches]
        pred["evidence_cos"] = features.described["evidence_cos"].to_numpy()
        frames.append(pred)

        # baselines on the same fold
        pairs = [
            workspace.pair_features(v, draft_id, t)
            for v, t in zip(features.views, test["text"].astype(str), strict=True)
        ]
        ids = [workspace.drafts[draft_id].section_ids] * len(test)
        fold = pd.DataFrame({"opinion_id": test["opinion_id"], "draft_id": draft_id})
        fold["bm25"] = _rank_by([p[0] for p in pairs], ids, "bm25_norm")
        fold["dense"] = _rank_by([p[0] for p in pairs], ids, "dense_sentence")
        fold["hint"] = [";".join(m.hint_ids[:3]) for m in features.matches]
        train_cat, train_desc = model.training_features  # type: ignore[misc]
        for name, make in variants.items():
            fold[f"cat_{name}"] = (
                make()
                .fit(train_cat, train["category"].tolist(), groups=train["draft_id"].tolist())
                .predict(features.category)
            )
        shared_train = (train["category"] == "shared").to_numpy()
        threshold = _best_threshold(
            train_desc.loc[shared_train, "evidence_cos"].to_numpy(),
            (train.loc[shared_train, "described"] == "yes").to_numpy(),
        )
        fold["cos_threshold_described"] = features.described["evidence_cos"].to_numpy() >= threshold
        baseline_rows.append(fold)
    predictions = pd.concat(frames, ignore_index=True)
    base = pd.concat(baseline_rows, ignore_index=True)
    return _judge(predictions, base, config.suggest.described_threshold)


def _judge(pred: pd.DataFrame, base: pd.DataFrame, threshold: float, **extra: float) -> Evaluation:
    """Metrics, baselines table, per-class report and confusion matrix of judged predictions."""
    metrics = metrics_of(pred, threshold)
    metrics.update(_hint_breakdown(pred))
    metrics.update(extra)
    table = _baseline_table(pred, base, metrics)
    report = classification_report(
        pred["gold_category"],
        pred["category"],
        labels=list(CATEGORIES),
        output_dict=True,
        zero_division=0,
    )
    confusion = confusion_matrix(pred["gold_category"], pred["category"], labels=list(CATEGORIES))
    return Evaluation(pred, metrics, table, report, confusion)


def default_variants(config: Config) -> dict[str, Callable[[], CategoryModel]]:
    c = config.classify
    common = {
        "C": c.C,
        "calibration_folds": c.calibration_folds,
        "seed": c.seed,
        "char_ngram_max": c.char_ngram_max,
    }
    return {
        "tfidf": lambda: CategoryModel(**common, use_embeddings=False, use_context=False),
        "embeddings": lambda: CategoryModel(
            **common, use_tfidf=False, use_char_ngrams=False, use_context=False
        ),
        "tfidf+embeddings": lambda: CategoryModel(
            **common, embedding_weight=c.embedding_weight, use_context=False
        ),
    }


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    candidates = np.unique(scores)
    accuracy = [np.mean((scores >= t) == truth) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))]) if len(candidates) else 0.5


def _hint_breakdown(pred: pd.DataFrame) -> dict[str, float]:
    """Top-1 where the 該当箇所 hint is missing, right, or wrong: the matcher must win on the last two."""
    out: dict[str, float] = {}
    has_gold = pred["gold_sections"].map(len) > 0
    first_hint = pred["hint_ids"].str.split(";").str[0]
    hint_right = [h in g for h, g in zip(first_hint, pred["gold_sections"], strict=True)]
    groups = {
        "hint_missing": (pred["hint_ids"] == "") & has_gold,
        "hint_right": (pred["hint_ids"] != "") & has_gold & pd.Series(hint_right),
        "hint_wrong": (pred["hint_ids"] != "") & has_gold & ~pd.Series(hint_right),
    }
    for name, mask in groups.items():
        out[f"section_top1_{name}"] = _top_k(
            pred.loc[mask, "sections"], pred.loc[mask, "gold_sections"], 1
        )
        out[f"n_{name}"] = float(mask.sum())
    return out


def _baseline_table(
    pred: pd.DataFrame, base: pd.DataFrame, metrics: dict[str, float]
) -> pd.DataFrame:
    gold = pred["gold_category"]
    majority = gold.value_counts().idxmax()
    rows = [
        (
            "Judgement I macro-F1",
            "majority class",
            f1_score(
                gold,
                [majority] * len(gold),
                average="macro",
                labels=list(CATEGORIES),
                zero_division=0,
            ),
        ),
    ]
    for name in ("tfidf", "embeddings", "tfidf+embeddings"):
        if f"cat_{name}" in base:
            rows.append(
                (
                    "Judgement I macro-F1",
                    name,
                    f1_score(
                        gold,
                        base[f"cat_{name}"],
                        average="macro",
                        labels=list(CATEGORIES),
                        zero_division=0,
                    ),
                )
            )
    rows.append(
        (
            "Judgement I macro-F1",
            "tfidf+embeddings+draft context (ours)",
            metrics["category_macro_f1"],
        )
    )
    has_hint = pred["hint_ids"] != ""
    rows += [
        ("section top-1", "BM25 (Sudachi mode A)", _top_k(base["bm25"], pred["gold_sections"], 1)),
        ("section top-1", "dense (best sentence)", _top_k(base["dense"], pred["gold_sections"], 1)),
        (
            "section top-1",
            "該当箇所 hint alone, where present",
            _top_k(base.loc[has_hint, "hint"], pred.loc[has_hint, "gold_sections"], 1),
        ),
        ("section top-1", "fused ranker (ours)", metrics["section_top1"]),
        (
            "section top-1 where hint present",
            "fused ranker (ours)",
            _top_k(pred.loc[has_hint, "sections"], pred.loc[has_hint, "gold_sections"], 1),
        ),
        ("section top-3", "BM25 (Sudachi mode A)", _top_k(base["bm25"], pred["gold_sections"], 3)),
        ("section top-3", "dense (best sentence)", _top_k(base["dense"], pred["gold_sections"], 3)),
        ("section top-3", "fused ranker (ours)", metrics["section_top3"]),
    ]
    shared = (pred["gold_category"] == "shared").to_numpy()
    truth = (pred.loc[shared, "gold_described"] == "yes").to_numpy()
    if "cos_threshold_described" in base:
        rows.append(
            (
                "Judgement II accuracy",
                "cosine threshold (tuned on training drafts)",
                float(np.mean(base.loc[shared, "cos_threshold_described"].to_numpy() == truth)),
            )
        )
    rows.append(
        ("Judgement II accuracy", "calibrated model (ours)", metrics["judgement2_accuracy"])
    )
    return pd.DataFrame(rows, columns=["task", "method", "score"])


def confusion_figure(confusion: np.ndarray, path: str) -> None:
    """Save the 7-class confusion matrix as a PNG with Japanese labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib_fontja  # noqa: F401  (registers IPAexGothic)
    from matplotlib.figure import Figure

    labels = [CATEGORY_NAMES_JA[c] for c in CATEGORIES]
    figure = Figure(figsize=(7.5, 6.5), dpi=120)
    ax = figure.subplots()
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("提案（モデル）")
    ax.set_ylabel("正解ラベル")
    ax.set_title("判断Ⅰ 混同行列（方針案ごとの交差検証）")
    high = confusion.max() / 2 if confusion.size else 0
    for (i, j), value in np.ndenumerate(confusion):
        ax.text(
            j, i, str(value), ha="center", va="center", color="white" if value > high else "black"
        )
    figure.tight_layout()
    figure.savefig(path)


def evaluate_scored(
    scored: pd.DataFrame,
    labelled: pd.DataFrame,
    workspace: Workspace,
    *,
    threshold: float = 0.5,
) -> Evaluation:
    """Judge what ``triage score`` wrote for a labelled export the models never saw.

    ``scored`` is the score output (DATA_FORMATS.md §4, sections joined by ``;``); ``labelled``
    the same opinions with their gold labels (as from :func:`pipeline.samples.load_samples`);
    ``workspace`` indexes the same drafts, for the untrained baselines (BM25, dense, the hint
    alone; the cosine threshold is left out: it needs training drafts).
    """
    gold = labelled.set_index("opinion_id")
    pred = scored[scored["opinion_id"].isin(gold.index)].reset_index(drop=True)
    missing = sorted(set(gold.index) - set(pred["opinion_id"]))
    for column in GOLD:
        pred[f"gold_{column}"] = gold.loc[pred["opinion_id"], column].to_numpy()
    pred["gold_sections"] = pred["gold_sections"].map(lambda s: list(s) if len(s) else [])
    pred["sections"] = pred["sections"].fillna("").astype(str)
    texts = gold.loc[pred["opinion_id"], "text"].astype(str).tolist()
    locations = gold.loc[pred["opinion_id"], "location"].fillna("").astype(str).tolist()
    views, _ = views_of(pd.DataFrame({"text": texts, "location": locations}), workspace)
    pairs = [
        workspace.pair_features(v, str(d), t)
        for v, d, t in zip(views, pred["draft_id"], texts, strict=True)
    ]
    pred["hint_ids"] = [";".join(p[1]) for p in pairs]
    ids = [workspace.drafts[str(d)].section_ids for d in pred["draft_id"]]
    base = pd.DataFrame({"opinion_id": pred["opinion_id"]})
    base["bm25"] = _rank_by([p[0] for p in pairs], ids, "bm25_norm")
    base["dense"] = _rank_by([p[0] for p in pairs], ids, "dense_sentence")
    base["hint"] = [";".join(p[1][:3]) for p in pairs]
    return _judge(pred, base, threshold, n_missing_from_output=float(len(missing)))
