"""Turning a policy draft into numbered sections, and reading resolved-point lists.

Drafts have no structure but Japanese numbering (DATA_FORMATS.md §2). One detector serves every
format: Markdown and text files, Word and PDF files are first turned into lines.
Levels come from nesting in the document, not from the form: the first numbering form met below a
heading becomes its child level, and a form already open on the path closes the deeper ones.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import InputFileError, InputSchemaError
from pipeline.schema import RESOLVED_COLUMNS, Draft, RowError, Section
from pipeline.tables import header_key, locate_header, normalize_text, read_table
from pipeline.word import (
    CIRCLED,
    PAGE_BREAK,
    PAREN_DIGITS,
    docx_lines,
    format_number,
    table_row_line,
)

KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"
#: Ⅰ … Ⅻ, one character each (NFKC turns them into 「I」「II」 …).
ROMAN = "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ"
_ROMAN_VALUES = {format_number(n, "upperRoman"): n for n in range(1, 21)}
_KANJI_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")}
#: Circled digits of other fonts' blocks, read as ①–⑩: 「➀➁➂」 (dingbat sans-serif, as in the
#: council's own documents), 「➊」「❶」 (negative) and 「⓵」 (double circled).
_CIRCLED_VARIANTS = str.maketrans(
    {
        chr(first + i): CIRCLED[i]
        for first in (0x2780, 0x278A, 0x2776, 0x24F5)  # ➀ ➊ ❶ ⓵ … each ten long
        for i in range(10)
    }
)
_SPACE = r"[ \t\u3000]"
_KANJI_NUMERALS = "一二三四五六七八九十"
#: 「Ⅱ」 before a mark or a space, or 「II」 before a full stop (「I think」 is English).
_ROMAN_NUMERAL = rf"[{ROMAN}](?=[.．、]|{_SPACE})|[IVX]{{1,5}}(?=[.．])"
_HEADING_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # 「第2章」, and 「第２　総則」 as 通知 and 要綱 number their parts (a space or the line's end
    # after the number: 「第3条の規定」「第1回」 are not headings)
    (
        "chapter",
        re.compile(
            r"^第([0-9０-９一二三四五六七八九十]+)(?:章|(?=" + _SPACE + r"|$))" + _SPACE + r"*(.*)$"
        ),
    ),
    ("setsu", re.compile(r"^第([0-9０-９一二三四五六七八九十]+)節" + _SPACE + r"*(.*)$")),
    # 「【2】　現状と課題」: parts numbered in lenticular brackets, which are decoration (id ``2``)
    ("lenticular", re.compile(r"^【([0-9０-９]{1,2})】" + _SPACE + r"*(\S.*)$")),
    # 「Ⅱ　現状と課題」「II. 方向性」: parts numbered in Roman numerals, with a title after them
    ("roman", re.compile(rf"^({_ROMAN_NUMERAL})[.．、]?{_SPACE}*(\S.*)$")),
    # 「1.2」「１．２．１」「2-1」 followed by a space: a heading numbered with its whole path, as
    # Word's multilevel lists and many ministries' drafts print it; 「1.5倍に」 has no space
    (
        "dotted",
        re.compile(
            r"^([0-9０-９]{1,2}(?:[.．\-－][0-9０-９]{1,2}){1,3})[.．]?" + _SPACE + r"+(\S.*)$"
        ),
    ),
    (
        "decimal",
        re.compile(
            r"^([0-9０-９]{1,2})(?:[.．](?![0-9０-９])|、|" + _SPACE + r")" + _SPACE + r"*(\S.*)$"
        ),
    ),
    # 「一　目的」 and 「（一）　申請」: items numbered in kanji under 「第一」, as older 要綱 and 通知
    # number them (a space or 「、」 after the numeral: 「一方」「一部の」 are not headings)
    ("kanji", re.compile(rf"^([{_KANJI_NUMERALS}]{{1,3}})(?:{_SPACE}+|、)(\S.*)$")),
    ("kanji_paren", re.compile(rf"^[(（]([{_KANJI_NUMERALS}]{{1,3}})[)）]{_SPACE}*(\S.*)$")),
    ("paren", re.compile(r"^[(（]([0-9０-９]{1,2})[)）]" + _SPACE + r"*(.*)$")),
    # 「1)」「１）」 with only a closing bracket: a level of its own, id token ``1)`` (its bracket
    # kept, as ``(1)`` keeps its own)
    ("half_paren", re.compile(r"^([0-9０-９]{1,2})[)）]" + _SPACE + r"*(\S.*)$")),
    ("circled", re.compile(r"^([" + CIRCLED + r"])" + _SPACE + r"*(.*)$")),
    ("kana_paren", re.compile(r"^[(（]([" + KANA + r"])[)）]" + _SPACE + r"*(.*)$")),
    ("kana", re.compile(r"^([" + KANA + r"])(?:" + _SPACE + r"+|[.．、])(.*)$")),
)
_MARKDOWN_MARK = re.compile(r"^\s*#{1,6}\s*")
#: Bold or italic marks: a Markdown draft may set a heading in bold (「**① 費用負担**」) instead of
#: with ``#``; on a line that opens with one, they are markup, not text.
_EMPHASIS = re.compile(r"\*{1,3}|_{2,3}")
_OPENS_EMPHASIS = re.compile(r"^(?:\*{1,3}|_{2,3})[^\s*_]")  # 「* 1 つ目」 is a bullet, not bold
#: A Markdown table row (「| 1 | 令和7年度 | 要件定義 |」) and the rule under its header row.
_PIPE_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_PIPE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_PAGE_NUMBER = re.compile(
    r"^[-‐－ー—\s]*[0-9０-９]{1,3}[-‐－ー—\s]*$|^[0-9０-９]+\s*/\s*[0-9０-９]+$"
)


def _number(text: str) -> int:
    """Arabic (any width) or simple kanji numerals (一 … 九十九) to an int."""
    text = unicodedata.normalize("NFKC", text)
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (_KANJI_DIGITS.get(ones, 0))
    return int("".join(str(_KANJI_DIGITS[c]) for c in text))


@dataclass(frozen=True)
class Heading:
    """A numbered heading line: its form (kind), its id token and its title text."""

    kind: str
    token: str
    title: str


#: A heading's title never opens with a deeper number: 「3.(1)①の…」「(2)②に…」 are body text
#: that cites a section at the start of a line.
_REFERENCE_OPENING = re.compile(r"^(?:[(（][0-9０-９]{1,2}[)）]|[" + CIRCLED + PAREN_DIGITS + r"])")
#: Nor with a particle or a comma, alone or after a number: 「1)の規定により…」「(2)に掲げる…」
#: 「第2章1.のただし書により…」 are sentences about a section (not 「は」: 「はじめに」 is a title).
_PARTICLE_OPENING = re.compile(
    r"^(?:[0-9０-９]{1,2}(?:[.．][0-9０-９]{1,2})*[.．)）]?)?(?:[のをが、。，．]|に[よ係基掲定規])"
)


def parse_heading(line: str) -> Heading | None:
    """Recognise a numbered heading line (with or without Markdown ``#``), else ``None``.

    Example:
        >>> parse_heading("（２）　費用負担の考え方")
        Heading(kind='paren', token='(2)', title='費用負担の考え方')
    """
    stripped = _MARKDOWN_MARK.sub("", line).strip()
    if _OPENS_EMPHASIS.match(stripped):
        stripped = _EMPHASIS.sub("", stripped).strip()
    stripped = stripped[:1].translate(_CIRCLED_VARIANTS) + stripped[1:]
    if stripped[:1] and stripped[0] in PAREN_DIGITS:  # 「⑵」 is 「(2)」 in one character
        stripped = f"({PAREN_DIGITS.index(stripped[0]) + 1})" + stripped[1:]
    for kind, pattern in _HEADING_PATTERNS:
        match = pattern.match(stripped)
        if not match:
            continue
        raw, title = match.group(1), match.group(2).strip()
        if kind == "roman":
            value = _ROMAN_VALUES.get(unicodedata.normalize("NFKC", raw))
            if value is None:  # 「IIII.」: not a numeral
                continue
            token = str(value)
        elif kind in ("chapter", "setsu", "lenticular", "decimal", "kanji"):
            token = str(_number(raw))
        elif kind == "dotted":
            token = ".".join(str(_number(n)) for n in re.split(r"[.．\-－]", raw))
        elif kind in ("paren", "kanji_paren"):
            token = f"({_number(raw)})"
        elif kind == "half_paren":
            token = f"{_number(raw)})"
        elif kind == "kana_paren":
            # 「(ア)」 keeps its brackets, as 「(2)」 does (DATA_FORMATS §2), and is a level of
            # its own: the one below 「ア」 in 公用文
            token = f"({raw})"
        else:
            token = raw
        if _REFERENCE_OPENING.match(title) or _PARTICLE_OPENING.match(title):
            return None  # 「3.(1)①の電子申請は…」「1)の規定により」: a sentence citing a section
        return Heading(kind, token, title)
    return None


def sections_from_lines(lines: Iterable[str], draft_id: str) -> tuple[str, list[Section]]:
    """Split lines into (title, sections) by numbering; each section keeps its own body only.

    Where the lines carry :data:`PAGE_BREAK` markers, each section records the pages it spans."""
    title = ""
    stack: list[tuple[str, str, str]] = []  # (kind, id, printed number) along the heading path
    open_sections: list[dict[str, object]] = []
    seen_ids: dict[str, int] = {}
    page, paged = 0, False
    for number, raw_line in enumerate(lines, start=1):
        if raw_line.startswith(PAGE_BREAK):
            printed = raw_line[len(PAGE_BREAK) :]
            page, paged = (int(printed) if printed.isdigit() else page + 1), True
            continue
        line = raw_line.rstrip()
        if not line.strip() or _PAGE_NUMBER.match(line.strip()):
            continue
        heading = parse_heading(line)
        if heading is None:
            if open_sections:
                body = open_sections[-1]["body"]
                assert isinstance(body, list)
                body.append(_MARKDOWN_MARK.sub("", line).strip())
                open_sections[-1]["page_end"] = page
            elif not title:
                title = _MARKDOWN_MARK.sub("", line).strip()
            continue
        if heading.kind == "dotted":
            section_id = _dotted_place(stack, heading.token)
            parent_id = stack[-1][1] if stack else None
        else:
            kinds = [kind for kind, _, _ in stack]
            if heading.kind in kinds:
                del stack[kinds.index(heading.kind) :]
            parent_id = stack[-1][1] if stack else None
            section_id = f"{parent_id}.{heading.token}" if parent_id else heading.token
        if section_id in seen_ids:  # a numbering slip in the draft: keep both, distinguishable
            seen_ids[section_id] += 1
            section_id = f"{section_id}~{seen_ids[section_id]}"
        else:
            seen_ids[section_id] = 1
        stack.append((heading.kind, section_id, heading.token))
        open_sections.append(
            {
                "id": section_id,
                "heading": heading.title,
                "level": len(stack),
                "parent": parent_id,
                "body": [],
                "line": number,
                "page_start": page,
                "page_end": page,
            }
        )
    parents = {s["parent"] for s in open_sections if s["parent"]}
    sections = [
        Section(
            draft_id=draft_id,
            section_id=str(s["id"]),
            heading=str(s["heading"]),
            text="\n".join(s["body"]),  # type: ignore[arg-type]
            level=int(s["level"]),  # type: ignore[call-overload]
            parent_id=s["parent"],  # type: ignore[arg-type]
            is_leaf=s["id"] not in parents,
            line=int(s["line"]),  # type: ignore[call-overload]
            page_start=int(s["page_start"]) if paged else None,  # type: ignore[call-overload]
            page_end=int(s["page_end"]) if paged else None,  # type: ignore[call-overload]
        )
        for s in open_sections
    ]
    return title, sections


#: Heading kinds that open a part of the draft, under which dotted numbers restart.
_PART_KINDS = ("roman", "chapter", "setsu", "lenticular")


def _dotted_place(stack: list[tuple[str, str, str]], number: str) -> str:
    """Close the heading path down to where a heading numbered 「1.2.1」 belongs; return its id.

    Its number spells its path, so it goes under the deepest open heading whose printed number
    it extends (「1.2」, else 「1.」 or 第1章) and adds the rest of its number to that one's id. A
    number that extends nothing open restarts under the current chapter: 「1.1」 in 第2章 is
    ``2.1.1``, as item 「1.」 there is ``2.1`` (DATA_FORMATS §2).
    """
    for depth in range(len(stack), 0, -1):
        _, section_id, printed = stack[depth - 1]
        if number.startswith(printed + "."):
            del stack[depth:]
            return section_id + number[len(printed) :]
    chapters = [i for i, (kind, _, _) in enumerate(stack) if kind in _PART_KINDS]
    del stack[chapters[-1] + 1 if chapters else 0 :]
    return f"{stack[-1][1]}.{number}" if stack else number


def _docx_lines(path: Path) -> list[str]:
    from docx import Document

    try:
        document = Document(str(path))
    except Exception as exc:  # python-docx raises several types for a damaged file
        raise InputFileError(f"{path}: cannot open as a Word document ({exc}).") from exc
    return docx_lines(document)


def _pdf_lines(path: Path) -> list[str]:
    import pdfplumber

    try:
        with pdfplumber.open(str(path)) as pdf:
            pages = [_page_rows(page) for page in pdf.pages]
    except Exception as exc:  # pdfminer raises several types for a damaged file
        raise InputFileError(f"{path}: cannot read as a PDF ({exc}).") from exc
    lines = printed_lines(pages)
    if not any(line.strip() and not line.startswith(PAGE_BREAK) for line in lines):
        raise InputFileError(
            f"{path}: the PDF has no text layer (a scan?). Run OCR on it, or export the draft "
            "from its source as .docx or .txt."
        )
    return lines


def _page_rows(page: Any) -> list[dict]:
    """A pdfplumber page's text rows, each ruled table in their place as one row per table row
    (「｜1｜令和7年度｜要件定義｜」): read as lines, a row such as 「1 令和7年度 要件定義」 would be
    taken for heading 1, and its cells would run into the paragraphs around it."""
    tables = [t for t in page.find_tables() if len(t.rows) > 1 or len(t.rows[0].cells) > 1]
    if not tables:
        return borderless_table_rows(list(page.extract_text_lines()))

    def inside(row: dict, box: tuple[float, float, float, float]) -> bool:
        middle = (float(row["top"]) + float(row["bottom"])) / 2
        return box[1] <= middle <= box[3] and box[0] - 1 <= float(row["x0"]) <= box[2]

    rows = [
        row
        for row in page.extract_text_lines()
        if not any(inside(row, table.bbox) for table in tables)
    ]
    for table in tables:
        x0, top, x1, _ = table.bbox
        for i, cells in enumerate(table.extract()):
            texts = [(cell or "").replace("\n", "").strip() for cell in cells if cell is not None]
            line = table_row_line(texts)
            if line:
                rows.append(
                    {
                        "text": line,
                        "x0": x0,
                        "x1": x1,
                        "top": top + i * 1e-3,
                        "chars": [],
                        "table": True,
                    }
                )
    return borderless_table_rows(sorted(rows, key=lambda row: float(row["top"])))


#: A gap between two characters of a row at least this many of their font size wide separates
#: table cells: prose, a full-width space (1) or a tab after a heading number (about 2) never
#: leaves one.
_CELL_GAP_EM = 2.5


def _cells(row: dict) -> list[tuple[float, str]]:
    """A row's cells as (left edge, text), split where its characters leave a wide gap; the text
    keeps the spaces pdfplumber put between the words of the row."""
    glyphs = iter(c for c in row.get("chars", []) if str(c.get("text", "")).strip())
    cells: list[tuple[float, list[str]]] = []
    last_x1 = None
    for letter in str(row.get("text", "")):
        if not letter.strip():
            if cells:
                cells[-1][1].append(" ")
            continue
        char = next(glyphs, None)
        if char is None:  # text and characters disagree: read the row as it is
            return []
        size = float(char.get("size", 0.0)) or 10.0
        if last_x1 is None or float(char["x0"]) - last_x1 >= _CELL_GAP_EM * size:
            cells.append((float(char["x0"]), []))
        cells[-1][1].append(letter)
        last_x1 = float(char["x1"])
    return [(x0, "".join(text).strip()) for x0, text in cells]


_BARE_NUMBER = re.compile(r"^[0-9０-９]{1,3}$")


def _numbered_runs(
    cells: Sequence[list[tuple[float, str]]], sizes: Sequence[float]
) -> list[tuple[int, int]]:
    """(start, end) of each run of two or more consecutive two-cell rows numbered n, n + 1, …
    by a bare number in their first cell, their second cells starting within a character of
    each other."""

    def number(row: list[tuple[float, str]]) -> int | None:  # 「1」「１」, not 「①」 or 「1.」
        text = row[0][1] if len(row) == 2 else ""
        return int(unicodedata.normalize("NFKC", text)) if _BARE_NUMBER.match(text) else None

    numbers = [number(row) for row in cells]
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(cells) + 1):
        counts_on = (
            i < len(cells)
            and numbers[i] is not None
            and numbers[i - 1] is not None
            and numbers[i] == numbers[i - 1] + 1
            and abs(cells[i][1][0] - cells[i - 1][1][0]) <= sizes[i]
        )
        if not counts_on:
            if i - start >= 2:
                runs.append((start, i))
            start = i
    return runs


def borderless_table_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows of a table printed without rules, as ruled tables' rows are read (「｜1｜令和7年度｜…｜」).

    Read as a line, 「1 令和7年度 要件定義」 is heading 1, and the rows after it are joined onto
    it up to the next real heading. A row of three or more cells set apart by wide gaps is a
    table row; so is a row of two cells next to one whose columns it shares (the header
    「年度 内容」 over 「1 令和7年度 要件定義」). A table of only two columns is not told from a
    heading whose number is tabbed away from its title, unless its rows are numbered 1, 2, 3 …
    one under another with their second column in line (:func:`_numbered_runs`); headings have
    text between them.
    """
    cells = [_cells(row) for row in rows]
    sizes = [float(next(iter(row.get("chars", [])), {}).get("size", 0.0) or 10.0) for row in rows]
    is_table = [len(c) >= 3 for c in cells]
    for start, end in _numbered_runs(cells, sizes):
        is_table[start:end] = [True] * (end - start)

    def shares_columns(i: int, j: int) -> bool:
        starts = [x for x, _ in cells[j]]
        return all(any(abs(x - s) <= sizes[i] for s in starts) for x, _ in cells[i])

    changed = True
    while changed:  # spread to two-cell neighbours, a row at a time
        changed = False
        for i, row_cells in enumerate(cells):
            if is_table[i] or len(row_cells) != 2:
                continue
            if any(
                0 <= j < len(rows) and is_table[j] and shares_columns(i, j) for j in (i - 1, i + 1)
            ):
                is_table[i] = changed = True
    return [
        {**row, "text": table_row_line([text for _, text in cells[i]]), "table": True}
        if is_table[i]
        else row
        for i, row in enumerate(rows)
    ]


#: How far (in the body's font size) a line may sit from the right margin and still run to it,
#: and how far a line must be indented to count as indented: a character's width, halved or
#: one and a half times, absorbs the slack of justified Japanese lines.
_AT_MARGIN_EM = 1.5
_INDENT_EM = 0.5
#: A text opening or closing at least this share of the pages is a running header or footer.
_RUNNING_SHARE = 0.6
_BULLETS = "・●○◆■□〇◯※◎-－"
_SENTENCE_ENDS = ("。", "」", "）", ")", "：", ":", "！", "？")


def printed_lines(pages: Sequence[Sequence[dict]]) -> list[str]:
    """A printed document's lines as a draft's lines.

    Each page opens with a :data:`PAGE_BREAK` marker carrying its printed number (read from its
    「- 3 -」 footer or header when the document numbers its pages in order, else its position),
    running headers and footers and page numbers are dropped, and lines broken at the right
    margin are joined again (:func:`join_printed_rows`). ``pages`` hold pdfplumber's
    ``extract_text_lines()`` rows (``text``, ``x0``, ``x1``, ``chars``) of each page.

    Example:
        >>> row = lambda text, x0: {"text": text, "x0": x0, "x1": x0 + 10 * len(text), "chars": []}
        >>> printed_lines([[row("１．総論", 60), row("あ" * 40, 70), row("い。", 60)]])[1:]
        ['１．総論', 'ああああああああああああああああああああああああああああああああああああああああい。']
    """
    pages = [[row for row in page if str(row.get("text", "")).strip()] for page in pages]
    running = _running_lines(pages)
    numbers = _printed_page_numbers(pages)
    bodies: list[list[dict]] = []
    for index, page in enumerate(pages):
        last = len(page) - 1
        bodies.append(
            [
                row
                for position, row in enumerate(page)
                if not _PAGE_NUMBER.match(_text(row))
                and not (
                    _running_key(row) in running
                    and (position == last or (position == 0 and (index > 0 or _titled(page))))
                )
            ]
        )
    return join_printed_rows(bodies, numbers)


def _titled(page: Sequence[dict]) -> bool:
    """Whether the first page has a line other than its first before its first heading: then a
    running header on top of it is not the draft's only title candidate and can go."""
    for row in page[1:]:
        if parse_heading(_text(row)) is not None:
            return False
        if not _PAGE_NUMBER.match(_text(row)):
            return True
    return False


def join_printed_rows(pages: Sequence[Sequence[dict]], numbers: Sequence[int]) -> list[str]:
    """Join rows broken at the right margin back into paragraphs, across pages too.

    A printed draft breaks its lines where the page ends, mid-word and mid-sentence (「建築主」
    「事等」); kept apart, the pieces would be split as sentences and lose their words to BM25 and
    the encoder. A row that runs to the right margin continues on the next row when it stops
    mid-sentence (whatever the next row looks like: 「…は」 + 「①の手続による。」 is one sentence,
    except the next item of a bulleted list), or when the next row is no further indented and is
    neither a heading nor a bullet.
    Indentation is judged against the previous row, so nested layouts (「（１）」 one character in,
    body two) join as well as flush ones.
    """
    rows = [row for page in pages for row in page]
    if not rows:
        return [f"{PAGE_BREAK}{n}" for n in numbers]
    sizes = [float(c.get("size", 0.0)) for row in rows for c in row.get("chars", [])]
    em = statistics.median(sizes) if sizes else 10.0
    # The right margin: most body rows of a prose draft run to it; a wide table row or URL does
    # not move it.
    x1 = [float(r["x1"]) for r in rows]
    right = statistics.quantiles(x1, n=10, method="inclusive")[-1] if len(x1) > 1 else x1[0]
    out: list[str] = []
    previous: dict | None = None
    last_text = -1
    for page, number in zip(pages, numbers, strict=True):
        out.append(f"{PAGE_BREAK}{number}")
        for row in page:
            text = _text(row)
            if previous is not None and _continues(previous, row, right, em, out[last_text]):
                out[last_text] += text
            else:
                out.append(text)
                last_text = len(out) - 1
            previous = row
    return out


def _continues(previous: dict, row: dict, right: float, em: float, paragraph: str) -> bool:
    """Whether ``row`` goes on from ``previous``, the last row of ``paragraph`` so far."""
    if previous.get("table") or row.get("table"):  # a table row is a line of its own
        return False
    before = str(previous["text"]).strip()
    if float(previous["x1"]) < right - _AT_MARGIN_EM * em:
        return False
    text = _text(row)
    # The next item of a list whose items end without 「。」 (「・令和7年度：要件定義」): a row
    # opening with the mark the paragraph opened with starts an item of its own.
    if text[:1] in _BULLETS and paragraph[:1] == text[:1]:
        return False
    if not before.endswith(_SENTENCE_ENDS):
        return True
    return (
        float(row["x0"]) <= float(previous["x0"]) + _INDENT_EM * em
        and parse_heading(text) is None
        and text[0] not in _BULLETS
    )


def _text(row: dict) -> str:
    """A pdfplumber row's text without the spaces around it."""
    return str(row["text"]).strip()


def _running_key(row: dict) -> str:
    return re.sub(r"[0-9０-９]+", "#", _text(row))


def _running_lines(pages: Sequence[Sequence[dict]]) -> set[str]:
    """Texts (numbers masked) that open or close most pages: running headers and footers such as
    「資料２」 or the document's name on every page, which are no part of any section."""
    filled = [page for page in pages if page]
    if len(filled) < 2:
        return set()
    counts: dict[str, int] = {}
    for page in filled:
        for key in {_running_key(page[0]), _running_key(page[-1])}:
            counts[key] = counts.get(key, 0) + 1
    return {key for key, n in counts.items() if n >= max(2, _RUNNING_SHARE * len(filled))}


def _printed_page_numbers(pages: Sequence[Sequence[dict]]) -> list[int]:
    """The number printed on each page (its 「- 3 -」 footer or header), so that 「P3」 in an
    opinion means what the submitter saw; positions in the file when the document prints no
    numbers or prints them out of order (a cover page without one is numbered from its
    neighbour)."""
    found: list[int | None] = []
    for page in pages:
        ends = [page[0], page[-1]] if page else []
        digits = [
            re.sub(r"\D", "", unicodedata.normalize("NFKC", str(r["text"])).split("/")[0])
            for r in ends
            if _PAGE_NUMBER.match(_text(r))
        ]
        found.append(int(digits[-1]) if digits and digits[-1] else None)
    known = [(i, n) for i, n in enumerate(found) if n is not None]
    offsets = {n - i for i, n in known}
    if len(offsets) != 1:  # none printed, or not one running sequence: file positions
        return list(range(1, len(pages) + 1))
    offset = offsets.pop()
    return [i + offset for i in range(len(pages))]


def draft_lines(path: Path) -> list[str]:
    """The lines of a draft file, whatever its format."""
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return _docx_lines(path)
    if suffix == ".pdf":
        return _pdf_lines(path)
    if suffix in {".md", ".markdown", ".txt", ""}:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read the draft ({exc.strerror}).") from exc
        for encoding in ("utf-8-sig", "cp932"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            return [_pipe_table_line(line) for line in text.splitlines()]
        raise InputFileError(f"{path}: cannot decode the draft as UTF-8 or cp932.")
    raise InputFileError(
        f"{path}: unsupported draft type {suffix!r}; expected .md, .txt, .docx or .pdf."
    )


def markdown_table_cells(line: str) -> list[str] | None:
    """The cells of a Markdown table row (「| 1 | 令和7年度 |」), ``[]`` for the rule under its
    header row (「|---|:---:|」), ``None`` for any other line."""
    if _PIPE_RULE.match(line):
        return []
    row = _PIPE_ROW.match(line)
    return None if row is None else [cell.strip() for cell in row.group(1).split("|")]


def _pipe_table_line(line: str) -> str:
    """A Markdown table row as :func:`~pipeline.word.table_row_line`, as Word's and a PDF's tables
    are read (a row 「| 1 | 令和7年度 |」 is never a heading); the rule under the header row as
    ""; any other line as it is."""
    cells = markdown_table_cells(line)
    return line if cells is None else table_row_line(cells)


def read_draft(path: str | Path) -> Draft:
    """Read a draft file into a :class:`~pipeline.schema.Draft`; its id is the file stem.

    Raises:
        InputFileError: when the file cannot be read or has no numbered heading at all.

    Example:
        >>> draft = read_draft("data/samples/drafts/koukin-shuunou.md")  # doctest: +SKIP
        >>> draft.section_ids()[:3]  # doctest: +SKIP
        ['1', '1.(1)', '1.(2)']
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such draft file.")
    title, sections = sections_from_lines(draft_lines(path), path.stem)
    if not sections:
        raise InputFileError(
            f"{path}: no numbered heading found; expected lines such as '1. 概要', '（１）…', "
            "'①…' or '第1章 …' (DATA_FORMATS.md §2)."
        )
    return Draft(draft_id=path.stem, title=title, sections=tuple(sections), source=str(path))


def sections_frame(drafts: Sequence[Draft]) -> pd.DataFrame:
    """All sections of the drafts as one frame (the hand-over shape for matching)."""
    return pd.DataFrame(
        [
            {
                "draft_id": s.draft_id,
                "section_id": s.section_id,
                "heading": s.heading,
                "text": s.text,
                "level": s.level,
                "is_leaf": s.is_leaf,
            }
            for d in drafts
            for s in d.sections
        ],
        columns=["draft_id", "section_id", "heading", "text", "level", "is_leaf"],
    )


# --- 該当箇所 (location hints) -------------------------------------------------------------

#: 「〜」「～」「~」「から」 between two references or pages: a range.
_RANGE_MARK = r"[~～〜]|から"
_PAGE_REF = re.compile(
    rf"(?:p|P|ｐ|Ｐ)\.?\s*[0-9０-９]+(?:\s*(?:{_RANGE_MARK}|[-－])\s*[0-9０-９]+)?"
    rf"|[0-9０-９]+(?:\s*(?:{_RANGE_MARK}|[-－])\s*[0-9０-９]+)?\s*(?:ページ|頁)"
)
#: An attachment (「別紙1」「別添２」「参考資料3」): its number is no section of the draft.
_ATTACHMENT = re.compile(r"(?:別紙|別添|別表|参考資料|資料)\s*[0-9０-９]+")
_HINT_SPLIT = re.compile(
    r"及び|および|並びに|ならびに|、|,|，|・|/|／|;|；|\s+と\s*|と(?=[(（第0-9０-９])"
)
_HINT_TOKEN = re.compile(
    r"第\s*([0-9一二三四五六七八九十]+)\s*章"
    r"|[(]([0-9]{1,2})[)]"
    r"|([" + CIRCLED + r"])"
    r"|[(]([" + KANA + r"])[)]"
    r"|(?<![(0-9])([0-9]{1,2})[)]"
    r"|([0-9]{1,2})(?![0-9])"
    r"|(?<![ァ-ヶ])([" + KANA + r"])(?![ァ-ヶー])"
)


def _before_nfkc(char: str) -> str:
    """NFKC would make 「①」 a digit and 「Ⅱ」 letters: ① becomes a marker, Ⅱ its number."""
    if char in CIRCLED:
        return f"\x00{CIRCLED.index(char)}\x00"
    if char in ROMAN:
        return f" {ROMAN.index(char) + 1} "
    return char


#: A Roman numeral typed in Latin letters (「II-1」「IV.2」「IV2」) where it stands alone as a
#: number: not inside a word (「IT」「DX」) and followed by a separator, a bracket, a digit (「V4」
#: is part Ⅴ's item 4, as 「Ⅴ4」 is) or the end.
_LATIN_ROMAN_NUMBER = re.compile(r"(?<![A-Za-z])([IVX]{1,5})(?=[-.・ー－(（\s\d]|$)")


#: A kanji numeral used as a number in a 該当箇所 (after NFKC): after 第, 章 or 節, in brackets, or
#: standing alone before の, ・, a bracket, a space or the end (「第三の二の（一）」「三・二」); not
#: inside a word (「一部」「二重」「統一の」).
_KANJI_NUMBER_IN_HINT = re.compile(
    rf"(?<=[第章節])([{_KANJI_NUMERALS}]{{1,3}})"
    rf"|(?<=\()([{_KANJI_NUMERALS}]{{1,3}})(?=\))"
    rf"|(?<![\u3400-\u9fff々])([{_KANJI_NUMERALS}]{{1,3}})(?=[のノ・.(\s]|$)"
)


def _arabic_numbers(text: str) -> str:
    """A hint's kanji numerals in Arabic digits, so 「第三の二の（一）」 reads as 「第3の2の(1)」."""
    return _KANJI_NUMBER_IN_HINT.sub(lambda m: str(_number(m.group(0))), text)


def _latin_roman(match: re.Match[str]) -> str:
    numeral = match.group(1)
    return f" {_ROMAN_VALUES[numeral]} " if numeral in _ROMAN_VALUES else numeral


def _hint_tokens(part: str) -> list[str]:
    """Numbering tokens of one reference, e.g. '3（2）①' → ['3', '(2)', '①']."""
    protected = "".join(_before_nfkc(c) for c in part.translate(_CIRCLED_VARIANTS))
    text = _LATIN_ROMAN_NUMBER.sub(_latin_roman, unicodedata.normalize("NFKC", protected))
    text = _arabic_numbers(text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: CIRCLED[int(m.group(1))], text)
    tokens: list[str] = []
    for match in _HINT_TOKEN.finditer(text):
        chapter, paren, circled, kana_paren, half_paren, digits, kana = match.groups()
        if chapter:
            tokens.append(str(_number(chapter)))
        elif paren:
            tokens.append(f"({int(paren)})")
        elif circled:
            tokens.append(circled)
        elif half_paren:  # 「3(2)1)」: the level a draft numbers 「1)」
            tokens.append(f"{int(half_paren)})")
        elif kana_paren or kana:
            if tokens:  # a lone katakana is only a level-4 number after other numbering
                tokens.append(f"({kana_paren})" if kana_paren else kana)
        elif digits:
            # a plain number after "(2)" is the ① level written without its circle (or NFKC'd)
            number = int(digits)
            if tokens and tokens[-1].startswith("(") and 1 <= number <= len(CIRCLED):
                tokens.append(CIRCLED[number - 1])
            else:
                tokens.append(str(number))
    return tokens


def _ordinal(token: str) -> tuple[str, int] | None:
    """A numbering token's form and number (「3」, 「(3)」, 「③」), or None (「ア」)."""
    if token in CIRCLED:  # before isdigit(), which 「③」 passes
        return "circled", CIRCLED.index(token) + 1
    if token.isdigit():
        return "digit", int(token)
    if token.startswith("(") and token[1:-1].isdigit():
        return "paren", int(token[1:-1])
    if _is_half_paren(token):
        return "half_paren", int(token[:-1])
    return None


def _between(start: list[str], end: list[str]) -> list[list[str]]:
    """The references strictly inside a range (「2(1)～(4)」 → 2.(2), 2.(3)) when its two ends
    differ only in their last number, by at most ten; otherwise none."""
    if len(start) != len(end) or start[:-1] != end[:-1]:
        return []
    first, last = _ordinal(start[-1]), _ordinal(end[-1])
    if first is None or last is None or first[0] != last[0] or not 1 < last[1] - first[1] <= 10:
        return []
    form = {"digit": "{}", "paren": "({})", "half_paren": "{})"}
    return [
        [*start[:-1], CIRCLED[n - 1] if first[0] == "circled" else form[first[0]].format(n)]
        for n in range(first[1] + 1, last[1])
    ]


def _is_half_paren(token: str) -> bool:
    """「1)」: a number with only its closing bracket."""
    return token.endswith(")") and token[:-1].isdigit()


def _continued(tokens: list[str], previous: list[str]) -> list[str]:
    """「3.(1)及び(2)」「2(1)①、②」: a reference that starts deeper than the one before it shares
    that one's path down to its own level."""
    same_form = _is_half_paren if _is_half_paren(tokens[0]) else CIRCLED.__contains__
    if previous and tokens[0].startswith("(") and not previous[0].startswith("("):
        depth = next((i for i, t in enumerate(previous) if t.startswith("(")), len(previous))
    elif previous and same_form(tokens[0]) and len(previous) > 1:
        depth = next((i for i, t in enumerate(previous) if same_form(t)), len(previous))
    else:
        return tokens
    return previous[:depth] + tokens


def parse_location(hint: str) -> list[str]:
    """Candidate section ids named by a 該当箇所 string, in the order written.

    Page references and attachments (「別紙1」) are dropped; several references joined by 及び,
    、 or ・ give several ids, and a range (「2.1～2.3」「(1)から(3)」) each id in it.

    Example:
        >>> parse_location("P5 3.(2)①")
        ['3.(2).①']
        >>> parse_location("1.(3)及び2.(1)")
        ['1.(3)', '2.(1)']
        >>> parse_location("2(1)～(3)")
        ['2.(1)', '2.(2)', '2.(3)']
    """
    if not isinstance(hint, str) or not hint.strip():
        return []
    text = _ATTACHMENT.sub(" ", _PAGE_REF.sub(" ", hint))
    ids: list[str] = []
    previous: list[str] = []
    for part in _HINT_SPLIT.split(text):
        start: list[str] = []
        for piece in re.split(_RANGE_MARK, part):
            tokens = _hint_tokens(piece)
            if not tokens:
                start = []
                continue
            tokens = _continued(tokens, previous)
            for reference in [*_between(start, tokens), tokens]:
                candidate = ".".join(reference)
                if candidate not in ids:
                    ids.append(candidate)
            previous = start = tokens
    return ids


def parse_page(hint: str) -> int | None:
    """The first page a 該当箇所 string cites (「P5」「p.5」「５頁」 → 5), or None.

    Submitters often cite only the page of the PDF they read; where the section number is missing
    the page still says roughly where in the draft to look.

    Example:
        >>> parse_page("Ｐ５ 3.(2)")
        5
    """
    if not isinstance(hint, str):
        return None
    match = _PAGE_REF.search(unicodedata.normalize("NFKC", hint))
    if not match:
        return None
    page = int(re.search(r"[0-9]+", match.group(0)).group(0))  # a range's first page
    return page if page > 0 else None


def location_words_text(hint: str) -> str:
    """What is left of a 該当箇所 string once page and section numbers are removed (「費用負担について」
    → 「費用負担について」, 「P5 3.(2)」 → ''): submitters often name a heading instead of its number."""
    if not isinstance(hint, str):
        return ""
    text = _PAGE_REF.sub(" ", unicodedata.normalize("NFKC", hint.translate(_CIRCLED_VARIANTS)))
    text = _HINT_TOKEN.sub(" ", _arabic_numbers(text))
    return re.sub(r"[\s.,、。・()（）]+", " ", text).strip()


_BRACKETED_KANA = re.compile(r"\(([" + KANA + r"])\)")


def _kana_key(section_id: str) -> str:
    """A section id with brackets dropped around katakana: 「4.(1).②.(ア)」 → 「4.(1).②.ア」."""
    return _BRACKETED_KANA.sub(r"\1", section_id)


def _bracket_key(section_id: str) -> str:
    """A section id whose numbers below the first are all in one form, 「(2)」「2)」「②」 and a bare
    「2」 alike (katakana unbracketed): submitters write 「3(2)①」 or 「第2章3(1)」 for a draft
    numbered 「1)」, 「3(2)1)」 for one numbered 「①」, and 「2-2-②」 for ``2.(2).②``."""
    head, *rest = _kana_key(section_id).split(".")
    tokens = [head]
    for token in rest:
        ordinal = _ordinal(token)
        tokens.append(f"{ordinal[1]})" if ordinal else token)
    return ".".join(tokens)


class _SectionLookup:
    """A draft's section ids found by a reference, exactly or through ``key`` (which forgets
    differences submitters do not keep, e.g. brackets around katakana)."""

    def __init__(self, existing: list[str], key: Callable[[str], str]) -> None:
        self.existing, self.key = existing, key
        self.keys = [key(s) for s in existing]

    def exact(self, candidate: str) -> str | None:
        if candidate in self.existing:
            return candidate
        key = self.key(candidate)
        return self.existing[self.keys.index(key)] if key in self.keys else None

    def matches(self, candidate: str) -> list[str]:
        """The exact id, else ids that end with the reference (a chapter left out)."""
        if (same := self.exact(candidate)) is not None:
            return [same]
        key = self.key(candidate)
        ends = [s for s, k in zip(self.existing, self.keys, strict=True) if k.endswith("." + key)]
        head, _, rest = candidate.partition(".")
        if not ends and "." in rest and rest.split(".")[0] == head:  # 「第2章2.3」: 2.3 is a path
            return self.matches(rest)
        return ends

    def all_matches(self, candidates: list[str]) -> list[str]:
        return list(dict.fromkeys(m for c in candidates for m in self.matches(c)))


def resolve_location(hint: str, draft: Draft) -> list[str]:
    """Section ids of ``draft`` that a 該当箇所 string points to (empty when none exist).

    An exact id wins; otherwise an id that ends with the reference (a chapter left out), so
    「３（２）」 finds ``2.3.(2)`` in a draft with chapters; a chapter written before a number that
    already holds it (「第2章2.3」) is dropped. Katakana match with or without brackets:
    submitters write 「②ア」 for a heading 「(ア)」 and the reverse. 「・」 lists references
    (「3.(1)・(2)」) unless only the path it would join exists (「第２・３・（２）」). Only where
    nothing is found so, numbers below the first match in any form (「3(2)①」 finds ``3.(2).1)``,
    「2-2-②」 ``2.(2).②``).
    """
    existing = draft.section_ids()
    lookup = _SectionLookup(existing, _kana_key)
    candidates = parse_location(hint)
    if "・" in hint and any(lookup.exact(c) is None for c in candidates):
        # 「第２・３・（２）」: 「・」 joins the parts of one path, not several references
        joined = parse_location(hint.replace("・", "."))
        if joined and all(lookup.exact(c) is not None for c in joined):
            candidates = joined
    return lookup.all_matches(candidates) or _SectionLookup(existing, _bracket_key).all_matches(
        candidates
    )


# --- resolved points (DATA_FORMATS.md §3) ---------------------------------------------------

RESOLVED_HEADERS: dict[str, str] = {
    header_key(h): canonical
    for canonical, variants in {
        "resolved_id": ("番号", "resolved_id", "No", "No."),
        "draft_id": ("対象推進方針案", "対象", "推進方針案", "draft_id"),
        "text": ("事項", "text", "内容"),
        "where": ("解決の場", "where"),
    }.items()
    for h in variants
}


def read_resolved(path: str | Path) -> tuple[pd.DataFrame, list[RowError]]:
    """Read a resolved-points list (.csv, .xlsx or a Markdown table); bad rows are reported."""
    table = read_table(path)
    header_index, mapping = locate_header(table, RESOLVED_HEADERS, ("resolved_id", "text"))
    rows: list[dict[str, str]] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for row, number in zip(
        table.rows[header_index + 1 :], table.row_numbers[header_index + 1 :], strict=True
    ):
        if not any(c.strip() for c in row):
            continue
        record = {
            name: normalize_text(row[col]) if col < len(row) else ""
            for col, name in mapping.items()
        }
        record = {c: record.get(c, "") for c in RESOLVED_COLUMNS}
        if not record["resolved_id"] or record["resolved_id"] in seen:
            errors.append(
                RowError(
                    str(path), number, "resolved_id", "a unique non-empty id", record["resolved_id"]
                )
            )
            continue
        if not record["text"]:
            errors.append(RowError(str(path), number, "text", "the settled point (事項)", ""))
            continue
        seen.add(record["resolved_id"])
        rows.append(record)
    if not rows and not errors:
        raise InputSchemaError(f"{path}: the resolved-points list has a header but no rows.")
    return pd.DataFrame(rows, columns=list(RESOLVED_COLUMNS)), errors
