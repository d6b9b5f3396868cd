"""Partitions: the range partitions of partitioned event tables.

Layer: runtime. A tracking with ``partition="month"`` (or ``"day"``, ``"week"``, ``"year"``)
gets an event table partitioned by range of ``pgh_created_at``, with a DEFAULT partition
(:func:`pghistory_core.render.event_table`), so a write never fails for want of a
partition. This module:

- creates the range partitions ahead of time (:func:`create_partitions`; ``install`` calls
  it, and a scheduled job should, e.g. ``pghistory partitions`` daily). Rows that reached
  the DEFAULT partition because no partition covered their time yet are moved into the new
  partition in the same transaction (they would otherwise block its creation); writers of
  the event table wait meanwhile (the parent and the DEFAULT partition are locked), so no
  event of the new range reaches the DEFAULT partition behind the move;
- lists them (:func:`list_partitions`);
- drops or detaches the partitions entirely older than a cut-off
  (:func:`drop_partitions_before`, which :func:`pghistory_core.delete_events` uses: dropping
  a partition removes a month of history without deleting, vacuuming or writing WAL row
  by row).

Boundaries are at midnight UTC (weeks start on Monday); a partition is named after the
event table and its first day: ``<event table>_p20261101``. Bounds are read back from the
catalog, so partitions made by hand with other bounds are listed, never overlapped.
"""

from __future__ import annotations

import dataclasses
import datetime

from pghistory_core import db, names, sql
from pghistory_core.errors import ConfigurationError
from pghistory_core.render import (
    default_partition_name,
    event_table,
    event_table_ident,
    event_table_migration,
)
from pghistory_core.spec import Tracking

__all__ = [
    "AHEAD",
    "Partition",
    "create_partitions",
    "drop_partitions_before",
    "list_partitions",
    "is_plain",
    "partition_existing",
    "partition_name",
    "period_start",
]

UTC = datetime.timezone.utc

#: Periods created after the current one by default.
AHEAD = 2


@dataclasses.dataclass(frozen=True)
class Partition:
    """One partition of an event table: its table name (in the event table's schema), its
    bounds (``lower`` included, ``upper`` excluded; None for MINVALUE/MAXVALUE and for the
    DEFAULT partition) and whether it is the DEFAULT partition."""

    name: str
    lower: datetime.datetime | None
    upper: datetime.datetime | None
    is_default: bool = False

    def overlaps(self, lower: datetime.datetime, upper: datetime.datetime) -> bool:
        if self.is_default:
            return False
        return (self.lower is None or self.lower < upper) and (self.upper is None or lower < self.upper)


def period_start(interval: str, moment: datetime.datetime) -> datetime.datetime:
    """The start (UTC) of the *interval* period holding *moment* (an aware datetime)."""
    if moment.tzinfo is None:
        raise ConfigurationError(f"partition times must be timezone-aware datetimes, got {moment!r}")
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        return day - datetime.timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "year":
        return day.replace(month=1, day=1)
    raise ConfigurationError(f"unknown partition interval {interval!r}")


def _next_start(interval: str, start: datetime.datetime) -> datetime.datetime:
    if interval == "day":
        return start + datetime.timedelta(days=1)
    if interval == "week":
        return start + datetime.timedelta(days=7)
    if interval == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def partition_name(tracking: Tracking, start: datetime.datetime) -> str:
    """The name of the partition of *tracking*'s event table starting at *start*."""
    return names.fit(tracking.event_table_name, "p" + start.strftime("%Y%m%d"))


def _interval(tracking: Tracking) -> str:
    if tracking.partition is None:
        raise ConfigurationError(
            f"the event table {tracking.event_schema_name}.{tracking.event_table_name} is not partitioned "
            "(its tracking has no partition=)"
        )
    return tracking.partition


def _epoch(value: object) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromtimestamp(float(str(value)), UTC)


def _relkind(conn: db.Connection, tracking: Tracking) -> str | None:
    """The event table's ``relkind`` (``r`` plain, ``p`` partitioned), None if it does not exist."""
    query = sql.SQL("SELECT relkind::text FROM pg_class WHERE oid = to_regclass({})").format(
        sql.Literal(sql.render(event_table_ident(tracking)))
    )
    rows = db.fetch_all(conn, query)
    return str(rows[0][0]) if rows else None


def _check_table(conn: db.Connection, tracking: Tracking) -> None:
    """Refuse, by name, an event table that is missing or not partitioned in the database."""
    _interval(tracking)
    kind = _relkind(conn, tracking)
    name = f"{tracking.event_schema_name}.{tracking.event_table_name}"
    if kind is None:
        raise ConfigurationError(f"the event table {name} does not exist: install the tracking first")
    if kind != "p":
        raise ConfigurationError(
            f"the event table {name} is not partitioned in the database (its tracking has partition="
            f"{tracking.partition!r}); install refuses it too: give the tracking a new event_table"
        )


def list_partitions(conn: db.Connection, tracking: Tracking) -> list[Partition]:
    """The partitions of *tracking*'s event table, the DEFAULT one first, then by lower bound."""
    _check_table(conn, tracking)
    # pg_get_expr prints the bounds as timestamptz literals with their offset; cast back,
    # they are the same instants whatever the session's time zone.
    bound = r"(regexp_match(p.bound, '{} \(''([^'']*)''\)'))[1]::timestamptz"
    query = sql.SQL(
        "SELECT c.relname::text, p.bound = 'DEFAULT', "
        "extract(epoch FROM " + bound.format("FROM") + "), extract(epoch FROM " + bound.format("TO") + ") "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) AS p "
        "WHERE i.inhparent = to_regclass({}) ORDER BY 2 DESC, 3 NULLS FIRST, 1"
    ).format(sql.Literal(sql.render(event_table_ident(tracking))))
    return [
        Partition(str(name), _epoch(lower), _epoch(upper), bool(is_default))
        for name, is_default, lower, upper in db.fetch_all(conn, query)
    ]


def _columns(conn: db.Connection, table: sql.Identifier) -> list[str]:
    return [name for name, _ in _typed_columns(conn, sql.SQL("{}::regclass").format(sql.Literal(sql.render(table))))]


def _create_one(conn: db.Connection, tracking: Tracking, name: str, lower: datetime.datetime, upper: datetime.datetime) -> bool:
    """Create one range partition, moving the rows of its range out of the DEFAULT partition,
    unless (checked again under the DDL lock) a partition overlapping the range exists now:
    another run, an install or a scheduled job, made it meanwhile. Whether it was created."""
    schema = tracking.event_schema_name
    parent = event_table_ident(tracking)
    table = sql.Identifier(schema, name)
    default = sql.Identifier(schema, default_partition_name(tracking))
    bounds = sql.SQL("FOR VALUES FROM ({}) TO ({})").format(sql.Literal(lower), sql.Literal(upper))
    in_range = sql.SQL('"pgh_created_at" >= {} AND "pgh_created_at" < {}').format(sql.Literal(lower), sql.Literal(upper))
    with db.transaction(conn):
        db.lock_ddl(conn)
        # Writers wait from here until the partition exists: an event written into the
        # DEFAULT partition for this range after the rows were moved (or by a transaction
        # still open when they were counted) would make the partition's creation fail
        # ("partition constraint for default partition would be violated"). The parent
        # first, the order writers lock in, and ONLY: the other partitions stay readable.
        # CREATE TABLE ... PARTITION OF takes this lock on the parent anyway.
        db.execute(conn, sql.SQL("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE").format(parent))
        db.execute(conn, sql.SQL("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE").format(default))
        if any(p.overlaps(lower, upper) for p in list_partitions(conn, tracking)):
            return False
        taken = sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(sql.Literal(sql.render(table)))
        if db.fetch_all(conn, taken)[0][0] is True:
            raise ConfigurationError(
                f"cannot create the partition {schema}.{name} of {schema}.{tracking.event_table_name} for "
                f"[{lower.isoformat()}, {upper.isoformat()}): a table of that name already exists (a partition "
                "detached by retention with detach, or one made by hand with other bounds); rename it, then run again"
            )
        stray = db.fetch_all(conn, sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {})").format(default, in_range))
        if stray[0][0] is not True:
            db.execute(conn, sql.SQL("CREATE TABLE {} PARTITION OF {} {}").format(table, parent, bounds))
            return True
        # Every column the table has (an older spec's columns too), not only the spec's.
        columns = sql.join(", ", [sql.Identifier(column) for column in _columns(conn, parent)])
        db.execute(conn, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(table, parent))
        db.execute(
            conn,
            sql.SQL(
                'WITH "pgh_moved" AS (DELETE FROM {default} WHERE {in_range} RETURNING {columns}) '
                'INSERT INTO {table} ({columns}) SELECT {columns} FROM "pgh_moved"'
            ).format(default=default, in_range=in_range, columns=columns, table=table),
        )
        db.execute(conn, sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(parent, table, bounds))
    return True


def create_partitions(
    conn: db.Connection,
    tracking: Tracking,
    *,
    ahead: int = AHEAD,
    since: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
) -> list[str]:
    """Create the missing range partitions of *tracking*'s event table, from the period
    holding *since* (default: *now*) to *ahead* periods after the one holding *now*
    (default: the current time), each in its own transaction. Periods an existing
    partition overlaps are left alone. Returns the names created, oldest first."""
    interval = _interval(tracking)
    if isinstance(ahead, bool) or not isinstance(ahead, int) or ahead < 0:
        raise ConfigurationError(f"ahead must be a non-negative integer, got {ahead!r}")
    now = now if now is not None else datetime.datetime.now(UTC)
    start = period_start(interval, since if since is not None else now)
    last = period_start(interval, now)
    for _ in range(ahead):
        last = _next_start(interval, last)
    existing = list_partitions(conn, tracking)
    created = []
    while start <= last:
        upper = _next_start(interval, start)
        if not any(p.overlaps(start, upper) for p in existing):
            name = partition_name(tracking, start)
            if _create_one(conn, tracking, name, start, upper):
                created.append(name)
        start = upper
    return created


def _expired(conn: db.Connection, tracking: Tracking, before: datetime.datetime) -> list[tuple[str, sql.Identifier]]:
    """(name, table) of the range partitions whose upper bound is at or before *before*."""
    _interval(tracking)
    return [
        (p.name, sql.Identifier(tracking.event_schema_name, p.name))
        for p in list_partitions(conn, tracking)
        if not p.is_default and p.upper is not None and p.upper <= before
    ]


def _count(conn: db.Connection, table: sql.Identifier) -> int:
    return int(str(db.fetch_all(conn, sql.SQL("SELECT count(*) FROM {}").format(table))[0][0]))


def drop_partitions_before(
    conn: db.Connection, tracking: Tracking, before: datetime.datetime, *, detach: bool = False
) -> dict[str, int]:
    """Drop (or, with *detach*, detach and keep as ordinary tables) the range partitions of
    *tracking*'s event table whose every event is older than *before* (upper bound at or
    before it), each in its own transaction. Returns the events each held, by name."""
    if not isinstance(before, datetime.datetime) or before.tzinfo is None:
        raise ConfigurationError(
            f"before must be a timezone-aware datetime (partition bounds are instants), got {before!r}"
        )
    parent = event_table_ident(tracking)
    removed: dict[str, int] = {}
    for name, table in _expired(conn, tracking, before):
        with db.transaction(conn):
            removed[name] = _count(conn, table)
            if detach:
                db.execute(conn, sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(parent, table))
            else:
                db.execute(conn, sql.SQL("DROP TABLE {}").format(table))
    return removed



# ------------------------------------------------------------------------------- convert

_DEPENDENTS = """\
SELECT 'view ' || v.oid::regclass::text FROM pg_depend d
  JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
 WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = {table} AND v.oid <> {table}
UNION
SELECT 'foreign key ' || k.conname || ' on ' || k.conrelid::regclass::text FROM pg_constraint k
 WHERE k.contype = 'f' AND (k.conrelid = {table} OR k.confrelid = {table})
UNION
SELECT 'trigger ' || t.tgname FROM pg_trigger t WHERE t.tgrelid = {table} AND NOT t.tgisinternal
ORDER BY 1"""


def is_plain(conn: db.Connection, tracking: Tracking) -> bool:
    """Whether *tracking*'s event table exists as an ordinary (unpartitioned) table."""
    return _relkind(conn, tracking) == "r"


def _fetch_one(conn: db.Connection, query: sql.Composable) -> tuple[object, ...]:
    return db.fetch_all(conn, query)[0]


def _typed_columns(conn: db.Connection, table: sql.Composable) -> list[tuple[str, str]]:
    query = sql.SQL(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = {} AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    ).format(table)
    return [(str(name), str(type_)) for name, type_ in db.fetch_all(conn, query)]


def partition_existing(conn: db.Connection, tracking: Tracking, *, now: datetime.datetime | None = None) -> str:
    """Turn *tracking*'s existing, plain event table into a partitioned one, in place, in one
    transaction, keeping every event and every ``pgh_id``.

    The old table becomes the first partition, holding every event up to the end of the
    period of its latest event (at least up to the current period): it keeps its rows, is
    attached as is (one scan to check its bounds, and one to build the new primary key's
    index on it) and is renamed ``<event table>_before<its upper bound>``. A new partitioned
    table takes the event table's name, with every column the old one has, the DEFAULT
    partition, the identity continuing after the highest ``pgh_id``, and the range
    partitions from there (:func:`create_partitions`). Triggers keep writing to the same
    name; the event table is locked (``ACCESS EXCLUSIVE``) until the transaction ends, so
    writers wait rather than fail. Refused, changing nothing, when the table is missing or
    partitioned already, or when something is bound to the table itself rather than to its
    name (a view, a foreign key to or from it, a trigger on it: they would stay on the old
    table). Returns the old table's new name.
    """
    interval = _interval(tracking)
    ident = event_table_ident(tracking)
    schema = tracking.event_schema_name
    name = f"{schema}.{tracking.event_table_name}"
    oid = sql.SQL("{}::regclass").format(sql.Literal(sql.render(ident)))
    now = now if now is not None else datetime.datetime.now(UTC)
    with db.transaction(conn):
        db.lock_ddl(conn)  # before looking: a conversion running meanwhile is then finished
        kind = _relkind(conn, tracking)
        if kind is None:
            raise ConfigurationError(f"the event table {name} does not exist: nothing to partition")
        if kind == "p":
            raise ConfigurationError(f"the event table {name} is partitioned already")
        db.execute(conn, sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(ident))
        bound = [str(row[0]) for row in db.fetch_all(conn, sql.SQL(_DEPENDENTS).format(table=oid))]
        if bound:
            raise ConfigurationError(
                f"the event table {name} cannot be partitioned in place: {', '.join(bound)} would stay bound to the "
                "old table; drop or move them first"
            )
        # The columns the spec wants, first (the check in the block passes: still plain).
        db.execute(conn, event_table_migration(dataclasses.replace(tracking, partition=None)))
        count, latest, highest = _fetch_one(
            conn, sql.SQL('SELECT count(*), extract(epoch FROM max("pgh_created_at")), max("pgh_id") FROM {}').format(ident)
        )
        sequence = _fetch_one(
            conn,
            sql.SQL("SELECT pg_sequence_last_value(pg_get_serial_sequence({}, 'pgh_id'))").format(
                sql.Literal(sql.render(ident))
            ),
        )[0]
        boundary = period_start(interval, now)
        last = _epoch(latest)
        if last is not None:
            boundary = max(boundary, _next_start(interval, period_start(interval, last)))
        old_name = names.fit(tracking.event_table_name, "before" + boundary.strftime("%Y%m%d"))
        old = sql.Identifier(schema, old_name)
        indexes = [str(row[0]) for row in db.fetch_all(
            conn, sql.SQL("SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = {}").format(oid)
        )]
        # 1. The old table steps aside: its name, its indexes' names, its identity and comment.
        db.execute(conn, sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP IDENTITY IF EXISTS").format(ident, sql.Identifier("pgh_id")))
        db.execute(conn, sql.SQL("ALTER TABLE {} RENAME TO {}").format(ident, sql.Identifier(old_name)))
        prefix = tracking.event_table_name + "_"
        for index in indexes:
            suffix = index[len(prefix):] if index.startswith(prefix) else index
            db.execute(conn, sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(schema, index), sql.Identifier(names.fit(old_name, suffix))
            ))
        db.execute(conn, sql.SQL("COMMENT ON TABLE {} IS NULL").format(old))
        # Its primary key (pgh_id) gives way to the partitioned table's (pgh_id, pgh_created_at),
        # which attaching builds on it.
        for (key,) in db.fetch_all(conn, sql.SQL(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'p'"
        ).format(sql.Literal(sql.render(old)))):
            db.execute(conn, sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(old, sql.Identifier(str(key))))
        # 2. The partitioned table and its DEFAULT partition, with every column the old one
        # has, each of the old one's exact type (a partition's types must match; an ORM may
        # have kept a length, varchar(100), where the core's columns have none).
        artefact = event_table(tracking)
        db.execute(conn, artefact.create)
        made = dict(_typed_columns(conn, oid))
        for column, type_ in _typed_columns(conn, sql.SQL("{}::regclass").format(sql.Literal(sql.render(old)))):
            statement = None
            if column not in made:
                statement = "ALTER TABLE {} ADD COLUMN {} {}"
            elif made[column] != type_:
                statement = "ALTER TABLE {} ALTER COLUMN {} TYPE {}"
            if statement is not None:
                db.execute(conn, sql.SQL(statement).format(ident, sql.Identifier(column), sql.SQL(type_)))
        following = max(int(str(highest or 0)), int(str(sequence or 0))) + 1
        db.execute(conn, sql.SQL("ALTER TABLE {} ALTER COLUMN {} RESTART WITH {}").format(
            ident, sql.Identifier("pgh_id"), sql.Literal(following)
        ))
        # 3. The old table is the first partition; the new table is recorded as installed.
        db.execute(conn, sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (MINVALUE) TO ({})").format(
            ident, old, sql.Literal(boundary)
        ))
        from pghistory_core.lifecycle import record_installed  # local: lifecycle imports this module

        record_installed(conn, [artefact])
        after = _fetch_one(conn, sql.SQL("SELECT count(*) FROM {}").format(ident))[0]
        if after != count:  # pragma: no cover - a guard: the transaction rolls back
            raise ConfigurationError(f"partitioning {name} would have changed its event count ({count} -> {after})")
        create_partitions(conn, tracking, now=now)
    return old_name
