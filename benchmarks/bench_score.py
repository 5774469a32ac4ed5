"""End-to-end scoring throughput and peak memory for 1k and 10k opinions, next to the raw encoder.

Run by hand (not a test), with nothing else busy on the machine::

    python benchmarks/bench_score.py [--sizes 1000 10000] [--threads 2]

The export repeats the sample opinions (both sample exports) with a running number appended to
each text, so no two texts are equal and neither the embedding cache nor de-duplication can
flatter the first pass. Each measurement runs in its own subprocess, so peak RSS is its own:

- ``raw encoder``: sentence-transformers ``encode(prompt_name="query")`` on the first 1,000 texts,
  run just before each scoring run; each ratio is to the raw run next to it (the VM's speed
  drifts by 20% and more within minutes);
- ``score N (cold)``: ``score_export`` with an empty embedding cache (everything computed,
  including indexing the six drafts and the resolved points);
- ``score N (drafts indexed)``: opinions cold, but the drafts and resolved points already in the
  embedding cache, as for every export after the first one against the same drafts in a round;
- ``score N (cached)``: the same export again into a new output with the embedding and
  suggestion caches from the cold run (what a re-score of the same export costs).

Needs a trained model in models/triage (``make demo`` or ``triage train``). Prints a Markdown
table and writes ``benchmarks/results/bench_score.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "bench_score.json"


def make_export(n: int, path: Path) -> tuple[Path, list[Path], Path]:
    from pipeline.samples import draft_files, load_samples

    sample = load_samples(ROOT / "data" / "samples")
    rows = sample.opinions[
        [
            "opinion_id",
            "prefecture",
            "municipality",
            "municipality_code",
            "draft_id",
            "location",
            "text",
            "reason",
        ]
    ]
    repeated = [rows.iloc[i % len(rows)] for i in range(n)]
    import pandas as pd

    frame = pd.DataFrame(repeated).reset_index(drop=True)
    frame["opinion_id"] = [f"B-{i:06d}" for i in range(n)]
    frame["text"] = [f"{t}（{i}）" for i, t in enumerate(frame["text"])]
    frame = frame.rename(
        columns={
            "opinion_id": "番号",
            "prefecture": "都道府県",
            "municipality": "団体名",
            "municipality_code": "団体コード",
            "draft_id": "対象推進方針案",
            "location": "該当箇所",
            "text": "意見",
            "reason": "理由",
        }
    )
    frame.to_csv(path, index=False, encoding="utf-8")
    return (
        path,
        draft_files(ROOT / "data" / "samples"),
        ROOT / "data" / "samples" / "resolved_points.csv",
    )


def child(kind: str, n: int, workdir: str) -> None:
    """Runs in a subprocess: one measurement, printed as JSON."""
    from pipeline.bundle import load_model
    from pipeline.encoder import embedder_for, load_encoder
    from pipeline.score import score_export

    work = Path(workdir)
    export, drafts, resolved = make_export(n, work / f"export_{n}.csv")
    if kind == "raw":
        import pandas as pd

        texts = list(pd.read_csv(export, dtype=str)["意見"])[:n]
        model = load_encoder()
        model.encode(texts[:32], prompt_name="query", batch_size=32)  # warm-up
        start = time.perf_counter()
        model.encode(texts, prompt_name="query", batch_size=32)
        seconds = time.perf_counter() - start
    else:
        model = load_model(ROOT / "models" / "triage")
        cache = work / (f"cache_{n}.sqlite" if kind != "indexed" else f"cache_{n}_indexed.sqlite")
        embedder, _ = embedder_for(None, cache=cache)
        if kind == "indexed":  # index the drafts (untimed), as an earlier export would have
            from pipeline.drafts import read_draft, read_resolved
            from pipeline.suggest import build_workspace

            build_workspace(
                [read_draft(d) for d in drafts], embedder, resolved=read_resolved(resolved)[0]
            )
        out = work / f"out_{n}_{kind}.csv"
        start = time.perf_counter()
        # Own suggestion-row cache per run (never the project's): "cached" reuses the cold run's.
        rows = work / (f"rows_{n}_indexed.sqlite" if kind == "indexed" else f"rows_{n}.sqlite")
        result = score_export(
            export, drafts, out, model, embedder, resolved_path=resolved, progress=False, cache=rows
        )
        seconds = time.perf_counter() - start
        assert result.scored == n, (result.scored, result.errors[:3])
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(
        json.dumps(
            {
                "kind": kind,
                "n": n,
                "seconds": seconds,
                "per_second": n / seconds,
                "peak_rss_gb": rss_gb,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS, help="Where the JSON results go.")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "N", "WORKDIR"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    results = []

    def run(kind: str, n: int, workdir: str) -> dict:
        output = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(n), workdir],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(output.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as workdir:
        # This VM's speed drifts by 20% and more within minutes (its host is shared), so every
        # scoring run is paired with a raw-encoder run just before it and compared to that.
        for n in args.sizes:
            for kind in ("cold", "indexed", "cached"):
                raw = run("raw", 1000, workdir)
                record = run(kind, n, workdir)
                record["raw_per_second"] = raw["per_second"]
                record["ratio"] = record["per_second"] / raw["per_second"]
                results.append(record)
                print(
                    f"{kind:>7} n={n:>6}: {record['per_second']:8.1f} opinions/s "
                    f"({record['ratio']:.2f}× the raw encoder's {raw['per_second']:.1f}/s just before), "
                    f"peak RSS {record['peak_rss_gb']:.2f} GB (raw {raw['peak_rss_gb']:.2f})",
                    flush=True,
                )
    print(
        "\n| run | opinions | opinions/s | raw encoder just before (/s) | × raw | peak RSS (GB) |"
        "\n|---|---|---|---|---|---|"
    )
    for r in results:
        print(
            f"| {r['kind']} | {r['n']} | {r['per_second']:.1f} | {r['raw_per_second']:.1f} | "
            f"{r['ratio']:.2f} | {r['peak_rss_gb']:.2f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "threads": args.threads,
                "results": results,
            },
            indent=1,
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
