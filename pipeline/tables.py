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

from pipeline.errors import InputFileError

#: Encodings tried, in order of preference when several decode a file equally well.
ENCODINGS = ("utf-8", "cp932")
#: How far down a consultation template may push its header row (titles, notes, blank lines).
HEADER_SEARCH_ROWS = 30
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_NUMBER_FORMAT_ZEROS = re.compile(r"^0+$")


def normalize_text(value: object) -> str:
    """NFKC-normalise a cell: unify newlines, drop zero-width marks, trim each line's end.

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
        new = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
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
