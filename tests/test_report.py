"""The council workbook: sheets, escaping, the revision list, charts and reviewer agreement."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import Engine

from pipeline.drafts import read_draft
from pipeline.errors import InputFileError
from pipeline.report import REPORT_SHEETS, agreement_frame, build_report
from pipeline.store import confirm, get_engine, import_suggestions

DATA = Path(__file__).parent / "data"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = get_engine(tmp_path / "review.sqlite")
    drafts = [read_draft(p) for p in sorted((DATA / "drafts").glob("*.md"))]
    import_suggestions(engine, DATA / "suggestions_small.csv", drafts=drafts)
    for opinion in ("K-001", "K-005", "K-006", "K-007", "F-004"):
        confirm(engine, opinion, reviewer="佐藤", based_on_version=0)
    confirm(engine, "K-005", reviewer="鈴木", based_on_version=1, comment="=SUM(A1)")
    confirm(engine, "K-007", reviewer="鈴木", based_on_version=1, category="a")
    return engine


def _rows(sheet) -> list[dict[str, object]]:
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_report_has_the_sheets_and_escapes_formula_like_text(
    engine: Engine, tmp_path: Path
) -> None:
    path = build_report(engine, tmp_path / "out" / "report.xlsx")
    workbook = load_workbook(path)
    assert tuple(workbook.sheetnames) == REPORT_SHEETS
    everything = {r["番号"]: r for r in _rows(workbook["全件"])}
    assert everything["K-007"]["意見"] == "'=丁寧に進めてほしい。"
    assert everything["K-005"]["コメント"] == "'=SUM(A1)"
    assert everything["K-007"]["判断Ⅰ（確定）"] == "(a) 根拠不明確"
    assert everything["K-007"]["提案と一致"] == "相違"
    assert everything["K-002"]["判定（確定）"] is None  # not reviewed: nothing recorded
    for name in REPORT_SHEETS[:-1]:
        assert workbook[name].freeze_panes == "A2"
    assert len(workbook["グラフ"]._images) == 2


def test_summary_counts_verdicts_by_draft(engine: Engine, tmp_path: Path) -> None:
    summary = {
        r["対象推進方針案"]: r
        for r in _rows(load_workbook(build_report(engine, tmp_path / "r.xlsx"))["概要"])
    }
    koukin = summary["koukin-shuunou"]
    assert (koukin["意見数"], koukin["団体数"], koukin["確定済み"]) == (7, 7, 4)
    assert (koukin["共有すべき"], koukin["(a) 根拠不明確"]) == (3, 1)
    assert (koukin["修正意見を出す"], koukin["修正意見を出さない"]) == (3, 1)
    assert summary["合計"]["確定済み"] == 5 and summary["合計"]["修正意見を出す"] == 4


def test_revision_list_is_grouped_by_draft_and_section(engine: Engine, tmp_path: Path) -> None:
    rows = _rows(load_workbook(build_report(engine, tmp_path / "r.xlsx"))["修正意見一覧"])
    keys = [(r["対象推進方針案"], r["該当箇所"], r["番号"]) for r in rows]
    assert keys == [
        ("furusato-nozei", "2.(2)", "F-004"),
        ("koukin-shuunou", "1.(2)", "K-001"),
        ("koukin-shuunou", "1.(2)", "K-005"),
        ("koukin-shuunou", "1.(2)", "K-006"),
        ("koukin-shuunou", "3.(1)", "K-005"),
        ("koukin-shuunou", "3.(2)", "K-001"),
    ]
    first = rows[1]
    assert first["見出し"] == "課題" and first["件数（同一箇所）"] == 3
    assert first["団体（同一箇所）"] == "札幌市、新潟市、静岡市"


def test_agreement_uses_each_reviewers_latest_review() -> None:
    a = ["shared", "a", "shared", "d", "shared"]
    b = ["shared", "a", "d", "d", "c"]
    reviews = pd.DataFrame(
        [
            {"review_id": i, "draft_id": "x", "opinion_id": str(n), "reviewer": who, "category": c}
            for i, (n, who, c) in enumerate(
                [(n, "A", c) for n, c in enumerate(a)]
                + [(n, "B", c) for n, c in enumerate(b)]
                + [(0, "C", "shared")],  # C shares one opinion with A and B, same label
            )
        ]
    )
    earlier = {
        "review_id": -1,
        "draft_id": "x",
        "opinion_id": "0",
        "reviewer": "A",
        "category": "f",
    }
    frame = agreement_frame(pd.concat([pd.DataFrame([earlier]), reviews]))
    overall = frame[(frame["確認者A"] == "A") & (frame["判断Ⅰ"] == "全体")].iloc[0]
    assert overall["確認者B"] == "B" and overall["共通件数"] == 5
    assert overall["κ"] == round(cohen_kappa_score(a, b), 3)
    shared = frame[(frame["確認者A"] == "A") & (frame["判断Ⅰ"] == "共有すべき")].iloc[0]
    assert shared["κ"] == round(
        cohen_kappa_score([x == "shared" for x in a], [x == "shared" for x in b]), 3
    )
    single = frame[(frame["確認者A"] == "A") & (frame["確認者B"] == "C")]
    # one label throughout: κ is undefined and left empty, the raw agreement is still given
    assert pd.isna(single.iloc[0]["κ"]) and single.iloc[0]["一致率"] == 1.0


def test_agreement_sheet_in_the_report(engine: Engine, tmp_path: Path) -> None:
    rows = _rows(load_workbook(build_report(engine, tmp_path / "r.xlsx"))["評価者間一致"])
    overall = next(r for r in rows if r["判断Ⅰ"] == "全体")
    assert (overall["確認者A"], overall["確認者B"], overall["共通件数"]) == ("佐藤", "鈴木", 2)
    assert overall["一致率"] == 0.5


def test_report_needs_an_xlsx_name(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"use a \.xlsx name"):
        build_report(engine, tmp_path / "report.csv")
