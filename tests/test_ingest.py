"""Reading consultation exports: headers, 団体コード, channels, drafts, per-row errors."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from pipeline.errors import InputFileError
from pipeline.ingest import (
    HEADER_ALIASES,
    check_digit,
    normalize_channel,
    normalize_municipality_code,
    read_opinions,
)
from pipeline.schema import Draft, Section
from pipeline.tables import header_key

HEADER = "番号,都道府県,団体名,団体コード,経路,対象推進方針案,該当箇所,意見,理由"


def write_csv(path: Path, lines: list[str], encoding: str = "cp932") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def a_draft(
    draft_id: str = "koukin-shuunou", title: str = "公金収納に係る共通化推進方針（案）"
) -> Draft:
    section = Section(draft_id, "1", "総論", "本文", 1)
    return Draft(draft_id, title, (section,))


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("番号", "opinion_id"),
        ("No", "opinion_id"),
        ("No.", "opinion_id"),
        ("通番", "opinion_id"),
        ("意見番号", "opinion_id"),
        ("都道府県名", "prefecture"),
        ("団体名", "municipality"),
        ("自治体名", "municipality"),
        ("地方公共団体名", "municipality"),
        ("団体コード", "municipality_code"),
        ("地方公共団体コード", "municipality_code"),
        ("経路", "channel"),
        ("意見の種別", "channel"),
        ("対象推進方針案", "draft_id"),
        ("対象", "draft_id"),
        ("推進方針案", "draft_id"),
        ("該当箇所", "location"),
        ("該当ページ", "location"),
        ("該当部分", "location"),
        ("意見", "text"),
        ("意見内容", "text"),
        ("御意見", "text"),
        ("理由", "reason"),
        ("意見の理由", "reason"),
        ("Ｎｏ．", "opinion_id"),
        ("意見内容（200字以内）", "text"),
        (" 団体コード ", "municipality_code"),
    ],
)
def test_header_variants_map_to_canonical_fields(header: str, canonical: str) -> None:
    assert HEADER_ALIASES[header_key(header)] == canonical


# Codes computed by hand with JIS X 0402 weights 6,5,4,3,2.
@pytest.mark.parametrize(
    ("value", "prefecture", "expected"),
    [
        ("011002", None, "011002"),  # 札幌市
        ("01100", None, "011002"),  # 5-digit form completed
        ("11002", None, "011002"),  # Excel dropped the leading zero
        ("11002", "北海道", "011002"),
        ("141003", None, "141003"),  # 横浜市
        ("14100", "神奈川県", "141003"),
        ("281000", None, "281000"),  # 神戸市: check digit computes to 0 (11-1=10)
        ("28100", None, "281000"),
        ("310000", None, "310000"),  # 鳥取県: check digit 0
        ("440001", None, "440001"),  # 大分県: remainder 0 gives check digit 1
        ("130001", None, "130001"),  # 東京都: check digit 1 (11-10)
        ("13000", "東京都", "130001"),
        ("１３１０１６", None, "131016"),  # full-width digits
        ("1100", None, "011002"),  # 01100 with its zero lost
        ("131016.0", None, "131016"),
    ],
)
def test_municipality_codes_are_completed_and_restored(
    value: str, prefecture: str | None, expected: str
) -> None:
    assert normalize_municipality_code(value, prefecture) == expected


@pytest.mark.parametrize(
    ("value", "prefecture", "message"),
    [
        ("011003", None, "check digit: 01100 needs 011002"),
        ("281001", None, "check digit"),
        ("abcde", None, "6-digit code"),
        ("1234567", None, "6-digit code"),
        ("99100", None, "prefecture"),
        ("141003", "北海道", "a code in 北海道"),
    ],
)
def test_bad_codes_are_reported_not_accepted(
    value: str, prefecture: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_municipality_code(value, prefecture)


def test_check_digit_table() -> None:
    assert [check_digit(c) for c in ("01100", "28100", "44000", "13000")] == ["2", "0", "1", "1"]


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("draft_consultation", "draft_consultation"),
        ("推進方針案への意見照会", "draft_consultation"),
        ("方針案意見照会", "draft_consultation"),
        ("ⅳ", "draft_consultation"),
        ("iv", "draft_consultation"),
        ("中間報告会", "interim_briefing"),
        ("中間報告会での指摘", "interim_briefing"),
        ("ⅱ", "interim_briefing"),
        ("作業依頼", "selection_request"),
        ("作業依頼への回答", "selection_request"),
        ("ⅰ", "selection_request"),
        ("候補案意見照会", "candidate_consultation"),
        ("対象候補案への意見照会", "candidate_consultation"),
        ("ⅲ", "candidate_consultation"),
        ("（ⅲ）対象候補案に対する意見照会", "candidate_consultation"),
        ("", None),
    ],
)
def test_channel_names_are_accepted(cell: str, code: str | None) -> None:
    assert normalize_channel(cell) == code


def test_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="one of selection_request"):
        normalize_channel("電話")


def test_template_with_title_rows_and_faults(tmp_path: Path) -> None:
    lines = [
        "令和7年度 共通化推進方針案に対する意見照会 回答様式",
        "※ 1行に1件記入してください",
        "",
        HEADER,
        "001,北海道,札幌市,011002,推進方針案への意見照会,koukin-shuunou,3(2),窓口の収納も対象に含めてほしい。,",
        "002,北海道,函館市,012026,ⅳ,koukin-shuunou,,手数料の消込を自動化されたい。,",  # wrong check digit
        "003,宮城県,仙台市,041009,ⅳ,koukin-shuunou,,,",  # empty opinion
        "001,東京都,千代田区,131016,ⅳ,koukin-shuunou,,重複した番号の意見。,",  # duplicate id
        "004,東京都,新宿区,131041,電話,koukin-shuunou,,経路が不明な意見。,",  # unknown channel
        "005,東京都,世田谷区,13112,中間報告会,公金収納,,題名で方針案を指定した意見。,",
        "006,大阪府,大阪市,271004,ⅳ,ふるさと納税,,別の方針案を指した意見。,",  # unknown draft
    ]
    path = write_csv(tmp_path / "export.csv", lines)
    result = read_opinions(path, drafts=[a_draft()])
    assert result.encoding == "cp932 (Shift_JIS)"
    assert result.rows_read == 7
    assert list(result.opinions["opinion_id"]) == ["001", "005"]
    assert list(result.opinions["municipality_code"]) == ["011002", "131121"]
    assert list(result.opinions["draft_id"]) == ["koukin-shuunou", "koukin-shuunou"]
    by_row = {e.row: e for e in result.errors}
    assert sorted(by_row) == [6, 7, 8, 9, 11]
    assert by_row[6].field == "municipality_code" and "012025" in by_row[6].expected
    assert by_row[7].field == "text"
    assert by_row[8].field == "opinion_id" and "row 5" in by_row[8].expected
    assert by_row[9].field == "channel" and by_row[9].found == "電話"
    assert by_row[11].field == "draft_id"
    assert str(by_row[6]).startswith(f"{path}: row 6, field 'municipality_code'")


def test_export_without_draft_column_goes_to_the_only_draft(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "e.csv", ["No.,意見内容", "1,収納代行の手数料を統一してほしい。"], "utf-8"
    )
    result = read_opinions(path, drafts=[a_draft()])
    assert result.errors == []
    assert result.opinions.loc[0, "draft_id"] == "koukin-shuunou"


def test_xlsx_export_restores_codes_and_ids(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["共通化推進方針案への意見（回答様式）"])
    sheet.append([])
    sheet.append(["番号", "都道府県", "団体名", "団体コード", "意見の種別", "意見"])
    sheet.append([1, "北海道", "札幌市", 11002, "ⅳ", "ＡＢＣ　全角の意見です。"])
    sheet.append([2, "兵庫県", "神戸市", 281000, "ⅲ", "公金の収納方法を増やしてほしい。"])
    sheet["A4"].number_format = "000"
    sheet["A5"].number_format = "000"
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    result = read_opinions(path)
    assert result.encoding == "xlsx" and result.errors == []
    assert list(result.opinions["opinion_id"]) == ["001", "002"]
    assert list(result.opinions["municipality_code"]) == ["011002", "281000"]
    assert result.opinions.loc[0, "text"] == "ABC 全角の意見です。"


def test_file_without_opinion_header_cannot_be_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["名前,年齢", "山田,30"], "utf-8")
    with pytest.raises(InputFileError, match="no header row found"):
        read_opinions(path)


@given(st.text(max_size=12))
def test_code_parser_never_crashes_with_anything_but_value_error(value: str) -> None:
    try:
        code = normalize_municipality_code(value)
    except ValueError:
        return
    assert len(code) == 6 and check_digit(code[:5]) == code[5]


@given(st.text(max_size=20))
def test_channel_parser_never_crashes(value: str) -> None:
    with contextlib.suppress(ValueError):
        normalize_channel(value)
