"""Batch scoring of a consultation export (``triage score``): chunked, resumable, reported.

Opinions are scored in chunks; each finished chunk is written to ``OUT.parts/`` at once, so an
interrupted run (Ctrl-C, a closed laptop) resumes where it stopped when the same command is run
again. A fingerprint of the model, drafts, resolved points, input file and settings guards the
parts: change any of them and the old parts are discarded rather than mixed in.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pipeline.drafts import read_draft, read_resolved
from pipeline.ingest import read_opinions
from pipeline.schema import (
    HEADERS_JA,
    SUGGESTION_COLUMNS,
    SUGGESTION_EXTRA_COLUMNS,
    Draft,
    RowError,
)
from pipeline.suggest import TriageModel, Workspace, assign_groups, build_workspace, predict_batch
from pipeline.tables import write_table

PARTS_SUFFIX = ".parts"
FINGERPRINT_FILE = "fingerprint.txt"


@dataclass
class ScoreResult:
    """What a scoring run did: rows written, rows rejected and why, chunks reused."""

    out: Path
    scored: int
    errors: list[RowError] = field(default_factory=list)
    reused_chunks: int = 0
    encoding: str = ""


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(model: TriageModel, inputs: Sequence[Path], chunk_size: int) -> str:
    """Identity of a scoring job: the same value means finished parts can be reused."""
    digest = hashlib.sha256()
    for item in (
        model.version,
        model.encoder_id,
        str(chunk_size),
        *(_file_hash(p) for p in inputs),
    ):
        digest.update(item.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _parts_dir(out: Path, key: str) -> Path:
    parts = out.with_name(out.name + PARTS_SUFFIX)
    marker = parts / FINGERPRINT_FILE
    if parts.exists() and (not marker.exists() or marker.read_text() != key):
        shutil.rmtree(parts)  # a different job's parts: never mix them in
    parts.mkdir(parents=True, exist_ok=True)
    marker.write_text(key)
    return parts


def score_export(
    opinions_path: str | Path,
    draft_paths: Sequence[str | Path],
    out: str | Path,
    model: TriageModel,
    embedder: Callable[[Sequence[str], str], np.ndarray],
    *,
    resolved_path: str | Path | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> ScoreResult:
    """Score every valid opinion of an export against its draft and write ``out``.

    Args:
        opinions_path: the consultation export (.csv any supported encoding, or .xlsx).
        draft_paths: the drafts the opinions are about (matched by file stem or title).
        out: ``.csv`` (UTF-8 with BOM, formula-safe), ``.xlsx`` (Japanese headers) or ``.parquet``.
        model: a fitted :class:`~pipeline.suggest.TriageModel` (see ``pipeline.bundle.load_model``).
        embedder: ``(texts, prompt_name) -> vectors`` (see ``pipeline.encoder.embedder_for``).
        resolved_path: optional resolved-points list; fills ``resolved_id`` for (f).
        chunk_size: opinions per chunk (default from the model's config).
        on_chunk: called with the chunk number after each chunk is saved (tests interrupt here).

    Bad rows (empty text, unknown draft, undecodable bytes, bad 団体コード …) are returned in
    ``errors`` and skipped; the others are scored.
    """
    out = Path(out)
    drafts: list[Draft] = [read_draft(p) for p in draft_paths]
    ingest = read_opinions(opinions_path, drafts=drafts)
    resolved = None
    errors = list(ingest.errors)
    inputs = [Path(opinions_path), *(Path(p) for p in draft_paths)]
    if resolved_path is not None:
        resolved, resolved_errors = read_resolved(resolved_path)
        errors += resolved_errors
        inputs.append(Path(resolved_path))
    size = chunk_size or model.config.suggest.chunk_size
    parts = _parts_dir(out, fingerprint(model, inputs, size))
    opinions = ingest.opinions.reset_index(drop=True)
    workspace: Workspace | None = None
    n_chunks = (len(opinions) + size - 1) // size
    reused = 0
    with tqdm(total=len(opinions), desc="scoring", unit="opinion", disable=not progress) as bar:
        for number in range(n_chunks):
            part = parts / f"part-{number:05d}.parquet"
            chunk = opinions.iloc[number * size : (number + 1) * size]
            if part.exists():
                reused += 1
            else:
                if workspace is None:  # only when there is work left: a finished job loads nothing
                    workspace = build_workspace(
                        drafts, embedder, resolved=resolved, match_mode=model.config.text.match_mode
                    )
                rows = predict_batch(model, chunk, workspace)
                tmp = part.with_suffix(".tmp")
                rows.to_parquet(tmp, index=False)
                tmp.replace(part)
                if on_chunk is not None:
                    on_chunk(number)
            bar.update(len(chunk))
    columns = list(SUGGESTION_COLUMNS + SUGGESTION_EXTRA_COLUMNS)
    frames = [pd.read_parquet(parts / f"part-{n:05d}.parquet") for n in range(n_chunks)]
    suggestions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    if len(suggestions):
        vectors = embedder([str(t) for t in suggestions["text"]], "query")
        suggestions = assign_groups(
            suggestions, vectors, threshold=model.config.suggest.group_threshold
        )
    write_table(suggestions[columns], out, headers_ja=HEADERS_JA, sheet_name="提案一覧")
    shutil.rmtree(parts, ignore_errors=True)
    return ScoreResult(out, len(suggestions), errors, reused, ingest.encoding)
