"""Experiment harness (not part of the pipeline): leave-one-draft-out for the section ranker alone.

`triage evaluate` refits the whole model per held-out draft and takes about an hour on the
training data. A matching idea that only touches the ranker does not need that: the pair rows
(one per opinion × candidate section, :func:`pipeline.suggest.pair_training_set`) do not depend on
the ranker, so this script computes them once for every labelled training opinion, keeps them in
an ``.npz`` file, and then refits only :class:`pipeline.match.SectionRanker` per held-out draft:
about 2–4 minutes a variant on 40 drafts, or seconds with ``--folds 6``.

With the configured ranker settings it reproduces `triage evaluate`'s section top-1 / top-3
(fourteenth session: 0.859 / 0.952 on 38 drafts, 0.867 / 0.957 on 40; fifteenth: 0.869 / 0.959 on
44). Variants are given on the command line. The saved rows are rebuilt by themselves when the
training data's fingerprint changes; a code or settings change that alters the pair rows
themselves needs ``--rebuild``.

Run: .venv/bin/python scripts/ranker_lodo.py [--l2 0.01 0.003] [--interaction-weight 0.5 0.7]
     [--folds 6] [--pairs .cache/ranker_pairs.npz] [--rebuild]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from pipeline.config import Config, load_config
from pipeline.match import SectionRanker
from pipeline.samples import SampleSet

ROOT = Path(__file__).resolve().parent.parent


def build_pairs(path: Path, config: Config, samples: SampleSet, fingerprint: str) -> None:
    """Compute the training set's pair rows with the configured encoder and save them, with the
    fingerprint of the data they came from."""
    from pipeline.suggest import pair_training_set, views_of
    from pipeline.train import samples_workspace

    workspace, encoder_id = samples_workspace(config, samples, progress=True)
    frame = samples.opinions.reset_index(drop=True)
    workspace.cite(frame)
    views, _ = views_of(frame, workspace)
    X, y, rows = pair_training_set(frame, views, workspace)
    drafts = frame["draft_id"].to_numpy(dtype=str)[rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        X=X,
        y=y,
        rows=rows,
        drafts=drafts,
        encoder_id=np.array(encoder_id),
        fingerprint=np.array(fingerprint),
    )
    print(
        f"{path}: {X.shape[0]:,} pair rows × {X.shape[1]} columns, "
        f"{len(np.unique(rows)):,} opinions, {len(np.unique(drafts))} drafts"
    )


def held_out_splits(
    drafts: np.ndarray, folds: int | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices: one draft held out at a time, or ``folds`` groups of drafts."""
    if folds:
        yield from GroupKFold(n_splits=folds).split(drafts, groups=drafts)
        return
    for draft in np.unique(drafts):
        yield np.flatnonzero(drafts != draft), np.flatnonzero(drafts == draft)


def top_k_hits(scores: np.ndarray, y: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Per opinion (in ``np.unique(rows)`` order): is a labelled section among its k best?

    Ties keep the pair rows' order (the draft's section order), as the pipeline's ranking does.
    """
    hits = []
    for row in np.unique(rows):
        mask = rows == row
        order = np.argsort(-scores[mask], kind="stable")[:k]
        hits.append(bool(y[mask][order].max() > 0))
    return np.array(hits)


def held_out_scores(
    X: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    drafts: np.ndarray,
    new_ranker: Callable[[], SectionRanker],
    folds: int | None = None,
) -> np.ndarray:
    """Each pair row's score from a ranker fitted without its draft."""
    scores = np.zeros(len(X))
    for train, test in held_out_splits(drafts, folds):
        ranker = new_ranker().fit(X[train], y[train], rows[train])
        scores[test] = ranker.score_pairs(X[test])
    return scores


def main() -> None:
    config = load_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=ROOT / ".cache" / "ranker_pairs.npz")
    parser.add_argument("--rebuild", action="store_true", help="Recompute the pair rows.")
    parser.add_argument("--folds", type=int, default=None, help="Groups of drafts, not LODO.")
    parser.add_argument("--l2", type=float, nargs="+", default=[config.match.l2])
    parser.add_argument(
        "--interaction-weight", type=float, nargs="+", default=[config.match.interaction_weight]
    )
    args = parser.parse_args()
    from pipeline.train import data_fingerprint, training_samples

    samples, _ = training_samples(config)
    fingerprint = data_fingerprint(samples)
    stale = args.pairs.exists() and (
        "fingerprint" not in (saved := np.load(args.pairs))
        or str(saved["fingerprint"]) != fingerprint
    )
    if stale:
        print(f"{args.pairs} was built from other training data: rebuilding")
    if args.rebuild or stale or not args.pairs.exists():
        build_pairs(args.pairs, config, samples, fingerprint)
    data = np.load(args.pairs)
    X, y, rows, drafts = data["X"], data["y"], data["rows"], data["drafts"]
    print(
        f"{len(np.unique(rows)):,} opinions with sections, {len(np.unique(drafts))} drafts, "
        f"encoder {data['encoder_id']}"
    )
    for l2, weight in itertools.product(args.l2, args.interaction_weight):
        started = time.perf_counter()
        scores = held_out_scores(
            X,
            y,
            rows,
            drafts,
            lambda l2=l2, weight=weight: SectionRanker(
                l2=l2, interaction_weight=weight, seed=config.match.seed
            ),
            folds=args.folds,
        )
        top1, top3 = (top_k_hits(scores, y, rows, k).mean() for k in (1, 3))
        print(
            f"l2 {l2:g}, interaction weight {weight:g}: top-1 {top1:.3f}, top-3 {top3:.3f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
