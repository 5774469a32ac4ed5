"""``triage review …``, ``verdicts`` and ``report`` through CliRunner: exit codes and exact errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from openpyxl import load_workbook
from typer.testing import CliRunner

from pipeline.cli_review import report_command, review_app, verdicts_command
from pipeline.store import format_time, get_engine, opinions_frame

DATA = Path(__file__).parent / "data"
SUGGESTIONS = DATA / "suggestions_small.csv"
DRAFTS = sorted((DATA / "drafts").glob("*.md"))

runner = CliRunner()


def _top_app() -> typer.Typer:
    """The commands mounted as pipeline.cli will mount them."""
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.add_typer(review_app, name="review")
    app.command("verdicts")(verdicts_command)
    app.command("report")(report_command)
    return app


@pytest.fixture
def db(store_url: str) -> str:
    url = store_url
    args = ["import", str(SUGGESTIONS), "--db", url]
    for draft in DRAFTS:
        args += ["--draft", str(draft)]
    result = runner.invoke(review_app, args)
    assert result.exit_code == 0, result.output
    assert "suggestions added (追加): 12" in result.stdout
    return url


def test_import_twice_adds_nothing(db: str) -> None:
    result = runner.invoke(review_app, ["import", str(SUGGESTIONS), "--db", db])
    assert result.exit_code == 0
    assert "suggestions added (追加): 0" in result.stdout
    assert "already imported (取込済み): 12" in result.stdout


def test_import_of_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    result = runner.invoke(review_app, ["import", str(missing), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {missing}: no such file.\n"


def test_verdicts_lists_nothing_then_exactly_the_confirmed_one(db: str, tmp_path: Path) -> None:
    app = _top_app()
    out = tmp_path / "verdicts.csv"
    assert runner.invoke(app, ["verdicts", "--out", str(out), "--db", db]).exit_code == 0
    assert pd.read_csv(out, encoding="utf-8-sig").empty

    result = runner.invoke(
        review_app, ["confirm", "--opinion", "K-001", "--reviewer", "佐藤", "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "→ revision (修正意見を出す)" in result.stdout

    result = runner.invoke(app, ["verdicts", "--out", str(out), "--db", db])
    assert result.exit_code == 0 and "(1 verdicts)" in result.stdout
    listed = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(listed["opinion_id"]) == ["K-001"] and list(listed["verdict"]) == ["revision"]

    xlsx = tmp_path / "verdicts.xlsx"
    assert runner.invoke(app, ["verdicts", "--out", str(xlsx), "--db", db]).exit_code == 0
    headers = [c.value for c in load_workbook(xlsx).active[1]]
    assert headers[:2] == ["番号", "対象推進方針案"] and "判定（確定）" in headers


def test_confirm_with_corrections(db: str) -> None:
    result = runner.invoke(
        review_app,
        ["confirm", "--opinion", "K-002", "--reviewer", "佐藤", "--category", "shared",
         "--sections", "4.(1)", "--described", "no", "--comment", "要記載", "--db", db],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "correct by 佐藤" in result.stdout and "sections=4.(1) version=1" in result.stdout


def test_confirm_unknown_opinion(db: str) -> None:
    result = runner.invoke(
        review_app, ["confirm", "--opinion", "X-999", "--reviewer", "佐藤", "--db", db]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Opinion 'X-999' is not in the review store. Import its suggestions first "
        "(triage review import SUGGESTIONS), or check the id and --draft-id.\n"
    )


def test_confirm_stale_version(db: str) -> None:
    args = ["confirm", "--opinion", "K-003", "--db", db]
    assert runner.invoke(review_app, [*args, "--reviewer", "佐藤"]).exit_code == 0
    changed_at = format_time(
        opinions_frame(get_engine(db), opinion_id="K-003").iloc[0]["updated_at"]
    )
    result = runner.invoke(
        review_app, [*args, "--reviewer", "鈴木", "--category", "c", "--based-on-version", "0"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Opinion 'K-003' (koukin-shuunou) was changed by 佐藤 at {changed_at} (now "
        "version 1); you started from version 0. Nothing was saved: reload the opinion and "
        "confirm again.\n"
    )


def test_confirm_described_for_an_exclusion(db: str) -> None:
    result = runner.invoke(
        review_app,
        ["confirm", "--opinion", "K-002", "--reviewer", "佐藤", "--described", "yes", "--db", db],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Judgement II (described) is only asked for 'shared' opinions, but category 'd'"
    )


def test_export_and_apply(db: str, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.xlsx"
    result = runner.invoke(review_app, ["export", str(sheet), "--only-pending", "--db", db])
    assert result.exit_code == 0 and "(12 opinions)" in result.stdout
    workbook = load_workbook(sheet)
    rows = workbook["確認"]
    headers = [c.value for c in rows[1]]
    decision = headers.index("判断") + 1
    category = headers.index("判断Ⅰ（修正）") + 1
    by_id = {rows.cell(r, 1).value: r for r in range(2, rows.max_row + 1)}
    rows.cell(by_id["K-001"], decision, "確認")
    rows.cell(by_id["K-004"], decision, "修正")
    rows.cell(by_id["K-004"], category, "(z) 不明")
    workbook.save(sheet)

    result = runner.invoke(review_app, ["apply", str(sheet), "--reviewer", "佐藤", "--db", db])
    assert result.exit_code == 1
    assert "applied (確定): 1" in result.stdout and "refused (取込不可): 1" in result.stdout
    assert f"  row {by_id['K-004']} (K-004): unknown category '(z) 不明'" in result.stdout


def test_report_command(db: str, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    result = runner.invoke(_top_app(), ["report", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    assert load_workbook(out).sheetnames[0] == "概要"


@pytest.mark.parametrize(
    "args",
    [
        ["review", "import", "--help"],
        ["review", "confirm", "--help"],
        ["review", "export", "--help"],
        ["review", "apply", "--help"],
        ["verdicts", "--help"],
        ["report", "--help"],
    ],
)
def test_every_command_has_an_example(args: list[str]) -> None:
    result = runner.invoke(_top_app(), args)
    assert result.exit_code == 0
    assert "Example:\n" in result.stdout and "    triage " in result.stdout
