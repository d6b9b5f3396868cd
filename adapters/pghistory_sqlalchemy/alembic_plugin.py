"""The Alembic plugin entry point (``alembic.plugins``: ``pghistory``).

Layer: adapter (Alembic registration). Alembic imports every ``alembic.plugins`` entry
point while ``alembic.autogenerate`` is still initialising, so this module imports nothing
from Alembic's autogenerate package at import time: the comparator it registers loads
:mod:`pghistory_sqlalchemy.migrations` on first use.
"""

from __future__ import annotations

__all__ = ["setup"]


def _compare_history(*args: object, **kwargs: object) -> object:
    from pghistory_sqlalchemy.migrations import compare_history

    return compare_history(*args, **kwargs)  # type: ignore[arg-type]


def setup(plugin: object) -> None:
    """Register the history comparator; it runs after Alembic's table comparison, so event
    tables exist before their comments are written and triggers come after their tables."""
    from alembic.util import DispatchPriority

    plugin.add_autogenerate_comparator(_compare_history, "schema", priority=DispatchPriority.LAST)  # type: ignore[attr-defined]
