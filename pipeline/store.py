"""The review store: suggestions, human reviews, recorded verdicts and an append-only audit log.

The user's rule is that a person confirms the suggested judgements before a verdict is recorded, so
the only writer of the ``verdicts`` table is :func:`confirm`, and it asks
:func:`pipeline.flowchart.verdict` for the verdict. Several reviewers work at once: each opinion
carries a review ``version`` and :func:`confirm` updates it with ``UPDATE … WHERE version = :n``
inside the same transaction that records the review, so a stale write is refused
(:class:`ReviewConflictError`) instead of silently overwriting a colleague's decision.

Where the store lives: ``--db`` (a SQLAlchemy URL or a plain file path), else env ``TRIAGE_DB``,
else ``triage.sqlite`` in the working directory (the project root when ``triage`` runs there). On
SQLite the store uses WAL and a busy timeout so that the notebook and the CLI can work on the same
file, and write transactions start with ``BEGIN IMMEDIATE`` so that two writers queue instead of
failing with "database is locked" when one upgrades a read to a write.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    event,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from pipeline.errors import InputSchemaError, PipelineError
from pipeline.flowchart import DESCRIBED_THRESHOLD
from pipeline.flowchart import verdict as flowchart_verdict
from pipeline.schema import (
    CATEGORIES,
    EXCLUSIONS,
    HEADERS_JA,
    OPINION_DETAIL_COLUMNS,
    SUGGESTION_COLUMNS,
    SUGGESTION_EXTRA_COLUMNS,
    VALUE_NAMES_JA,
    Draft,
    RowError,
    Section,
)
from pipeline.sqlite_wal import use_wal
from pipeline.tables import HEADER_SEARCH_ROWS, normalize_text, read_table

#: The store used when neither ``--db`` nor env ``TRIAGE_DB`` names one.
DEFAULT_DB_PATH: Final[str] = "triage.sqlite"
DB_ENV: Final[str] = "TRIAGE_DB"
#: Milliseconds a SQLite writer waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS: Final[int] = 30_000
#: Judgement II from ``p_described`` when a reviewer accepts a suggestion; same default as
#: :func:`pipeline.flowchart.suggested_verdict`.
PROBABILITY_COLUMNS: Final[tuple[str, ...]] = tuple(f"p_{c}" for c in CATEGORIES)
_FLOAT_COLUMNS: Final[frozenset[str]] = frozenset({*PROBABILITY_COLUMNS, "p_described"})
_OPINION_FIELDS: Final[tuple[str, ...]] = OPINION_DETAIL_COLUMNS


class ReviewConflictError(PipelineError, RuntimeError):
    """Someone else changed the opinion's review since the version this decision started from."""


class UnknownOpinionError(PipelineError, LookupError):
    """The opinion (or the draft it is asked under) is not in the store."""


class StoreError(PipelineError, RuntimeError):
    """The store cannot be opened or written (bad URL, locked or read-only file)."""


# --- tables ------------------------------------------------------------------------------------

metadata = MetaData()

drafts_table = Table(
    "drafts",
    metadata,
    Column("draft_id", String(200), primary_key=True),
    Column("title", Text, nullable=False, default=""),
    Column("version", String(64), nullable=False),  # sha256 of title + sections
    Column("sections", JSON, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

opinions_table = Table(
    "opinions",
    metadata,
    Column("draft_id", String(200), primary_key=True),
    Column("opinion_id", String(100), primary_key=True),
    *(Column(name, Text, nullable=False, default="") for name in _OPINION_FIELDS),
    # Review state: bumped by every confirm; the optimistic-concurrency token.
    Column("version", Integer, nullable=False, default=0),
    Column("updated_by", String(200)),
    Column("updated_at", DateTime(timezone=True)),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

suggestions_table = Table(
    "suggestions",
    metadata,
    Column("suggestion_id", Integer, primary_key=True, autoincrement=True),
    Column("draft_id", String(200), nullable=False),
    Column("opinion_id", String(100), nullable=False),
    Column("category", String(10), nullable=False),
    *(Column(name, Float, nullable=False) for name in PROBABILITY_COLUMNS),
    Column("sections", Text, nullable=False, default=""),
    Column("section_scores", Text, nullable=False, default=""),
    Column("p_described", Float),
    Column("verdict", String(20), nullable=False, default=""),
    Column("resolved_id", Text, nullable=False, default=""),
    Column("model_version", Text, nullable=False, default=""),
    *(
        Column(name, Text, nullable=False, default="")
        for name in SUGGESTION_EXTRA_COLUMNS
        if name != "group_size"
    ),
    Column("group_size", Integer),
    Column("row_hash", String(64), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("draft_id", "opinion_id", "row_hash", name="uq_suggestion_content"),
    Index("ix_suggestions_opinion", "draft_id", "opinion_id"),
)

reviews_table = Table(
    "reviews",
    metadata,
    Column("review_id", Integer, primary_key=True, autoincrement=True),
    Column("draft_id", String(200), nullable=False),
    Column("opinion_id", String(100), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("reviewed_at", DateTime(timezone=True), nullable=False),
    Column("action", String(20), nullable=False),  # "confirm" (as suggested) or "correct"
    Column("category", String(10), nullable=False),
    Column("sections", JSON, nullable=False),
    Column("described", String(3)),
    Column("comment", Text, nullable=False, default=""),
    Column("suggestion_id", Integer, ForeignKey("suggestions.suggestion_id")),
    Column("version", Integer, nullable=False),  # the opinion's version this review created
    Index("ix_reviews_opinion", "draft_id", "opinion_id"),
)

verdicts_table = Table(
    "verdicts",
    metadata,
    Column("verdict_id", Integer, primary_key=True, autoincrement=True),
    Column("draft_id", String(200), nullable=False),
    Column("opinion_id", String(100), nullable=False),
    Column("review_id", Integer, ForeignKey("reviews.review_id"), nullable=False),
    Column("category", String(10), nullable=False),
    Column("described", String(3)),
    Column("sections", JSON, nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("is_current", Boolean, nullable=False, default=True),
)
# One current verdict per opinion (a partial unique index); superseded ones stay as history.
Index(
    "uq_verdicts_current",
    verdicts_table.c.draft_id,
    verdicts_table.c.opinion_id,
    unique=True,
    sqlite_where=verdicts_table.c.is_current == true(),
    postgresql_where=verdicts_table.c.is_current == true(),
)

audit_table = Table(
    "audit_log",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(50), nullable=False),
    Column("entity", Text, nullable=False),
    Column("before", JSON),
    Column("after", JSON),
)

# The audit log is append-only: the migrations (store_migrations/versions/0001 and 0002) give it
# triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).


# --- engine ------------------------------------------------------------------------------------


def resolve_db_url(db: str | os.PathLike[str] | None = None) -> str:
    """The SQLAlchemy URL of the store: ``db``, else env ``TRIAGE_DB``, else ``triage.sqlite``.

    A value without ``://`` is taken as a SQLite file path, so ``--db review.sqlite`` works.

    Example:
        >>> resolve_db_url("sqlite:///x.sqlite"), resolve_db_url("x.sqlite")
        ('sqlite:///x.sqlite', 'sqlite:///x.sqlite')
    """
    value = os.fspath(db) if db is not None else os.environ.get(DB_ENV) or DEFAULT_DB_PATH
    if "://" in value:
        return value
    return f"sqlite:///{value}"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, decides where transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    use_wal(dbapi_connection, SQLITE_BUSY_TIMEOUT_MS / 1000)
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction takes the write lock at once: a deferred transaction that reads first
    # and then writes fails immediately (SQLITE_BUSY_SNAPSHOT) when another writer got in between.
    immediate = conn.get_execution_options().get("triage_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def get_engine(db: str | os.PathLike[str] | None = None, *, create: bool = True) -> Engine:
    """Open the store (see :func:`resolve_db_url`), creating or upgrading its tables (:func:`migrate`).

    Raises:
        StoreError: when the URL is malformed, the database cannot be reached or its schema is
            from a newer version.

    Example:
        >>> engine = get_engine("sqlite:///:memory:")
        >>> sorted(engine.dialect.get_table_names(engine.connect()))[:2]
        ['audit_log', 'drafts']
    """
    url = resolve_db_url(db)
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StoreError(
            f"Cannot use the review store URL {url!r} ({exc}). Expected a SQLAlchemy URL such as "
            "'sqlite:///triage.sqlite' or 'postgresql+psycopg://user@host/triage', or a file path."
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        where = (
            "check that its folder exists and is writable"
            if engine.dialect.name == "sqlite"
            else "check that the server is running and the user, password and database are right"
        )
        raise StoreError(
            f"Cannot open the review store {shown!r}: {_reason(exc)}. {where}."
        ) from exc
    if create:
        try:
            migrate(engine)
        except (OperationalError, ProgrammingError) as exc:
            raise StoreError(
                f"Cannot create or upgrade the tables of the review store {shown!r}: "
                f"{_reason(exc)}. The user needs the right to create tables and triggers."
            ) from exc
    return engine


def _reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


#: Alembic's bookkeeping table, named for this tool so that it can share a PostgreSQL database
#: with other applications that use Alembic.
VERSION_TABLE = "triage_alembic_version"
#: Key of the PostgreSQL advisory lock that lets one process at a time migrate a store (any
#: constant unlikely to be used by another application on the same server).
_MIGRATION_LOCK = 7_204_061


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", "pipeline:store_migrations")
    config.attributes["connection"] = connection
    return config


def _migrations() -> Any:
    """The store's migration scripts (``pipeline/store_migrations/versions``)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The schema revision this version of opinion-triage writes (its newest migration)."""
    head = _migrations().get_current_head()
    assert head is not None
    return head


def schema_revision(bind: Engine | Connection) -> str | None:
    """The schema revision a store is at, or ``None`` for a new store or one made before
    migrations existed."""
    from alembic.runtime.migration import MigrationContext

    with _connection(bind) as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def migrate(engine: Engine) -> str:
    """Bring the store's tables to this version's schema (Alembic); return the revision.

    A new store is created; one at an older revision is upgraded in one transaction, keeping
    every row; one made before migrations existed (by ``create_all``: revision 0001's tables) is
    stamped 0001 and upgraded. A store written by a *newer* version is refused untouched. An
    up-to-date store is only read, so opening it never waits for another process's writes.

    Raises:
        StoreError: the store's revision is unknown to this version.

    Example:
        >>> migrate(get_engine("sqlite:///:memory:", create=False))  # doctest: +SKIP
        '0002'
    """
    from alembic import command
    from sqlalchemy import inspect

    script = _migrations()
    head = head_revision()
    current = schema_revision(engine)
    known = {revision.revision for revision in script.walk_revisions()}
    if current is not None and current not in known:
        raise StoreError(
            f"The review store {engine.url.render_as_string(hide_password=True)!r} has schema "
            f"revision {current!r}, written by a newer version of opinion-triage (this one knows "
            f"up to {head!r}). Nothing was changed: update opinion-triage to use it."
        )
    if current == head:
        return head
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":  # one migrating process at a time
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config = _alembic_config(conn)
        current = schema_revision(conn)  # again, under the lock: another may have migrated
        if current is None and inspect(conn).has_table("opinions"):
            command.stamp(config, "0001")
        if current != head:
            command.upgrade(config, "head")
    return head


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction (``BEGIN IMMEDIATE`` on SQLite): commit on success, else roll back."""
    try:
        with engine.execution_options(triage_write=True).begin() as conn:
            yield conn
    except OperationalError as exc:
        raise StoreError(
            f"The review store could not be written ({exc.orig}). If another process holds it "
            "for long, retry; check that the file is writable."
        ) from exc


def _now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Stored times come back naive from SQLite; they were written in UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str:
    """A time as reviewers read it in messages and sheets (UTC, to the second)."""
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _audit(
    conn: Connection,
    actor: str,
    action: str,
    entity: str,
    before: Any = None,
    after: Any = None,
    at: datetime | None = None,
) -> None:
    conn.execute(
        insert(audit_table).values(
            actor=actor, at=at or _now(), action=action, entity=entity, before=before, after=after
        )
    )


def _opinion_entity(draft_id: str, opinion_id: str) -> str:
    return f"opinion:{draft_id}/{opinion_id}"


# --- drafts ------------------------------------------------------------------------------------


def _draft_record(draft: Draft) -> dict[str, Any]:
    sections = [
        {
            "section_id": s.section_id,
            "heading": s.heading,
            "text": s.text,
            "level": s.level,
            "parent_id": s.parent_id,
            "is_leaf": s.is_leaf,
            "line": s.line,
            # Only a PDF's sections know their pages; text drafts keep the record (and its hash)
            # they always had.
            **({"page_start": s.page_start, "page_end": s.page_end} if s.page_start else {}),
        }
        for s in draft.sections
    ]
    content = json.dumps({"title": draft.title, "sections": sections}, ensure_ascii=False)
    return {
        "draft_id": draft.draft_id,
        "title": draft.title,
        "version": hashlib.sha256(content.encode("utf-8")).hexdigest(),
        "sections": sections,
        "source": draft.source,
    }


def _import_drafts(conn: Connection, drafts: Sequence[Draft], actor: str) -> int:
    changed = 0
    for draft in drafts:
        record = _draft_record(draft)
        old = conn.execute(
            select(drafts_table.c.version, drafts_table.c.title).where(
                drafts_table.c.draft_id == draft.draft_id
            )
        ).first()
        if old is not None and old.version == record["version"]:
            continue
        now = _now()
        if old is None:
            conn.execute(insert(drafts_table).values(**record, imported_at=now))
        else:
            conn.execute(
                update(drafts_table)
                .where(drafts_table.c.draft_id == draft.draft_id)
                .values(**record, imported_at=now)
            )
        _audit(
            conn,
            actor,
            "import_draft",
            f"draft:{draft.draft_id}",
            before=None if old is None else {"version": old.version, "title": old.title},
            after={"version": record["version"], "title": draft.title, "source": draft.source},
            at=now,
        )
        changed += 1
    return changed


def import_drafts(engine: Engine, drafts: Sequence[Draft], *, actor: str = "import") -> int:
    """Store drafts so reviewers see section text; unchanged drafts (same sha256) are skipped.

    Returns:
        How many drafts were added or replaced by a new version.

    Example:
        >>> import_drafts(engine, [read_draft("drafts/koukin-shuunou.md")])  # doctest: +SKIP
        1
    """
    with write_transaction(engine) as conn:
        return _import_drafts(conn, drafts, actor)


def get_draft(engine: Engine | Connection, draft_id: str) -> Draft | None:
    """The stored draft, rebuilt as a :class:`~pipeline.schema.Draft`, or ``None``."""
    with _connection(engine) as conn:
        row = conn.execute(select(drafts_table).where(drafts_table.c.draft_id == draft_id)).first()
    if row is None:
        return None
    sections = tuple(
        Section(
            draft_id=draft_id,
            section_id=s["section_id"],
            heading=s["heading"],
            text=s["text"],
            level=int(s["level"]),
            parent_id=s.get("parent_id"),
            is_leaf=bool(s.get("is_leaf", True)),
            line=int(s.get("line", 0)),
            page_start=s.get("page_start"),
            page_end=s.get("page_end"),
        )
        for s in row.sections
    )
    return Draft(draft_id=draft_id, title=row.title, sections=sections, source=row.source)


@contextmanager
def _connection(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


# --- importing suggestions ---------------------------------------------------------------------


def exact_header_key(value: object) -> str:
    """Headers compared whole (NFKC, no spaces, lower case).

    Unlike :func:`pipeline.tables.header_key` the bracketed part is kept: our own sheets tell
    「該当箇所（提案）」 from 「該当箇所（修正）」 by exactly that part.
    """
    return "".join(normalize_text(value).split()).lower()


def find_header_row(
    rows: Sequence[Sequence[str]], aliases: Mapping[str, str], required: Sequence[str]
) -> tuple[int, dict[int, str]] | None:
    """The first of the top rows whose cells name all ``required`` columns: (index, col → name)."""
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        mapping: dict[int, str] = {}
        for col, cell in enumerate(row):
            name = aliases.get(exact_header_key(cell))
            if name and name not in mapping.values():
                mapping[col] = name
        if set(required) <= set(mapping.values()):
            return index, mapping
    return None


#: Header forms accepted when reading a suggestions file: canonical names and HEADERS_JA.
SUGGESTION_HEADERS: Final[dict[str, str]] = {
    exact_header_key(h): name
    for name in (*SUGGESTION_COLUMNS, *SUGGESTION_EXTRA_COLUMNS)
    for h in (name, HEADERS_JA.get(name, name))
}


#: Value names as the score workbook shows them (and NFKC-normalised), to their codes.
VALUE_CODES: Final[dict[str, dict[str, str]]] = {
    column: {normalize_text(name): code for code, name in names.items()}
    for column, names in VALUE_NAMES_JA.items()
}


@dataclass
class ImportResult:
    """What an import changed; an import of an already imported file changes nothing."""

    source: str
    rows_read: int = 0
    suggestions_added: int = 0
    suggestions_unchanged: int = 0
    opinions_added: int = 0
    opinions_updated: int = 0
    drafts_changed: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.suggestions_added
            or self.opinions_added
            or self.opinions_updated
            or self.drafts_changed
        )


def unescape_formula(value: str) -> str:
    """Undo :func:`pipeline.tables.escape_formula` so text round-trips through our own files."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unescape_formula(str(value).strip())


def read_suggestions(path: str | Path) -> pd.DataFrame:
    """Read a suggestions file (§4) as text cells: ``.csv`` (any encoding), ``.xlsx``, ``.parquet``.

    Japanese headers and value names (「共有すべき」「修正意見を出す」「高」, as ``triage score``
    writes to Excel) are mapped back to canonical names and codes.
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise InputSchemaError(f"{path}: cannot read as Parquet ({exc}).") from exc
        return frame.rename(columns=lambda c: SUGGESTION_HEADERS.get(exact_header_key(c), c))
    table = read_table(path)
    found = find_header_row(table.rows, SUGGESTION_HEADERS, ("opinion_id", "category"))
    if found is None:
        raise InputSchemaError(
            f"{path}: no header row found; a suggestions file (DATA_FORMATS.md §4) starts with "
            f"the columns {', '.join(SUGGESTION_COLUMNS)} (or their Japanese headers)."
        )
    header_index, mapping = found
    records = [
        {name: (row[col] if col < len(row) else "") for col, name in mapping.items()}
        for row in table.rows[header_index + 1 :]
        if any(cell.strip() for cell in row)
    ]
    frame = pd.DataFrame(records, columns=list(mapping.values()), dtype=object)
    for column in set(VALUE_CODES) & set(frame.columns):
        codes = VALUE_CODES[column]
        frame[column] = frame[column].map(lambda v, codes=codes: codes.get(normalize_text(v), v))
    frame.attrs["row_numbers"] = [
        n
        for row, n in zip(
            table.rows[header_index + 1 :], table.row_numbers[header_index + 1 :], strict=True
        )
        if any(cell.strip() for cell in row)
    ]
    return frame


def _check_columns(frame: pd.DataFrame, source: str) -> None:
    import difflib

    missing = [c for c in SUGGESTION_COLUMNS if c not in frame.columns]
    if not missing:
        return
    found = [str(c) for c in frame.columns]
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, found, n=1)
        if close:
            hints.append(f"'{close[0]}' for '{name}'?")
    hint = f" Did you mean {' '.join(hints)}" if hints else ""
    raise InputSchemaError(
        f"{source}: a suggestions file (DATA_FORMATS.md §4) needs the columns "
        f"{', '.join(SUGGESTION_COLUMNS)}; missing {', '.join(missing)}. Found {found}.{hint}"
    )


def _suggestion_row(
    raw: Mapping[str, object], source: str, number: int
) -> tuple[dict[str, Any] | None, RowError | None]:
    row = {
        name: _cell_text(raw.get(name)) for name in (*SUGGESTION_COLUMNS, *SUGGESTION_EXTRA_COLUMNS)
    }
    if not row["opinion_id"]:
        return None, RowError(source, number, "opinion_id", "a non-empty id", "")
    if not row["draft_id"]:
        return None, RowError(source, number, "draft_id", "the draft it was judged against", "")
    if row["category"] not in CATEGORIES:
        return None, RowError(
            source, number, "category", f"one of {', '.join(CATEGORIES)}", row["category"]
        )
    record: dict[str, Any] = dict(row)
    for name in _FLOAT_COLUMNS:
        text = row[name]
        if name == "p_described" and not text:
            record[name] = None
            continue
        try:
            value = float(text)
        except ValueError:
            return None, RowError(source, number, name, "a probability in [0, 1]", text)
        if not 0.0 <= value <= 1.0:
            return None, RowError(source, number, name, "a probability in [0, 1]", text)
        record[name] = value
    try:
        record["group_size"] = int(float(row["group_size"])) if row["group_size"] else None
    except ValueError:
        return None, RowError(source, number, "group_size", "a whole number", row["group_size"])
    content = json.dumps(
        {k: record[k] for k in sorted(record) if k not in _OPINION_FIELDS},
        ensure_ascii=False,
        sort_keys=True,
    )
    record["row_hash"] = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return record, None


def import_suggestions(
    engine: Engine,
    frame_or_path: pd.DataFrame | str | Path,
    *,
    drafts: Sequence[Draft] = (),
    actor: str = "import",
) -> ImportResult:
    """Load a suggestions file (§4 + extra columns) into the store; idempotent.

    A row already stored for the opinion (same content, same model version) is skipped, so importing
    the same file twice changes nothing and leaves one audit entry. A newer model's rows are added
    beside the old ones and become the opinions' current suggestion; reviews, versions and verdicts
    are never touched. Bad rows are reported in ``errors`` and the good ones imported, all in one
    transaction.

    Example:
        >>> result = import_suggestions(get_engine(), "out/suggestions.csv")  # doctest: +SKIP
        >>> result.suggestions_added  # doctest: +SKIP
        175
    """
    if isinstance(frame_or_path, pd.DataFrame):
        frame, source = frame_or_path, "<DataFrame>"
        numbers = list(range(2, len(frame) + 2))  # as a spreadsheet would number them
    else:
        frame, source = read_suggestions(frame_or_path), str(frame_or_path)
        numbers = frame.attrs.get("row_numbers") or list(range(2, len(frame) + 2))
    _check_columns(frame, source)
    result = ImportResult(source=source, rows_read=len(frame))
    records = []
    seen: set[tuple[str, str]] = set()
    for raw, number in zip(frame.to_dict("records"), numbers, strict=True):
        record, error = _suggestion_row(raw, source, number)
        if error is not None:
            result.errors.append(error)
            continue
        assert record is not None
        key = (record["draft_id"], record["opinion_id"])
        if key in seen:
            result.errors.append(
                RowError(source, number, "opinion_id", "one row per opinion and draft", key[1])
            )
            continue
        seen.add(key)
        records.append(record)

    with write_transaction(engine) as conn:
        result.drafts_changed = _import_drafts(conn, drafts, actor)
        now = _now()
        added_ids: list[str] = []
        for record in records:
            key = (record["draft_id"], record["opinion_id"])
            opinion = {name: record[name] for name in _OPINION_FIELDS}
            old = conn.execute(
                select(*(opinions_table.c[n] for n in _OPINION_FIELDS)).where(
                    opinions_table.c.draft_id == key[0], opinions_table.c.opinion_id == key[1]
                )
            ).first()
            if old is None:
                conn.execute(
                    insert(opinions_table).values(
                        draft_id=key[0], opinion_id=key[1], version=0, imported_at=now, **opinion
                    )
                )
                result.opinions_added += 1
            else:
                before = dict(old._mapping)
                # An empty cell in a newer file does not wipe what an earlier file said.
                changes = {k: v for k, v in opinion.items() if v and v != before[k]}
                if changes:
                    conn.execute(
                        update(opinions_table)
                        .where(
                            opinions_table.c.draft_id == key[0],
                            opinions_table.c.opinion_id == key[1],
                        )
                        .values(**changes)
                    )
                    _audit(
                        conn,
                        actor,
                        "update_opinion",
                        _opinion_entity(*key),
                        before={k: before[k] for k in changes},
                        after=changes,
                        at=now,
                    )
                    result.opinions_updated += 1
            exists = conn.execute(
                select(suggestions_table.c.suggestion_id).where(
                    suggestions_table.c.draft_id == key[0],
                    suggestions_table.c.opinion_id == key[1],
                    suggestions_table.c.row_hash == record["row_hash"],
                )
            ).first()
            if exists is not None:
                result.suggestions_unchanged += 1
                continue
            conn.execute(insert(suggestions_table).values(**record, imported_at=now))
            result.suggestions_added += 1
            added_ids.append(f"{key[0]}/{key[1]}")
        if result.suggestions_added or result.opinions_added:
            _audit(
                conn,
                actor,
                "import_suggestions",
                f"file:{Path(source).name}",
                after={
                    "source": source,
                    "suggestions_added": result.suggestions_added,
                    "opinions_added": result.opinions_added,
                    "model_versions": sorted({r["model_version"] for r in records}),
                    "opinions": added_ids,
                },
                at=now,
            )
    return result


# --- reading state -----------------------------------------------------------------------------


def _frame(rows: Any, columns: Sequence[str]) -> pd.DataFrame:
    """Rows as an object frame: ints stay ints, missing stays ``None``, times become UTC-aware."""
    records = [
        {k: as_utc(v) if isinstance(v, datetime) else v for k, v in dict(row).items()}
        for row in rows
    ]
    return pd.DataFrame(records, columns=list(columns), dtype=object)


def _current_suggestion_ids() -> Any:
    return (
        select(
            suggestions_table.c.draft_id,
            suggestions_table.c.opinion_id,
            func.max(suggestions_table.c.suggestion_id).label("suggestion_id"),
        )
        .group_by(suggestions_table.c.draft_id, suggestions_table.c.opinion_id)
        .subquery("current_suggestion")
    )


def opinions_frame(
    engine: Engine | Connection, *, draft_id: str | None = None, opinion_id: str | None = None
) -> pd.DataFrame:
    """Every opinion with its current suggestion, review state and current verdict (one row each).

    Suggestion columns keep their §4 names; the current verdict's are prefixed ``confirmed_``, and
    ``version``/``updated_by``/``updated_at`` are the review state.
    """
    cur = _current_suggestion_ids()
    s, o, v = suggestions_table, opinions_table, verdicts_table
    suggestion_cols = [
        c.label("suggested_at") if c.name == "imported_at" else c
        for c in s.c
        if c.name not in {"draft_id", "opinion_id", "row_hash", *_OPINION_FIELDS}
    ]
    query = (
        select(
            o,
            *suggestion_cols,
            v.c.category.label("confirmed_category"),
            v.c.described.label("confirmed_described"),
            v.c.sections.label("confirmed_sections"),
            v.c.verdict.label("confirmed_verdict"),
            v.c.recorded_by.label("confirmed_by"),
            v.c.recorded_at.label("confirmed_at"),
            v.c.review_id.label("review_id"),
        )
        .select_from(
            o.join(cur, and_(cur.c.draft_id == o.c.draft_id, cur.c.opinion_id == o.c.opinion_id))
            .join(s, s.c.suggestion_id == cur.c.suggestion_id)
            .outerjoin(
                v,
                and_(
                    v.c.draft_id == o.c.draft_id,
                    v.c.opinion_id == o.c.opinion_id,
                    v.c.is_current == true(),
                ),
            )
        )
        .order_by(o.c.draft_id, o.c.opinion_id)
    )
    if draft_id is not None:
        query = query.where(o.c.draft_id == draft_id)
    if opinion_id is not None:
        query = query.where(o.c.opinion_id == opinion_id)
    with _connection(engine) as conn:
        rows = conn.execute(query).mappings().all()
    columns = [c.name for c in o.c] + [c.name for c in suggestion_cols]
    columns += [
        "confirmed_category",
        "confirmed_described",
        "confirmed_sections",
        "confirmed_verdict",
        "confirmed_by",
        "confirmed_at",
        "review_id",
    ]
    return _frame(rows, columns)


#: Columns of :func:`verdicts_frame`, in output order (HEADERS_JA-style names in VERDICT_HEADERS_JA).
VERDICT_COLUMNS: Final[tuple[str, ...]] = (
    "opinion_id",
    "draft_id",
    "prefecture",
    "municipality",
    "municipality_code",
    "category",
    "described",
    "sections",
    "verdict",
    "reviewer",
    "recorded_at",
    "comment",
    "suggested_category",
    "suggested_verdict",
    "model_version",
    "review_id",
)
VERDICT_HEADERS_JA: Final[dict[str, str]] = {
    **HEADERS_JA,
    "category": "判断Ⅰ（確定）",
    "described": "判断Ⅱ 記載あり（確定）",
    "sections": "該当箇所（確定）",
    "verdict": "判定（確定）",
    "reviewer": "確認者",
    "recorded_at": "確定日時",
    "comment": "コメント",
    "suggested_category": "判断Ⅰ（提案）",
    "suggested_verdict": "判定（提案）",
    "model_version": "モデル版",
    "review_id": "確認番号",
}


def verdicts_frame(engine: Engine | Connection) -> pd.DataFrame:
    """The current recorded verdicts only (opinions nobody confirmed yet are not listed).

    ``sections`` is joined by ``;`` as in §4; the suggestion shown is the one the review started from.
    """
    v, r, o, s = verdicts_table, reviews_table, opinions_table, suggestions_table
    query = (
        select(
            v.c.opinion_id,
            v.c.draft_id,
            o.c.prefecture,
            o.c.municipality,
            o.c.municipality_code,
            v.c.category,
            v.c.described,
            v.c.sections,
            v.c.verdict,
            v.c.recorded_by.label("reviewer"),
            v.c.recorded_at,
            r.c.comment,
            s.c.category.label("suggested_category"),
            s.c.verdict.label("suggested_verdict"),
            s.c.model_version,
            v.c.review_id,
        )
        .select_from(
            v.join(r, r.c.review_id == v.c.review_id)
            .join(o, and_(o.c.draft_id == v.c.draft_id, o.c.opinion_id == v.c.opinion_id))
            .outerjoin(s, s.c.suggestion_id == r.c.suggestion_id)
        )
        .where(v.c.is_current == true())
        .order_by(v.c.draft_id, v.c.opinion_id)
    )
    with _connection(engine) as conn:
        rows = conn.execute(query).mappings().all()
    frame = pd.DataFrame([dict(row) for row in rows], columns=list(VERDICT_COLUMNS))
    frame["sections"] = frame["sections"].map(lambda ids: ";".join(ids or []))
    frame["recorded_at"] = frame["recorded_at"].map(format_time)
    frame["described"] = frame["described"].map(lambda d: d or "")
    return frame


def reviews_frame(engine: Engine | Connection) -> pd.DataFrame:
    """Every review ever recorded, oldest first (several per opinion when reviewers disagree)."""
    with _connection(engine) as conn:
        rows = conn.execute(select(reviews_table).order_by(reviews_table.c.review_id)).mappings()
        return _frame(rows, [c.name for c in reviews_table.c])


def audit_frame(engine: Engine | Connection) -> pd.DataFrame:
    """The audit log, oldest first."""
    with _connection(engine) as conn:
        rows = conn.execute(select(audit_table).order_by(audit_table.c.audit_id)).mappings()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in audit_table.c])


# --- confirming ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Both judgements as a person confirmed them; ``described`` is ``None`` for a–f."""

    category: str
    sections: tuple[str, ...]
    described: str | None
    comment: str = ""


@dataclass(frozen=True)
class Recorded:
    """The outcome of one :func:`confirm`: the review, its verdict and the new version."""

    opinion_id: str
    draft_id: str
    review_id: int
    verdict: str
    decision: Decision
    version: int
    action: str


def split_sections(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Section ids from ``"3.(2);4.(1)"`` (also ``、`` or ``,`` separated) or a list.

    Example:
        >>> split_sections("3.(2); 4.(1)")
        ('3.(2)', '4.(1)')
    """
    if value is None:
        return ()
    if isinstance(value, str):
        parts: Sequence[str] = value.replace("、", ";").replace(",", ";").split(";")
    else:
        parts = value
    return tuple(dict.fromkeys(p.strip() for p in parts if p and p.strip()))


def _find_opinion(conn: Connection, opinion_id: str, draft_id: str | None) -> Any:
    query = select(opinions_table).where(opinions_table.c.opinion_id == opinion_id)
    if draft_id is not None:
        query = query.where(opinions_table.c.draft_id == draft_id)
    rows = conn.execute(query).all()
    if not rows:
        where = f" under draft {draft_id!r}" if draft_id else ""
        raise UnknownOpinionError(
            f"Opinion {opinion_id!r}{where} is not in the review store. Import its suggestions "
            "first (triage review import SUGGESTIONS), or check the id and --draft-id."
        )
    if len(rows) > 1:
        drafts = ", ".join(sorted(r.draft_id for r in rows))
        raise UnknownOpinionError(
            f"Opinion {opinion_id!r} exists under several drafts ({drafts}); name one with "
            "--draft-id."
        )
    return rows[0]


def _current_suggestion(conn: Connection, draft_id: str, opinion_id: str) -> Any:
    return conn.execute(
        select(suggestions_table)
        .where(
            suggestions_table.c.draft_id == draft_id, suggestions_table.c.opinion_id == opinion_id
        )
        .order_by(suggestions_table.c.suggestion_id.desc())
        .limit(1)
    ).first()


def resolve_decision(
    suggestion: Any,
    *,
    category: str | None = None,
    sections: str | Sequence[str] | None = None,
    described: str | None = None,
    comment: str = "",
) -> Decision:
    """Fill what the reviewer left out from the suggestion; nothing given means "accept it".

    ``described`` left out becomes the suggestion's Judgement II for ``shared`` (``p_described``
    against :data:`DESCRIBED_THRESHOLD`) and ``None`` for a–f; given for a–f it is kept, so that
    the flowchart refuses the contradiction rather than this function hiding it.
    """
    chosen = category if category is not None else suggestion.category
    if chosen not in CATEGORIES:
        raise InputSchemaError(
            f"The category must be one of {', '.join(CATEGORIES)}. Got {chosen!r} instead."
        )
    ids = split_sections(sections) if sections is not None else split_sections(suggestion.sections)
    if described is None and chosen not in EXCLUSIONS:
        p = suggestion.p_described
        described = "yes" if p is not None and p >= DESCRIBED_THRESHOLD else "no"
    return Decision(category=chosen, sections=ids, described=described, comment=comment or "")


def _check_sections(conn: Connection, draft_id: str, ids: Sequence[str]) -> None:
    row = conn.execute(
        select(drafts_table.c.sections).where(drafts_table.c.draft_id == draft_id)
    ).first()
    if row is None or not ids:
        return  # drafts are optional; without one, section ids cannot be checked
    known = [s["section_id"] for s in row.sections]
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise InputSchemaError(
            f"Section(s) {', '.join(unknown)} are not in draft {draft_id!r}; its sections are "
            f"{', '.join(known[:40])}{' …' if len(known) > 40 else ''}."
        )


def confirm(
    engine: Engine,
    opinion_id: str,
    *,
    reviewer: str,
    based_on_version: int | None,
    draft_id: str | None = None,
    category: str | None = None,
    sections: str | Sequence[str] | None = None,
    described: str | None = None,
    comment: str = "",
) -> Recorded:
    """Record a reviewer's judgements and the flowchart's verdict for one opinion.

    Args:
        engine: The store.
        opinion_id: The opinion, as in the suggestions file.
        reviewer: Who decides; required so that the audit log can name them.
        based_on_version: The review version the reviewer saw. ``None`` means "whatever is current"
            (a fresh read, as the CLI does); a UI must pass what it displayed.
        draft_id: Needed only when the opinion id exists under several drafts.
        category, sections, described, comment: Corrections; left out, the suggestion's value is
            taken (see :func:`resolve_decision`).

    Raises:
        UnknownOpinionError: the opinion is not in the store.
        ReviewConflictError: someone confirmed it since ``based_on_version``; nothing is written.
        FlowchartError, InputSchemaError: the judgements are invalid or contradict each other.

    Example:
        >>> confirm(engine, "D-2025-0042", reviewer="佐藤", based_on_version=0)  # doctest: +SKIP
        Recorded(opinion_id='D-2025-0042', ..., verdict='revision', version=1, ...)
    """
    if not reviewer or not reviewer.strip():
        raise InputSchemaError("A reviewer name is required to record a decision.")
    reviewer = reviewer.strip()
    with write_transaction(engine) as conn:
        opinion = _find_opinion(conn, opinion_id, draft_id)
        key = (opinion.draft_id, opinion.opinion_id)
        suggestion = _current_suggestion(conn, *key)
        if suggestion is None:  # only possible if the store was edited by hand
            raise UnknownOpinionError(f"Opinion {opinion_id!r} has no suggestion to review.")
        decision = resolve_decision(
            suggestion, category=category, sections=sections, described=described, comment=comment
        )
        _check_sections(conn, opinion.draft_id, decision.sections)
        outcome = flowchart_verdict(decision.category, decision.described)
        expected = opinion.version if based_on_version is None else based_on_version
        now = _now()
        bumped = conn.execute(
            update(opinions_table)
            .where(
                opinions_table.c.draft_id == key[0],
                opinions_table.c.opinion_id == key[1],
                opinions_table.c.version == expected,
            )
            .values(version=expected + 1, updated_by=reviewer, updated_at=now)
        )
        if bumped.rowcount != 1:
            current = conn.execute(
                select(
                    opinions_table.c.version,
                    opinions_table.c.updated_by,
                    opinions_table.c.updated_at,
                ).where(opinions_table.c.draft_id == key[0], opinions_table.c.opinion_id == key[1])
            ).one()
            by = current.updated_by or "nobody"
            raise ReviewConflictError(
                f"Opinion {key[1]!r} ({key[0]}) was changed by {by} at "
                f"{format_time(current.updated_at) or 'an unknown time'} (now version "
                f"{current.version}); you started from version {expected}. Nothing was saved: "
                "reload the opinion and confirm again."
            )
        action = (
            "confirm"
            if decision == resolve_decision(suggestion, comment=decision.comment)
            else "correct"
        )
        review_id = conn.execute(
            insert(reviews_table).values(
                draft_id=key[0],
                opinion_id=key[1],
                reviewer=reviewer,
                reviewed_at=now,
                action=action,
                category=decision.category,
                sections=list(decision.sections),
                described=decision.described,
                comment=decision.comment,
                suggestion_id=suggestion.suggestion_id,
                version=expected + 1,
            )
        ).inserted_primary_key[0]
        previous = conn.execute(
            select(verdicts_table).where(
                verdicts_table.c.draft_id == key[0],
                verdicts_table.c.opinion_id == key[1],
                verdicts_table.c.is_current == true(),
            )
        ).first()
        if previous is not None:
            conn.execute(
                update(verdicts_table)
                .where(verdicts_table.c.verdict_id == previous.verdict_id)
                .values(is_current=False)
            )
        conn.execute(
            insert(verdicts_table).values(
                draft_id=key[0],
                opinion_id=key[1],
                review_id=review_id,
                category=decision.category,
                described=decision.described,
                sections=list(decision.sections),
                verdict=outcome,
                recorded_by=reviewer,
                recorded_at=now,
                is_current=True,
            )
        )
        after = {
            "version": expected + 1,
            "review_id": review_id,
            "action": action,
            "category": decision.category,
            "described": decision.described,
            "sections": list(decision.sections),
            "comment": decision.comment,
            "verdict": outcome,
            "suggestion_id": suggestion.suggestion_id,
        }
        before: dict[str, Any] = {"version": expected}
        if previous is not None:
            before.update(
                review_id=previous.review_id,
                category=previous.category,
                described=previous.described,
                sections=previous.sections,
                verdict=previous.verdict,
                recorded_by=previous.recorded_by,
            )
        _audit(conn, reviewer, action, _opinion_entity(*key), before=before, after=after, at=now)
    return Recorded(
        opinion_id=key[1],
        draft_id=key[0],
        review_id=int(review_id),
        verdict=outcome,
        decision=decision,
        version=expected + 1,
        action=action,
    )
