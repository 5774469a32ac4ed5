"""One base class for every error the pipeline raises on purpose.

Subclasses mix in the built-in that callers would naturally catch (``ValueError`` for bad input,
``FileNotFoundError`` for a missing model …), so library users can stay generic while the CLI turns
any :class:`PipelineError` into ``Error: …`` and exit status 1.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of all expected failures: the message says what, expected, got, and the fix."""


class InputFileError(PipelineError, OSError):
    """A file cannot be read at all (missing, undecodable, not a table, no header row)."""


class InputSchemaError(PipelineError, ValueError):
    """Columns or values do not fit the data contract (DATA_FORMATS.md)."""


class ConfigError(PipelineError, ValueError):
    """``params.yaml`` or an option holds an unknown key or an out-of-range value."""


class FlowchartError(PipelineError, ValueError):
    """The judgements given to the flowchart contradict each other (e.g. ``described`` for a–f)."""


class ModelNotFoundError(PipelineError, FileNotFoundError):
    """A model or dictionary is missing; the message names the command that creates it."""


class NotFittedError(PipelineError, ValueError, AttributeError):
    """A model was asked to predict before ``fit``."""
