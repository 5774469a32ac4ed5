"""The thin CLI: exit codes, exact ``Error:`` text, and output shapes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()

DRAFT = "# 公金収納に係る共通化推進方針（案）\n# 1. 総論\n本文。\n## (1) 背景\n背景の本文。\n"
HEADER = "番号,団体名,団体コード,経路,意見"


def write(path: Path, text: str, encoding: str = "cp932") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_validate_all_good_exits_0(tmp_path: Path) -> None:
    export = write(
        tmp_path / "e.csv", f"{HEADER}\n1,札幌市,011002,ⅳ,手数料の収納を統一してほしい。\n"
    )
    result = runner.invoke(app, ["validate", str(export)])
    assert result.exit_code == 0, result.output
    assert "encoding: cp932 (Shift_JIS)" in result.output
    assert "rows read (読込件数): 1" in result.output
    assert "rows rejected (不備): 0" in result.output


def test_validate_rejected_rows_exit_1_and_are_named(tmp_path: Path) -> None:
    text = f"{HEADER}\n1,札幌市,011003,ⅳ,意見A\n2,函館市,012025,ⅳ,\n3,旭川市,012041,ⅳ,意見C\n"
    export = write(tmp_path / "e.csv", text)
    result = runner.invoke(app, ["validate", str(export)])
    assert result.exit_code == 1
    assert f"{export}: row 2, field 'municipality_code'" in result.output
    assert f"{export}: row 3, field 'text'" in result.output
    assert "rows accepted (受理): 1" in result.output


def test_validate_unreadable_file_exits_2(tmp_path: Path) -> None:
    export = write(tmp_path / "e.csv", "名前,年齢\n山田,30\n", "utf-8")
    result = runner.invoke(app, ["validate", str(export)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {export}: no header row found")


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.csv")])
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path / 'none.csv'}: no such file.\n"


def test_sections_prints_json_lines(tmp_path: Path) -> None:
    draft = write(tmp_path / "koukin.md", DRAFT, "utf-8")
    result = runner.invoke(app, ["sections", str(draft)])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.output.splitlines()]
    assert records == [
        {"section_id": "1", "heading": "総論", "text": "本文。"},
        {"section_id": "1.(1)", "heading": "背景", "text": "背景の本文。"},
    ]


def test_sections_without_numbering_is_an_error(tmp_path: Path) -> None:
    draft = write(tmp_path / "memo.md", "メモ\n", "utf-8")
    result = runner.invoke(app, ["sections", str(draft)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {draft}: no numbered heading found")
