"""Agreement between the first labels (labels.jsonl) and the blind second labels.

Run: .venv/bin/python scripts/agreement.py [DIR]  (DIR: data/samples by default, or data/holdout17;
prints a Markdown table and the disagreements)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def read(path: Path) -> dict[str, dict]:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return {r["opinion_id"]: r for r in rows}


def main(directory: Path = SAMPLES) -> None:
    a = read(directory / "labels.jsonl")
    b = read(directory / "agreement" / "second_labels.jsonl")
    ids = sorted(b)
    cat_a = [a[i]["category"] for i in ids]
    cat_b = [b[i]["category"] for i in ids]
    both_shared = [i for i in ids if a[i]["category"] == b[i]["category"] == "shared"]
    with_sections = [i for i in ids if a[i]["sections"] and b[i]["sections"]]
    rows = [
        ("opinions labelled twice", len(ids), ""),
        (
            "category: agreement",
            f"{sum(x == y for x, y in zip(cat_a, cat_b, strict=True)) / len(ids):.3f}",
            "",
        ),
        ("category: Cohen's κ (7 classes)", f"{cohen_kappa_score(cat_a, cat_b):.3f}", ""),
        (
            "shared vs excluded: κ",
            f"{cohen_kappa_score([c == 'shared' for c in cat_a], [c == 'shared' for c in cat_b]):.3f}",
            "",
        ),
        (
            "described: agreement (both shared)",
            f"{sum(a[i]['described'] == b[i]['described'] for i in both_shared) / len(both_shared):.3f}",
            f"n={len(both_shared)}",
        ),
        (
            "described: κ (both shared)",
            f"{cohen_kappa_score([a[i]['described'] for i in both_shared], [b[i]['described'] for i in both_shared]):.3f}",
            "",
        ),
        (
            "verdict: agreement",
            f"{sum(a[i]['verdict'] == b[i]['verdict'] for i in ids) / len(ids):.3f}",
            "",
        ),
        (
            "verdict: κ",
            f"{cohen_kappa_score([a[i]['verdict'] for i in ids], [b[i]['verdict'] for i in ids]):.3f}",
            "",
        ),
        (
            "first section equal",
            f"{sum(a[i]['sections'][0] == b[i]['sections'][0] for i in with_sections) / len(with_sections):.3f}",
            f"n={len(with_sections)}",
        ),
        (
            "first section within the other's list",
            f"{sum(a[i]['sections'][0] in b[i]['sections'] or b[i]['sections'][0] in a[i]['sections'] for i in with_sections) / len(with_sections):.3f}",
            "",
        ),
    ]
    print("| measure | value | note |\n|---|---|---|")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")
    print("\nDisagreements (category / described):")
    for i in ids:
        if a[i]["category"] != b[i]["category"] or a[i]["described"] != b[i]["described"]:
            print(
                f"{i}: first {a[i]['category']}/{a[i]['described']} {a[i]['sections']} — second {b[i]['category']}/{b[i]['described']} {b[i]['sections']}"
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES)
