"""Reading the tables users bring (CSV in UTF-8/UTF-8-BOM/cp932, Excel, Markdown tables).

Used by ``ingest`` for consultation exports and by ``drafts`` for resolved-point lists. Decoding is
done line by line so that one row with broken bytes is reported while the others still go through.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.errors import InputFileError

#: Encodings tried, in order of preference when several decode a file equally well.
ENCODINGS = ("utf-8", "cp932")
#: How far down a consultation template may push its header row (titles, notes, blank lines).
HEADER_SEARCH_ROWS = 30
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_NUMBER_FORMAT_ZEROS = re.compile(r"^0+$")


_CIRCLED = re.compile(r"([\u2460-\u2473])")


def _nfkc_keeping_circled(text: str) -> str:
    """NFKC, except for ①–⑳: they are section numbers in drafts and 該当箇所 (NFKC makes ② "2")."""
    return "".join(
        part if _CIRCLED.fullmatch(part) else unicodedata.normalize("NFKC", part)
        for part in _CIRCLED.split(text)
    )


def normalize_text(value: object) -> str:
    """NFKC-normalise a cell (keeping ①–⑳): unify newlines, drop zero-width marks, trim lines.

    Idempotent (normalising twice gives the same string), which the tests check on any ``str``.

    Example:
        >>> normalize_text("ＡＢＣ１２３　\\r\\n")
        'ABC123'
    """
    if value is None:
        return ""
    text = str(value).translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for _ in range(3):  # NFKC can expose new zero-width marks or CRs only in pathological input
        new = _nfkc_keeping_circled(text).translate(_ZERO_WIDTH)
        new = new.replace("\r\n", "\n").replace("\r", "\n")
        new = "\n".join(line.rstrip() for line in new.split("\n")).strip()
        if new == text:
            break
        text = new
    return text


def header_key(value: object) -> str:
    """The form in which headers are compared: NFKC, no spaces, no trailing notes like ※ or （）."""
    text = normalize_text(value)
    text = re.split(r"[※\n]", text, maxsplit=1)[0]
    text = re.sub(r"\(.*?\)|\[.*?\]|【.*?】", "", text)
    return re.sub(r"\s+", "", text).lower()


@dataclass
class RawTable:
    """Cells as text, with the row numbers a user sees in their own file (1-based)."""

    path: Path
    rows: list[list[str]]
    row_numbers: list[int]
    encoding: str
    #: Row numbers whose bytes could not be decoded in ``encoding``.
    undecodable_rows: set[int] = field(default_factory=set)


def decode_lines(data: bytes, path: Path) -> tuple[str, str, set[int]]:
    """Decode ``data``; return (text, encoding name, 1-based physical lines that failed).

    Every candidate encoding is tried line by line and the one with the fewest failing lines wins,
    so a cp932 file with one damaged line is still read as cp932 with that line reported.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        candidates: Iterable[tuple[str, str]] = [("utf-8-sig", "UTF-8 (BOM)")]
        data = data[3:]
    else:
        candidates = [("utf-8", "UTF-8"), ("cp932", "cp932 (Shift_JIS)")]
    lines = data.split(b"\n")  # safe: 0x0A is never a trail byte in UTF-8 or cp932
    best: tuple[int, str, str, list[str], set[int]] | None = None
    for codec, label in candidates:
        decoded: list[str] = []
        failed: set[int] = set()
        for number, line in enumerate(lines, start=1):
            try:
                decoded.append(line.decode(codec.replace("-sig", "")))
            except UnicodeDecodeError:
                failed.add(number)
                decoded.append(line.decode(codec.replace("-sig", ""), errors="replace"))
        if best is None or len(failed) < best[0]:
            best = (len(failed), codec, label, decoded, failed)
        if not failed:
            break
    assert best is not None
    n_failed, _, label, decoded, failed = best
    non_blank = sum(1 for line in lines if line.strip())
    if non_blank == 0:
        raise InputFileError(f"{path}: the file is empty; expected a table with a header row.")
    if n_failed > max(1, non_blank // 2):
        raise InputFileError(
            f"{path}: cannot decode the file as UTF-8 or cp932 ({n_failed} of {non_blank} lines "
            "fail). Save it from Excel as 'CSV UTF-8' or 'CSV (コンマ区切り)' and try again."
        )
    return "\n".join(decoded), label, failed


def read_csv_table(path: Path) -> RawTable:
    """Read a CSV file of unknown encoding into text cells with physical row numbers."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the file ({exc.strerror}).") from exc
    text, encoding, failed_lines = decode_lines(data, path)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    numbers: list[int] = []
    undecodable: set[int] = set()
    start = 1
    try:
        for record in reader:
            end = reader.line_num
            rows.append(record)
            numbers.append(start)
            if any(start <= n <= end for n in failed_lines):
                undecodable.add(start)
            start = end + 1
    except csv.Error as exc:
        raise InputFileError(
            f"{path}: not a readable CSV table near line {start} ({exc})."
        ) from exc
    return RawTable(path, rows, numbers, encoding, undecodable)


def _excel_cell_text(cell: object) -> str:
    """Text of an Excel cell, undoing what Excel does to codes: 12.0 → "12", format "000" keeps zeros."""
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        fmt = str(getattr(cell, "number_format", "") or "")
        if _NUMBER_FORMAT_ZEROS.match(fmt) and len(fmt) > len(text):
            text = text.zfill(len(fmt))
        return text
    return str(value)


def read_excel_table(path: Path, sheet: str | None = None) -> RawTable:
    """Read the first (or the named) sheet of an ``.xlsx`` workbook."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or wrong file
        raise InputFileError(f"{path}: cannot open as an Excel workbook ({exc}).") from exc
    try:
        worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
        rows: list[list[str]] = []
        numbers: list[int] = []
        for number, row in enumerate(worksheet.iter_rows(), start=1):
            rows.append([_excel_cell_text(cell) for cell in row])
            numbers.append(number)
    finally:
        workbook.close()
    return RawTable(path, rows, numbers, "xlsx")


def read_markdown_table(path: Path) -> RawTable:
    """Read the first pipe table of a Markdown file (used for resolved-point lists)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read as UTF-8 Markdown ({exc}).") from exc
    rows: list[list[str]] = []
    numbers: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
            continue
        rows.append(cells)
        numbers.append(number)
    return RawTable(path, rows, numbers, "UTF-8 (Markdown)")


def read_table(path: str | Path) -> RawTable:
    """Read ``.csv``, ``.xlsx`` or ``.md`` by suffix."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".tsv"}:
        return read_csv_table(path)
    if suffix in {".xlsx", ".xlsm"}:
        return read_excel_table(path)
    if suffix in {".md", ".markdown"}:
        return read_markdown_table(path)
    raise InputFileError(
        f"{path}: unsupported file type {suffix!r}; expected .csv, .xlsx or .md (a Markdown table)."
    )


def locate_header(
    table: RawTable, aliases: Mapping[str, str], required: Iterable[str]
) -> tuple[int, dict[int, str]]:
    """Find the header row: the first row among the top rows that maps the most known headers.

    Returns the index of the header row in ``table.rows`` and a map column index → canonical name.
    """
    required = tuple(required)
    best: tuple[int, int, dict[int, str]] | None = None
    for index, row in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        mapping: dict[int, str] = {}
        for col, cell in enumerate(row):
            canonical = aliases.get(header_key(cell))
            if canonical and canonical not in mapping.values():
                mapping[col] = canonical
        if all(r in mapping.values() for r in required) and (
            best is None or len(mapping) > best[1]
        ):
            best = (index, len(mapping), mapping)
    if best is None:
        seen = [c for row in table.rows[:3] for c in row if c][:12]
        expected = sorted({k for k, v in aliases.items() if v in required})
        raise InputFileError(
            f"{table.path}: no header row found in the first {HEADER_SEARCH_ROWS} rows. Expected "
            f"headers for {', '.join(required)} (e.g. {', '.join(expected[:6])}); found {seen}."
        )
    return best[0], best[2]


# --- writing tables people open in Excel -----------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: object) -> object:
    """Make a text cell safe to open in Excel: a leading ``= + - @`` gets a ``'`` in front.

    Numbers are left alone (a negative number is not a formula).

    Example:
        >>> escape_formula("=1+1"), escape_formula("-3"), escape_formula(-3)
        ("'=1+1", "'-3", -3)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell passed through :func:`escape_formula`."""
    text_columns = [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])
    ]
    return frame.assign(**{c: frame[c].map(escape_formula) for c in text_columns})


def write_table(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    headers_ja: Mapping[str, str] | None = None,
    values_ja: Mapping[str, Mapping[str, str]] | None = None,
    sheet_name: str = "Sheet1",
) -> Path:
    """Write ``frame`` by suffix: ``.csv`` (UTF-8 with BOM), ``.xlsx`` or ``.parquet``.

    CSV and Excel are for people: text cells are formula-escaped, and Excel gets Japanese headers
    (``headers_ja``), coded values by their names (``values_ja``: column → code → name), a frozen
    header row, filters and readable column widths. Parquet is for
    programs and keeps canonical column names and values untouched. The file is written to a
    temporary name first, so an interrupted write never leaves a half file under the real name.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif suffix == ".csv":
        escape_frame(frame).to_csv(tmp, index=False, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        named = frame.assign(
            **{
                column: frame[column].map(lambda v, names=names: names.get(v, v))
                for column, names in (values_ja or {}).items()
                if column in frame.columns
            }
        )
        _write_xlsx(escape_frame(named), tmp, headers_ja or {}, sheet_name)
    else:
        raise InputFileError(
            f"{path}: unsupported output type {suffix!r}; use .csv, .xlsx or .parquet."
        )
    tmp.replace(path)
    return path


def _write_xlsx(
    frame: pd.DataFrame, path: Path, headers_ja: Mapping[str, str], sheet_name: str
) -> None:
    shown = frame.rename(columns={c: headers_ja.get(c, c) for c in frame.columns})
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        shown.to_excel(writer, index=False, sheet_name=sheet_name)
        format_sheet(writer.sheets[sheet_name])


def format_sheet(sheet: object, *, max_width: int = 60) -> None:
    """Freeze the header row, add filters, bold headers and set column widths from content."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    ws = sheet  # an openpyxl Worksheet
    ws.freeze_panes = "A2"  # type: ignore[attr-defined]
    if ws.max_row >= 1 and ws.max_column >= 1:  # type: ignore[attr-defined]
        ws.auto_filter.ref = ws.dimensions  # type: ignore[attr-defined]
    for cell in ws[1]:  # type: ignore[index]
        cell.font = Font(bold=True)
    for index, column in enumerate(ws.iter_cols(min_row=1, max_row=min(ws.max_row, 200)), start=1):  # type: ignore[attr-defined]
        width = max((_display_width(c.value) for c in column), default=8)
        ws.column_dimensions[get_column_letter(index)].width = min(max(8, width + 2), max_width)  # type: ignore[attr-defined]
        if width > max_width:
            for cell in column[1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def _display_width(value: object) -> int:
    """Columns a value takes in Excel: East Asian wide characters count double."""
    if value is None:
        return 0
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(value))
