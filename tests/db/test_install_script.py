"""Database tier: the install as one SQL script (``ph.render_install_script``,
``pghistory install --sql``).

Layer: tests (real Postgres). What a user sees: the script, applied without pghistory on an
empty database, installs tracking that records events with their context, and ``status`` /
``check`` / ``install`` then find every object installed; applied over an older install it
adds the event table's missing column and changes the changed type, keeping old events; the
CLI prints the same script without touching a database.
"""

from __future__ import annotations

import psycopg
from click.testing import CliRunner

import pghistory_core as ph
from pghistory_cli.main import cli
from pghistory_core import sql, transport

CASH = ph.Table(
    "cash", (ph.Column("id", "integer"), ph.Column("dollars", "numeric(10,2)"), ph.Column("note", "text"))
)
TRACKINGS = [
    ph.Tracking(CASH, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent())),
    ph.Tracking(CASH, (ph.UpdateEvent("note_changed", condition=ph.AnyChange("note")),), fields=("id", "note"),
                event_table="cash_notes", context=ph.DENORMALIZED, append_only=True, level=ph.Row),
]
SPEC = "tests.db.test_install_script:TRACKINGS"


def _events(conn: psycopg.Connection, table: str) -> list[tuple[object, ...]]:
    query = sql.SQL(
        "SELECT e.pgh_label, e.dollars, c.metadata ->> 'user' FROM {} e "
        "LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
    ).format(sql.Identifier(table))
    return conn.execute(sql.render(query)).fetchall()


def test_the_script_installs_tracking_and_records_it_as_installed(conn):
    conn.execute("CREATE TABLE cash (id integer PRIMARY KEY, dollars numeric(10,2), note text)")
    script = ph.render_install_script(TRACKINGS)
    with conn.transaction():
        conn.execute(script)  # no parameters: one simple query holding every statement
    statuses = ph.status(conn, TRACKINGS)
    assert len(statuses) == len(ph.all_artefacts(TRACKINGS))
    assert {s.state for s in statuses} == {ph.State.INSTALLED}, [(s.display_name, s.reason) for s in statuses]
    ph.check(conn, TRACKINGS)
    assert ph.install(conn, TRACKINGS) == []  # install agrees: nothing to do
    with ph.context(user="dba"), conn.transaction():
        transport.apply(conn)
        conn.execute("INSERT INTO cash VALUES (1, 10, 'a')")
        conn.execute("UPDATE cash SET dollars = 11, note = 'b'")
        conn.execute("DELETE FROM cash")
    assert _events(conn, "cash_event") == [("insert", 10, "dba"), ("update", 11, "dba"), ("delete", 11, "dba")]
    assert conn.execute("SELECT pgh_label, note, pgh_context ->> 'user' FROM cash_notes").fetchall() == [
        ("note_changed", "b", "dba")
    ]
    # Applying it again changes nothing: same objects, still installed, events kept.
    with conn.transaction():
        conn.execute(script)
    ph.check(conn, TRACKINGS)
    assert len(_events(conn, "cash_event")) == 3


def test_the_script_brings_an_older_event_table_to_the_spec(conn):
    conn.execute("CREATE TABLE cash (id integer PRIMARY KEY, dollars integer)")
    older = ph.Tracking(ph.Table("cash", (ph.Column("id", "integer"), ph.Column("dollars", "integer"))))
    ph.install(conn, [older])
    conn.execute("INSERT INTO cash VALUES (1, 10)")
    conn.execute("ALTER TABLE cash ALTER COLUMN dollars TYPE numeric(10,2), ADD COLUMN note text")
    newer = ph.Tracking(CASH)
    assert ph.State.OUTDATED in {s.state for s in ph.status(conn, [newer])}
    with conn.transaction():
        conn.execute(ph.render_install_script([newer]))
    ph.check(conn, [newer])
    columns = conn.execute(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'cash_event'::regclass AND attname IN ('dollars', 'note') ORDER BY attnum"
    ).fetchall()
    assert columns == [("dollars", "numeric"), ("note", "text")]
    conn.execute("INSERT INTO cash VALUES (2, 2.5, 'new')")
    assert conn.execute("SELECT dollars, note FROM cash_event ORDER BY pgh_id").fetchall() == [(10, None), (2.5, "new")]


def test_cli_prints_the_script_without_a_database():
    # The DSN points nowhere: printing the script must not connect.
    result = CliRunner().invoke(
        cli, ["install", "--spec", SPEC, "--sql", "--dsn", "postgresql://nobody@127.0.0.1:1/none"],
        env={"DATABASE_URL": None, "PGHISTORY_SPEC": None},
    )
    assert result.exit_code == 0, result.output
    assert result.output == ph.render_install_script(TRACKINGS)
    assert "COMMENT ON" in result.output and 'CREATE TABLE IF NOT EXISTS "public"."cash_notes"' in result.output
