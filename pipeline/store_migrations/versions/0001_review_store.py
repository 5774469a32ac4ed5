"""The review store as it was when migrations began (2026-11-29).

Stores created before then by ``metadata.create_all`` have exactly this schema (with the audit
log's triggers on SQLite only); ``migrate`` stamps them with this revision instead of creating
anything, then upgrades them.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_OPINION_TEXTS = ("prefecture", "municipality", "municipality_code", "channel", "location")
_SUGGESTION_TEXTS = ("evidence", "resolved_text", "group_id", "review_priority", "priority_reasons")
_PROBABILITIES = ("p_shared", "p_a", "p_b", "p_c", "p_d", "p_e", "p_f")


def _texts(names: tuple[str, ...]) -> list[sa.Column]:
    return [sa.Column(name, sa.Text(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_table(
        "drafts",
        sa.Column("draft_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("draft_id"),
    )
    op.create_table(
        "opinions",
        sa.Column("draft_id", sa.String(length=200), nullable=False),
        sa.Column("opinion_id", sa.String(length=100), nullable=False),
        *_texts((*_OPINION_TEXTS, "text", "reason")),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("draft_id", "opinion_id"),
    )
    op.create_table(
        "suggestions",
        sa.Column("suggestion_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("draft_id", sa.String(length=200), nullable=False),
        sa.Column("opinion_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        *[sa.Column(name, sa.Float(), nullable=False) for name in _PROBABILITIES],
        sa.Column("sections", sa.Text(), nullable=False),
        sa.Column("section_scores", sa.Text(), nullable=False),
        sa.Column("p_described", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("resolved_id", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        *_texts((*_OPINION_TEXTS, "text", "reason", *_SUGGESTION_TEXTS)),
        sa.Column("group_size", sa.Integer(), nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("suggestion_id"),
        sa.UniqueConstraint("draft_id", "opinion_id", "row_hash", name="uq_suggestion_content"),
    )
    op.create_index("ix_suggestions_opinion", "suggestions", ["draft_id", "opinion_id"])
    op.create_table(
        "reviews",
        sa.Column("review_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("draft_id", sa.String(length=200), nullable=False),
        sa.Column("opinion_id", sa.String(length=100), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("described", sa.String(length=3), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["suggestion_id"], ["suggestions.suggestion_id"]),
        sa.PrimaryKeyConstraint("review_id"),
    )
    op.create_index("ix_reviews_opinion", "reviews", ["draft_id", "opinion_id"])
    op.create_table(
        "verdicts",
        sa.Column("verdict_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("draft_id", sa.String(length=200), nullable=False),
        sa.Column("opinion_id", sa.String(length=100), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("described", sa.String(length=3), nullable=True),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["reviews.review_id"]),
        sa.PrimaryKeyConstraint("verdict_id"),
    )
    op.create_index(
        "uq_verdicts_current",
        "verdicts",
        ["draft_id", "opinion_id"],
        unique=True,
        sqlite_where=sa.text("is_current = 1"),
        postgresql_where=sa.text("is_current = true"),
    )
    # create_all made these two triggers on SQLite (and none on PostgreSQL); 0002 adds the rest.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    for table in ("verdicts", "reviews", "suggestions", "opinions", "drafts", "audit_log"):
        op.drop_table(table)
