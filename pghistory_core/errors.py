"""Exceptions: one base class, grouped by what the user must do.

Layer: shared by every layer. Messages name the object and show the bad value.
"""

from __future__ import annotations

__all__ = [
    "PghistoryError",
    "ConfigurationError",
    "UnknownColumnError",
    "InvalidTrackerError",
    "InvalidConditionError",
    "DuplicateLabelError",
    "InvalidNameError",
    "UnsupportedError",
    "DriftError",
    "ContextError",
    "HistoryError",
    "RevertConflictError",
]


class PghistoryError(Exception):
    """Base class of every error raised by pghistory."""


class ConfigurationError(PghistoryError, ValueError):
    """A description (table, tracker, condition, spec) is invalid: fix the code that builds it."""


class UnknownColumnError(ConfigurationError):
    """A field, exclude or condition names a column the tracked table does not have."""


class InvalidTrackerError(ConfigurationError):
    """A tracker's arguments contradict each other (e.g. an OLD row on an insert)."""


class InvalidConditionError(ConfigurationError):
    """A condition is malformed or cannot apply to its tracker."""


class DuplicateLabelError(ConfigurationError):
    """Two trackers on one tracked table use the same label."""


class InvalidNameError(ConfigurationError):
    """A name cannot be used as a Postgres identifier."""


class UnsupportedError(PghistoryError):
    """The construct is valid but not supported here (a type, a level, a server version)."""


class DriftError(PghistoryError):
    """What is installed in the database differs from what the specs describe."""


class ContextError(PghistoryError, ValueError):
    """Context metadata or context usage is invalid (e.g. metadata that is not JSON)."""


class HistoryError(PghistoryError):
    """A history query cannot be answered by the trackings (e.g. a column is not tracked)."""


class RevertConflictError(HistoryError):
    """A revert would overwrite changes made after the events being reverted."""
