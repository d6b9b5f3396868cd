"""Rendering: from descriptions to SQL, without a connection.

Layer: rendering. Produces one :class:`Artefact` per installed object (the shared context
table and its functions; per tracking an event table, one trigger function and trigger per
tracker, and the append-only protection). Each artefact knows its create and drop SQL and
a content hash; the lifecycle layer stores that hash in the object's ``COMMENT``.

Design rules enforced here (see ARCHITECTURE.md):

- every reference is schema-qualified, so nothing depends on ``search_path``;
- nothing on the per-row or per-statement path opens a subtransaction
  (no ``BEGIN ... EXCEPTION``); settings are read with ``current_setting(name, true)``,
  and taken once per transaction from a context comment heading the client's statement
  when the transaction received none (autocommit writes; see ``_READ_CONTEXT_COMMENT``);
- the shared context row is written at most once per statement (statement level: after the
  events are inserted and only if there were any; row level: the context function skips
  the write when the transaction already wrote the same id and metadata);
- statement-level updates pair old and new rows by their position in the transition
  tables (see :func:`_statement_source`), so rows whose primary key changed are recorded.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from pghistory_core import conditions as c
from pghistory_core import names, sql
from pghistory_core.errors import DuplicateLabelError, UnsupportedError
from pghistory_core.spec import DENORMALIZED, FK, NO_CONTEXT, ResolvedTracker, Tracking
from pghistory_core.trackers import Delete, Insert, New, Old, Row, Update

__all__ = [
    "Artefact",
    "SETTING_CONTEXT_ID",
    "SETTING_CONTEXT_METADATA",
    "SETTING_IGNORE",
    "RENDER_VERSION",
    "context_artefacts",
    "tracking_artefacts",
    "all_artefacts",
    "compile_tracker_condition",
    "context_table",
    "context_id_function",
    "attach_context_function",
]

#: Bumped when the generated SQL changes shape, so installed objects show as outdated.
RENDER_VERSION = "1"

#: Transaction-local settings (``set_config(name, value, true)``) read by the triggers.
SETTING_CONTEXT_ID = "pghistory.context_id"
SETTING_CONTEXT_METADATA = "pghistory.context_metadata"
SETTING_IGNORE = "pghistory.ignore"
#: Written by the context function: which id+metadata this transaction already stored.
SETTING_CONTEXT_WRITTEN = "pghistory.context_written"
#: Written by every trigger the first time it runs in a transaction: the statement text
#: was looked at for a context comment (:data:`CONTEXT_COMMENT_PREFIX`).
SETTING_CONTEXT_READ = "pghistory.context_read"
#: How a statement text carries its context (autocommit, no extra statement):
#: ``/*pghistory:<uuid>:<on|>:<json>*/`` at its very start; see
#: :func:`pghistory_core.transport.context_comment`.
CONTEXT_COMMENT_PREFIX = "/*pghistory:"

CONTEXT_TABLE = "pghistory_context"
CONTEXT_ID_FUNCTION = "pghistory_context_id"
ATTACH_CONTEXT_FUNCTION = "pghistory_attach_context"

# Transition-table names and the aliases the statement-level SQL uses for them.
_OLD_TABLE = sql.Identifier("pgh_old")
_NEW_TABLE = sql.Identifier("pgh_new")
_OLD_ALIAS = sql.Identifier("pgh_o")
_NEW_ALIAS = sql.Identifier("pgh_n")
_PAIR_RN = sql.Identifier("pgh_pair_rn")
_ONE_ROW_ALIAS = sql.Identifier("pgh_one_row")


@dataclasses.dataclass(frozen=True)
class Artefact:
    """One installed object.

    ``kind`` is ``table``, ``function`` or ``trigger``. ``table`` is the (schema, name) a
    trigger is on. ``create`` is idempotent-safe SQL that (re)creates the object;
    ``drop`` removes it. ``comment_target`` is the ``COMMENT ON`` target.
    """

    kind: str
    schema: str
    name: str
    create: sql.Composable
    drop: sql.Composable
    comment_target: sql.Composable
    table: tuple[str, str] | None = None
    #: the tracking this belongs to (None for the shared context machinery)
    owner: str | None = None
    #: event tables only: whether the spec partitions it (None for other objects)
    partitioned: bool | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        on = ".".join(self.table) if self.table else ""
        return (self.kind, self.schema, on, self.name)

    @property
    def display_name(self) -> str:
        if self.table:
            return f"{self.table[0]}.{self.table[1]}:{self.name}"
        return f"{self.schema}.{self.name}"

    @property
    def content_hash(self) -> str:
        return names.stable_hash(RENDER_VERSION + "\n" + self.kind + "\n" + sql.render(self.create), 16)

    def comment_sql(self, text: str) -> sql.Composable:
        return sql.SQL("COMMENT ON {} IS {}").format(self.comment_target, sql.Literal(text))


def _statements(*pieces: sql.Composable) -> sql.Composable:
    return sql.join(";\n", pieces) + sql.SQL(";")


def _function_artefact(schema: str, name: str, returns: str, body: str, owner: str | None = None) -> Artefact:
    """A PL/pgSQL function without arguments (trigger functions, the context function)."""
    ident = sql.Identifier(schema, name)
    return Artefact(
        kind="function",
        schema=schema,
        name=name,
        create=sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS {} LANGUAGE plpgsql VOLATILE AS {}").format(
            ident, sql.SQL(returns), sql.dollar_quote(body)
        ),
        drop=sql.SQL("DROP FUNCTION IF EXISTS {}()").format(ident),
        comment_target=sql.SQL("FUNCTION {}()").format(ident),
        owner=owner,
    )


def _trigger_artefact(name: str, table: tuple[str, str], create: sql.Composable, owner: str) -> Artefact:
    """A trigger; its create SQL drops any trigger of the same name first."""
    ident = sql.Identifier(name)
    on = sql.Identifier(*table)
    drop = sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(ident, on)
    return Artefact(
        kind="trigger",
        schema=table[0],
        name=name,
        create=_statements(drop, create),
        drop=drop,
        comment_target=sql.SQL("TRIGGER {} ON {}").format(ident, on),
        table=table,
        owner=owner,
    )


# ------------------------------------------------------------------------------ context


def context_table(schema: str) -> Artefact:
    ident = sql.Identifier(schema, CONTEXT_TABLE)
    create = sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (\n"
        '    "id" uuid PRIMARY KEY,\n'
        """    "metadata" jsonb NOT NULL DEFAULT '{{}}'::jsonb,\n"""
        '    "created_at" timestamp with time zone NOT NULL DEFAULT now(),\n'
        '    "updated_at" timestamp with time zone NOT NULL DEFAULT now()\n'
        ")"
    ).format(ident)
    return Artefact(
        kind="table",
        schema=schema,
        name=CONTEXT_TABLE,
        create=_statements(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)), create),
        drop=sql.SQL("DROP TABLE IF EXISTS {}").format(ident),
        comment_target=sql.SQL("TABLE {}").format(ident),
    )


def _context_write(schema: str, context_id: sql.SQL, metadata: sql.SQL, indent: str) -> sql.Composable:
    """PL/pgSQL statements that store the context row, shared by both context functions.

    Metadata is merged (``||``) so a later write in the same context never drops keys, and
    the row is only rewritten when the merge changes it. Three cases:

    - a new context id (the common case: one per request): one ``INSERT ... ON CONFLICT DO
      NOTHING``, whose conflict check goes through the primary key whatever the plan;
    - the row exists and holds the metadata (a later transaction of the same context): it
      is locked ``FOR KEY SHARE``, the lock a foreign key takes on the row it references.
      Such locks do not conflict with each other, so transactions writing under one context
      (a job's workers, tasks that copied a request's context) never wait for each other
      here; they do conflict with ``FOR UPDATE``, which is how
      :func:`pghistory_core.retention.delete_unreferenced_contexts` leaves a row alone while
      a writer attaches events to it. (An ``ON CONFLICT DO UPDATE`` alone locks the row
      exclusively even when its ``WHERE`` skips the update, until commit: such transactions
      ran one after the other.)
    - the row lacks some of the metadata, or was deleted in between: the merging upsert,
      which waits for a concurrent merge of the same row as it must.
    """
    lines = (
        'INSERT INTO {table} ("id", "metadata", "created_at", "updated_at")',
        "VALUES ({id}, {metadata}, now(), now())",
        'ON CONFLICT ("id") DO NOTHING;',
        "IF NOT FOUND THEN",
        '    PERFORM FROM {table} AS pgh_e WHERE pgh_e."id" = {id} AND pgh_e."metadata" @> {metadata} FOR KEY SHARE;',
        "    IF NOT FOUND THEN",
        '        INSERT INTO {table} AS pgh_c ("id", "metadata", "created_at", "updated_at")',
        "        VALUES ({id}, {metadata}, now(), now())",
        '        ON CONFLICT ("id") DO UPDATE SET',
        '            "metadata" = pgh_c."metadata" || EXCLUDED."metadata",',
        '            "updated_at" = now()',
        '        WHERE NOT (pgh_c."metadata" @> EXCLUDED."metadata");',
        "    END IF;",
        "END IF;",
    )
    return sql.SQL("".join(indent + line + "\n" for line in lines)).format(
        table=sql.Identifier(schema, CONTEXT_TABLE), id=context_id, metadata=metadata
    )


def attach_context_function(schema: str) -> Artefact:
    """``pghistory_attach_context(id uuid, metadata jsonb) RETURNS uuid``: stores the row
    (:func:`_context_write`) and returns the id; used by manual events and backfills."""
    ident = sql.Identifier(schema, ATTACH_CONTEXT_FUNCTION)
    write = _context_write(schema, sql.SQL("p_id"), sql.SQL("coalesce(p_metadata, '{}'::jsonb)"), "    ")
    body = sql.render(sql.SQL("\nBEGIN\n") + write + sql.SQL("    RETURN p_id;\nEND;\n"))
    create = sql.SQL(
        "CREATE OR REPLACE FUNCTION {}(p_id uuid, p_metadata jsonb) RETURNS uuid LANGUAGE plpgsql VOLATILE AS {}"
    ).format(ident, sql.dollar_quote(body))
    return Artefact(
        kind="function",
        schema=schema,
        name=ATTACH_CONTEXT_FUNCTION,
        create=create,
        drop=sql.SQL("DROP FUNCTION IF EXISTS {}(uuid, jsonb)").format(ident),
        comment_target=sql.SQL("FUNCTION {}(uuid, jsonb)").format(ident),
    )


def context_id_function(schema: str) -> Artefact:
    """``pghistory_context_id() RETURNS uuid``: the active context id, stored once.

    Reads the transaction-local settings the client sent. The shared row is written only
    when this transaction has not yet stored this id with this metadata, so a row-level
    trigger firing for 100k rows writes it once. The statements are those of
    ``pghistory_attach_context()`` (:func:`_context_write`), written inline: a nested
    function call costs more than the insert itself on a single-row write.
    ``set_config`` is assigned rather than ``PERFORM``-ed, so PL/pgSQL evaluates it as a
    simple expression instead of running a query.
    """
    body = sql.render(
        sql.SQL(
            "\nDECLARE\n"
            "    v_id text := current_setting({id_setting}, true);\n"
            "    v_meta text;\n"
            "    v_written text;\n"
            "BEGIN\n"
            "    IF v_id IS NULL OR v_id = '' THEN\n"
            "        RETURN NULL;\n"
            "    END IF;\n"
            "    v_meta := coalesce(nullif(current_setting({meta_setting}, true), ''), '{{}}');\n"
            "    IF current_setting({written_setting}, true) IS DISTINCT FROM v_id || v_meta THEN\n"
            "{write}"
            "        v_written := set_config({written_setting}, v_id || v_meta, true);\n"
            "    END IF;\n"
            "    RETURN v_id::uuid;\n"
            "END;\n"
        ).format(
            id_setting=sql.Literal(SETTING_CONTEXT_ID),
            meta_setting=sql.Literal(SETTING_CONTEXT_METADATA),
            written_setting=sql.Literal(SETTING_CONTEXT_WRITTEN),
            write=_context_write(schema, sql.SQL("v_id::uuid"), sql.SQL("v_meta::jsonb"), "        "),
        )
    )
    return _function_artefact(schema, CONTEXT_ID_FUNCTION, "uuid", body)


def context_artefacts(schema: str) -> list[Artefact]:
    return [context_table(schema), attach_context_function(schema), context_id_function(schema)]


# ------------------------------------------------------------------------- event table


def event_table_ident(tracking: Tracking) -> sql.Identifier:
    return sql.Identifier(tracking.event_schema_name, tracking.event_table_name)


def event_columns(tracking: Tracking) -> list[tuple[str, str]]:
    """(name, SQL type) of every event-table column, in order."""
    columns: list[tuple[str, str]] = [
        ("pgh_id", "bigint"),
        ("pgh_created_at", "timestamp with time zone"),
        ("pgh_label", "text"),
    ]
    if tracking.obj_id_type is not None:
        columns.append(("pgh_obj_id", mirror_type(tracking.obj_id_type)))
    if tracking.context != NO_CONTEXT:
        columns.append(("pgh_context_id", "uuid"))
    if tracking.context == DENORMALIZED:
        columns.append(("pgh_context", "jsonb"))
    for column in tracking.mirrored_columns:
        columns.append((column.name, mirror_type(column.type)))
    return columns


_SERIALS = {"serial": "integer", "bigserial": "bigint", "smallserial": "smallint"}
_TYPMOD_RE = re.compile(r"\s*\([0-9,\s]*\)")


def mirror_type(type_: str) -> str:
    """The event-table type of a tracked column: the same type without length/precision.

    History must outlive schema changes: if ``varchar(20)`` later becomes ``varchar(40)``,
    a mirrored ``varchar(20)`` would make every long write fail in the trigger. Fixed-size
    types whose bare name means length 1 become their unbounded form.
    """
    text = type_.strip()
    lowered = text.lower()
    if lowered in _SERIALS:
        return _SERIALS[lowered]
    if not _TYPMOD_RE.search(text):
        return text
    if lowered.startswith(("character(", "char(")) and not lowered.startswith("character varying"):
        return "bpchar" + _TYPMOD_RE.sub("", text[text.index(")") + 1 :])
    if lowered.startswith("bit("):
        return "bit varying" + _TYPMOD_RE.sub("", text[text.index(")") + 1 :])
    return _TYPMOD_RE.sub("", text)


def event_indexes(tracking: Tracking) -> list[tuple[str, str]]:
    """(index name, column) of the indexes on the event table."""
    indexes = []
    if tracking.obj_id_type is not None:
        indexes.append((names.fit(tracking.event_table_name, "pgh_obj_id", "idx"), "pgh_obj_id"))
    if tracking.context != NO_CONTEXT:
        indexes.append((names.fit(tracking.event_table_name, "pgh_context_id", "idx"), "pgh_context_id"))
    return indexes


#: How a partitioned event table is partitioned (``PARTITION BY`` clause, for tools that
#: create the table themselves: SQLAlchemy's ``postgresql_partition_by``).
PARTITION_KEY = sql.render(sql.SQL("RANGE ({})").format(sql.Identifier("pgh_created_at")))


def default_partition_name(tracking: Tracking) -> str:
    """The DEFAULT partition of a partitioned event table: it receives the events no range
    partition covers, so a write never fails for want of a partition."""
    return names.fit(tracking.event_table_name, "default")


def event_table(tracking: Tracking) -> Artefact:
    """The event table. Partitioned (``tracking.partition``): a table partitioned by range of
    ``pgh_created_at`` with its DEFAULT partition; its primary key must then include the
    partition column, so it is (``pgh_id``, ``pgh_created_at``) (``pgh_id`` still comes
    from one identity, unique across partitions). The range partitions are created at run
    time (:mod:`pghistory_core.partitions`), not here."""
    ident = event_table_ident(tracking)
    partitioned = tracking.partition is not None
    lines: list[sql.Composable] = []
    for name, type_ in event_columns(tracking):
        if name == "pgh_id" and partitioned:
            lines.append(sql.SQL('"pgh_id" bigint GENERATED BY DEFAULT AS IDENTITY'))
        elif name == "pgh_id":
            lines.append(sql.SQL('"pgh_id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'))
        elif name == "pgh_created_at":
            lines.append(sql.SQL('"pgh_created_at" timestamp with time zone NOT NULL DEFAULT now()'))
        elif name == "pgh_label":
            lines.append(sql.SQL('"pgh_label" text NOT NULL'))
        else:
            # Mirrored columns are nullable: history repeats values and outlives schema
            # changes (a column added later has no value in older events).
            lines.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(type_)))
    tail = sql.SQL("\n)")
    if partitioned:
        lines.append(sql.SQL('PRIMARY KEY ("pgh_id", "pgh_created_at")'))
        tail = sql.SQL("\n) PARTITION BY " + PARTITION_KEY)
    statements: list[sql.Composable] = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(tracking.event_schema_name)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (\n    ").format(ident) + sql.join(",\n    ", lines) + tail,
    ]
    if partitioned:
        statements.append(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT").format(
                sql.Identifier(tracking.event_schema_name, default_partition_name(tracking)), ident
            )
        )
    for index_name, column in event_indexes(tracking):
        statements.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(index_name), ident, sql.Identifier(column)
            )
        )
    return Artefact(
        kind="table",
        schema=tracking.event_schema_name,
        name=tracking.event_table_name,
        create=_statements(*statements),
        drop=sql.SQL("DROP TABLE IF EXISTS {}").format(ident),
        comment_target=sql.SQL("TABLE {}").format(ident),
        owner=tracking.table.qualified_name,
        partitioned=partitioned,
    )


def _partitioning_check(schema: str, table: str, partitioned: bool) -> sql.Composable:
    """PL/pgSQL raising ``wrong_object_type`` when the table ``v_table`` is partitioned and
    the spec wants it plain, or the reverse."""
    qualified = f"{schema}.{table}"
    if partitioned:
        wrong, message = "<>", (
            f"pghistory: event table {qualified} exists and is not partitioned, but its tracking has a partition "
            "setting; partition it in place first (pghistory partitions --convert, ph.partition_existing; Django: "
            "manage.py pghistory_partitions --convert), or give the tracking a new event_table"
        )
    else:
        wrong, message = "=", (
            f"pghistory: event table {qualified} is partitioned, but its tracking has no partition; "
            "set the tracking's partition, or give it a new event_table"
        )
    return sql.SQL(
        "    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = v_table) " + wrong + " 'p' THEN\n"
        "        RAISE EXCEPTION USING MESSAGE = {}, ERRCODE = 'wrong_object_type';\n"
        "    END IF;\n"
    ).format(sql.Literal(message))


def partitioning_check(schema: str, table: str, partitioned: bool) -> sql.Composable:
    """A ``DO`` block refusing an existing event table whose partitioning differs from the
    spec's (nothing when the table does not exist), for tools that create event tables
    themselves and only adopt them (Alembic: :mod:`pghistory_sqlalchemy.migrations`)."""
    body = sql.render(
        sql.SQL(
            "\nDECLARE\n    v_table regclass := to_regclass({});\nBEGIN\n"
            "    IF v_table IS NULL THEN\n        RETURN;\n    END IF;\n"
        ).format(sql.Literal(sql.render(sql.Identifier(schema, table))))
        + _partitioning_check(schema, table, partitioned)
        + sql.SQL("END\n")
    )
    return sql.SQL("DO {}").format(sql.dollar_quote(body))


def event_table_migration(tracking: Tracking) -> sql.Composable:
    """A ``DO`` block that brings an existing event table to the spec's columns: adds the
    missing ones, changes the type of those whose type differs (``USING column::type``),
    never drops; refuses (``wrong_object_type``) a table partitioned when the spec is not,
    or the reverse. Does nothing when the table does not exist yet, so it can run before
    :func:`event_table`'s create SQL (whose indexes may need an added column): ``install``
    runs it for an outdated table, and the install script before every event table.
    """
    ident = event_table_ident(tracking)
    steps = [_partitioning_check(tracking.event_schema_name, tracking.event_table_name, tracking.partition is not None)]
    for name, type_ in event_columns(tracking):
        if name == "pgh_id":
            continue
        column = sql.Identifier(name)
        steps.append(
            sql.SQL(
                "    SELECT a.atttypid INTO v_type FROM pg_attribute a\n"
                "     WHERE a.attrelid = v_table AND a.attname = {name} AND a.attnum > 0 AND NOT a.attisdropped;\n"
                "    IF NOT FOUND THEN\n"
                "        ALTER TABLE {table} ADD COLUMN {column} {type};\n"
                "    ELSIF v_type IS DISTINCT FROM to_regtype({type_text}) AND to_regtype({type_text}) IS NOT NULL THEN\n"
                "        ALTER TABLE {table} ALTER COLUMN {column} TYPE {type} USING {column}::{type};\n"
                "    END IF;\n"
            ).format(
                name=sql.Literal(name), table=ident, column=column, type=sql.SQL(type_), type_text=sql.Literal(type_)
            )
        )
    body = sql.render(
        sql.SQL(
            "\nDECLARE\n"
            "    v_table regclass := to_regclass({});\n"
            "    v_type oid;\n"
            "BEGIN\n"
            "    IF v_table IS NULL THEN\n"
            "        RETURN;\n"
            "    END IF;\n"
        ).format(sql.Literal(sql.render(ident)))
        + sql.join("", steps)
        + sql.SQL("END\n")
    )
    return sql.SQL("DO {}").format(sql.dollar_quote(body))


# ----------------------------------------------------------------------------- triggers


def _condition_context(tracking: Tracking, resolved: ResolvedTracker) -> c.CompileContext:
    tracker = resolved.tracker
    row_level = resolved.level == Row
    rows = tracker.operation.rows
    old = (sql.SQL("OLD") if row_level else _OLD_ALIAS) if "old" in rows else None
    new = (sql.SQL("NEW") if row_level else _NEW_ALIAS) if "new" in rows else None
    return c.CompileContext(
        table=tracking.table,
        tracked=tracking.tracked_columns,
        old=old,
        new=new,
        where=f"tracker {tracker.label!r} on {tracking.table.qualified_name}",
        raw_allowed=row_level,
    )


def compile_tracker_condition(tracking: Tracking, resolved: ResolvedTracker) -> sql.Composable | None:
    condition = resolved.tracker.condition
    if condition is None:
        return None
    return c.compile_condition(condition, _condition_context(tracking, resolved))


def condition_check(tracking: Tracking, resolved: ResolvedTracker) -> sql.Composable | None:
    """An ``EXPLAIN`` that plans the tracker's condition over rows of the tracked table, or
    None when there is nothing to check (no condition, or a raw ``Condition()`` naming
    OLD/NEW, which ``CREATE TRIGGER`` checks in a row-level ``WHEN``).

    Postgres parses a statement-level trigger's query only when a write first fires it: a
    condition that cannot run on the table (``Q(new__amount="abc")`` on a numeric column)
    installed fine, then made every write to the table fail. Planning it at install time
    reports it there, before anything is created.
    """
    if resolved.tracker.condition is None:
        return None
    rows = resolved.tracker.operation.rows
    ctx = dataclasses.replace(
        _condition_context(tracking, resolved),
        old=_OLD_ALIAS if "old" in rows else None,
        new=_NEW_ALIAS if "new" in rows else None,
        raw_allowed=False,
    )
    try:
        condition = c.compile_condition(resolved.tracker.condition, ctx)
    except UnsupportedError:
        return None
    table = sql.Identifier(tracking.table.schema, tracking.table.name)
    return sql.SQL("EXPLAIN SELECT FROM {table} AS {new} CROSS JOIN {table} AS {old} WHERE {condition}").format(
        table=table, new=_NEW_ALIAS, old=_OLD_ALIAS, condition=condition
    )


def event_insert_head(tracking: Tracking) -> sql.Composable:
    names_ = [name for name, _ in event_columns(tracking) if name != "pgh_id"]
    return sql.SQL("INSERT INTO {} ({})").format(
        event_table_ident(tracking), sql.join(", ", [sql.Identifier(n) for n in names_])
    )


def event_values(tracking: Tracking, label: str, row: sql.Composable, context_id: sql.Composable, context_meta: sql.Composable) -> list[sql.Composable]:
    """The expressions inserted into the event table, matching :func:`event_insert_head`."""
    values: list[sql.Composable] = [sql.SQL(tracking.created_at), sql.Literal(label)]
    if tracking.obj_id_type is not None:
        values.append(row + sql.SQL(".") + sql.Identifier(tracking.table.primary_key[0]))
    if tracking.context != NO_CONTEXT:
        values.append(context_id)
    if tracking.context == DENORMALIZED:
        values.append(context_meta)
    for column in tracking.tracked_columns:
        values.append(row + sql.SQL(".") + sql.Identifier(column))
    return values


def _setting(name: str) -> sql.Composable:
    return sql.SQL("current_setting({}, true)").format(sql.Literal(name))


_IGNORE_CHECK = sql.SQL("    IF {} = 'on' THEN\n        RETURN NULL;\n    END IF;\n").format(_setting(SETTING_IGNORE))


def _denormalized_id() -> sql.Composable:
    return sql.SQL("nullif({}, '')::uuid").format(_setting(SETTING_CONTEXT_ID))


def _denormalized_metadata() -> sql.Composable:
    # Metadata is copied only when a context is active.
    return sql.SQL("CASE WHEN nullif({}, '') IS NULL THEN NULL ELSE coalesce(nullif({}, ''), '{{}}')::jsonb END").format(
        _setting(SETTING_CONTEXT_ID), _setting(SETTING_CONTEXT_METADATA)
    )


#: Variables the comment reader below needs, declared by every trigger function.
_READ_DECLARE = ("v_pgh_set text;", "v_pgh_query text;", "v_pgh_end integer;")

#: First thing every trigger does, once per transaction (one setting read afterwards):
#: when no context settings were sent in this transaction, take them from a context
#: comment at the start of the statement text the client sent (``current_query()``, the
#: top-level text also for prepared statements), so an autocommit write needs no second
#: statement. The comment is ``/*pghistory:<id>:<on|>:<json>*/`` and never holds ``*``
#: before its end (see ``transport.context_comment``), so the first ``*/`` ends it. Parsed
#: with string functions: a regular expression costs 20 us here, these about 1 us.
_READ_CONTEXT_COMMENT = sql.SQL(
    "    IF {read} IS DISTINCT FROM 'on' THEN\n"
    "        v_pgh_set := set_config({read_name}, 'on', true);\n"
    "        IF coalesce({id}, '') = '' AND coalesce({ignore}, '') = ''\n"
    "                AND left(current_query(), {prefix_length}) = {prefix} THEN\n"
    "            v_pgh_query := current_query();\n"
    "            v_pgh_end := strpos(v_pgh_query, '*/');\n"
    "            IF v_pgh_end > 0 THEN\n"
    "                v_pgh_query := substr(v_pgh_query, {start}, v_pgh_end - {start});\n"
    "                v_pgh_set := set_config({id_name}, split_part(v_pgh_query, ':', 1), true);\n"
    "                v_pgh_set := set_config({ignore_name}, split_part(v_pgh_query, ':', 2), true);\n"
    "                v_pgh_set := set_config({meta_name}, substr(v_pgh_query, length(split_part(v_pgh_query, ':', 1))\n"
    "                    + length(split_part(v_pgh_query, ':', 2)) + 3), true);\n"
    "            END IF;\n"
    "        END IF;\n"
    "    END IF;\n"
).format(
    read=sql.SQL("current_setting({}, true)").format(sql.Literal(SETTING_CONTEXT_READ)),
    read_name=sql.Literal(SETTING_CONTEXT_READ),
    id=sql.SQL("current_setting({}, true)").format(sql.Literal(SETTING_CONTEXT_ID)),
    ignore=sql.SQL("current_setting({}, true)").format(sql.Literal(SETTING_IGNORE)),
    prefix_length=sql.Literal(len(CONTEXT_COMMENT_PREFIX)),
    prefix=sql.Literal(CONTEXT_COMMENT_PREFIX),
    start=sql.Literal(len(CONTEXT_COMMENT_PREFIX) + 1),
    id_name=sql.Literal(SETTING_CONTEXT_ID),
    ignore_name=sql.Literal(SETTING_IGNORE),
    meta_name=sql.Literal(SETTING_CONTEXT_METADATA),
)


def _declare(lines: Sequence[str]) -> str:
    return "\nDECLARE\n" + "".join(f"    {line}\n" for line in (*lines, *_READ_DECLARE))


def _row_function_body(tracking: Tracking, resolved: ResolvedTracker) -> str:
    tracker = resolved.tracker
    row = sql.SQL("NEW") if tracker.row == New else sql.SQL("OLD")
    if tracking.context == FK:
        ctx_id: sql.Composable = sql.SQL("{}()").format(sql.Identifier(tracking.context_schema, CONTEXT_ID_FUNCTION))
    else:
        ctx_id = _denormalized_id()
    insert = event_insert_head(tracking) + sql.SQL("\n    VALUES (") + sql.join(
        ", ", event_values(tracking, tracker.label, row, ctx_id, _denormalized_metadata())
    ) + sql.SQL(");\n")
    return sql.render(
        sql.SQL(_declare(()) + "BEGIN\n") + _READ_CONTEXT_COMMENT + _IGNORE_CHECK + sql.SQL("    ") + insert + sql.SQL("    RETURN NULL;\nEND;\n")
    )


def _rows_needed(resolved: ResolvedTracker) -> set[str]:
    """The rows a tracker's stored row and condition involve: ``{"old"}``, ``{"new"}`` or
    both (for an update, both versions of each row)."""
    tracker = resolved.tracker
    needed = {"old" if tracker.row == Old else "new"}
    if tracker.condition is not None:
        needed |= c.rows_referenced(tracker.condition)
    return needed


def _pairs_rows(resolved: ResolvedTracker) -> bool:
    """Whether a statement-level tracker pairs each old row with its new row."""
    return resolved.tracker.operation == Update and len(_rows_needed(resolved)) == 2


def _statement_source(resolved: ResolvedTracker, newline: str = "\n    ") -> sql.Composable:
    """The FROM clause of a statement-level trigger's INSERT ... SELECT.

    Inserts and deletes read one transition table. An update that needs both rows (a
    condition over OLD and NEW, or storing one row and testing the other) pairs them by
    position: Postgres appends each updated row's old and new versions to the two
    transition tables together, so the k-th old row and the k-th new row are the same
    row. ``row_number() OVER ()`` is computed over a plain scan of each table, before any
    join, so the plan cannot reorder it. Unlike a primary-key join this stays right when
    keys change (even when they swap: ``SET id = 3 - id``) and needs no primary key.

    The join is written ``FULL JOIN`` (every row has its partner, so it returns what an
    inner join would) because Postgres cannot run a full join as a nested loop. PL/pgSQL
    caches a generic plan after five calls; with an inner join, five single-row updates
    on a connection got a nested loop planned for one row, and the next bulk UPDATE on
    that connection then paired rows in quadratic time (5,000 rows: 19 s instead of
    0.2 s). A hash or merge full join stays linear whatever size the plan was made for.
    """
    if not _pairs_rows(resolved):
        if _rows_needed(resolved) == {"new"}:
            return sql.SQL("FROM {} AS {}").format(_NEW_TABLE, _NEW_ALIAS)
        return sql.SQL("FROM {} AS {}").format(_OLD_TABLE, _OLD_ALIAS)
    return sql.SQL("FROM {} AS {}" + newline + "FULL JOIN {} AS {}" + newline + "ON {}.{} = {}.{}").format(
        _numbered(_NEW_TABLE, _NEW_ALIAS), _NEW_ALIAS, _numbered(_OLD_TABLE, _OLD_ALIAS), _OLD_ALIAS,
        _OLD_ALIAS, _PAIR_RN, _NEW_ALIAS, _PAIR_RN,
    )


def _numbered(table: sql.Identifier, alias: sql.Identifier) -> sql.Composable:
    """A transition table with each row's position in it."""
    return sql.SQL("(SELECT {alias}.*, row_number() OVER () AS {rn} FROM {table} AS {alias})").format(
        alias=alias, rn=_PAIR_RN, table=table
    )


def _statement_insert(tracking: Tracking, resolved: ResolvedTracker, indent: str) -> sql.Composable:
    """The INSERT ... SELECT of a statement-level trigger, each line starting with *indent*.

    A paired update (both rows needed) first tests for an UPDATE of one row, the common case
    in applications: one row in each transition table, so they pair without numbering, by a
    cross join of the two. The numbered full join costs a hash table and two window
    aggregates per statement, measured at about 120 us of server time per single-row UPDATE
    (a third of a tracked autocommit UPDATE); with this branch a single-row UPDATE costs
    what the row-level trigger costs. The test reads at most two rows of ``pgh_new``, so
    bulk updates pay nothing measurable for it, and each branch has its own cached plan, so
    the one-row plan never serves a bulk update.
    """
    tracker = resolved.tracker
    condition = compile_tracker_condition(tracking, resolved)
    row_alias = _NEW_ALIAS if tracker.row == New else _OLD_ALIAS
    values = sql.join(", ", event_values(tracking, tracker.label, row_alias, sql.SQL("v_ctx"), sql.SQL("v_ctx_meta")))

    def insert(source: sql.Composable, pad: str) -> sql.Composable:
        newline = "\n" + pad
        where = sql.SQL(newline + "WHERE {}").format(condition) if condition is not None else sql.SQL("")
        return (
            sql.SQL(pad) + event_insert_head(tracking) + sql.SQL(newline + "SELECT ") + values
            + sql.SQL(newline) + source + where + sql.SQL(";\n")
        )

    if not _pairs_rows(resolved):
        return insert(_statement_source(resolved, "\n" + indent), indent)
    inner = indent + "    "
    one_row = sql.SQL("(SELECT count(*) FROM (SELECT FROM {} LIMIT 2) AS {}) = 1").format(_NEW_TABLE, _ONE_ROW_ALIAS)
    cross = sql.SQL("FROM {} AS {} CROSS JOIN {} AS {}").format(_NEW_TABLE, _NEW_ALIAS, _OLD_TABLE, _OLD_ALIAS)
    return (
        sql.SQL(indent + "IF {} THEN\n").format(one_row)
        + insert(cross, inner)
        + sql.SQL(indent + "ELSE\n")
        + insert(_statement_source(resolved, "\n" + inner), inner)
        + sql.SQL(indent + "END IF;\n")
    )


def _statement_function_body(tracking: Tracking, resolved: ResolvedTracker) -> str:
    insert = _statement_insert(tracking, resolved, "    ")
    declare: list[str] = []
    init: sql.Composable = sql.SQL("")
    after: sql.Composable = sql.SQL("")
    if tracking.context == FK:
        # The id comes from the setting; the shared row is written after the events and
        # only if there are any (pgh_context_id has no FK constraint, so order is free).
        declare = ["v_ctx uuid;", "v_count bigint;"]
        init = sql.SQL("    v_ctx := {};\n").format(_denormalized_id())
        after = sql.SQL(
            "    GET DIAGNOSTICS v_count = ROW_COUNT;\n"
            "    IF v_count > 0 AND v_ctx IS NOT NULL THEN\n        PERFORM {}();\n    END IF;\n"
        ).format(sql.Identifier(tracking.context_schema, CONTEXT_ID_FUNCTION))
    elif tracking.context == DENORMALIZED:
        declare = ["v_ctx uuid;", "v_ctx_meta jsonb;"]
        init = sql.SQL("    v_ctx := {};\n    v_ctx_meta := {};\n").format(_denormalized_id(), _denormalized_metadata())
    body = sql.SQL(_declare(declare) + "BEGIN\n") + _READ_CONTEXT_COMMENT + _IGNORE_CHECK + init + insert + after + sql.SQL("    RETURN NULL;\nEND;\n")
    if declare:
        # The INSERT ... SELECT names v_ctx (and v_ctx_meta) unqualified, next to the
        # transition tables' columns: a tracked table with a column of that name made
        # PL/pgSQL raise 'column reference "v_ctx" is ambiguous' on every write. Column
        # references are all qualified ("pgh_n"."col"), so an unqualified name is always
        # the variable. A compile-time directive: the statements run are unchanged.
        body = sql.SQL(_VARIABLE_CONFLICT) + body
    return sql.render(body)


#: Heads a statement-level function body whose query names its variables (see above).
_VARIABLE_CONFLICT = "\n#variable_conflict use_variable"


@dataclasses.dataclass(frozen=True)
class TriggerParts:
    """A tracker's trigger in pieces, for tools that install triggers themselves
    (django-pgtrigger): the PL/pgSQL body, the ``WHEN`` condition (row level only),
    the level, the operation, and the transition-table names (statement level only)."""

    name: str
    function_name: str
    body: str
    when: str | None
    level: str  # "ROW" or "STATEMENT"
    operation: str  # "INSERT", "UPDATE" or "DELETE"
    old_table: str | None
    new_table: str | None


def trigger_parts(tracking: Tracking, resolved: ResolvedTracker) -> TriggerParts:
    """The parts :func:`trigger` and :func:`trigger_function` assemble."""
    tracker = resolved.tracker
    row_level = resolved.level == Row
    condition = compile_tracker_condition(tracking, resolved) if row_level else None
    rows = tracker.operation.rows
    return TriggerParts(
        name=resolved.trigger_name,
        function_name=resolved.function_name,
        body=(_row_function_body if row_level else _statement_function_body)(tracking, resolved),
        when=sql.render(condition) if condition is not None else None,
        level=resolved.level.name,
        operation=tracker.operation.name,
        old_table=None if row_level or "old" not in rows else _OLD_TABLE.parts[0],
        new_table=None if row_level or "new" not in rows else _NEW_TABLE.parts[0],
    )


def trigger_function(tracking: Tracking, resolved: ResolvedTracker) -> Artefact:
    schema = tracking.event_schema_name
    body = (_row_function_body if resolved.level == Row else _statement_function_body)(tracking, resolved)
    return _function_artefact(schema, resolved.function_name, "trigger", body, tracking.table.qualified_name)


def trigger(tracking: Tracking, resolved: ResolvedTracker) -> Artefact:
    tracker = resolved.tracker
    table = sql.Identifier(tracking.table.schema, tracking.table.name)
    name = sql.Identifier(resolved.trigger_name)
    function = sql.Identifier(tracking.event_schema_name, resolved.function_name)
    op = tracker.operation.name
    if resolved.level == Row:
        condition = compile_tracker_condition(tracking, resolved)
        when = sql.SQL(" WHEN ({})").format(condition) if condition is not None else sql.SQL("")
        create = sql.SQL("CREATE TRIGGER {} AFTER {} ON {} FOR EACH ROW{} EXECUTE FUNCTION {}()").format(
            name, sql.SQL(op), table, when, function
        )
    else:
        referencing = {
            Insert: sql.SQL("NEW TABLE AS {}").format(_NEW_TABLE),
            Update: sql.SQL("OLD TABLE AS {} NEW TABLE AS {}").format(_OLD_TABLE, _NEW_TABLE),
            Delete: sql.SQL("OLD TABLE AS {}").format(_OLD_TABLE),
        }[tracker.operation]
        create = sql.SQL(
            "CREATE TRIGGER {} AFTER {} ON {} REFERENCING {} FOR EACH STATEMENT EXECUTE FUNCTION {}()"
        ).format(name, sql.SQL(op), table, referencing, function)
    return _trigger_artefact(
        resolved.trigger_name, (tracking.table.schema, tracking.table.name), create, tracking.table.qualified_name
    )


# ------------------------------------------------------------------------ append-only


def _protect_names(tracking: Tracking) -> tuple[str, str]:
    return names.fit("pgh", tracking.event_table_name, "append_only"), "pgh_append_only"


def protection_function(tracking: Tracking) -> Artefact:
    function_name, _ = _protect_names(tracking)
    schema = tracking.event_schema_name
    message = f"pghistory: event table {tracking.event_schema_name}.{tracking.event_table_name} is append-only; "
    body = sql.render(
        sql.SQL(
            "\nBEGIN\n"
            "    RAISE EXCEPTION USING\n"
            "        MESSAGE = {} || TG_OP || ' is not allowed',\n"
            "        ERRCODE = 'insufficient_privilege';\n"
            "END;\n"
        ).format(sql.Literal(message))
    )
    return _function_artefact(schema, function_name, "trigger", body, tracking.table.qualified_name)


def protection_trigger(tracking: Tracking) -> Artefact:
    function_name, trigger_name = _protect_names(tracking)
    create = sql.SQL(
        "CREATE TRIGGER {} BEFORE UPDATE OR DELETE OR TRUNCATE ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}()"
    ).format(sql.Identifier(trigger_name), event_table_ident(tracking), sql.Identifier(tracking.event_schema_name, function_name))
    return _trigger_artefact(
        trigger_name, (tracking.event_schema_name, tracking.event_table_name), create, tracking.table.qualified_name
    )


# ------------------------------------------------------------------------------ all


def tracking_artefacts(tracking: Tracking) -> list[Artefact]:
    """Every object one tracking installs, in creation order."""
    result = [event_table(tracking)]
    for resolved in tracking.resolved_trackers:
        result.append(trigger_function(tracking, resolved))
        result.append(trigger(tracking, resolved))
    if tracking.append_only:
        result.append(protection_function(tracking))
        result.append(protection_trigger(tracking))
    return result


def all_artefacts(trackings: Sequence[Tracking]) -> list[Artefact]:
    """Context machinery (once per context schema) followed by every tracking's objects."""
    from pghistory_core.spec import check_unique_labels

    check_unique_labels(trackings)
    result: list[Artefact] = []
    schemas: list[str] = []
    for tracking in trackings:
        if tracking.context == FK and tracking.context_schema not in schemas:
            schemas.append(tracking.context_schema)
    for schema in schemas:
        result.extend(context_artefacts(schema))
    for tracking in trackings:
        result.extend(tracking_artefacts(tracking))
    # Generated names can coincide (event table "ev" + label "a_b" and event table "ev_a" +
    # label "b"; a label "append_only" on an append-only tracking): CREATE OR REPLACE would
    # then silently swap one object for the other.
    seen: dict[tuple[str, str, str, str], Artefact] = {}
    for artefact in result:
        other = seen.setdefault(artefact.key, artefact)
        if other is not artefact:
            raise DuplicateLabelError(
                f"{artefact.kind} name {artefact.display_name!r} is generated twice (trackings of "
                f"{other.owner} and {artefact.owner}); rename a label or give an explicit event_table"
            )
    return result
