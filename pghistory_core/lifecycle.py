"""Lifecycle: compare what should be installed with what the catalog holds, and act.

Layer: lifecycle. Every object pghistory installs carries ``COMMENT 'pghistory:<content
hash>:<definition hash>'``: the content hash is the hash of the SQL we rendered; the
definition hash is the hash of the definition Postgres reported right after install
(``pg_get_triggerdef``, the function source, the table's columns). One catalog query reads
both for every object, so:

- ``installed``: present, content hash as expected, definition unchanged, enabled;
- ``outdated``: present but the specs now render different SQL, or someone changed it by
  hand (``CREATE OR REPLACE FUNCTION``, ``ALTER TABLE ... DISABLE TRIGGER``, a dropped
  column), or it exists without our comment;
- ``missing``: absent;
- ``orphaned``: carries our comment but no spec describes it.

Install is idempotent and runs in one transaction under an advisory lock; objects already
installed are not touched (no DDL, no locks on busy tables). Event tables are never dropped
or rewritten by install or prune: missing columns are added, changed types are altered.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence

from pghistory_core import db, names, sql
from pghistory_core.errors import DriftError, InvalidConditionError, PghistoryError
from pghistory_core.partitions import create_partitions
from pghistory_core.render import Artefact, all_artefacts, condition_check, event_table_migration
from pghistory_core.spec import Tracking

__all__ = [
    "State",
    "Status",
    "status",
    "install",
    "uninstall",
    "prune",
    "check",
    "check_conditions",
    "is_drift",
    "parse_comment",
    "record_installed",
    "record_sql",
    "render_install_script",
    "COMMENT_PREFIX",
]

COMMENT_PREFIX = "pghistory:"


class State(str, enum.Enum):
    INSTALLED = "installed"
    OUTDATED = "outdated"
    MISSING = "missing"
    ORPHANED = "orphaned"


@dataclasses.dataclass(frozen=True)
class Status:
    """The state of one object. ``artefact`` is None for orphans."""

    kind: str
    schema: str
    table: str
    name: str
    state: State
    reason: str = ""
    artefact: Artefact | None = None

    @property
    def display_name(self) -> str:
        if self.table:
            return f"{self.schema}.{self.table}:{self.name}"
        return f"{self.schema}.{self.name}"


@dataclasses.dataclass(frozen=True)
class _Found:
    kind: str
    schema: str
    table: str
    name: str
    comment: str | None
    definition: str
    enabled: str | None

    @property
    def key(self) -> tuple[str, str, str, str]:
        on = f"{self.schema}.{self.table}" if self.table else ""
        return (self.kind, self.schema, on, self.name)


_DEFINITION_HASH_CHARS = 16


def _definition_hash(definition: str) -> str:
    return names.stable_hash(definition, _DEFINITION_HASH_CHARS)


def parse_comment(comment: str | None) -> tuple[str, str] | None:
    """(content hash, definition hash) from a pghistory comment, or None for any other text."""
    if not comment or not comment.startswith(COMMENT_PREFIX):
        return None
    parts = comment[len(COMMENT_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


def _values_list(rows: Sequence[tuple[str, ...]]) -> sql.Composable:
    return sql.SQL("VALUES ") + sql.join(
        ", ", [sql.SQL("(") + sql.join(", ", [sql.Literal(v) for v in row]) + sql.SQL(")") for row in rows]
    )


# What Postgres reports as each kind's definition; its hash is the comment's second part.
# The catalog query reads it for every object, the record statement for one.
_TRIGGER_DEFINITION = "pg_get_triggerdef(t.oid)"
_FUNCTION_DEFINITION = "p.prosrc || coalesce(array_to_string(p.proconfig, ','), '')"
# A table's columns, and its partition key if it is partitioned (nothing is added for a
# plain table, so hashes recorded before partitioning existed still match).
_TABLE_DEFINITION = (
    "(SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)\n"
    "          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)\n"
    "       || coalesce(' PARTITION BY ' || pg_get_partkeydef(c.oid), '')"
)
_FROM_TRIGGER = """  FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace"""
_FROM_FUNCTION = """  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace"""
_FROM_TABLE = """  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace"""


def _catalog_query(artefacts: Sequence[Artefact]) -> sql.Composable:
    """One query returning our objects and every object an artefact names."""
    triggers = [(a.table[0], a.table[1], a.name) for a in artefacts if a.kind == "trigger" and a.table]
    functions = [(a.schema, a.name) for a in artefacts if a.kind == "function"]
    tables = [(a.schema, a.name) for a in artefacts if a.kind == "table"]
    like = sql.Literal(COMMENT_PREFIX + "%")

    def named(columns: str, rows: Sequence[tuple[str, ...]]) -> sql.Composable:
        if not rows:
            return sql.SQL("FALSE")
        return sql.SQL("(" + columns + ") IN (") + _values_list(rows) + sql.SQL(")")

    return sql.SQL(
        "\nSELECT 'trigger', n.nspname::text, c.relname::text, t.tgname::text, d.description,\n"
        "       " + _TRIGGER_DEFINITION + ", t.tgenabled::text\n" + _FROM_TRIGGER + "\n"
        "  LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_trigger'::regclass AND d.objsubid = 0\n"
        " WHERE NOT t.tgisinternal AND (d.description LIKE {like} OR {triggers})\n"
        "UNION ALL\n"
        "SELECT 'function', n.nspname::text, '', p.proname::text, d.description,\n"
        "       " + _FUNCTION_DEFINITION + ", NULL\n" + _FROM_FUNCTION + "\n"
        "  LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0\n"
        " WHERE d.description LIKE {like} OR {functions}\n"
        "UNION ALL\n"
        "SELECT 'table', n.nspname::text, '', c.relname::text, d.description,\n"
        "       " + _TABLE_DEFINITION + ", NULL\n" + _FROM_TABLE + "\n"
        "  LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0\n"
        " WHERE c.relkind IN ('r', 'p') AND (d.description LIKE {like} OR {tables})\n"
    ).format(
        like=like,
        triggers=named("n.nspname, c.relname, t.tgname", triggers),
        functions=named("n.nspname, p.proname", functions),
        tables=named("n.nspname, c.relname", tables),
    )


def _definition_query(artefact: Artefact) -> sql.Composable:
    """The definition the catalog query reports for *artefact*, as a scalar subquery."""
    if artefact.kind == "trigger":
        assert artefact.table is not None  # noqa: S101 - every trigger artefact is on a table
        where = sql.SQL(" WHERE NOT t.tgisinternal AND n.nspname = {} AND c.relname = {} AND t.tgname = {}").format(
            sql.Literal(artefact.table[0]), sql.Literal(artefact.table[1]), sql.Literal(artefact.name)
        )
        head = "SELECT " + _TRIGGER_DEFINITION + "\n" + _FROM_TRIGGER + "\n"
    elif artefact.kind == "function":
        where = sql.SQL(" WHERE n.nspname = {} AND p.proname = {}").format(
            sql.Literal(artefact.schema), sql.Literal(artefact.name)
        )
        head = "SELECT " + _FUNCTION_DEFINITION + "\n" + _FROM_FUNCTION + "\n"
    else:
        where = sql.SQL(" WHERE c.relkind IN ('r', 'p') AND n.nspname = {} AND c.relname = {}").format(
            sql.Literal(artefact.schema), sql.Literal(artefact.name)
        )
        head = "SELECT " + _TABLE_DEFINITION + "\n" + _FROM_TABLE + "\n"
    return sql.SQL("(" + head) + where + sql.SQL(" LIMIT 1)")


def record_sql(artefact: Artefact) -> sql.Composable:
    """The statement writing *artefact*'s ``pghistory:<content hash>:<definition hash>``
    comment, the definition hash computed by the server from what it reports (the same
    SHA-256 prefix :func:`status` compares), so it needs no round trip: install runs it,
    and the install script and offline migrations carry it. Raises (SQL error) if the
    object does not exist."""
    prefix = f"{COMMENT_PREFIX}{artefact.content_hash}:"
    body = sql.render(
        sql.SQL(
            "\nDECLARE\n"
            "    v_definition text := {definition};\n"
            "BEGIN\n"
            "    IF v_definition IS NULL THEN\n"
            "        RAISE EXCEPTION 'pghistory: % was not created by its SQL', {name};\n"
            "    END IF;\n"
            "    EXECUTE {comment_on} || quote_literal(\n"
            "        {prefix} || left(encode(sha256(convert_to(v_definition, 'UTF8')), 'hex'), {length}));\n"
            "END\n"
        ).format(
            definition=_definition_query(artefact),
            name=sql.Literal(f"{artefact.kind} {artefact.display_name}"),
            comment_on=sql.Literal(sql.render(sql.SQL("COMMENT ON ") + artefact.comment_target + sql.SQL(" IS "))),
            prefix=sql.Literal(prefix),
            length=sql.Literal(_DEFINITION_HASH_CHARS),
        )
    )
    return sql.SQL("DO {}").format(sql.dollar_quote(body))


def _read_catalog(conn: db.Connection, artefacts: Sequence[Artefact]) -> dict[tuple[str, str, str, str], _Found]:
    found: dict[tuple[str, str, str, str], _Found] = {}
    for row in db.fetch_all(conn, _catalog_query(artefacts)):
        item = _Found(*(str(v) if v is not None else None for v in row))  # type: ignore[arg-type]
        found[item.key] = item
    return found


def _state_of(artefact: Artefact, found: _Found | None) -> tuple[State, str]:
    if found is None:
        return State.MISSING, ""
    parsed = parse_comment(found.comment)
    if parsed is None:
        return State.OUTDATED, "exists but was not installed by pghistory (no pghistory comment)"
    content_hash, definition_hash = parsed
    if content_hash != artefact.content_hash:
        return State.OUTDATED, "the specs render a different definition"
    if definition_hash != _definition_hash(found.definition):
        return State.OUTDATED, "changed in the database since it was installed"
    if found.enabled is not None and found.enabled not in ("O", "A"):
        return State.OUTDATED, "disabled"
    return State.INSTALLED, ""


def _statuses(artefacts: Sequence[Artefact], found: dict[tuple[str, str, str, str], _Found]) -> list[Status]:
    result: list[Status] = []
    expected = set()
    for artefact in artefacts:
        expected.add(artefact.key)
        state, reason = _state_of(artefact, found.get(artefact.key))
        table = artefact.table[1] if artefact.table else ""
        schema = artefact.table[0] if artefact.table else artefact.schema
        result.append(Status(artefact.kind, schema, table, artefact.name, state, reason, artefact))
    for key, item in sorted(found.items()):
        if key not in expected and parse_comment(item.comment) is not None:
            result.append(Status(item.kind, item.schema, item.table, item.name, State.ORPHANED, "no spec describes it"))
    return result


def status(conn: db.Connection, trackings: Sequence[Tracking]) -> list[Status]:
    """The state of every object the trackings need, and of orphaned pghistory objects."""
    artefacts = all_artefacts(trackings)
    return _statuses(artefacts, _read_catalog(conn, artefacts))


def is_drift(item: Status) -> bool:
    """Whether *item* makes :func:`check` fail.

    Orphaned event tables do not: uninstall and prune keep them on purpose (they hold
    history); ``ls`` still shows them. Orphaned triggers and functions do: they still run.
    """
    return item.state != State.INSTALLED and not (item.state == State.ORPHANED and item.kind == "table")


def check(conn: db.Connection, trackings: Sequence[Tracking]) -> list[Status]:
    """Raise :class:`DriftError` listing every object that drifted (see :func:`is_drift`)."""
    drift = [s for s in status(conn, trackings) if is_drift(s)]
    if drift:
        lines = [f"  {s.kind} {s.display_name}: {s.state.value}" + (f" ({s.reason})" if s.reason else "") for s in drift]
        raise DriftError("history tracking differs from the specs:\n" + "\n".join(lines))
    return []


ProgressCallback = Callable[[str], None]


def install(
    conn: db.Connection, trackings: Sequence[Tracking], *, progress: ProgressCallback | None = None
) -> list[Status]:
    """Install or update every object of *trackings* in one transaction.

    Returns the statuses before install of the objects that were (re)created. Partitioned
    event tables also get their missing range partitions, up to
    :data:`~pghistory_core.partitions.AHEAD` periods ahead.
    """
    artefacts = all_artefacts(trackings)
    by_table = {(t.event_schema_name, t.event_table_name): t for t in trackings}
    changed: list[Status] = []
    with db.transaction(conn):
        db.lock_ddl(conn)
        check_conditions(conn, trackings)
        found = _read_catalog(conn, artefacts)
        touched: list[Artefact] = []
        for current in _statuses(artefacts, found):
            artefact = current.artefact
            if artefact is None or current.state == State.INSTALLED:
                continue
            if progress:
                progress(f"{current.state.value}: {artefact.kind} {artefact.display_name}")
            tracking = by_table.get((artefact.schema, artefact.name)) if artefact.kind == "table" else None
            if current.state == State.OUTDATED and tracking is not None:
                # Also refuses a table whose partitioning differs from the spec's.
                db.execute(conn, event_table_migration(tracking))
            db.execute(conn, artefact.create)
            touched.append(artefact)
            changed.append(current)
        record_installed(conn, touched)
        for tracking in trackings:
            if tracking.partition is not None:
                for name in create_partitions(conn, tracking):
                    if progress:
                        progress(f"created partition {tracking.event_schema_name}.{name}")
    return changed


# SQLSTATE of a missing table: not the condition's fault; the caller sees the driver's error.
_UNDEFINED_TABLE = "42P01"


def check_conditions(conn: db.Connection, trackings: Sequence[Tracking]) -> None:
    """Plan every tracker condition of *trackings* against its table
    (:func:`pghistory_core.render.condition_check`); raise
    :class:`~pghistory_core.errors.InvalidConditionError` naming the tracker and Postgres's
    reason for the first that cannot run. :func:`install` calls it before creating anything;
    tools that install the SQL themselves can call it first.
    """
    for tracking in trackings:
        for resolved in tracking.resolved_trackers:
            query = condition_check(tracking, resolved)
            if query is None:
                continue
            try:
                db.fetch_all(conn, query)
            except Exception as exc:  # the driver's error class: the core knows no driver
                if (getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)) == _UNDEFINED_TABLE:
                    raise
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InvalidConditionError(
                    f"tracker {resolved.tracker.label!r} on {tracking.table.qualified_name}: its condition "
                    f"cannot run on this table ({reason}); nothing was installed"
                ) from exc


def record_installed(conn: db.Connection, artefacts: Sequence[Artefact]) -> None:
    """Write the ``pghistory:<content hash>:<definition hash>`` comment of objects just
    created from *artefacts*' SQL (:func:`record_sql`, one round trip for all).

    :func:`install` calls it; so do tools that run the create SQL themselves (migrations).
    """
    if artefacts:
        db.execute(conn, sql.join(";\n", [record_sql(a) for a in artefacts]))


def render_install_script(trackings: Sequence[Tracking]) -> str:
    """The whole install as one SQL script, to review or to apply without pghistory
    (``psql -1 -f``, a migration file): what :func:`install` would run on an empty database,
    and the same on one that has an older install (event tables gain missing columns,
    functions and triggers are replaced). Each object is recorded as installed, so
    :func:`status` and ``pghistory check`` report it ``installed`` afterwards."""
    artefacts = all_artefacts(trackings)
    by_table = {(t.event_schema_name, t.event_table_name): t for t in trackings}
    scripts = []
    for artefact in artefacts:
        tracking = by_table.get((artefact.schema, artefact.name)) if artefact.kind == "table" else None
        if tracking is not None:
            scripts.append(sql.render(event_table_migration(tracking)) + ";")
        scripts.append(sql.render(artefact.create).rstrip(";") + ";")
        scripts.append(sql.render(record_sql(artefact)) + ";")
    return "\n\n".join(scripts) + "\n"


def _drop_statement(item: Status) -> sql.Composable:
    if item.artefact is not None:
        return item.artefact.drop
    if item.kind == "trigger":
        return sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
            sql.Identifier(item.name), sql.Identifier(item.schema, item.table)
        )
    if item.kind == "function":
        return sql.SQL("DROP FUNCTION IF EXISTS {}").format(sql.Identifier(item.schema, item.name))
    raise PghistoryError(f"refusing to drop {item.kind} {item.display_name}")  # pragma: no cover


def uninstall(
    conn: db.Connection,
    trackings: Sequence[Tracking],
    *,
    drop_event_tables: bool = False,
    progress: ProgressCallback | None = None,
) -> list[Status]:
    """Remove the triggers and functions of *trackings* (event tables only if asked).

    The shared context table and functions stay: other trackings may use them.
    """
    removed: list[Status] = []
    with db.transaction(conn):
        current = [s for s in status(conn, trackings) if s.artefact is not None and s.artefact.owner is not None]
        # Triggers before the functions they call.
        order = {"trigger": 0, "function": 1, "table": 2}
        for item in sorted(current, key=lambda s: order[s.kind]):
            if item.state == State.MISSING or (item.kind == "table" and not drop_event_tables):
                continue
            if progress:
                progress(f"drop {item.kind} {item.display_name}")
            db.execute(conn, _drop_statement(item))
            removed.append(item)
    return removed


def prune(conn: db.Connection, trackings: Sequence[Tracking], *, progress: ProgressCallback | None = None) -> list[Status]:
    """Drop orphaned pghistory triggers and functions. Tables (data) are only reported."""
    removed: list[Status] = []
    with db.transaction(conn):
        orphans = [s for s in status(conn, trackings) if s.state == State.ORPHANED and s.kind != "table"]
        for item in sorted(orphans, key=lambda s: s.kind != "trigger"):
            if progress:
                progress(f"drop orphaned {item.kind} {item.display_name}")
            db.execute(conn, _drop_statement(item))
            removed.append(item)
    return removed
