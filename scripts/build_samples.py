"""Build the bundled sample files from the hand-written sources in data/samples/raw/.

Each raw/<draft_id>/ folder holds draft.md, resolved.csv and opinions.jsonl (opinions with their
labels, written and labelled by hand per ANNOTATION_GUIDE.md). This script lays them out the way
users bring them: two consultation exports (a cp932 CSV with a template title above the header and
Japanese channel names; an Excel workbook with other header variants, numeric codes and ids), the
drafts (plus one as .docx), one resolved-points list, and labels.jsonl. Deterministic: running it
twice gives the same files.

Run: .venv/bin/python scripts/build_samples.py
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import unicodedata
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from openpyxl import Workbook

from pipeline.drafts import markdown_table_cells

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLES = DATA / "samples"
RAW = SAMPLES / "raw"
EXPORT_A = ("koukin-shuunou", "furusato-nozei", "shobo-kyoninka")
EXPORT_B = ("hojokin-shinsei", "kaigo-shitei", "nouchi-tenyo")
#: The hold-out set: two drafts and 200 opinions written by other authors after the models were
#: designed, never used for tuning; laid out like export A but in UTF-8 with BOM.
HOLDOUT = DATA / "holdout"
HOLDOUT_DRAFTS = ("jidou-teate", "douro-senyou")
#: A second, fresh hold-out written the same way after the first had been looked at twice;
#: its export is cp932, as most municipal spreadsheets save CSV.
HOLDOUT2 = DATA / "holdout2"
HOLDOUT2_DRAFTS = ("jouka-sou", "shugaku-enjo")
#: A third, fresh hold-out (2026-11-29): one draft only as Word, the export as Excel (export B's
#: layout), so the .docx and .xlsx readers are tested on text nobody tuned against.
HOLDOUT3 = DATA / "holdout3"
HOLDOUT3_DRAFTS = ("maisou-kyoka", "hoiku-riyou")
#: The fourth (2026-11-29), written while the first three became training data: the hold-out.
#: Its export is UTF-8 without BOM, as a web form's download would be.
HOLDOUT4 = DATA / "holdout4"
HOLDOUT4_DRAFTS = ("kokuho-kanyu", "jidousha-shako")
HOLDOUT5 = DATA / "holdout5"
HOLDOUT5_DRAFTS = ("yobou-sesshu", "kenchiku-kakunin")
#: The sixth (2026-11-29), written while hold-out 5 became training data: one draft only as Word
#: with chapters and a level-4 (ア), one as plain text; the export in UTF-8 with BOM.
HOLDOUT6 = DATA / "holdout6"
HOLDOUT6_DRAFTS = ("koei-jutaku", "yochokin-shoukai")
HOLDOUT7 = DATA / "holdout7"
HOLDOUT7_DRAFTS = ("suidou-shiyou", "kijitsumae-tohyo")
HOLDOUT8 = DATA / "holdout8"
HOLDOUT8_DRAFTS = ("okugai-koukoku", "ninshin-todoke")
#: The ninth (2026-11-29, tenth session), written while hold-out 8 became training data: one
#: Markdown draft numbered 「1 」 (no dot) under ``#`` marks, one only as Word with chapters whose
#: full-width items restart; the export as Excel.
HOLDOUT9 = DATA / "holdout9"
HOLDOUT9_DRAFTS = ("seikatsu-hogo", "shuryo-menkyo")
#: The tenth (2026-11-29, eleventh session), written while hold-out 9 became training data: one
#: draft only as PDF numbered like a Word multilevel list (「2.3.1」), one as plain text numbered
#: like a 通知 (「第２　…」 parts, 「３　…」 items); the export UTF-8 with BOM.
HOLDOUT10 = DATA / "holdout10"
HOLDOUT10_DRAFTS = ("risai-shomei", "akiya-taisaku")
#: The eleventh (2026-11-29, twelfth session), written while hold-out 10 became training data:
#: one draft only as Word with typed 「第1章」「1.」「(1)」 numbers, one as plain text in Roman-numeral
#: parts (「Ⅲ　…」) with 「1.」 items and 「ア」; the export as a cp932 CSV.
HOLDOUT11 = DATA / "holdout11"
HOLDOUT11_DRAFTS = ("koseki-kouiki", "gan-kenshin")
#: The twelfth (2026-11-29, twelfth session), written while hold-out 11 became training data: one
#: draft only as PDF with 「第1章」 chapters and 「第1節」 sections in some of them, one as plain
#: text numbered in kanji as older 要綱 are (「第三」 parts, 「二　」 items, 「（一）」); the export
#: as Excel.
HOLDOUT12 = DATA / "holdout12"
HOLDOUT12_DRAFTS = ("kari-number", "npo-ninsho")
#: The thirteenth (2026-11-29, twelfth session), written while hold-out 12 became training data:
#: one Markdown draft whose `#` headings spell their paths with hyphens (「## 2-3」「### 2-3-1」), one
#: only as PDF five levels deep with no chapters (「1.」「(1)」「①」「ア」「(ア)」); the export as UTF-8.
HOLDOUT13 = DATA / "holdout13"
HOLDOUT13_DRAFTS = ("kyushoku-hi", "kaigo-nintei")
#: The fourteenth (2026-11-29, thirteenth session), written while hold-out 13 became training
#: data: one draft as plain text in 「【1】」 parts with 「(1)」 and 「1)」 items, one only as PDF with
#: chapters, 「1.」 items, 「1)」 and 「①」 below them; the export as a cp932 CSV.
HOLDOUT14 = DATA / "holdout14"
HOLDOUT14_DRAFTS = ("ryoken-kofu", "shokuhin-eigyo")
#: The fifteenth (2026-11-30, fourteenth session), written while hold-out 14 became training
#: data: one draft only as Word whose headings type their paths (「1　」「1.1　」「(1)　」), one as
#: plain text numbered like a 通知 (「第１」 parts, 「１」 items, 「（１）」, 「ア」); the export as Excel.
HOLDOUT15 = DATA / "holdout15"
HOLDOUT15_DRAFTS = ("kotei-shisan", "shisetsu-yoyaku")
#: The sixteenth (2026-11-30, fifteenth session), written beside the seventeenth while hold-out 15
#: was still the hold-out: one Markdown draft in 「第1章」 chapters with 「1.」 items restarting,
#: 「(1)」 and 「①」; one only as PDF with no chapters (「1.」「(1)」「①」「ア」); the export as UTF-8.
HOLDOUT16 = DATA / "holdout16"
HOLDOUT16_DRAFTS = ("yougo-jidou", "shohi-soudan")
#: The seventeenth (2026-11-30, fifteenth session): one draft only as Word numbered like a 通知
#: (「第1」 parts, 「1　」 items, 「(1)」, 「ア」), one as plain text in full-width 「１．」「（１）」「①」;
#: the export as a cp932 CSV.
HOLDOUT17 = DATA / "holdout17"
HOLDOUT17_DRAFTS = ("tokei-chousa", "bunkazai-todoke")
EXTRA1 = DATA / "extra1"
EXTRA1_DRAFTS = ("inu-touroku", "shougai-techou", "tenshutsu-tennyu", "kansensho-hassei")
#: Two drafts written as training data in the same styles as hold-out 14, on topics close to
#: training drafts already held (埋葬・火葬許可, 就学援助), so not fit to be a hold-out.
EXTRA2 = DATA / "extra2"
EXTRA2_DRAFTS = ("kasou-kyoka", "shugaku-jimu")
#: Drafts written without Markdown marks are shipped as .txt, as users would have them.
PLAIN_TEXT_DRAFTS = (
    "jidou-teate",
    "jouka-sou",
    "kokuho-kanyu",
    "kenchiku-kakunin",
    "tenshutsu-tennyu",
    "yochokin-shoukai",
    "ninshin-todoke",
    "akiya-taisaku",
    "gan-kenshin",
    "npo-ninsho",
    "ryoken-kofu",
    "kasou-kyoka",
    "shisetsu-yoyaku",
    "bunkazai-todoke",
)
#: Drafts shipped only as Word (no Markdown copy next to them).
WORD_ONLY_DRAFTS = (
    "maisou-kyoka",
    "koei-jutaku",
    "suidou-shiyou",
    "shuryo-menkyo",
    "koseki-kouiki",
    "kotei-shisan",
    "tokei-chousa",
)
#: Drafts shipped only as PDF, laid out as a printed page: lines wrapped at a fixed width, a page
#: number at the foot of every page.
PDF_ONLY_DRAFTS = (
    "kenchiku-kakunin",
    "kijitsumae-tohyo",
    "risai-shomei",
    "kari-number",
    "kaigo-nintei",
    "shokuhin-eigyo",
    "shugaku-jimu",
    "shohi-soudan",
)
CHANNEL_JA = {
    "selection_request": ("作業依頼への回答", "ⅰ"),
    "interim_briefing": ("中間報告会での指摘", "ⅱ"),
    "candidate_consultation": ("対象候補案への意見照会", "ⅲ"),
    "draft_consultation": ("推進方針案への意見照会", "ⅳ"),
}
# Characters Windows writes differently in Shift_JIS (what Excel's "CSV" does to them).
CP932_FIX = str.maketrans(
    {
        "〜": "～",
        "−": "－",
        "‖": "∥",
        "—": "―",
        "¢": "￠",
        "£": "￡",
        "¬": "￢",
        "塡": "填",
        "剝": "剥",
        "頰": "頬",
    }
)


def load(draft_id: str, raw: Path = RAW) -> list[dict]:
    path = raw / draft_id / "opinions.jsonl"
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def title_of(draft_id: str, raw: Path = RAW) -> str:
    for line in (raw / draft_id / "draft.md").read_text(encoding="utf-8").splitlines():
        if line.strip():
            return line.lstrip("# ").strip()
    return draft_id


def write_export_a(
    rows: list[dict],
    rng: random.Random,
    path: Path = SAMPLES / "opinions_r7_a_cp932.csv",
    raw: Path = RAW,
    encoding: str = "cp932",
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["令和７年度 共通化推進方針案に対する意見照会 回答とりまとめ"])
    writer.writerow(["※ 団体コードは６桁で記入。該当箇所は方針案の項番を記入。"])
    writer.writerow([])
    writer.writerow(
        [
            "番号",
            "都道府県",
            "団体名",
            "団体コード",
            "経路",
            "対象推進方針案",
            "該当箇所",
            "意見",
            "理由",
        ]
    )
    for r in rows:
        channel = CHANNEL_JA[r["channel"]][rng.random() < 0.2]
        draft = title_of(r["draft_id"], raw) if rng.random() < 0.3 else r["draft_id"]
        writer.writerow(
            [
                r["opinion_id"],
                r["prefecture"],
                r["municipality"],
                r["municipality_code"],
                channel,
                draft,
                r["location"],
                r["text"],
                r["reason"],
            ]
        )
    text = buffer.getvalue()
    path.write_bytes(
        text.translate(CP932_FIX).encode("cp932") if encoding == "cp932" else text.encode(encoding)
    )


def write_export_b(
    rows: list[dict], rng: random.Random, path: Path = SAMPLES / "opinions_r7_b.xlsx"
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "意見一覧"
    sheet.append(["共通化推進方針案への意見（様式２）"])
    sheet.append([])
    sheet.append(
        [
            "No.",
            "都道府県名",
            "自治体名",
            "地方公共団体コード",
            "意見の種別",
            "推進方針案",
            "該当ページ",
            "意見内容",
            "意見の理由",
        ]
    )
    for r in rows:
        code = int(r["municipality_code"])  # as Excel keeps it: 011002 becomes 11002
        channel = CHANNEL_JA[r["channel"]][rng.random() < 0.5]
        sheet.append(
            [
                r["opinion_id"],
                r["prefecture"],
                r["municipality"],
                code,
                channel,
                r["draft_id"],
                r["location"],
                r["text"],
                r["reason"],
            ]
        )
    workbook.save(path)


def write_drafts(root: Path = SAMPLES, raw: Path = RAW) -> None:
    drafts = root / "drafts"
    drafts.mkdir(exist_ok=True)
    for folder in sorted(raw.iterdir()):
        if folder.name in WORD_ONLY_DRAFTS:
            write_docx(folder.name, raw, drafts)
            continue
        if folder.name in PDF_ONLY_DRAFTS:
            write_pdf(folder.name, raw, drafts)
            continue
        suffix = ".txt" if folder.name in PLAIN_TEXT_DRAFTS else ".md"
        shutil.copyfile(folder / "draft.md", drafts / f"{folder.name}{suffix}")
    if root == SAMPLES:
        write_docx("kaigo-shitei", raw, drafts)


def write_docx(draft_id: str, raw: Path, drafts: Path) -> None:
    """The draft as a Word file: one paragraph per non-empty line, as a pasted draft looks, with
    Markdown's marks turned into what Word has instead: ``#`` lines in Heading styles, a line in
    ``**`` as a bold paragraph, ``- `` items as bullets (whose mark Word does not keep in the text),
    ``|`` tables as Word tables."""
    document = Document()
    rows: list[list[str]] = []  # the Markdown table being collected, written when it ends
    for line in (raw / draft_id / "draft.md").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        cells = markdown_table_cells(line)
        if cells is not None:
            if cells:  # not the rule under the header row
                rows.append(cells)
            continue
        if rows:
            add_table(document, rows)
            rows = []
        if not line:
            continue
        marks = len(line) - len(line.lstrip("#"))
        if marks:
            document.add_heading(line[marks:].strip(), level=min(marks, 9))
        elif len(line) > 4 and line.startswith("**") and line.endswith("**"):
            document.add_paragraph().add_run(line[2:-2].strip()).bold = True
        elif line.startswith("- "):
            document.add_paragraph(line[2:].strip(), style="List Bullet")
        else:
            document.add_paragraph(line)
    if rows:
        add_table(document, rows)
    document.core_properties.title = title_of(draft_id, raw)
    document.save(str(drafts / f"{draft_id}.docx"))


def add_table(document: DocxDocument, rows: list[list[str]]) -> None:
    """A Markdown table as a ruled Word table (header row first)."""
    table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
    table.style = "Table Grid"
    for cells, row in zip(rows, table.rows, strict=True):
        for text, cell in zip(cells, row.cells, strict=False):
            cell.text = text


def write_pdf(
    draft_id: str, raw: Path, drafts: Path, chars_per_line: int = 40, lines_per_page: int = 40
) -> None:
    """The draft as an A4 PDF: paragraphs wrapped at ``chars_per_line`` full-width characters (as
    a printed draft's lines break mid-sentence), ``lines_per_page`` lines a page, 「- n -」 at
    each foot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib_fontja  # noqa: F401  (registers a Japanese font)
    from matplotlib.backends.backend_pdf import PdfPages

    matplotlib.rcParams["pdf.fonttype"] = 42  # embed TrueType so the text can be extracted
    printed: list[str] = []
    for line in (raw / draft_id / "draft.md").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            printed.append("")
        printed.extend(wrap_to_width(line, chars_per_line))
    pages = [printed[i : i + lines_per_page] for i in range(0, len(printed), lines_per_page)]
    with PdfPages(drafts / f"{draft_id}.pdf", metadata={"Title": title_of(draft_id, raw)}) as pdf:
        for number, page in enumerate(pages, start=1):
            figure = plt.figure(figsize=(8.27, 11.69))
            for i, line in enumerate(page):
                figure.text(0.1, 0.93 - i * 0.021, line, fontsize=10.5)
            figure.text(0.5, 0.04, f"- {number} -", fontsize=9, ha="center")
            pdf.savefig(figure)
            plt.close(figure)


def wrap_to_width(line: str, width: int) -> list[str]:
    """``line`` broken into rows of at most ``width`` full-width characters, a half-width one
    (「2.」「API」) counting half, as a typesetter fills a line to the margin."""
    rows, row, used = [], "", 0.0
    for char in line:
        size = 1.0 if unicodedata.east_asian_width(char) in "FWA" else 0.5
        if used + size > width:
            rows.append(row)
            row, used = "", 0.0
        row, used = row + char, used + size
    return [*rows, row] if row else rows


def write_resolved(root: Path = SAMPLES, raw: Path = RAW) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["番号", "対象推進方針案", "事項", "解決の場"])
    for folder in sorted(raw.iterdir()):
        with open(folder / "resolved.csv", encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            for row in reader:
                writer.writerow([row["番号"], row["対象推進方針案"], row["事項"], row["解決の場"]])
    (root / "resolved_points.csv").write_bytes(
        buffer.getvalue().translate(CP932_FIX).encode("cp932")
    )


def write_labels(rows: list[dict], root: Path = SAMPLES) -> None:
    keys = (
        "opinion_id",
        "draft_id",
        "category",
        "sections",
        "described",
        "verdict",
        "resolved_id",
        "rationale",
    )
    with open(root / "labels.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({k: r[k] for k in keys}, ensure_ascii=False) + "\n")


def main() -> None:
    rng = random.Random(20250401)
    every: list[dict] = []
    exports: dict[str, list[dict]] = {"a": [], "b": []}
    for draft_id in EXPORT_A + EXPORT_B:
        rows = [{**r, "draft_id": draft_id} for r in load(draft_id)]
        every.extend(rows)
        exports["a" if draft_id in EXPORT_A else "b"].extend(rows)
    for rows in exports.values():
        rng.shuffle(rows)
    write_export_a(exports["a"], rng)
    write_export_b(exports["b"], rng)
    write_drafts()
    write_resolved()
    write_labels(sorted(every, key=lambda r: r["opinion_id"]))
    print(f"wrote {len(every)} opinions, {len(EXPORT_A + EXPORT_B)} drafts to {SAMPLES}")
    build_holdout(HOLDOUT, HOLDOUT_DRAFTS, "opinions_r8_holdout.csv", "utf-8-sig", 20260401)
    build_holdout(HOLDOUT2, HOLDOUT2_DRAFTS, "opinions_r8_holdout2_cp932.csv", "cp932", 20261128)
    build_holdout(HOLDOUT3, HOLDOUT3_DRAFTS, "opinions_r8_holdout3.xlsx", "xlsx", 20261129)
    build_holdout(HOLDOUT4, HOLDOUT4_DRAFTS, "opinions_r8_holdout4.csv", "utf-8", 20261130)
    build_holdout(HOLDOUT5, HOLDOUT5_DRAFTS, "opinions_r8_holdout5_cp932.csv", "cp932", 20261201)
    build_holdout(EXTRA1, EXTRA1_DRAFTS, "opinions_r8_extra1.xlsx", "xlsx", 20261202)
    build_holdout(HOLDOUT6, HOLDOUT6_DRAFTS, "opinions_r8_holdout6.csv", "utf-8-sig", 20261203)
    build_holdout(HOLDOUT7, HOLDOUT7_DRAFTS, "opinions_r8_holdout7.xlsx", "xlsx", 20261204)
    build_holdout(HOLDOUT8, HOLDOUT8_DRAFTS, "opinions_r8_holdout8_cp932.csv", "cp932", 20261205)
    build_holdout(HOLDOUT9, HOLDOUT9_DRAFTS, "opinions_r8_holdout9.xlsx", "xlsx", 20261206)
    build_holdout(HOLDOUT10, HOLDOUT10_DRAFTS, "opinions_r8_holdout10.csv", "utf-8-sig", 20261207)
    build_holdout(HOLDOUT11, HOLDOUT11_DRAFTS, "opinions_r8_holdout11_cp932.csv", "cp932", 20261208)
    build_holdout(HOLDOUT12, HOLDOUT12_DRAFTS, "opinions_r8_holdout12.xlsx", "xlsx", 20261209)
    build_holdout(HOLDOUT13, HOLDOUT13_DRAFTS, "opinions_r8_holdout13.csv", "utf-8", 20261210)
    build_holdout(HOLDOUT14, HOLDOUT14_DRAFTS, "opinions_r8_holdout14_cp932.csv", "cp932", 20261211)
    build_holdout(EXTRA2, EXTRA2_DRAFTS, "opinions_r8_extra2.xlsx", "xlsx", 20261212)
    build_holdout(HOLDOUT15, HOLDOUT15_DRAFTS, "opinions_r8_holdout15.xlsx", "xlsx", 20261213)
    build_holdout(HOLDOUT16, HOLDOUT16_DRAFTS, "opinions_r8_holdout16.csv", "utf-8", 20261214)
    build_holdout(HOLDOUT17, HOLDOUT17_DRAFTS, "opinions_r8_holdout17_cp932.csv", "cp932", 20261215)


def build_holdout(
    root: Path, draft_ids: tuple[str, ...], export_name: str, encoding: str, seed: int
) -> None:
    """One export mixing the hold-out drafts' opinions, laid out like export A (a CSV in
    ``encoding``) or, for ``encoding="xlsx"``, like export B."""
    rng = random.Random(seed)
    raw = root / "raw"
    rows = [{**r, "draft_id": d} for d in draft_ids for r in load(d, raw)]
    shuffled = list(rows)
    rng.shuffle(shuffled)
    if encoding == "xlsx":
        write_export_b(shuffled, rng, root / export_name)
    else:
        write_export_a(shuffled, rng, root / export_name, raw=raw, encoding=encoding)
    write_drafts(root, raw)
    write_resolved(root, raw)
    write_labels(sorted(rows, key=lambda r: r["opinion_id"]), root)
    print(f"wrote {len(rows)} opinions, {len(draft_ids)} drafts to {root}")


if __name__ == "__main__":
    main()
