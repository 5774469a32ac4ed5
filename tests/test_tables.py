"""Decoding and table reading: encodings, header search, Excel's damage, normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from pipeline.errors import InputFileError
from pipeline.tables import header_key, normalize_text, read_table

ROWS = "番号,団体名,意見\n1,札幌市,住民票の写しの交付手数料も対象にしてほしい。\n"


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 (BOM)"), ("cp932", "cp932 (Shift_JIS)")],
)
def test_csv_encoding_is_detected_and_named(tmp_path: Path, encoding: str, expected: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(ROWS.encode(encoding))
    table = read_table(path)
    assert table.encoding == expected
    assert table.rows[1][2] == "住民票の写しの交付手数料も対象にしてほしい。"
    assert not table.undecodable_rows


def test_one_damaged_line_is_reported_and_the_rest_decoded(tmp_path: Path) -> None:
    good = "番号,意見\n1,手数料の収納を共通化してほしい。\n"
    data = (
        good.encode("cp932")
        + b"2,\x82\xa0\x81\x7f\x85\x40\n"
        + "3,納付書の様式を統一されたい。\n".encode("cp932")
    )
    path = tmp_path / "damaged.csv"
    path.write_bytes(data)
    table = read_table(path)
    assert table.encoding == "cp932 (Shift_JIS)"
    assert table.undecodable_rows == {3}
    assert table.rows[3] == ["3", "納付書の様式を統一されたい。"]


def test_binary_garbage_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(128, 256)) * 20 + b"\n" + bytes(range(129, 200)) * 5)
    with pytest.raises(InputFileError, match="cannot decode"):
        read_table(path)


def test_quoted_multiline_cells_keep_their_physical_row_number(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('番号,意見\n1,"一行目\n二行目"\n2,三行目\n', encoding="utf-8")
    table = read_table(path)
    assert table.row_numbers == [1, 2, 4]
    assert table.rows[1][1] == "一行目\n二行目"


def test_excel_numbers_come_back_as_codes(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["番号", "団体コード"])
    sheet.append([1, 11002])
    sheet.append([12.0, 131016])
    sheet["A2"].number_format = "000"
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    table = read_table(path)
    assert table.rows[1] == ["001", "11002"]
    assert table.rows[2] == ["12", "131016"]


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.ods"
    path.write_bytes(b"x")
    with pytest.raises(InputFileError, match=r"expected \.csv, \.xlsx or \.md"):
        read_table(path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "ABC123"),
        ("ｺｳｷﾝ", "コウキン"),
        ("  前後の空白　", "前後の空白"),
        ("一行目\r\n二行目\r", "一行目\n二行目"),
        ("ゼロ\u200b幅", "ゼロ幅"),
        (None, ""),
        (12, "12"),
    ],
)
def test_normalize_text_table(raw: object, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("header", "key"),
    [("意見内容（200字以内）", "意見内容"), ("団体コード※6桁", "団体コード"), ("Ｎｏ．", "no.")],
)
def test_header_key_drops_notes_and_width(header: str, key: str) -> None:
    assert header_key(header) == key


@given(st.text())
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
