"""Word drafts whose headings Word numbers itself, and tables inside drafts."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.drafts import read_draft, sections_from_lines
from pipeline.word import docx_lines, format_number

#: A ministry's usual scheme: 1. / (1) / ① / ア, on Heading 1–4 or on paragraphs directly.
LEVELS = (
    ("%1.", "decimal"),
    ("(%2)", "decimal"),
    ("%3", "decimalEnclosedCircle"),
    ("%4", "aiueoFullWidth"),
)


def numbered_document(levels=LEVELS, abstract_id: int = 90, num_id: int = 90, styles: bool = True):
    """A document with one list definition; with ``styles``, Heading k draws level k − 1."""
    document = Document()
    lvls = "".join(
        f'<w:lvl w:ilvl="{i}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/>'
        f'<w:lvlText w:val="{text}"/>'
        + (f'<w:pStyle w:val="Heading{i + 1}"/>' if styles else "")
        + "</w:lvl>"
        for i, (text, fmt) in enumerate(levels)
    )
    numbering = document.part.numbering_part.element
    numbering.insert(
        0,
        parse_xml(
            f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{abstract_id}">'
            f'<w:multiLevelType w:val="multilevel"/>{lvls}</w:abstractNum>'
        ),
    )
    numbering.append(
        parse_xml(
            f'<w:num {nsdecls("w")} w:numId="{num_id}"><w:abstractNumId w:val="{abstract_id}"/></w:num>'
        )
    )
    if styles:
        for i in range(len(levels)):
            style = document.styles[f"Heading {i + 1}"].element
            ppr = style.get_or_add_pPr()
            ppr.insert(
                0, parse_xml(f'<w:numPr {nsdecls("w")}><w:numId w:val="{num_id}"/></w:numPr>')
            )
    return document


def number_paragraph(paragraph, num_id: int, ilvl: int) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    ppr.insert(
        0,
        parse_xml(
            f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num_id}"/></w:numPr>'
        ),
    )


TYPED = """共通化推進方針（案）
1. 総論
本方針の目的を定める。
(1) 背景
紙の申請が多い。
(2) 対象
① 申請
電子申請とする。
ア 様式
統一する。
イ 添付
省略する。
② 届出
届出も対象とする。
2. 費用
(1) 負担
国が負担する。"""


#: The same tree drawn another common way: 第1章 / ⑴ / ① / (ア).
CHAPTERS = (
    ("第%1章", "decimalFullWidth"),
    ("%2", "decimalEnclosedParen"),
    ("%3", "decimalEnclosedCircle"),
    ("(%4)", "aiueoFullWidth"),
)


def write_numbered(path: Path, levels=LEVELS) -> None:
    """TYPED, but with every number drawn by Word from Heading styles, and a table in 2.(1)."""
    document = numbered_document(levels)
    document.add_paragraph("共通化推進方針（案）")
    for line in TYPED.splitlines()[1:]:
        head, _, rest = line.partition(" ")
        depth = {"1.": 1, "2.": 1, "(1)": 2, "(2)": 2, "①": 3, "②": 3, "ア": 4, "イ": 4}.get(head)
        if depth:
            document.add_heading(rest, level=depth)
        else:
            document.add_paragraph(line)
    table = document.add_table(rows=2, cols=3)
    for cell, text in zip(table.rows[0].cells, ("1", "令和7年度", "要件定義"), strict=True):
        cell.text = text
    merged = table.rows[1].cells[1].merge(table.rows[1].cells[2])
    table.rows[1].cells[0].text = "2"
    merged.text = "開発"
    document.save(str(path))


@pytest.mark.parametrize("levels", [LEVELS, CHAPTERS], ids=["1.(1)①ア", "第1章⑴①(ア)"])
def test_automatic_numbers_are_read_as_typed_ones(tmp_path: Path, levels) -> None:
    path = tmp_path / "auto.docx"
    write_numbered(path, levels)
    draft = read_draft(path)
    typed = sections_from_lines(TYPED.splitlines(), "typed")[1]
    kana = "(ア)" if levels is CHAPTERS else "ア"
    expected = [
        s.section_id.replace("ア", kana).replace("イ", kana.replace("ア", "イ")) for s in typed
    ]
    assert draft.section_ids() == expected
    assert [s.heading for s in draft.sections] == [s.heading for s in typed]
    by_id = {s.section_id: s for s in draft.sections}
    # Level 2 restarts under the second chapter, level 4 under ②'s sibling ①.
    assert by_id["2.(1)"].heading == "負担" and by_id[f"1.(2).①.{kana}"].heading == "様式"
    # The table stays in its section, one line a row, a merged cell once, no heading made of it.
    assert by_id["2.(1)"].text == "国が負担する。\n｜1｜令和7年度｜要件定義｜\n｜2｜開発｜"


#: 【1】 / (1) / 1) / ア: parts in lenticular brackets and a level with only a closing bracket.
LENTICULAR = (
    ("【%1】", "decimal"),
    ("(%2)", "decimal"),
    ("%3)", "decimal"),
    ("%4", "aiueoFullWidth"),
)


def test_lenticular_parts_and_half_bracket_items_drawn_by_word(tmp_path: Path) -> None:
    path = tmp_path / "lenticular.docx"
    write_numbered(path, LENTICULAR)
    typed = sections_from_lines(TYPED.splitlines(), "typed")[1]
    expected = [s.section_id.replace("①", "1)").replace("②", "2)") for s in typed]
    assert read_draft(path).section_ids() == expected


def test_direct_numbering_overrides_and_switched_off_numbers(tmp_path: Path) -> None:
    document = numbered_document(styles=False)
    restart = parse_xml(
        f'<w:num {nsdecls("w")} w:numId="91"><w:abstractNumId w:val="90"/>'
        '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="5"/></w:lvlOverride></w:num>'
    )
    document.part.numbering_part.element.append(restart)
    for text, num_id, ilvl in (("総論", 90, 0), ("背景", 90, 1), ("費用", 91, 0), ("負担", 91, 1)):
        number_paragraph(document.add_paragraph(text), num_id, ilvl)
    number_paragraph(document.add_paragraph("番号なし"), 0, 0)
    document.add_paragraph("箇条書き", style="List Bullet")  # Word's bullet is no number
    assert docx_lines(document)[-6:] == [
        "1.\u3000総論",
        "(1)\u3000背景",
        "5.\u3000費用",
        "(1)\u3000負担",
        "番号なし",
        "箇条書き",
    ]


def test_a_list_that_takes_its_levels_from_a_list_style_is_numbered_by_it() -> None:
    document = numbered_document(styles=False)
    numbering = document.part.numbering_part.element
    defining = numbering.find(qn("w:abstractNum"))  # abstract 90, the one with the levels
    defining.insert(0, parse_xml(f'<w:styleLink {nsdecls("w")} w:val="MinistryList"/>'))
    numbering.insert(
        1,
        parse_xml(
            f'<w:abstractNum {nsdecls("w")} w:abstractNumId="91">'
            '<w:numStyleLink w:val="MinistryList"/></w:abstractNum>'
        ),
    )
    numbering.append(
        parse_xml(f'<w:num {nsdecls("w")} w:numId="92"><w:abstractNumId w:val="91"/></w:num>')
    )
    for text, ilvl in (("総論", 0), ("背景", 1), ("費用", 0)):
        number_paragraph(document.add_paragraph(text), 92, ilvl)
    assert docx_lines(document)[-3:] == ["1.\u3000総論", "(1)\u3000背景", "2.\u3000費用"]


def test_a_document_without_a_numbering_part_reads_its_typed_numbers(tmp_path: Path) -> None:
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    document = Document()
    for rel_id, rel in list(document.part.rels.items()):
        if rel.reltype == RT.NUMBERING:  # as a Word file saved with no list in it
            document.part.drop_rel(rel_id)
    for line in TYPED.splitlines():
        document.add_paragraph(line)
    path = tmp_path / "plain.docx"
    document.save(str(path))
    saved = Document(str(path)).part.rels.values()
    assert not any(rel.reltype == RT.NUMBERING for rel in saved)
    typed = sections_from_lines(TYPED.splitlines(), "typed")[1]
    assert read_draft(path).section_ids() == [s.section_id for s in typed]


def test_a_legal_list_numbers_each_heading_with_its_whole_path(tmp_path: Path) -> None:
    """第一章 / 1.1 / 1.1.1: Word's multilevel list where the sub-levels show every number
    in Arabic digits (``w:isLgl``) even though the chapter's own is in kanji."""
    levels = (("第%1章", "japaneseCounting"), ("%1.%2", "decimal"), ("%1.%2.%3", "decimal"))
    document = numbered_document(levels)
    for lvl in document.part.numbering_part.element.iter(qn("w:lvl")):
        if lvl.get(qn("w:ilvl")) in ("1", "2"):
            lvl.append(parse_xml(f"<w:isLgl {nsdecls('w')}/>"))
    document.add_paragraph("方針（案）")
    for level, title in (
        (1, "総則"),
        (2, "目的"),
        (2, "対象"),
        (3, "申請"),
        (1, "費用"),
        (2, "負担"),
    ):
        document.add_heading(title, level=level)
        document.add_paragraph(f"{title}の本文。")
    path = tmp_path / "legal.docx"
    document.save(str(path))
    assert docx_lines(Document(str(path)))[1] == "第一章\u3000総則"
    draft = read_draft(path)
    assert draft.section_ids() == ["1", "1.1", "1.2", "1.2.1", "2", "2.1"]
    assert draft.get("1.2.1").heading == "申請" and draft.get("2.1").text == "負担の本文。"


@pytest.mark.parametrize(
    ("n", "fmt", "expected"),
    [
        (12, "decimal", "12"),
        (3, "decimalFullWidth", "３"),
        (20, "decimalEnclosedCircle", "⑳"),
        (2, "decimalEnclosedParen", "⑵"),
        (3, "aiueoFullWidth", "ウ"),
        (2, "iroha", "ロ"),
        (11, "japaneseCounting", "十一"),
        (23, "japaneseCounting", "二十三"),
        (4, "upperRoman", "IV"),
        (28, "lowerLetter", "bb"),
        (1, "bullet", ""),
    ],
)
def test_number_formats(n: int, fmt: str, expected: str) -> None:
    assert format_number(n, fmt) == expected


def _tree(depth: int = 1) -> st.SearchStrategy[list]:
    """A heading tree: a list of children, each a list of its own children (up to 4 levels)."""
    if depth == 4:
        return st.lists(st.just([]), min_size=1, max_size=3)
    return st.lists(_tree(depth + 1) | st.just([]), min_size=1, max_size=3)


def _ids(tree: list, prefix: str = "", depth: int = 0) -> list[str]:
    tokens = (
        lambda i: str(i),
        lambda i: f"({i})",
        lambda i: "①②③④"[i - 1],
        lambda i: "アイウエ"[i - 1],
    )
    out: list[str] = []
    for i, children in enumerate(tree, start=1):
        node = f"{prefix}.{tokens[depth](i)}" if prefix else tokens[depth](i)
        out.append(node)
        out.extend(_ids(children, node, depth + 1))
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=_tree())
def test_any_heading_tree_numbered_by_word_reads_into_its_ids(tmp_path: Path, tree: list) -> None:
    document = numbered_document()
    document.add_paragraph("方針（案）")

    def add(nodes: list, depth: int) -> None:
        for children in nodes:
            document.add_heading(f"見出し{depth}", level=depth)
            document.add_paragraph("本文。")
            add(children, depth + 1)

    add(tree, 1)
    path = tmp_path / "tree.docx"
    document.save(str(path))
    assert read_draft(path).section_ids() == _ids(tree)


def _pages(path: Path) -> dict[str, tuple[int | None, int | None]]:
    return {s.section_id: (s.page_start, s.page_end) for s in read_draft(path).sections}


def test_typed_page_breaks_give_sections_their_pages(tmp_path: Path) -> None:
    """A break at a paragraph's end starts the next one on a new page; 「改ページ前」 and a
    section break do too, so a 「P3」 in an opinion can point at the sections on page 3."""
    from docx.enum.section import WD_SECTION
    from docx.enum.text import WD_BREAK

    document = Document()
    document.add_paragraph("方針（案）")
    document.add_paragraph("1. 総論")
    document.add_paragraph("総論の本文。").add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("2. 申請")
    document.add_paragraph("申請の本文。")
    document.add_paragraph("3. 届出").paragraph_format.page_break_before = True
    document.add_paragraph("届出の本文。")
    document.add_section(WD_SECTION.NEW_PAGE)
    document.add_paragraph("4. 費用")
    path = tmp_path / "typed.docx"
    document.save(str(path))
    assert _pages(path) == {"1": (1, 1), "2": (2, 2), "3": (3, 3), "4": (4, 4)}


def test_pages_word_last_rendered_are_used_and_typed_ones_not_counted_twice(
    tmp_path: Path,
) -> None:
    """Word records every page boundary of its last layout (``w:lastRenderedPageBreak``): a
    section whose text runs over a boundary spans both pages."""
    document = Document()
    document.add_paragraph("方針（案）")
    document.add_paragraph("1. 総論")
    body = document.add_paragraph("総論の本文の前半。")
    body.add_run()._r.append(parse_xml(f"<w:lastRenderedPageBreak {nsdecls('w')}/>"))
    body.add_run("総論の本文の後半。")
    heading = document.add_paragraph("2. 申請")
    heading.paragraph_format.page_break_before = True  # Word records this boundary as well
    heading.runs[0]._r.insert(0, parse_xml(f"<w:lastRenderedPageBreak {nsdecls('w')}/>"))
    document.add_paragraph("申請の本文。")
    path = tmp_path / "rendered.docx"
    document.save(str(path))
    assert _pages(path) == {"1": (1, 2), "2": (3, 3)}
    assert "総論の本文の前半。総論の本文の後半。" in read_draft(path).sections[0].text


def test_a_word_file_without_pages_leaves_them_unknown(tmp_path: Path) -> None:
    document = Document()
    for line in ("方針（案）", "1. 総論", "本文。", "2. 申請", "本文。"):
        document.add_paragraph(line)
    path = tmp_path / "flowing.docx"
    document.save(str(path))
    assert set(_pages(path).values()) == {(None, None)}
