"""Batch scoring: bad rows reported and skipped, interrupted runs resume, outputs open cleanly."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from pipeline.schema import HEADERS_JA, VALUE_NAMES_JA
from pipeline.score import score_export

from .conftest import SAMPLES, TEST_DRAFT

pytestmark = pytest.mark.slow

HEADER = "番号,都道府県,団体名,団体コード,経路,対象推進方針案,該当箇所,意見,理由"


def write_export(path: Path, unseen: pd.DataFrame, n: int = 12) -> Path:
    """A cp932 export of ``n`` real sample opinions plus three broken rows."""
    lines = [HEADER]
    for row in unseen.head(n).itertuples():
        lines.append(
            f"{row.opinion_id},{row.prefecture},{row.municipality},{row.municipality_code},ⅳ,"
            f'{row.draft_id},{row.location},"{row.text}",'
        )
    data = "\n".join(lines).encode("cp932") + b"\n"
    data += "X-1,北海道,札幌市,011002,ⅳ,furusato-nozei,,,\n".encode("cp932")  # empty opinion
    data += "X-2,北海道,札幌市,011002,ⅳ,no-such-draft,,=SUM(A1)の件,\n".encode(
        "cp932"
    )  # unknown draft
    data += b"X-3,\x82\xa0\x81\x7f,,,,furusato-nozei,,\x85\x40\n"  # undecodable bytes
    path.write_bytes(data)
    return path


@pytest.fixture()
def export(tmp_path: Path, unseen_opinions) -> Path:
    return write_export(tmp_path / "export.csv", unseen_opinions)


DRAFT = SAMPLES / "drafts" / f"{TEST_DRAFT}.md"


def test_bad_rows_are_reported_and_the_rest_scored(
    export: Path, trained_model, embedder, tmp_path: Path
) -> None:
    result = score_export(
        export, [DRAFT], tmp_path / "out.csv", trained_model, embedder, cache=False, progress=False
    )
    assert result.scored == 12
    reasons = {e.row: e.field for e in result.errors}
    assert reasons == {14: "text", 15: "draft_id", 16: "*"}
    assert result.encoding == "cp932 (Shift_JIS)"


def test_interrupted_run_resumes_without_rescoring(
    export: Path, trained_model, embedder, tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"
    cache = tmp_path / "suggestions.sqlite"

    def stop_after_first(number: int) -> None:
        if number == 0:
            raise KeyboardInterrupt

    # the same export, draft, model and chunk size (bar one run); only output, cache and hook vary
    run = functools.partial(
        score_export,
        export,
        [DRAFT],
        model=trained_model,
        embedder=embedder,
        chunk_size=5,
        progress=False,
    )
    with pytest.raises(KeyboardInterrupt):
        run(out, cache=cache, on_chunk=stop_after_first)
    assert not out.exists()
    scored_again: list[int] = []
    resumed = run(out, cache=cache, on_chunk=scored_again.append)
    assert resumed.reused_rows == 5 and scored_again == [0, 1]  # 7 rows left: two chunks
    # one chunk, no cache: the same rows (citations come from the whole export, not the chunk)
    fresh = run(tmp_path / "fresh.parquet", cache=False, chunk_size=100)
    assert fresh.reused_rows == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(tmp_path / "fresh.parquet"))
    again = run(tmp_path / "again.parquet", cache=cache, on_chunk=scored_again.append)
    assert again.reused_rows == 12 and scored_again == [0, 1]  # nothing scored the third time


def test_rows_are_rescored_when_their_drafts_citations_change(
    unseen_opinions, trained_model, embedder, tmp_path: Path
) -> None:
    """Matching learns from the export's other opinions that cite a section: a new citation on
    the same draft changes their context, so their cached rows must not be reused."""
    cache = tmp_path / "suggestions.sqlite"

    def run(export: Path, out: str) -> int:
        result = score_export(
            export, [DRAFT], tmp_path / out, trained_model, embedder, cache=cache, progress=False
        )
        assert result.scored == 12
        return result.reused_rows

    first = write_export(tmp_path / "first.csv", unseen_opinions)
    assert run(first, "a.csv") == 0
    uncited = unseen_opinions.index[unseen_opinions["location"].fillna("") == ""][0]
    assert uncited < 12
    cited = unseen_opinions.copy()
    cited.loc[uncited, "location"] = "1"
    second = write_export(tmp_path / "second.csv", cited)
    assert run(first, "b.csv") == 12
    assert run(second, "c.csv") == 0


def test_rows_of_another_model_are_not_reused(
    export: Path, trained_model, embedder, tmp_path: Path
) -> None:
    cache = tmp_path / "suggestions.sqlite"
    first = score_export(
        export, [DRAFT], tmp_path / "a.csv", trained_model, embedder, cache=cache, progress=False
    )
    assert first.reused_rows == 0 and first.scored == 12
    other = dataclasses.replace(trained_model, version="opinion-triage@other")
    second = score_export(
        export, [DRAFT], tmp_path / "b.csv", other, embedder, cache=cache, progress=False
    )
    assert second.reused_rows == 0
    assert set(pd.read_csv(tmp_path / "b.csv", encoding="utf-8-sig")["model_version"]) == {
        "opinion-triage@other"
    }


def test_outputs_open_cleanly(unseen_opinions, trained_model, embedder, tmp_path: Path) -> None:
    opinions = unseen_opinions.copy()
    opinions.loc[0, "text"] = "=HYPERLINK(1)も対象にしてほしい"
    export = write_export(tmp_path / "export.csv", opinions)
    csv_out = score_export(
        export,
        [DRAFT],
        tmp_path / "s.csv",
        trained_model,
        embedder,
        cache=tmp_path / "c.sqlite",
        progress=False,
    ).out
    assert csv_out.read_bytes().startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(csv_out, encoding="utf-8-sig", dtype=str)
    assert frame.loc[0, "text"] == "'=HYPERLINK(1)も対象にしてほしい"
    xlsx_out = score_export(
        export,
        [DRAFT],
        tmp_path / "s.xlsx",
        trained_model,
        embedder,
        cache=tmp_path / "c.sqlite",
        progress=False,
    ).out
    sheet = load_workbook(xlsx_out).active
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == [HEADERS_JA["opinion_id"], HEADERS_JA["draft_id"], HEADERS_JA["category"]]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    # Reviewers read names, not codes: 「共有すべき」「修正意見を出さない」「高」「推進方針案に対する意見照会」.
    coded = pd.read_csv(csv_out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for column, names in VALUE_NAMES_JA.items():
        shown = [c.value for c in sheet[get_column_letter(headers.index(HEADERS_JA[column]) + 1)]]
        assert shown[1:] == [names.get(v, v or None) for v in coded[column]], column
        assert set(shown[1:]) <= set(names.values()) | {None}, column
    assert (
        sheet.cell(row=2, column=headers.index(HEADERS_JA["text"]) + 1).value
        == "'=HYPERLINK(1)も対象にしてほしい"
    )
    parquet_out = score_export(
        export,
        [DRAFT],
        tmp_path / "s.parquet",
        trained_model,
        embedder,
        cache=tmp_path / "c.sqlite",
        progress=False,
    ).out
    assert (
        pd.read_parquet(parquet_out).loc[0, "text"] == "=HYPERLINK(1)も対象にしてほしい"
    )  # programs get raw values
