"""The council's workbook: recorded verdicts summarised per draft, the revision list, charts.

Only recorded verdicts (confirmed by a person, decided by the flowchart) count as results; the
model's suggestions appear beside them in 全件 so the secretariat can see where reviewers differed.
Charts use matplotlib's object API (no pyplot, no global backend switch) with the IPAex Gothic font
that ``matplotlib_fontja`` registers, so Japanese labels render on machines without Japanese fonts.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from itertools import combinations
from pathlib import Path
from typing import Any, Final

import pandas as pd
from sqlalchemy import Engine, select

from pipeline.errors import InputFileError
from pipeline.schema import CATEGORIES, CATEGORY_NAMES_JA, VERDICT_NAMES_JA, VERDICTS
from pipeline.store import (
    drafts_table,
    format_time,
    opinions_frame,
    reviews_frame,
)
from pipeline.tables import escape_frame, format_sheet

SHEET_SUMMARY: Final[str] = "概要"
SHEET_REVISIONS: Final[str] = "修正意見一覧"
SHEET_ALL: Final[str] = "全件"
SHEET_AGREEMENT: Final[str] = "評価者間一致"
SHEET_CHARTS: Final[str] = "グラフ"
REPORT_SHEETS: Final[tuple[str, ...]] = (
    SHEET_SUMMARY,
    SHEET_REVISIONS,
    SHEET_ALL,
    SHEET_AGREEMENT,
    SHEET_CHARTS,
)
NO_SECTION: Final[str] = "（該当箇所なし）"
#: How many sections the "most revision requests" chart shows.
TOP_SECTIONS: Final[int] = 15


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def _draft_info(engine: Engine) -> dict[str, dict[str, Any]]:
    """Title and section order/headings of each stored draft (empty when none were imported)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(drafts_table.c.draft_id, drafts_table.c.title, drafts_table.c.sections)
        )
        return {
            r.draft_id: {
                "title": r.title,
                "order": {s["section_id"]: i for i, s in enumerate(r.sections)},
                "headings": {s["section_id"]: s["heading"] for s in r.sections},
            }
            for r in rows
        }


def _natural_key(section_id: str) -> tuple[Any, ...]:
    """Order section ids without the draft: numbers numerically, then the rest as text."""
    return tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.findall(r"\d+|\D+", section_id))


def _with_reviews(engine: Engine) -> pd.DataFrame:
    """Opinions with current suggestion and verdict, plus the comment of the verdict's review."""
    frame = opinions_frame(engine)
    reviews = reviews_frame(engine)
    comments = dict(zip(reviews["review_id"], reviews["comment"], strict=True))
    frame["comment"] = frame["review_id"].map(lambda r: "" if _missing(r) else comments.get(r, ""))
    frame["reviewed"] = frame["confirmed_verdict"].map(lambda v: not _missing(v))
    return frame


def summary_frame(frame: pd.DataFrame, drafts: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """概要: per draft, opinions and municipalities, and recorded verdicts by category and verdict."""
    rows = []
    groups = [(d, g) for d, g in frame.groupby("draft_id", sort=True)] + [("合計", frame)]
    for draft_id, group in groups:
        done = group[group["reviewed"]]
        row: dict[str, Any] = {
            "対象推進方針案": draft_id,
            "表題": drafts.get(draft_id, {}).get("title", ""),
            "意見数": len(group),
            "団体数": group["municipality"].replace("", pd.NA).dropna().nunique(),
            "確定済み": len(done),
            "未確定": len(group) - len(done),
        }
        for category in CATEGORIES:
            row[CATEGORY_NAMES_JA[category]] = int((done["confirmed_category"] == category).sum())
        for verdict in VERDICTS:
            row[VERDICT_NAMES_JA[verdict]] = int((done["confirmed_verdict"] == verdict).sum())
        agree = (done["confirmed_category"] == done["category"]).mean() if len(done) else None
        row["提案との一致率（判断Ⅰ）"] = None if agree is None else round(float(agree), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def revisions_frame(frame: pd.DataFrame, drafts: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """修正意見一覧: revision verdicts by draft and section, with the opinions behind each.

    An opinion naming two sections appears under both; one naming none under 該当箇所なし.
    """
    columns = [
        "対象推進方針案",
        "該当箇所",
        "見出し",
        "件数（同一箇所）",
        "団体（同一箇所）",
        "番号",
        "団体名",
        "意見",
        "理由",
        "コメント",
        "確認者",
    ]
    revisions = frame[frame["confirmed_verdict"] == "revision"]
    rows = []
    for _, opinion in revisions.iterrows():
        for section in list(opinion["confirmed_sections"] or []) or [NO_SECTION]:
            rows.append({"draft_id": opinion["draft_id"], "section": section, **opinion.to_dict()})
    if not rows:
        return pd.DataFrame(columns=columns)
    exploded = pd.DataFrame(rows)
    out = []
    for (draft_id, section), group in exploded.groupby(["draft_id", "section"], sort=False):
        info = drafts.get(draft_id, {})
        municipalities = "、".join(dict.fromkeys(m for m in group["municipality"] if m))
        for _, opinion in group.sort_values("opinion_id").iterrows():
            out.append(
                {
                    "対象推進方針案": draft_id,
                    "該当箇所": section,
                    "見出し": info.get("headings", {}).get(section, ""),
                    "件数（同一箇所）": len(group),
                    "団体（同一箇所）": municipalities,
                    "番号": opinion["opinion_id"],
                    "団体名": opinion["municipality"],
                    "意見": opinion["text"],
                    "理由": opinion["reason"],
                    "コメント": opinion["comment"],
                    "確認者": opinion["confirmed_by"],
                    "_order": (
                        draft_id,
                        section == NO_SECTION,
                        info.get("order", {}).get(section, 10**6),
                        _natural_key(section),
                    ),
                }
            )
    result = pd.DataFrame(out).sort_values("_order", kind="stable").drop(columns="_order")
    return result.reset_index(drop=True)[columns]


def all_opinions_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """全件: each opinion's suggestion beside its recorded judgement, reviewer and time."""

    def name(mapping: dict[str, str], value: object) -> str:
        return "" if _missing(value) else mapping.get(str(value), str(value))

    described_ja = {"yes": "記載あり", "no": "記載なし"}
    return pd.DataFrame(
        {
            "対象推進方針案": frame["draft_id"],
            "番号": frame["opinion_id"],
            "都道府県": frame["prefecture"],
            "団体名": frame["municipality"],
            "意見": frame["text"],
            "理由": frame["reason"],
            "判断Ⅰ（提案）": frame["category"].map(lambda v: name(CATEGORY_NAMES_JA, v)),
            "該当箇所（提案）": frame["sections"],
            "判定（提案）": frame["verdict"].map(lambda v: name(VERDICT_NAMES_JA, v)),
            "判断Ⅰ（確定）": frame["confirmed_category"].map(lambda v: name(CATEGORY_NAMES_JA, v)),
            "判断Ⅱ（確定）": frame["confirmed_described"].map(lambda v: name(described_ja, v)),
            "該当箇所（確定）": frame["confirmed_sections"].map(
                lambda s: "" if _missing(s) else ";".join(s)
            ),
            "判定（確定）": frame["confirmed_verdict"].map(lambda v: name(VERDICT_NAMES_JA, v)),
            "提案と一致": [
                "" if not reviewed else ("一致" if s == c else "相違")
                for reviewed, s, c in zip(
                    frame["reviewed"], frame["category"], frame["confirmed_category"], strict=True
                )
            ],
            "確認者": frame["confirmed_by"].map(lambda v: "" if _missing(v) else v),
            "確定日時": frame["confirmed_at"].map(lambda v: "" if _missing(v) else format_time(v)),
            "コメント": frame["comment"],
            "モデル版": frame["model_version"],
        }
    )


def agreement_frame(reviews: pd.DataFrame) -> pd.DataFrame:
    """Cohen's κ between each pair of reviewers on the opinions both reviewed.

    Each reviewer's latest review of an opinion counts. κ is given for Judgement I as a whole and
    per category (that category vs the rest); it is left empty where it is undefined (both
    reviewers used a single label throughout), with the raw agreement beside it.
    """
    from sklearn.metrics import cohen_kappa_score

    columns = ["確認者A", "確認者B", "共通件数", "判断Ⅰ", "κ", "一致率"]
    if reviews.empty:
        return pd.DataFrame(columns=columns)
    latest = reviews.sort_values("review_id").drop_duplicates(
        ["draft_id", "opinion_id", "reviewer"], keep="last"
    )
    labels = latest.pivot(index=["draft_id", "opinion_id"], columns="reviewer", values="category")
    rows = []
    for first, second in combinations(sorted(labels.columns), 2):
        both = labels[[first, second]].dropna()
        if both.empty:
            continue
        a, b = list(both[first]), list(both[second])
        for category in (None, *CATEGORIES):
            x = a if category is None else [v == category for v in a]
            y = b if category is None else [v == category for v in b]
            if category is not None and not (any(x) or any(y)):
                continue  # neither reviewer used this category: nothing to agree on
            kappa = None
            if len(set(x) | set(y)) > 1:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    value = cohen_kappa_score(x, y)
                kappa = None if pd.isna(value) else round(float(value), 3)
            rows.append(
                {
                    "確認者A": first,
                    "確認者B": second,
                    "共通件数": len(both),
                    "判断Ⅰ": "全体" if category is None else CATEGORY_NAMES_JA[category],
                    "κ": kappa,
                    "一致率": round(sum(p == q for p, q in zip(x, y, strict=True)) / len(x), 3),
                }
            )
    return pd.DataFrame(rows, columns=columns)


# --- charts ------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    import matplotlib_fontja  # noqa: F401  (registers IPAex Gothic and selects it)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _category_chart_height(n_drafts: int) -> float:
    return 2.0 + 0.6 * max(n_drafts, 1)


def category_chart(frame: pd.DataFrame) -> bytes:
    """Judgement I per draft as stacked bars: suggested (all opinions) and recorded, side by side."""
    from matplotlib.ticker import MaxNLocator

    drafts = sorted(frame["draft_id"].unique())
    figure = _figure(11, _category_chart_height(len(drafts)))
    panels = [
        ("提案（全件）", frame, "category"),
        ("確定", frame[frame["reviewed"]], "confirmed_category"),
    ]
    for position, (title, data, column) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, 2, position)
        left = [0] * len(drafts)
        for category in CATEGORIES:
            counts = [
                int(((data["draft_id"] == d) & (data[column] == category)).sum()) for d in drafts
            ]
            axes.barh(drafts, counts, left=left, label=CATEGORY_NAMES_JA[category])
            left = [a + b for a, b in zip(left, counts, strict=True)]
        axes.set_title(f"判断Ⅰの分布：{title}")
        axes.set_xlabel("件数")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.invert_yaxis()
    handles, names = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside right upper", fontsize=8)
    return _png(figure)


def sections_chart(revisions: pd.DataFrame) -> bytes:
    """The sections that drew the most revision requests (recorded verdicts)."""
    from matplotlib.ticker import MaxNLocator

    figure = _figure(9, 5)
    axes = figure.add_subplot(1, 1, 1)
    if revisions.empty:
        axes.text(0.5, 0.5, "修正意見を出す判定はまだありません", ha="center", va="center")
        axes.set_axis_off()
        return _png(figure)
    counts = (
        revisions.groupby(["対象推進方針案", "該当箇所", "見出し"], sort=False)
        .size()
        .sort_values(ascending=False, kind="stable")
        .head(TOP_SECTIONS)
    )
    labels = [f"{d} {s} {h[:14]}".strip() for d, s, h in counts.index]
    axes.barh(labels, list(counts.values), color="#d9534f")
    axes.invert_yaxis()
    axes.set_title("修正意見が多い該当箇所")
    axes.set_xlabel("修正意見を出す件数")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


# --- workbook ----------------------------------------------------------------------------------


def _write_sheet(writer: pd.ExcelWriter, frame: pd.DataFrame, name: str) -> None:
    escape_frame(frame).to_excel(writer, index=False, sheet_name=name)
    format_sheet(writer.sheets[name])


def build_report(engine: Engine, out_path: str | Path) -> Path:
    """Write the council workbook: 概要, 修正意見一覧, 全件, 評価者間一致 and グラフ (PNG charts).

    Text cells are formula-escaped (an opinion starting with ``=`` stays text), headers are
    Japanese, each table sheet has a frozen header row and filters.

    Example:
        >>> build_report(get_engine(), "out/report.xlsx")  # doctest: +SKIP
        PosixPath('out/report.xlsx')
    """
    from openpyxl.drawing.image import Image

    out_path = Path(out_path)
    if out_path.suffix.lower() != ".xlsx":
        raise InputFileError(f"{out_path}: the report is an Excel workbook; use a .xlsx name.")
    frame = _with_reviews(engine)
    drafts = _draft_info(engine)
    revisions = revisions_frame(frame, drafts)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        _write_sheet(writer, summary_frame(frame, drafts), SHEET_SUMMARY)
        _write_sheet(writer, revisions, SHEET_REVISIONS)
        _write_sheet(writer, all_opinions_frame(frame), SHEET_ALL)
        _write_sheet(writer, agreement_frame(reviews_frame(engine)), SHEET_AGREEMENT)
        charts = writer.book.create_sheet(SHEET_CHARTS)
        charts["A1"] = "判断Ⅰの分布（対象推進方針案別）"
        charts.add_image(Image(io.BytesIO(category_chart(frame))), "A2")
        # Below the first chart: its height in pixels (100 dpi) over Excel's 20-pixel rows.
        height = _category_chart_height(frame["draft_id"].nunique()) * 100
        row = 2 + math.ceil(height / 20) + 2
        charts[f"A{row}"] = "修正意見が多い該当箇所"
        charts.add_image(Image(io.BytesIO(sections_chart(revisions))), f"A{row + 1}")
    tmp.replace(out_path)
    return out_path
