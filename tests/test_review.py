"""Review logic behind the notebook, the Excel round trip, and the notebook run headless."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from pipeline.drafts import read_draft
from pipeline.errors import InputSchemaError
from pipeline.review import (
    SHEET_HEADERS,
    Progress,
    ReviewPanel,
    ReviewSession,
    apply_review_sheet,
    confirm_group,
    export_review_sheet,
    highlight,
    opinion_card,
    parse_category,
    progress,
    review_queue,
)
from pipeline.store import (
    ReviewConflictError,
    audit_frame,
    confirm,
    get_engine,
    import_suggestions,
    reviews_frame,
    verdicts_frame,
)

from .conftest import print_pdf

DATA = Path(__file__).parent / "data"
SUGGESTIONS = DATA / "suggestions_small.csv"
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "review.ipynb"


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = get_engine(store_url)
    drafts = [read_draft(p) for p in sorted((DATA / "drafts").glob("*.md"))]
    import_suggestions(engine, SUGGESTIONS, drafts=drafts)
    return engine


def test_queue_is_by_priority_then_least_sure_first(engine: Engine) -> None:
    queue = review_queue(engine)
    assert list(queue["opinion_id"][:5]) == ["F-002", "K-004", "K-005", "K-006", "K-007"]
    assert list(queue["review_priority"]) == ["high"] * 4 + ["medium"] * 4 + ["low"] * 4
    confirm(engine, "F-002", reviewer="佐藤", based_on_version=0)
    assert "F-002" not in set(review_queue(engine, pending_only=True)["opinion_id"])


def test_card_shows_probabilities_in_japanese_and_marks_the_evidence(engine: Engine) -> None:
    card = opinion_card(engine, "K-001")
    assert card.probabilities_ja()[0] == ("共有すべき", 0.62)
    assert [v.section_id for v in card.sections] == ["3.(2)", "1.(2)"]
    assert card.sections[0].heading == "費用負担"
    html = card.to_html()
    assert "<mark>システム改修経費の負担の在り方については、令和7年度中に検討する。</mark>" in html
    assert "(a) 根拠不明確" in html and card.suggested_described == "no"
    assert "費用負担（確率 81%）" in html  # the ranker's probability for the section


def test_card_shows_the_matched_resolved_point(engine: Engine) -> None:
    html = opinion_card(engine, "F-001").to_html()
    assert "RN-1" in html and "全ポータルサイトに連携すると回答済み" in html


def test_card_of_a_pdf_draft_says_on_which_page_the_section_is(tmp_path: Path) -> None:
    """The koukin draft printed as a two-page PDF: the card names the page of each section."""
    lines = [
        x for x in (DATA / "drafts" / "koukin-shuunou.md").read_text("utf-8").splitlines() if x
    ]
    path = print_pdf(tmp_path / "koukin-shuunou.pdf", [lines[:6], lines[6:]])
    draft = read_draft(path)
    expected = {s.section_id: s.page_start for s in draft.sections}
    assert set(expected.values()) == {1, 2}
    engine = get_engine(tmp_path / "pdf.sqlite")
    import_suggestions(engine, SUGGESTIONS, drafts=[draft])
    card = opinion_card(engine, "K-001")
    first = card.sections[0]
    assert first.pages == f"p.{expected[first.section_id]}"
    assert f"{first.heading}（{first.pages}）（確率" in card.to_html()
    # text drafts have no pages, and their stored record is what it always was
    assert opinion_card(engine_with_text_drafts(tmp_path), "K-001").sections[0].pages == ""


def engine_with_text_drafts(tmp_path: Path) -> Engine:
    engine = get_engine(tmp_path / "text.sqlite")
    drafts = [read_draft(p) for p in sorted((DATA / "drafts").glob("*.md"))]
    import_suggestions(engine, SUGGESTIONS, drafts=drafts)
    return engine


def test_card_without_drafts_still_shows_the_evidence(tmp_path: Path) -> None:
    engine = get_engine(tmp_path / "nodrafts.sqlite")
    import_suggestions(engine, SUGGESTIONS)
    card = opinion_card(engine, "K-001")
    assert card.sections[0].text is None
    assert "<mark>システム改修経費" in card.to_html()


def test_highlight_escapes_html() -> None:
    html, found = highlight("<b>本文</b>：検討する。", "検討する。")
    assert found and html == "&lt;b&gt;本文&lt;/b&gt;：<mark>検討する。</mark>"


def test_confirm_group_gives_each_opinion_its_own_review(engine: Engine) -> None:
    card = opinion_card(engine, "K-005")
    assert [m.opinion_id for m in card.group] == ["K-006"]
    outcome = confirm_group(engine, card, "佐藤")
    assert not outcome.conflicts
    assert sorted(r.opinion_id for r in outcome.recorded) == ["K-005", "K-006"]
    assert len(set(reviews_frame(engine)["review_id"])) == 2
    assert list(verdicts_frame(engine)["verdict"]) == ["revision", "revision"]


def test_confirm_group_reports_a_member_changed_meanwhile(engine: Engine) -> None:
    card = opinion_card(engine, "K-005")
    confirm(engine, "K-006", reviewer="鈴木", based_on_version=0, category="c")
    outcome = confirm_group(engine, card, "佐藤", category="shared", described="no")
    assert [r.opinion_id for r in outcome.recorded] == ["K-005"]
    assert len(outcome.conflicts) == 1 and "changed by 鈴木" in outcome.conflicts[0]
    k006 = verdicts_frame(engine).set_index("opinion_id").loc["K-006"]
    assert k006["category"] == "c" and k006["reviewer"] == "鈴木"


def test_progress_counts_opinions_with_a_verdict(engine: Engine) -> None:
    assert progress(engine) == Progress(0, 12)
    confirm(engine, "K-001", reviewer="佐藤", based_on_version=0)
    confirm(engine, "K-001", reviewer="鈴木", based_on_version=1)
    assert progress(engine) == Progress(1, 12)
    assert str(progress(engine, draft_id="koukin-shuunou")) == "7 件中 1 件確認済み（14%）"


def test_session_saves_against_the_version_it_showed(engine: Engine) -> None:
    session = ReviewSession(engine, reviewer="佐藤")
    card = session.card()
    assert card is not None and card.opinion_id == "F-002"
    confirm(engine, "F-002", reviewer="鈴木", based_on_version=0)
    with pytest.raises(ReviewConflictError, match="changed by 鈴木"):
        session.save()
    session.card()  # reload: now it is a fresh decision on version 1
    assert session.save(category="b").version == 2
    assert session.next().opinion_id == "K-004"


def test_panel_buttons_drive_the_store(engine: Engine) -> None:
    panel = ReviewPanel(engine, reviewer="")
    assert "F-002" in panel.card_html.value and "0 件確認済み" in panel.progress_label.value
    panel.save_button.click()
    assert "reviewer name is required" in panel.message.value
    panel.reviewer.value = "佐藤"
    panel.category.value = "shared"
    assert panel.described.value == "yes" and not panel.described.disabled
    panel.category.value = "a"
    assert panel.described.value == "" and panel.described.disabled
    panel.save_button.click()
    assert "修正意見を出さない" in panel.message.value
    assert "K-004" in panel.card_html.value  # moved on to the next pending opinion
    assert panel.progress_bar.value == 1
    assert verdicts_frame(engine).iloc[0]["opinion_id"] == "F-002"


def test_parse_category_accepts_codes_and_japanese_names() -> None:
    assert parse_category("(b) 射程外") == "b"
    assert parse_category("射程外") == "b"
    assert parse_category("ｓｈａｒｅｄ") == "shared"
    with pytest.raises(InputSchemaError, match="unknown category 'z'"):
        parse_category("z")


def _fill(path: Path, decisions: dict[str, dict[str, object]], extra: list[list[object]]) -> None:
    workbook = load_workbook(path)
    sheet = workbook["確認"]
    headers = [c.value for c in sheet[1]]
    column = {name: headers.index(ja) + 1 for name, ja in SHEET_HEADERS.items()}
    for row in range(2, sheet.max_row + 1):
        values = decisions.get(sheet.cell(row, column["opinion_id"]).value, {})
        for name, value in values.items():
            sheet.cell(row, column[name], value)
    for values in extra:
        sheet.append(values)
    workbook.save(path)


def test_excel_round_trip_applies_good_rows_and_reports_bad_ones(
    engine: Engine, tmp_path: Path
) -> None:
    path = export_review_sheet(engine, tmp_path / "sheet.xlsx", reviewer="佐藤")
    workbook = load_workbook(path)
    sheet = workbook["確認"]
    assert [c.value for c in sheet[1]] == list(SHEET_HEADERS.values())
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    texts = {r[0].value: r[4].value for r in sheet.iter_rows(min_row=2)}
    assert texts["K-007"] == "'=丁寧に進めてほしい。"  # formula-escaped in the sheet

    confirm(engine, "F-001", reviewer="鈴木", based_on_version=0)  # after the export
    unknown = [None] * len(SHEET_HEADERS)
    unknown[0], unknown[1], unknown[16], unknown[-1] = "X-999", "koukin-shuunou", "確認", 0
    _fill(
        path,
        {
            "K-001": {"decision": "確認"},
            "K-002": {
                "decision": "修正",
                "category": "shared",
                "described": "記載なし",
                "corrected_sections": "4.(1)",
                "comment": "移行時期の調整を求める点は記載がない",
            },
            "K-003": {"decision": "修正", "category": "z"},
            "K-004": {"decision": "修正", "category": "b", "described": "記載あり"},
            "F-001": {"decision": "確認"},
        },
        [unknown],
    )
    result = apply_review_sheet(engine, path, reviewer="佐藤")
    assert sorted(r.opinion_id for r in result.applied) == ["K-001", "K-002"]
    reasons = {p.opinion_id: p.reason for p in result.problems}
    assert set(reasons) == {"K-003", "K-004", "F-001", "X-999"}
    assert reasons["K-003"].startswith("unknown category 'z'")
    assert "only asked for 'shared'" in reasons["K-004"]
    assert "changed by 鈴木" in reasons["F-001"]
    assert "'X-999' under draft 'koukin-shuunou' is not in the review store" in reasons["X-999"]
    assert result.blank == 7

    listed = verdicts_frame(engine).set_index("opinion_id")
    assert sorted(listed.index) == ["F-001", "K-001", "K-002"]
    k002 = listed.loc["K-002"]
    assert (k002["category"], k002["described"], k002["sections"], k002["verdict"]) == (
        "shared",
        "no",
        "4.(1)",
        "revision",
    )
    assert k002["comment"] == "移行時期の調整を求める点は記載がない"
    assert listed.loc["F-001", "reviewer"] == "鈴木"
    # applying the same sheet again changes nothing: every version is now stale
    again = apply_review_sheet(engine, path, reviewer="佐藤")
    assert not again.applied
    changes = audit_frame(engine)
    assert (changes["actor"] == "佐藤").sum() == 2


def test_export_only_pending(engine: Engine, tmp_path: Path) -> None:
    confirm(engine, "K-001", reviewer="佐藤", based_on_version=0)
    pending = export_review_sheet(engine, tmp_path / "p.xlsx", only_pending=True)
    ids = [r[0].value for r in load_workbook(pending)["確認"].iter_rows(min_row=2)]
    assert len(ids) == 11 and "K-001" not in ids
    mine = export_review_sheet(engine, tmp_path / "m.xlsx", reviewer="鈴木", only_pending=True)
    assert len(list(load_workbook(mine)["確認"].iter_rows(min_row=2))) == 12


def test_notebook_executes_headless(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_DB", str(engine.url))
    monkeypatch.setenv("TRIAGE_NOTEBOOK_DEMO", "1")
    monkeypatch.setenv("TRIAGE_REVIEWER", "notebook-test")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "F-002" in html and "12 件中 0 件確認済み" in html  # first card and progress
    listed = verdicts_frame(engine)
    assert list(listed["opinion_id"]) == ["F-002"]
    assert listed.iloc[0]["reviewer"] == "notebook-test"
