"""The labelled sample set: loading it for training and checking it against the rules.

Layout of ``data/samples/`` (see its README): ``opinions_*.csv|xlsx`` (consultation exports),
``drafts/*.md`` (``.docx`` twins are read only when no ``.md`` has the stem),
``resolved_points.csv`` and ``labels.jsonl`` (one record per opinion, ANNOTATION_GUIDE.md).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.drafts import read_draft, read_resolved
from pipeline.errors import FlowchartError, InputFileError, InputSchemaError
from pipeline.flowchart import verdict
from pipeline.ingest import check_digit, read_opinions
from pipeline.schema import CATEGORIES, EXCLUSIONS, Draft

LABEL_FILE = "labels.jsonl"
SECOND_LABEL_FILE = "agreement/second_labels.jsonl"
RESOLVED_FILE = "resolved_points.csv"
DRAFTS_DIR = "drafts"


def draft_files(samples_dir: Path) -> list[Path]:
    """One file per draft stem, preferring Markdown over Word."""
    chosen: dict[str, Path] = {}
    for path in sorted((samples_dir / DRAFTS_DIR).glob("*")):
        if path.suffix.lower() not in {".md", ".txt", ".docx", ".pdf"}:
            continue
        if path.stem not in chosen or path.suffix.lower() == ".md":
            chosen[path.stem] = path
    return list(chosen.values())


def export_files(samples_dir: Path) -> list[Path]:
    return sorted(
        p for p in samples_dir.glob("opinions_*") if p.suffix.lower() in {".csv", ".xlsx"}
    )


@dataclass
class SampleSet:
    """Opinions joined with their labels, the drafts and the resolved points."""

    opinions: pd.DataFrame
    drafts: list[Draft]
    resolved: pd.DataFrame
    problems: list[str] = field(default_factory=list)


def read_labels(path: Path) -> list[dict]:
    records: list[dict] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append({**json.loads(line), "_line": number})
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path}: line {number} is not JSON ({exc.msg}).") from exc
    return records


def load_samples(samples_dir: str | Path) -> SampleSet:
    """Read exports, drafts, resolved points and labels; opinions get their label columns."""
    samples_dir = Path(samples_dir)
    drafts = [read_draft(p) for p in draft_files(samples_dir)]
    problems: list[str] = []
    frames = []
    for path in export_files(samples_dir):
        result = read_opinions(path, drafts=drafts)
        problems += [str(e) for e in result.errors]
        frames.append(result.opinions)
    opinions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    resolved_path = samples_dir / RESOLVED_FILE
    resolved = pd.DataFrame(columns=["resolved_id", "draft_id", "text", "where"])
    if resolved_path.exists():
        resolved, errors = read_resolved(resolved_path)
        problems += [str(e) for e in errors]
    labels = pd.DataFrame(read_labels(samples_dir / LABEL_FILE)).drop(columns=["_line"])
    labels = labels.rename(columns={"draft_id": "label_draft_id"})
    merged = opinions.merge(labels, on="opinion_id", how="inner", validate="one_to_one")
    return SampleSet(merged, drafts, resolved, problems)


def load_sample_sets(folders: Sequence[str | Path]) -> SampleSet:
    """Several labelled folders (the samples and former hold-outs) as one training set."""
    return combine_sample_sets([(Path(f), load_samples(f)) for f in folders])


def combine_sample_sets(sets: Sequence[tuple[Path, SampleSet]]) -> SampleSet:
    """Loaded (folder, set) pairs as one set.

    An opinion id or a draft id found in two folders is an error naming both: one opinion must
    not be trained on twice, and a draft must not have two texts.
    """
    if len(sets) == 1:
        return sets[0][1]
    opinion_home: dict[str, Path] = {}
    draft_home: dict[str, Path] = {}
    for folder, sample in sets:
        for opinion_id in sample.opinions["opinion_id"]:
            if opinion_id in opinion_home:
                raise InputSchemaError(
                    f"opinion {opinion_id} is labelled in both {opinion_home[opinion_id]} and "
                    f"{folder}; give each opinion one home."
                )
            opinion_home[opinion_id] = folder
        for draft in sample.drafts:
            if draft.draft_id in draft_home:
                raise InputSchemaError(
                    f"draft {draft.draft_id} is in both {draft_home[draft.draft_id]} and "
                    f"{folder}; give each draft one home."
                )
            draft_home[draft.draft_id] = folder
    return SampleSet(
        pd.concat([s.opinions for _, s in sets], ignore_index=True),
        [d for _, s in sets for d in s.drafts],
        pd.concat([s.resolved for _, s in sets], ignore_index=True),
        [f"{folder}: {problem}" for folder, s in sets for problem in s.problems],
    )


def _label_problems(
    name: str,
    labels: list[dict],
    sections: dict[str, set[str]],
    resolved_ids: dict[str, str],
    exported: set[str],
) -> list[str]:
    """What breaks the guide's rules in one label file (first or second labels)."""
    problems: list[str] = []
    seen: set[str] = set()
    for record in labels:
        where = f"{name}: line {record['_line']} ({record.get('opinion_id')})"
        opinion_id = record.get("opinion_id")
        if opinion_id in seen:
            problems.append(f"{where}: duplicate opinion_id")
        seen.add(opinion_id)
        if opinion_id not in exported:
            problems.append(f"{where}: no such opinion in any export")
        category = record.get("category")
        described = record.get("described")
        if category not in CATEGORIES:
            problems.append(f"{where}: category must be one of {CATEGORIES}, got {category!r}")
            continue
        if category == "shared" and described not in ("yes", "no"):
            problems.append(f"{where}: 'shared' needs described yes/no, got {described!r}")
        if category in EXCLUSIONS and described is not None:
            problems.append(f"{where}: described must be null for {category!r}, got {described!r}")
        try:
            expected = verdict(category, described)
            if record.get("verdict") != expected:
                problems.append(
                    f"{where}: verdict {record.get('verdict')!r} but the flowchart gives {expected!r}"
                )
        except FlowchartError as exc:
            problems.append(f"{where}: {exc}")
        draft_id = record.get("draft_id")
        if draft_id not in sections:
            problems.append(f"{where}: unknown draft {draft_id!r}")
            continue
        ids = record.get("sections") or []
        if category == "shared" and not ids:
            problems.append(f"{where}: a 'shared' opinion needs at least one section")
        for section_id in ids:
            if section_id not in sections[draft_id]:
                problems.append(f"{where}: section {section_id!r} is not in draft {draft_id}")
        resolved_id = record.get("resolved_id")
        if resolved_id is not None:
            if category != "f":
                problems.append(f"{where}: resolved_id given for category {category!r}")
            elif resolved_ids.get(resolved_id) != draft_id:
                problems.append(
                    f"{where}: resolved point {resolved_id!r} is not listed for {draft_id}"
                )
    return problems


def check_samples(
    samples_dir: str | Path, sample: SampleSet | None = None
) -> tuple[list[str], dict[str, object]]:
    """Every rule of ANNOTATION_GUIDE.md and DATA_FORMATS.md the labels must keep.

    ``sample`` is the folder already loaded (:func:`load_samples`), if the caller has it.
    Returns (problems, summary). An empty problem list means the set is valid.
    """
    samples_dir = Path(samples_dir)
    sample = sample if sample is not None else load_samples(samples_dir)
    problems = list(sample.problems)
    sections = {d.draft_id: set(d.section_ids()) for d in sample.drafts}
    resolved_ids = dict(
        zip(sample.resolved["resolved_id"], sample.resolved["draft_id"], strict=True)
    )
    labels = read_labels(samples_dir / LABEL_FILE)
    exported = set(sample.opinions["opinion_id"])
    problems += _label_problems(LABEL_FILE, labels, sections, resolved_ids, exported)
    seen = {record.get("opinion_id") for record in labels}
    if (samples_dir / SECOND_LABEL_FILE).exists():
        second = read_labels(samples_dir / SECOND_LABEL_FILE)
        problems += _label_problems(SECOND_LABEL_FILE, second, sections, resolved_ids, exported)
    for code in sample.opinions["municipality_code"].dropna():
        if code and check_digit(code[:5]) != code[5]:
            problems.append(f"municipality code {code}: wrong check digit")
    missing_labels = exported - seen
    if missing_labels:
        problems.append(
            f"{len(missing_labels)} exported opinions have no label, e.g. {sorted(missing_labels)[:3]}"
        )
    frame = pd.DataFrame([r for r in labels if r.get("category") in CATEGORIES])
    mix = Counter(
        f"shared+{r.described}" if r.category == "shared" else r.category
        for r in frame.itertuples()
    )
    summary: dict[str, object] = {
        "drafts": len(sample.drafts),
        "opinions": len(labels),
        "mix": dict(sorted(mix.items())),
        "per_draft": frame.groupby("draft_id")["category"]
        .value_counts()
        .unstack(fill_value=0)
        .to_dict("index"),
    }
    return problems, summary
