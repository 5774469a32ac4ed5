"""Experiment (not part of the pipeline): does fine-tuning e5 lift section matching on a new draft?

Holds one sample draft out, fine-tunes the encoder for one epoch on the other drafts' labelled
(opinion, section) pairs with a listwise loss (softmax over the draft's sections: query = the
opinion, passage = heading path + section text), then compares on the held-out draft:

- dense-only top-1/top-3 (cosine of opinion and section passage), before and after;
- the fused ranker (pipeline.match.SectionRanker) on base features, on fine-tuned features with a
  ranker trained on base features, and with a ranker trained on fine-tuned features.

One run of the same loop as a scratch script on 2026-11-28 (furusato-nozei held out, 2 busy
cores, ~18 min of training):
dense 0.553/0.748 → 0.675/0.862; fused 0.846/0.943 (base), 0.691/0.943 (base-trained ranker on
fine-tuned features), 0.837/0.935 (ranker trained on fine-tuned features).

A cross-fitted version of this loop (eighth session, scratch harness, 22 drafts: two folds of
drafts, each fold's pair features from an encoder tuned on the other fold, batches of 32 at 128
tokens, word embeddings frozen) gave dense best-sentence top-1 0.571 → 0.625 and the fused ranker
0.857 / 0.949 → 0.858 / 0.952 (tuned dense columns instead of the base ones) or 0.862 / 0.951
(both): the ranker's other signals already carry what tuning adds.

Run: .venv/bin/python scripts/experiment_finetune_fold.py [DRAFT_ID] [--epochs 1] [--save DIR]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.config import load_config
from pipeline.encoder import embedder_for, load_encoder
from pipeline.match import SectionRanker, heading_paths
from pipeline.samples import load_samples
from pipeline.suggest import build_workspace, pair_training_set, views_of

ROOT = Path(__file__).resolve().parent.parent


def top_k(scores: np.ndarray, y: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    top1, top3 = [], []
    for row in np.unique(rows):
        mask = rows == row
        order = np.argsort(-scores[mask], kind="stable")
        top1.append(y[mask][order[0]] == 1)
        top3.append(y[mask][order[:3]].max() == 1)
    return round(float(np.mean(top1)), 3), round(float(np.mean(top3)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("draft", nargs="?", default="furusato-nozei")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--save", type=Path, default=None, help="Where to keep the tuned model.")
    args = parser.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    sample = load_samples(ROOT / "data" / "samples")
    passages = {
        d.draft_id: (
            [s.section_id for s in d.sections],
            [f"{p}\n{s.text}".strip() for p, s in zip(heading_paths(d), d.sections, strict=True)],
        )
        for d in sample.drafts
    }
    opinions = sample.opinions[sample.opinions["sections"].map(len) > 0].reset_index(drop=True)
    model = load_encoder()
    model.max_seq_length = 256

    def dense(draft_id: str) -> tuple[float, float]:
        ids, texts = passages[draft_id]
        held = opinions[opinions["draft_id"] == draft_id]
        P = model.encode(texts, prompt_name="passage", normalize_embeddings=True)
        Q = model.encode(list(held["text"]), prompt_name="query", normalize_embeddings=True)
        order = np.argsort(-(Q @ P.T), axis=1)
        gold = list(held["sections"])
        return (
            round(float(np.mean([ids[o[0]] in g for o, g in zip(order, gold, strict=True)])), 3),
            round(
                float(
                    np.mean(
                        [
                            bool({ids[j] for j in o[:3]} & set(g))
                            for o, g in zip(order, gold, strict=True)
                        ]
                    )
                ),
                3,
            ),
        )

    print("dense before", dense(args.draft), flush=True)

    def vectors(texts: list[str]) -> torch.Tensor:
        features = model.preprocess(texts)
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    model.train()
    train = opinions[opinions["draft_id"] != args.draft]
    start = time.time()
    for _ in range(args.epochs):
        batches = []
        for draft_id, group in train.groupby("draft_id"):
            index = list(group.index)
            random.shuffle(index)
            batches += [(draft_id, index[i : i + 16]) for i in range(0, len(index), 16)]
        random.shuffle(batches)
        for draft_id, index in batches:
            ids, texts = passages[draft_id]
            P = vectors([model.prompts["passage"] + t for t in texts])
            Q = vectors([model.prompts["query"] + opinions.at[i, "text"] for i in index])
            logits = Q @ P.T / 0.05
            gold = torch.tensor([[s in opinions.at[i, "sections"] for s in ids] for i in index])
            right = torch.logsumexp(logits.masked_fill(~gold, -1e9), dim=1)
            loss = -(right - torch.logsumexp(logits, dim=1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    print("dense after", dense(args.draft), f"training {time.time() - start:.0f} s", flush=True)
    saved = args.save or Path(tempfile.mkdtemp()) / "tuned"
    model.save(str(saved))

    config = load_config()

    def pairs(name: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        embedder, _ = embedder_for(name, cache=False)
        workspace = build_workspace(sample.drafts, embedder, resolved=sample.resolved, memoize=True)
        frame = sample.opinions.reset_index(drop=True)
        views, _ = views_of(frame, workspace)
        X, y, rows = pair_training_set(frame, views, workspace)
        return X, y, rows, frame["draft_id"].to_numpy()[rows]

    X_base, y, rows, drafts = pairs(None)
    X_tuned, _, _, _ = pairs(str(saved))
    train_mask, test_mask = drafts != args.draft, drafts == args.draft

    def ranker() -> SectionRanker:
        return SectionRanker(l2=config.match.l2, interaction_weight=config.match.interaction_weight)

    for name, fit_X, test_X in (
        ("fused, base features", X_base, X_base),
        ("fused, base-trained ranker on tuned features", X_base, X_tuned),
        ("fused, ranker trained on tuned features", X_tuned, X_tuned),
    ):
        fitted = ranker().fit(fit_X[train_mask], y[train_mask], rows[train_mask])
        scores = fitted.score_pairs(test_X[test_mask])
        print(name, top_k(scores, y[test_mask], rows[test_mask]), flush=True)


if __name__ == "__main__":
    main()
