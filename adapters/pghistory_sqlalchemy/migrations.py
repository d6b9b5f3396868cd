"""Alembic: autogenerate and apply history triggers, trigger functions and context functions.

Layer: adapter (the core's lifecycle inside Alembic's migration system). Alembic already
handles the event tables and the shared ``pghistory_context`` table: they are ordinary
tables of the ``MetaData`` (see :mod:`pghistory_sqlalchemy.tracking`). This module adds
what Alembic cannot see:

- a **comparator** that reads the core's catalog status
  (:func:`pghistory_core.status`: one query, content hashes in ``COMMENT``) for the
  trackings on the target ``MetaData`` and emits one operation per object that must
  change: :class:`CreateHistoryObjectOp` (missing), :class:`ReplaceHistoryObjectOp`
  (outdated: the specs render a different definition, or it was changed by hand),
  :class:`DropHistoryObjectOp` (orphaned trigger or function: its tracking or tracker was
  removed). Tables get the same treatment for their pghistory ``COMMENT`` only: creating
  and altering them is left to Alembic's own operations, which run first;
- the **operations**, registered with ``Operations.register_operation`` and
  ``Operations.implementation_for``, so ``alembic upgrade``/``downgrade`` apply them. Each
  carries the SQL the core rendered (``create_sql``/``drop_sql``) and the content hash, so
  a migration file is self-contained and replays the same on every database; the reverse
  operation carries the definition read back from the database when the migration was
  generated (``pg_get_functiondef``, ``pg_get_triggerdef``) and its previous comment, so
  ``downgrade`` restores exactly what was there;
- **renderers** writing them into the migration script as ``op.create_history_object(...)``
  calls (no ``op.execute``), with an ``import pghistory_sqlalchemy.migrations`` line that
  registers the operations when the script runs.

Applying an object (:func:`apply_object`) runs its SQL and then writes the comment
``pghistory:<content hash>:<definition hash>`` the core's ``install`` writes, with the
definition hash of what Postgres now reports (computed by the server:
:func:`pghistory_core.lifecycle.record_sql`), so ``pghistory check`` reports no drift
after ``alembic upgrade``, online or from the script ``alembic upgrade --sql`` prints.

Event tables holding rows are never dropped by autogenerate unless asked: when a tracking
is removed, Alembic sees its event table (and possibly ``pghistory_context``) in the
database but not in the ``MetaData`` and would emit ``drop_table``. The comparator runs
after Alembic's table comparison and removes that ``drop_table`` (and the index drops that
precede it) for every table carrying a pghistory comment that holds rows, logging a
warning; so is Alembic's ``drop_column`` on such a table (a tracked column that left
``fields=``, or the old name of a renamed column). Opt in to dropping them with
``context.configure(..., pghistory_allow_drop_event_tables=True)`` in ``env.py``. Empty
ones are dropped as Alembic proposes. The partitions of a partitioned event table (``track(..., partition="month")``)
are never in the ``MetaData``: the comparator removes every operation on them (pghistory
creates them as time passes, retention drops them).

Registration (see :func:`register` and ``docs/sqlalchemy.md``):

- Alembic >= 1.18 (plugin system): the distribution publishes
  :mod:`pghistory_sqlalchemy.alembic_plugin` under the ``alembic.plugins`` entry point as
  ``pghistory``; enable it per environment with
  ``context.configure(..., autogenerate_plugins=["alembic.autogenerate.*", "pghistory"])``.
  Without the entry point (source checkout), call :func:`register` in ``env.py`` first.
- Older Alembic: :func:`register` adds the comparator to the global
  ``alembic.autogenerate.comparators`` registry (``dispatch_for("schema")``); nothing else
  to configure.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, Operations
from alembic.operations import ops as alembic_ops

import pghistory_core as ph
from pghistory_core import db, lifecycle, render, sql
from pghistory_core.render import Artefact
from pghistory_sqlalchemy.bridge import CoreConnection
from pghistory_sqlalchemy.tracking import _INFO_KEY, trackings

__all__ = [
    "ALLOW_DROP_OPTION",
    "PLUGIN_NAME",
    "CreateHistoryObjectOp",
    "DropHistoryObjectOp",
    "HistoryObject",
    "ReplaceHistoryObjectOp",
    "apply_object",
    "compare_history",
    "register",
]

log = logging.getLogger("alembic.autogenerate.pghistory")

#: The plugin name to list in ``autogenerate_plugins`` (Alembic >= 1.18).
PLUGIN_NAME = "pghistory"
#: ``context.configure(..., pghistory_allow_drop_event_tables=True)``: let autogenerate drop
#: event tables (and ``pghistory_context``) that hold rows.
ALLOW_DROP_OPTION = "pghistory_allow_drop_event_tables"

_KINDS = ("table", "function", "trigger")


# ------------------------------------------------------------------------------ objects


@dataclasses.dataclass(frozen=True)
class HistoryObject:
    """One object as a migration carries it: the SQL to create and drop it, the ``COMMENT``
    target, and the content hash recorded in its comment.

    ``table`` is the ``(schema, table)`` a trigger is on. ``comment`` (reverse operations
    only) is the exact comment to restore instead of computing a new one.
    """

    kind: str
    schema: str
    name: str
    create_sql: str
    drop_sql: str
    comment_target: str
    content_hash: str
    table: tuple[str, str] | None = None
    comment: str | None = None
    #: event tables: whether the spec partitions it (checked before adopting the table)
    partitioned: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ph.ConfigurationError(f"history object {self.name!r}: kind must be one of {_KINDS}, got {self.kind!r}")
        if self.table is not None:
            object.__setattr__(self, "table", tuple(self.table))

    @classmethod
    def from_artefact(cls, artefact: Artefact) -> HistoryObject:
        return cls(
            kind=artefact.kind,
            schema=artefact.schema,
            name=artefact.name,
            create_sql=sql.render(artefact.create),
            drop_sql=sql.render(artefact.drop),
            comment_target=sql.render(artefact.comment_target),
            content_hash=artefact.content_hash,
            table=artefact.table,
            partitioned=artefact.partitioned,
        )

    @property
    def display_name(self) -> str:
        if self.table:
            return f"{self.table[0]}.{self.table[1]}:{self.name}"
        return f"{self.schema}.{self.name}"

    def artefact(self) -> Artefact:
        """The core's artefact for this object (its SQL as carried, not re-rendered)."""
        return Artefact(
            kind=self.kind,
            schema=self.schema,
            name=self.name,
            create=sql.SQL(self.create_sql),
            drop=sql.SQL(self.drop_sql),
            comment_target=sql.SQL(self.comment_target),
            table=self.table,
            partitioned=self.partitioned,
        )

    def with_comment(self, comment: str | None) -> HistoryObject:
        return dataclasses.replace(self, comment=comment)


def _comment_sql(obj: HistoryObject, text: str | None) -> sql.Composable:
    value = sql.Literal(text) if text is not None else sql.SQL("NULL")
    return sql.SQL("COMMENT ON ") + sql.SQL(obj.comment_target) + sql.SQL(" IS ") + value


def _apply_statements(obj: HistoryObject) -> list[sql.Composable]:
    """Create (or replace) *obj*, then write its pghistory comment.

    Tables are only adopted: their ``CREATE TABLE IF NOT EXISTS`` is a no-op after
    Alembic's own ``create_table``/``add_column``; the comment records the content hash
    and the columns Postgres now reports (the same statement ``install`` runs, computed by
    the server, so it works offline too). With ``obj.comment`` set (a downgrade restoring
    the previous state) that exact comment is written instead.
    """
    comment = _comment_sql(obj, obj.comment) if obj.comment is not None else lifecycle.record_sql(obj.artefact())
    statements: list[sql.Composable] = [sql.SQL(obj.create_sql), comment]
    if obj.kind == "table" and obj.partitioned is not None:
        # Alembic created or altered the table; refuse one partitioned otherwise than the spec.
        statements.insert(0, render.partitioning_check(obj.schema, obj.name, obj.partitioned))
    return statements


def _remove_statements(obj: HistoryObject) -> list[sql.Composable]:
    """Drop a trigger or function; for a table, only its pghistory comment is removed
    (dropping tables is Alembic's ``drop_table``, never ours)."""
    if obj.kind == "table":
        return [_comment_sql(obj, obj.comment)]
    return [sql.SQL(obj.drop_sql)]


def apply_object(conn: db.Connection, obj: HistoryObject) -> None:
    """Create (or replace) *obj* and write its pghistory comment (:func:`_apply_statements`)."""
    for statement in _apply_statements(obj):
        db.execute(conn, statement)


def remove_object(conn: db.Connection, obj: HistoryObject) -> None:
    """Drop a trigger or function, or remove a table's pghistory comment."""
    for statement in _remove_statements(obj):
        db.execute(conn, statement)


# --------------------------------------------------------------------------- operations


@Operations.register_operation("create_history_object")
class CreateHistoryObjectOp(MigrateOperation):
    """Create a history trigger, trigger function or context function (or adopt a table)."""

    def __init__(self, obj: HistoryObject) -> None:
        self.obj = obj

    @classmethod
    def create_history_object(cls, operations: Operations, **kw: object) -> None:
        """``op.create_history_object(kind=..., schema=..., name=..., create_sql=..., ...)``."""
        operations.invoke(cls(HistoryObject(**kw)))  # type: ignore[arg-type]

    def reverse(self) -> DropHistoryObjectOp:
        return DropHistoryObjectOp(self.obj)

    def to_diff_tuple(self) -> tuple[object, ...]:
        return ("add_history_object", self.obj.kind, self.obj.display_name, self.obj.content_hash)


@Operations.register_operation("drop_history_object")
class DropHistoryObjectOp(MigrateOperation):
    """Drop a history trigger or function (a table only loses its pghistory comment).

    ``obj`` holds what is dropped, so :meth:`reverse` can re-create it.
    """

    def __init__(self, obj: HistoryObject) -> None:
        self.obj = obj

    @classmethod
    def drop_history_object(cls, operations: Operations, **kw: object) -> None:
        operations.invoke(cls(HistoryObject(**kw)))  # type: ignore[arg-type]

    def reverse(self) -> CreateHistoryObjectOp:
        return CreateHistoryObjectOp(self.obj)

    def to_diff_tuple(self) -> tuple[object, ...]:
        return ("remove_history_object", self.obj.kind, self.obj.display_name, self.obj.content_hash)


@Operations.register_operation("replace_history_object")
class ReplaceHistoryObjectOp(MigrateOperation):
    """Replace an outdated object with its new definition; ``previous`` is what the
    database held (with its comment), for :meth:`reverse`."""

    def __init__(self, obj: HistoryObject, previous: HistoryObject) -> None:
        self.obj = obj
        self.previous = previous

    @classmethod
    def replace_history_object(
        cls, operations: Operations, *, previous: dict[str, object], **kw: object
    ) -> None:
        operations.invoke(cls(HistoryObject(**kw), HistoryObject(**previous)))  # type: ignore[arg-type]

    def reverse(self) -> ReplaceHistoryObjectOp:
        return ReplaceHistoryObjectOp(self.previous, self.obj)

    def to_diff_tuple(self) -> tuple[object, ...]:
        return (
            "modify_history_object",
            self.obj.kind,
            self.obj.display_name,
            self.previous.content_hash,
            self.obj.content_hash,
        )


def _run(operations: Operations, statements: Sequence[sql.Composable]) -> None:
    """Execute *statements* on the migration's connection or, offline (``alembic upgrade
    --sql``), write them to the script Alembic prints, as they are (no bind-parameter
    parsing: PL/pgSQL bodies hold ``:=`` and ``::``)."""
    context = operations.migration_context
    if context.as_sql:
        impl = context.impl
        for statement in statements:
            impl.static_output(sql.render(statement).rstrip().rstrip(";") + impl.command_terminator)
        return
    conn = CoreConnection(operations.get_bind())
    for statement in statements:
        db.execute(conn, statement)


@Operations.implementation_for(CreateHistoryObjectOp)
def _create(operations: Operations, operation: CreateHistoryObjectOp) -> None:
    _run(operations, _apply_statements(operation.obj))


@Operations.implementation_for(DropHistoryObjectOp)
def _drop(operations: Operations, operation: DropHistoryObjectOp) -> None:
    _run(operations, _remove_statements(operation.obj))


@Operations.implementation_for(ReplaceHistoryObjectOp)
def _replace(operations: Operations, operation: ReplaceHistoryObjectOp) -> None:
    # A trigger's create SQL drops the trigger of the same name first; a function's is
    # CREATE OR REPLACE; a table is only adopted (Alembic altered it already).
    _run(operations, _apply_statements(operation.obj))


# ---------------------------------------------------------------------------- rendering


def _render_str(value: str, indent: str) -> str:
    """A string literal, one source line per SQL line, so migration files stay readable."""
    lines = value.splitlines(keepends=True)
    if len(lines) <= 1:
        return repr(value)
    inner = "".join(f"{indent}    {line!r}\n" for line in lines)
    return "(\n" + inner + indent + ")"


def _render_fields(obj: HistoryObject, indent: str) -> list[str]:
    fields = [
        f"kind={obj.kind!r}",
        f"schema={obj.schema!r}",
        f"name={obj.name!r}",
    ]
    if obj.table is not None:
        fields.append(f"table={tuple(obj.table)!r}")
    fields.append(f"content_hash={obj.content_hash!r}")
    fields.append(f"create_sql={_render_str(obj.create_sql, indent)}")
    fields.append(f"drop_sql={_render_str(obj.drop_sql, indent)}")
    fields.append(f"comment_target={obj.comment_target!r}")
    if obj.comment is not None:
        fields.append(f"comment={obj.comment!r}")
    if obj.partitioned is not None:
        fields.append(f"partitioned={obj.partitioned!r}")
    return fields


def _render_call(autogen_context: AutogenContext, name: str, fields: Sequence[str]) -> str:
    autogen_context.imports.add("import pghistory_sqlalchemy.migrations  # registers op.*_history_object")
    # Event-table columns render as pghistory_sqlalchemy.tracking.MirroredType.ddl(...); every
    # change to an event table comes with a history operation on it, so this import is there.
    autogen_context.imports.add("import pghistory_sqlalchemy.tracking")
    body = "".join(f"    {field},\n" for field in fields)
    return f"op.{name}(\n{body})"


@renderers.dispatch_for(CreateHistoryObjectOp)
def _render_create(autogen_context: AutogenContext, op: CreateHistoryObjectOp) -> str:
    return _render_call(autogen_context, "create_history_object", _render_fields(op.obj, "    "))


@renderers.dispatch_for(DropHistoryObjectOp)
def _render_drop(autogen_context: AutogenContext, op: DropHistoryObjectOp) -> str:
    return _render_call(autogen_context, "drop_history_object", _render_fields(op.obj, "    "))


@renderers.dispatch_for(ReplaceHistoryObjectOp)
def _render_replace(autogen_context: AutogenContext, op: ReplaceHistoryObjectOp) -> str:
    previous = "".join(f"        {field},\n" for field in _render_fields(op.previous, "        "))
    fields = [*_render_fields(op.obj, "    "), f"previous=dict(\n{previous}    )"]
    return _render_call(autogen_context, "replace_history_object", fields)


# ---------------------------------------------------------------------------- comparing


def _row(conn: db.Connection, query: sql.Composable) -> tuple[object, ...] | None:
    rows = db.fetch_all(conn, query)
    return rows[0] if rows else None


def _comment_join(alias: str, catalog: str) -> sql.Composable:
    return sql.SQL(
        "LEFT JOIN pg_description d ON d.objoid = " + alias + ".oid AND d.classoid = "
    ) + sql.Literal(catalog) + sql.SQL("::regclass AND d.objsubid = 0")


def installed_object(conn: db.Connection, kind: str, schema: str, name: str, table: tuple[str, str] | None) -> HistoryObject | None:
    """What the database holds for one object, as a :class:`HistoryObject` whose SQL
    re-creates it exactly and whose ``comment`` is the one it carries (None if absent)."""
    create: str
    drop: sql.Composable
    target: sql.Composable
    if kind == "function":
        row = _row(
            conn,
            sql.SQL(
                "SELECT pg_get_functiondef(p.oid), pg_get_function_identity_arguments(p.oid), d.description "
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            )
            + _comment_join("p", "pg_proc")
            + sql.SQL(" WHERE n.nspname = {} AND p.proname = {} ORDER BY p.oid LIMIT 1").format(
                sql.Literal(schema), sql.Literal(name)
            ),
        )
        if row is None:
            return None
        # The identity arguments come from the catalog (pg_get_function_identity_arguments).
        signature = sql.Identifier(schema, name) + sql.SQL("(" + str(row[1]) + ")")
        create, drop, target = str(row[0]), sql.SQL("DROP FUNCTION IF EXISTS ") + signature, sql.SQL("FUNCTION ") + signature
    elif kind == "trigger":
        if table is None:
            raise ph.ConfigurationError(f"trigger {schema}.{name}: the table it is on is required")
        row = _row(
            conn,
            sql.SQL(
                "SELECT pg_get_triggerdef(t.oid), NULL, d.description FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            )
            + _comment_join("t", "pg_trigger")
            + sql.SQL(" WHERE NOT t.tgisinternal AND n.nspname = {} AND c.relname = {} AND t.tgname = {}").format(
                sql.Literal(table[0]), sql.Literal(table[1]), sql.Literal(name)
            ),
        )
        if row is None:
            return None
        on = sql.Identifier(*table)
        drop = sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(name), on)
        create = sql.render(drop) + ";\n" + str(row[0]) + ";"
        target = sql.SQL("TRIGGER {} ON {}").format(sql.Identifier(name), on)
    else:
        row = _row(
            conn,
            sql.SQL(
                "SELECT NULL, NULL, d.description FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            )
            + _comment_join("c", "pg_class")
            + sql.SQL(" WHERE c.relkind IN ('r', 'p') AND n.nspname = {} AND c.relname = {}").format(
                sql.Literal(schema), sql.Literal(name)
            ),
        )
        if row is None:
            return None
        ident = sql.Identifier(schema, name)
        create, drop, target = "SELECT 1", sql.SQL("SELECT 1"), sql.SQL("TABLE ") + ident
    comment = str(row[2]) if row[2] is not None else None
    parsed = lifecycle.parse_comment(comment)
    return HistoryObject(
        kind=kind,
        schema=schema,
        name=name,
        create_sql=create,
        drop_sql=sql.render(drop),
        comment_target=sql.render(target),
        content_hash=parsed[0] if parsed is not None else "",
        table=table,
        comment=comment,
    )


def _metadatas(autogen_context: AutogenContext) -> list[sa.MetaData]:
    metadata = autogen_context.metadata
    if metadata is None:
        return []
    if isinstance(metadata, sa.MetaData):
        return [metadata]
    return list(metadata)


def history_operations(
    conn: db.Connection, specs: Sequence[ph.Tracking], schemas: Iterable[str]
) -> tuple[list[MigrateOperation], list[MigrateOperation]]:
    """The operations that bring the database's history objects to *specs*: the drops
    (to run before Alembic's table operations) and the creates and replaces (after them).

    Orphaned triggers and functions are dropped only in *schemas* (the schemas Alembic
    compares), as Alembic only drops tables there; orphaned tables are left alone.
    """
    creates: list[MigrateOperation] = []
    drops: list[MigrateOperation] = []
    compared = set(schemas)
    for item in ph.status(conn, specs):
        if item.state == ph.State.INSTALLED:
            continue
        table = (item.schema, item.table) if item.table else None
        if item.artefact is not None:
            obj = HistoryObject.from_artefact(item.artefact)
            if item.state == ph.State.MISSING:
                creates.append(CreateHistoryObjectOp(obj))
                continue
            previous = installed_object(conn, item.kind, obj.schema, obj.name, obj.table)
            if previous is None:  # pragma: no cover - dropped between the two queries
                creates.append(CreateHistoryObjectOp(obj))
            else:
                creates.append(ReplaceHistoryObjectOp(obj, previous))
            continue
        if item.kind == "table" or item.schema not in compared:
            continue
        schema = item.schema
        existing = installed_object(conn, item.kind, schema, item.name, table)
        if existing is not None:
            drops.append(DropHistoryObjectOp(existing))
    # Triggers before the functions they call.
    drops.sort(key=lambda op: 0 if op.obj.kind == "trigger" else 1)  # type: ignore[attr-defined]
    return drops, creates


def _holds_history(conn: db.Connection, schema: str, table: str) -> bool:
    """Whether *table* is a pghistory table (its comment says so) that holds rows."""
    found = installed_object(conn, "table", schema, table, None)
    if found is None or lifecycle.parse_comment(found.comment) is None:
        return False
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, table))
    return bool(db.fetch_all(conn, query)[0][0])


def _keep_event_tables(autogen_context: AutogenContext, conn: db.Connection, upgrade_ops: alembic_ops.UpgradeOps) -> None:
    """Remove Alembic's ``drop_table`` of pghistory tables that hold rows (unless allowed)."""
    if autogen_context.opts.get(ALLOW_DROP_OPTION):
        return
    default = autogen_context.dialect.default_schema_name if autogen_context.dialect is not None else "public"
    kept: set[tuple[str | None, str]] = set()
    for op in upgrade_ops.ops:
        if not isinstance(op, alembic_ops.DropTableOp):
            continue
        schema = op.schema or default or "public"
        if not _holds_history(conn, schema, op.table_name):
            continue
        kept.add((op.schema, op.table_name))
        log.warning(
            "pghistory: keeping table %s.%s: it holds history rows and is no longer in the MetaData; "
            "pass %s=True to context.configure() to let autogenerate drop it",
            schema,
            op.table_name,
            ALLOW_DROP_OPTION,
        )
    if kept:
        upgrade_ops.ops = [
            op
            for op in upgrade_ops.ops
            if not (
                isinstance(op, (alembic_ops.DropTableOp, alembic_ops.ModifyTableOps))
                and (op.schema, op.table_name) in kept
            )
        ]


def _keep_event_columns(autogen_context: AutogenContext, conn: db.Connection, upgrade_ops: alembic_ops.UpgradeOps) -> None:
    """Remove Alembic's ``drop_column`` on pghistory tables that hold rows (unless allowed).

    A tracked column leaves the event table's model when ``fields=`` narrows or the column
    is renamed (Alembic proposes add + drop for a rename): dropping it would delete that
    column's history. The core's ``install`` never drops event-table columns either.
    """
    if autogen_context.opts.get(ALLOW_DROP_OPTION):
        return
    default = autogen_context.dialect.default_schema_name if autogen_context.dialect is not None else "public"
    for op in list(upgrade_ops.ops):
        if not isinstance(op, alembic_ops.ModifyTableOps):
            continue
        dropped = [o for o in op.ops if isinstance(o, alembic_ops.DropColumnOp)]
        if not dropped:
            continue
        schema = op.schema or default or "public"
        if not _holds_history(conn, schema, op.table_name):
            continue
        for column in dropped:
            log.warning(
                "pghistory: keeping column %s of %s.%s: the event table holds history rows; pass %s=True to "
                "context.configure() to let autogenerate drop it (a renamed column: edit the migration into "
                "op.alter_column(..., new_column_name=...) on both tables)",
                column.column_name,
                schema,
                op.table_name,
                ALLOW_DROP_OPTION,
            )
        op.ops = [o for o in op.ops if not isinstance(o, alembic_ops.DropColumnOp)]
        if not op.ops:
            upgrade_ops.ops.remove(op)


_PARTITIONS = sql.SQL(
    "SELECT n.nspname::text, c.relname::text FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_description d ON d.objoid = i.inhparent AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 "
    "WHERE c.relispartition AND d.description LIKE {}"
).format(sql.Literal(lifecycle.COMMENT_PREFIX + "%"))


def _keep_partitions(conn: db.Connection, upgrade_ops: alembic_ops.UpgradeOps, default: str) -> None:
    """Remove Alembic's ``drop_table``/``drop_index`` of the partitions of partitioned event
    tables: they are not in the ``MetaData`` (the partitioned table is), pghistory creates
    them as time passes and retention drops them; a migration must never."""
    partitions = {(str(schema), str(name)) for schema, name in db.fetch_all(conn, _PARTITIONS)}
    if not partitions:
        return
    upgrade_ops.ops = [
        op
        for op in upgrade_ops.ops
        if not (
            isinstance(op, (alembic_ops.DropTableOp, alembic_ops.ModifyTableOps))
            and (op.schema or default, op.table_name) in partitions
        )
    ]


def _owned_tables(metadatas: Iterable[sa.MetaData]) -> set[tuple[str | None, str]]:
    """Event tables and context tables: their ``COMMENT`` is pghistory's hash record."""
    return {
        (table.schema, table.name)
        for metadata in metadatas
        for table in metadata.tables.values()
        if table.info.get(_INFO_KEY) in ("event", "context")
    }


def _drop_comment_ops(upgrade_ops: alembic_ops.UpgradeOps, owned: set[tuple[str | None, str]]) -> None:
    """Alembic sees the pghistory comment on our tables as a comment the MetaData lacks and
    would drop it; the comment is ours (maintained by the history operations)."""
    comment_ops = (alembic_ops.CreateTableCommentOp, alembic_ops.DropTableCommentOp)
    kept: list[MigrateOperation] = []
    for op in upgrade_ops.ops:
        if isinstance(op, alembic_ops.ModifyTableOps) and (op.schema, op.table_name) in owned:
            op.ops = [child for child in op.ops if not isinstance(child, comment_ops)]
            if op.is_empty():
                continue
        elif isinstance(op, comment_ops) and (op.schema, op.table_name) in owned:
            continue
        kept.append(op)
    upgrade_ops.ops = kept


def compare_history(
    autogen_context: AutogenContext, upgrade_ops: alembic_ops.UpgradeOps, schemas: Iterable[str | None]
) -> object:
    """The ``schema`` comparator: history objects of the target MetaData vs the database."""
    connection = autogen_context.connection
    if connection is None:  # pragma: no cover - autogenerate always has a connection
        return None
    conn = CoreConnection(connection)
    default = connection.dialect.default_schema_name or "public"
    _keep_event_tables(autogen_context, conn, upgrade_ops)
    _keep_event_columns(autogen_context, conn, upgrade_ops)
    _keep_partitions(conn, upgrade_ops, default)
    _drop_comment_ops(upgrade_ops, _owned_tables(_metadatas(autogen_context)))
    specs = [spec for metadata in _metadatas(autogen_context) for spec in trackings(metadata)]
    compared = [schema if schema is not None else default for schema in schemas]
    drops, creates = history_operations(conn, specs, compared)
    # Drops first: an orphaned trigger may be on a table Alembic drops, and the downgrade
    # (the reverse, in reverse order) must re-create that table before the trigger.
    # Creates last: the tables they fill or sit on exist by then.
    upgrade_ops.ops[:0] = drops
    upgrade_ops.ops.extend(creates)
    return _continue()


def _continue() -> object:
    try:
        from alembic.util import PriorityDispatchResult
    except ImportError:  # pragma: no cover - Alembic < 1.18 ignores the return value
        return None
    return PriorityDispatchResult.CONTINUE


# -------------------------------------------------------------------------- registration


_registered = False


def register() -> None:
    """Register the comparator without the entry point (idempotent).

    Alembic >= 1.18: creates the ``pghistory`` plugin (list it in ``autogenerate_plugins``).
    Older Alembic: adds the comparator to ``alembic.autogenerate.comparators``.
    """
    global _registered
    if _registered:
        return
    try:
        from alembic.runtime import plugins
    except ImportError:  # Alembic < 1.18
        from alembic.autogenerate import comparators

        comparators.dispatch_for("schema")(compare_history)
    else:
        from pghistory_sqlalchemy import alembic_plugin

        try:
            plugins.Plugin.setup_plugin_from_module(alembic_plugin, PLUGIN_NAME)
        except ValueError:
            pass  # already set up from the entry point
    _registered = True
