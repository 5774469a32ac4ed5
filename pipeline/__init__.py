"""opinion-triage: suggest, review and record the council's verdicts on municipal opinions."""

__version__ = "0.1.0"
