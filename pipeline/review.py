"""Human review on top of the store: the queue, the opinion card, confirming, and an Excel round trip.

Everything the notebook's widgets do is a function or method here, so it can be tested without a
browser; ``notebooks/review.ipynb`` only lays out :class:`ReviewPanel`. Every save goes through
:func:`pipeline.store.confirm` with the version the reviewer was shown, so a colleague's decision
made in the meantime is reported, never overwritten.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
from sqlalchemy import Engine

from pipeline.errors import InputFileError, InputSchemaError, PipelineError
from pipeline.flowchart import DESCRIBED_THRESHOLD
from pipeline.schema import (
    CATEGORIES,
    CATEGORY_NAMES_JA,
    EXCLUSIONS,
    HEADERS_JA,
    PRIORITY_NAMES_JA,
    VERDICT_NAMES_JA,
    Section,
)
from pipeline.store import (
    Recorded,
    ReviewConflictError,
    UnknownOpinionError,
    confirm,
    exact_header_key,
    find_header_row,
    format_time,
    get_draft,
    opinions_frame,
    reviews_frame,
    split_sections,
)
from pipeline.tables import escape_frame, format_sheet, normalize_text, read_table

#: Queue order of ``review_priority`` (English as ``triage score`` writes it, Japanese accepted).
PRIORITY_RANK: Final[dict[str, int]] = {
    "high": 0,
    "高": 0,
    "medium": 1,
    "中": 1,
    "low": 2,
    "低": 2,
}
DESCRIBED_NAMES_JA: Final[dict[str | None, str]] = {"yes": "記載あり", "no": "記載なし", None: "—"}
REVIEWER_ENV: Final[str] = "TRIAGE_REVIEWER"
DEMO_ENV: Final[str] = "TRIAGE_NOTEBOOK_DEMO"


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


# --- queue and progress ----------------------------------------------------------------------


def review_queue(
    engine: Engine, *, draft_id: str | None = None, pending_only: bool = False
) -> pd.DataFrame:
    """Opinions in the order a reviewer should take them.

    High → medium → low ``review_priority`` (unknown last), then the least sure suggestion first
    (lowest top probability), then draft and opinion id. ``reviewed`` says whether a verdict is
    recorded; ``pending_only`` drops those.
    """
    frame = opinions_frame(engine, draft_id=draft_id)
    probabilities = frame[[f"p_{c}" for c in CATEGORIES]].astype(float)
    frame = frame.assign(
        priority_rank=frame["review_priority"].map(
            lambda p: PRIORITY_RANK.get(normalize_text(p).lower(), len(PRIORITY_NAMES_JA))
        ),
        top_probability=probabilities.max(axis=1) if len(frame) else pd.Series(dtype=float),
        reviewed=frame["confirmed_verdict"].map(lambda v: not _is_missing(v)),
    )
    frame = frame.sort_values(
        ["priority_rank", "top_probability", "draft_id", "opinion_id"], kind="stable"
    ).reset_index(drop=True)
    if pending_only:
        frame = frame[~frame["reviewed"]].reset_index(drop=True)
    return frame


@dataclass(frozen=True)
class Progress:
    """How many opinions have a recorded verdict."""

    reviewed: int
    total: int

    @property
    def fraction(self) -> float:
        return self.reviewed / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.total} 件中 {self.reviewed} 件確認済み（{self.fraction:.0%}）"


def progress(engine: Engine, *, draft_id: str | None = None) -> Progress:
    """n of N reviewed (an opinion counts once, however many reviews it has)."""
    frame = opinions_frame(engine, draft_id=draft_id)
    reviewed = int(frame["confirmed_verdict"].map(lambda v: not _is_missing(v)).sum())
    return Progress(reviewed=reviewed, total=len(frame))


# --- the card ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SectionView:
    """One suggested section with its score, heading and text (``None`` without the draft)."""

    section_id: str
    score: float | None
    heading: str | None
    text: str | None
    #: Where the section is printed (「p.3」「p.3–4」) when the draft is a PDF, else "".
    pages: str = ""


@dataclass(frozen=True)
class GroupMember:
    """A near-duplicate opinion (same ``group_id``) and the version it had when the card loaded."""

    opinion_id: str
    draft_id: str
    municipality: str
    text: str
    version: int
    reviewed: bool


@dataclass(frozen=True)
class OpinionCard:
    """Everything a reviewer needs to decide on one opinion, and the version to decide against."""

    opinion_id: str
    draft_id: str
    draft_title: str
    prefecture: str
    municipality: str
    channel: str
    location: str
    text: str
    reason: str
    suggestion_id: int
    category: str
    probabilities: tuple[tuple[str, float], ...]  # (category, p), most likely first
    sections: tuple[SectionView, ...]
    p_described: float | None
    suggested_described: str | None
    suggested_verdict: str
    evidence: str
    resolved_id: str
    resolved_text: str
    review_priority: str
    priority_reasons: str
    model_version: str
    group_id: str
    group: tuple[GroupMember, ...]
    version: int
    confirmed: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.draft_id, self.opinion_id)

    @property
    def category_ja(self) -> str:
        return CATEGORY_NAMES_JA[self.category]

    def probabilities_ja(self) -> list[tuple[str, float]]:
        """The probabilities with Japanese category names, most likely first."""
        return [(CATEGORY_NAMES_JA[c], p) for c, p in self.probabilities]

    def to_html(self) -> str:
        """The card as HTML; all text from files is escaped, the evidence is in ``<mark>``."""
        return render_card(self)


def highlight(text: str, evidence: str) -> tuple[str, bool]:
    """Escape ``text`` for HTML and wrap each occurrence of ``evidence`` in ``<mark>``.

    Returns the HTML and whether the evidence was found.

    Example:
        >>> highlight("費用は<国>が負担する。別途検討する。", "別途検討する。")
        ('費用は&lt;国&gt;が負担する。<mark>別途検討する。</mark>', True)
    """
    evidence = evidence.strip()
    if not evidence or evidence not in text:
        return html.escape(text), False
    parts = text.split(evidence)
    marked = f"<mark>{html.escape(evidence)}</mark>"
    return marked.join(html.escape(p) for p in parts), True


def _suggested_described(category: str, p_described: float | None) -> str | None:
    if category in EXCLUSIONS:
        return None
    return "yes" if p_described is not None and p_described >= DESCRIBED_THRESHOLD else "no"


def _pages(section: Section | None) -> str:
    """「p.3」 or 「p.3–4」 for a section of a PDF draft, so a reviewer can find it on paper."""
    if section is None or not section.page_start:
        return ""
    end = section.page_end or section.page_start
    return f"p.{section.page_start}" + (f"–{end}" if end != section.page_start else "")


def _card_from_row(engine: Engine, row: pd.Series, group_rows: pd.DataFrame) -> OpinionCard:
    draft = get_draft(engine, row["draft_id"])
    ids = split_sections(_text(row["sections"]))
    scores = [s.strip() for s in _text(row["section_scores"]).split(";")]
    views = []
    for index, section_id in enumerate(ids):
        try:
            score: float | None = float(scores[index])
        except (IndexError, ValueError):
            score = None
        section = draft.get(section_id) if draft else None
        views.append(
            SectionView(
                section_id=section_id,
                score=score,
                heading=section.heading if section else None,
                text=section.text if section else None,
                pages=_pages(section),
            )
        )
    probabilities = sorted(
        ((c, float(row[f"p_{c}"])) for c in CATEGORIES), key=lambda cp: cp[1], reverse=True
    )
    p_described = None if _is_missing(row["p_described"]) else float(row["p_described"])
    confirmed = None
    if not _is_missing(row["confirmed_verdict"]):
        confirmed = {
            "category": row["confirmed_category"],
            "described": row["confirmed_described"],
            "sections": list(row["confirmed_sections"] or []),
            "verdict": row["confirmed_verdict"],
            "by": row["confirmed_by"],
            "at": row["confirmed_at"],
        }
    group = tuple(
        GroupMember(
            opinion_id=g["opinion_id"],
            draft_id=g["draft_id"],
            municipality=_text(g["municipality"]),
            text=_text(g["text"]),
            version=int(g["version"]),
            reviewed=not _is_missing(g["confirmed_verdict"]),
        )
        for _, g in group_rows.iterrows()
    )
    return OpinionCard(
        opinion_id=row["opinion_id"],
        draft_id=row["draft_id"],
        draft_title=draft.title if draft else "",
        prefecture=_text(row["prefecture"]),
        municipality=_text(row["municipality"]),
        channel=_text(row["channel"]),
        location=_text(row["location"]),
        text=_text(row["text"]),
        reason=_text(row["reason"]),
        suggestion_id=int(row["suggestion_id"]),
        category=row["category"],
        probabilities=tuple(probabilities),
        sections=tuple(views),
        p_described=p_described,
        suggested_described=_suggested_described(row["category"], p_described),
        suggested_verdict=_text(row["verdict"]),
        evidence=_text(row["evidence"]),
        resolved_id=_text(row["resolved_id"]),
        resolved_text=_text(row["resolved_text"]),
        review_priority=_text(row["review_priority"]),
        priority_reasons=_text(row["priority_reasons"]),
        model_version=_text(row["model_version"]),
        group_id=_text(row["group_id"]),
        group=group,
        version=int(row["version"]),
        confirmed=confirmed,
    )


def opinion_card(engine: Engine, opinion_id: str, *, draft_id: str | None = None) -> OpinionCard:
    """Load the card for one opinion (its current suggestion, draft sections and group).

    Raises:
        UnknownOpinionError: when the opinion is not in the store, or is ambiguous without
            ``draft_id``.
    """
    rows = opinions_frame(engine, draft_id=draft_id, opinion_id=opinion_id)
    if rows.empty:
        raise UnknownOpinionError(f"Opinion {opinion_id!r} is not in the review store.")
    if len(rows) > 1:
        raise UnknownOpinionError(
            f"Opinion {opinion_id!r} exists under several drafts "
            f"({', '.join(rows['draft_id'])}); name one with draft_id."
        )
    row = rows.iloc[0]
    group_rows = rows.iloc[0:0]
    if _text(row["group_id"]):
        same_draft = opinions_frame(engine, draft_id=row["draft_id"])
        group_rows = same_draft[
            (same_draft["group_id"] == row["group_id"])
            & (same_draft["opinion_id"] != row["opinion_id"])
        ]
    return _card_from_row(engine, row, group_rows)


def render_card(card: OpinionCard) -> str:
    """HTML for the notebook card (plain tags and inline styles, so exported notebooks keep it)."""
    e = html.escape
    parts = [
        '<div class="triage-card" style="border:1px solid #ccc;padding:8px;border-radius:4px">',
        f"<h3>{e(card.opinion_id)} — {e(card.municipality)}"
        f"{'（' + e(card.prefecture) + '）' if card.prefecture else ''}</h3>",
        f"<p><b>対象推進方針案</b>: {e(card.draft_title or card.draft_id)}"
        f" ／ <b>経路</b>: {e(card.channel)}"
        f" ／ <b>確認優先度</b>: {e(PRIORITY_NAMES_JA.get(card.review_priority, card.review_priority))}"
        f"{' （' + e(card.priority_reasons) + '）' if card.priority_reasons else ''}</p>",
        f"<p><b>意見</b>: {e(card.text)}</p>",
    ]
    if card.reason:
        parts.append(f"<p><b>理由</b>: {e(card.reason)}</p>")
    if card.location:
        parts.append(f"<p><b>該当箇所（意見記載）</b>: {e(card.location)}</p>")
    described = DESCRIBED_NAMES_JA[card.suggested_described]
    p_text = "" if card.p_described is None else f"（記載あり確率 {card.p_described:.2f}）"
    parts.append(
        f"<p><b>提案</b>: 判断Ⅰ {e(card.category_ja)} ／ 判断Ⅱ {described}{p_text} ／ 判定 "
        f"{e(VERDICT_NAMES_JA.get(card.suggested_verdict, card.suggested_verdict))}</p>"
    )
    parts.append('<table class="triage-probabilities"><tr><th>判断Ⅰ</th><th>確率</th></tr>')
    for name, p in card.probabilities_ja():
        bar = f'<span style="display:inline-block;background:#4a90d9;width:{p * 120:.0f}px">&nbsp;</span>'
        parts.append(f"<tr><td>{e(name)}</td><td>{bar} {p:.2f}</td></tr>")
    parts.append("</table>")
    evidence_shown = False
    if card.sections:
        parts.append("<h4>該当箇所（提案）</h4><ol>")
        for view in card.sections:
            # the ranker's probability that this is the section the opinion concerns
            score = "" if view.score is None else f"（確率 {view.score:.0%}）"
            if view.text is None:
                body = "<i>（案文が未登録のため本文を表示できません）</i>"
            else:
                body, found = highlight(view.text, card.evidence)
                evidence_shown = evidence_shown or found
            heading = e(view.heading or "")
            pages = f"（{e(view.pages)}）" if view.pages else ""
            parts.append(f"<li><b>{e(view.section_id)}</b> {heading}{pages}{score}<br>{body}</li>")
        parts.append("</ol>")
    if card.evidence and not evidence_shown:
        parts.append(f"<p><b>根拠となる記載</b>: <mark>{e(card.evidence)}</mark></p>")
    if card.resolved_id or card.resolved_text:
        parts.append(f"<p><b>解決済事項</b> {e(card.resolved_id)}: {e(card.resolved_text)}</p>")
    if card.group:
        members = "".join(
            f"<li>{e(m.opinion_id)} {e(m.municipality)}{' ✓' if m.reviewed else ''}: "
            f"{e(m.text)}</li>"
            for m in card.group
        )
        parts.append(
            f"<p><b>類似意見グループ {e(card.group_id)}</b>（ほか {len(card.group)} 件）</p>"
            f"<ul>{members}</ul>"
        )
    if card.confirmed:
        c = card.confirmed
        parts.append(
            f"<p><b>確定済み</b>: {e(CATEGORY_NAMES_JA.get(c['category'], c['category']))} ／ "
            f"{DESCRIBED_NAMES_JA.get(c['described'], '—')} ／ "
            f"{e(VERDICT_NAMES_JA.get(c['verdict'], c['verdict']))}"
            f"（{e(_text(c['by']))}, {e(format_time(c['at']))}）</p>"
        )
    parts.append(f"<p><small>版 {card.version} ／ モデル {e(card.model_version)}</small></p></div>")
    return "\n".join(parts)


# --- deciding ----------------------------------------------------------------------------------


def save_review(
    engine: Engine,
    card: OpinionCard,
    reviewer: str,
    *,
    category: str | None = None,
    sections: str | Sequence[str] | None = None,
    described: str | None = None,
    comment: str = "",
) -> Recorded:
    """Confirm (nothing given) or correct the card's suggestion, against the version shown.

    Raises:
        ReviewConflictError: when someone confirmed the opinion after the card was loaded.
    """
    return confirm(
        engine,
        card.opinion_id,
        draft_id=card.draft_id,
        reviewer=reviewer,
        based_on_version=card.version,
        category=category,
        sections=sections,
        described=described,
        comment=comment,
    )


@dataclass
class GroupOutcome:
    """Result of confirming a near-duplicate group: who got a verdict, and who was in conflict."""

    recorded: list[Recorded] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def confirm_group(
    engine: Engine,
    card: OpinionCard,
    reviewer: str,
    *,
    category: str | None = None,
    sections: str | Sequence[str] | None = None,
    described: str | None = None,
    comment: str = "",
) -> GroupOutcome:
    """Confirm the card's opinion and every member of its group in one action.

    Each opinion gets its own review and verdict and is checked against the version it had when
    the card loaded, so a member someone else decided meanwhile is reported in ``conflicts`` and
    left alone. With no decision given each opinion accepts its own suggestion; a decision given
    applies to all of them (they are near-duplicates of each other).
    """
    outcome = GroupOutcome()
    targets = [(card.opinion_id, card.draft_id, card.version)] + [
        (m.opinion_id, m.draft_id, m.version) for m in card.group
    ]
    for opinion_id, draft_id, version in targets:
        try:
            outcome.recorded.append(
                confirm(
                    engine,
                    opinion_id,
                    draft_id=draft_id,
                    reviewer=reviewer,
                    based_on_version=version,
                    category=category,
                    sections=sections,
                    described=described,
                    comment=comment,
                )
            )
        except ReviewConflictError as exc:
            outcome.conflicts.append(str(exc))
    return outcome


class ReviewSession:
    """A reviewer's walk through the queue; remembers the card shown so saves use its version.

    Example:
        >>> session = ReviewSession(get_engine(), reviewer="佐藤")  # doctest: +SKIP
        >>> card = session.card()  # doctest: +SKIP
        >>> session.save()  # accept the suggestion  # doctest: +SKIP
    """

    def __init__(self, engine: Engine, *, reviewer: str = "", draft_id: str | None = None) -> None:
        self.engine = engine
        self.reviewer = reviewer
        self.draft_id = draft_id
        self.queue = review_queue(engine, draft_id=draft_id)
        self.position = self._first_pending()
        self.shown: OpinionCard | None = None

    def _first_pending(self, start: int = 0) -> int:
        n = len(self.queue)
        for offset in range(n):
            index = (start + offset) % n
            if not self.queue.loc[index, "reviewed"]:
                return index
        return 0

    def refresh(self) -> None:
        """Reload the queue (others may have confirmed opinions), keeping the current opinion."""
        key = self.current_key()
        self.queue = review_queue(self.engine, draft_id=self.draft_id)
        if key is not None:
            self.go_to(*key)

    def current_key(self) -> tuple[str, str] | None:
        """(draft_id, opinion_id) at the current position, or ``None`` for an empty store."""
        if self.queue.empty:
            return None
        row = self.queue.iloc[self.position]
        return (row["draft_id"], row["opinion_id"])

    def go_to(self, draft_id: str, opinion_id: str) -> None:
        """Move to an opinion in the queue."""
        matches = self.queue.index[
            (self.queue["draft_id"] == draft_id) & (self.queue["opinion_id"] == opinion_id)
        ]
        if len(matches) == 0:
            raise UnknownOpinionError(f"Opinion {opinion_id!r} ({draft_id}) is not in the queue.")
        self.position = int(matches[0])

    def card(self) -> OpinionCard | None:
        """Load (fresh from the store) and remember the card at the current position."""
        key = self.current_key()
        self.shown = None if key is None else opinion_card(self.engine, key[1], draft_id=key[0])
        return self.shown

    def next(self) -> OpinionCard | None:
        """Move to the next opinion without a verdict (wrapping round) and load its card."""
        self.refresh()
        if not self.queue.empty:
            self.position = self._first_pending((self.position + 1) % len(self.queue))
        return self.card()

    def _require_card(self) -> OpinionCard:
        if self.shown is None:
            raise InputSchemaError("No opinion is shown; load one with card() first.")
        return self.shown

    def save(self, **decision: Any) -> Recorded:
        """Confirm or correct the shown card (see :func:`save_review`) as ``self.reviewer``."""
        recorded = save_review(self.engine, self._require_card(), self.reviewer, **decision)
        self.refresh()
        return recorded

    def confirm_group(self, **decision: Any) -> GroupOutcome:
        """Confirm the shown card's whole near-duplicate group (see :func:`confirm_group`)."""
        outcome = confirm_group(self.engine, self._require_card(), self.reviewer, **decision)
        self.refresh()
        return outcome

    def progress(self) -> Progress:
        """n of N reviewed, for the session's draft (or all drafts)."""
        return progress(self.engine, draft_id=self.draft_id)

    def queue_labels(self) -> list[tuple[str, int]]:
        """(label, position) pairs for a selection widget: ✓ marks opinions with a verdict."""
        labels = []
        for index, row in self.queue.iterrows():
            mark = "✓" if row["reviewed"] else "・"
            priority = PRIORITY_NAMES_JA.get(row["review_priority"], row["review_priority"] or "-")
            labels.append(
                (
                    f"{mark} [{priority}] {row['opinion_id']} {_text(row['municipality'])} "
                    f"{CATEGORY_NAMES_JA[row['category']]} ({row['top_probability']:.2f})",
                    int(index),
                )
            )
        return labels


@dataclass(frozen=True)
class HtmlView:
    """HTML that Jupyter renders as such (``_repr_html_``) without importing IPython here."""

    html: str

    def _repr_html_(self) -> str:
        return self.html


def default_reviewer() -> str:
    """The reviewer name preset in the notebook: env ``TRIAGE_REVIEWER``, else empty."""
    return os.environ.get(REVIEWER_ENV, "")


def demo_requested() -> bool:
    """Whether the notebook should confirm its first card by itself (env ``TRIAGE_NOTEBOOK_DEMO=1``)."""
    return os.environ.get(DEMO_ENV, "") == "1"


class ReviewPanel:
    """The notebook's widgets: reviewer, queue, card, controls and progress, wired to a session.

    ipywidgets is imported here, not at module import, so the rest of the module works without it.
    """

    def __init__(self, engine: Engine, *, reviewer: str = "", draft_id: str | None = None) -> None:
        import ipywidgets as w

        self.session = ReviewSession(engine, reviewer=reviewer, draft_id=draft_id)
        self.reviewer = w.Text(value=reviewer, description="確認者", placeholder="氏名")
        self.queue = w.Select(
            options=[], rows=8, description="確認待ち", layout=w.Layout(width="100%")
        )
        self.card_html = w.HTML()
        self.category = w.Dropdown(
            options=[(CATEGORY_NAMES_JA[c], c) for c in CATEGORIES], description="判断Ⅰ"
        )
        self.sections = w.Text(description="該当箇所", placeholder="3.(2);4.(1)")
        self.described = w.RadioButtons(
            options=[("記載あり", "yes"), ("記載なし", "no"), ("—（a〜f）", "")],
            description="判断Ⅱ",
        )
        self.comment = w.Textarea(description="コメント", layout=w.Layout(width="100%"))
        self.save_button = w.Button(description="保存（確定）", button_style="primary")
        self.group_button = w.Button(description="類似グループを一括確定")
        self.next_button = w.Button(description="次へ")
        self.progress_bar = w.IntProgress(min=0, max=1, value=0)
        self.progress_label = w.HTML()
        self.message = w.HTML()
        self.widget = w.VBox(
            [
                self.reviewer,
                w.HBox([self.progress_bar, self.progress_label]),
                self.queue,
                self.card_html,
                self.category,
                self.sections,
                self.described,
                self.comment,
                w.HBox([self.save_button, self.group_button, self.next_button]),
                self.message,
            ]
        )
        self._updating = False
        self.queue.observe(self._on_queue, names="value")
        self.category.observe(self._on_category, names="value")
        self.save_button.on_click(lambda _: self.save())
        self.group_button.on_click(lambda _: self.save_group())
        self.next_button.on_click(lambda _: self.next())
        self.render()

    def render(self) -> None:
        """Show the current card, with the controls preset to its suggestion."""
        card = self.session.card()
        self._updating = True
        try:
            self.queue.options = self.session.queue_labels()
            self.queue.value = self.session.position if card else None
            if card is None:
                self.card_html.value = "<p>確認する意見がありません。</p>"
            else:
                self.card_html.value = card.to_html()
                self.category.value = card.category
                self.sections.value = ";".join(v.section_id for v in card.sections)
                self.described.value = card.suggested_described or ""
                self.described.disabled = card.category in EXCLUSIONS
                self.comment.value = ""
                self.group_button.disabled = not card.group
        finally:
            self._updating = False
        done = self.session.progress()
        self.progress_bar.max = max(done.total, 1)
        self.progress_bar.value = done.reviewed
        self.progress_label.value = html.escape(str(done))

    def _on_queue(self, change: dict[str, Any]) -> None:
        if self._updating or change["new"] is None:
            return
        self.session.position = int(change["new"])
        self.message.value = ""
        self.render()

    def _on_category(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        # Judgement II is asked only for shared opinions: a–f clear it so the flowchart agrees.
        exclusion = change["new"] in EXCLUSIONS
        self.described.disabled = exclusion
        if exclusion:
            self.described.value = ""
        elif not self.described.value:
            card = self.session.shown
            self.described.value = (
                _suggested_described("shared", card.p_described if card else None) or "no"
            )

    def _decision(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "sections": self.sections.value,
            "described": self.described.value or None,
            "comment": self.comment.value,
        }

    def _report(self, text: str, ok: bool) -> None:
        colour = "green" if ok else "#c00"
        self.message.value = f'<p style="color:{colour}">{html.escape(text)}</p>'

    def save(self) -> Recorded | None:
        """Record the controls' decision for the shown card, then move to the next pending one."""
        self.session.reviewer = self.reviewer.value.strip()
        try:
            recorded = self.session.save(**self._decision())
        except PipelineError as exc:
            self._report(str(exc), ok=False)
            return None
        self.session.next()
        self.render()
        self._report(
            f"{recorded.opinion_id}: {VERDICT_NAMES_JA[recorded.verdict]}（版 {recorded.version}）",
            ok=True,
        )
        return recorded

    def save_group(self) -> GroupOutcome | None:
        """Record the controls' decision for the shown card and its whole group."""
        self.session.reviewer = self.reviewer.value.strip()
        try:
            outcome = self.session.confirm_group(**self._decision())
        except PipelineError as exc:
            self._report(str(exc), ok=False)
            return None
        self.session.next()
        self.render()
        text = f"{len(outcome.recorded)} 件を確定しました。"
        if outcome.conflicts:
            text += " 競合: " + " / ".join(outcome.conflicts)
        self._report(text, ok=not outcome.conflicts)
        return outcome

    def next(self) -> None:
        """Skip to the next opinion without a verdict."""
        self.session.next()
        self.message.value = ""
        self.render()

    def static_view(self) -> HtmlView:
        """:meth:`static_html` wrapped so that a notebook cell displays it as HTML."""
        return HtmlView(self.static_html())

    def static_html(self) -> str:
        """The current card and progress as plain HTML (what a headless run or export shows)."""
        card = self.session.shown
        body = card.to_html() if card else "<p>確認する意見がありません。</p>"
        return f"<p>{html.escape(str(self.session.progress()))}</p>{body}"


# --- Excel round trip --------------------------------------------------------------------------

DECISION_CONFIRM: Final[str] = "確認"
DECISION_CORRECT: Final[str] = "修正"
_DECISIONS: Final[dict[str, str]] = {
    "確認": DECISION_CONFIRM,
    "confirm": DECISION_CONFIRM,
    "修正": DECISION_CORRECT,
    "correct": DECISION_CORRECT,
}
#: Columns of the review sheet, canonical name → Japanese header.
SHEET_HEADERS: Final[dict[str, str]] = {
    "opinion_id": HEADERS_JA["opinion_id"],
    "draft_id": HEADERS_JA["draft_id"],
    "review_priority": HEADERS_JA["review_priority"],
    "municipality": HEADERS_JA["municipality"],
    "text": HEADERS_JA["text"],
    "reason": HEADERS_JA["reason"],
    "location": HEADERS_JA["location"],
    "suggested_category": HEADERS_JA["category"],
    "sections": HEADERS_JA["sections"],
    "suggested_described": "判断Ⅱ（提案）",
    "p_described": HEADERS_JA["p_described"],
    "suggested_verdict": HEADERS_JA["verdict"],
    "evidence": HEADERS_JA["evidence"],
    "resolved_text": HEADERS_JA["resolved_text"],
    "group_id": HEADERS_JA["group_id"],
    "confirmed": "確定済みの判定",
    "decision": "判断",
    "category": "判断Ⅰ（修正）",
    "corrected_sections": "該当箇所（修正）",
    "described": "判断Ⅱ（修正）",
    "comment": "コメント",
    "version": "版",
}
REVIEW_SHEET: Final[str] = "確認"
_INPUT_COLUMNS: Final[tuple[str, ...]] = (
    "decision",
    "category",
    "corrected_sections",
    "described",
    "comment",
)


def _category_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for code, name in CATEGORY_NAMES_JA.items():
        for form in (code, name, name.split(" ", 1)[-1], f"({code})", "共有"):
            if form == "共有" and code != "shared":
                continue
            aliases[normalize_text(form).lower().replace(" ", "")] = code
    return aliases


_CATEGORY_ALIASES: Final[dict[str, str]] = _category_aliases()
_DESCRIBED_ALIASES: Final[dict[str, str]] = {
    "yes": "yes",
    "no": "no",
    "あり": "yes",
    "なし": "no",
    "記載あり": "yes",
    "記載なし": "no",
    "はい": "yes",
    "いいえ": "no",
}


def parse_category(value: str) -> str | None:
    """A category from a sheet cell: ``shared``/``a``–``f``, ``(a)`` or the Japanese name.

    Returns ``None`` for an empty cell; raises ``InputSchemaError`` for anything else unknown.

    Example:
        >>> parse_category("(d) 団体固有の事情"), parse_category("共有すべき"), parse_category("")
        ('d', 'shared', None)
    """
    key = normalize_text(value).lower().replace(" ", "")
    if not key:
        return None
    if key not in _CATEGORY_ALIASES:
        raise InputSchemaError(
            f"unknown category {value!r}; expected one of "
            f"{', '.join(CATEGORIES)} or {', '.join(CATEGORY_NAMES_JA.values())}"
        )
    return _CATEGORY_ALIASES[key]


def parse_described(value: str) -> str | None:
    """Judgement II from a sheet cell: yes/no, あり/なし, 記載あり/記載なし; empty → ``None``."""
    key = normalize_text(value).lower()
    if not key or key in {"-", "—", "ー"}:
        return None
    if key not in _DESCRIBED_ALIASES:
        raise InputSchemaError(f"unknown 判断Ⅱ {value!r}; expected 記載あり/記載なし (yes/no)")
    return _DESCRIBED_ALIASES[key]


def review_sheet_frame(
    engine: Engine, *, reviewer: str | None = None, only_pending: bool = False
) -> pd.DataFrame:
    """The rows of the review sheet in queue order (canonical column names).

    ``only_pending`` keeps opinions without a recorded verdict; with ``reviewer`` it keeps those
    that reviewer has not reviewed yet (so a second reviewer can re-judge for agreement).
    """
    queue = review_queue(engine)
    if only_pending:
        if reviewer:
            reviews = reviews_frame(engine)
            done = set(
                zip(
                    reviews.loc[reviews["reviewer"] == reviewer, "draft_id"],
                    reviews.loc[reviews["reviewer"] == reviewer, "opinion_id"],
                    strict=True,
                )
            )
            keep = [
                (d, o) not in done
                for d, o in zip(queue["draft_id"], queue["opinion_id"], strict=True)
            ]
            queue = queue[keep]
        else:
            queue = queue[~queue["reviewed"]]

    def described(row: pd.Series) -> str:
        p = None if _is_missing(row["p_described"]) else float(row["p_described"])
        return DESCRIBED_NAMES_JA[_suggested_described(row["category"], p)]

    def confirmed(row: pd.Series) -> str:
        if _is_missing(row["confirmed_verdict"]):
            return ""
        return (
            f"{CATEGORY_NAMES_JA[row['confirmed_category']]} / "
            f"{VERDICT_NAMES_JA[row['confirmed_verdict']]} ({row['confirmed_by']})"
        )

    frame = pd.DataFrame(
        {
            "opinion_id": queue["opinion_id"],
            "draft_id": queue["draft_id"],
            "review_priority": queue["review_priority"].map(lambda p: PRIORITY_NAMES_JA.get(p, p)),
            "municipality": queue["municipality"],
            "text": queue["text"],
            "reason": queue["reason"],
            "location": queue["location"],
            "suggested_category": queue["category"].map(CATEGORY_NAMES_JA),
            "sections": queue["sections"],
            "suggested_described": queue.apply(described, axis=1) if len(queue) else [],
            "p_described": queue["p_described"],
            "suggested_verdict": queue["verdict"].map(lambda v: VERDICT_NAMES_JA.get(v, v)),
            "evidence": queue["evidence"],
            "resolved_text": queue["resolved_text"],
            "group_id": queue["group_id"],
            "confirmed": queue.apply(confirmed, axis=1) if len(queue) else [],
            **{name: "" for name in _INPUT_COLUMNS},
            "version": queue["version"].astype(int),
        },
        columns=list(SHEET_HEADERS),
    )
    return frame.reset_index(drop=True)


def export_review_sheet(
    engine: Engine, path: str | Path, *, reviewer: str | None = None, only_pending: bool = False
) -> Path:
    """Write the review sheet (.xlsx) people fill in: 判断 = 確認 or 修正, corrections beside it.

    Japanese headers, a frozen header row, filters, drop-down lists on 判断, 判断Ⅰ（修正） and
    判断Ⅱ（修正）, and a second sheet explaining the columns. Text cells are formula-escaped.
    """
    from openpyxl.worksheet.datavalidation import DataValidation

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise InputFileError(f"{path}: the review sheet is an Excel workbook; use a .xlsx name.")
    frame = review_sheet_frame(engine, reviewer=reviewer, only_pending=only_pending)
    shown = escape_frame(frame).rename(columns=SHEET_HEADERS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        shown.to_excel(writer, index=False, sheet_name=REVIEW_SHEET)
        sheet = writer.sheets[REVIEW_SHEET]
        format_sheet(sheet)
        last = max(len(frame) + 1, 2)
        columns = list(SHEET_HEADERS)
        lists = {
            "decision": f"{DECISION_CONFIRM},{DECISION_CORRECT}",
            "category": ",".join(CATEGORIES),
            "described": "記載あり,記載なし",
        }
        from openpyxl.utils import get_column_letter

        for name, options in lists.items():
            letter = get_column_letter(columns.index(name) + 1)
            validation = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True)
            validation.add(f"{letter}2:{letter}{last}")
            sheet.add_data_validation(validation)
        notes = pd.DataFrame(
            {
                "項目": [
                    "確認者",
                    "判断",
                    "判断Ⅰ（修正）",
                    "該当箇所（修正）",
                    "判断Ⅱ（修正）",
                    "版",
                ],
                "説明": [
                    reviewer or "（取込時に --reviewer で指定）",
                    "確認 = 提案どおり確定、修正 = 右の列の内容で確定、空欄 = 取り込まない",
                    "shared, a〜f または日本語名。空欄なら提案のまま",
                    "3.(2);4.(1) のように ; 区切り。空欄なら提案のまま",
                    "記載あり / 記載なし（共有すべき意見のみ。a〜f では空欄）",
                    "編集しないでください。書出し後に他の人が確定した意見は取り込まれません",
                ],
            }
        )
        notes.to_excel(writer, index=False, sheet_name="説明")
        format_sheet(writer.sheets["説明"])
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class SheetProblem:
    """A sheet row that could not be applied, and why."""

    row: int
    opinion_id: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} ({self.opinion_id or 'no id'}): {self.reason}"


@dataclass
class ApplyResult:
    """Rows applied, rows refused with a reason, rows left blank (no 判断)."""

    applied: list[Recorded] = field(default_factory=list)
    problems: list[SheetProblem] = field(default_factory=list)
    blank: int = 0


def apply_review_sheet(engine: Engine, path: str | Path, *, reviewer: str) -> ApplyResult:
    """Apply a filled review sheet: each row with 判断 is confirmed on its own.

    A row that cannot be taken (unknown opinion or category, 判断Ⅱ given for a–f, a version that
    someone else has moved past, …) is reported in ``problems`` with the reason; the other rows are
    applied. Rows without 判断 are left alone.
    """
    if not reviewer or not reviewer.strip():
        raise InputSchemaError("A reviewer name is required to apply a review sheet.")
    table = read_table(path)
    aliases = {exact_header_key(ja): name for name, ja in SHEET_HEADERS.items()}
    found = find_header_row(table.rows, aliases, ("opinion_id", "draft_id", "decision", "version"))
    if found is None:
        raise InputSchemaError(
            f"{path}: not a review sheet; expected the headers "
            f"{SHEET_HEADERS['opinion_id']}, {SHEET_HEADERS['draft_id']}, "
            f"{SHEET_HEADERS['decision']} and {SHEET_HEADERS['version']} in the first row "
            "(write one with: triage review export SHEET.xlsx)."
        )
    header_index, mapping = found
    result = ApplyResult()
    body = zip(table.rows[header_index + 1 :], table.row_numbers[header_index + 1 :], strict=True)
    for cells, number in body:
        # Only stripped: parse_category/parse_described normalise; comments keep their wording.
        row = {
            name: cells[col].strip() if col < len(cells) else "" for col, name in mapping.items()
        }
        row = {
            k: v[1:] if len(v) > 1 and v[0] == "'" and v[1] in "=+-@" else v for k, v in row.items()
        }
        opinion_id = row.get("opinion_id", "")
        if not any(row.get(name) for name in _INPUT_COLUMNS):
            result.blank += 1
            continue
        try:
            result.applied.append(_apply_row(engine, row, reviewer))
        except PipelineError as exc:
            result.problems.append(SheetProblem(number, opinion_id, str(exc)))
    return result


def _apply_row(engine: Engine, row: dict[str, str], reviewer: str) -> Recorded:
    decision = _DECISIONS.get(row.get("decision", "").lower())
    if decision is None:
        raise InputSchemaError(
            f"判断 must be {DECISION_CONFIRM} or {DECISION_CORRECT}; got {row.get('decision')!r}"
        )
    if not row.get("opinion_id"):
        raise InputSchemaError("the row has no 番号 (opinion id)")
    try:
        version = int(float(row.get("version", "")))
    except ValueError as exc:
        raise InputSchemaError(
            f"版 must be the whole number written by export; got {row.get('version')!r}"
        ) from exc
    category = parse_category(row.get("category", ""))
    described = parse_described(row.get("described", ""))
    sections = row.get("corrected_sections") or None
    if decision == DECISION_CONFIRM and (category or described or sections):
        raise InputSchemaError(
            f"判断 is {DECISION_CONFIRM} (accept the suggestion) but a correction is filled in; "
            f"write {DECISION_CORRECT} to apply it, or clear the correction"
        )
    return confirm(
        engine,
        row["opinion_id"],
        draft_id=row.get("draft_id") or None,
        reviewer=reviewer.strip(),
        based_on_version=version,
        category=category,
        sections=sections,
        described=described,
        comment=row.get("comment", ""),
    )
