"""Drafts → sections (DATA_FORMATS.md §2), 該当箇所 parsing, resolved-point lists."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.drafts import (
    PAGE_BREAK,
    _pipe_table_line,
    borderless_table_rows,
    location_words_text,
    parse_heading,
    parse_location,
    parse_page,
    printed_lines,
    read_draft,
    read_resolved,
    resolve_location,
    sections_from_lines,
)
from pipeline.errors import InputFileError
from pipeline.schema import Draft
from pipeline.word import CIRCLED, format_number

from .conftest import Borderless, print_pdf


def draft_of(lines: Sequence[str], draft_id: str = "draft") -> Draft:
    """A draft read from lines as from a file (for the 該当箇所 tests)."""
    title, sections = sections_from_lines(lines, draft_id)
    return Draft(draft_id, title, tuple(sections))


MARKDOWN_DRAFT = """\
# 公金収納に係る共通化推進方針（案）
令和７年３月　デジタル庁

# 1. 総論
本方針は公金収納の共通化の方向性を定める。
## (1) 背景
紙の納付書による収納が多い。
## (2) 目的
収納事務を効率化する。
# 2. 具体的な方向性
## (1) 対象
### ① 使用料
使用料を対象とする。
### ② 手数料
手数料を対象とする。
#### ア 証明書手数料
窓口での手数料を含む。
#### イ 許認可手数料
申請手数料を含む。
## (2) スケジュール
令和８年度から順次開始する。
"""

FULLWIDTH_CHAPTER_DRAFT = """\
消防関係許認可申請の共通化推進方針（案）
第１章　総論
（１）　趣旨
本方針の趣旨。
第２章　具体的方向性
１．　対象手続
（１）　危険物
危険物施設の許可申請を対象とする。
（２）　消防用設備
設置届を対象とする。
①　着工届
着工届を含む。
２．　費用負担
費用負担の在り方について検討する。
－ 3 －
第3章　スケジュール
令和９年度から運用を開始する。
"""


@pytest.mark.parametrize(
    ("line", "kind", "token", "title"),
    [
        ("第1章　総論", "chapter", "1", "総論"),
        ("第１２章 雑則", "chapter", "12", "雑則"),
        ("第三章　費用", "chapter", "3", "費用"),
        ("第十一章　附則", "chapter", "11", "附則"),
        ("1. 総論", "decimal", "1", "総論"),
        ("１．　総論", "decimal", "1", "総論"),
        ("10　その他", "decimal", "10", "その他"),
        ("# 3. 方向性", "decimal", "3", "方向性"),
        ("(1) 背景", "paren", "(1)", "背景"),
        ("（１２）　経過措置", "paren", "(12)", "経過措置"),
        ("## （２）費用負担", "paren", "(2)", "費用負担"),
        ("①　使用料", "circled", "①", "使用料"),
        ("⑳ 雑則", "circled", "⑳", "雑則"),
        ("ア　証明書", "kana", "ア", "証明書"),
        ("(イ) 許認可", "kana_paren", "(イ)", "許認可"),
        ("（ウ）その他", "kana_paren", "(ウ)", "その他"),
        ("**① 情報連携による確認**", "circled", "①", "情報連携による確認"),
        ("**(ア)** 政令で定める係数", "kana_paren", "(ア)", "政令で定める係数"),
        ("### __（３）選考__", "paren", "(3)", "選考"),
        ("⑵　費用負担", "paren", "(2)", "費用負担"),
        # other fonts' circled digits: 「➀」 as the council's own documents print it, 「❷」「⓷」
        ("➀ システムは共通化", "circled", "①", "システムは共通化"),
        ("❷　効果の見込み", "circled", "②", "効果の見込み"),
        ("⓷ 実現可能性", "circled", "③", "実現可能性"),
        ("第１　総則", "chapter", "1", "総則"),
        ("第十　雑則", "chapter", "10", "雑則"),
        ("第3節　手続の流れ", "setsu", "3", "手続の流れ"),
        ("Ⅱ　現状と課題", "roman", "2", "現状と課題"),
        ("IV. 推進体制", "roman", "4", "推進体制"),
        ("1.1 背景", "dotted", "1.1", "背景"),
        ("### １．２．３　対象事務", "dotted", "1.2.3", "対象事務"),
        ("2-1　国の役割", "dotted", "2.1", "国の役割"),
        ("3.2.\t費用", "dotted", "3.2", "費用"),
    ],
)
def test_heading_forms(line: str, kind: str, token: str, title: str) -> None:
    heading = parse_heading(line)
    assert heading is not None
    assert (heading.kind, heading.token, heading.title) == (kind, token, title)


@pytest.mark.parametrize(
    "line",
    [
        "2025年度から開始する。",
        "1.5倍の費用がかかる。",
        "2.5%程度を見込む。",
        "2026.4 から運用する。",
        "第1回の会議で決定した。",
        "第３条の規定により届け出る。",
        "第2号様式を用いる。",
        "Ⅰ",
        "I think so.",
        "アクセス権限を設定する。",
        "本文の行。",
        "3",
        "－ 3 －",
        "**注意** 1. の手続は除く。",
        "本文の **① は** 見出しではない。",
        "* 1 つの窓口で受け付ける。",
    ],
)
def test_body_lines_are_not_headings(line: str) -> None:
    assert parse_heading(line) is None


def test_markdown_draft_ids_and_bodies() -> None:
    title, sections = sections_from_lines(MARKDOWN_DRAFT.splitlines(), "koukin")
    assert title == "公金収納に係る共通化推進方針（案）"
    ids = [s.section_id for s in sections]
    assert ids == [
        "1",
        "1.(1)",
        "1.(2)",
        "2",
        "2.(1)",
        "2.(1).①",
        "2.(1).②",
        "2.(1).②.ア",
        "2.(1).②.イ",
        "2.(2)",
    ]
    by_id = {s.section_id: s for s in sections}
    assert by_id["2.(1).②"].text == "手数料を対象とする。"  # a parent keeps its own body only
    assert not by_id["2.(1).②"].is_leaf and by_id["2.(1).②.ア"].is_leaf
    assert by_id["1"].text == "本方針は公金収納の共通化の方向性を定める。"


def test_chapters_nest_items_and_page_numbers_are_dropped() -> None:
    _, sections = sections_from_lines(FULLWIDTH_CHAPTER_DRAFT.splitlines(), "shobo")
    ids = [s.section_id for s in sections]
    assert ids == [
        "1",
        "1.(1)",
        "2",
        "2.1",
        "2.1.(1)",
        "2.1.(2)",
        "2.1.(2).①",
        "2.2",
        "3",
    ]
    assert "－" not in {s.section_id: s for s in sections}["2.2"].text


DOTTED_DRAFT = """\
共通化推進方針（案）
1. 総論
本方針の目的を定める。
1.1 背景
紙の申請が多い。
1.2 対象
次の手続とする。
1.2.1 申請
電子申請とする。
(1) 様式
統一する。
1.2.2 届出
届出も対象とする。
1.3 用語
用語を定める。
2. 費用
国が負担する。
2.1 負担
国が負担する。
"""


def test_headings_numbered_with_their_whole_path_keep_the_number_as_id() -> None:
    _, sections = sections_from_lines(DOTTED_DRAFT.splitlines(), "dotted")
    by_id = {s.section_id: s for s in sections}
    assert list(by_id) == [
        "1",
        "1.1",
        "1.2",
        "1.2.1",
        "1.2.1.(1)",
        "1.2.2",
        "1.3",
        "2",
        "2.1",
    ]
    assert [by_id[i].parent_id for i in ("1.1", "1.2.1", "1.2.1.(1)", "1.2.2", "1.3", "2.1")] == [
        "1",
        "1.2",
        "1.2.1",
        "1.2",
        "1",
        "2",
    ]
    assert by_id["1"].text == "本方針の目的を定める。" and not by_id["1.2"].is_leaf
    # a submitter's 「1-2-1」 or 「１．２．１」 finds the section
    draft = draft_of(DOTTED_DRAFT.splitlines())
    assert resolve_location("1-2-1", draft) == resolve_location("１．２．１", draft) == ["1.2.1"]


def test_dotted_items_that_restart_in_each_chapter_nest_under_it() -> None:
    lines = ["方針（案）", "第1章 総則", "1.1 目的", "第2章 方向性", "2.1 申請", "2.1.1 書面"]
    lines += ["第3章 推進体制", "1.1 国", "1.2 地方", "1.2.1 都道府県"]
    lines += ["第4章 費用", "1. 負担", "1.1 国費", "2. 精算", "2.1 時期"]
    text = "\n".join(f"{line}\n本文。" for line in lines)
    _, sections = sections_from_lines(text.splitlines(), "chapters")
    assert [s.section_id for s in sections] == [
        "1",
        "1.1",
        "2",
        "2.1",
        "2.1.1",
        "3",
        "3.1.1",
        "3.1.2",
        "3.1.2.1",
        "4",
        "4.1",
        "4.1.1",
        "4.2",
        "4.2.1",
    ]


def test_parts_numbered_dai_1_without_sho_are_chapters() -> None:
    """「第１　総則」 / 「１　目的」 / 「（１）」: how 通知 and 要綱 number their parts. Before, 「第２」
    was body text, so its items ran on under 第１'s and took the same ids (「1~2」)."""
    lines = ["方針（案）", "第１　総則", "本文。", "１　目的", "目的。", "（１）背景", "背景。"]
    lines += ["第２　推進体制", "体制。", "１　国", "国。", "第3章 費用", "第1節 負担", "負担。"]
    _, sections = sections_from_lines(lines, "dai")
    assert [(s.section_id, s.heading) for s in sections] == [
        ("1", "総則"),
        ("1.1", "目的"),
        ("1.1.(1)", "背景"),
        ("2", "推進体制"),
        ("2.1", "国"),
        ("3", "費用"),
        ("3.1", "負担"),
    ]
    draft = draft_of(lines)
    assert resolve_location("第２の１", draft) == ["2.1"]
    assert resolve_location("第3章第1節", draft) == ["3.1"]


def test_parts_numbered_in_roman_numerals_are_the_first_level() -> None:
    lines = ["方針（案）", "Ⅰ　総論", "本文。", "1. 目的", "目的。", "Ⅱ　方向性", "本文。"]
    lines += ["1. 申請", "(1) 様式", "様式。", "2. 届出", "届出。"]
    draft = draft_of(lines)
    assert draft.section_ids() == ["1", "1.1", "2", "2.1", "2.1.(1)", "2.2"]
    assert resolve_location("Ⅱ-1-(1)", draft) == resolve_location("Ⅱ１（１）", draft) == ["2.1.(1)"]
    assert (
        resolve_location("II-1-(1)", draft)
        == resolve_location("II．１（１）", draft)
        == ["2.1.(1)"]
    )


def test_five_levels_as_kobunsho_numbers_them_and_lines_that_cite_a_section() -> None:
    """「1.」「(1)」「①」「ア」「(ア)」: 「(ア)」 is the level below 「ア」 (公用文作成の要領), and a
    body line that opens by citing a section (「3.(1)①の申請は…」) is text, not a heading."""
    lines = ["方針（案）", "1.　事務", "(1)　調査", "①　入力", "ア　調査票", "(ア)　基本調査"]
    lines += [
        "基本。",
        "(イ)　特記事項",
        "特記。",
        "イ　点検",
        "点検。",
        "2.　連携",
        "(1)　ポータル",
    ]
    lines += ["　1.(1)①の申請は、ポータルから受け付ける。", "(2)②に定める点検も行う。"]
    draft = draft_of(lines)
    assert draft.section_ids() == [
        "1",
        "1.(1)",
        "1.(1).①",
        "1.(1).①.ア",
        "1.(1).①.ア.(ア)",
        "1.(1).①.ア.(イ)",
        "1.(1).①.イ",
        "2",
        "2.(1)",
    ]
    texts = {s.section_id: s.text for s in draft.sections}
    assert texts["2.(1)"] == "1.(1)①の申請は、ポータルから受け付ける。\n(2)②に定める点検も行う。"
    assert resolve_location("1(1)①ア(イ)", draft) == ["1.(1).①.ア.(イ)"]


def test_items_numbered_in_kanji_under_kanji_parts() -> None:
    """「第一」「一　」「（一）」, as older 要綱 and 通知 number: ids in digits, as 「第１」「１」「（１）」."""
    lines = ["方針（案）", "第一　総則", "一　目的", "目的。", "二　定義", "本文。"]
    lines += [
        "（一）　申請",
        "申請。",
        "（二）　届出",
        "一部の団体では届出が多い。",
        "一方で、少ない。",
    ]
    lines += ["第二　方向性", "一、申請", "本文。", "十二　雑則", "雑則。"]
    draft = draft_of(lines)
    assert draft.section_ids() == ["1", "1.1", "1.2", "1.2.(1)", "1.2.(2)", "2", "2.1", "2.12"]
    assert {s.section_id: s.text for s in draft.sections}[
        "1.2.(2)"
    ] == "一部の団体では届出が多い。\n一方で、少ない。"
    assert resolve_location("第一の二の（二）", draft) == ["1.2.(2)"]
    assert resolve_location("第1の2(2)", draft) == ["1.2.(2)"]
    assert resolve_location("第二・十二", draft) == ["2.12"]
    assert resolve_location("二の（一）", draft) == ["1.2.(1)"]


@pytest.mark.parametrize(
    ("hint", "ids"),
    [
        ("第三の二の（一）", ["3.2.(1)"]),
        ("第３の２（１）", ["3.2.(1)"]),
        ("三の（二）", ["3.(2)"]),
        ("第十二の一", ["12.1"]),
        ("第三章二", ["3.2"]),
        ("P5 第二の一", ["2.1"]),
        ("一部の団体について", []),  # numerals inside words are no numbers
        ("二重入力", []),
        ("統一の様式", []),
    ],
)
def test_kanji_numerals_in_a_location(hint: str, ids: list[str]) -> None:
    assert parse_location(hint) == ids


@pytest.mark.parametrize(
    ("hint", "ids", "page"),
    [
        ("2.1～2.3", ["2.1", "2.2", "2.3"], None),  # a range names every section in it
        ("2(1)〜(3)", ["2.(1)", "2.(2)", "2.(3)"], None),
        ("2.(1)から(3)まで", ["2.(1)", "2.(2)", "2.(3)"], None),
        ("2(1)①~③", ["2.(1).①", "2.(1).②", "2.(1).③"], None),
        ("2.1.(1)及び(2)", ["2.1.(1)", "2.1.(2)"], None),  # (2) under the same 2.1
        ("第2章～第3章", ["2", "3"], None),
        ("2.(1)～2.(12)", ["2.(1)", "2.(12)"], None),  # too wide to be meant item by item
        ("p.3〜4", [], 3),  # a page range is pages, not section 4
        ("1～2ページ", [], 1),
        ("P3-4 2(1)", ["2.(1)"], 3),
        ("別紙1", [], None),  # an attachment is no section
        ("別添２の3(1)", ["3.(1)"], None),
    ],
)
def test_ranges_page_ranges_and_attachments_in_a_location(
    hint: str, ids: list[str], page: int | None
) -> None:
    assert parse_location(hint) == ids
    assert parse_page(hint) == page


def test_circled_digits_of_other_fonts_in_a_location() -> None:
    assert parse_location("基本方針２（３）➀") == parse_location("2(3)①") == ["2.(3).①"]
    assert parse_location("3.(1)➁及び❸") == ["3.(1).②", "3.(1).③"]
    assert location_words_text("基本方針２（３）➀") == "基本方針"


@pytest.mark.parametrize(
    ("hint", "ids"),
    [
        ("II-1-(1)", ["2.1.(1)"]),
        ("IV.2", ["4.2"]),
        ("III（１）", ["3.(1)"]),
        ("V4", ["5.4"]),  # a part's numeral glued to its item, as 「Ⅴ4」 is read
        ("IV２（1）", ["4.2.(1)"]),
        ("III4(2)ア", ["3.4.(2).ア"]),
        ("CV2", ["2"]),  # letters of a word again
        ("IT化 3(1)", ["3.(1)"]),  # letters of a word are no numeral
        ("DX推進 1", ["1"]),
        ("X線 2.(1)", ["2.(1)"]),
        ("IIX-1", ["1"]),  # no Roman numeral at all
    ],
)
def test_roman_numerals_typed_in_latin_letters_in_a_location(hint: str, ids: list[str]) -> None:
    assert parse_location(hint) == ids


def _dotted_tree(depth: int = 1) -> st.SearchStrategy[list]:
    """A heading tree of up to four levels: each node is the list of its children."""
    leaf = st.lists(st.just([]), min_size=1, max_size=3)
    return leaf if depth == 4 else st.lists(_dotted_tree(depth + 1) | st.just([]), max_size=3)


@given(tree=_dotted_tree(), fullwidth=st.booleans())
def test_any_tree_numbered_1_1_2_reads_into_its_numbers(tree: list, fullwidth: bool) -> None:
    """「1.」 / 「1.2」 / 「1.2.3」 / 「(1)」: the id of each dotted heading is its printed number."""
    lines, ids = ["方針（案）"], []

    def add(nodes: list, path: list[int]) -> None:
        for i, children in enumerate(nodes, start=1):
            numbers = [*path, i]
            if len(numbers) == 1:
                printed, section_id = f"{i}.", str(i)
            elif len(numbers) <= 3:
                printed = section_id = ".".join(map(str, numbers))
            else:
                printed, section_id = f"({i})", ".".join(map(str, path)) + f".({i})"
            if fullwidth:
                printed = printed.translate(
                    str.maketrans("0123456789.()", "０１２３４５６７８９．（）")
                )
            lines.extend([f"{printed}\u3000見出し{len(numbers)}", "本文。"])
            ids.append(section_id)
            add(children, numbers)

    add(tree, [])
    assert [s.section_id for s in sections_from_lines(lines, "tree")[1]] == ids


def _kanji_numeral(n: int) -> str:
    return format_number(n, "japaneseCounting")  # 一 … 九十九, as Word draws them


def _numbered_tree(
    tree: list, heading: Callable[[int, int], str], tokens: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Draft lines and section ids of a tree of lists: ``heading(level, n)`` is the n-th heading
    line at ``level``, ``tokens[level]`` formats its id token."""
    lines, ids = ["方針（案）"], []

    def walk(children: list, level: int, parent: str) -> None:
        for n, grandchildren in enumerate(children, start=1):
            lines.extend([heading(level, n), "本文。一部の団体では一方で異なる。"])
            ids.append(parent + tokens[level].format(n))
            if isinstance(grandchildren, list):
                walk(grandchildren, level + 1, ids[-1] + ".")

    walk(tree, 0, "")
    return lines, ids


@settings(max_examples=60, deadline=None)
@given(
    tree=st.lists(st.lists(st.lists(st.just(0), max_size=12), max_size=12), min_size=1, max_size=12)
)
def test_any_tree_numbered_in_kanji_reads_into_its_numbers(tree: list) -> None:
    """「第三」 / 「二　」 / 「（一）」, up to 十二 at each level: ids in digits, and a 該当箇所 in
    kanji naming any section finds exactly that section."""
    headings = ("第{}\u3000部", "{}\u3000項目", "（{}）\u3000細目")
    lines, ids = _numbered_tree(
        tree, lambda level, n: headings[level].format(_kanji_numeral(n)), ("{}", "{}", "({})")
    )
    title, sections = sections_from_lines(lines, "kanji")
    assert [s.section_id for s in sections] == ids
    draft = Draft("kanji", title, tuple(sections))
    for section_id in ids:
        numbers = [int(n.strip("()")) for n in section_id.split(".")]
        hint = f"第{_kanji_numeral(numbers[0])}" + "".join(
            f"の（{_kanji_numeral(n)}）" if k == 2 else f"の{_kanji_numeral(n)}"
            for k, n in enumerate(numbers[1:], start=1)
        )
        assert resolve_location(hint, draft) == [section_id], hint


def test_docx_draft_goes_through_the_same_detector(tmp_path: Path) -> None:
    from docx import Document

    document = Document()
    for line in MARKDOWN_DRAFT.splitlines():
        document.add_paragraph(line.lstrip("# "))
    path = tmp_path / "koukin.docx"
    document.save(str(path))
    draft = read_draft(path)
    assert draft.draft_id == "koukin"
    assert draft.section_ids() == [
        s.section_id for s in sections_from_lines(MARKDOWN_DRAFT.splitlines(), "x")[1]
    ]


def test_pdf_draft_goes_through_the_same_detector(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib_fontja  # noqa: F401  (registers a Japanese font)

    matplotlib.rcParams["pdf.fonttype"] = 42  # embed TrueType so text can be extracted again
    lines = FULLWIDTH_CHAPTER_DRAFT.splitlines()
    figure = plt.figure(figsize=(8.27, 11.69))
    for i, line in enumerate(lines):
        figure.text(0.05, 0.95 - i * 0.04, line, fontsize=10)
    path = tmp_path / "shobo.pdf"
    figure.savefig(path)
    plt.close(figure)
    draft = read_draft(path)
    assert draft.section_ids() == [
        "1",
        "1.(1)",
        "2",
        "2.1",
        "2.1.(1)",
        "2.1.(2)",
        "2.1.(2).①",
        "2.2",
        "3",
    ]


PRINTED_SECTION = (
    "共通システムに申請者向けの単一の窓口を設け、申請者は建築物の所在地と申請先を選択した上で"
    "申請を行う。申請先として選択できる機関は、その業務区域に応じて自動的に表示する。"
)
PRINTED_SECOND_PARAGRAPH = "申請の受付は24時間行うことができるものとする。"


def test_pdf_lines_broken_at_the_margin_are_joined_into_paragraphs(tmp_path: Path) -> None:
    width = 38
    body = [(PRINTED_SECTION[i : i + width], i == 0) for i in range(0, len(PRINTED_SECTION), width)]
    lines = [
        ("申請手続の共通化推進方針（案）", False),
        ("１．共通化の内容", False),
        ("（１）申請窓口の一元化", False),
        *body,
        (PRINTED_SECOND_PARAGRAPH, True),
        ("（２）手数料", False),
        ("・手数料は共通システム上で納付できる。", False),
        ("・窓口での納付も受け付ける。", False),
    ]
    draft = read_draft(print_pdf(tmp_path / "printed.pdf", [lines]))
    assert draft.section_ids() == ["1", "1.(1)", "1.(2)"]
    window, fees = draft.sections[1], draft.sections[2]
    # The wrapped lines are one paragraph again (no break mid-word), the indented line starts a
    # new one, and the page number is gone.
    assert window.text == PRINTED_SECTION + "\n" + PRINTED_SECOND_PARAGRAPH
    assert fees.text == "・手数料は共通システム上で納付できる。\n・窓口での納付も受け付ける。"


def test_a_ruled_table_in_a_pdf_stays_in_its_section_one_line_a_row(tmp_path: Path) -> None:
    schedule = [["年度", "内容"], ["1", "令和7年度 要件定義"], ["2", "令和8年度 開発"]]
    path = print_pdf(
        tmp_path / "table.pdf",
        [
            [
                "方針（案）",
                "1．スケジュール",
                "次のとおりとする。",
                schedule,
                "2．費用",
                "国が負担する。",
            ]
        ],
    )
    draft = read_draft(path)
    # Read as lines, 「1 令和7年度 要件定義」 was a heading 1 of its own.
    assert draft.section_ids() == ["1", "2"]
    assert draft.sections[0].text == (
        "次のとおりとする。\n｜年度｜内容｜\n｜1｜令和7年度 要件定義｜\n｜2｜令和8年度 開発｜"
    )
    assert draft.sections[1].text == "国が負担する。"


def test_a_table_printed_without_rules_is_read_as_a_ruled_one(tmp_path: Path) -> None:
    rows = [
        ["年度", "内容", "担当"],
        ["1", "令和7年度 要件定義", "国"],
        ["2", "令和8年度 開発", "国・地方"],
    ]
    lines = [
        "方針（案）",
        "1．スケジュール",
        "次のとおりとする。",
        rows,
        "2．費用",
        "国が負担する。",
    ]
    ruled = read_draft(print_pdf(tmp_path / "ruled.pdf", [lines]))
    lines[3] = Borderless(rows)
    borderless = read_draft(print_pdf(tmp_path / "borderless.pdf", [lines]))
    # As lines, 「1 令和7年度 要件定義 国」 was heading 1 and swallowed everything up to 「2．費用」.
    assert borderless.section_ids() == ruled.section_ids() == ["1", "2"]
    assert borderless.sections[0].text == (
        "次のとおりとする。\n｜年度｜内容｜担当｜\n｜1｜令和7年度 要件定義｜国｜\n"
        "｜2｜令和8年度 開発｜国・地方｜"
    )
    assert [s.text for s in borderless.sections] == [s.text for s in ruled.sections]


def _printed_row(cells: list[tuple[float, str]]) -> dict:
    """A pdfplumber text row of 10.5 pt characters, each cell (left edge, text) where it is put."""
    chars = [
        {"text": ch, "x0": x + 10.5 * k, "x1": x + 10.5 * (k + 1), "size": 10.5}
        for x, text in cells
        for k, ch in enumerate(text)
    ]
    return {"text": " ".join(t for _, t in cells), "x0": cells[0][0], "chars": chars}


def test_a_heading_tabbed_from_its_number_is_still_a_heading() -> None:
    tabbed = [
        _printed_row([(60, "1."), (110, "総論")]),
        _printed_row([(60, "(1)"), (110, "現状と課題")]),
    ]
    assert [r["text"] for r in borderless_table_rows(tabbed)] == ["1. 総論", "(1) 現状と課題"]
    schedule = [
        _printed_row([(60, "年度"), (200, "内容")]),
        _printed_row([(60, "1"), (200, "令和7年度"), (400, "国")]),
    ]
    assert [r["text"] for r in borderless_table_rows(schedule)] == [
        "｜年度｜内容｜",
        "｜1｜令和7年度｜国｜",
    ]


def test_a_two_column_table_without_rules_is_a_table_when_its_rows_count_on() -> None:
    schedule = [
        _printed_row([(60, "番号"), (120, "内容")]),
        _printed_row([(60, "1"), (120, "令和7年度 要件定義")]),
        _printed_row([(60, "2"), (120, "令和8年度 開発")]),
        _printed_row([(60, "3"), (121, "令和9年度 運用開始")]),
    ]
    assert [r["text"] for r in borderless_table_rows(schedule)] == [
        "｜番号｜内容｜",
        "｜1｜令和7年度 要件定義｜",
        "｜2｜令和8年度 開発｜",
        "｜3｜令和9年度 運用開始｜",
    ]
    # Headings tabbed from their numbers have text between them, or do not count on.
    headings = [
        _printed_row([(60, "1"), (120, "総論")]),
        _printed_row([(60, "本方針の目的を定める。")]),
        _printed_row([(60, "2"), (120, "費用")]),
        _printed_row([(60, "4"), (120, "体制")]),
        _printed_row([(60, "①"), (120, "申請")]),
        _printed_row([(60, "②"), (120, "届出")]),
    ]
    assert [r["text"] for r in borderless_table_rows(headings)] == [r["text"] for r in headings]


def test_a_markdown_table_is_read_as_word_and_pdf_tables_are(tmp_path: Path) -> None:
    path = tmp_path / "table.md"
    path.write_text(
        "# 方針（案）\n## 1. スケジュール\n次のとおりとする。\n\n"
        "| 年度 | 内容 |\n|:---|---:|\n| 1 | 令和7年度 要件定義 |\n| 2 | 令和8年度 開発 |\n"
        "## 2. 費用\n国が負担する。\n",
        encoding="utf-8",
    )
    draft = read_draft(path)
    # As lines, 「| 1 | 令和7年度 …」 kept its pipes and the rule 「|:---|---:|」 was body text.
    assert draft.section_ids() == ["1", "2"]
    assert draft.sections[0].text == (
        "次のとおりとする。\n｜年度｜内容｜\n｜1｜令和7年度 要件定義｜\n｜2｜令和8年度 開発｜"
    )


#: What str.splitlines breaks at: a table cell never holds one.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@given(
    st.lists(
        st.text(alphabet=st.characters(exclude_characters="|" + _LINE_BREAKS), max_size=8),
        max_size=5,
    )
)
def test_any_markdown_table_row_reads_as_its_cells(cells: list[str]) -> None:
    stripped = [cell.strip() for cell in cells]
    assume(not (stripped and all(re.fullmatch(r":?-{3,}:?", cell) for cell in stripped)))  # a rule
    expected = "｜" + "｜".join(stripped) + "｜" if any(stripped) else ""
    assert _pipe_table_line("| " + " | ".join(cells) + " |") == expected


def test_pdf_sections_know_the_pages_they_span(tmp_path: Path) -> None:
    pages = [
        ["申請手続の共通化推進方針（案）", "１．総論", "本方針の趣旨を述べる。", "２．申請"],
        ["申請は共通システムで受け付ける。", "（１）手数料", "手数料は電子納付とする。"],
        ["（２）交付", "許可証は電子交付とする。"],
    ]
    path = print_pdf(tmp_path / "paged.pdf", pages)
    draft = read_draft(path)
    spans = {s.section_id: (s.page_start, s.page_end) for s in draft.sections}
    # 「２．申請」 is headed at the foot of page 1 and its body is on page 2.
    assert spans == {"1": (1, 1), "2": (1, 2), "2.(1)": (2, 2), "2.(2)": (3, 3)}
    assert draft.sections[1].text == "申請は共通システムで受け付ける。"


def _row(text: str, x0: float = 60.0, size: float = 10.0, width: float | None = None) -> dict:
    """A pdfplumber text-line row: full-width characters ``size`` points wide."""
    x1 = x0 + (width if width is not None else size * len(text))
    return {"text": text, "x0": x0, "x1": x1, "chars": [{"size": size}] * len(text)}


def test_running_headers_and_footers_are_dropped_and_short_pages_not_joined() -> None:
    full = "あ" * 40  # a line that runs to the right margin (x1 = 460)
    header = "資料２　建築確認共通化方針（案）"
    pages = [
        [
            _row(header, x0=300),
            _row("建築確認の共通化推進方針（案）"),
            _row("１．総論"),
            _row(full),
            _row("続きの文。"),
            _row("- 1 -", x0=250),
        ],
        [_row(header, x0=300), _row("２．申請"), _row(full), _row("続き。"), _row("- 2 -", x0=250)],
        # A last page of short lines: its longest line is not at the margin and joins nothing.
        [
            _row(header, x0=300),
            _row("３．費用"),
            _row("国が負担する。"),
            _row("別に定める。"),
            _row("- 3 -", x0=250),
        ],
    ]
    lines = printed_lines(pages)
    assert lines == [
        f"{PAGE_BREAK}1",
        "建築確認の共通化推進方針（案）",
        "１．総論",
        full + "続きの文。",
        f"{PAGE_BREAK}2",
        "２．申請",
        full + "続き。",
        f"{PAGE_BREAK}3",
        "３．費用",
        "国が負担する。",
        "別に定める。",
    ]
    title, sections = sections_from_lines(lines, "x")
    assert title == "建築確認の共通化推進方針（案）"
    assert [(s.section_id, s.page_start, s.page_end) for s in sections] == [
        ("1", 1, 1),
        ("2", 2, 2),
        ("3", 3, 3),
    ]


def test_a_running_header_that_is_the_only_title_stays_on_page_one() -> None:
    pages = [[_row("共通化推進方針（案）"), _row("１．総論"), _row("本文。")]] * 2
    title, _ = sections_from_lines(printed_lines(pages), "x")
    assert title == "共通化推進方針（案）"


def test_nested_indents_wrapped_sentences_and_page_breaks_join_as_printed() -> None:
    """Standard Japanese layout: 「１．」 at the margin, 「（１）」 one character in, the body two,
    each paragraph's first line one more; a sentence may break before a 「①」 or across a page."""
    full_body = "い" * 38  # from x0 = 80 to the margin at 460
    pages = [
        [
            _row("１．共通化の内容"),
            _row("（１）申請", x0=70),
            _row("う" * 37, x0=90),  # a paragraph's first line, indented once more
            _row(full_body, x0=80),  # its continuation, back at the body's indent
            _row("①の手続による。", x0=80),  # continues: the line above stops mid-sentence
            _row("え" * 37 + "。", x0=90),  # a new paragraph: indented, after a full stop
            _row(full_body, x0=80),  # … and its sentence runs over the page
        ],
        [_row("- 2 -", x0=250), _row("お続く。", x0=80), _row("（２）手数料", x0=70)],
    ]
    assert printed_lines(pages) == [
        f"{PAGE_BREAK}1",
        "１．共通化の内容",
        "（１）申請",
        "う" * 37 + full_body + "①の手続による。",
        "え" * 37 + "。" + full_body + "お続く。",
        f"{PAGE_BREAK}2",
        "（２）手数料",
    ]


def test_list_items_without_a_full_stop_stay_apart_when_they_reach_the_margin() -> None:
    seventh = "・令和7年度：要件定義、共通データレイアウト案の作成及び意見照会、検討会の設置等"
    eighth = "・令和8年度：設計及び開発、検証用の環境の提供開始、実証の実施、利用料の算定方法"
    assert len(seventh) == len(eighth) == 40  # both run to the right margin
    pages = [
        [
            _row("５．スケジュール"),
            _row("あ" * 40),
            _row("い。"),
            _row(seventh),  # stops mid-phrase at the margin, and yet …
            _row(eighth),  # … this row opens the next item of the list;
            _row("の案の提示"),  # this one goes on with it
            _row("・令和9年度：利用の開始"),
        ]
    ]
    assert printed_lines(pages)[2:] == [
        "あ" * 40 + "い。",
        seventh,
        eighth + "の案の提示",
        "・令和9年度：利用の開始",
    ]


def test_pages_are_numbered_as_printed_after_an_unnumbered_cover() -> None:
    cover = [_row("共通化推進方針（案）"), _row("令和７年３月")]
    pages = [cover, [_row("１．総論"), _row("本文。"), _row("- 1 -", x0=250)]]
    pages.append([_row("２．各論"), _row("本文です。"), _row("- 2 -", x0=250)])
    lines = printed_lines(pages)
    assert [line for line in lines if line.startswith(PAGE_BREAK)] == [
        f"{PAGE_BREAK}0",
        f"{PAGE_BREAK}1",
        f"{PAGE_BREAK}2",
    ]
    _, sections = sections_from_lines(lines, "x")
    assert [(s.section_id, s.page_start) for s in sections] == [("1", 1), ("2", 2)]


def test_a_single_page_has_no_running_lines_but_has_a_page() -> None:
    page = [
        _row("資料２", x0=300),
        _row("１．総論"),
        _row("あ" * 39 + "。"),
        _row("資料２", x0=300),
    ]
    lines = printed_lines([page])
    assert lines == [f"{PAGE_BREAK}1", "資料２", "１．総論", "あ" * 39 + "。", "資料２"]
    assert sections_from_lines(lines, "x")[1][0].page_start == 1


def test_a_pdf_without_text_says_so(tmp_path: Path) -> None:
    path = print_pdf(tmp_path / "scan.pdf", [[]])
    with pytest.raises(InputFileError, match="no text layer"):
        read_draft(path)


def test_text_drafts_have_no_pages(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text(FULLWIDTH_CHAPTER_DRAFT, encoding="utf-8")
    assert {(s.page_start, s.page_end) for s in read_draft(path).sections} == {(None, None)}


def test_draft_without_numbering_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "memo.md"
    path.write_text("メモ\n見出しのない文章。\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no numbered heading"):
        read_draft(path)


@pytest.mark.parametrize(
    ("hint", "ids"),
    [
        ("P5 3.(2)①", ["3.(2).①"]),
        ("３（２）について", ["3.(2)"]),
        ("第3章", ["3"]),
        ("1.(3)及び2.(1)", ["1.(3)", "2.(1)"]),
        ("P3", []),
        ("５ページ", []),
        ("全体", []),
        ("", []),
        ("2.1.(2)", ["2.1.(2)"]),
        ("３．（１）及び（２）", ["3.(1)", "3.(2)"]),
        ("第2章３．（２）", ["2.3.(2)"]),
        ("3(2)②、③", ["3.(2).②", "3.(2).③"]),
        ("２（１）ア", ["2.(1).ア"]),
        ("4(1)②(イ)", ["4.(1).②.(イ)"]),
        ("p.4　４（３）②", ["4.(3).②"]),
        ("4.(1)・4.(2)", ["4.(1)", "4.(2)"]),
        ("アクセスについて", []),
        ("4(4)1について", ["4.(4).①"]),
        ("4.(2).2", ["4.(2).②"]),
    ],
)
def test_location_hints(hint: str, ids: list[str]) -> None:
    assert parse_location(hint) == ids


def test_resolve_location_finds_ids_that_exist() -> None:
    draft = draft_of(FULLWIDTH_CHAPTER_DRAFT.splitlines())
    assert resolve_location("第2章１．（２）", draft) == ["2.1.(2)"]
    assert resolve_location("１（２）①", draft) == ["2.1.(2).①"]  # chapter left out
    assert resolve_location("5.(9)", draft) == []


def test_bracketed_katakana_keep_their_brackets_and_match_either_way() -> None:
    draft = draft_of(
        [
            "# 1. 総論",
            "## (1) 手続",
            "### ① 送付",
            "#### (ア) 知事への送付",
            "本文。",
            "#### (イ) 協議",
            "本文。",
        ],
        "nouchi",
    )
    assert draft.section_ids()[-2:] == ["1.(1).①.(ア)", "1.(1).①.(イ)"]
    assert resolve_location("1(1)①(イ)", draft) == ["1.(1).①.(イ)"]
    assert resolve_location("１（１）①イ", draft) == ["1.(1).①.(イ)"]  # brackets left out
    assert resolve_location("(1)①ア", draft) == ["1.(1).①.(ア)"]  # chapter left out too


def test_resolved_points_from_markdown_and_csv(tmp_path: Path) -> None:
    md = tmp_path / "resolved.md"
    md.write_text(
        "# 解決済事項\n\n| 番号 | 対象推進方針案 | 事項 | 解決の場 |\n|---|---|---|---|\n"
        "| RN-1 | koukin | 手数料は国が負担する。 | FAQ |\n| RN-1 | koukin | 重複 | FAQ |\n",
        encoding="utf-8",
    )
    frame, errors = read_resolved(md)
    assert list(frame["resolved_id"]) == ["RN-1"]
    assert [e.row for e in errors] == [6]
    csv = tmp_path / "resolved.csv"
    csv.write_bytes(
        "番号,対象推進方針案,事項,解決の場\nRN-2,koukin,様式は統一済み。,通知\n".encode("cp932")
    )
    frame, errors = read_resolved(csv)
    assert frame.loc[0, "where"] == "通知" and errors == []


@given(st.text())
def test_location_parser_never_crashes(text: str) -> None:
    assert isinstance(parse_location(text), list)
    page = parse_page(text)
    assert page is None or page > 0
    assert isinstance(location_words_text(text), str)


@pytest.mark.parametrize(
    ("hint", "page", "words"),
    [
        ("P5", 5, ""),
        ("Ｐ５ 3.(2)①", 5, ""),
        ("p.12", 12, ""),
        ("５頁", 5, ""),
        ("6ページ", 6, ""),
        ("3(2)", None, ""),
        ("費用負担について", None, "費用負担について"),
        ("6.費用負担", None, "費用負担"),
        ("第3章 移行", None, "移行"),
        ("P0", None, ""),
    ],
)
def test_page_and_heading_words_of_a_location(hint: str, page: int | None, words: str) -> None:
    assert parse_page(hint) == page
    assert location_words_text(hint) == words


@given(st.lists(st.text(max_size=30), max_size=30))
def test_section_detector_never_crashes_and_ids_are_unique(lines: list[str]) -> None:
    _, sections = sections_from_lines(lines, "x")
    ids = [s.section_id for s in sections]
    assert len(ids) == len(set(ids))


def test_a_chapter_written_before_a_whole_path_is_dropped() -> None:
    draft = draft_of(
        ["方針（案）", "1. 目的", "目的。", "2. 申請", "2.1 様式", "様式。", "2.3 期限", "期限。"]
    )
    assert (
        resolve_location("第2章2.3", draft) == resolve_location("第２章 ２．３", draft) == ["2.3"]
    )
    assert resolve_location("第2章 2.1", draft) == ["2.1"]
    assert resolve_location("第3章1", draft) == []  # no chapter 3, and 1 does not repeat it
    assert resolve_location("2-2", draft) == []  # no 2.2: not section 2 either


def test_a_middle_dot_joins_a_path_only_where_the_references_do_not_exist() -> None:
    lines = ["方針（案）", "第１　総則", "１　目的", "目的。", "第２　対象", "１　範囲", "範囲。"]
    lines += [
        "２　手続",
        "（１）　申請",
        "申請。",
        "（２）　届出",
        "届出。",
        "第３　体制",
        "体制。",
    ]
    draft = draft_of(lines)
    assert resolve_location("第２・２・（２）", draft) == ["2.2.(2)"]
    assert resolve_location("第２の２（１）・（２）", draft) == ["2.2.(1)", "2.2.(2)"]
    assert resolve_location("第２・第３", draft) == ["2", "3"]


def test_lenticular_parts_and_half_bracket_items_read_as_levels() -> None:
    """「【2】」 parts (id ``2``) and 「1)」 / 「１）」 items (id token ``1)``) below 「(1)」 or 「1.」;
    a body line that opens 「1)の規定により」 cites an item and stays text."""
    draft = draft_of(
        [
            "旅券事務に係る共通化推進方針（案）",
            "【1】　はじめに",
            "本方針の目的を示す。",
            "【２】　取組の方向性",
            "各取組の共通事項を示す。",
            "（１）　申請の受付",
            "１）　窓口",
            "窓口で受け付ける。",
            "1)の規定により、写しを保存する。",
            "2) オンライン",
            "本文。",
            "(2)　交付",
            "本文。",
        ],
        "ryoken",
    )
    assert draft.section_ids() == ["1", "2", "2.(1)", "2.(1).1)", "2.(1).2)", "2.(2)"]
    window = next(s for s in draft.sections if s.section_id == "2.(1).1)")
    assert window.heading == "窓口" and "1)の規定により" in window.text
    chapters = draft_of(
        [
            "方針（案）",
            "第2章　手続",
            "3.　受付",
            "1)　窓口",
            "第2章1.のただし書により、独自のシステムも使える。",  # a sentence, not 第2章 again
            "①　様式",
            "本文。",
        ],
        "shoku",
    )
    assert chapters.section_ids() == ["2", "2.3", "2.3.1)", "2.3.1).①"]


@pytest.mark.parametrize(
    ("hint", "ids"),
    [
        ("3(2)1)", ["3.(2).1)"]),
        ("【3】(2)1)", ["3.(2).1)"]),
        ("３（２）１）", ["3.(2).1)"]),
        ("3-(2)-1)", ["3.(2).1)"]),
        ("２．３．１）", ["2.3.1)"]),
        ("第2章3.1)②", ["2.3.1).②"]),
        ("3(2)1)及び2)", ["3.(2).1)", "3.(2).2)"]),
        ("3(2)1)～3)", ["3.(2).1)", "3.(2).2)", "3.(2).3)"]),
        ("3(2)1", ["3.(2).①"]),  # a bare number after (2) is still the ① level
    ],
)
def test_half_bracket_numbers_in_a_location(hint: str, ids: list[str]) -> None:
    assert parse_location(hint) == ids


def test_a_number_in_another_bracket_form_is_found_only_where_nothing_else_is() -> None:
    """Submitters write 「3(2)①」 for a draft's 「1)」 and 「3(2)1)」 for its 「①」, 「第2章3(1)」
    for ``2.3.1)`` and 「2-2-②」 for ``2.(2).②``; an id that exists as written still wins."""
    half = draft_of(
        ["方針", "【3】　方向性", "(2)　受付", "1)　窓口", "本文。", "2)　電子", "本文。"]
    )
    assert resolve_location("3(2)①", half) == ["3.(2).1)"]
    assert resolve_location("【３】（２）②", half) == ["3.(2).2)"]
    circled = draft_of(
        ["方針", "2.　方向性", "(2)　受付", "①　窓口", "本文。", "②　電子", "本文。"]
    )
    assert resolve_location("2(2)2)", circled) == ["2.(2).②"]
    assert resolve_location("2-2-②", circled) == ["2.(2).②"]
    assert resolve_location("2(2)3)", circled) == []
    chapters = draft_of(["方針", "第2章　手続", "3.　受付", "1)　窓口", "本文。"])
    assert resolve_location("第２章３（１）", chapters) == ["2.3.1)"]
    both = draft_of(
        ["方針", "3.　方向性", "(1)　受付", "本文。", "(2)　交付", "1)　窓口", "本文。"]
    )
    assert resolve_location("3(1)", both) == ["3.(1)"]  # exact, not 3.(2).1)


@settings(max_examples=60, deadline=None)
@given(
    tree=st.lists(st.lists(st.lists(st.just(0), max_size=12), max_size=12), min_size=1, max_size=9)
)
def test_any_lenticular_tree_reads_into_its_numbers(tree: list) -> None:
    """「【n】」 / 「（n）」 / 「n）」, up to 9 parts and 12 items a level: every section is found by a
    該当箇所 written as submitters do, full-width, with hyphens, or with 「①」 for the 「1)」 level."""
    headings = ("【{}】\u3000部", "（{}）\u3000項目", "{})\u3000細目")
    lines, ids = _numbered_tree(
        tree, lambda level, n: headings[level].format(n), ("{}", "({})", "{})")
    )
    title, sections = sections_from_lines(lines, "ryoken")
    assert [s.section_id for s in sections] == ids
    draft = Draft("ryoken", title, tuple(sections))
    wide = str.maketrans("0123456789()", "０１２３４５６７８９（）")
    for section_id in ids:
        part, *rest = section_id.split(".")
        forms = [f"【{part}】" + "".join(rest), "".join([part, *rest]).translate(wide)]
        forms.append("-".join([part, *rest]))
        if len(rest) == 2:  # 「3(2)①」 for 3.(2).1)
            forms.append(part + rest[0] + CIRCLED[int(rest[1][:-1]) - 1])
        for hint in forms:
            assert resolve_location(hint, draft) == [section_id], hint
