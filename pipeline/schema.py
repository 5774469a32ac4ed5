"""The records that stages hand each other, and the label vocabulary of ANNOTATION_GUIDE.md.

Column names here are the data contract of DATA_FORMATS.md: extend, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

#: Judgement I labels: ``shared`` plus the six exclusion categories, in the guide's order.
CATEGORIES: Final[tuple[str, ...]] = ("shared", "a", "b", "c", "d", "e", "f")
EXCLUSIONS: Final[tuple[str, ...]] = ("a", "b", "c", "d", "e", "f")
#: When two exclusions apply, the one a reviewer would cite first (guide: f > b > d > e > a > c).
EXCLUSION_PRIORITY: Final[tuple[str, ...]] = ("f", "b", "d", "e", "a", "c")

CATEGORY_NAMES_JA: Final[dict[str, str]] = {
    "shared": "共有すべき",
    "a": "(a) 根拠不明確",
    "b": "(b) 射程外",
    "c": "(c) 抽象的なもの",
    "d": "(d) 団体固有の事情",
    "e": "(e) 前提条件を整理すべきもの",
    "f": "(f) 解決済",
}

DESCRIBED_VALUES: Final[tuple[str, ...]] = ("yes", "no")
VERDICTS: Final[tuple[str, ...]] = ("revision", "no_revision")
VERDICT_NAMES_JA: Final[dict[str, str]] = {
    "revision": "修正意見を出す",
    "no_revision": "修正意見を出さない",
}

CHANNELS: Final[tuple[str, ...]] = (
    "selection_request",
    "interim_briefing",
    "candidate_consultation",
    "draft_consultation",
)
#: Japanese names seen in exports (ANNOTATION_GUIDE.md ※1), after NFKC normalisation.
CHANNEL_ALIASES: Final[dict[str, str]] = {
    "作業依頼": "selection_request",
    "作業依頼への回答": "selection_request",
    "共通化の対象選定に向けた作業依頼": "selection_request",
    "i": "selection_request",
    "ⅰ": "selection_request",
    "中間報告会": "interim_briefing",
    "中間報告会での指摘": "interim_briefing",
    "中間報告会での指摘等": "interim_briefing",
    "ii": "interim_briefing",
    "ⅱ": "interim_briefing",
    "対象候補案への意見照会": "candidate_consultation",
    "対象候補案に対する意見照会": "candidate_consultation",
    "候補案意見照会": "candidate_consultation",
    "iii": "candidate_consultation",
    "ⅲ": "candidate_consultation",
    "推進方針案への意見照会": "draft_consultation",
    "推進方針案に対する意見照会": "draft_consultation",
    "方針案意見照会": "draft_consultation",
    "iv": "draft_consultation",
    "ⅳ": "draft_consultation",
}

#: The ways an opinion reached the council, named as the guide (※1) names them.
CHANNEL_NAMES_JA: Final[dict[str, str]] = {
    "selection_request": "共通化の対象選定に向けた作業依頼",
    "interim_briefing": "中間報告会での指摘等",
    "candidate_consultation": "対象候補案に対する意見照会",
    "draft_consultation": "推進方針案に対する意見照会",
}
PRIORITY_NAMES_JA: Final[dict[str, str]] = {"high": "高", "medium": "中", "low": "低"}

Category = Literal["shared", "a", "b", "c", "d", "e", "f"]
Described = Literal["yes", "no"]
Verdict = Literal["revision", "no_revision"]

#: Canonical columns of a consultation export (DATA_FORMATS.md §1), in output order.
OPINION_COLUMNS: Final[tuple[str, ...]] = (
    "opinion_id",
    "prefecture",
    "municipality",
    "municipality_code",
    "channel",
    "draft_id",
    "location",
    "text",
    "reason",
)
REQUIRED_OPINION_COLUMNS: Final[tuple[str, ...]] = ("opinion_id", "text")
#: What an opinion says and who sent it: copied onto suggestions and into the review store.
OPINION_DETAIL_COLUMNS: Final[tuple[str, ...]] = (
    "prefecture",
    "municipality",
    "municipality_code",
    "channel",
    "location",
    "text",
    "reason",
)

RESOLVED_COLUMNS: Final[tuple[str, ...]] = ("resolved_id", "draft_id", "text", "where")

#: Columns of the scoring output (DATA_FORMATS.md §4); extra columns may follow.
SUGGESTION_COLUMNS: Final[tuple[str, ...]] = (
    "opinion_id",
    "draft_id",
    "category",
    *(f"p_{c}" for c in CATEGORIES),
    "sections",
    "section_scores",
    "p_described",
    "verdict",
    "resolved_id",
    "model_version",
)


@dataclass(frozen=True)
class Section:
    """One numbered heading of a draft; ``text`` is its own body (children excluded)."""

    draft_id: str
    section_id: str
    heading: str
    text: str
    level: int
    parent_id: str | None = None
    is_leaf: bool = True
    line: int = 0
    #: Pages the section spans, where the draft has pages (a PDF); None for text and Word files.
    page_start: int | None = None
    page_end: int | None = None


@dataclass(frozen=True)
class Draft:
    """A policy draft split into sections; ``draft_id`` is the file stem."""

    draft_id: str
    title: str
    sections: tuple[Section, ...] = field(default_factory=tuple)
    source: str = ""

    def section_ids(self) -> list[str]:
        return [s.section_id for s in self.sections]

    def get(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.section_id == section_id), None)


@dataclass(frozen=True)
class RowError:
    """One rejected row: enough to find and fix it in the user's own file."""

    file: str
    row: int
    field: str
    expected: str
    found: str

    def __str__(self) -> str:
        return (
            f"{self.file}: row {self.row}, field '{self.field}': "
            f"expected {self.expected}, found {self.found!r}"
        )


#: Columns ``triage score`` adds after the contract ones, for reviewers and the review store.
SUGGESTION_EXTRA_COLUMNS: Final[tuple[str, ...]] = (
    *OPINION_DETAIL_COLUMNS,
    "evidence",
    "resolved_text",
    "group_id",
    "group_size",
    "review_priority",
    "priority_reasons",
)

#: Coded values shown by name in spreadsheets people read (Excel); reading one back maps them
#: to their codes again (CSV and Parquet keep the codes of DATA_FORMATS.md §4).
VALUE_NAMES_JA: Final[dict[str, dict[str, str]]] = {
    "category": CATEGORY_NAMES_JA,
    "verdict": VERDICT_NAMES_JA,
    "review_priority": PRIORITY_NAMES_JA,
    "channel": CHANNEL_NAMES_JA,
}

#: Japanese headers for spreadsheets people read (CSV and Parquet keep the canonical names).
HEADERS_JA: Final[dict[str, str]] = {
    "opinion_id": "番号",
    "draft_id": "対象推進方針案",
    "category": "判断Ⅰ（提案）",
    "p_shared": "確率_共有",
    "p_a": "確率_(a)根拠不明確",
    "p_b": "確率_(b)射程外",
    "p_c": "確率_(c)抽象的",
    "p_d": "確率_(d)団体固有",
    "p_e": "確率_(e)前提条件",
    "p_f": "確率_(f)解決済",
    "sections": "該当箇所（提案）",
    "section_scores": "該当箇所スコア",
    "p_described": "記載あり確率（判断Ⅱ）",
    "verdict": "判定（提案）",
    "resolved_id": "解決済事項番号",
    "model_version": "モデル版",
    "prefecture": "都道府県",
    "municipality": "団体名",
    "municipality_code": "団体コード",
    "channel": "経路",
    "location": "該当箇所（意見記載）",
    "text": "意見",
    "reason": "理由",
    "evidence": "根拠となる記載",
    "resolved_text": "解決済事項",
    "group_id": "類似意見グループ",
    "group_size": "グループ団体数",
    "review_priority": "確認優先度",
    "priority_reasons": "優先度の理由",
}
