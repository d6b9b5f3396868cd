"""Database tier: a revert run inside a caller's transaction and context stays apart."""

from __future__ import annotations

import psycopg

import pghistory_core as ph
from pghistory_core import transport


def test_revert_inside_a_callers_context_is_its_own_and_leaks_nothing(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE note (id int PRIMARY KEY, body text)")
    tracking = ph.Tracking(
        ph.Table("note", (ph.Column("id", "integer"), ph.Column("body", "text"))),
        (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()),
    )
    ph.install(conn, [tracking])
    with conn.transaction(), ph.context(job="import") as job:
        transport.apply(conn)
        conn.execute("INSERT INTO note VALUES (1, 'a'), (2, 'b')")

    with conn.transaction(), ph.context(user="admin") as request:
        transport.apply(conn)
        plan = ph.revert_context(conn, [tracking], job.id)
        conn.execute("INSERT INTO note VALUES (3, 'after the revert')")  # the caller's own write

    assert plan.revert_context_id not in (None, request.id, job.id)
    rows = conn.execute(
        "SELECT e.pgh_label, e.id, c.id, c.metadata FROM note_event e "
        "JOIN pghistory_context c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
    ).fetchall()
    assert rows == [
        ("insert", 1, job.id, {"job": "import"}),
        ("insert", 2, job.id, {"job": "import"}),
        # Its own context, keeping who reverted and naming what was reverted.
        ("delete", 1, plan.revert_context_id, {"user": "admin", "pghistory_revert_of": str(job.id)}),
        ("delete", 2, plan.revert_context_id, {"user": "admin", "pghistory_revert_of": str(job.id)}),
        ("insert", 3, request.id, {"user": "admin"}),
    ]
    assert request.metadata == {"user": "admin"}  # the revert did not add to the caller's context
