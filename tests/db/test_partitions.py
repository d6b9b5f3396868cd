"""Database tier: partitioned event tables (``Tracking(partition=...)``).

Layer: tests (real Postgres). What a user sees: install creates the event table partitioned
by month with a DEFAULT partition and the partitions from this month to two months ahead;
events land in the partition of their time (or in DEFAULT when none covers it, never an
error), read back through history like any event table, and ``check`` reports no drift;
creating a partition moves the events that waited in DEFAULT into it; retention drops (or
detaches) whole partitions and deletes the rest in batches; a table whose partitioning
differs from the spec is refused by name, never converted silently.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from click.testing import CliRunner

import pghistory_core as ph
from pghistory_cli.main import cli
from pghistory_core import partitions, sql, transport
from tests.db.helpers import run_until_it_waits, track

UTC = dt.timezone.utc
NOTE = ph.Table("note", (ph.Column("id", "integer"), ph.Column("body", "text")))
TRACKINGS = [ph.Tracking(NOTE, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()), partition="month")]
MONTHLY = TRACKINGS[0]
SPEC = "tests.db.test_partitions:TRACKINGS"


def _month(offset: int, now: dt.datetime | None = None) -> dt.datetime:
    start = (now or dt.datetime.now(UTC)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(abs(offset)):
        start = (start + dt.timedelta(days=32)).replace(day=1) if offset > 0 else (start - dt.timedelta(days=1)).replace(day=1)
    return start


def _where(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(label, partition holding the event), in pgh_id order."""
    return conn.execute("SELECT pgh_label, tableoid::regclass::text FROM note_event ORDER BY pgh_id").fetchall()


@pytest.fixture
def notes(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE note (id integer PRIMARY KEY, body text)")
    track(conn, *TRACKINGS)


def test_install_partitions_the_event_table_and_events_land_by_time(conn, notes):
    listed = ph.list_partitions(conn, MONTHLY)
    assert listed[0] == ph.Partition("note_event_default", None, None, is_default=True)
    this_month = _month(0)
    assert [(p.name, p.lower, p.upper) for p in listed[1:]] == [
        (f"note_event_p{_month(i):%Y%m%d}", _month(i), _month(i + 1)) for i in range(3)
    ]
    assert {s.state for s in ph.status(conn, TRACKINGS)} == {ph.State.INSTALLED}  # partitions are no drift
    with ph.context(user="ann"), conn.transaction():
        transport.apply(conn)
        conn.execute("INSERT INTO note VALUES (1, 'a'), (2, 'b')")
        conn.execute("UPDATE note SET body = 'c' WHERE id = 1")
    current = f"note_event_p{this_month:%Y%m%d}"
    assert _where(conn) == [("insert", current), ("insert", current), ("update", current)]
    history = ph.object_history(conn, TRACKINGS, "note", 1)
    assert [(e.pgh_label, e.pgh_data["body"], e.pgh_context) for e in history] == [
        ("insert", "a", {"user": "ann"}), ("update", "c", {"user": "ann"})
    ]
    # An event from a time no partition covers goes to DEFAULT: a write never fails.
    conn.execute("INSERT INTO note_event (pgh_created_at, pgh_label, pgh_obj_id, id, body) "
                 "VALUES ('2020-03-15+00', 'imported', 1, 1, 'old')")
    assert _where(conn)[-1] == ("imported", "note_event_default")
    assert ph.install(conn, TRACKINGS) == []  # nothing to do, no partition missing


def test_creating_a_partition_moves_the_events_waiting_in_default(conn, notes):
    conn.execute("INSERT INTO note_event (pgh_created_at, pgh_label, pgh_obj_id, id, body) "
                 "VALUES ('2020-03-15+00', 'imported', 1, 1, 'march'), ('2020-04-02+00', 'imported', 1, 1, 'april')")
    created = ph.create_partitions(conn, MONTHLY, since=dt.datetime(2020, 3, 20, tzinfo=UTC), ahead=0,
                                   now=dt.datetime(2020, 4, 1, tzinfo=UTC))
    assert created == ["note_event_p20200301", "note_event_p20200401"]
    assert conn.execute("SELECT body, tableoid::regclass::text FROM note_event ORDER BY pgh_id").fetchall() == [
        ("march", "note_event_p20200301"), ("april", "note_event_p20200401")
    ]
    assert conn.execute("SELECT count(*) FROM note_event_default").fetchone() == (0,)
    ph.check(conn, TRACKINGS)
    # Existing partitions are left alone; the moved events read back as history.
    assert ph.create_partitions(conn, MONTHLY, since=dt.datetime(2020, 3, 1, tzinfo=UTC)) == [
        f"note_event_p{d:%Y%m%d}" for d in _months_between(dt.datetime(2020, 5, 1, tzinfo=UTC), _month(-1))
    ]
    assert [e.pgh_data["body"] for e in ph.object_history(conn, TRACKINGS, "note", 1)] == ["march", "april"]


def test_an_event_written_into_default_while_its_partition_is_created_is_moved_too(conn, dsn, notes):
    # The cron job lapsed: the current month has no partition, events wait in DEFAULT.
    current = f"note_event_p{_month(0):%Y%m%d}"
    conn.execute(sql.render(sql.SQL("DROP TABLE {}").format(sql.Identifier(current))))
    conn.execute("INSERT INTO note VALUES (1, 'committed')")
    with psycopg.connect(dsn) as writer:  # not autocommit: its event stays uncommitted in DEFAULT
        writer.execute("INSERT INTO note VALUES (2, 'in flight')")
        creating = run_until_it_waits(conn, dsn, lambda c: ph.create_partitions(c, MONTHLY))
        writer.commit()
    assert creating.result() == [current]
    assert conn.execute("SELECT id, tableoid::regclass::text FROM note_event ORDER BY pgh_id").fetchall() == [
        (1, current), (2, current)
    ]


def _months_between(first: dt.datetime, last: dt.datetime) -> list[dt.datetime]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def _seed_months(conn: psycopg.Connection) -> None:
    """One insert event on the 15th of each month of 2020, in monthly partitions."""
    ph.create_partitions(conn, MONTHLY, since=dt.datetime(2020, 1, 1, tzinfo=UTC), ahead=0,
                         now=dt.datetime(2020, 12, 1, tzinfo=UTC))
    conn.execute("INSERT INTO note_event (pgh_created_at, pgh_label, pgh_obj_id, id, body) "
                 "SELECT make_timestamptz(2020, m, 15, 0, 0, 0, 'UTC'), 'insert', m, m, 'm' || m "
                 "FROM generate_series(1, 12) m")


def test_retention_drops_whole_partitions_and_deletes_the_rest(conn, notes):
    _seed_months(conn)
    cut = dt.datetime(2020, 4, 20, tzinfo=UTC)  # Jan-Mar go whole; Apr 15 is deleted row by row
    assert ph.count_events_before(conn, MONTHLY, cut) == {"public.note_event": 4}
    assert ph.delete_events(conn, MONTHLY, cut) == {"public.note_event": 4}
    names = [p.name for p in ph.list_partitions(conn, MONTHLY)]
    assert "note_event_p20200301" not in names and "note_event_p20200401" in names
    assert conn.execute("SELECT to_regclass('note_event_p20200101')").fetchone() == (None,)  # dropped
    assert conn.execute("SELECT min(body), count(*) FROM note_event").fetchone() == ("m10", 8)  # May..Dec
    assert ph.delete_events(conn, MONTHLY, cut) == {"public.note_event": 0}


@pytest.mark.parametrize(
    ("interval", "cut", "names"),
    [
        ("day", "2024-01-03", ["note_event_p20240103", "note_event_p20240104"]),
        ("week", "2024-01-08", ["note_event_p20240108", "note_event_p20240115"]),  # Mondays
        ("year", "2025-01-01", ["note_event_p20250101"]),
    ],
)
def test_other_intervals_cut_exactly_on_a_bound_keep_the_event_at_it(conn, interval, cut, names):
    conn.execute("CREATE TABLE note (id integer PRIMARY KEY, body text)")
    tracking = ph.Tracking(NOTE, (ph.InsertEvent(),), partition=interval)
    track(conn, tracking)
    # One event a day from 2023-12-30 to 2025-01-02, at midnight UTC; none has a partition yet.
    conn.execute("INSERT INTO note_event (pgh_created_at, pgh_label, pgh_obj_id, id, body) "
                 "SELECT timestamptz '2023-12-30 00:00+00' + g * interval '1 day', 'insert', g, g, 'x' "
                 "FROM generate_series(0, 369) g")
    created = ph.create_partitions(conn, tracking, since=dt.datetime(2023, 12, 30, tzinfo=UTC), ahead=1,
                                   now=dt.datetime.fromisoformat(cut + "T00:00:00+00:00"))
    assert created[-len(names):] == names  # the period of the cut-off, and one ahead
    at = dt.datetime.fromisoformat(cut + "T00:00:00+00:00")
    older = conn.execute("SELECT count(*) FROM note_event WHERE pgh_created_at < %s", (at,)).fetchone()[0]
    assert ph.delete_events(conn, tracking, at, batch_size=3) == {"public.note_event": older}
    # Every partition before the cut-off was dropped whole (install's, for the current
    # period and after, stay); the event at the cut-off stays.
    left = ph.list_partitions(conn, tracking)[1:]
    assert [p.name for p in left][: len(names)] == names and left[0].lower == at
    assert conn.execute("SELECT min(pgh_created_at), count(*) FROM note_event").fetchone() == (at, 370 - older)


def test_retention_can_detach_partitions_instead(conn, notes):
    _seed_months(conn)
    cut = dt.datetime(2020, 3, 1, tzinfo=UTC)
    assert ph.delete_events(conn, MONTHLY, cut, detach=True) == {"public.note_event": 2}
    assert conn.execute("SELECT count(*) FROM note_event").fetchone() == (10,)
    # The detached partitions are ordinary tables, their events kept for an archive.
    assert conn.execute("SELECT body FROM note_event_p20200101 UNION ALL SELECT body FROM note_event_p20200201").fetchall() == [
        ("m1",), ("m2",)
    ]
    # Events of a detached period that arrive later (imported history) wait in DEFAULT;
    # its partition cannot be made again under the archive's name, and the error says why.
    conn.execute("INSERT INTO note_event (pgh_created_at, pgh_label, pgh_obj_id, id, body) "
                 "VALUES ('2020-01-20+00', 'imported', 1, 1, 'late')")
    with pytest.raises(ph.ConfigurationError, match=r"partition public\.note_event_p20200101 of public\.note_event .*"
                       r"a table of that name already exists \(a partition detached by retention"):
        ph.create_partitions(conn, MONTHLY, since=dt.datetime(2020, 1, 1, tzinfo=UTC), now=dt.datetime(2020, 12, 1, tzinfo=UTC))
    assert conn.execute("SELECT body, tableoid::regclass::text FROM note_event WHERE pgh_label = 'imported'").fetchall() == [
        ("late", "note_event_default")
    ]


def test_a_table_partitioned_differently_from_the_spec_is_refused(conn):
    conn.execute("CREATE TABLE note (id integer PRIMARY KEY, body text)")
    plain = ph.Tracking(NOTE)
    track(conn, plain)
    with pytest.raises(psycopg.errors.WrongObjectType, match=r"event table public\.note_event exists and is not partitioned"):
        ph.install(conn, [plain.replace(partition="month")])
    ph.check(conn, [plain])  # the failed install changed nothing
    conn.execute("CREATE TABLE doc (id integer PRIMARY KEY)")
    doc = ph.Tracking(ph.Table("doc", (ph.Column("id", "integer"),)), partition="week")
    track(conn, doc)
    with pytest.raises(psycopg.errors.WrongObjectType, match=r"doc_event is partitioned, but its tracking has no partition"):
        ph.install(conn, [doc.replace(partition=None)])


def test_bad_partition_settings_are_refused_by_name():
    with pytest.raises(ph.ConfigurationError, match="partition must be one of day, week, month, year"):
        ph.Tracking(NOTE, partition="fortnight")
    with pytest.raises(ph.ConfigurationError, match="append-only event table cannot be partitioned"):
        ph.Tracking(NOTE, partition="month", append_only=True)
    with pytest.raises(ph.ConfigurationError, match="is not partitioned"):
        partitions.create_partitions(None, ph.Tracking(NOTE))  # type: ignore[arg-type]  # refused before any query
    with pytest.raises(ph.ConfigurationError, match="ahead must be a non-negative integer"):
        partitions.create_partitions(None, MONTHLY, ahead=-1)  # type: ignore[arg-type]
    for naive in (dt.datetime(2030, 1, 1), "2030-01-01T00:00:00+00:00"):
        with pytest.raises(ph.ConfigurationError, match="before must be a timezone-aware datetime"):
            partitions.drop_partitions_before(None, MONTHLY, naive)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("interval", "moment", "start"),
    [
        ("day", "2026-11-22T23:30:00-02:00", "2026-11-23"),  # 01:30 UTC the next day
        ("week", "2026-11-22T12:00:00+00:00", "2026-11-16"),  # a Sunday: its Monday
        ("month", "2026-12-31T12:00:00+00:00", "2026-12-01"),
        ("year", "2026-07-01T00:00:00+00:00", "2026-01-01"),
    ],
)
def test_periods_start_at_midnight_utc(interval, moment, start):
    assert partitions.period_start(interval, dt.datetime.fromisoformat(moment)) == dt.datetime.fromisoformat(start + "T00:00:00+00:00")


def test_december_is_followed_by_january(conn, notes):
    created = ph.create_partitions(conn, MONTHLY, ahead=1, now=dt.datetime(2030, 12, 5, tzinfo=UTC))
    assert created == ["note_event_p20301201", "note_event_p20310101"]
    assert [(p.lower, p.upper) for p in ph.list_partitions(conn, MONTHLY)[-2:]] == [
        (dt.datetime(2030, 12, 1, tzinfo=UTC), dt.datetime(2031, 1, 1, tzinfo=UTC)),
        (dt.datetime(2031, 1, 1, tzinfo=UTC), dt.datetime(2031, 2, 1, tzinfo=UTC)),
    ]


ENV = {"COLUMNS": "200", "NO_COLOR": "1", "DATABASE_URL": None, "PGHISTORY_SPEC": None}


def test_cli_creates_lists_and_retains_partitions(dsn, conn, notes):
    run = CliRunner()
    made = run.invoke(cli, ["partitions", "--dsn", dsn, "--spec", SPEC, "--since", "2020-11-03T00:00:00+00:00",
                            "--ahead", "0"], env=ENV)
    assert made.exit_code == 0, made.output
    assert "created public.note_event_p20201101" in made.stderr
    assert "note_event_default" in made.stdout and "2020-11-01T00:00:00+00:00" in made.stdout
    assert "note_event_p20201101" in [p.name for p in ph.list_partitions(conn, MONTHLY)]
    again = run.invoke(cli, ["partitions", "--dsn", dsn, "--spec", SPEC, "--list"], env=ENV)
    assert again.exit_code == 0 and "created" not in again.stderr
    conn.execute("INSERT INTO note_event (pgh_created_at, pgh_label, pgh_obj_id, id, body) "
                 "VALUES ('2020-11-15+00', 'imported', 1, 1, 'x')")
    kept = run.invoke(cli, ["retention", "--dsn", dsn, "--spec", SPEC, "--before", "2020-12-01T00:00:00+00:00",
                            "--detach", "--yes"], env=ENV)
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.splitlines() == [
        "public.note_event: 1 events removed (whole partitions detached and kept as tables, the other events deleted)"
    ]
    assert conn.execute("SELECT body FROM note_event_p20201101").fetchall() == [("x",)]  # detached, kept
    plain = run.invoke(cli, ["partitions", "--dsn", dsn, "--spec", "tests.db.test_retention:TRACKINGS"], env=ENV)
    assert plain.exit_code == 2 and "none of the chosen trackings has a partitioned event table" in plain.output


def test_partition_maintenance_names_a_missing_or_unpartitioned_table(conn):
    with pytest.raises(ph.ConfigurationError, match=r"event table public\.note_event does not exist: install"):
        ph.create_partitions(conn, MONTHLY)
    conn.execute("CREATE TABLE note (id integer PRIMARY KEY, body text)")
    track(conn, ph.Tracking(NOTE))
    with pytest.raises(ph.ConfigurationError, match=r"public\.note_event is not partitioned in the database"):
        ph.list_partitions(conn, MONTHLY)


LEDGER = ph.Table("ledger", (ph.Column("id", "integer"), ph.Column("amount", "numeric")))
LEDGER_PLAIN = ph.Tracking(LEDGER, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()))
LEDGER_MONTHLY = LEDGER_PLAIN.replace(partition="month")


def test_an_existing_event_table_is_partitioned_in_place(conn):
    conn.execute("CREATE TABLE ledger (id integer PRIMARY KEY, amount numeric)")
    track(conn, LEDGER_PLAIN)
    with ph.context(user="ann"), conn.transaction():
        transport.apply(conn)
        conn.execute("INSERT INTO ledger SELECT g, g * 1.5 FROM generate_series(1, 4) g")
    conn.execute("UPDATE ledger_event SET pgh_created_at = '2020-03-15+00' WHERE pgh_obj_id <= 2")
    # What an older spec or an ORM may have left: an extra column, a precision on a type.
    conn.execute("ALTER TABLE ledger_event ADD COLUMN legacy text, ALTER COLUMN amount TYPE numeric(10,2)")
    conn.execute("UPDATE ledger_event SET legacy = 'kept'")
    rows = "SELECT pgh_id, pgh_label, amount, legacy, pgh_context_id FROM ledger_event ORDER BY pgh_id"
    before = conn.execute(rows).fetchall()

    old = partitions.partition_existing(conn, LEDGER_MONTHLY)
    boundary = _month(1)  # the old table holds everything up to the end of this month
    assert old == f"ledger_event_before{boundary:%Y%m%d}"
    listed = ph.list_partitions(conn, LEDGER_MONTHLY)
    assert listed[0].is_default and (listed[1].name, listed[1].lower, listed[1].upper) == (old, None, boundary)
    assert [p.lower for p in listed[2:]] == [_month(1), _month(2)]
    assert conn.execute(rows).fetchall() == before
    amount_type = ("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                   "WHERE attrelid = 'ledger_event'::regclass AND attname = 'amount'")
    assert conn.execute(amount_type).fetchone() == ("numeric(10,2)",)
    ph.check(conn, [LEDGER_MONTHLY])  # recorded as the partitioned spec's table: no drift
    assert ph.install(conn, [LEDGER_MONTHLY]) == []
    with conn.transaction():
        conn.execute("UPDATE ledger SET amount = 9 WHERE id = 1")
    newest = conn.execute("SELECT pgh_id, tableoid::regclass::text FROM ledger_event ORDER BY pgh_id DESC LIMIT 1").fetchone()
    assert newest == (before[-1][0] + 1, old)  # the identity continues; this month is still the old table's
    assert [e.pgh_label for e in ph.object_history(conn, [LEDGER_MONTHLY], "ledger", 1)] == ["insert", "update"]
    # Retention deletes inside the old partition until its whole range is past, then drops it.
    assert ph.delete_events(conn, LEDGER_MONTHLY, dt.datetime(2021, 1, 1, tzinfo=UTC)) == {"public.ledger_event": 2}
    assert ph.delete_events(conn, LEDGER_MONTHLY, boundary) == {"public.ledger_event": 3}
    assert old not in [p.name for p in ph.list_partitions(conn, LEDGER_MONTHLY)]


def test_partitioning_in_place_refuses_what_would_stay_behind(conn, notes):
    with pytest.raises(ph.ConfigurationError, match=r"event table public\.note_event is partitioned already"):
        partitions.partition_existing(conn, MONTHLY)
    conn.execute("CREATE TABLE memo (id integer PRIMARY KEY)")
    memo = ph.Tracking(ph.Table("memo", (ph.Column("id", "integer"),)))
    track(conn, memo)
    conn.execute("CREATE VIEW recent_memos AS SELECT * FROM memo_event")
    with pytest.raises(ph.ConfigurationError, match=r"view recent_memos would stay bound to the old table"):
        partitions.partition_existing(conn, memo.replace(partition="month"))
    assert conn.execute("SELECT relkind::text FROM pg_class WHERE relname = 'memo_event'").fetchone() == ("r",)
    with pytest.raises(ph.ConfigurationError, match=r"event table public\.nothing_event does not exist"):
        partitions.partition_existing(conn, ph.Tracking(ph.Table("nothing", (ph.Column("id", "integer"),)), partition="day"))


LEDGERS = [LEDGER_MONTHLY]


def test_cli_converts_an_unpartitioned_event_table_after_asking(dsn, conn):
    conn.execute("CREATE TABLE ledger (id integer PRIMARY KEY, amount numeric)")
    track(conn, LEDGER_PLAIN)
    conn.execute("INSERT INTO ledger VALUES (1, 2)")
    args = ["partitions", "--dsn", dsn, "--spec", "tests.db.test_partitions:LEDGERS", "--convert"]
    refused = CliRunner().invoke(cli, args, env=ENV, input="n\n")
    assert refused.exit_code == 1 and "Partition public.ledger_event in place?" in refused.output
    assert partitions.is_plain(conn, LEDGER_MONTHLY)
    done = CliRunner().invoke(cli, [*args, "--yes"], env=ENV)
    assert done.exit_code == 0, done.output
    assert f"partitioned public.ledger_event: its events are now in public.ledger_event_before{_month(1):%Y%m%d}" in done.stderr
    assert not partitions.is_plain(conn, LEDGER_MONTHLY)
    assert conn.execute("SELECT count(*) FROM ledger_event").fetchone() == (1,)
    again = CliRunner().invoke(cli, [*args, "--yes"], env=ENV)  # nothing left to convert
    assert again.exit_code == 0 and "partitioned public" not in again.stderr


def test_a_partition_made_meanwhile_is_not_made_twice(conn, notes, monkeypatch):
    """Two maintenance runs at once (a scheduled job and an install): the second one's list
    of partitions is stale by the time it creates one; it checks again under the DDL lock."""
    made = ph.create_partitions(conn, MONTHLY, ahead=0, now=dt.datetime(2031, 5, 5, tzinfo=UTC))
    assert made == ["note_event_p20310501"]
    real = partitions.list_partitions
    calls = []

    def listing(c, t):  # the first listing misses the partition just made
        calls.append(t)
        return [] if len(calls) == 1 else real(c, t)

    monkeypatch.setattr(partitions, "list_partitions", listing)
    assert ph.create_partitions(conn, MONTHLY, ahead=0, now=dt.datetime(2031, 5, 5, tzinfo=UTC)) == []
    assert len(calls) == 2  # the stale listing, then the check under the lock
    assert [p.name for p in real(conn, MONTHLY)].count("note_event_p20310501") == 1
