"""MLflow: the only module that imports ``mlflow``.

Local by default: a SQLite backend and artifact store inside the project (``mlruns/``), registry
included; a tracking server is a setting (``train.tracking_uri`` or ``MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.errors import ModelNotFoundError

MLRUNS_DIR = PROJECT_ROOT / "mlruns"
DEFAULT_TRACKING_URI = f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"
MODEL_URI_PREFIX = "models:/"


def tracking_uri(configured: str | None = None) -> str:
    """The tracking URI in force: the setting, else ``MLFLOW_TRACKING_URI``, else the local store."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri == DEFAULT_TRACKING_URI:
        MLRUNS_DIR.mkdir(parents=True, exist_ok=True)
    return uri


def resolve_model_uri(model: str | Path, *, configured_uri: str | None = None) -> Path:
    """A local model directory for ``model``: a path as is, or a registry URI downloaded.

    ``models:/opinion-triage@champion`` (or ``models:/opinion-triage/3``) is fetched from the
    MLflow registry into a local directory that ``pipeline.bundle.load_model`` reads.
    """
    text = str(model)
    if not text.startswith(MODEL_URI_PREFIX):
        path = Path(text)
        return path if path.is_absolute() or path.exists() else PROJECT_ROOT / path
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(configured_uri))
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"{text.rstrip('/')}/triage_model")
    except Exception as exc:  # mlflow raises its own exception types for a missing model/alias
        raise ModelNotFoundError(
            f"Cannot fetch {text} from the MLflow registry at {tracking_uri(configured_uri)} "
            f"({exc}). Train and register one with `triage train`, then `triage promote`."
        ) from exc
    return Path(local)
