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
