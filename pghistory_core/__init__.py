"""pghistory_core: trigger-based history tracking for Postgres, for any Python ORM.

Pure Python, standard library only. Describe what to track (:class:`Table`,
:class:`Tracking`, trackers, conditions), render the SQL without a connection
(:mod:`pghistory_core.render`), install and check it over any DB-API connection
(:mod:`pghistory_core.lifecycle`), and group changes under a context
(:func:`context`).
"""

from __future__ import annotations

from pghistory_core.conditions import (
    AllChange,
    AllDontChange,
    AnyChange,
    AnyDontChange,
    Condition,
    ConditionNode,
    F,
    Q,
)
from pghistory_core.context import ActiveContext, context, current, ignore, is_ignored
from pghistory_core.errors import (
    ConfigurationError,
    ContextError,
    DriftError,
    DuplicateLabelError,
    HistoryError,
    InvalidConditionError,
    InvalidNameError,
    InvalidTrackerError,
    PghistoryError,
    RevertConflictError,
    UnknownColumnError,
    UnsupportedError,
)
from pghistory_core.backfill import BackfillResult, backfill
from pghistory_core.events import create_event
from pghistory_core.history import (
    Cursor,
    Event,
    Reference,
    RowVersion,
    events,
    object_as_of,
    object_history,
    table_as_of,
)
from pghistory_core.lifecycle import (
    State,
    Status,
    check,
    check_conditions,
    install,
    prune,
    render_install_script,
    status,
    uninstall,
)
from pghistory_core.partitions import (
    Partition,
    create_partitions,
    drop_partitions_before,
    list_partitions,
    partition_existing,
)
from pghistory_core.render import all_artefacts
from pghistory_core.retention import (
    count_events_before,
    count_unreferenced_contexts,
    delete_events,
    delete_unreferenced_contexts,
)
from pghistory_core.revert import RevertPlan, revert_context, revert_event, revert_to_event
from pghistory_core.schema import Column, Table
from pghistory_core.spec import DENORMALIZED, FK, NO_CONTEXT, ContextMode, Tracking
from pghistory_core.trackers import (
    Delete,
    DeleteEvent,
    Insert,
    InsertEvent,
    Level,
    ManualEvent,
    New,
    Old,
    Operation,
    Row,
    RowEvent,
    RowRef,
    Statement,
    Tracker,
    Update,
    UpdateEvent,
)

__version__ = "0.1.0"

__all__ = [
    "revert_to_event",
    "revert_event",
    "revert_context",
    "RevertPlan",
    "table_as_of",
    "object_history",
    "object_as_of",
    "events",
    "RowVersion",
    "Reference",
    "Event",
    "Cursor",
    "ActiveContext",
    "AllChange",
    "AllDontChange",
    "AnyChange",
    "AnyDontChange",
    "BackfillResult",
    "Column",
    "Condition",
    "ConditionNode",
    "ConfigurationError",
    "ContextError",
    "ContextMode",
    "DENORMALIZED",
    "Delete",
    "DeleteEvent",
    "DriftError",
    "DuplicateLabelError",
    "F",
    "FK",
    "HistoryError",
    "Insert",
    "InsertEvent",
    "InvalidConditionError",
    "InvalidNameError",
    "InvalidTrackerError",
    "Level",
    "ManualEvent",
    "NO_CONTEXT",
    "New",
    "Old",
    "Operation",
    "Partition",
    "PghistoryError",
    "Q",
    "RevertConflictError",
    "Row",
    "RowEvent",
    "RowRef",
    "State",
    "Statement",
    "Status",
    "Table",
    "Tracker",
    "Tracking",
    "UnknownColumnError",
    "UnsupportedError",
    "Update",
    "UpdateEvent",
    "all_artefacts",
    "backfill",
    "check",
    "check_conditions",
    "context",
    "count_events_before",
    "count_unreferenced_contexts",
    "create_partitions",
    "create_event",
    "delete_events",
    "delete_unreferenced_contexts",
    "drop_partitions_before",
    "current",
    "ignore",
    "install",
    "is_ignored",
    "list_partitions",
    "partition_existing",
    "prune",
    "render_install_script",
    "status",
    "uninstall",
]
