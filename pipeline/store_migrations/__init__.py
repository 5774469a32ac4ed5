"""Alembic migrations of the review store (see :func:`pipeline.store.get_engine`)."""
