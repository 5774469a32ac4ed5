"""Reading consultation exports into validated opinion rows (DATA_FORMATS.md §1).

Every row is checked on its own: a bad row becomes a :class:`~pipeline.schema.RowError` naming the
file, row and field, and the good rows still go through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.schema import (
    CHANNEL_ALIASES,
    CHANNELS,
    OPINION_COLUMNS,
    REQUIRED_OPINION_COLUMNS,
    Draft,
    RowError,
)
from pipeline.tables import RawTable, header_key, locate_header, normalize_text, read_table

#: Header variants per canonical field (DATA_FORMATS.md §1), compared after :func:`header_key`.
HEADER_VARIANTS: dict[str, tuple[str, ...]] = {
    "opinion_id": ("番号", "No", "No.", "NO.", "№", "通番", "意見番号", "整理番号", "意見No."),
    "prefecture": ("都道府県", "都道府県名", "都道府県名称"),
    "municipality": ("団体名", "自治体名", "地方公共団体名", "市区町村名", "団体名称", "提出団体"),
    "municipality_code": ("団体コード", "地方公共団体コード", "自治体コード", "団体コード(6桁)"),
    "channel": ("経路", "意見の種別", "種別", "意見の区分"),
    "draft_id": ("対象推進方針案", "対象", "推進方針案", "対象方針案", "共通化推進方針案"),
    "location": ("該当箇所", "該当ページ", "該当部分", "該当箇所(ページ・項目)", "該当項目"),
    "text": (
        "意見",
        "意見内容",
        "御意見",
        "ご意見",
        "意見等",
        "意見の内容",
        "意見等の内容",
        "御意見の内容",
    ),
    "reason": ("理由", "意見の理由", "理由・背景", "理由等", "意見理由"),
}
HEADER_ALIASES: dict[str, str] = {
    header_key(variant): canonical
    for canonical, variants in HEADER_VARIANTS.items()
    for variant in (canonical, *variants)
}

_CODE_WEIGHTS = (6, 5, 4, 3, 2)
#: Prefectures in JIS X 0401 order: the first two digits of a 団体コード.
PREFECTURES: tuple[str, ...] = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)  # fmt: skip


def check_digit(code5: str) -> str:
    """JIS X 0402 check digit of a 5-digit local government code.

    Example:
        >>> check_digit("01100")  # 札幌市 011002
        '2'
    """
    if not re.fullmatch(r"\d{5}", code5):
        raise ValueError(f"check_digit needs 5 digits. Got {code5!r} instead.")
    total = sum(int(d) * w for d, w in zip(code5, _CODE_WEIGHTS, strict=True))
    return str((11 - total % 11) % 10)


def _plausible(code6: str) -> bool:
    """Prefecture 01–47 and a body of 000 (the prefecture itself) or 100 and above."""
    prefecture, body = int(code6[:2]), int(code6[2:5])
    return 1 <= prefecture <= 47 and (body == 0 or body >= 100)


def _valid6(code6: str) -> bool:
    return check_digit(code6[:5]) == code6[5] and _plausible(code6)


def prefecture_number(name: str) -> int | None:
    """JIS number (1–47) of a prefecture name such as 北海道 or 東京都 (with or without suffix)."""
    key = normalize_text(name).replace(" ", "")
    for number, pref in enumerate(PREFECTURES, start=1):
        if key in {pref, pref.rstrip("都道府県")} or (key == "北海道" and number == 1):
            return number
    return None


def normalize_municipality_code(value: str, prefecture: str | None = None) -> str:
    """Return the 6-digit 団体コード, completing a 5-digit code or a code Excel cut short.

    A 5-digit value can be a code without its check digit (``01100``) or a 6-digit code whose
    leading zero Excel dropped (``11002`` for 札幌市 ``011002``). Shape, check digit and, when the
    row names one, the prefecture decide which.

    Raises:
        ValueError: with a message saying what was expected, for a wrong check digit or shape.

    Example:
        >>> normalize_municipality_code("01100")
        '011002'
        >>> normalize_municipality_code("11002")  # 011002 after Excel dropped the leading zero
        '011002'
    """
    code = re.sub(r"[\s-]", "", normalize_text(value))
    if re.fullmatch(r"\d+\.0", code):
        code = code[:-2]
    if not code.isdigit() or not 4 <= len(code) <= 6:
        raise ValueError("a 6-digit code with its check digit (or the 5-digit code)")
    pref_number = prefecture_number(prefecture) if prefecture else None
    if len(code) == 6:
        if check_digit(code[:5]) != code[5]:
            raise ValueError(
                f"a valid check digit: {code[:5]} needs {code[:5]}{check_digit(code[:5])}"
            )
        candidates = [code]
    elif len(code) == 4:  # a 5-digit code whose leading zero Excel dropped
        candidates = ["0" + code + check_digit("0" + code)]
    else:
        candidates = [c for c in (code + check_digit(code), "0" + code) if _valid6(c)]
        if code.startswith("0"):  # text kept its zero: a 5-digit code, not a shortened one
            candidates = candidates[:1]
    candidates = [c for c in candidates if _plausible(c)]
    if not candidates:
        raise ValueError("a code of a prefecture (01–47) and a municipality")
    if pref_number is not None:
        matching = [c for c in candidates if int(c[:2]) == pref_number]
        if not matching:
            raise ValueError(
                f"a code in {PREFECTURES[pref_number - 1]} (starting {pref_number:02d})"
            )
        candidates = matching
    # Without a prefecture, the documented 5-digit form wins over a lost leading zero.
    return candidates[0]


def normalize_channel(value: str) -> str | None:
    """Map a channel cell (code or Japanese name) to its code; ``None`` for an empty cell."""
    text = normalize_text(value)
    if not text:
        return None
    key = re.sub(r"\s+", "", text).strip("()（）").lower()
    if key in CHANNELS:
        return key
    if key in CHANNEL_ALIASES:
        return CHANNEL_ALIASES[key]
    for alias, code in CHANNEL_ALIASES.items():  # e.g. "ⅳ 推進方針案への意見照会"
        if len(alias) > 3 and alias in key:
            return code
    raise ValueError(
        f"one of {', '.join(CHANNELS)} or a Japanese name such as 推進方針案への意見照会"
    )


def draft_resolver(drafts: Sequence[Draft]) -> dict[str, str]:
    """Keys under which a draft may be named in an export: its file stem and its title."""
    keys: dict[str, str] = {}
    for draft in drafts:
        keys[header_key(draft.draft_id)] = draft.draft_id
        if draft.title:
            title = header_key(draft.title)
            keys[title] = draft.draft_id
            keys[re.sub(r"(に係る)?共通化推進方針(\(案\)|案)?$", "", title)] = draft.draft_id
    return keys


def resolve_draft_id(value: str, keys: dict[str, str]) -> str:
    """Match an export's 対象推進方針案 to a draft by stem or title (a unique partial match counts)."""
    key = header_key(value)
    if key in keys:
        return keys[key]
    partial = {d for k, d in keys.items() if k and (key in k or k in key) and len(k) >= 4}
    if len(partial) == 1 and len(key) >= 4:
        return partial.pop()
    raise ValueError(
        f"the file stem or title of a given draft ({', '.join(sorted(set(keys.values())))})"
    )


@dataclass
class IngestResult:
    """Opinions that passed validation, the rows that did not, and how the file was read."""

    path: Path
    opinions: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    encoding: str = ""
    rows_read: int = 0

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})


def _table_to_records(table: RawTable) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    header_index, mapping = locate_header(table, HEADER_ALIASES, REQUIRED_OPINION_COLUMNS)
    records: list[tuple[int, dict[str, str]]] = []
    for row, number in zip(
        table.rows[header_index + 1 :], table.row_numbers[header_index + 1 :], strict=True
    ):
        if not any(cell.strip() for cell in row):
            continue
        record = {name: (row[col] if col < len(row) else "") for col, name in mapping.items()}
        records.append((number, record))
    return records, list(mapping.values())


def validate_rows(
    records: Iterable[tuple[int, dict[str, str]]],
    *,
    file: str,
    drafts: Sequence[Draft] = (),
    undecodable_rows: Iterable[int] = (),
) -> tuple[pd.DataFrame, list[RowError]]:
    """Normalise and check each record; return the good rows as a frame and the errors."""
    bad_bytes = set(undecodable_rows)
    keys = draft_resolver(drafts)
    single_draft = drafts[0].draft_id if len(drafts) == 1 else None
    errors: list[RowError] = []
    good: list[dict[str, str | None]] = []
    first_row_of_id: dict[str, int] = {}
    for number, raw in records:
        row_errors: list[RowError] = []

        def fail(
            field_name: str,
            expected: str,
            found: str,
            number: int = number,
            row_errors: list[RowError] = row_errors,
        ) -> None:
            row_errors.append(RowError(file, number, field_name, expected, found))

        if number in bad_bytes:
            fail("*", "text in UTF-8 or cp932", "undecodable bytes")
        record: dict[str, str | None] = {c: normalize_text(raw.get(c, "")) for c in OPINION_COLUMNS}
        opinion_id = record["opinion_id"] or ""
        if not opinion_id:
            fail("opinion_id", "a non-empty id", "")
        elif opinion_id in first_row_of_id:
            fail(
                "opinion_id",
                f"an id not used before (row {first_row_of_id[opinion_id]})",
                opinion_id,
            )
        if not record["text"]:
            fail("text", "a non-empty opinion", raw.get("text", ""))
        if record["municipality_code"]:
            try:
                record["municipality_code"] = normalize_municipality_code(
                    record["municipality_code"], record["prefecture"]
                )
            except ValueError as exc:
                fail("municipality_code", str(exc), raw.get("municipality_code", ""))
        try:
            record["channel"] = normalize_channel(record["channel"] or "")
        except ValueError as exc:
            fail("channel", str(exc), raw.get("channel", ""))
        if drafts:
            if record["draft_id"]:
                try:
                    record["draft_id"] = resolve_draft_id(record["draft_id"], keys)
                except ValueError as exc:
                    fail("draft_id", str(exc), raw.get("draft_id", ""))
            elif single_draft:
                record["draft_id"] = single_draft
            else:
                fail("draft_id", "the draft this opinion is about (several drafts given)", "")
        if row_errors:
            errors.extend(row_errors)
            continue
        first_row_of_id[opinion_id] = number
        good.append({**record, "row": number})  # type: ignore[dict-item]
    frame = pd.DataFrame(good, columns=[*OPINION_COLUMNS, "row"]).astype(
        {c: "string" for c in OPINION_COLUMNS}
    )
    return frame, errors


def read_opinions(path: str | Path, *, drafts: Sequence[Draft] = ()) -> IngestResult:
    """Read and validate a consultation export (``.csv`` in any supported encoding, or ``.xlsx``).

    Args:
        path: the export file.
        drafts: when given, each row's 対象推進方針案 must name one of them (an export without that
            column is assigned to the only draft when exactly one is given).

    Raises:
        InputFileError: when the file cannot be read at all (no header row, undecodable, missing).

    Example:
        >>> result = read_opinions("data/samples/export_2025_cp932.csv")  # doctest: +SKIP
        >>> result.encoding, len(result.opinions), len(result.errors)  # doctest: +SKIP
    """
    path = Path(path)
    table = read_table(path)
    records, _ = _table_to_records(table)
    frame, errors = validate_rows(
        records, file=str(path), drafts=drafts, undecodable_rows=table.undecodable_rows
    )
    return IngestResult(path, frame, errors, table.encoding, len(records))
