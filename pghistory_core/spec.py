"""The tracking spec: what to track on one table and how.

Layer: description. A :class:`Tracking` names the tracked table, the tracked columns
(``fields``/``exclude``), the trackers, the event table, the object reference, the
context mode, append-only protection, the created-at function and the default trigger
level. It is validated as a whole on construction: unknown columns, duplicate labels and
conditions that cannot compile fail here, before any SQL is rendered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from pghistory_core import conditions as c
from pghistory_core import names
from pghistory_core.errors import ConfigurationError, DuplicateLabelError, InvalidTrackerError
from pghistory_core.schema import Column, Table
from pghistory_core.trackers import (
    InsertEvent,
    Level,
    ManualEvent,
    Row,
    RowEvent,
    Statement,
    Tracker,
    UpdateEvent,
)

__all__ = [
    "ContextMode",
    "FK",
    "DENORMALIZED",
    "NO_CONTEXT",
    "Tracking",
    "ResolvedTracker",
    "EVENT_COLUMNS",
    "CREATED_AT_FUNCTIONS",
    "DEFAULT_LEVEL",
    "DEFAULT_CONTEXT_SCHEMA",
    "PARTITION_INTERVALS",
]


@dataclasses.dataclass(frozen=True)
class ContextMode:
    """How an event refers to its context.

    ``FK``: ``pgh_context_id`` references a row of the shared ``pghistory_context`` table.
    ``DENORMALIZED``: ``pgh_context_id`` plus the metadata copied into ``pgh_context`` (jsonb).
    ``NO_CONTEXT``: no context columns.
    """

    name: str

    def __repr__(self) -> str:
        return self.name


FK = ContextMode("FK")
DENORMALIZED = ContextMode("DENORMALIZED")
NO_CONTEXT = ContextMode("NO_CONTEXT")

#: Columns every event table has, before the mirrored ones. Tracked columns may not use them.
EVENT_COLUMNS = ("pgh_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "pgh_context_id", "pgh_context")
#: Names a tracked column cannot have: the event columns and the row-pairing helper.
RESERVED_COLUMNS = (*EVENT_COLUMNS, "pgh_pair_rn")

#: Allowed values for ``created_at``; ``now()`` is the transaction's start time, so all
#: events of one transaction share it (django-pghistory's behaviour).
CREATED_AT_FUNCTIONS = ("now()", "clock_timestamp()", "statement_timestamp()", "transaction_timestamp()")

#: The level used when neither the tracker nor the tracking sets one. Statement level
#: writes one INSERT per statement from the transition tables; see benchmarks/.
DEFAULT_LEVEL = Statement

DEFAULT_CONTEXT_SCHEMA = "public"

#: Allowed values for ``partition``: the length of each range partition of the event table
#: (by ``pgh_created_at``, boundaries at midnight UTC; weeks start on Monday).
PARTITION_INTERVALS = ("day", "week", "month", "year")

_SERIAL_TYPES = {"serial": "integer", "bigserial": "bigint", "smallserial": "smallint"}


@dataclasses.dataclass(frozen=True)
class ResolvedTracker:
    """A trigger-installing tracker with its effective level and names."""

    tracker: RowEvent
    level: Level
    trigger_name: str
    function_name: str


def _as_tuple(value: Iterable[str] | str | None, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigurationError(f"{what} must be a list of column names, not a single str ({value!r})")
    return tuple(value)


@dataclasses.dataclass(frozen=True)
class Tracking:
    """What to track on one table. See the module docstring.

    ``trackers`` empty means ``InsertEvent(), UpdateEvent()``. ``fields=None`` tracks every
    column; ``exclude`` removes columns from that set. ``obj_ref=False`` drops
    ``pgh_obj_id`` (needed for tables without a single-column primary key).
    ``partition`` (``"day"``, ``"week"``, ``"month"``, ``"year"``) makes the event table a
    range-partitioned table by ``pgh_created_at`` (see :mod:`pghistory_core.partitions`).
    """

    table: Table
    trackers: tuple[Tracker, ...] = ()
    fields: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    event_table: str | None = None
    event_schema: str | None = None
    obj_ref: bool = True
    context: ContextMode = FK
    append_only: bool = False
    created_at: str = "now()"
    level: Level | None = None
    context_schema: str = DEFAULT_CONTEXT_SCHEMA
    partition: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.table, Table):
            raise ConfigurationError(f"Tracking.table must be a Table, got {self.table!r}")
        where = f"tracking of {self.table.qualified_name}"
        trackers = tuple(self.trackers) or (InsertEvent(), UpdateEvent())
        object.__setattr__(self, "trackers", trackers)
        object.__setattr__(self, "fields", _as_tuple(self.fields, f"{where}: fields"))
        object.__setattr__(self, "exclude", _as_tuple(self.exclude, f"{where}: exclude") or ())
        for tracker in trackers:
            if not isinstance(tracker, Tracker):
                raise InvalidTrackerError(f"{where}: trackers must be Tracker objects, got {tracker!r}")
        if self.fields is not None:
            self.table.check_columns(self.fields, f"{where}: fields")
            if not self.fields:
                raise ConfigurationError(f"{where}: fields=[] tracks nothing; leave it unset to track every column")
        self.table.check_columns(self.exclude, f"{where}: exclude")
        if not self.tracked_columns:
            raise ConfigurationError(f"{where}: fields/exclude leave no column to track")
        for name in self.tracked_columns:
            if name in RESERVED_COLUMNS:
                raise ConfigurationError(
                    f"{where}: column {name!r} clashes with the event table's own {name!r} column; exclude it"
                )
        if not isinstance(self.context, ContextMode):
            raise ConfigurationError(f"{where}: context must be FK, DENORMALIZED or NO_CONTEXT, got {self.context!r}")
        if self.level is not None and not isinstance(self.level, Level):
            raise ConfigurationError(f"{where}: level must be Row or Statement, got {self.level!r}")
        if self.created_at not in CREATED_AT_FUNCTIONS:
            raise ConfigurationError(
                f"{where}: created_at must be one of {', '.join(CREATED_AT_FUNCTIONS)}; got {self.created_at!r}"
            )
        if self.partition is not None and self.partition not in PARTITION_INTERVALS:
            raise ConfigurationError(
                f"{where}: partition must be one of {', '.join(PARTITION_INTERVALS)} (or None), got {self.partition!r}"
            )
        if self.partition is not None and self.append_only:
            raise ConfigurationError(
                f"{where}: an append-only event table cannot be partitioned: partitions are dropped to "
                "remove old history, which append-only forbids"
            )
        names.validate_explicit(self.event_table_name, f"{where}: event table name")
        names.validate_explicit(self.event_schema_name, f"{where}: event schema")
        names.validate_explicit(self.context_schema, f"{where}: context schema")
        if self.obj_ref and len(self.table.primary_key) != 1:
            raise ConfigurationError(
                f"{where}: the object reference (pgh_obj_id) needs a single-column primary key, "
                f"the table has {list(self.table.primary_key)}; pass obj_ref=False"
            )
        labels: dict[str, Tracker] = {}
        for tracker in trackers:
            if tracker.label in labels:
                raise DuplicateLabelError(
                    f"{where}: label {tracker.label!r} is used by two trackers "
                    f"({labels[tracker.label]!r} and {tracker!r}); labels must be unique per tracked table"
                )
            labels[tracker.label] = tracker
        trigger_names: set[str] = set()
        for resolved in self.resolved_trackers:
            if resolved.trigger_name in trigger_names:
                raise DuplicateLabelError(f"{where}: two trackers share the trigger name {resolved.trigger_name!r}")
            trigger_names.add(resolved.trigger_name)
            # Compile now so unknown columns and impossible conditions fail at definition.
            from pghistory_core import render  # local: render imports this module

            render.compile_tracker_condition(self, resolved)

    # ------------------------------------------------------------------ derived values

    @property
    def event_table_name(self) -> str:
        return self.event_table if self.event_table is not None else names.fit(self.table.name, "event")

    @property
    def event_schema_name(self) -> str:
        return self.event_schema if self.event_schema is not None else self.table.schema

    @property
    def tracked_columns(self) -> tuple[str, ...]:
        chosen = self.fields if self.fields is not None else self.table.column_names
        excluded = set(self.exclude)
        # Keep table order so event tables are stable whatever order fields= lists.
        return tuple(name for name in self.table.column_names if name in chosen and name not in excluded)

    @property
    def mirrored_columns(self) -> tuple[Column, ...]:
        return tuple(self.table.column(name) for name in self.tracked_columns)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(t.label for t in self.trackers)

    @property
    def pk_column(self) -> Column | None:
        if len(self.table.primary_key) != 1:
            return None
        return self.table.column(self.table.primary_key[0])

    @property
    def obj_id_type(self) -> str | None:
        column = self.pk_column
        if not self.obj_ref or column is None:
            return None
        return _SERIAL_TYPES.get(column.type.strip().lower(), column.type)

    def tracker(self, label: str) -> Tracker:
        for tracker in self.trackers:
            if tracker.label == label:
                return tracker
        raise ConfigurationError(
            f"tracking of {self.table.qualified_name} has no tracker labelled {label!r}; "
            f"its labels are: {', '.join(repr(x) for x in self.labels)}"
        )

    def effective_level(self, tracker: RowEvent) -> Level:
        if tracker.level is not None:
            return tracker.level
        level = self.level or DEFAULT_LEVEL
        # Raw SQL conditions name OLD/NEW and cannot be rewritten for transition tables.
        if level == Statement and tracker.condition is not None and c.has_raw(tracker.condition):
            return Row
        return level

    @property
    def resolved_trackers(self) -> tuple[ResolvedTracker, ...]:
        result = []
        for tracker in self.trackers:
            if not isinstance(tracker, RowEvent):
                continue
            trigger_name = tracker.trigger_name or names.fit("pgh", tracker.label)
            function_name = names.fit("pgh", self.event_table_name, tracker.label)
            result.append(ResolvedTracker(tracker, self.effective_level(tracker), trigger_name, function_name))
        return tuple(result)

    @property
    def manual_labels(self) -> tuple[str, ...]:
        return tuple(t.label for t in self.trackers if isinstance(t, ManualEvent))

    def replace(self, **changes: object) -> Tracking:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def check_unique_labels(trackings: Sequence[Tracking]) -> None:
    """Labels and event tables must be unique across all trackings of one table."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    tables: dict[tuple[str, str], str] = {}
    triggers: dict[tuple[str, str, str], str] = {}
    for tracking in trackings:
        key = (tracking.table.schema, tracking.table.name)
        event_key = (tracking.event_schema_name, tracking.event_table_name)
        owner = tracking.table.qualified_name
        if event_key in tables and tables[event_key] != f"{owner}#{id(tracking)}":
            raise DuplicateLabelError(
                f"event table {'.'.join(event_key)} is used by two trackings "
                f"({tables[event_key].split('#')[0]} and {owner}); give one an explicit event_table"
            )
        tables[event_key] = f"{owner}#{id(tracking)}"
        labels = seen.setdefault(key, {})
        for label in tracking.labels:
            if label in labels:
                raise DuplicateLabelError(
                    f"label {label!r} is used twice on {owner} (event tables {labels[label]} and "
                    f"{tracking.event_table_name}); labels must be unique per tracked table"
                )
            labels[label] = tracking.event_table_name
        for resolved in tracking.resolved_trackers:
            trigger_key = (*key, resolved.trigger_name)
            if trigger_key in triggers:
                raise DuplicateLabelError(f"trigger name {resolved.trigger_name!r} is used twice on {owner}")
            triggers[trigger_key] = tracking.event_table_name
