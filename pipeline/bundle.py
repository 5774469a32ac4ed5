"""Saving and loading a :class:`~pipeline.suggest.TriageModel` as ``models/<name>/``.

Layout (file names are module constants): ``config.json`` (labels, encoder id, library versions,
sha256 of each model file, the resolved config), ``ranker.skops``, ``category.skops``,
``described.skops`` and a ``README.md`` model card. Model files are written with skops, not pickle,
and loaded only when their sha256 matches ``config.json`` and every type they contain is one of
scikit-learn's, numpy's or this package's model classes: a file from elsewhere cannot run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import shutil
import warnings
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import skops.io as sio

from pipeline.classify import DESCRIBED_FEATURES
from pipeline.config import (
    ClassifyConfig,
    Config,
    EncoderConfig,
    MatchConfig,
    SuggestConfig,
    TextConfig,
    TrainConfig,
)
from pipeline.errors import ModelNotFoundError, PipelineError
from pipeline.match import PAIR_FEATURES
from pipeline.schema import CATEGORIES
from pipeline.suggest import TriageModel

CONFIG_FILE = "config.json"
MODEL_CARD_FILE = "README.md"
PARTS = {"ranker": "ranker.skops", "category": "category.skops", "described": "described.skops"}
#: 3: the section ranker is a conditional logit (``coef_``), no longer a logistic regression.
#: 4: its pair rows also hold the opinion × section-vector products (twice the interaction columns).
FORMAT_VERSION = 4
#: Module prefixes whose types a model file may contain.
TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "pipeline.classify.",
    "pipeline.match.",
    "builtins.",
)
VERSIONED = ("scikit-learn", "numpy", "sentence-transformers", "skops", "opinion-triage")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = package_version(name)
        except Exception:  # a package missing from metadata is reported, not fatal
            out[name] = "unknown"
    return out


def save_model(
    model: TriageModel, directory: str | Path, *, metrics: dict[str, float] | None = None
) -> Path:
    """Write the model directory atomically (a temporary sibling renamed into place).

    ``model.version`` becomes ``opinion-triage@<first 12 hex of the files' combined sha256>``
    unless it is already set (e.g. by the MLflow registry).
    """
    directory = Path(directory)
    staging = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    hashes = {}
    for part, filename in PARTS.items():
        sio.dump(getattr(model, part), staging / filename)
        hashes[filename] = _sha256(staging / filename)
    digest = hashlib.sha256("".join(hashes[f] for f in sorted(hashes)).encode()).hexdigest()
    if not model.version:
        model.version = f"opinion-triage@{digest[:12]}"
    info: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "version": model.version,
        "labels": list(CATEGORIES),
        "encoder_id": model.encoder_id,
        "normalize_embeddings": True,
        "pair_features": list(PAIR_FEATURES),
        "described_features": list(DESCRIBED_FEATURES),
        "files": hashes,
        "library_versions": _versions(),
        "config": model.config.to_dict(),
        "metrics": metrics or {},
        "metadata": model.metadata,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (staging / CONFIG_FILE).write_text(
        json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    (staging / MODEL_CARD_FILE).write_text(_model_card(info), encoding="utf-8")
    backup = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(backup, ignore_errors=True)
    if directory.exists():
        directory.rename(backup)
    staging.rename(directory)
    shutil.rmtree(backup, ignore_errors=True)
    return directory


def _config_from(raw: dict[str, Any]) -> Config:
    sections = {
        "text": TextConfig,
        "encoder": EncoderConfig,
        "classify": ClassifyConfig,
        "match": MatchConfig,
        "suggest": SuggestConfig,
        "train": TrainConfig,
    }
    parts = {}
    for name, cls in sections.items():
        known = {f.name for f in dataclasses.fields(cls)}
        parts[name] = cls(**{k: v for k, v in raw.get(name, {}).items() if k in known})
    return Config(**parts)


def load_model(directory: str | Path) -> TriageModel:
    """Load a model directory written by :func:`save_model`, checking hashes and types.

    Raises:
        ModelNotFoundError: no model there (the message says how to make one).
        PipelineError: a file whose hash or contents do not match (tampered or damaged).
    """
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.exists():
        raise ModelNotFoundError(
            f"No trained model in {directory} ({CONFIG_FILE} missing). Train one with "
            "`triage train` (or `make demo`, which trains the default model on the labelled "
            "folders of params.yaml: train.samples_dir and train.extra_dirs)."
        )
    info = json.loads(config_path.read_text(encoding="utf-8"))
    versions = _versions()
    for name, saved in info.get("library_versions", {}).items():
        if name in versions and versions[name] != saved and name in ("scikit-learn", "skops"):
            warnings.warn(
                f"{directory} was saved with {name} {saved}; {versions[name]} is installed. "
                "Predictions may differ: retrain with `triage train`.",
                stacklevel=2,
            )
    if (
        info.get("format") != FORMAT_VERSION
        or info.get("pair_features") != list(PAIR_FEATURES)
        or info.get("described_features") != list(DESCRIBED_FEATURES)
    ):
        raise PipelineError(
            f"{directory} was saved in another model format or with other section-matching or "
            "Judgement II features than this version uses; retrain it with `triage train` "
            "(or `make demo`)."
        )
    parts: dict[str, Any] = {}
    for part, filename in PARTS.items():
        path = directory / filename
        if not path.exists() or _sha256(path) != info["files"].get(filename):
            raise PipelineError(
                f"{path}: missing or its sha256 does not match {CONFIG_FILE}; the model directory "
                "is damaged or was changed. Retrain with `triage train`."
            )
        untrusted = sio.get_untrusted_types(file=path)
        unexpected = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if unexpected:
            raise PipelineError(
                f"{path}: contains unexpected types {unexpected[:3]}; refusing to load it."
            )
        parts[part] = sio.load(path, trusted=untrusted)
    return TriageModel(
        ranker=parts["ranker"],
        category=parts["category"],
        described=parts["described"],
        config=_config_from(info.get("config", {})),
        encoder_id=info.get("encoder_id", ""),
        version=info.get("version", ""),
        metadata=info.get("metadata", {}),
    )


def _model_card(info: dict[str, Any]) -> str:
    metrics = "\n".join(
        f"| {k} | {v:.4f} |" for k, v in info.get("metrics", {}).items() if isinstance(v, float)
    )
    return f"""# {info["version"]}

Suggestion models of opinion-triage: a section ranker (BM25, also over sections expanded
with the export's citing opinions, dense and 該当箇所 hint, fused by a conditional logit over
each opinion's candidate sections), the Judgement I category model (TF-IDF of Sudachi forms,
character n-grams, e5 embeddings and draft context; temperature-calibrated) and the Judgement II model
(`p_described`; sigmoid-calibrated, with a neighbour vote over training opinions of other drafts).

- labels: {", ".join(info["labels"])}
- encoder: `{info["encoder_id"]}` (opinions with the `query` prompt, sections with `passage`)
- created: {info["created"]}
- library versions: {json.dumps(info["library_versions"], ensure_ascii=False)}

These models only **suggest**; a person confirms both judgements before a verdict is recorded.

## Leave-one-draft-out metrics at training time

| metric | value |
|---|---|
{metrics or "| (not evaluated) | |"}
"""
