"""MLflow: the only module that imports ``mlflow``.

Local by default: a SQLite backend and artifact store inside the project (``mlruns/``), registry
included; a tracking server is a setting (``train.tracking_uri`` or ``MLFLOW_TRACKING_URI``).

This module knows MLflow, not models: what to log and how to load or run a model are handed in by
``pipeline.train`` (plain values and callables), so the layering stays "tracking below the stages"
and ``mlflow`` is imported only when a function here needs it (importing it costs seconds, and
``triage score`` with a local model directory never does).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import PROJECT_ROOT
from pipeline.errors import ModelNotFoundError, PipelineError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

MLRUNS_DIR = PROJECT_ROOT / "mlruns"
DEFAULT_TRACKING_URI = f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"
MODEL_URI_PREFIX = "models:/"
#: Name of the logged MLflow model, and of the bundle directory inside its ``artifacts/``.
MODEL_ARTIFACT = "triage_model"
#: Run-artifact folder for the evaluation files (metrics.json, confusion matrix …).
EVALUATION_ARTIFACTS = "evaluation"
CHAMPION_ALIAS = "champion"


class TrackingError(PipelineError, RuntimeError):
    """The tracking store or registry refused an operation (unreachable, unknown version …)."""


def tracking_uri(configured: str | None = None) -> str:
    """The tracking URI in force: the setting, else ``MLFLOW_TRACKING_URI``, else the local store."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri == DEFAULT_TRACKING_URI:
        MLRUNS_DIR.mkdir(parents=True, exist_ok=True)
    return uri


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: next to a SQLite store, else the server's choice.

    MLflow's own default for a SQLite store is ``./mlruns`` relative to the *working directory*,
    which scatters artifacts wherever ``triage`` happens to run; anchoring them beside the
    database keeps the store and its artifacts together (``mlruns/artifacts``).
    """
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.parent / "artifacts").resolve().as_uri()
    return None


def _client(configured_uri: str | None) -> MlflowClient:
    import mlflow

    uri = tracking_uri(configured_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    root = artifact_root(uri)
    return str(client.create_experiment(name, artifact_location=f"{root}/{name}" if root else None))


# --- the pyfunc model -----------------------------------------------------------------------


@dataclass(frozen=True)
class PyfuncRecipe:
    """How the logged pyfunc model loads and predicts, given as importable module-level callables.

    Attributes:
        load: ``artifacts -> state``: receives the local paths of the model's context artifacts
            (``triage_model`` and whatever else was logged) and returns what ``predict`` needs.
        predict: ``(state, opinions frame) -> suggestions frame``.

    Both are pickled by reference (module + name), so the model needs this package installed
    where it is loaded, and never carries code of its own.
    """

    load: Callable[[Mapping[str, str]], Any]
    predict: Callable[[Any, pd.DataFrame], pd.DataFrame]


@functools.cache
def _pyfunc_class() -> type:
    import mlflow.pyfunc

    class TriagePyfunc(mlflow.pyfunc.PythonModel):
        """An MLflow pyfunc around a triage model bundle; see :class:`PyfuncRecipe`."""

        def __init__(self, recipe: PyfuncRecipe) -> None:
            self.recipe = recipe
            self._state: Any = None

        def load_context(self, context: Any) -> None:
            self._state = self.recipe.load(dict(context.artifacts))

        # No type hints on predict: MLflow would read them as a (list-shaped) input schema;
        # the signature logged with the model describes the input frame instead.
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return self.recipe.predict(self._state, model_input)

    TriagePyfunc.__module__ = __name__
    TriagePyfunc.__qualname__ = "TriagePyfunc"
    return TriagePyfunc


def __getattr__(name: str) -> Any:
    # PEP 562: the class is defined on first use (importing mlflow.pyfunc is slow) yet stays
    # importable as ``pipeline.tracking.TriagePyfunc``, so pickles refer to it by name.
    if name == "TriagePyfunc":
        return _pyfunc_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _signature(columns: Sequence[tuple[str, bool]]) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", name, required=required) for name, required in columns])
    )


# --- logging a training run -----------------------------------------------------------------


@dataclass
class LoggedRun:
    """What :func:`log_training_run` created: the run, and the registry version of its model."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    registered_model: str = ""
    version: str = ""
    model_uri: str = ""

    @property
    def model_version(self) -> str:
        """``opinion-triage/3``: the name the bundle and every suggestion row carry."""
        return f"{self.registered_model}/{self.version}" if self.version else ""


def _jsonable_param(value: Any) -> str:
    return "null" if value is None else str(value)


def log_training_run(
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float] | None,
    tags: Mapping[str, str],
    artifacts: Sequence[Path],
    save_bundle: Callable[[str], Path],
    recipe: PyfuncRecipe,
    context_artifacts: Mapping[str, Path] | None = None,
    input_columns: Sequence[tuple[str, bool]] = (),
    pip_requirements: Sequence[str] = (),
    registered_model: str | None = None,
    configured_uri: str | None = None,
    run_name: str | None = None,
) -> LoggedRun:
    """Log one training run: params, metrics, evaluation files and the model, then register it.

    The registry version is reserved *before* the model is written, so ``save_bundle`` receives
    ``"opinion-triage/3"`` and the bundle (and every suggestion it makes) names the version that
    serves it; with ``registered_model=None`` it receives ``""`` and nothing is registered. If
    anything fails after the reservation, the empty version is deleted again and the run is
    marked FAILED, so the registry never lists a version without a model.

    Args:
        experiment: MLflow experiment name (created with its artifacts beside a SQLite store).
        params: logged as run params (``Config.flat()`` plus the data fingerprint).
        metrics: leave-one-draft-out metrics, or ``None`` when training skipped evaluation.
        tags: run tags (data fingerprint, counts …).
        artifacts: files logged under ``evaluation/`` (metrics.json, plots, reports).
        save_bundle: writes the model directory given the version name; returns its path.
        recipe: how the pyfunc model loads and predicts.
        context_artifacts: further files or folders the pyfunc model needs (drafts …).
        input_columns: ``(column, required)`` of the pyfunc input frame (the model signature).
        pip_requirements: written to the model's requirements instead of MLflow's inference
            (which would import and run the model in a subprocess).
        registered_model: registry name; ``None`` logs the model without registering it.
        configured_uri: tracking URI setting (see :func:`tracking_uri`).
        run_name: optional display name of the run.

    Raises:
        TrackingError: the tracking store cannot be reached or written.
    """
    import mlflow

    uri = tracking_uri(configured_uri)
    try:
        client = _client(configured_uri)
        experiment_id = _experiment_id(client, experiment, uri)
    except Exception as exc:  # mlflow raises its own types, and requests' for a server
        raise TrackingError(f"Cannot use the MLflow tracking store {uri} ({exc}).") from exc
    logged = LoggedRun("", experiment_id, uri, registered_model or "")
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        logged.run_id = run.info.run_id
        mlflow.log_params({k: _jsonable_param(v) for k, v in params.items()})
        mlflow.set_tags(dict(tags))
        if metrics:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path=EVALUATION_ARTIFACTS)
        model = mlflow.initialize_logged_model(
            name=MODEL_ARTIFACT, source_run_id=run.info.run_id, experiment_id=experiment_id
        )
        staging: Path | None = None
        try:
            if registered_model:
                logged.version = _reserve_version(
                    client, registered_model, model.model_id, run.info.run_id
                )
            bundle = save_bundle(logged.model_version)
            # pyfunc stores each artifact under its *basename*; a copy named triage_model puts
            # the bundle at artifacts/triage_model whatever the local folder is called.
            staging = Path(tempfile.mkdtemp(prefix="triage-pyfunc-"))
            shutil.copytree(bundle, staging / MODEL_ARTIFACT)
            with warnings.catch_warnings():
                # No input example on purpose: MLflow would load the encoder and score it.
                warnings.filterwarnings("ignore", message=".*input example was not provided")
                info = mlflow.pyfunc.log_model(
                    name=MODEL_ARTIFACT,
                    python_model=_pyfunc_class()(recipe),
                    artifacts={
                        MODEL_ARTIFACT: str(staging / MODEL_ARTIFACT),
                        **{k: str(v) for k, v in (context_artifacts or {}).items()},
                    },
                    signature=_signature(input_columns) if input_columns else None,
                    # never None: MLflow would infer them by loading the model in a subprocess
                    pip_requirements=list(pip_requirements) or [f"mlflow=={mlflow.__version__}"],
                    model_id=model.model_id,
                )
        except BaseException:
            if logged.version:
                client.delete_model_version(registered_model, logged.version)
            raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        logged.model_uri = (
            f"{MODEL_URI_PREFIX}{registered_model}/{logged.version}"
            if logged.version
            else info.model_uri
        )
        if logged.version:
            mlflow.set_tag("registered_version", logged.model_version)
    return logged


def _reserve_version(client: MlflowClient, name: str, model_id: str, run_id: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    version = client.create_model_version(
        name, source=f"{MODEL_URI_PREFIX}{model_id}", run_id=run_id, model_id=model_id
    )
    return str(version.version)


# --- reading the registry, promoting --------------------------------------------------------


@dataclass
class VersionInfo:
    """One registered model version with the metrics and params of the run that produced it."""

    name: str
    version: str
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


def _version_info(client: MlflowClient, mv: Any) -> VersionInfo:
    run = client.get_run(mv.run_id) if mv.run_id else None
    return VersionInfo(
        name=mv.name,
        version=str(mv.version),
        run_id=mv.run_id or "",
        metrics=dict(run.data.metrics) if run else {},
        params=dict(run.data.params) if run else {},
        tags=dict(mv.tags or {}),
        aliases=list(mv.aliases or []),
    )


def model_version(
    name: str, version: str | None = None, *, configured_uri: str | None = None
) -> VersionInfo:
    """A registered version (the newest when ``version`` is ``None``) with its run's metrics.

    Raises:
        TrackingError: no such registered model or version (the message lists what exists).
    """
    from mlflow.exceptions import MlflowException

    client = _client(configured_uri)
    try:
        if version is None:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise TrackingError(
                    f"No version of '{name}' in the registry at {tracking_uri(configured_uri)}. "
                    "Train and register one with `triage train`."
                )
            newest = max(versions, key=lambda v: int(v.version))
            return _version_info(client, client.get_model_version(name, newest.version))
        return _version_info(client, client.get_model_version(name, str(version)))
    except MlflowException as exc:
        known = [v.version for v in _safe_versions(client, name)]
        raise TrackingError(
            f"No version {version!r} of '{name}' in the registry at "
            f"{tracking_uri(configured_uri)}; versions: {sorted(known, key=int) or 'none'}."
        ) from exc


def _safe_versions(client: MlflowClient, name: str) -> list[Any]:
    try:
        return list(client.search_model_versions(f"name = '{name}'"))
    except Exception:  # only for an error message
        return []


def aliased_version(
    name: str, alias: str = CHAMPION_ALIAS, *, configured_uri: str | None = None
) -> VersionInfo | None:
    """The version holding ``alias`` (the champion by default), or ``None`` when none does."""
    from mlflow.exceptions import MlflowException

    client = _client(configured_uri)
    try:
        return _version_info(client, client.get_model_version_by_alias(name, alias))
    except MlflowException:
        return None


def set_alias(
    name: str,
    version: str,
    *,
    alias: str = CHAMPION_ALIAS,
    tags: Mapping[str, str] | None = None,
    configured_uri: str | None = None,
) -> None:
    """Point ``alias`` at ``version``, recording ``tags`` on the version and on its run."""
    client = _client(configured_uri)
    client.set_registered_model_alias(name, alias, version)
    mv = client.get_model_version(name, version)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version, key, value)
        if mv.run_id:
            client.set_tag(mv.run_id, key, value)


def runs_of(experiment: str, *, configured_uri: str | None = None) -> list[str]:
    """Run ids of an experiment, newest first (tests and notebooks count runs with it)."""
    client = _client(configured_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"])
    return [r.info.run_id for r in runs]


# --- using a registered model ---------------------------------------------------------------


def resolve_model_uri(model: str | Path, *, configured_uri: str | None = None) -> Path:
    """A local model directory for ``model``: a path as is, or a registry URI downloaded.

    ``models:/opinion-triage@champion`` (or ``models:/opinion-triage/3``) is fetched from the
    MLflow registry; the bundle sits in the pyfunc model's ``artifacts/triage_model`` folder,
    which ``pipeline.bundle.load_model`` reads.
    """
    text = str(model)
    if not text.startswith(MODEL_URI_PREFIX):
        path = Path(text)
        return path if path.is_absolute() or path.exists() else PROJECT_ROOT / path
    import mlflow

    _client(configured_uri)
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{text.rstrip('/')}/artifacts/{MODEL_ARTIFACT}"
        )
    except Exception as exc:  # mlflow raises its own exception types for a missing model/alias
        raise ModelNotFoundError(
            f"Cannot fetch {text} from the MLflow registry at {tracking_uri(configured_uri)} "
            f"({exc}). Train and register one with `triage train`, then `triage promote`."
        ) from exc
    return Path(local)


def load_pyfunc(model_uri: str, *, configured_uri: str | None = None) -> Any:
    """``mlflow.pyfunc.load_model`` against the configured store (tests and notebooks)."""
    import mlflow.pyfunc

    _client(configured_uri)
    return mlflow.pyfunc.load_model(model_uri)
