"""Database tier: retention, deleting the events older than a point in time.

Layer: tests (real Postgres). Asserts what a user sees: exactly the events older than the
cut-off are gone from every event table named, in batches; newer events, other event tables
and the context rows stay; append-only tables refuse; a dry count matches; the CLI confirms
before deleting and reports per event table.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from click.testing import CliRunner

import pghistory_core as ph
from pghistory_cli.main import cli
from pghistory_core import sql, transport
from tests.db.helpers import track

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
