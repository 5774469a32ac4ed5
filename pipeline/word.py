"""The lines of a Word draft as a reader sees them: automatic numbers written out, tables in place.

python-docx gives a paragraph's typed text only. A ministry's Word draft often numbers its
headings automatically (a numbering definition on the Heading styles or on the paragraphs:
「第1章」「1.」「(1)」「①」「ア」 are drawn by Word, not typed), so without them no heading would
be found; and a table (a schedule, a division of roles) is not among ``document.paragraphs`` at
all. :func:`docx_lines` renders each paragraph's number from ``numbering.xml`` the way Word
counts (levels restart under a new parent, one counter per list) and puts each table row in
document order as one line 「｜a｜b｜」, which can never be taken for a heading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.ns import qn

#: 「①」…「⑳」: the third level of a draft's numbering (Word's ``decimalEnclosedCircle``).
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
#: 「⑴」…「⒇」: the (1) level as one character, which Word draws for ``decimalEnclosedParen``.
PAREN_DIGITS = "⑴⑵⑶⑷⑸⑹⑺⑻⑼⑽⑾⑿⒀⒁⒂⒃⒄⒅⒆⒇"
_AIUEO = (
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
)
_IROHA = (
    "イロハニホヘトチリヌルヲワカヨタレソツネナラムウヰノオクヤマケフコエテアサキユメミシヱヒモセス"
)
_KANJI = "〇一二三四五六七八九"


def _kanji(n: int) -> str:
    """1 … 99 as 一 … 九十九 (japaneseCounting)."""
    if n < 10:
        return _KANJI[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _KANJI[tens]) + "十" + (_KANJI[ones] if ones else "")


def _roman(n: int) -> str:
    numerals = (
        (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
        (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
    )  # fmt: skip
    out = ""
    for value, letters in numerals:
        while n >= value:
            out, n = out + letters, n - value
    return out


def _from(symbols: str, n: int) -> str:
    return symbols[(n - 1) % len(symbols)] if n > 0 else str(n)


def format_number(n: int, fmt: str) -> str:
    """One level's number in Word's ``numFmt`` (the Japanese forms included).

    Example:
        >>> [format_number(3, f) for f in ("decimalFullWidth", "decimalEnclosedCircle", "aiueoFullWidth")]
        ['３', '③', 'ウ']
    """
    if fmt in ("decimalFullWidth", "decimalFullWidth2"):
        return str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese", "ideographEnclosedCircle"):
        return _from(CIRCLED, n) if n <= 20 else str(n)
    if fmt == "decimalEnclosedParen":
        return _from(PAREN_DIGITS, n) if n <= 20 else f"({n})"
    if fmt == "decimalEnclosedFullstop":
        return f"{n}."
    if fmt in ("aiueo", "aiueoFullWidth"):
        return _from(_AIUEO, n)
    if fmt in ("iroha", "irohaFullWidth"):
        return _from(_IROHA, n)
    if fmt in ("japaneseCounting", "japaneseLegal", "ideographTraditional", "chineseCounting"):
        return _kanji(n) if 0 < n < 100 else str(n)
    if fmt in ("japaneseDigitalTenThousand", "ideographDigital", "chineseCountingThousand"):
        return "".join(_KANJI[int(d)] for d in str(n))
    if fmt == "upperLetter":
        return chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)
    if fmt == "lowerLetter":
        return chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)
    if fmt == "upperRoman":
        return _roman(n)
    if fmt == "lowerRoman":
        return _roman(n).lower()
    if fmt in ("bullet", "none"):
        return ""
    return str(n)  # decimal, decimalHalfWidth, decimalZero and anything unknown


@dataclass
class _Level:
    start: int = 1
    fmt: str = "decimal"
    text: str = ""
    suffix: str = "tab"
    #: Restart after which level (0-based); None: after any higher level (Word's default).
    restart_after: int | None = None
    #: ``w:isLgl``: every number in this level's text in Arabic digits (「第一章」's items 「1.1」).
    legal: bool = False


def _val(element: Any, tag: str) -> str | None:
    child = element.find(qn(tag)) if element is not None else None
    return child.get(qn("w:val")) if child is not None else None


def _levels(abstract: Any) -> dict[int, _Level]:
    levels: dict[int, _Level] = {}
    for lvl in abstract.findall(qn("w:lvl")):
        restart = _val(lvl, "w:lvlRestart")
        levels[int(lvl.get(qn("w:ilvl"), "0"))] = _Level(
            start=int(_val(lvl, "w:start") or 1),
            fmt=_val(lvl, "w:numFmt") or "decimal",
            text=_val(lvl, "w:lvlText") or "",
            suffix=_val(lvl, "w:suff") or "tab",
            restart_after=None if restart is None else int(restart) - 1,
            legal=lvl.find(qn("w:isLgl")) is not None
            and _val(lvl, "w:isLgl") not in ("0", "false", "off"),
        )
    return levels


@dataclass
class _Numbering:
    """numbering.xml, and the counters of the lists met so far."""

    abstract_of: dict[str, str] = field(default_factory=dict)
    levels: dict[str, dict[int, _Level]] = field(default_factory=dict)
    #: numId -> {ilvl: start} from <w:lvlOverride><w:startOverride>
    overrides: dict[str, dict[int, int]] = field(default_factory=dict)
    #: (abstractNumId, styleId) -> the level whose <w:pStyle> names that paragraph style
    style_level: dict[tuple[str, str], int] = field(default_factory=dict)
    counters: dict[str, dict[int, int]] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, document: Any) -> _Numbering:
        numbering = cls()
        try:  # not document.part.numbering_part: python-docx cannot create a missing one
            root = document.part.part_related_by(RT.NUMBERING).element
        except KeyError:  # a document without lists has no numbering part: nothing is numbered
            return numbering
        for abstract in root.findall(qn("w:abstractNum")):
            abstract_id = abstract.get(qn("w:abstractNumId"))
            numbering.levels[abstract_id] = _levels(abstract)
            for lvl in abstract.findall(qn("w:lvl")):
                style_id = _val(lvl, "w:pStyle")
                if style_id:
                    numbering.style_level[(abstract_id, style_id)] = int(lvl.get(qn("w:ilvl"), "0"))
        # A list that takes its levels from a list style (<w:numStyleLink>) is the list that
        # defines that style (<w:styleLink>): same levels, same counters.
        defines = {
            _val(a, "w:styleLink"): a.get(qn("w:abstractNumId"))
            for a in root.findall(qn("w:abstractNum"))
            if _val(a, "w:styleLink")
        }
        linked = {
            a.get(qn("w:abstractNumId")): defines.get(_val(a, "w:numStyleLink"))
            for a in root.findall(qn("w:abstractNum"))
            if _val(a, "w:numStyleLink")
        }
        for num in root.findall(qn("w:num")):
            num_id = num.get(qn("w:numId"))
            abstract_id = _val(num, "w:abstractNumId") or ""
            numbering.abstract_of[num_id] = linked.get(abstract_id) or abstract_id
            for override in num.findall(qn("w:lvlOverride")):
                start = _val(override, "w:startOverride")
                if start is not None:
                    ilvl = int(override.get(qn("w:ilvl"), "0"))
                    numbering.overrides.setdefault(num_id, {})[ilvl] = int(start)
        return numbering

    def of_paragraph(self, paragraph: Any) -> tuple[str, int] | None:
        """(numId, level) of a numbered paragraph, from its own properties or its style's."""
        num_pr = paragraph._p.find(qn("w:pPr") + "/" + qn("w:numPr"))
        num_id = _val(num_pr, "w:numId") if num_pr is not None else None
        ilvl = _val(num_pr, "w:ilvl") if num_pr is not None else None
        style = paragraph.style
        while num_id is None and style is not None:  # numbering on the style or a base style
            style_pr = style.element.find(qn("w:pPr") + "/" + qn("w:numPr"))
            if style_pr is not None:
                num_id, ilvl = _val(style_pr, "w:numId"), ilvl or _val(style_pr, "w:ilvl")
                if ilvl is None:
                    abstract = self.abstract_of.get(num_id or "", "")
                    level = self.style_level.get((abstract, style.style_id))
                    ilvl = None if level is None else str(level)
            style = style.base_style
        if num_id is None or num_id == "0":  # numId 0: numbering switched off
            return None
        return num_id, int(ilvl or 0)

    def label(self, num_id: str, ilvl: int) -> str:
        """Count one more paragraph at (list, level) and return its number as Word draws it."""
        abstract = self.abstract_of.get(num_id)
        levels = self.levels.get(abstract or "", {})
        level = levels.get(ilvl)
        if abstract is None or level is None or level.fmt in ("bullet", "none"):
            return ""  # a bullet is a mark, not a number: the text reads the same without it
        counters = self.counters.setdefault(abstract, {})
        if num_id in self.overrides and num_id not in self.started:
            for lvl, start in self.overrides[num_id].items():
                counters[lvl] = start - 1  # a list that restarts its numbering here
        self.started.add(num_id)
        counters[ilvl] = counters.get(ilvl, level.start - 1) + 1
        for deeper, deeper_level in levels.items():
            restart = deeper_level.restart_after
            if deeper > ilvl and (restart is None or restart >= ilvl):
                counters.pop(deeper, None)
        text = level.text
        for lvl, lvl_def in levels.items():
            fmt = "decimal" if level.legal else lvl_def.fmt
            number = format_number(counters.get(lvl, lvl_def.start), fmt)
            text = text.replace(f"%{lvl + 1}", number)
        if not text:
            return ""
        return text + ("" if level.suffix == "nothing" else "\u3000")


def table_row_line(texts: Sequence[str]) -> str:
    """A table row as one draft line 「｜a｜b｜」 (Word's and a PDF's tables alike): never taken
    for a heading, whatever its first cell says; "" for a row with no text."""
    return "｜" + "｜".join(texts) + "｜" if any(texts) else ""


def _row_line(cells: list[Any]) -> str:
    """A Word table row as :func:`table_row_line`; a merged cell, which python-docx repeats, once."""
    texts: list[str] = []
    previous = None
    for cell in cells:
        if cell._tc is previous:
            continue
        previous = cell._tc
        texts.append(" ".join(p.text.strip() for p in cell.paragraphs if p.text.strip()))
    return table_row_line(texts)


#: Opens each page of a paged draft, followed by the page's number ("\f" + "3"): the PDF and Word
#: readers put one before every page, so that sections know the pages they span.
PAGE_BREAK = "\f"


def _page_breaks(element: Any, rendered: bool) -> tuple[int, int]:
    """(page breaks before or inside an element's text, breaks after all of it).

    ``rendered``: count the page boundaries Word recorded when it last laid the file out
    (``w:lastRenderedPageBreak``, which covers every cause of a new page); otherwise the breaks
    typed into it (a page break, 「改ページ前」, a section break). A break with text after it in
    the same element puts the element on the new page; one at its end, the element after it."""
    before = after = 0
    pending = 0  # breaks seen with no text after them yet
    if not rendered:
        properties = element.find(qn("w:pPr"))
        if properties is not None:
            flag = properties.find(qn("w:pageBreakBefore"))
            if flag is not None and flag.get(qn("w:val")) not in ("0", "false", "off"):
                before += 1
    for node in element.iter(qn("w:t"), qn("w:br"), qn("w:lastRenderedPageBreak")):
        if node.tag == qn("w:t"):
            if node.text:
                before, pending = before + pending, 0
        elif node.tag == qn("w:lastRenderedPageBreak"):
            if rendered:
                pending += 1
        elif not rendered and node.get(qn("w:type")) == "page":
            pending += 1
    after += pending
    if not rendered:
        section = element.find(f"{qn('w:pPr')}/{qn('w:sectPr')}")
        if section is not None:
            kind = section.find(qn("w:type"))
            value = kind.get(qn("w:val")) if kind is not None else "nextPage"
            after += value in ("nextPage", "oddPage", "evenPage")
    return before, after


def docx_lines(document: Any) -> list[str]:
    """Every paragraph (its automatic number in front) and every table row, in document order.

    Where the file knows its pages (Word records where it last broke them, or page breaks are
    typed in), each page opens with a :data:`PAGE_BREAK` line carrying its number, as a PDF's
    does: a submitter's 「P5」 then points at the sections on page 5, not at an estimate.

    Example:
        >>> from docx import Document  # doctest: +SKIP
        >>> docx_lines(Document("draft.docx"))[:2]  # doctest: +SKIP
        ['共通化推進方針（案）', '第１章\u3000総論']
    """
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    numbering = _Numbering.of(document)
    body = document.element.body
    rendered = next(body.iter(qn("w:lastRenderedPageBreak")), None) is not None
    page = 1
    lines: list[str] = [f"{PAGE_BREAK}1"]

    def add(line: str, element: Any) -> None:
        nonlocal page
        before, after = _page_breaks(element, rendered)
        if before:
            page += before
            lines.append(f"{PAGE_BREAK}{page}")
        if line:
            lines.append(line)
        if after:
            page += after
            lines.append(f"{PAGE_BREAK}{page}")

    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            paragraph = Paragraph(child, document)
            numbered = numbering.of_paragraph(paragraph)
            label = numbering.label(*numbered) if numbered else ""
            add(label + paragraph.text, child)
        elif child.tag == qn("w:tbl"):
            for row in Table(child, document).rows:
                add(_row_line(list(row.cells)), row._tr)
    return lines if page > 1 else lines[1:]  # no page break anywhere: the pages are unknown
