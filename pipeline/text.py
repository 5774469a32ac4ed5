"""Japanese tokenisation and sentence splitting with SudachiPy (sudachidict-core).

Normalised forms (``normalized_form``) fold spelling variants (「ｶﾞｲﾄﾞ」→「ガイド」,
「引越し」→「引っ越し」) so lexical features and BM25 see one word where people write several.
The dictionary and one tokenizer per split mode are created once per process, on first use.

Example:
    >>> content_words("住民票の写しを交付してほしい。")
    ['住民票', '写し', '交付']
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError, InputSchemaError, ModelNotFoundError

if TYPE_CHECKING:
    import pandas as pd

REQUIRES = ("opinion_id", "text")
ASSIGNS = ("tokens",)

SPLIT_MODES = ("A", "B", "C")
# POS (first level) kept by content_words; 形状詞 are the stems of na-adjectives (「必要」「重要」).
CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞"})
# Sudachi refuses inputs over 49,149 bytes; stay well below and cut at sentence ends.
MAX_CHUNK_BYTES = 32_000

_SENTENCE_END = "。．！？!?｡"
_CLOSERS = "」』）)】〕］]｝}〉》〙〗\"'”’»"
_END_RE = re.compile(f"[{re.escape(_SENTENCE_END)}]+[{re.escape(_CLOSERS)}]*")
_BULLET_SPLIT_RE = re.compile(r"\s+・")  # 「・」 after whitespace starts a new item
_LEADING_BULLETS_RE = re.compile(r"^[・\s]+")


@dataclass(frozen=True, slots=True)
class Morpheme:
    """The four facts the pipeline uses from a Sudachi morpheme (small and picklable)."""

    surface: str
    normalized_form: str
    dictionary_form: str
    pos: tuple[str, ...]


def _check_mode(mode: str, func: str) -> str:
    if mode not in SPLIT_MODES:
        raise ConfigError(
            f"The 'mode' option of {func} must be one of 'A', 'B', 'C'. Got {mode!r} instead."
        )
    return mode


@cache
def _dictionary() -> Any:
    try:
        from sudachipy import Dictionary

        return Dictionary(dict="core")
    except Exception as exc:  # ImportError, or SudachiError when the dictionary is absent
        raise ModelNotFoundError(
            f"The Sudachi core dictionary cannot be loaded ({exc}). Install it with "
            "`pip install sudachipy sudachidict-core`."
        ) from exc


@cache
def _tokenizer(mode: str) -> Any:
    return _dictionary().tokenizer(mode=mode)


def dictionary_version() -> str:
    """The installed sudachidict-core version (for test tables and model cards)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sudachidict-core")
    except PackageNotFoundError:
        return "unknown"


def _clean(text: str) -> str:
    """Sudachi (Rust) needs valid UTF-8: replace lone surrogates instead of crashing."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _chunks(text: str, limit: int = MAX_CHUNK_BYTES) -> Iterable[str]:
    """Cut text under ``limit`` UTF-8 bytes, preferring a newline, then a sentence end."""
    while len(text.encode("utf-8")) > limit:
        head = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
        cut = max(head.rfind("\n"), max(head.rfind(c) for c in _SENTENCE_END))
        cut = cut + 1 if cut > len(head) // 2 else len(head)
        yield text[:cut]
        text = text[cut:]
    if text:
        yield text


def _sudachi_tokenize(text: str, mode: str) -> list[Any]:
    from sudachipy import errors

    try:
        return list(_tokenizer(mode).tokenize(text))
    except errors.SudachiError:
        # Sudachi's own normalisation can lengthen a chunk past its limit (「㍻」→「平成」):
        # halve and retry rather than fail on an odd document.
        if len(text) < 2:
            return []
        mid = len(text) // 2
        return _sudachi_tokenize(text[:mid], mode) + _sudachi_tokenize(text[mid:], mode)


def _sudachi_morphemes(text: str, mode: str) -> Iterable[Any]:
    """Sudachi's morphemes of any ``str``, long texts in chunks under its size limit."""
    for chunk in _chunks(_clean(text)):
        yield from _sudachi_tokenize(chunk, mode)


def drop_blank(morphemes: Iterable[Morpheme]) -> list[Morpheme]:
    """Remove whitespace-only tokens (Sudachi's 空白 and anything whose surface is blank).

    The single place where blank tokens are filtered, so every caller agrees on it.
    """
    return [m for m in morphemes if m.pos[:1] != ("空白",) and m.surface.strip()]


def tokenize(text: str, *, mode: str = "C") -> list[Morpheme]:
    """Morphemes of ``text`` without blank tokens; never raises on any ``str``.

    Args:
        text: Any string; long ones are tokenised in chunks under Sudachi's size limit.
        mode: Sudachi split mode: ``"A"`` short units, ``"B"`` middle, ``"C"`` named entities
            and compounds kept whole (the default: 「住民基本台帳」 stays one word).

    Example:
        >>> [m.surface for m in tokenize("窓口で交付")]
        ['窓口', 'で', '交付']
    """
    _check_mode(mode, "tokenize")
    return drop_blank(
        Morpheme(m.surface(), m.normalized_form(), m.dictionary_form(), tuple(m.part_of_speech()))
        for m in _sudachi_morphemes(text, mode)
    )


def is_content(m: Morpheme) -> bool:
    """Nouns, verbs, adjectives, na-adjective stems and adverbs; not 非自立 helpers (する, ない)."""
    return (
        m.pos[0] in CONTENT_POS
        and (len(m.pos) < 2 or m.pos[1] not in {"非自立可能", "数詞"})
        and bool(m.normalized_form.strip())
    )


def content_words(text_or_morphemes: str | Sequence[Morpheme], *, mode: str = "C") -> list[str]:
    """Normalised forms of content words; particles, auxiliaries and symbols are dropped.

    Example:
        >>> content_words("ｶﾞｲﾄﾞﾗｲﾝを見直すべきだ")
        ['ガイドライン', '見直す']
    """
    _check_mode(mode, "content_words")
    if not isinstance(text_or_morphemes, str):
        return [m.normalized_form for m in text_or_morphemes if is_content(m)]
    # From text, the same words as is_content over tokenize(), without building a record for
    # every morpheme: the POS is judged once per POS id, and only content words are read out.
    # Scoring tokenises each opinion this way, so it is a visible share of a scoring run.
    words: list[str] = []
    for m in _sudachi_morphemes(text_or_morphemes, mode):
        if _content_pos(m.part_of_speech_id()):
            form = m.normalized_form()
            if form.strip() and m.surface().strip():
                words.append(form)
    return words


def forms_and_content_words(text: str, *, mode: str = "C") -> tuple[list[str], list[str]]:
    """(normalised form of every non-blank morpheme, content words) in one tokenisation: what
    :func:`normalized_forms` and :func:`content_words` give, for a text that needs both.

    Example:
        >>> forms_and_content_words("窓口で交付")
        (['窓口', 'で', '交付'], ['窓口', '交付'])
    """
    _check_mode(mode, "forms_and_content_words")
    forms: list[str] = []
    words: list[str] = []
    for m in _sudachi_morphemes(text, mode):
        pos_id = m.part_of_speech_id()
        if _blank_pos(pos_id) or not m.surface().strip():
            continue
        form = m.normalized_form()
        forms.append(form)
        if _content_pos(pos_id) and form.strip():
            words.append(form)
    return forms, words


@cache
def _blank_pos(pos_id: int) -> bool:
    """Whether a Sudachi POS id is 空白 (dropped by :func:`drop_blank`)."""
    return tuple(_dictionary().pos_of(pos_id))[:1] == ("空白",)


@cache
def _content_pos(pos_id: int) -> bool:
    """Whether a Sudachi POS id is one :func:`is_content` keeps."""
    pos = tuple(_dictionary().pos_of(pos_id))
    return is_content(Morpheme("_", "_", "_", pos))


def normalized_forms(text: str, *, mode: str = "C") -> list[str]:
    """Normalised form of every non-blank morpheme, in order (for n-grams and exact matching)."""
    _check_mode(mode, "normalized_forms")
    return [m.normalized_form for m in tokenize(text, mode=mode)]


def split_sentences(text: str) -> list[str]:
    """Split Japanese text into sentences; never returns empty strings.

    Cuts after 。！？ (and ASCII !?), keeping closing brackets with their sentence
    (「…です。」 stays whole), at every line break, and before bullets 「・」 at the start of a line
    or after whitespace; the bullet marker itself is dropped. Full stops inside numbers and section
    ids (「3.(2)」) are not sentence ends.

    Example:
        >>> split_sentences("賛成です。「検討してください。」\\n・窓口\\n・電子申請")
        ['賛成です。', '「検討してください。」', '窓口', '電子申請']
    """
    text = _clean(text)
    out: list[str] = []
    for line in text.splitlines():
        for item in _BULLET_SPLIT_RE.split(line):
            start = 0
            for match in _END_RE.finditer(item):
                out.append(item[start : match.end()])
                start = match.end()
            out.append(item[start:])
    cleaned = (_LEADING_BULLETS_RE.sub("", s).strip() for s in out)
    return [s for s in cleaned if s and not _is_blank(s)]


def _is_blank(s: str) -> bool:
    return all(unicodedata.category(c)[0] in "ZC" for c in s)


def tokenize_opinions(df: pd.DataFrame, *, mode: str = "C") -> pd.DataFrame:
    """Stage: add ``tokens`` (content-word normalised forms) to an opinions frame.

    Pure: returns a new frame (``df.assign``); missing or non-text ``text`` gives no tokens.

    Raises:
        InputSchemaError: a required column is missing (names expected and found columns).
    """
    import pandas as pd

    _check_mode(mode, "tokenize_opinions")
    missing = [c for c in REQUIRES if c not in df.columns]
    if missing:
        found = [str(c) for c in df.columns]
        hints = []
        for col in missing:
            close = difflib.get_close_matches(col, found, n=1)
            if close:
                hints.append(f"did you mean {close[0]!r} for {col!r}?")
        raise InputSchemaError(
            f"tokenize_opinions requires columns {list(REQUIRES)}; missing {missing}, found "
            f"{found}." + (" " + " ".join(hints) if hints else "")
        )
    tokens = [
        content_words(t, mode=mode) if isinstance(t, str) else []
        for t in df["text"].where(pd.notna(df["text"]), None)
    ]
    return df.assign(tokens=pd.Series(tokens, index=df.index, dtype=object))
