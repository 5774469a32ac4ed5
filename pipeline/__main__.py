"""``python -m pipeline`` runs the ``triage`` command (DVC stages call it this way)."""

from pipeline.cli import main

main()
