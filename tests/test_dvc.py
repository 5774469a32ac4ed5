"""`dvc repro`: the pipeline runs offline from a fresh copy, logs one MLflow run, then rests.

A git clone of the working tree is not possible while the work is uncommitted, so the slow test
builds a *fresh project copy* in tmp_path: the package source, params.yaml, dvc.yaml, .dvcignore
and a cut-down sample set (3 drafts × 30 opinions from the cp932 export, all six drafts), then
`git init` + `dvc init` there. Two things are carried over to stay within the test budget, and
are the only differences from a true fresh clone: the built encoder (hard links; the
build-encoder stage still runs and finds it up to date) and the embedding cache (without it the
first run embeds every text, which is slower but not different).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from pipeline.cli import app

from .conftest import ROOT, SAMPLES
from .test_train import TINY_DRAFTS, tiny_samples, write_subset_export

STAGES = (
    "build-encoder",
    "prepare",
    "evaluate",
    "train",
    "holdout17",
    "score-samples",
)
BIN = Path(sys.executable).parent


def _dvc_yaml() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def test_stages_run_existing_commands_in_order() -> None:
    stages = _dvc_yaml()["stages"]
    assert tuple(stages) == STAGES
    click_app = typer.main.get_command(app)
    for name, stage in stages.items():
        words = shlex.split(stage["cmd"].split("&&")[-1].split(">")[0])
        assert words[:3] == ["python", "-m", "pipeline"], name
        command = click_app
        for word in words[3:]:
            if word.startswith("-") or not hasattr(command, "commands"):
                break
            command = command.commands[word]  # KeyError: the stage names an unknown command
    assert "--evaluation reports" in stages["train"]["cmd"]  # LODO is computed once, by evaluate
    assert {"reports/metrics.json": {"cache": False}} in stages["evaluate"]["metrics"]


def test_dvc_is_configured_offline_and_without_autostage() -> None:
    config = (ROOT / ".dvc" / "config").read_text(encoding="utf-8")
    assert "autostage = false" in config and "analytics = false" in config
    assert "remote" not in config
    assert "/cache" in (ROOT / ".dvc" / ".gitignore").read_text(encoding="utf-8")


def _fresh_copy(root: Path) -> Path:
    """A project copy with the tiny sample set, as a fresh clone would hold it."""
    project = root / "project"
    shutil.copytree(
        ROOT / "pipeline", project / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("dvc.yaml", ".dvcignore", "pyproject.toml"):
        shutil.copy2(ROOT / name, project / name)
    # Train on the tiny set alone: the former hold-outs (train.extra_dirs) would make the
    # leave-one-draft-out run many times slower without testing anything more of DVC.
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["train"]["extra_dirs"] = []
    (project / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), "utf-8")
    samples = project / "data" / "samples"
    shutil.copytree(SAMPLES / "drafts", samples / "drafts")
    shutil.copy2(SAMPLES / "resolved_points.csv", samples / "resolved_points.csv")
    for folder in (ROOT / "data").iterdir():  # the hold-outs and extra sets dvc.yaml depends on
        if folder.is_dir() and folder.name != "samples":
            shutil.copytree(folder, project / "data" / folder.name)
    tiny = tiny_samples()
    ids = set(tiny.opinions["opinion_id"])
    write_subset_export(samples / "opinions_r7_a_cp932.csv", ids)
    labels = [
        line
        for line in (SAMPLES / "labels.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["opinion_id"] in ids
    ]
    (samples / "labels.jsonl").write_text("\n".join(labels) + "\n", encoding="utf-8")
    from pipeline.encoder import build_encoder

    encoder = build_encoder()  # a no-op when up to date; a fresh clone may not have it yet
    shutil.copytree(encoder, project / "models" / "encoder", copy_function=os.link)
    (project / ".cache").mkdir()
    warm = ROOT / ".cache" / "embeddings.sqlite"
    if warm.exists():  # a developer's warm cache only saves time; CI starts without one
        shutil.copy2(warm, project / ".cache" / "embeddings.sqlite")
    (project / ".gitignore").write_text(
        (ROOT / ".gitignore").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return project


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_dvc_repro_from_a_fresh_copy(tmp_path: Path) -> None:
    project = _fresh_copy(tmp_path)
    uri = f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # `python` in dvc.yaml is the venv's
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_TRACKING_URI": uri,  # the copy's own store (also its default), never ROOT/mlruns
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    env.pop("TRIAGE_ENCODER", None)
    dvc = str(BIN / "dvc")
    _run(["git", "init", "-q"], project, env)
    _run([dvc, "init", "-q"], project, env)
    _run([dvc, "config", "core.autostage", "false"], project, env)
    _run([dvc, "config", "core.analytics", "false"], project, env)
    # the stages import the copy's package, not the one installed from ROOT
    where = _run([sys.executable, "-c", "import pipeline; print(pipeline.__file__)"], project, env)
    assert where.stdout.strip() == str(project / "pipeline" / "__init__.py")

    _run([dvc, "repro"], project, env)

    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n_opinions"] == 30 * len(TINY_DRAFTS)
    import mlflow

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("opinion-triage")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    assert runs[0].data.metrics == pytest.approx(metrics, rel=0, abs=0, nan_ok=True)
    assert runs[0].data.tags["evaluation"] == "reused"
    saved = json.loads((project / "models" / "triage" / "config.json").read_text(encoding="utf-8"))
    assert saved["version"] == "opinion-triage/1"
    holdout = json.loads(
        (project / "reports" / "holdout17" / "metrics.json").read_text(encoding="utf-8")
    )
    assert holdout["n_opinions"] == 200 and holdout["n_missing_from_output"] == 0
    scored = (project / "out" / "suggestions_r7_a.csv").read_text(encoding="utf-8-sig")
    assert scored.count("opinion-triage/1") == 30 * len(TINY_DRAFTS)

    again = _run([dvc, "repro"], project, env)
    assert "Data and pipelines are up to date." in again.stdout
    assert len(client.search_runs([experiment.experiment_id])) == 1

    shown = _run([dvc, "metrics", "show", "--json"], project, env)
    assert "category_macro_f1" in shown.stdout
    plots = _run([dvc, "plots", "show", "--json"], project, env)
    assert "reliability.png" in plots.stdout and "confusion_matrix.png" in plots.stdout
