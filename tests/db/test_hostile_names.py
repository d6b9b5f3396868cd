"""Database tier: names and labels that need quoting install and record correctly."""

from __future__ import annotations

import pytest

import pghistory_core as ph
from pghistory_core import sql
from tests.db.helpers import events

SCHEMA = 'Sché"ma $1'
TABLE = 'Tab"le $$ ünïcode'
COLUMNS = ('I"d', "Mixed Case $x", "naïve 'quote'")
LABEL = "x'); DROP TABLE t; --"


@pytest.mark.parametrize("level", [ph.Row, ph.Statement], ids=["row", "statement"])
def test_hostile_names_install_and_record(conn, level):
    ident = sql.Identifier(SCHEMA, TABLE)
    conn.execute(sql.render(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA))))
    conn.execute(sql.render(sql.SQL("CREATE TABLE {} ({} integer PRIMARY KEY, {} text, {} text)").format(
        ident, *[sql.Identifier(c) for c in COLUMNS])))
    conn.execute("CREATE TABLE t (id int)")
    table = ph.Table(TABLE, tuple(ph.Column(c, "integer" if i == 0 else "text") for i, c in enumerate(COLUMNS)),
                     primary_key=(COLUMNS[0],), schema=SCHEMA)
    tracking = ph.Tracking(
        table,
        (
            ph.InsertEvent(LABEL),
            ph.UpdateEvent("$pgh$ 'up' \\ dated", condition=ph.Q(**{f"new__{COLUMNS[1]}__contains": "'s $"})),
            ph.DeleteEvent("délété"),
        ),
        level=level,
    )
    ph.install(conn, [tracking])
    ph.check(conn, [tracking])
    conn.execute(sql.render(sql.SQL("INSERT INTO {} VALUES (1, 'a', 'b')").format(ident)))
    conn.execute(sql.render(sql.SQL("UPDATE {} SET {} = {}").format(ident, sql.Identifier(COLUMNS[1]), sql.Literal("it's $1"))))
    conn.execute(sql.render(sql.SQL("DELETE FROM {}").format(ident)))
    got = events(conn, tracking.event_table_name, [COLUMNS[1]], schema=SCHEMA)
    assert got == [
        {"pgh_label": LABEL, "pgh_obj_id": 1, COLUMNS[1]: "a"},
        {"pgh_label": "$pgh$ 'up' \\ dated", "pgh_obj_id": 1, COLUMNS[1]: "it's $1"},
        {"pgh_label": "délété", "pgh_obj_id": 1, COLUMNS[1]: "it's $1"},
    ]
    # The label was stored verbatim and dropped nothing.
    assert conn.execute("SELECT to_regclass('public.t')").fetchone() == ("t",)


def test_long_names_are_shortened_deterministically(conn):
    long_table = "t" * 60
    conn.execute(sql.render(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, v text)").format(sql.Identifier(long_table))))
    table = ph.Table(long_table, (ph.Column("id", "integer"), ph.Column("v", "text")))
    label = "a very long label that is well over sixty three bytes in total, ünïcode"
    tracking = ph.Tracking(table, (ph.InsertEvent(label), ph.UpdateEvent()))
    assert len(tracking.event_table_name.encode()) <= 63
    ph.install(conn, [tracking])
    ph.check(conn, [tracking])
    conn.execute(sql.render(sql.SQL("INSERT INTO {} VALUES (1, 'x')").format(sql.Identifier(long_table))))
    assert [e["pgh_label"] for e in events(conn, tracking.event_table_name)] == [label]
    assert ph.install(conn, [tracking]) == []  # same names on a second run
