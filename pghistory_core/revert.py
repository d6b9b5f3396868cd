"""Reverting: restore a row to an event, or undo everything done under one context.

Layer: reading history (stage 5). SQL is rendered by the ``*_sql`` functions; the
executors run it over a DB-API connection in one transaction. Values are copied from the
event tables in SQL (``INSERT ... SELECT ... ON CONFLICT DO UPDATE``), never through
Python or JSON, so every type round-trips exactly. Generated columns are never written;
identity columns are written with ``OVERRIDING SYSTEM VALUE`` so a re-created row keeps
its primary key.

Undoing a context (:func:`revert_context`)
-------------------------------------------

The events of the context are read from every given tracking. Per tracked table, one
tracking that mirrors every column is the *source* (one that holds events of the context,
then one that also records every insert, update and delete, is preferred). For each object the context touched, the revert works
out two states from the source's events:

- **before** the context: absent if its first event in the context is an insert; the
  event's row if it is a delete or an update storing the OLD row; for an update storing
  the NEW row, the OLD-row event of the same update (a paired ``UpdateEvent(row=Old)``
  with the same condition), else the object's previous event outside the context, which
  is only trusted when the source records every insert and update (unconditionally, or
  with the default ``AnyChange()``). Otherwise the object cannot be
  reverted (it predates tracking, or its primary key changed: ``pgh_obj_id`` holds the new
  key) and :class:`~pghistory_core.errors.HistoryError` names it;
- **after** the context: its last event in the context (absent after a delete).

Each object then gets one operation: delete the row (it did not exist before) or write
the before-state back (insert or update, by primary key). The net effect equals undoing
every event in reverse order, with one statement per table and kind instead of one per
event. The operations are ordered so that every foreign key holds after each statement,
whichever transactions of the context the changes came from (a job's context often spans
many), and otherwise like undoing the transactions newest first (see
:func:`_execution_order`). Ordering by transaction alone is not enough: an object gets one
operation for all its events, so a parent created in one transaction and changed in a
later one was deleted before the child created in between.

Conflicts: an object conflicts when an event of another context follows the context's
last event for it, or when the current row differs from the context's last recorded
state (deleted, re-created, or other values). Conflicts are reported and nothing is
written unless ``force=True``, which writes the before-states anyway. Existing rows the
context touched are locked (``FOR UPDATE``) before the check, so they cannot change
between the check and the writes. A deleted row cannot be locked: a re-insert that finds
the row re-created meanwhile (``ON CONFLICT DO NOTHING`` inserts fewer rows) raises
:class:`~pghistory_core.errors.RevertConflictError` and rolls everything back, unless
``force=True``.

The revert runs inside :func:`pghistory_core.context` with metadata
``{"pghistory_revert_of": "<context id>"}``, so the triggers record it as events of a new
context that names the reverted one (inside an already active context, the revert joins
it and adds that key). Reverting a revert undoes it.
"""

from __future__ import annotations

import dataclasses
import datetime
import heapq
import json
import uuid
from collections.abc import Iterable, Sequence

from pghistory_core import db, sql, transport
from pghistory_core.context import current, new_context
from pghistory_core.errors import HistoryError, RevertConflictError
from pghistory_core.history import (
    Event,
    StateSource,
    _as_uuid,
    _column,
    _data,
    _identity,
    _json,
    _obj_id_json,
    full_row_problems,
    label_kinds,
    model_name,
    replay_problems,
    tracking_for_model,
)
from pghistory_core.render import event_table_ident
from pghistory_core.spec import NO_CONTEXT, Tracking
from pghistory_core.trackers import New, Old, RowEvent, Update

__all__ = [
    "REVERT_METADATA_KEY",
    "RevertConflict",
    "RevertOperation",
    "RevertPlan",
    "restore_sql",
    "delete_sql",
    "revert_to_event",
    "revert_to_event_sql",
    "revert_event",
    "revert_context",
]

#: The context metadata key naming the context a revert undid.
REVERT_METADATA_KEY = "pghistory_revert_of"

#: Event ids per statement when writing (keeps statements a reasonable size).
_BATCH = 5000

_T = sql.Identifier("pgh_t")  # the tracked table
_X = sql.Identifier("pgh_x")  # an event table
_K = sql.Identifier("pgh_k")  # the context's objects
_A = sql.Identifier("pgh_a")  # the context's last state event of an object
_P = sql.Identifier("pgh_p")  # the previous event before the context
_L = sql.Identifier("pgh_l")  # a later event

INSERT = "insert"
UPDATE = "update"
DELETE = "delete"


@dataclasses.dataclass(frozen=True)
class RevertOperation:
    """One write of a revert.

    ``kind`` is ``insert`` (re-create a row the context deleted), ``update`` (write back
    the values before the context) or ``delete`` (remove a row the context created).
    ``source_pgh_id`` is the event of ``model`` whose values are written (None for a
    delete); ``values`` are those values as JSON. ``key_pgh_id`` is an event carrying the
    object's key, its first event under the context (created at ``first_created_at``);
    ``last_created_at``/``last_pgh_id`` locate the context's last event for the object.
    """

    kind: str
    table: str
    model: str
    pk: object
    source_pgh_id: int | None
    key_pgh_id: int
    values: dict[str, object] | None
    last_created_at: datetime.datetime
    last_pgh_id: int
    first_created_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class RevertConflict:
    """An object changed after the context: ``reason`` says how."""

    table: str
    pk: object
    reason: str


@dataclasses.dataclass(frozen=True)
class RevertPlan:
    """What a revert does (or did). ``applied`` is False for dry runs and for plans
    refused because of conflicts. ``revert_context_id`` is the context the revert's own
    events were recorded under."""

    context_id: uuid.UUID
    operations: tuple[RevertOperation, ...]
    conflicts: tuple[RevertConflict, ...]
    applied: bool = False
    revert_context_id: uuid.UUID | None = None


# ------------------------------------------------------------------------------ writes


def _require_full_rows(tracking: Tracking, what: str) -> None:
    problems = full_row_problems(tracking)
    if problems:
        raise HistoryError(
            f"{what}: event table {model_name(tracking)} does not hold whole rows of "
            f"{tracking.table.qualified_name} ({'; '.join(problems)}); a revert must write every column"
        )
    if not tracking.table.primary_key:
        raise HistoryError(f"{what}: {tracking.table.qualified_name} has no primary key to write rows back by")


def _ids(pgh_ids: Sequence[int]) -> sql.Composable:
    return sql.SQL("{}::bigint[]").format(sql.Literal([int(i) for i in pgh_ids]))


def restore_sql(tracking: Tracking, pgh_ids: Sequence[int], *, overwrite: bool = True) -> sql.Composable:
    """Write the rows held by events *pgh_ids* of *tracking* back into the tracked table:
    insert them, or update the row with the same primary key (with ``overwrite=False``,
    leave an existing row alone: ``ON CONFLICT DO NOTHING``). Generated columns are
    skipped; identity columns are written (``OVERRIDING SYSTEM VALUE``)."""
    _require_full_rows(tracking, "restore")
    table = tracking.table
    writable = [col.name for col in table.columns if not col.generated]
    updates = [name for name in writable if name not in table.primary_key]
    on_conflict: sql.Composable
    if updates and overwrite:
        on_conflict = sql.SQL("DO UPDATE SET {}").format(
            sql.join(", ", [sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in updates])
        )
    else:
        on_conflict = sql.SQL("DO NOTHING")
    return sql.SQL(
        'INSERT INTO {table} AS {t} ({cols}) OVERRIDING SYSTEM VALUE SELECT {xcols} FROM {events} AS {x} '
        'WHERE {x}."pgh_id" = ANY({ids}) ON CONFLICT ({pk}) {on_conflict}'
    ).format(
        table=sql.Identifier(table.schema, table.name),
        t=_T,
        cols=sql.join(", ", [sql.Identifier(n) for n in writable]),
        xcols=sql.join(", ", [_column(_X, n) for n in writable]),
        events=event_table_ident(tracking),
        x=_X,
        ids=_ids(pgh_ids),
        pk=sql.join(", ", [sql.Identifier(k) for k in table.primary_key]),
        on_conflict=on_conflict,
    )


def delete_sql(tracking: Tracking, pgh_ids: Sequence[int]) -> sql.Composable:
    """Delete the tracked rows whose keys events *pgh_ids* of *tracking* carry."""
    identity = _identity(tracking, _X)
    if identity is None or not tracking.table.primary_key:
        raise HistoryError(
            f"cannot delete rows of {tracking.table.qualified_name} from event table {model_name(tracking)}: "
            "its events carry no primary key"
        )
    keys = tracking.table.primary_key if tracking.obj_id_type is None else tracking.table.primary_key[:1]
    match = sql.join(" AND ", [sql.SQL("{} = {}").format(_column(_T, k), e) for k, e in zip(keys, identity)])
    return sql.SQL('DELETE FROM {} AS {} USING {} AS {} WHERE {}."pgh_id" = ANY({}) AND {}').format(
        sql.Identifier(tracking.table.schema, tracking.table.name),
        _T,
        event_table_ident(tracking),
        _X,
        _X,
        _ids(pgh_ids),
        match,
    )


def revert_to_event_sql(tracking: Tracking, pgh_id: int) -> sql.Composable:
    """The SQL of :func:`revert_to_event`."""
    _require_full_rows(tracking, f"revert to event {pgh_id}")
    return restore_sql(tracking, [pgh_id])


def revert_to_event(conn: db.Connection, tracking: Tracking, pgh_id: int) -> None:
    """Restore the row an event of *tracking* recorded to the values it holds, in one
    transaction: update the row with that primary key, or re-create it (same key) if it
    was deleted. Requires every column to be tracked. The active context, if any, is sent
    so the triggers record the change under it."""
    query = revert_to_event_sql(tracking, pgh_id)
    exists = sql.SQL('SELECT 1 FROM {} WHERE "pgh_id" = {}').format(event_table_ident(tracking), sql.Literal(int(pgh_id)))
    with db.transaction(conn):
        if not db.fetch_all(conn, exists):
            raise HistoryError(f"event table {model_name(tracking)} has no event with pgh_id {pgh_id}")
        with transport.applied(conn):
            db.execute(conn, query)


def revert_event(conn: db.Connection, trackings: Sequence[Tracking], event: Event) -> None:
    """:func:`revert_to_event` for an :class:`~pghistory_core.history.Event` read from history."""
    revert_to_event(conn, tracking_for_model(trackings, event.pgh_model), event.pgh_id)


# ----------------------------------------------------------------------------- planning


@dataclasses.dataclass(frozen=True)
class _Source:
    labels: StateSource
    complete: bool  # records every insert and update: an object's previous event is trusted

    @property
    def tracking(self) -> Tracking:
        return self.labels.tracking


def _choose_source(trackings: Sequence[Tracking]) -> tuple[_Source | None, list[str]]:
    """The tracking whose events are written back: it must hold whole rows tied to a key.
    Preferred: one that records every insert, update and delete, then one that records
    every insert and update (enough to trust an object's previous event: a row deleted
    and re-inserted since would have an insert event)."""
    full = [t for t in trackings if not full_row_problems(t) and _identity(t, _X) is not None]
    reasons = [
        f"event table {model_name(t)}: {'; '.join(full_row_problems(t) or ['its events carry no primary key'])}"
        for t in trackings
        if t not in full
    ]
    for deletes in (True, False):
        for tracking in full:
            if not replay_problems(tracking, deletes=deletes):
                return _Source(label_kinds(tracking), True), reasons
    if full:
        return _Source(label_kinds(full[0]), False), reasons
    return None, reasons


def _key_columns(tracking: Tracking, alias: sql.Composable) -> list[sql.Composable]:
    identity = _identity(tracking, alias)
    if identity is None:  # callers choose trackings with an identity
        raise HistoryError(f"event table {model_name(tracking)} carries no primary key")
    return identity


def _tracked_key_columns(tracking: Tracking) -> tuple[str, ...]:
    return tracking.table.primary_key if tracking.obj_id_type is None else tracking.table.primary_key[:1]


def _same_object(tracking: Tracking, left: sql.Composable) -> sql.Composable:
    """``left``'s identity equals the context object's (``pgh_k.pgh_key_<i>``)."""
    return sql.join(
        " AND ",
        [
            sql.SQL("{} = {}.{}").format(expr, _K, sql.Identifier(f"pgh_key_{i}"))
            for i, expr in enumerate(_key_columns(tracking, left))
        ],
    )


def _lock_sql(tracking: Tracking, context_id: uuid.UUID) -> sql.Composable:
    keys = _tracked_key_columns(tracking)
    return sql.SQL(
        'SELECT 1 FROM {table} AS {t} WHERE ({tkeys}) IN (SELECT {xkeys} FROM {events} AS {x} '
        'WHERE {x}."pgh_context_id" = {ctx}) FOR UPDATE OF {t}'
    ).format(
        table=sql.Identifier(tracking.table.schema, tracking.table.name),
        t=_T,
        tkeys=sql.join(", ", [_column(_T, k) for k in keys]),
        xkeys=sql.join(", ", _key_columns(tracking, _X)),
        events=event_table_ident(tracking),
        x=_X,
        ctx=sql.Literal(context_id),
    )


def _plan_sql(source: _Source, context_id: uuid.UUID) -> sql.Composable:
    """One row per object the context touched in the source event table: its first two
    context events, its last, its last state event, the previous event before the
    context, whether another context wrote after it, and how the current row compares."""
    tracking = source.tracking
    labels = source.labels
    table = tracking.table
    events = event_table_ident(tracking)
    x_keys = _key_columns(tracking, _X)
    state_labels = sql.Literal([*labels.state_labels, *labels.delete_labels])
    compare = sql.join(
        " AND ",
        [
            sql.SQL("{} IS NOT DISTINCT FROM {}").format(*(_compared(alias, col.name, col.change_cast) for alias in (_T, _A)))
            for col in table.columns
        ],
    )
    t_keys = _tracked_key_columns(tracking)
    return sql.SQL(
        "WITH {k} AS (SELECT {keys}, {objid}::text AS \"pgh_obj\", "
        '(array_agg({x}."pgh_id" ORDER BY {x}."pgh_id"))[1:2] AS "pgh_ids", '
        '(array_agg({x}."pgh_label" ORDER BY {x}."pgh_id"))[1:2] AS "pgh_labels", '
        'max({x}."pgh_id") AS "pgh_last_id", max({x}."pgh_created_at") AS "pgh_last_at", '
        '(array_agg({x}."pgh_created_at" ORDER BY {x}."pgh_id"))[1] AS "pgh_first_at", '
        'max({x}."pgh_id") FILTER (WHERE {x}."pgh_label" = ANY({state}::text[])) AS "pgh_after_id" '
        'FROM {events} AS {x} WHERE {x}."pgh_context_id" = {ctx} GROUP BY {xkeys}) '
        'SELECT {k}."pgh_obj", {k}."pgh_ids", {k}."pgh_labels", {k}."pgh_last_id", {k}."pgh_last_at", {k}."pgh_first_at", '
        '{k}."pgh_after_id", {a}."pgh_label", {p}."pgh_id", {p}."pgh_label", '
        'EXISTS (SELECT FROM {events} AS {l} WHERE {l_same} AND {l}."pgh_id" > {k}."pgh_last_id" '
        'AND {l}."pgh_context_id" IS DISTINCT FROM {ctx}), '
        '{t}.{tkey0} IS NOT NULL, ({compare}) '
        'FROM {k} LEFT JOIN {events} AS {a} ON {a}."pgh_id" = {k}."pgh_after_id" '
        'LEFT JOIN LATERAL (SELECT {xp}."pgh_id", {xp}."pgh_label" FROM {events} AS {xp} WHERE {p_same} '
        'AND {xp}."pgh_id" < {k}."pgh_ids"[1] AND {xp}."pgh_label" = ANY({state}::text[]) '
        'ORDER BY {xp}."pgh_id" DESC LIMIT 1) AS {p} ON TRUE '
        "LEFT JOIN {table} AS {t} ON {t_same} "
        'ORDER BY {k}."pgh_last_at", {k}."pgh_last_id"'
    ).format(
        k=_K,
        keys=sql.join(", ", [sql.SQL("{} AS {}").format(e, sql.Identifier(f"pgh_key_{i}")) for i, e in enumerate(x_keys)]),
        xkeys=sql.join(", ", x_keys),
        objid=_obj_id_json(tracking, _X),
        x=_X,
        state=state_labels,
        events=events,
        ctx=sql.Literal(context_id),
        a=_A,
        p=_P,
        l=_L,
        l_same=_same_object(tracking, _L),
        t=_T,
        tkey0=sql.Identifier(t_keys[0]),
        compare=compare,
        xp=sql.Identifier("pgh_xp"),
        p_same=_same_object(tracking, sql.Identifier("pgh_xp")),
        table=sql.Identifier(table.schema, table.name),
        t_same=sql.join(
            " AND ",
            [sql.SQL("{} = {}.{}").format(_column(_T, k), _K, sql.Identifier(f"pgh_key_{i}")) for i, k in enumerate(t_keys)],
        ),
    )


def _compared(alias: sql.Composable, name: str, cast: str | None) -> sql.Composable:
    # Compared as the triggers' change conditions compare (Column.change_cast): json as
    # jsonb, types the core cannot vouch for as text.
    ref = _column(alias, name)
    return sql.SQL("({})::{}").format(ref, sql.SQL(cast)) if cast else ref


def _objects_sql(tracking: Tracking, context_id: uuid.UUID) -> sql.Composable:
    """The objects a (non-source) tracking recorded under the context, as JSON keys."""
    return sql.SQL('SELECT DISTINCT {}::text FROM {} AS {} WHERE {}."pgh_context_id" = {}').format(
        _obj_id_json(tracking, _X), event_table_ident(tracking), _X, _X, sql.Literal(context_id)
    )


def _values_sql(tracking: Tracking, pgh_ids: Sequence[int]) -> sql.Composable:
    return sql.SQL('SELECT {}."pgh_id", {}::text FROM {} AS {} WHERE {}."pgh_id" = ANY({})').format(
        _X, _data(_X), event_table_ident(tracking), _X, _X, _ids(pgh_ids)
    )


def _foreign_keys_sql(tables: Sequence[tuple[str, str]]) -> sql.Composable:
    pairs = sql.join(", ", [sql.SQL("({}, {})").format(sql.Literal(s), sql.Literal(t)) for s, t in tables])
    return sql.SQL(
        "SELECT cs.nspname, cc.relname, ps.nspname, pc.relname FROM pg_catalog.pg_constraint AS k "
        "JOIN pg_catalog.pg_class AS cc ON cc.oid = k.conrelid "
        "JOIN pg_catalog.pg_namespace AS cs ON cs.oid = cc.relnamespace "
        "JOIN pg_catalog.pg_class AS pc ON pc.oid = k.confrelid "
        "JOIN pg_catalog.pg_namespace AS ps ON ps.oid = pc.relnamespace "
        "WHERE k.contype = 'f' AND (cs.nspname, cc.relname) IN ({pairs}) AND (ps.nspname, pc.relname) IN ({pairs})"
    ).format(pairs=pairs)


def _paired_old(tracking: Tracking, new_label: str, old_label: str) -> bool:
    """Whether an OLD-row update tracker fires on exactly the updates a NEW-row one does."""
    trackers = {t.label: t for t in tracking.trackers if isinstance(t, RowEvent)}
    new, old = trackers.get(new_label), trackers.get(old_label)
    return (
        new is not None
        and old is not None
        and new.operation == Update
        and old.operation == Update
        and new.row == New
        and old.row == Old
        and new.condition == old.condition
    )


@dataclasses.dataclass(frozen=True)
class _Planned:
    operations: list[RevertOperation]
    conflicts: list[RevertConflict]
    problems: list[str]
    objects: set[str]


def _int(value: object) -> int:
    if isinstance(value, (int, str)):
        return int(value)
    raise TypeError(f"expected an integer from the database, got {value!r}")


@dataclasses.dataclass(frozen=True)
class _ObjectRow:
    """One row of :func:`_plan_sql`: what the source event table says about one object."""

    pk: object
    ids: tuple[int, ...]  # the object's first two events under the context
    labels: tuple[str, ...]  # and their labels
    last_id: int
    last_at: datetime.datetime
    first_at: datetime.datetime  # the time of the object's first event under the context
    after_id: int | None  # the context's last state event (NEW row, manual or delete)
    after_label: str | None
    prev_id: int | None  # the object's last state event before the context
    prev_label: str | None
    changed_later: bool  # another context wrote an event after the context's last one
    exists: bool  # the row exists now
    matches: bool | None  # ...with the values of the after event

    @classmethod
    def parse(cls, row: Sequence[object]) -> _ObjectRow:
        obj, ids, labels, last_id, last_at, first_at, after_id, after_label, prev_id, prev_label, later, exists, matches = row
        if not isinstance(ids, (list, tuple)) or not isinstance(labels, (list, tuple)):
            raise TypeError(f"expected arrays from the database, got {ids!r} and {labels!r}")
        if not isinstance(last_at, datetime.datetime) or not isinstance(first_at, datetime.datetime):
            raise TypeError(f"expected timestamps from the database, got {last_at!r} and {first_at!r}")
        return cls(
            pk=_json(obj),
            ids=tuple(_int(i) for i in ids),
            labels=tuple(str(label) for label in labels),
            last_id=_int(last_id),
            last_at=last_at,
            first_at=first_at,
            after_id=None if after_id is None else _int(after_id),
            after_label=None if after_label is None else str(after_label),
            prev_id=None if prev_id is None else _int(prev_id),
            prev_label=None if prev_label is None else str(prev_label),
            changed_later=bool(later),
            exists=bool(exists),
            matches=None if matches is None else bool(matches),
        )


def _before(source: _Source, row: _ObjectRow) -> tuple[int | None, str | None]:
    """The event holding the object's state before the context (None: it did not exist),
    or a problem saying why that state is unknown."""
    labels = source.labels
    tracking = source.tracking
    first = row.labels[0]
    second = row.labels[1] if len(row.labels) > 1 else None
    if first in labels.insert_labels:
        return None, None
    if first in labels.delete_labels or first in labels.old_update_labels:
        return row.ids[0], None  # the OLD row: exactly the state before
    if first not in labels.state_labels:
        return None, f"event {row.ids[0]} has label {first!r}, which no tracker of {model_name(tracking)} has"
    if first not in _update_new_labels(tracking):
        return row.ids[0], None  # a manual event: the row as it was, before any later change
    if second is not None and second in labels.old_update_labels and _paired_old(tracking, first, second):
        return row.ids[1], None  # the OLD row of the same update
    if source.complete and row.prev_id is not None and row.prev_label in labels.state_labels:
        return row.prev_id, None
    if not source.complete:
        why = f"{model_name(tracking)} does not record every insert and update, so earlier events cannot be trusted"
    elif row.prev_id is None:
        why = "no earlier event (the row predates tracking, or its primary key changed to this one)"
    else:
        why = f"its previous event ({row.prev_id}) is a delete and no insert followed (a primary key change?)"
    return None, f"the state before event {row.ids[0]} ({first!r}) is unknown: {why}"


def _conflict(source: _Source, row: _ObjectRow) -> str | None:
    """How the object changed after the context, if it did."""
    if row.changed_later:
        return "changed again after the context (by another context)"
    if row.after_id is None:
        return None  # only OLD rows recorded: the state after the context is not known
    gone = row.after_label in source.labels.delete_labels
    if gone and row.exists:
        return "re-created after the context deleted it"
    if not gone and not row.exists:
        return "deleted after the context"
    if not gone and not row.matches:
        return "its values differ from the context's last recorded state"
    return None


def _plan_table(conn: db.Connection, source: _Source, context_id: uuid.UUID) -> _Planned:
    tracking = source.tracking
    table = tracking.table.qualified_name
    model = model_name(tracking)
    planned = _Planned([], [], [], set())
    pending: list[tuple[str, _ObjectRow, int | None]] = []
    for raw in db.fetch_all(conn, _plan_sql(source, context_id)):
        row = _ObjectRow.parse(raw)
        planned.objects.add(_key(row.pk))
        before_id, problem = _before(source, row)
        if problem is not None:
            planned.problems.append(f"{table} {row.pk!r}: {problem}")
            continue
        conflict = _conflict(source, row)
        if conflict is not None:
            planned.conflicts.append(RevertConflict(table, row.pk, conflict))
        if before_id is not None:
            pending.append((UPDATE if row.exists else INSERT, row, before_id))
        elif row.exists or (row.after_id is not None and row.after_label not in source.labels.delete_labels):
            pending.append((DELETE, row, None))
        # else: created and deleted within the context, and still absent: nothing to undo.
    values: dict[int, dict[str, object]] = {}
    restore_ids = [before_id for _, _, before_id in pending if before_id is not None]
    for start in range(0, len(restore_ids), _BATCH):
        for pgh_id, data in db.fetch_all(conn, _values_sql(tracking, restore_ids[start : start + _BATCH])):
            decoded = _json(data)
            if isinstance(decoded, dict):
                values[_int(pgh_id)] = decoded
    for kind, row, before_id in pending:
        planned.operations.append(
            RevertOperation(
                kind=kind,
                table=table,
                model=model,
                pk=row.pk,
                source_pgh_id=before_id,
                key_pgh_id=row.ids[0],
                values=values.get(before_id) if before_id is not None else None,
                last_created_at=row.last_at,
                last_pgh_id=row.last_id,
                first_created_at=row.first_at,
            )
        )
    return planned


def _update_new_labels(tracking: Tracking) -> tuple[str, ...]:
    return tuple(
        t.label for t in tracking.trackers if isinstance(t, RowEvent) and t.operation == Update and t.row == New
    )


def _key(pk: object) -> str:
    return json.dumps(pk, sort_keys=True, default=str)


@dataclasses.dataclass(frozen=True)
class _Order:
    """The foreign keys between the tables a revert writes, from the catalog: for each
    table, the tables it references (``parents``) and the group of tables it shares a
    foreign-key cycle with (``cycle``: its own name alone when it is in none; a table that
    references itself is in a cycle with itself)."""

    parents: dict[str, frozenset[str]]
    cycle: dict[str, frozenset[str]]
    self_referencing: frozenset[str]


def _table_order(conn: db.Connection, tables: Sequence[tuple[str, str]]) -> _Order:
    names = [f"{s}.{t}" for s, t in tables]
    parents: dict[str, set[str]] = {name: set() for name in names}
    selfish: set[str] = set()
    if tables:
        for cs, ct, ps, pt in db.fetch_all(conn, _foreign_keys_sql(tables)):
            child, parent = f"{cs}.{ct}", f"{ps}.{pt}"
            if child == parent:
                selfish.add(child)
            elif child in parents:
                parents[child].add(parent)

    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    ancestors = {name: reaches(name) for name in names}
    cycle = {name: frozenset({name} | {o for o in ancestors[name] if name in ancestors.get(o, set())}) for name in names}
    return _Order({n: frozenset(p) for n, p in parents.items()}, cycle, frozenset(selfish))


_KIND_ORDER = {DELETE: 0, UPDATE: 1, INSERT: 2}


def _anchor(op: RevertOperation) -> datetime.datetime:
    """The time of the event an operation undoes, in a replay of the context backwards: a
    delete undoes the object's first event (its insert), an update returns it to its state
    before its first event, a re-insert undoes its last event (its delete)."""
    if op.kind == INSERT or op.first_created_at is None:
        return op.last_created_at
    return op.first_created_at


def _execution_order(operations: Iterable[RevertOperation], order: _Order) -> list[RevertOperation]:
    """Operations in an order that keeps every foreign key valid after each statement, and
    otherwise as close as possible to undoing the context's transactions newest first.

    Foreign keys give hard rules between groups of operations (a table and a kind), for
    each table C referencing a table P outside C's cycle: re-inserts into P come before
    re-inserts into and updates of C (a before-state references only rows that existed
    before the context, maybe re-inserted), and updates of and deletes from C come before
    deletes from P (a row the context created may be referenced until then). Inside a
    foreign-key cycle (or a self-referencing table) the groups go re-inserts, updates,
    deletes. Among the operations those rules allow, the one whose undone event is newest
    runs first (:func:`_anchor`): a unique value the context moved from one row to another
    in separate transactions is free again when its first owner is written back. Ties (one
    transaction) go deletes, updates, re-inserts, which frees unique values first.
    Consecutive operations of one table and kind form one statement."""
    ops = list(operations)
    groups: dict[tuple[str, str], list[RevertOperation]] = {}
    for op in ops:
        groups.setdefault((op.table, op.kind), []).append(op)
    preds: dict[tuple[str, str], set[tuple[str, str]]] = {g: set() for g in groups}

    def edge(before: tuple[str, str], after: tuple[str, str]) -> None:
        if before in groups and after in groups and before != after:
            preds[after].add(before)

    for table in {t for t, _ in groups}:
        cycle = order.cycle.get(table, frozenset({table}))
        for parent in order.parents.get(table, frozenset()):
            if parent in cycle:
                continue
            edge((parent, INSERT), (table, INSERT))
            edge((parent, INSERT), (table, UPDATE))
            edge((table, UPDATE), (parent, DELETE))
            edge((table, DELETE), (parent, DELETE))
        if len(cycle) > 1 or table in order.self_referencing:
            for other in cycle:
                edge((other, INSERT), (table, UPDATE))
                edge((other, INSERT), (table, DELETE))
                edge((other, UPDATE), (table, DELETE))

    succs: dict[tuple[str, str], list[tuple[str, str]]] = {g: [] for g in groups}
    for group, before in preds.items():
        for b in before:
            succs[b].append(group)
    # A group that others wait for is as urgent as the newest operation waiting for it
    # (transitively): otherwise an old delete of a child would hold back a newer delete of
    # its parent behind older re-inserts, which may need the value that delete frees.
    newest = {g: max(_anchor(op).timestamp() for op in members) for g, members in groups.items()}
    urgency: dict[tuple[str, str], float] = {}

    def urgent(group: tuple[str, str], seen: frozenset[tuple[str, str]] = frozenset()) -> float:
        if group not in urgency:
            later = [urgent(after, seen | {group}) for after in succs[group] if after not in seen]
            urgency[group] = max([newest[group], *later])
        return urgency[group]

    def priority(op: RevertOperation) -> tuple[float, int, str, int]:
        inherited = max([_anchor(op).timestamp(), *(urgent(after) for after in succs[(op.table, op.kind)])])
        return (-inherited, _KIND_ORDER[op.kind], op.table, -op.last_pgh_id)

    waiting = {g: len(p) for g, p in preds.items()}
    left = {g: len(members) for g, members in groups.items()}
    heap: list[tuple[tuple[float, int, str, int], int, RevertOperation]] = []
    serial = 0  # ties never compare operations

    def release(group: tuple[str, str]) -> None:
        nonlocal serial
        for op in groups[group]:
            heapq.heappush(heap, (priority(op), serial, op))
            serial += 1

    for group, count in waiting.items():
        if count == 0:
            release(group)
    result: list[RevertOperation] = []
    while heap:
        _, _, op = heapq.heappop(heap)
        result.append(op)
        group = (op.table, op.kind)
        left[group] -= 1
        if left[group] == 0:
            for after in succs[group]:
                waiting[after] -= 1
                if waiting[after] == 0:
                    release(after)
    if len(result) != len(ops):
        # A cycle among groups (not expected from the rules above): keep every operation,
        # in the safest general order.
        done = {id(op) for op in result}
        rest = sorted((op for op in ops if id(op) not in done), key=lambda op: (2 - _KIND_ORDER[op.kind], op.table))
        result.extend(rest)
    return result


def _plan(
    conn: db.Connection, trackings: Sequence[Tracking], context_id: uuid.UUID, *, lock: bool
) -> tuple[list[RevertOperation], list[RevertConflict], list[_Source]]:
    by_table: dict[str, list[Tracking]] = {}
    for tracking in trackings:
        if tracking.context != NO_CONTEXT:
            by_table.setdefault(tracking.table.qualified_name, []).append(tracking)
    operations: list[RevertOperation] = []
    conflicts: list[RevertConflict] = []
    problems: list[str] = []
    sources: list[_Source] = []
    touched = False
    for table, table_trackings in by_table.items():
        with_events = [t for t in table_trackings if _has_events(conn, t, context_id)]
        if not with_events:
            continue
        touched = True
        # Among the trackings that recorded the context first: one installed after it (a
        # second event table added later) holds none of its events.
        source, reasons = _choose_source(with_events)
        if source is None:
            source, reasons = _choose_source(table_trackings)
        if source is None:
            problems.append(
                f"{table}: no tracking mirrors every column, so its rows cannot be written back ({' | '.join(reasons)})"
            )
            continue
        sources.append(source)
        if lock:
            db.fetch_all(conn, _lock_sql(source.tracking, context_id))
        planned = _plan_table(conn, source, context_id)
        operations.extend(planned.operations)
        conflicts.extend(planned.conflicts)
        problems.extend(planned.problems)
        # Changes recorded only by a tracking with partial rows cannot be written back.
        # (Events that carry no key at all cannot be checked, and are ignored.)
        for tracking in with_events:
            if tracking is source.tracking or _identity(tracking, _X) is None:
                continue
            objects = {_key(_json(r[0])) for r in db.fetch_all(conn, _objects_sql(tracking, context_id))}
            missing = sorted(objects - planned.objects)
            if missing:
                problems.append(
                    f"{table}: {len(missing)} object(s) changed under the context are only recorded in "
                    f"{model_name(tracking)}, which does not hold whole rows (e.g. {missing[0]})"
                )
    if problems:
        raise HistoryError(f"cannot revert context {context_id}: " + "; ".join(problems))
    if not touched:
        models = ", ".join(model_name(t) for t in trackings) or "none"
        raise HistoryError(f"no events under context {context_id} in the given event tables ({models})")
    return operations, conflicts, sources


def _has_events(conn: db.Connection, tracking: Tracking, context_id: uuid.UUID) -> bool:
    query = sql.SQL('SELECT 1 FROM {} WHERE "pgh_context_id" = {} LIMIT 1').format(
        event_table_ident(tracking), sql.Literal(context_id)
    )
    return bool(db.fetch_all(conn, query))


def _apply(
    conn: db.Connection,
    context_id: uuid.UUID,
    operations: Sequence[RevertOperation],
    sources: Sequence[_Source],
    *,
    force: bool,
) -> None:
    by_model = {model_name(s.tracking): s.tracking for s in sources}
    batch: list[RevertOperation] = []

    def flush() -> None:
        if not batch:
            return
        tracking = by_model[batch[0].model]
        kind = batch[0].kind
        if kind == DELETE:
            db.execute(conn, delete_sql(tracking, [op.key_pgh_id for op in batch]))
        elif kind == UPDATE or force:
            ids = [op.source_pgh_id for op in batch if op.source_pgh_id is not None]
            db.execute(conn, restore_sql(tracking, ids))
        else:
            # Re-inserts: the rows were absent when planned, but a row cannot be locked
            # before it exists, so a concurrent transaction may have created one since (or
            # be creating it: the insert waits for it). Overwriting it would lose that
            # change unseen; it is a conflict like any other.
            ids = [op.source_pgh_id for op in batch if op.source_pgh_id is not None]
            written = sql.SQL('WITH "pgh_w" AS ({} RETURNING 1) SELECT count(*) FROM "pgh_w"').format(
                restore_sql(tracking, ids, overwrite=False)
            )
            count = int(str(db.fetch_all(conn, written)[0][0]))
            if count != len(ids):
                shown = ", ".join(repr(op.pk) for op in batch[:10])
                raise RevertConflictError(
                    f"cannot revert context {context_id}: {len(ids) - count} row(s) of {tracking.table.qualified_name} that the "
                    f"context deleted were re-created by another transaction while the revert ran (among {shown}). "
                    "Nothing was written; run the revert again to see the conflicts, or pass force=True to "
                    "overwrite them"
                )
        batch.clear()

    for op in operations:
        same = batch and batch[0].model == op.model and batch[0].kind == op.kind
        if not same or len(batch) >= _BATCH:
            flush()
        batch.append(op)
    flush()


def revert_context(
    conn: db.Connection,
    trackings: Sequence[Tracking],
    context_id: uuid.UUID | str,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> RevertPlan:
    """Undo everything recorded under *context_id* in the event tables of *trackings*,
    in one transaction (see the module docstring for the rules).

    Returns the plan: the operations (in the order they run) and the conflicts.
    ``dry_run=True`` only plans. Conflicts raise
    :class:`~pghistory_core.errors.RevertConflictError` and write nothing, unless
    ``force=True``. Objects whose earlier state is unknown raise
    :class:`~pghistory_core.errors.HistoryError`.
    """
    ctx = _as_uuid(context_id)
    trackings = tuple(trackings)
    if not trackings:
        raise HistoryError("no trackings given: pass the trackings whose events to revert")
    if dry_run:
        with db.transaction(conn):
            operations, conflicts, sources = _plan(conn, trackings, ctx, lock=False)
            order = _table_order(conn, [(s.tracking.table.schema, s.tracking.table.name) for s in sources])
        return RevertPlan(ctx, tuple(_execution_order(operations, order)), tuple(conflicts))
    # A new context even inside a caller's (a request reverting a job): the revert must be
    # told apart from the caller's own changes and must not add to its metadata, yet it
    # keeps the caller's metadata (who reverted, from which request).
    outer = current()
    metadata = {**(outer.metadata if outer is not None else {}), REVERT_METADATA_KEY: str(ctx)}
    with new_context(**metadata) as active:
        with db.transaction(conn):
            operations, conflicts, sources = _plan(conn, trackings, ctx, lock=True)
            order = _table_order(conn, [(s.tracking.table.schema, s.tracking.table.name) for s in sources])
            ordered = tuple(_execution_order(operations, order))
            if conflicts and not force:
                shown = "; ".join(f"{c.table} {c.pk!r}: {c.reason}" for c in conflicts[:10])
                more = f" (and {len(conflicts) - 10} more)" if len(conflicts) > 10 else ""
                raise RevertConflictError(
                    f"cannot revert context {ctx}: {len(conflicts)} object(s) changed after it: {shown}{more}. "
                    "Nothing was written; pass force=True to overwrite them, or dry_run=True to inspect the plan"
                )
            with transport.applied(conn):
                _apply(conn, ctx, ordered, sources, force=force)
        return RevertPlan(ctx, ordered, tuple(conflicts), applied=True, revert_context_id=active.id)
