"""The review store: idempotent imports, verdicts only via confirm, conflicts, audit trail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text

from pipeline.drafts import read_draft
from pipeline.errors import FlowchartError, InputSchemaError
from pipeline.flowchart import verdict
from pipeline.schema import HEADERS_JA, VALUE_NAMES_JA
from pipeline.store import (
    DEFAULT_DB_PATH,
    ReviewConflictError,
    UnknownOpinionError,
    audit_frame,
    confirm,
    drafts_table,
    format_time,
    get_engine,
    import_drafts,
    import_suggestions,
    opinions_frame,
    read_suggestions,
    resolve_db_url,
    reviews_frame,
    suggestions_table,
    verdicts_frame,
    verdicts_table,
)
from pipeline.tables import write_table

DATA = Path(__file__).parent / "data"
SUGGESTIONS = DATA / "suggestions_small.csv"


def _drafts() -> list:
    return [read_draft(p) for p in sorted((DATA / "drafts").glob("*.md"))]


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = get_engine(store_url)
    import_suggestions(engine, SUGGESTIONS, drafts=_drafts())
    yield engine
    engine.dispose()


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_after_import_nothing_is_a_verdict(engine: Engine) -> None:
    assert len(opinions_frame(engine)) == 12
    assert verdicts_frame(engine).empty
    assert _count(engine, verdicts_table) == 0


def test_importing_the_same_file_twice_changes_nothing(engine: Engine) -> None:
    audit_before = audit_frame(engine)
    result = import_suggestions(engine, SUGGESTIONS, drafts=_drafts())
    assert not result.changed
    assert result.suggestions_unchanged == 12
    assert _count(engine, suggestions_table) == 12
    assert len(audit_frame(engine)) == len(audit_before)
    assert list(audit_frame(engine)["action"]).count("import_suggestions") == 1


def test_text_cells_keep_ids_and_unescape_formulas(engine: Engine) -> None:
    frame = opinions_frame(engine).set_index("opinion_id")
    assert frame.loc["K-001", "municipality_code"] == "011002"
    # the file holds "'=…" as write_table escapes it; the store keeps the reviewer's real text
    assert frame.loc["K-007", "text"] == "=丁寧に進めてほしい。"


def test_confirming_one_opinion_lists_exactly_it_with_the_flowchart_verdict(
    engine: Engine,
) -> None:
    recorded = confirm(engine, "K-001", reviewer="佐藤", based_on_version=0)
    listed = verdicts_frame(engine)
    assert list(listed["opinion_id"]) == ["K-001"]
    row = listed.iloc[0]
    assert row["category"] == "shared" and row["described"] == "no"
    assert row["verdict"] == verdict("shared", "no") == recorded.verdict == "revision"
    assert row["sections"] == "3.(2);1.(2)"
    assert row["reviewer"] == "佐藤"
    assert recorded.action == "confirm" and recorded.version == 1


def test_a_correction_goes_through_the_flowchart(engine: Engine) -> None:
    recorded = confirm(
        engine, "K-001", reviewer="佐藤", based_on_version=0, category="d", comment="本市固有"
    )
    assert recorded.action == "correct"
    assert recorded.decision.described is None
    assert recorded.verdict == verdict("d", None) == "no_revision"
    assert reviews_frame(engine).iloc[0]["comment"] == "本市固有"


def test_contradicting_judgements_are_refused_and_nothing_is_written(engine: Engine) -> None:
    audit_before = len(audit_frame(engine))
    with pytest.raises(FlowchartError, match="only asked for 'shared'"):
        confirm(engine, "K-002", reviewer="佐藤", based_on_version=0, described="yes")
    assert opinions_frame(engine, opinion_id="K-002").iloc[0]["version"] == 0
    assert len(audit_frame(engine)) == audit_before
    assert reviews_frame(engine).empty


def test_unknown_sections_are_refused_when_the_draft_is_known(engine: Engine) -> None:
    with pytest.raises(InputSchemaError, match=r"Section\(s\) 9.\(9\) are not in draft"):
        confirm(engine, "K-001", reviewer="佐藤", based_on_version=0, sections="9.(9)")


def test_unknown_opinion(engine: Engine) -> None:
    with pytest.raises(UnknownOpinionError, match="'X-999' is not in the review store"):
        confirm(engine, "X-999", reviewer="佐藤", based_on_version=0)


def test_stale_version_names_who_changed_it_and_when(engine: Engine) -> None:
    confirm(engine, "K-003", reviewer="佐藤", based_on_version=0)
    changed_at = format_time(opinions_frame(engine, opinion_id="K-003").iloc[0]["updated_at"])
    with pytest.raises(ReviewConflictError) as info:
        confirm(engine, "K-003", reviewer="鈴木", based_on_version=0, category="c")
    assert str(info.value) == (
        f"Opinion 'K-003' (koukin-shuunou) was changed by 佐藤 at {changed_at} (now version 1); "
        "you started from version 0. Nothing was saved: reload the opinion and confirm again."
    )
    assert verdicts_frame(engine).iloc[0]["category"] == "shared"


def test_a_later_confirmation_supersedes_and_keeps_history(engine: Engine) -> None:
    confirm(engine, "K-004", reviewer="佐藤", based_on_version=0)
    confirm(engine, "K-004", reviewer="鈴木", based_on_version=1, category="shared", described="no")
    with engine.connect() as conn:
        rows = conn.execute(
            select(verdicts_table.c.verdict, verdicts_table.c.is_current).order_by(
                verdicts_table.c.verdict_id
            )
        ).all()
    assert [(r.verdict, bool(r.is_current)) for r in rows] == [
        ("no_revision", False),
        ("revision", True),
    ]
    last = audit_frame(engine).iloc[-1]
    assert last["actor"] == "鈴木" and last["before"]["category"] == "b"
    assert last["after"]["verdict"] == "revision"


def test_a_newer_model_adds_suggestions_and_keeps_reviews(engine: Engine) -> None:
    confirm(engine, "K-001", reviewer="佐藤", based_on_version=0)
    newer = read_suggestions(SUGGESTIONS).assign(model_version="triage-suggest 0.2.0")
    newer.loc[newer["opinion_id"] == "K-001", "category"] = "e"
    result = import_suggestions(engine, newer)
    assert result.suggestions_added == 12 and result.opinions_added == 0
    assert _count(engine, suggestions_table) == 24
    current = opinions_frame(engine, opinion_id="K-001").iloc[0]
    assert current["category"] == "e" and current["model_version"] == "triage-suggest 0.2.0"
    assert current["version"] == 1 and current["confirmed_verdict"] == "revision"
    assert len(verdicts_frame(engine)) == 1


def test_bad_rows_are_reported_and_the_others_imported(tmp_path: Path) -> None:
    engine = get_engine(tmp_path / "bad.sqlite")
    frame = read_suggestions(SUGGESTIONS)
    frame.loc[0, "category"] = "z"
    frame.loc[1, "p_a"] = "high"
    result = import_suggestions(engine, frame)
    assert result.suggestions_added == 10
    assert [(e.row, e.field) for e in result.errors] == [(2, "category"), (3, "p_a")]


def test_missing_columns_are_named(tmp_path: Path) -> None:
    frame = read_suggestions(SUGGESTIONS).rename(columns={"p_described": "p_describe"})
    with pytest.raises(InputSchemaError, match=r"missing p_described\..*'p_describe' for"):
        import_suggestions(get_engine(tmp_path / "x.sqlite"), frame)


@pytest.mark.parametrize(
    "statement", ["DELETE FROM audit_log", "UPDATE audit_log SET actor = 'someone else'"]
)
def test_audit_log_is_append_only(engine: Engine, statement: str) -> None:
    before = audit_frame(engine)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    pd.testing.assert_frame_equal(audit_frame(engine), before)


def test_store_location_comes_from_db_then_env_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRIAGE_DB", raising=False)
    assert resolve_db_url() == f"sqlite:///{DEFAULT_DB_PATH}"
    monkeypatch.setenv("TRIAGE_DB", "postgresql+psycopg://u@h/triage")
    assert resolve_db_url() == "postgresql+psycopg://u@h/triage"
    assert resolve_db_url(tmp_path / "a.sqlite") == f"sqlite:///{tmp_path / 'a.sqlite'}"


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'review.sqlite'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def _review_in_thread(
    url: str,
    opinion: str,
    name: str,
    category: str,
    barrier: threading.Barrier,
    outcomes: dict[str, object],
) -> None:
    engine = get_engine(url)  # its own engine, so its own SQLite connection
    barrier.wait()
    try:
        outcomes[name] = confirm(
            engine, opinion, reviewer=name, based_on_version=0, category=category
        )
    except ReviewConflictError as exc:
        outcomes[name] = exc
    finally:
        engine.dispose()


def test_two_reviewers_on_two_connections_one_wins(store_url: str) -> None:
    """Two threads with their own connections confirm from the same version at the same time."""
    url = store_url
    import_suggestions(get_engine(url), SUGGESTIONS)
    opinions = ["K-001", "K-002", "K-005", "F-003", "F-004"]
    for opinion in opinions:
        barrier = threading.Barrier(2)
        outcomes: dict[str, object] = {}
        threads = [
            threading.Thread(
                target=_review_in_thread, args=(url, opinion, name, category, barrier, outcomes)
            )
            for name, category in (("佐藤", "c"), ("鈴木", "d"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        errors = [o for o in outcomes.values() if isinstance(o, ReviewConflictError)]
        assert len(outcomes) == 2 and len(errors) == 1, outcomes
        winner = next(n for n, o in outcomes.items() if not isinstance(o, Exception))
        assert f"was changed by {winner} at" in str(errors[0])
        engine = get_engine(url)
        changes = audit_frame(engine)
        changes = changes[changes["entity"].str.endswith(f"/{opinion}")]
        assert list(changes["actor"]) == [winner]  # exactly one change in the audit log
        assert verdicts_frame(engine).set_index("opinion_id").loc[opinion, "reviewer"] == winner
        engine.dispose()
    assert len(reviews_frame(get_engine(url))) == len(opinions)


def test_reviews_frame_and_verdicts_frame_are_plain_frames(engine: Engine) -> None:
    confirm(engine, "F-001", reviewer="佐藤", based_on_version=0)
    assert isinstance(reviews_frame(engine), pd.DataFrame)
    row = verdicts_frame(engine).iloc[0]
    assert (row["category"], row["described"], row["verdict"]) == ("f", "", "no_revision")


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_excel_with_japanese_headers_and_parquet_import_alike(tmp_path: Path, suffix: str) -> None:
    """``triage score`` writes Excel with HEADERS_JA and value names (「共有すべき」「高」), which
    import as their codes; 該当箇所（提案） ≠ 該当箇所（意見記載）."""
    original = read_suggestions(SUGGESTIONS)
    path = write_table(
        original, tmp_path / f"s{suffix}", headers_ja=HEADERS_JA, values_ja=VALUE_NAMES_JA
    )
    engine = get_engine(tmp_path / "x.sqlite")
    result = import_suggestions(engine, path)
    assert result.suggestions_added == 12 and not result.errors
    imported = opinions_frame(engine).set_index("opinion_id")
    for column in ("category", "verdict", "review_priority", "channel"):
        assert imported.loc[original["opinion_id"], column].tolist() == original[column].tolist()
    row = opinions_frame(engine, opinion_id="K-002").iloc[0]
    assert (row["sections"], row["location"]) == ("4.(1)", "P3 4.(1)")
    assert opinions_frame(engine, opinion_id="K-007").iloc[0]["text"] == "=丁寧に進めてほしい。"
    assert import_suggestions(engine, SUGGESTIONS).suggestions_added == 0  # same content


def test_a_new_store_is_at_the_latest_migration_and_matches_the_tables(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from pipeline.store import VERSION_TABLE, head_revision, metadata, migrate, schema_revision

    engine = get_engine(store_url)
    assert schema_revision(engine) == head_revision() == migrate(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        # What the migrations built is what the code queries: no table, column or index differs.
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_opening_an_up_to_date_store_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Read-only work (report, export, train) must not queue behind a reviewer's write."""
    import sqlite3
    import time

    path = tmp_path / "busy.sqlite"
    get_engine(f"sqlite:///{path}").dispose()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long import would
    try:
        started = time.monotonic()
        engine = get_engine(f"sqlite:///{path}")
        assert time.monotonic() - started < 5  # the busy timeout is 30 s
        assert len(opinions_frame(engine)) == 0
        engine.dispose()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_store_made_before_migrations_is_upgraded_and_keeps_its_rows(store_url: str) -> None:
    """A store created by ``create_all`` (how get_engine made stores until 2026-11-29) and in
    use: it is stamped, gains the audit log's triggers (PostgreSQL stores had none) and keeps
    every row."""
    from sqlalchemy import create_engine

    from pipeline.store import head_revision, metadata, schema_revision

    old = create_engine(store_url)
    metadata.create_all(old)
    import_suggestions(old, SUGGESTIONS, drafts=_drafts())
    confirm(old, "F-001", reviewer="佐藤", based_on_version=0)
    with old.begin() as conn:  # no trigger yet: the old PostgreSQL store let this through
        conn.execute(text("UPDATE audit_log SET actor = actor"))
    audit = audit_frame(old)
    old.dispose()
    engine = get_engine(store_url)
    assert schema_revision(engine) == head_revision()
    assert len(opinions_frame(engine)) == 12 and len(verdicts_frame(engine)) == 1
    pd.testing.assert_frame_equal(audit_frame(engine), audit)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    engine.dispose()


def test_a_store_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    from pipeline.store import VERSION_TABLE, StoreError

    url = f"sqlite:///{tmp_path / 'newer.sqlite'}"
    engine = get_engine(url)
    import_suggestions(engine, SUGGESTIONS, drafts=_drafts())
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"revision '9999', written by a newer version"):
        get_engine(url)
    with get_engine(url, create=False).connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == "9999"
        assert conn.execute(text("SELECT count(*) FROM opinions")).scalar() == 12


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:////nonexistent-folder/review.sqlite", "check that its folder exists"),
        ("postgresql+psycopg://someone:secret@/nodb?host=/nonexistent", "server is running"),
    ],
)
def test_a_store_that_cannot_be_opened_is_named_with_what_to_check(url: str, says: str) -> None:
    from pipeline.store import StoreError

    with pytest.raises(StoreError, match=says) as caught:
        get_engine(url)
    assert "secret" not in str(caught.value) and "Cannot open the review store" in str(caught.value)


def test_text_drafts_are_stored_as_before(engine: Engine) -> None:
    """Text drafts keep the record, and so the version hash, they had before PDF pages existed
    (the hashes below were computed with the code of 6945ebf): re-importing them after an
    upgrade is no change."""
    with engine.connect() as conn:
        versions = dict(conn.execute(select(drafts_table.c.draft_id, drafts_table.c.version)).all())
    assert versions == {
        "furusato-nozei": "2561ff303042ddf342a4fa2197c73576ce12a1aee77166a2f7bc17c781901db3",
        "koukin-shuunou": "86967c45a8d72080965ec16c3c8340e09e0ad89bbe8628bc27c10ad350bde5e9",
    }
    assert import_drafts(engine, _drafts()) == 0
