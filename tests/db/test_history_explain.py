"""Database tier: an object's history is read through the pgh_obj_id index, never by
scanning an event table, even with a million events (EXPLAIN, not timing)."""

from __future__ import annotations

import json

import psycopg

import pghistory_core as ph
from pghistory_core import history, render, sql
from pghistory_core.render import event_table_ident

EVENTS = 1_000_000
OBJECTS = 10_000
CONTEXTS = EVENTS // 1000


def _plan_nodes(node: dict) -> list[dict]:
    nodes = [node]
    for child in node.get("Plans", []):
        nodes.extend(_plan_nodes(child))
    return nodes


def _scans(conn: psycopg.Connection, query: str) -> set[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every node of the query's plan."""
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return {(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in _plan_nodes(plan[0]["Plan"])}


def _fill(conn: psycopg.Connection, tracking: ph.Tracking, rows: int) -> None:
    """Write *rows* events straight into the event table (no triggers), 100 per object.

    Fast on a small machine: the table is made UNLOGGED and its secondary indexes are
    built after the rows are in, by re-running the library's own event-table DDL (which
    creates them IF NOT EXISTS), so the indexes are exactly the installed ones.
    """
    ident = event_table_ident(tracking)
    conn.execute(sql.render(sql.SQL("ALTER TABLE {} SET UNLOGGED").format(ident)))
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary",
        (sql.render(ident),),
    ).fetchall()
    for (index,) in indexes:
        conn.execute("DROP INDEX " + index)  # regclass text is already quoted
    columns = ["pgh_created_at", "pgh_label", "pgh_obj_id", "pgh_context_id", *tracking.tracked_columns]
    values = {
        "pgh_created_at": sql.SQL("now() - make_interval(secs => g)"),
        "pgh_label": sql.SQL("CASE WHEN g <= {} THEN 'insert' ELSE 'update' END").format(sql.Literal(OBJECTS)),
        "pgh_obj_id": sql.SQL("(g % {}) + 1").format(sql.Literal(OBJECTS)),
        # One event in 100 has a context, ten events per context (1,000 contexts).
        "pgh_context_id": sql.SQL("CASE WHEN g % 100 = 0 THEN md5((g / 100 % {} + 1)::text)::uuid END").format(
            sql.Literal(CONTEXTS)
        ),
        "id": sql.SQL("(g % {}) + 1").format(sql.Literal(OBJECTS)),
        "dollars": sql.SQL("g"),
        "note": sql.SQL("'note ' || g"),
    }
    query = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM generate_series(1, {}) AS g").format(
        event_table_ident(tracking),
        sql.join(", ", [sql.Identifier(c) for c in columns]),
        sql.join(", ", [values[c] for c in columns]),
        sql.Literal(rows),
    )
    conn.execute(sql.render(query))
    conn.execute(sql.render(render.tracking_artefacts(tracking)[0].create))
    assert len(conn.execute("SELECT FROM pg_index WHERE indrelid = %s::regclass", (sql.render(ident),)).fetchall()) == 3
    conn.execute(sql.render(sql.SQL("ANALYZE {}").format(ident)))


def test_object_history_uses_the_obj_id_index_on_a_million_events(conn):
    conn.execute("CREATE TABLE cash (id integer PRIMARY KEY, dollars numeric, note text)")
    table = ph.Table("cash", (ph.Column("id", "integer"), ph.Column("dollars", "numeric"), ph.Column("note", "text")))
    main = ph.Tracking(table, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()))
    dollars = ph.Tracking(
        table, (ph.UpdateEvent("dollars_changed"),), fields=("id", "dollars"), event_table="cash_dollars"
    )
    ph.install(conn, [main, dollars])
    conn.execute(
        "INSERT INTO pghistory_context (id, metadata) "
        "SELECT md5(i::text)::uuid, jsonb_build_object('request', i) FROM generate_series(1, %s) AS i",
        (CONTEXTS,),
    )
    conn.execute("ANALYZE pghistory_context")
    _fill(conn, main, EVENTS)
    _fill(conn, dollars, EVENTS // 10)
    query = sql.render(history.object_history_sql([main, dollars], "public.cash", 42, newest_first=True))

    scans = _scans(conn, query)
    assert not [s for s in scans if s[0] == "Seq Scan"], scans
    used = {s[2] for s in scans if s[0] in ("Index Scan", "Bitmap Index Scan", "Index Only Scan")}
    assert {"cash_event_pgh_obj_id_idx", "cash_dollars_pgh_obj_id_idx", "pghistory_context_pkey"} <= used, scans

    # A page of one context's events across both tables uses the pgh_context_id indexes.
    context_id = conn.execute("SELECT md5('101')::uuid").fetchone()[0]
    scans = _scans(conn, sql.render(history.events_sql([main, dollars], context_id=context_id, limit=20)))
    assert not [s for s in scans if s[0] == "Seq Scan"], scans
    used = {s[2] for s in scans if s[0] in ("Index Scan", "Bitmap Index Scan", "Index Only Scan")}
    assert {"cash_event_pgh_context_id_idx", "cash_dollars_pgh_context_id_idx"} <= used, scans

    # And the query answers: 100 events of object 42 in the main table, 10 in the other.
    rows = history.object_history(conn, [main, dollars], "public.cash", 42)
    assert len([e for e in rows if e.pgh_model == "public.cash_event"]) == EVENTS // OBJECTS
    assert len([e for e in rows if e.pgh_model == "public.cash_dollars"]) == EVENTS // 10 // OBJECTS
