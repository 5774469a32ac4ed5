"""Write the next migration of the review store from the difference between the code's tables
(``pipeline.store.metadata``) and a store at the current head.

Run: ``python -m pipeline.store_migrations "add reviews.note" 0003``, then read the file it
names, add what autogenerate cannot see (triggers, data moves) and test it on a populated store.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(message: str, revision_id: str) -> None:
    from alembic import command

    from pipeline.store import _alembic_config, get_engine

    with tempfile.TemporaryDirectory() as folder:
        engine = get_engine(f"sqlite:///{Path(folder) / 'head.sqlite'}")
        with engine.begin() as conn:
            command.revision(
                _alembic_config(conn), message=message, autogenerate=True, rev_id=revision_id
            )
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
