"""Database tier: retention, deleting the events older than a point in time.

Layer: tests (real Postgres). Asserts what a user sees: exactly the events older than the
cut-off are gone from every event table named, in batches; newer events, other event tables
and the context rows stay; append-only tables refuse; a dry count matches; the CLI confirms
before deleting and reports per event table. Then the context rows no event references any
more: only those, whichever table (named or not) still references the others, never one a
writer is attaching events to; unsafe calls are refused by name.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from click.testing import CliRunner

import pghistory_core as ph
from pghistory_cli.main import cli
from pghistory_core import sql, transport
from tests.db.helpers import run_until_it_waits, track

UTC = dt.timezone.utc
CUT = dt.datetime(2025, 6, 1, tzinfo=UTC)
NOTE = ph.Table("note", (ph.Column("id", "integer"), ph.Column("body", "text")))
TRACKINGS = [
    ph.Tracking(NOTE),
    ph.Tracking(NOTE, (ph.UpdateEvent("edited", condition=ph.AnyChange("body")),), fields=("id", "body"), event_table="note_edits"),
]
SPEC = "tests.db.test_retention:TRACKINGS"


@pytest.fixture
def notes(conn: psycopg.Connection) -> None:
    """300 notes inserted and edited under one context; then the events' times are spread
    over 2025: note n's events at day n of the year, so the first 151 days are before CUT."""
    conn.execute("CREATE TABLE note (id integer PRIMARY KEY, body text)")
    track(conn, *TRACKINGS)
    with conn.transaction():
        with ph.context(job="seed"):
            transport.apply(conn)
            conn.execute("INSERT INTO note SELECT g, 'b' || g FROM generate_series(1, 300) g")
            conn.execute("UPDATE note SET body = body || '!'")
    for table in ("note_event", "note_edits"):
        spread = sql.SQL("UPDATE {} SET pgh_created_at = timestamptz '2025-01-01 00:00+00' + (pgh_obj_id - 1) * interval '24 hours'")
        conn.execute(sql.render(spread.format(sql.Identifier(table))))


def _remaining(conn: psycopg.Connection, table: str) -> tuple[int, int, dt.datetime]:
    query = sql.SQL("SELECT count(*), count(*) FILTER (WHERE pgh_created_at < {}), min(pgh_created_at) FROM {}")
    row = conn.execute(sql.render(query.format(sql.Literal(CUT), sql.Identifier(table)))).fetchone()
    assert row is not None
    return row  # type: ignore[return-value]


def test_events_before_the_cut_off_are_deleted_in_batches(conn, notes):
    before = {t: _remaining(conn, t) for t in ("note_event", "note_edits")}
    assert before["note_event"][:2] == (600, 302) and before["note_edits"][:2] == (300, 151)
    assert ph.count_events_before(conn, TRACKINGS, CUT) == {"public.note_event": 302, "public.note_edits": 151}
    seen: list[tuple[str, int]] = []
    deleted = ph.delete_events(conn, TRACKINGS, CUT, batch_size=40, progress=lambda t, n: seen.append((t, n)))
    assert deleted == {"public.note_event": 302, "public.note_edits": 151}
    assert seen[0] == ("public.note_event", 40) and seen[-1] == ("public.note_edits", 151)
    for table, total in (("note_event", 600 - 302), ("note_edits", 300 - 151)):
        count, older, first = _remaining(conn, table)
        assert (count, older) == (total, 0)
        assert first == CUT  # day 152 of 2025 is kept: "before" is strict
    # The context row stays (other tables may reference it); a second run finds nothing.
    assert conn.execute("SELECT count(*) FROM pghistory_context").fetchone() == (1,)
    assert ph.delete_events(conn, TRACKINGS[0], CUT) == {"public.note_event": 0}


def test_inside_a_transaction_a_rollback_keeps_every_event(conn, notes):
    with pytest.raises(RuntimeError), conn.transaction():
        ph.delete_events(conn, TRACKINGS, CUT, batch_size=100)
        raise RuntimeError("not today")
    assert _remaining(conn, "note_event")[0] == 600


def test_append_only_tables_and_bad_arguments_are_refused_by_name(conn, notes):
    locked = ph.Tracking(NOTE, (ph.InsertEvent(),), event_table="note_locked", append_only=True)
    track(conn, locked)
    with pytest.raises(ph.ConfigurationError, match=r"public\.note_locked are append-only"):
        ph.delete_events(conn, [TRACKINGS[0], locked], CUT)
    with pytest.raises(ph.ConfigurationError, match="timezone-aware datetime"):
        ph.delete_events(conn, TRACKINGS, dt.datetime(2025, 6, 1))
    with pytest.raises(ph.ConfigurationError, match="batch_size must be a positive integer"):
        ph.delete_events(conn, TRACKINGS, CUT, batch_size=0)
    with pytest.raises(ph.ConfigurationError, match="no tracking given"):
        ph.delete_events(conn, [], CUT)
    assert _remaining(conn, "note_event")[0] == 600  # nothing deleted by a refused call


ENV = {"COLUMNS": "200", "NO_COLOR": "1", "DATABASE_URL": None, "PGHISTORY_SPEC": None}


def _cli(dsn: str, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["retention", "--dsn", dsn, "--spec", SPEC, *args], env=ENV, input=input)


def test_cli_counts_confirms_and_deletes(dsn, conn, notes):
    dry = _cli(dsn, "--before", "2025-06-01T00:00:00+00:00", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == ["public.note_event: 302 events before 2025-06-01 00:00:00+00:00",
                                       "public.note_edits: 151 events before 2025-06-01 00:00:00+00:00"]
    refused = _cli(dsn, "--before", "2025-06-01T00:00:00+00:00", input="n\n")
    assert refused.exit_code == 1 and _remaining(conn, "note_event")[0] == 600
    only = _cli(dsn, "--before", "2025-06-01T00:00:00+00:00", "--table", "note", "--yes")
    assert only.exit_code == 0, only.output
    assert only.stdout.splitlines() == ["public.note_event: 302 events deleted", "public.note_edits: 151 events deleted"]
    bad = _cli(dsn, "--before", "last tuesday", "--yes")
    assert bad.exit_code == 2 and "--before" in bad.output
    naive = _cli(dsn, "--before", "2025-06-01", "--yes")
    assert naive.exit_code == 2 and "time zone" in naive.output


# ------------------------------------------------------------------- unreferenced contexts

MEMO = ph.Table("memo", (ph.Column("id", "integer"), ph.Column("body", "text")))
# Another application's event table: not among the trackings retention is given.
MEMO_TRACKING = ph.Tracking(MEMO, (ph.InsertEvent(),))
OLD = dt.datetime(2025, 1, 1, tzinfo=UTC)


def _context_ids(conn: psycopg.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT id FROM pghistory_context").fetchall()}


def _write_note(conn: psycopg.Connection, note_id: int, **metadata: object) -> str:
    """Insert note *note_id* in its own transaction under a new context; its id."""
    with conn.transaction(), ph.context(**metadata) as active:
        transport.apply(conn)
        conn.execute("INSERT INTO note VALUES (%s, 'x')", (note_id,))
    return str(active.id)


@pytest.fixture
def contexts(conn: psycopg.Connection) -> dict[str, str]:
    """Five contexts, all but ``new`` last written before CUT:

    - ``gone``: events only in the note tables, all older than CUT;
    - ``kept``: note events before and after CUT;
    - ``memo``: an event in ``memo_event``, an event table retention is not given;
    - ``linked``: referenced only through a foreign key of an ordinary table;
    - ``new``: no event at all, but written after CUT.
    """
    conn.execute("CREATE TABLE note (id integer PRIMARY KEY, body text)")
    conn.execute("CREATE TABLE memo (id integer PRIMARY KEY, body text)")
    track(conn, *TRACKINGS, MEMO_TRACKING)
    ids = {"gone": _write_note(conn, 1, job="gone")}
    with ph.context(job="kept") as active:
        for statement in ("INSERT INTO note VALUES (2, 'x')", "UPDATE note SET body = 'y' WHERE id = 2"):
            with conn.transaction():
                transport.apply(conn)
                conn.execute(statement)
    ids["kept"] = str(active.id)
    with conn.transaction(), ph.context(job="memo") as active:
        transport.apply(conn)
        conn.execute("INSERT INTO memo VALUES (1, 'm')")
    ids["memo"] = str(active.id)
    with conn.transaction(), ph.context(job="linked") as active:
        transport.apply(conn)
        conn.execute("INSERT INTO note VALUES (3, 'z')")
    ids["linked"] = str(active.id)
    conn.execute("CREATE TABLE audit_link (id serial PRIMARY KEY, ctx uuid REFERENCES pghistory_context (id))")
    conn.execute("INSERT INTO audit_link (ctx) VALUES (%s)", (ids["linked"],))
    ids["new"] = "6f1c5d1e-0000-4000-8000-00000000000e"
    conn.execute("INSERT INTO pghistory_context (id, metadata) VALUES (%s, '{\"job\": \"new\"}')", (ids["new"],))
    with conn.transaction():
        conn.execute("UPDATE pghistory_context SET updated_at = %s WHERE id <> %s", (OLD, ids["new"]))
        for table in ("note_event", "note_edits", "memo_event"):
            conn.execute(sql.render(sql.SQL("UPDATE {} SET pgh_created_at = {}").format(sql.Identifier(table), sql.Literal(OLD))))
        # kept's update of note 2 happened after the cut-off.
        conn.execute("UPDATE note_event SET pgh_created_at = %s WHERE pgh_obj_id = 2 AND pgh_label = 'update'",
                     (CUT + dt.timedelta(days=1),))
    return ids


def test_context_rows_no_event_references_are_deleted_after_their_events(conn, contexts):
    assert ph.count_unreferenced_contexts(conn, CUT) == 0  # every old context still has an event
    # A dry run of both steps (the note events before CUT count as gone): only "gone"; linked's
    # note event is old too, but audit_link still references it.
    assert ph.count_unreferenced_contexts(conn, CUT, discounting=TRACKINGS) == 1
    ph.delete_events(conn, TRACKINGS, CUT)
    seen: list[int] = []
    deleted = ph.delete_unreferenced_contexts(conn, CUT, batch_size=1, progress=seen.append)
    assert deleted == 1
    assert len(seen) == 5 and seen[-1] == 1  # one row per batch: 4 old contexts, then an empty batch
    assert _context_ids(conn) == {contexts["kept"], contexts["memo"], contexts["linked"], contexts["new"]}
    # The events that remain still find their context.
    orphans = conn.execute(
        "SELECT count(*) FROM (SELECT pgh_context_id FROM note_event UNION ALL SELECT pgh_context_id FROM memo_event) e "
        "WHERE pgh_context_id IS NOT NULL AND NOT EXISTS (SELECT FROM pghistory_context c WHERE c.id = e.pgh_context_id)"
    ).fetchone()
    assert orphans == (0,)
    assert ph.delete_unreferenced_contexts(conn, CUT) == 0
    # Once its link row goes, the linked context goes too; the new one waits for its own cut-off.
    conn.execute("DELETE FROM audit_link")
    assert ph.delete_unreferenced_contexts(conn, CUT) == 1
    assert _context_ids(conn) == {contexts["kept"], contexts["memo"], contexts["new"]}


def test_a_context_a_writer_is_attaching_events_to_is_left_alone(dsn, conn, contexts):
    ph.delete_events(conn, TRACKINGS, CUT)
    with psycopg.connect(dsn) as writer:  # not autocommit: the transaction stays open
        with ph.context(job="gone") as active:
            conn.execute("INSERT INTO pghistory_context (id, metadata, updated_at) VALUES (%s, '{\"job\": \"gone\"}', %s)",
                         (active.id, OLD))
            transport.apply(writer)
            writer.execute("INSERT INTO note VALUES (10, 'late')")  # the trigger locks the context row
            conn.execute("SET lock_timeout = '5s'")  # waiting for the writer would fail, not hang
            assert ph.delete_unreferenced_contexts(conn, CUT) == 1  # "gone" only: not the writer's
            writer.commit()
    assert str(active.id) in _context_ids(conn)
    row = conn.execute("SELECT c.metadata FROM note_event e JOIN pghistory_context c ON c.id = e.pgh_context_id "
                       "WHERE e.pgh_obj_id = 10").fetchone()
    assert row == ({"job": "gone"},)


def test_context_deletion_refuses_what_it_cannot_do_safely(conn, contexts):
    with pytest.raises(ph.ConfigurationError, match="timezone-aware datetime"):
        ph.delete_unreferenced_contexts(conn, dt.datetime(2025, 6, 1))
    with pytest.raises(ph.ConfigurationError, match="batch_size must be a positive integer"):
        ph.delete_unreferenced_contexts(conn, CUT, batch_size=0)
    with pytest.raises(ph.ConfigurationError, match=r"no context table elsewhere\.pghistory_context"):
        ph.count_unreferenced_contexts(conn, CUT, context_schema="elsewhere")
    with pytest.raises(ph.ConfigurationError, match="needs READ COMMITTED.*REPEATABLE READ"), conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        ph.delete_unreferenced_contexts(conn, CUT)
    conn.execute("CREATE TABLE legacy_event (id serial, pgh_context_id text)")
    with pytest.raises(ph.ConfigurationError, match=r"public\.legacy_event\.pgh_context_id is text, not uuid"):
        ph.delete_unreferenced_contexts(conn, CUT)
    assert len(_context_ids(conn)) == 5  # nothing deleted by a refused call


def test_cli_deletes_unreferenced_contexts_after_the_events(dsn, conn, contexts):
    dry = _cli(dsn, "--before", "2025-06-01T00:00:00+00:00", "--contexts", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        "public.note_event: 3 events before 2025-06-01 00:00:00+00:00",
        "public.note_edits: 1 events before 2025-06-01 00:00:00+00:00",
        "public.pghistory_context: 1 context rows before 2025-06-01 00:00:00+00:00 that no event would reference any more",
    ]
    refused = _cli(dsn, "--before", "2025-06-01T00:00:00+00:00", "--contexts", input="n\n")
    assert refused.exit_code == 1 and "then the unreferenced context rows of public.pghistory_context (1)" in refused.output
    assert len(_context_ids(conn)) == 5
    done = _cli(dsn, "--before", "2025-06-01T00:00:00+00:00", "--contexts", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == ["public.note_event: 3 events deleted", "public.note_edits: 1 events deleted",
                                        "public.pghistory_context: 1 context rows deleted"]
    assert contexts["gone"] not in _context_ids(conn) and len(_context_ids(conn)) == 4
    # Without --contexts the rows stay, as before.
    conn.execute("DELETE FROM audit_link")
    plain = _cli(dsn, "--before", "2025-06-01T00:00:00+00:00", "--yes")
    assert plain.exit_code == 0 and len(_context_ids(conn)) == 4


def test_events_another_session_deletes_meanwhile_do_not_end_the_run_early(dsn, conn, notes):
    with psycopg.connect(dsn) as other:  # not autocommit: its delete stays uncommitted
        other.execute("DELETE FROM note_event WHERE pgh_id = (SELECT min(pgh_id) FROM note_event)")
        # The first batch finds that event, waits for the other session, then deletes one
        # event fewer than it found.
        deleting = run_until_it_waits(conn, dsn, lambda c: ph.delete_events(c, TRACKINGS[0], CUT, batch_size=40))
        other.commit()
    assert deleting.result() == {"public.note_event": 301}
    assert _remaining(conn, "note_event")[:2] == (600 - 302, 0)
