"""Transport: how the runtime context reaches the triggers, inside the current transaction.

Layer: runtime. The client hands Postgres three transaction-local settings with one
``SELECT set_config(..., true)`` statement: the context id, its metadata (JSON text) and
the ignore switch. ``is_local = true`` means they vanish at commit or rollback, so nothing
outlives the transaction on the server session (safe behind PgBouncer in transaction
mode).

This module renders that statement; integrations (raw drivers, ORMs) decide when to send
it, following the rules documented here.
"""

from __future__ import annotations

from pghistory_core import db, sql
from pghistory_core.context import ActiveContext, current, is_ignored
from pghistory_core.render import SETTING_CONTEXT_ID, SETTING_CONTEXT_METADATA, SETTING_IGNORE

__all__ = ["context_statement", "apply"]


def context_statement(active: ActiveContext | None, ignored: bool = False) -> str:
    """``SELECT set_config(...)`` for *active* (or clearing the settings when None)."""
    context_id = str(active.id) if active is not None else ""
    metadata = active.metadata_json if active is not None else ""
    return sql.render(
        sql.SQL("SELECT set_config({}, {}, true), set_config({}, {}, true), set_config({}, {}, true)").format(
            sql.Literal(SETTING_CONTEXT_ID),
            sql.Literal(context_id),
            sql.Literal(SETTING_CONTEXT_METADATA),
            sql.Literal(metadata),
            sql.Literal(SETTING_IGNORE),
            sql.Literal("on" if ignored else ""),
        )
    )


def apply(conn: db.Connection) -> None:
    """Send the current thread/task's context and ignore switch on *conn*, for the open
    transaction. For connections without an integration; it has no effect in autocommit
    mode (the settings end with the statement)."""
    db.execute(conn, context_statement(current(), is_ignored()))
