"""End-to-end scoring throughput and peak memory for 1k and 10k opinions, next to the raw encoder.

Run by hand (not a test), with nothing else busy on the machine::

    python benchmarks/bench_score.py [--sizes 1000 10000] [--threads 2]

The export repeats the sample opinions (both sample exports) with a running number appended to
each text, so no two texts are equal and neither the embedding cache nor de-duplication can
flatter the first pass. Each measurement runs in its own subprocess, so peak RSS is its own:

- ``raw encoder``: sentence-transformers ``encode(prompt_name="query")`` on the first 1,000 texts,
  run just before *and* just after each scoring run; each ratio is to the mean of those two (the
  VM's speed drifts by 20% and more within minutes, so a ratio to a far-away raw run says little);
- ``score N (cold)``: ``score_export`` with an empty embedding cache (everything computed,
  including indexing the six drafts and the resolved points);
- ``score N (drafts indexed)``: opinions cold, but the drafts and resolved points already in the
  embedding cache, as for every export after the first one against the same drafts in a round;
- ``score N (cached)``: the same export again into a new output with the embedding and
  suggestion caches from the cold run (what a re-score of the same export costs);
- ``raw encoder, cold work`` (with ``--ceiling``): the raw encoder on every text a cold 1k run
  must embed (the opinions, the six drafts' headings and sentences, the resolved points), to show
  the best ratio a cold run could reach if the pipeline cost nothing but encoding.

Each ratio is given twice: by wall-clock time and by CPU time (all threads of the process). CPU
time is what the work costs; wall-clock time also moves with whatever else the host runs.
``--repeat R`` runs the whole sequence R times and reports the median ratios.

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
from collections.abc import Sequence
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


def draft_texts(drafts: Sequence[Path], resolved: Path) -> list[str]:
    """The passage texts a cold run embeds besides the opinions (the drafts' headings and
    sentences, the resolved points), as the pipeline builds them: collected with an embedder
    that records its input instead of encoding it."""
    import numpy as np

    from pipeline.drafts import read_draft, read_resolved
    from pipeline.suggest import build_workspace

    passages: list[str] = []

    def recorder(texts: Sequence[str], prompt_name: str) -> np.ndarray:
        passages.extend(texts)
        return np.zeros((len(texts), 384), dtype=np.float32)

    build_workspace([read_draft(d) for d in drafts], recorder, resolved=read_resolved(resolved)[0])
    return list(dict.fromkeys(passages))


def child(kind: str, n: int, workdir: str) -> None:
    """Runs in a subprocess: one measurement, printed as JSON."""
    from pipeline.bundle import load_model
    from pipeline.encoder import embedder_for, load_encoder
    from pipeline.score import score_export

    work = Path(workdir)
    export, drafts, resolved = make_export(n, work / f"export_{n}.csv")
    if kind in ("raw", "raw_cold_work"):
        import pandas as pd

        texts = list(pd.read_csv(export, dtype=str)["意見"])[:n]
        passages = draft_texts(drafts, resolved) if kind == "raw_cold_work" else []
        model = load_encoder()
        model.encode(texts[:32], prompt_name="query", batch_size=32)  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        model.encode(texts, prompt_name="query", batch_size=32)
        if passages:
            model.encode(passages, prompt_name="passage", batch_size=32)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
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
        start, cpu = time.perf_counter(), time.process_time()
        # Own suggestion-row cache per run (never the project's): "cached" reuses the cold run's.
        rows = work / (f"rows_{n}_indexed.sqlite" if kind == "indexed" else f"rows_{n}.sqlite")
        result = score_export(
            export, drafts, out, model, embedder, resolved_path=resolved, progress=False, cache=rows
        )
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        assert result.scored == n, (result.scored, result.errors[:3])
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(
        json.dumps(
            {
                "kind": kind,
                "n": n,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "per_second": n / seconds,
                "per_cpu_second": n / cpu_seconds,
                "peak_rss_gb": rss_gb,
            }
        )
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="Run the sequence R times.")
    parser.add_argument(
        "--ceiling", action="store_true", help="Also time the raw encoder on a cold run's texts."
    )
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

    kinds = ["cold", "indexed", "cached"] + (["raw_cold_work"] if args.ceiling else [])
    for repeat in range(args.repeat):
        with tempfile.TemporaryDirectory() as workdir:
            # Every measured run is bracketed by raw-encoder runs; its ratios are to their mean.
            before = run("raw", 1000, workdir)
            for n in args.sizes:
                for kind in kinds:
                    if kind == "raw_cold_work" and n != min(args.sizes):
                        continue
                    record = run(kind, n, workdir)
                    after = run("raw", 1000, workdir)
                    raw = (before["per_second"] + after["per_second"]) / 2
                    raw_cpu = (before["per_cpu_second"] + after["per_cpu_second"]) / 2
                    record.update(
                        repeat=repeat,
                        raw_per_second=raw,
                        raw_per_cpu_second=raw_cpu,
                        raw_spread=abs(before["per_second"] - after["per_second"]) / raw,
                        ratio=record["per_second"] / raw,
                        cpu_ratio=record["per_cpu_second"] / raw_cpu,
                    )
                    results.append(record)
                    before = after
                    print(
                        f"{kind:>13} n={n:>6}: {record['per_second']:8.1f} opinions/s, "
                        f"{record['ratio']:.2f}× raw by wall clock, {record['cpu_ratio']:.2f}× by "
                        f"CPU (raw {raw:.1f}/s, before/after differ {record['raw_spread']:.0%}), "
                        f"peak RSS {record['peak_rss_gb']:.2f} GB",
                        flush=True,
                    )
    print(
        "\n| run | opinions | opinions/s | raw encoder around it (/s) | × raw (wall) | × raw (CPU) "
        "| peak RSS (GB) |\n|---|---|---|---|---|---|---|"
    )
    for kind in kinds:
        for n in args.sizes:
            group = [r for r in results if r["kind"] == kind and r["n"] == n]
            if not group:
                continue
            print(
                f"| {kind} | {n} | {_median([r['per_second'] for r in group]):.1f} | "
                f"{_median([r['raw_per_second'] for r in group]):.1f} | "
                f"{_median([r['ratio'] for r in group]):.2f} | "
                f"{_median([r['cpu_ratio'] for r in group]):.2f} | "
                f"{max(r['peak_rss_gb'] for r in group):.2f} |"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "threads": args.threads,
                "repeat": args.repeat,
                "results": results,
            },
            indent=1,
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
