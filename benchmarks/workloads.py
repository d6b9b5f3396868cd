"""The benchmark table, the variants that track it, and one timed measurement.

Layer: benchmarks. Every variant gets its own copy of the same 8-column table (bigint key,
a foreign key to a small ``category`` table, integers, text, numeric, timestamptz, boolean)
in the ``pghistory_bench`` schema, so all variants can be measured side by side in one run.
The untracked copy is the baseline every ratio is taken against.

A bulk measurement times one whole transaction: ``BEGIN``, the context statement (for the
variants with context active), the write, ``COMMIT``. Including the commit means WAL the
triggers write is paid for, as it is in production. A single-row measurement times a loop of
autocommit writes, the loops of all variants interleaved in chunks
(:meth:`BenchDatabase.measure_single_round`); with context active, each write carries its
context as a comment in front of its text, as the integrations send it in autocommit, and
each write gets a fresh context, like one request doing one write (so its text is new and
never a prepared statement). Context statements are rendered before the clock
starts: the client-side rendering cost is measured on its own (:func:`render_cost`).

Between measurements a copy is emptied with ``DELETE`` and ``VACUUM``, never ``TRUNCATE``: the tables are created with ``vacuum_truncate = false``, so
their files keep their pages (within a workload, whose sizes only grow; each workload starts
from freshly truncated files, see :meth:`BenchDatabase.truncate`). After a ``TRUNCATE`` the first write must grow empty files
(table, each index) from nothing, which costs milliseconds on some file systems and more for
a tracked copy (it has more files); a production event table is never empty. The reset
runs with ``session_replication_role = replica`` when the role may set it (a superuser, or
``GRANT SET`` on Postgres 15+): no trigger fires, neither tracking nor the foreign-key
checks, which halves the reset at 1M rows (the fill is known to be valid). Otherwise
tracking is switched off through the context settings and the checks run.

All SQL with names or values is composed with :mod:`pghistory_core.sql`; per-row values in
the loops are bound by the driver (``%s``), so the server can prepare the statements.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import select
import time
from collections.abc import Callable, Iterator, Sequence

import psycopg
from psycopg import pq

import pghistory_core as ph
from pghistory_core import sql, transport
from pghistory_core.spec import DEFAULT_LEVEL

__all__ = [
    "SCHEMA",
    "COLUMNS",
    "Variant",
    "Workload",
    "Sample",
    "VARIANTS",
    "BULK_WORKLOADS",
    "SINGLE_WORKLOADS",
    "BenchDatabase",
    "bulk_statement",
    "single_statement",
    "row_values",
]

SCHEMA = "pghistory_bench"
CATEGORIES = 10
#: Statements per variant per turn in the interleaved single-row loops
#: (:meth:`BenchDatabase.measure_single_round`).
SINGLE_CHUNK = 50

COLUMNS = (
    ph.Column("id", "bigint", nullable=False),
    ph.Column("category_id", "integer", nullable=False),
    ph.Column("qty", "integer", nullable=False),
    ph.Column("stock", "integer", nullable=False),
    ph.Column("name", "text", nullable=False),
    ph.Column("price", "numeric(12,2)", nullable=False),
    ph.Column("updated_at", "timestamp with time zone", nullable=False),
    ph.Column("active", "boolean", nullable=False),
)

# Fixed text (no names, no values): the column definitions of every copy.
_TABLE_BODY = (
    "id bigint PRIMARY KEY, category_id integer NOT NULL REFERENCES {category} (id), "
    "qty integer NOT NULL, stock integer NOT NULL, name text NOT NULL, price numeric(12,2) NOT NULL, "
    "updated_at timestamp with time zone NOT NULL, active boolean NOT NULL"
)
_COLUMN_LIST = "id, category_id, qty, stock, name, price, updated_at, active"
# The row generated for key g; used by the bulk INSERT, the fill and the single-row INSERT.
_ROW_EXPRESSIONS = (
    "g, 1 + mod(g, 10)::integer, mod(g, 1000)::integer, mod(g, 37)::integer, 'item ' || g, "
    "mod(g, 10000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', mod(g, 2) = 0"
)
_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of writing the table: untracked, or tracked at a level with a context mode.

    ``pairing`` names an experimental statement-level UPDATE function
    (:mod:`benchmarks.pairing`) that replaces the generated one; such variants only run the
    UPDATE workloads. A ``probe`` is untracked but sends the context statement: it shows
    what the transport alone costs, in the single-row loops. Variants with context active
    send it as the library does in autocommit: a comment in front of the write
    (:func:`pghistory_core.transport.context_comment`). ``pipeline`` sends the context
    statement with the write in one psycopg pipeline instead (the library's transport while
    a database holds triggers that cannot read the comment). ``one_flush`` sends the context
    statement and the write through libpq's pipeline directly, written to the socket at once
    (:func:`_one_flush`), instead of psycopg's pipeline: what the transport could cost if
    the driver did that.
    """

    name: str
    level: ph.Level | None = None
    context: ph.ContextMode | None = None
    pairing: str | None = None
    probe: bool = False
    one_flush: bool = False
    pipeline: bool = False
    #: ``Tracking(partition=...)``: the event table partitioned by range of its time.
    partition: str | None = None

    @property
    def tracked(self) -> bool:
        return self.level is not None

    @property
    def sends_context(self) -> bool:
        return self.context in (ph.FK, ph.DENORMALIZED)

    @property
    def is_default(self) -> bool:
        """The configuration the targets are about: the default level with FK context."""
        return self.level == DEFAULT_LEVEL and self.context == ph.FK and self.pairing is None

    @property
    def table(self) -> str:
        return "item_" + self.name

    @property
    def event_table(self) -> str:
        return self.table + "_event"

    def describe(self) -> dict[str, str | bool | None]:
        return {
            "name": self.name,
            "level": self.level.name.lower() if self.level else None,
            "context": self.context.name if self.context else None,
            "pairing": self.pairing,
            "probe": self.probe,
            "one_flush": self.one_flush,
            "pipeline": self.pipeline,
            "partition": self.partition,
        }


UNTRACKED = Variant("untracked")
VARIANTS: tuple[Variant, ...] = (
    UNTRACKED,
    Variant("untracked_ctx", None, ph.FK, probe=True),
    Variant("untracked_ctx_stmt", None, ph.FK, probe=True, pipeline=True),
    Variant("untracked_ctx_flush", None, ph.FK, probe=True, one_flush=True),
    Variant("row_off", ph.Row, ph.NO_CONTEXT),
    Variant("row_fk", ph.Row, ph.FK),
    Variant("row_denorm", ph.Row, ph.DENORMALIZED),
    Variant("stmt_off", ph.Statement, ph.NO_CONTEXT),
    Variant("stmt_fk", ph.Statement, ph.FK),
    Variant("stmt_denorm", ph.Statement, ph.DENORMALIZED),
    # The default, with the event table partitioned by month (events land in this month's).
    Variant("stmt_fk_part", ph.Statement, ph.FK, partition="month"),
    # Experiments on the statement-level UPDATE (see benchmarks.pairing); FK context.
    Variant("stmt_fk_pkjoin", ph.Statement, ph.FK, pairing="pkjoin_guard"),
    Variant("stmt_fk_noguard", ph.Statement, ph.FK, pairing="noguard"),
)


@dataclasses.dataclass(frozen=True)
class Workload:
    """A kind of write. ``bulk`` workloads run one statement over *rows* rows; the others
    run a loop of single-row autocommit statements. ``prefill`` says whether the table
    holds the rows before the timed part; ``events_per_row`` is what tracking records."""

    name: str
    title: str
    bulk: bool
    prefill: bool
    events_per_row: float
    update: bool = False

    def runs(self, variant: Variant) -> bool:
        if variant.probe:
            return not self.bulk
        return variant.pairing is None or self.update


BULK_WORKLOADS = (
    Workload("bulk_insert", "bulk INSERT ... SELECT generate_series", True, False, 1.0),
    Workload("bulk_update", "bulk UPDATE, every row changes", True, True, 1.0, update=True),
    Workload("bulk_update_half", "bulk UPDATE, half the rows unchanged", True, True, 0.5, update=True),
    Workload("bulk_delete", "bulk DELETE", True, True, 1.0),
)
SINGLE_WORKLOADS = (
    Workload("single_insert", "single-row INSERT, autocommit loop", False, False, 1.0),
    Workload("single_update", "single-row UPDATE, autocommit loop", False, True, 1.0, update=True),
    Workload("single_delete", "single-row DELETE, autocommit loop", False, True, 1.0),
)


@dataclasses.dataclass
class Sample:
    """One measurement: seconds (for loops: per statement), WAL bytes, events recorded,
    event-table size in bytes."""

    seconds: float
    wal_bytes: int
    events: int
    event_table_bytes: int


def row_values(g: int) -> dict[str, object]:
    """The row generated for key *g* as Python values: what the ORM runners
    (:mod:`benchmarks.peers`) write, equal to ``_ROW_EXPRESSIONS`` evaluated in SQL."""
    return {
        "id": g,
        "category_id": 1 + g % CATEGORIES,
        "qty": g % 1000,
        "stock": g % 37,
        "name": f"item {g}",
        "price": decimal.Decimal(g % 10000) / 100,
        "updated_at": _EPOCH + datetime.timedelta(seconds=g),
        "active": g % 2 == 0,
    }


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, name)


def bulk_statement(workload: Workload, table: sql.Identifier, rows: int) -> str:
    statements = {
        "bulk_insert": sql.SQL("INSERT INTO {} (" + _COLUMN_LIST + ") SELECT " + _ROW_EXPRESSIONS + " FROM generate_series(1, {}) AS g").format(
            table, sql.Literal(rows)
        ),
        "bulk_update": sql.SQL("UPDATE {} SET qty = qty + 1, updated_at = updated_at + interval '1 second'").format(table),
        "bulk_update_half": sql.SQL("UPDATE {} SET qty = CASE WHEN mod(id, 2) = 0 THEN qty + 1 ELSE qty END").format(table),
        "bulk_delete": sql.SQL("DELETE FROM {}").format(table),
    }
    return sql.render(statements[workload.name])


def single_statement(workload: Workload, table: sql.Identifier, placeholder: str = "%s") -> str:
    """The single-row write of *workload* with *placeholder* for the key, bound per call:
    ``%s`` for psycopg, ``$1`` for libpq (never a value formatted in)."""
    key = sql.SQL(placeholder)
    statements = {
        "single_insert": sql.SQL("INSERT INTO {} (" + _COLUMN_LIST + ") SELECT " + _ROW_EXPRESSIONS + " FROM (SELECT {}::bigint AS g) AS s").format(table, key),
        "single_update": sql.SQL("UPDATE {} SET qty = qty + 1, updated_at = updated_at + interval '1 second' WHERE id = {}").format(table, key),
        "single_delete": sql.SQL("DELETE FROM {} WHERE id = {}").format(table, key),
    }
    return sql.render(statements[workload.name])


def _prepare(pgconn: pq.abc.PGconn, name: bytes, statement: bytes) -> None:
    result = pgconn.prepare(name, statement)
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise RuntimeError(f"preparing the one-flush statement failed: {(result.error_message or b'').decode(errors='replace')}")


def _one_flush(pgconn: pq.abc.PGconn, context: bytes, prepared: bytes, key: bytes) -> None:
    """The context statement and the *prepared* statement (key bound as ``$1``) in one libpq
    pipeline: both queued, then the sync, written to the socket in one go; results read
    until the sync's. psycopg's pipeline writes each statement as it is executed and reads
    whatever answer is ready in between, so the server wakes up for each; this is the
    transport's floor over a single-round-trip protocol, measured for comparison only. The
    write is prepared, as psycopg prepares a statement it has run five times; the context
    statement is not, as in the library."""
    pgconn.enter_pipeline_mode()
    error = None
    try:
        pgconn.send_query_params(context, None)
        pgconn.send_query_prepared(prepared, [key])
        pgconn.pipeline_sync()
        while pgconn.flush():
            select.select([], [pgconn.socket], [])
        while True:
            pgconn.consume_input()
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:
                    continue
                if result.status == pq.ExecStatus.PIPELINE_SYNC:
                    if error is not None:
                        raise RuntimeError(f"one-flush pipeline failed: {error}")
                    return
                if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
                    error = (result.error_message or b"").decode(errors="replace").strip()
            select.select([pgconn.socket], [], [])
    finally:
        pgconn.exit_pipeline_mode()


def _context_statement() -> str:
    """The statement an integration sends at the start of a transaction: a fresh context."""
    with ph.context(source="benchmark") as active:
        return transport.context_statement(active)


def _context_comment() -> str:
    """What an integration puts in front of an autocommit write: a fresh context."""
    with ph.context(source="benchmark") as active:
        return transport.context_comment(active)


Connection = psycopg.Connection[tuple[object, ...]]


class BenchDatabase:
    """The ``pghistory_bench`` schema on one connection: creates the copies, resets them
    and measures."""

    def __init__(self, conn: Connection, variants: tuple[Variant, ...]) -> None:
        self.conn = conn
        self.variants = variants
        #: Whether resets run with ``session_replication_role = replica`` (set by :meth:`create`).
        self.replica_resets = False

    # -------------------------------------------------------------------------- setup

    def tracking(self, variant: Variant) -> ph.Tracking:
        assert variant.level is not None and variant.context is not None  # noqa: S101 - internal
        table = ph.Table(variant.table, COLUMNS, schema=SCHEMA)
        return ph.Tracking(
            table,
            (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()),
            level=variant.level,
            context=variant.context,
            event_table=variant.event_table,
            context_schema=SCHEMA,
            partition=variant.partition,
        )

    def _tables(self, variant: Variant) -> list[sql.Identifier]:
        """The tables a measurement of *variant* writes to."""
        tables = [_ident(variant.table)]
        if variant.tracked:
            tables.append(_ident(variant.event_table))
        if variant.context == ph.FK and variant.tracked:
            tables.append(_ident("pghistory_context"))
        return tables

    def create(self) -> None:
        from benchmarks import pairing

        conn = self.conn
        schema = sql.Identifier(SCHEMA)
        category = _ident("category")
        with conn.transaction():
            conn.execute(sql.render(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema)))
            conn.execute(sql.render(sql.SQL("CREATE SCHEMA {}").format(schema)))
            conn.execute(sql.render(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, name text NOT NULL)").format(category)))
            conn.execute(
                sql.render(
                    sql.SQL("INSERT INTO {} SELECT g, 'category ' || g FROM generate_series(1, {}) AS g").format(
                        category, sql.Literal(CATEGORIES)
                    )
                )
            )
            for variant in self.variants:
                # Autovacuum off on the copies: a vacuum landing on one variant's measurement
                # would show up as its overhead (tables are truncated between measurements).
                conn.execute(
                    sql.render(
                        sql.SQL(
                            "CREATE TABLE {} (" + _TABLE_BODY + ") WITH (autovacuum_enabled = false, vacuum_truncate = false)"
                        ).format(
                            _ident(variant.table), category=category
                        )
                    )
                )
        self.replica_resets = self._may_set_replica_role()
        trackings = [self.tracking(v) for v in self.variants if v.tracked]
        ph.install(conn, trackings)
        with conn.transaction():
            settings = "ALTER TABLE {} SET (autovacuum_enabled = false, vacuum_truncate = false)"
            if any(v.context == ph.FK and v.tracked for v in self.variants):
                conn.execute(sql.render(sql.SQL(settings).format(_ident("pghistory_context"))))
            for variant in self.variants:
                if not variant.tracked:
                    continue
                # A partitioned table has no storage of its own: its partitions take the settings.
                for table in self._storage(variant.event_table):
                    conn.execute(sql.render(sql.SQL(settings).format(table)))
                if variant.pairing is not None:
                    conn.execute(sql.render(pairing.update_function(self.tracking(variant), variant.pairing)))

    def _storage(self, table: str) -> list[sql.Identifier]:
        """The tables holding *table*'s rows: itself, or its leaf partitions."""
        query = sql.SQL(
            "SELECT c.relname::text FROM pg_partition_tree({}) AS t JOIN pg_class c ON c.oid = t.relid "
            "WHERE t.isleaf ORDER BY 1"
        ).format(sql.Literal(sql.render(_ident(table))))
        leaves = [_ident(str(row[0])) for row in self.conn.execute(sql.render(query)).fetchall()]
        return leaves or [_ident(table)]  # a plain table is no partition tree

    def _may_set_replica_role(self) -> bool:
        try:
            with self.conn.transaction():
                self.conn.execute("SET LOCAL session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            return False
        return True

    def drop(self) -> None:
        self.conn.execute(sql.render(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))))

    def truncate(self) -> None:
        """Give every copy (and its event table) fresh, empty files. Called at each workload
        boundary: within a workload sizes only grow, so kept pages are what a real table has,
        but after the previous workload's largest size they are a scan of empty pages (a 1-row
        UPDATE over 1M rows' worth of them took 28 ms instead of 1-3 ms)."""
        tables = list(dict.fromkeys(t for v in self.variants for t in self._tables(v)))
        self.conn.execute(sql.render(sql.SQL("TRUNCATE {}").format(sql.join(", ", tables))))

    def reset(self, variant: Variant, rows: int) -> None:
        """Empty the copy, its events and the context table (``DELETE`` with no trigger
        firing, or tracking switched off, then ``VACUUM``: see the module docstring); fill
        *rows* rows without recording them, and analyze."""
        conn = self.conn
        tables = self._tables(variant)
        with conn.transaction():
            if self.replica_resets:
                conn.execute("SET LOCAL session_replication_role = replica")
            else:
                conn.execute(transport.context_statement(None, ignored=True))
            for table in tables:
                conn.execute(sql.render(sql.SQL("DELETE FROM {}").format(table)))
            if rows:
                conn.execute(bulk_statement(BULK_WORKLOADS[0], _ident(variant.table), rows))
        conn.execute(sql.render(sql.SQL("VACUUM (ANALYZE) {}").format(sql.join(", ", tables))))

    # -------------------------------------------------------------------- measurement

    def _wal_position(self) -> str:
        row = self.conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None  # noqa: S101 - a SELECT without FROM returns one row
        return str(row[0])

    def _wal_since(self, position: str) -> int:
        query = sql.SQL("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), {}::pg_lsn)::bigint").format(
            sql.Literal(position)
        )
        row = self.conn.execute(sql.render(query)).fetchone()
        assert row is not None  # noqa: S101
        return int(str(row[0]))

    @staticmethod
    def _wal_between(start: str, end: str) -> int:
        """Bytes between two ``pg_lsn`` texts (``hi/lo`` in hex), without a round trip."""

        def value(lsn: str) -> int:
            high, low = lsn.split("/")
            return (int(high, 16) << 32) + int(low, 16)

        return value(end) - value(start)

    def _events(self, variant: Variant) -> tuple[int, int]:
        if not variant.tracked:
            return 0, 0
        event_table = _ident(variant.event_table)
        # Summed over the partitions if partitioned: a partitioned table's own size is 0.
        query = sql.SQL(
            "SELECT count(*), coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree({0}) "
            "WHERE isleaf), pg_total_relation_size({0})) FROM {1}"
        ).format(sql.Literal(sql.render(event_table)), event_table)
        row = self.conn.execute(sql.render(query)).fetchone()
        assert row is not None  # noqa: S101
        return int(str(row[0])), int(str(row[1]))

    def _timed(self, variant: Variant, body: Callable[[], float]) -> Sample:
        position = self._wal_position()
        seconds = body()
        wal = self._wal_since(position)
        events, size = self._events(variant)
        return Sample(seconds, wal, events, size)

    def measure_bulk(self, workload: Workload, variant: Variant, rows: int) -> Sample:
        self.reset(variant, rows if workload.prefill else 0)
        statement = bulk_statement(workload, _ident(variant.table), rows)
        context = _context_statement() if variant.sends_context else None
        conn = self.conn

        def body() -> float:
            start = time.perf_counter()
            with conn.transaction():
                if context is not None:
                    conn.execute(context)
                conn.execute(statement)
            return time.perf_counter() - start

        return self._timed(variant, body)

    def measure_single_round(
        self, workload: Workload, variants: tuple[Variant, ...], loops: int, chunk: int = SINGLE_CHUNK
    ) -> list[Sample]:
        """One repeat of the single-row loop for every variant in *variants*, interleaved:
        the *loops* keys are cut into chunks of *chunk* statements, and each chunk runs on
        every copy in turn (the order rotated per chunk) before the next chunk starts. A
        slow second of the machine then lands on every variant alike instead of on whichever
        loop happened to be running (whole loops one after the other gave spreads of 2x
        between repeats and flipped the order of close variants between runs). Returns one
        sample per variant, in order: seconds per statement (the sum of its chunks), WAL
        written during its chunks, events and event-table size after the round."""
        for variant in variants:
            self.reset(variant, loops if workload.prefill else 0)
        conn = self.conn

        def loop(variant: Variant) -> Iterator[None]:
            statement = single_statement(workload, _ident(variant.table))
            contexts = [_context_statement() for _ in range(loops)] if variant.sends_context else None
            if variant.one_flush and contexts is not None:
                name = ("pgh_bench_" + variant.name).encode()
                _prepare(conn.pgconn, name, single_statement(workload, _ident(variant.table), "$1").encode())
                encoded = [c.encode() for c in contexts]
                yield
                try:
                    for key in range(1, loops + 1):
                        _one_flush(conn.pgconn, encoded[key - 1], name, str(key).encode())
                        yield
                finally:
                    conn.execute(sql.render(sql.SQL("DEALLOCATE {}").format(sql.Identifier(name.decode()))))
                return
            if contexts is not None and not variant.pipeline:
                # The comment and the write: one statement, a new text for each context.
                texts = [_context_comment() + statement for _ in range(loops)]
                yield  # everything above is built before the clock starts
                for key in range(1, loops + 1):
                    conn.execute(texts[key - 1], (key,))
                    yield
                return
            yield  # everything above is built before the clock starts
            for key in range(1, loops + 1):
                if contexts is not None:
                    # One pipeline: both statements share the implicit autocommit transaction.
                    with conn.pipeline():
                        conn.execute(contexts[key - 1])
                        conn.execute(statement, (key,))
                else:
                    conn.execute(statement, (key,))
                yield

        prepared = []
        for variant in variants:
            prepared.append(loop(variant))
            next(prepared[-1])
        wal = [0] * len(variants)
        position = self._wal_position()

        def count_wal(index: int) -> None:
            nonlocal position
            after = self._wal_position()
            wal[index] += self._wal_between(position, after)
            position = after

        seconds = interleave(prepared, loops, [v.name for v in variants], count_wal, chunk)
        samples = []
        for index, variant in enumerate(variants):
            events, size = self._events(variant)
            samples.append(Sample(seconds[index], wal[index], events, size))
        return samples


_END = object()


def interleave(
    loops: Sequence[Iterator[object]], size: int, names: Sequence[str],
    after: Callable[[int], None] | None = None, chunk: int = SINGLE_CHUNK,
) -> list[float]:
    """Run *loops* (iterators making one write per step, *size* steps each) interleaved:
    *chunk* steps of one loop at a time, the order rotated per chunk; *after(index)* runs
    untimed after each chunk of loop *index*. Returns seconds per step for each loop.
    Shared by the raw variants and the ORM runners (:mod:`benchmarks.peers.harness`)."""
    seconds = [0.0] * len(loops)
    for number, first in enumerate(range(0, size, chunk)):
        count = min(chunk, size - first)
        shift = number % len(loops)
        for index in [*range(shift, len(loops)), *range(shift)]:
            loop = loops[index]
            start = time.perf_counter()
            for _ in range(count):
                if next(loop, _END) is _END:
                    raise RuntimeError(f"{names[index]}: the single-row loop stopped before {size} writes")
            seconds[index] += time.perf_counter() - start
            if after is not None:
                after(index)
    for name, loop in zip(names, loops):
        if next(loop, _END) is not _END:  # runs the loop's own cleanup (a cursor closed)
            raise RuntimeError(f"{name}: the single-row loop has more than {size} writes")
    return [s / size for s in seconds]


def render_cost(count: int = 2_000) -> dict[str, float]:
    """Client-side microseconds per transaction to open a context and render its statement."""
    start = time.perf_counter()
    for _ in range(count):
        _context_statement()
    total = (time.perf_counter() - start) / count
    with ph.context(source="benchmark") as active:
        start = time.perf_counter()
        for _ in range(count):
            transport.context_statement(active)
        render_only = (time.perf_counter() - start) / count
        start = time.perf_counter()
        for _ in range(count):
            transport.context_comment(active)
        comment_only = (time.perf_counter() - start) / count
    return {"context_and_statement_us": total * 1e6, "statement_only_us": render_only * 1e6, "comment_only_us": comment_only * 1e6}


def default_variant_name() -> str:
    """The variant the targets are evaluated on."""
    return next(v.name for v in VARIANTS if v.is_default)
