"""Tests for pipeline.text (Sudachi tokenisation, content words, sentence splitting).

Expected segmentations checked with SudachiPy 0.7.0 and sudachidict-core 20261015; a dictionary
update may legitimately change them (update the tables, not the code).
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import text
from pipeline.errors import ConfigError, InputSchemaError

pytest.importorskip("sudachipy")

ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
JAPANESE_TEXT = st.text(
    alphabet=st.sampled_from(list("あいう漢字カナｶﾅ。、！？「」（）・\n 　ＡＢ１２ab.!?😀")),
    max_size=200,
)


# SudachiDict core 20261015, mode C
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("住民票の写しを交付してほしい。", ["住民票", "写し", "交付"]),
        ("ｶﾞｲﾄﾞﾗｲﾝを見直すべきだ", ["ガイドライン", "見直す"]),
        ("引越しの手続きが必要です", ["引っ越し", "手続き", "必要"]),
        ("窓口が大変混雑している", ["窓口", "大変", "混雑"]),
        ("とても分かりやすい", ["迚も", "分かる"]),  # Sudachi normalises とても → 迚も
        ("", []),
        ("。、！？", []),
    ],
)
def test_content_words(source: str, expected: list[str]) -> None:
    assert text.content_words(source) == expected


# SudachiDict core 20261015
@pytest.mark.parametrize(
    ("source", "mode", "surfaces"),
    [
        ("窓口で交付", "C", ["窓口", "で", "交付"]),
        ("住民基本台帳", "C", ["住民基本台帳"]),
        ("住民基本台帳", "A", ["住民", "基本", "台帳"]),
        ("標準化　対象 事務", "C", ["標準化", "対象", "事務"]),
        ("\n\t 　", "C", []),
    ],
)
def test_tokenize_surfaces_and_blank_tokens_dropped(
    source: str, mode: str, surfaces: list[str]
) -> None:
    morphemes = text.tokenize(source, mode=mode)
    assert [m.surface for m in morphemes] == surfaces
    assert all(m.surface.strip() for m in morphemes)


def test_morpheme_fields() -> None:
    (m,) = text.tokenize("ｶﾞｲﾄﾞ")
    assert m == text.Morpheme("ｶﾞｲﾄﾞ", "ガイド", "ガイド", m.pos)
    assert m.pos[0] == "名詞" and isinstance(m.pos, tuple)
    with pytest.raises(AttributeError):
        m.surface = "x"  # type: ignore[misc]


def test_normalized_forms() -> None:
    assert text.normalized_forms("引越しの手続き") == ["引っ越し", "の", "手続き"]


@pytest.mark.parametrize("func", [text.tokenize, text.content_words, text.normalized_forms])
def test_invalid_mode(func: object) -> None:
    with pytest.raises(ConfigError, match=r"must be one of 'A', 'B', 'C'\. Got 'D' instead\."):
        func("窓口", mode="D")  # type: ignore[operator]


def test_invalid_mode_message_is_sklearn_style() -> None:
    with pytest.raises(ConfigError) as info:
        text.tokenize("窓口", mode="D")
    assert str(info.value) == (
        "The 'mode' option of tokenize must be one of 'A', 'B', 'C'. Got 'D' instead."
    )


def test_missing_dictionary_names_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sudachipy

    def broken(*args: object, **kwargs: object) -> None:
        raise sudachipy.errors.SudachiError("dictionary not found")

    text._dictionary.cache_clear()
    text._tokenizer.cache_clear()
    monkeypatch.setattr(sudachipy, "Dictionary", broken)
    try:
        with pytest.raises(text.ModelNotFoundError, match="pip install sudachipy sudachidict-core"):
            text.tokenize("窓口")
    finally:
        text._dictionary.cache_clear()
        text._tokenizer.cache_clear()


def test_long_text_is_chunked() -> None:
    long = "住民票の写しを交付する。" * 6000 + "㍻" * 20000  # ≈ 276 kB, over Sudachi's 49 kB limit
    morphemes = text.tokenize(long)
    assert sum(m.surface == "住民票" for m in morphemes) == 6000
    assert "".join(m.surface for m in morphemes) == long


# ---------------------------------------------------------------------------- split_sentences
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("賛成です。反対です。", ["賛成です。", "反対です。"]),
        ("「検討してください。」と述べた。", ["「検討してください。」", "と述べた。"]),
        ("本当ですか？！いいえ。", ["本当ですか？！", "いいえ。"]),
        ("（注意してください。）次へ", ["（注意してください。）", "次へ"]),
        ("見出し\n本文です。", ["見出し", "本文です。"]),
        ("・窓口\n・電子申請\n　・郵送", ["窓口", "電子申請", "郵送"]),
        ("意見：　・費用　・期限", ["意見：", "費用", "期限"]),
        ("国・地方の役割", ["国・地方の役割"]),
        ("3.(2).①について", ["3.(2).①について"]),
        ("Yes! No? ok", ["Yes!", "No?", "ok"]),
        ("", []),
        ("\n\n　\n", []),
        ("。", ["。"]),
    ],
)
def test_split_sentences(source: str, expected: list[str]) -> None:
    assert text.split_sentences(source) == expected


# ----------------------------------------------------------------------------- stage
def test_tokenize_opinions_assigns_tokens_without_mutating() -> None:
    df = pd.DataFrame({"opinion_id": ["a", "b", "c"], "text": ["窓口を増やす", None, "期限の延長"]})
    before = df.copy()
    out = text.tokenize_opinions(df)
    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == ["opinion_id", "text", "tokens"]
    assert out["tokens"].tolist() == [["窓口", "増やす"], [], ["期限", "延長"]]
    assert text.ASSIGNS == ("tokens",) and text.REQUIRES == ("opinion_id", "text")


def test_tokenize_opinions_names_missing_columns() -> None:
    df = pd.DataFrame({"opinion_id": [1], "txt": ["窓口"]})
    with pytest.raises(InputSchemaError) as info:
        text.tokenize_opinions(df)
    message = str(info.value)
    assert "['opinion_id', 'text']" in message and "['opinion_id', 'txt']" in message
    assert "did you mean 'txt'" in message


# ----------------------------------------------------------------------------- properties
@settings(max_examples=150, deadline=None)
@given(ANY_TEXT)
def test_tokenize_never_crashes(s: str) -> None:
    morphemes = text.tokenize(s)
    assert all(m.surface.strip() for m in morphemes)
    text.content_words(morphemes)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, JAPANESE_TEXT))
def test_split_sentences_never_crashes_nor_returns_empty(s: str) -> None:
    sentences = text.split_sentences(s)
    assert all(sentences) and all(x == x.strip() for x in sentences)
    # Idempotent: re-splitting the sentences, one per line, changes nothing.
    assert text.split_sentences("\n".join(sentences)) == sentences


@settings(max_examples=100, deadline=None)
@given(JAPANESE_TEXT)
def test_tokens_are_the_text_without_blanks(s: str) -> None:
    # Nothing but whitespace is lost (on ordinary characters: Sudachi classes some odd ones,
    # such as U+00B8 CEDILLA, as 空白 after its own NFKC): the surfaces, in order, rebuild the non-blank text.
    surfaces = "".join(m.surface for m in text.tokenize(s))
    cleaned = text._clean(s)
    assert "".join(surfaces.split()) == "".join(cleaned.split())


@settings(max_examples=150, deadline=None)
@given(st.one_of(ANY_TEXT, JAPANESE_TEXT), st.sampled_from(text.SPLIT_MODES))
def test_content_words_of_text_equal_those_of_its_morphemes(s: str, mode: str) -> None:
    # content_words(str) takes a short cut past the morpheme records; it must find the same words.
    assert text.content_words(s, mode=mode) == text.content_words(text.tokenize(s, mode=mode))


@settings(max_examples=150, deadline=None)
@given(st.one_of(ANY_TEXT, JAPANESE_TEXT), st.sampled_from(text.SPLIT_MODES))
def test_forms_and_content_words_in_one_pass_equal_the_two_calls(s: str, mode: str) -> None:
    forms, words = text.forms_and_content_words(s, mode=mode)
    assert forms == text.normalized_forms(s, mode=mode)
    assert words == text.content_words(text.tokenize(s, mode=mode))
