"""Batch scoring of a consultation export (``triage score``): chunked, resumable, cached.

Every suggestion row is stored as soon as its chunk is scored, in a small SQLite cache keyed by
the *job* (model version, encoder, drafts, resolved points, settings) and the *opinion* (all its
fields, and a fingerprint of the export's other opinions on the same draft that cite a section:
section matching learns from them, see ``pipeline.match.citation_index``). So an interrupted run
(Ctrl-C, a closed laptop) continues where it stopped when the same command is run again, and
re-scoring an export costs only a lookup. Change the model, a draft or the resolved points and
the job key changes; add or change an opinion that cites a section and that draft's rows are
scored again: old rows are never mixed in.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pipeline.config import PROJECT_ROOT
from pipeline.drafts import read_draft, read_resolved
from pipeline.ingest import read_opinions
from pipeline.schema import (
    HEADERS_JA,
    OPINION_COLUMNS,
    SUGGESTION_COLUMNS,
    SUGGESTION_EXTRA_COLUMNS,
    VALUE_NAMES_JA,
    Draft,
    RowError,
)
from pipeline.sqlite_wal import use_wal
from pipeline.suggest import (
    TriageModel,
    Workspace,
    assign_groups,
    build_workspace,
    citation_digests,
    predict_batch,
)
from pipeline.tables import write_table

DEFAULT_CACHE = PROJECT_ROOT / ".cache" / "suggestions.sqlite"
COLUMNS = list(SUGGESTION_COLUMNS + SUGGESTION_EXTRA_COLUMNS)


class SuggestionCache:
    """Suggestion rows in SQLite (WAL; several processes may share it), keyed by job and opinion."""

    _CHUNK = 500

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else DEFAULT_CACHE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60.0)
        use_wal(self._conn, 60.0)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS suggestions (job TEXT, opinion TEXT, row TEXT, PRIMARY KEY (job, opinion))"
        )
        self._conn.commit()

    def get_many(self, job: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), self._CHUNK):
            part = unique[start : start + self._CHUNK]
            marks = ",".join("?" * len(part))
            query = f"SELECT opinion, row FROM suggestions WHERE job = ? AND opinion IN ({marks})"
            for opinion, row in self._conn.execute(query, [job, *part]):
                found[opinion] = json.loads(row)
        return found

    def put_many(self, job: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        with self._conn:  # one short transaction per chunk
            self._conn.executemany(
                "INSERT OR REPLACE INTO suggestions VALUES (?, ?, ?)",
                [(job, key, json.dumps(row, ensure_ascii=False)) for key, row in rows],
            )

    def close(self) -> None:
        self._conn.close()


@dataclass
class ScoreResult:
    """What a scoring run did: rows written, rows rejected and why, rows taken from the cache."""

    out: Path
    scored: int
    errors: list[RowError] = field(default_factory=list)
    reused_rows: int = 0
    encoding: str = ""


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def job_key(model: TriageModel, inputs: Sequence[Path]) -> str:
    """Identity of what produces the rows: model, encoder, settings, drafts and resolved points."""
    parts = [model.version, model.encoder_id, json.dumps(model.config.to_dict(), sort_keys=True)]
    parts += [_file_hash(p) for p in inputs]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def opinion_key(record: dict[str, Any], context: str = "") -> str:
    """The opinion's fields and ``context``: the citation digest of its draft in this export."""
    values = {c: ("" if pd.isna(record.get(c)) else str(record.get(c))) for c in OPINION_COLUMNS}
    values["_citations"] = context
    return hashlib.sha256(
        json.dumps(values, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe values (numpy scalars become Python numbers)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def score_export(
    opinions_path: str | Path,
    draft_paths: Sequence[str | Path],
    out: str | Path,
    model: TriageModel,
    embedder: Callable[[Sequence[str], str], np.ndarray],
    *,
    resolved_path: str | Path | None = None,
    chunk_size: int | None = None,
    cache: str | Path | bool = True,
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
        cache: the suggestion cache file (True: ``.cache/suggestions.sqlite``; False: none, and
            then an interrupted run starts over).
        on_chunk: called with the chunk number after each chunk is stored (tests interrupt here).

    Bad rows (empty text, unknown draft, undecodable bytes, bad 団体コード …) are returned in
    ``errors`` and skipped; the others are scored.
    """
    out = Path(out)
    drafts: list[Draft] = [read_draft(p) for p in draft_paths]
    ingest = read_opinions(opinions_path, drafts=drafts)
    errors = list(ingest.errors)
    resolved = None
    inputs = [Path(p) for p in draft_paths]
    if resolved_path is not None:
        resolved, resolved_errors = read_resolved(resolved_path)
        errors += resolved_errors
        inputs.append(Path(resolved_path))
    size = chunk_size or model.config.suggest.chunk_size
    opinions = ingest.opinions.reset_index(drop=True)
    digests = citation_digests(opinions) if len(opinions) else {}
    keys = [
        opinion_key(r, digests.get(str(r["draft_id"]), "")) for r in opinions.to_dict("records")
    ]
    job = job_key(model, inputs)
    store = SuggestionCache(None if cache is True else cache) if cache is not False else None
    try:
        rows: dict[str, dict[str, Any]] = store.get_many(job, keys) if store else {}
        reused = sum(1 for k in keys if k in rows)
        todo = [i for i, k in enumerate(keys) if k not in rows]
        workspace: Workspace | None = None
        with tqdm(
            total=len(opinions),
            initial=reused,
            desc="scoring",
            unit="opinion",
            disable=not progress,
        ) as bar:
            for number, start in enumerate(range(0, len(todo), size)):
                positions = todo[start : start + size]
                if workspace is None:  # only when there is work left: a finished job loads nothing
                    workspace = build_workspace(
                        drafts, embedder, resolved=resolved, match_mode=model.config.text.match_mode
                    )
                    workspace.cite(opinions)  # the whole export, so chunks cannot change a row
                scored = predict_batch(model, opinions.iloc[positions], workspace, cite=False)
                fresh = [
                    (keys[i], _plain(r))
                    for i, r in zip(positions, scored.to_dict("records"), strict=True)
                ]
                if store:
                    store.put_many(job, fresh)
                rows.update(fresh)
                bar.update(len(positions))
                if on_chunk is not None:
                    on_chunk(number)
    finally:
        if store:
            store.close()
    suggestions = pd.DataFrame([rows[k] for k in keys], columns=COLUMNS)
    if len(suggestions):
        vectors = embedder([str(t) for t in suggestions["text"]], "query")
        suggestions = assign_groups(
            suggestions, vectors, threshold=model.config.suggest.group_threshold
        )
    write_table(
        suggestions[COLUMNS],
        out,
        headers_ja=HEADERS_JA,
        values_ja=VALUE_NAMES_JA,
        sheet_name="提案一覧",
    )
    return ScoreResult(out, len(suggestions), errors, reused, ingest.encoding)
