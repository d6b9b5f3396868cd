"""Database tier: what the triggers record for unusual statements and tables, at row and at
statement level: one event per changed row, with the right label, values, pgh_obj_id and
context, whichever way Postgres is asked to write (upserts, MERGE, writable CTEs, COPY,
cascades, functions, the user's own triggers) and whatever the table looks like
(generated and identity columns, partitions, inheritance, row-level security, wide rows,
TOASTed values). Behaviour the README documents as a limit (TRUNCATE, writes addressed to a
partition) is pinned here too, so a change to it is noticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import sql, transport
from tests.db.helpers import track

LEVELS = [pytest.param(ph.Row, id="row"), pytest.param(ph.Statement, id="statement")]
ALL = (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent())


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest) -> ph.Level:
    return request.param


def item_table() -> ph.Table:
    return ph.Table("item", (ph.Column("id", "integer"), ph.Column("qty", "integer"), ph.Column("tag", "text")))


@pytest.fixture
def item(conn: psycopg.Connection) -> ph.Table:
    conn.execute("CREATE TABLE item (id integer PRIMARY KEY, qty integer, tag text)")
    conn.execute("INSERT INTO item VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')")
    return item_table()


def write(conn: psycopg.Connection, *statements: str) -> UUID:
    """Run *statements* in one transaction under a context; return the context id."""
    with conn.transaction():
        with ph.context(job="edge") as active:
            transport.apply(conn)
            for statement in statements:
                conn.execute(statement)
    return active.id


def history(conn: psycopg.Connection, table: str, columns: Sequence[str], context_id: UUID | None = None) -> list[tuple[object, ...]]:
    """(label, pgh_obj_id, *columns) of every event, sorted; asserts each event written
    under *context_id* carries it (events written before it carry none)."""
    wanted = ["pgh_label", "pgh_obj_id", "pgh_context_id", *columns]
    query = sql.SQL("SELECT {} FROM {} ORDER BY pgh_id").format(
        sql.join(", ", [sql.Identifier(c) for c in wanted]), sql.Identifier(table + "_event")
    )
    rows = conn.execute(sql.render(query)).fetchall()
    if context_id is not None:
        assert {row[2] for row in rows} <= {context_id, None}
        assert context_id in {row[2] for row in rows}
    return sorted(((row[0], row[1], *row[3:]) for row in rows), key=repr)


def _sorted(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return sorted(rows, key=repr)


# ------------------------------------------------------------------------- statements


def test_upsert_records_inserts_and_updates_of_one_statement(conn, item, level):
    track(conn, ph.Tracking(item, ALL, level=level))
    ctx = write(
        conn,
        "INSERT INTO item VALUES (2, 21, 'B'), (4, 40, 'd'), (3, 30, 'c'), (5, 50, 'e') "
        "ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty, tag = EXCLUDED.tag",
    )
    # (3, 30, 'c') conflicts but changes nothing: no event.
    assert history(conn, "item", ["qty", "tag"], ctx) == _sorted(
        [("update", 2, 21, "B"), ("insert", 4, 40, "d"), ("insert", 5, 50, "e")]
    )


def test_on_conflict_do_nothing_records_only_inserted_rows(conn, item, level):
    track(conn, ph.Tracking(item, ALL, level=level))
    ctx = write(conn, "INSERT INTO item VALUES (2, 21, 'B'), (4, 40, 'd') ON CONFLICT DO NOTHING")
    assert history(conn, "item", ["qty"], ctx) == [("insert", 4, 40)]


def test_merge_records_each_action_with_its_label(conn, item, level):
    track(conn, ph.Tracking(item, (*ALL, ph.UpdateEvent("before", row=ph.Old)), level=level))
    ctx = write(
        conn,
        "MERGE INTO item USING (VALUES (1, 11), (2, NULL), (3, 30), (6, 60)) AS s(id, qty) ON item.id = s.id "
        "WHEN MATCHED AND s.qty IS NULL THEN DELETE "
        "WHEN MATCHED THEN UPDATE SET qty = s.qty "
        "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.qty, 'm')",
    )
    # Row 3 is updated to the values it had: no change, no event.
    assert history(conn, "item", ["qty", "tag"], ctx) == _sorted(
        [
            ("update", 1, 11, "a"),
            ("before", 1, 10, "a"),
            ("delete", 2, 20, "b"),
            ("insert", 6, 60, "m"),
        ]
    )


def test_update_from_a_join_matching_a_row_twice_records_one_event(conn, item, level):
    track(conn, ph.Tracking(item, ALL, level=level))
    ctx = write(conn, "UPDATE item SET qty = item.qty + x.d FROM (VALUES (1, 1), (1, 2), (2, 5)) AS x(id, d) WHERE item.id = x.id")
    (first,) = [row for row in history(conn, "item", ["qty"], ctx) if row[1] == 1]
    assert first[2] in (11, 12)  # Postgres applies one of the two matches
    assert [row for row in history(conn, "item", ["qty"]) if row[1] == 2] == [("update", 2, 25)]


def test_writable_ctes_updating_the_same_table(conn, item, level):
    track(conn, ph.Tracking(item, (*ALL, ph.UpdateEvent("before", row=ph.Old)), level=level))
    ctx = write(
        conn,
        "WITH a AS (UPDATE item SET qty = 100 WHERE id = 1 RETURNING id), "
        "b AS (UPDATE item SET qty = 300, tag = 'x' WHERE id = 3 RETURNING id) "
        "UPDATE item SET tag = 'z' WHERE id = 2",
        "WITH d AS (DELETE FROM item WHERE id = 1 RETURNING *) INSERT INTO item SELECT id + 10, qty, tag FROM d",
    )
    assert history(conn, "item", ["qty", "tag"], ctx) == _sorted(
        [
            ("update", 1, 100, "a"),
            ("update", 2, 20, "z"),
            ("update", 3, 300, "x"),
            ("before", 1, 10, "a"),
            ("before", 2, 20, "b"),
            ("before", 3, 30, "c"),
            ("delete", 1, 100, "a"),
            ("insert", 11, 100, "a"),
        ]
    )


def test_copy_from_records_each_row(conn, item, level):
    track(conn, ph.Tracking(item, ALL, level=level))
    with conn.transaction():
        with ph.context(job="copy") as active:
            transport.apply(conn)
            with conn.cursor().copy("COPY item (id, qty, tag) FROM STDIN") as copy:
                copy.write_row((5, 50, "e"))
                copy.write_row((6, 60, None))
    assert history(conn, "item", ["qty", "tag"], active.id) == [("insert", 5, 50, "e"), ("insert", 6, 60, None)]


def test_cascading_foreign_key_actions_are_recorded_on_the_child(conn, level):
    conn.execute("CREATE TABLE parent (id integer PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE child (id integer PRIMARY KEY, "
        "parent_id integer REFERENCES parent ON DELETE CASCADE ON UPDATE CASCADE, note text)"
    )
    conn.execute("INSERT INTO parent VALUES (1), (2), (3)")
    conn.execute("INSERT INTO child VALUES (1, 1, 'x'), (2, 1, 'y'), (3, 2, 'z'), (4, 3, 'w')")
    child = ph.Table("child", (ph.Column("id", "integer"), ph.Column("parent_id", "integer"), ph.Column("note", "text")))
    track(conn, ph.Tracking(child, ALL, level=level))
    ctx = write(conn, "UPDATE parent SET id = 10 WHERE id = 1", "DELETE FROM parent WHERE id = 2")
    assert history(conn, "child", ["parent_id", "note"], ctx) == _sorted(
        [("update", 1, 10, "x"), ("update", 2, 10, "y"), ("delete", 3, 2, "z")]
    )


def test_truncate_records_nothing_as_documented(conn, item, level):
    """README ("What is recorded"): TRUNCATE fires no row or DML trigger; no event."""
    track(conn, ph.Tracking(item, ALL, level=level))
    write(conn, "TRUNCATE item")
    assert conn.execute("SELECT count(*) FROM item").fetchone() == (0,)
    assert history(conn, "item", []) == []


def test_primary_key_swap_pairs_each_row_with_its_own_old_version(conn, level):
    conn.execute("CREATE TABLE item (id integer PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, qty integer, tag text)")
    conn.execute("INSERT INTO item VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')")
    track(conn, ph.Tracking(item_table(), (ph.UpdateEvent(), ph.UpdateEvent("before", row=ph.Old)), level=level))
    ctx = write(conn, "UPDATE item SET id = 4 - id WHERE id IN (1, 3)")
    assert history(conn, "item", ["id", "qty"], ctx) == _sorted(
        [("update", 3, 3, 10), ("update", 1, 1, 30), ("before", 1, 1, 10), ("before", 3, 3, 30)]
    )


def test_delete_returning(conn, item, level):
    track(conn, ph.Tracking(item, ALL, level=level))
    with conn.transaction():
        with ph.context(job="ret") as active:
            transport.apply(conn)
            returned = conn.execute("DELETE FROM item WHERE id > 1 RETURNING id").fetchall()
    assert sorted(returned) == [(2,), (3,)]
    assert history(conn, "item", ["qty"], active.id) == [("delete", 2, 20), ("delete", 3, 30)]


def test_statements_inside_a_function_and_a_procedure(conn, item, level):
    conn.execute(
        "CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
        "UPDATE item SET qty = qty + 1 WHERE id = 1; UPDATE item SET qty = qty + 1 WHERE id <= 2; "
        "INSERT INTO item VALUES (9, 90, 'f'); END $$"
    )
    conn.execute("CREATE PROCEDURE drop_three() LANGUAGE sql AS $$ DELETE FROM item WHERE id = 3 $$")
    track(conn, ph.Tracking(item, ALL, level=level))
    ctx = write(conn, "SELECT bump()", "CALL drop_three()")
    assert history(conn, "item", ["qty"], ctx) == _sorted(
        [("update", 1, 11), ("update", 1, 12), ("update", 2, 21), ("insert", 9, 90), ("delete", 3, 30)]
    )


def test_before_triggers_that_change_or_skip_rows(conn, item, level):
    """Events hold the row as stored: after the user's BEFORE trigger changed it, and none
    for a row it skipped (returned NULL)."""
    conn.execute(
        "CREATE FUNCTION shape() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.qty % 2 = 1 THEN RETURN NULL; END IF; NEW.tag := upper(NEW.tag); RETURN NEW; END $$"
    )
    conn.execute("CREATE TRIGGER shape BEFORE INSERT OR UPDATE ON item FOR EACH ROW EXECUTE FUNCTION shape()")
    conn.execute(
        "CREATE FUNCTION keep_two() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF OLD.id = 2 THEN RETURN NULL; END IF; RETURN OLD; END $$"
    )
    conn.execute("CREATE TRIGGER keep_two BEFORE DELETE ON item FOR EACH ROW EXECUTE FUNCTION keep_two()")
    track(conn, ph.Tracking(item, (*ALL, ph.UpdateEvent("before", row=ph.Old)), level=level))
    ctx = write(
        conn,
        "INSERT INTO item VALUES (7, 71, 'q'), (8, 80, 'r')",
        "UPDATE item SET qty = qty + 1 WHERE id IN (1, 2)",  # both skipped (odd)
        "UPDATE item SET qty = qty + 2 WHERE id IN (1, 8)",
        "DELETE FROM item WHERE id IN (2, 3)",
    )
    assert history(conn, "item", ["qty", "tag"], ctx) == _sorted(
        [
            ("insert", 8, 80, "R"),
            ("update", 1, 12, "A"),
            ("update", 8, 82, "R"),
            ("before", 1, 10, "a"),
            ("before", 8, 80, "R"),
            ("delete", 3, 30, "c"),
        ]
    )


# ---------------------------------------------------------------------------- tables


def test_generated_and_identity_columns(conn, level):
    conn.execute(
        "CREATE TABLE line (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, qty integer, "
        "total integer GENERATED ALWAYS AS (qty * 2) STORED)"
    )
    line = ph.Table(
        "line", (ph.Column("id", "bigint"), ph.Column("qty", "integer"), ph.Column("total", "integer", generated=True))
    )
    track(conn, ph.Tracking(line, ALL, level=level))
    ctx = write(conn, "INSERT INTO line (qty) VALUES (1), (2)", "UPDATE line SET qty = qty + 10 WHERE id = 2")
    assert history(conn, "line", ["id", "qty", "total"], ctx) == _sorted(
        [("insert", 1, 1, 1, 2), ("insert", 2, 2, 2, 4), ("update", 2, 2, 12, 24)]
    )


def test_columns_added_after_install_leave_history_intact(conn, item, level):
    track(conn, ph.Tracking(item, ALL, level=level))
    conn.execute("ALTER TABLE item ADD COLUMN extra text")
    ctx = write(
        conn,
        "UPDATE item SET extra = 'x' WHERE id = 1",  # untracked column only: no change to record
        "UPDATE item SET qty = 0, extra = 'y' WHERE id = 2",
        "INSERT INTO item VALUES (4, 40, 'd', 'z')",
    )
    assert history(conn, "item", ["qty", "tag"], ctx) == _sorted([("update", 2, 0, "b"), ("insert", 4, 40, "d")])


def test_table_without_primary_key_and_duplicate_rows(conn, level):
    conn.execute("CREATE TABLE tally (name text, n integer)")
    conn.execute("INSERT INTO tally VALUES ('a', 1), ('a', 1), ('b', 2)")
    tally = ph.Table("tally", (ph.Column("name", "text"), ph.Column("n", "integer")), primary_key=())
    track(conn, ph.Tracking(tally, (*ALL, ph.UpdateEvent("before", row=ph.Old)), obj_ref=False, level=level))
    with conn.transaction():
        with ph.context(job="tally"):
            transport.apply(conn)
            conn.execute("UPDATE tally SET n = n + 1 WHERE name = 'a'")
            conn.execute("DELETE FROM tally WHERE name = 'b'")
    rows = conn.execute("SELECT pgh_label, name, n FROM tally_event WHERE pgh_context_id IS NOT NULL").fetchall()
    assert sorted(rows) == [("before", "a", 1), ("before", "a", 1), ("delete", "b", 2), ("update", "a", 2), ("update", "a", 2)]


def test_wide_table_with_toasted_values_unchanged(conn, level):
    columns = [ph.Column("id", "integer"), *(ph.Column(f"c{i}", "text") for i in range(300))]
    columns += [ph.Column("body", "text"), ph.Column("doc", "jsonb")]
    wide = ph.Table("wide", tuple(columns))
    create = sql.SQL("CREATE TABLE wide ({}, PRIMARY KEY (id))").format(
        sql.join(", ", [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in columns])
    )
    conn.execute(sql.render(create))
    conn.execute(
        "INSERT INTO wide (id, body, doc) SELECT g, repeat(md5(g::text), 50000), "
        "(SELECT jsonb_agg(x) FROM generate_series(1, 50000) x) FROM generate_series(1, 3) g"
    )
    track(conn, ph.Tracking(wide, ALL, level=level))
    ctx = write(conn, "UPDATE wide SET c299 = 'x' WHERE id <= 2", "UPDATE wide SET c0 = 'y' WHERE id = 3")
    got = conn.execute(
        "SELECT e.pgh_obj_id, e.c0, e.c299, e.body = w.body, e.doc = w.doc, length(e.body) FROM wide_event e "
        "JOIN wide w ON w.id = e.pgh_obj_id WHERE e.pgh_context_id = %s ORDER BY e.pgh_obj_id",
        (ctx,),
    ).fetchall()
    assert got == [(1, None, "x", True, True, 1_600_000), (2, None, "x", True, True, 1_600_000), (3, "y", None, True, True, 1_600_000)]


def test_row_level_security_on_the_tracked_table(conn, level):
    """The triggers run as the writer: with INSERT on the event table (and the context
    table) granted, a writer restricted by policies gets every event of its own writes."""
    role = "pgh_edge_writer_" + level.name.lower()
    conn.execute("CREATE TABLE note (id integer PRIMARY KEY, owner text, body text)")
    note = ph.Table("note", (ph.Column("id", "integer"), ph.Column("owner", "text"), ph.Column("body", "text")))
    track(conn, ph.Tracking(note, ALL, level=level))
    conn.execute("INSERT INTO note VALUES (1, 'someone else', 'hidden')")
    conn.execute(sql.render(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role))))
    conn.execute(sql.render(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role))))
    try:
        for grant in ("GRANT ALL ON note TO {}", "GRANT INSERT ON note_event TO {}", "GRANT SELECT, INSERT, UPDATE ON pghistory_context TO {}"):
            conn.execute(sql.render(sql.SQL(grant).format(sql.Identifier(role))))
        conn.execute("ALTER TABLE note ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY mine ON note USING (owner = current_user) WITH CHECK (owner = current_user)")
        with conn.transaction():
            conn.execute(sql.render(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role))))
            with ph.context(job="rls") as active:
                transport.apply(conn)
                conn.execute("INSERT INTO note VALUES (2, current_user, 'mine'), (3, current_user, 'also')")
                conn.execute("UPDATE note SET body = body || '!'")  # the policy hides row 1
                conn.execute("DELETE FROM note WHERE id = 3")
        assert history(conn, "note", ["body"], active.id) == _sorted(
            [
                ("insert", 1, "hidden"),
                ("insert", 2, "mine"),
                ("insert", 3, "also"),
                ("update", 2, "mine!"),
                ("update", 3, "also!"),
                ("delete", 3, "also!"),
            ]
        )
    finally:
        conn.execute("DROP OWNED BY " + sql.render(sql.Identifier(role)))
        conn.execute(sql.render(sql.SQL("DROP ROLE {}").format(sql.Identifier(role))))


PARTITIONED = (
    "CREATE TABLE shipment (id integer, region text, qty integer, PRIMARY KEY (id, region)) PARTITION BY LIST (region)",
    "CREATE TABLE shipment_eu PARTITION OF shipment FOR VALUES IN ('eu')",
    "CREATE TABLE shipment_us PARTITION OF shipment FOR VALUES IN ('us')",
    "INSERT INTO shipment VALUES (1, 'eu', 10), (2, 'eu', 20), (3, 'us', 30)",
)


def shipment_table() -> ph.Table:
    columns = (ph.Column("id", "integer"), ph.Column("region", "text"), ph.Column("qty", "integer"))
    return ph.Table("shipment", columns, primary_key=("id", "region"))


def partitioned_history(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return sorted(conn.execute("SELECT pgh_label, id, region, qty FROM shipment_event ORDER BY pgh_id").fetchall())


def test_partitioned_table_at_statement_level_records_writes_through_the_parent(conn):
    for statement in PARTITIONED:
        conn.execute(statement)
    track(conn, ph.Tracking(shipment_table(), ALL, obj_ref=False))
    write(
        conn,
        "UPDATE shipment SET region = CASE WHEN id = 1 THEN 'us' ELSE region END, qty = qty + 1",  # 1 moves
        "INSERT INTO shipment VALUES (4, 'us', 40)",
        "DELETE FROM shipment WHERE id = 2",
    )
    # A row moving to another partition is one update, as written.
    assert partitioned_history(conn) == [
        ("delete", 2, "eu", 21),
        ("insert", 4, "us", 40),
        ("update", 1, "us", 11),
        ("update", 2, "eu", 21),
        ("update", 3, "us", 31),
    ]
    # Documented limit (README): statement-level triggers fire only for the table the
    # statement names; a write addressed to a partition is not recorded at this level.
    write(conn, "UPDATE shipment_us SET qty = 0")
    assert len(partitioned_history(conn)) == 5


def test_partitioned_table_at_row_level_records_partition_writes_and_moves_as_delete_insert(conn):
    for statement in PARTITIONED:
        conn.execute(statement)
    track(conn, ph.Tracking(shipment_table(), ALL, obj_ref=False, level=ph.Row))
    write(conn, "UPDATE shipment SET region = 'us', qty = qty + 1 WHERE id = 1", "UPDATE shipment_eu SET qty = 0")
    # Documented (README): Postgres runs the move as DELETE + INSERT and fires no row-level
    # UPDATE trigger for it; writes addressed to a partition fire the cloned triggers.
    assert partitioned_history(conn) == [("delete", 1, "eu", 10), ("insert", 1, "us", 11), ("update", 2, "eu", 0)]


def test_inheritance_parent_records_children_rows_at_statement_level_only(conn, level):
    conn.execute("CREATE TABLE animal (id integer PRIMARY KEY, name text)")
    conn.execute("CREATE TABLE dog (good boolean) INHERITS (animal)")
    conn.execute("INSERT INTO animal VALUES (1, 'cat')")
    conn.execute("INSERT INTO dog VALUES (2, 'rex', true)")
    animal = ph.Table("animal", (ph.Column("id", "integer"), ph.Column("name", "text")))
    track(conn, ph.Tracking(animal, ALL, level=level))
    ctx = write(conn, "UPDATE animal SET name = upper(name)", "UPDATE dog SET name = 'REXY'")
    # Documented (README): row-level triggers of a parent do not fire for its children's
    # rows; statement-level ones see them when the statement names the parent. Neither
    # fires for a statement naming the child.
    expected = [("update", 1, "CAT")] + ([("update", 2, "REX")] if level == ph.Statement else [])
    assert history(conn, "animal", ["name"], ctx) == _sorted(expected)


# ------------------------------------------------------------------------ column names


def test_columns_named_like_the_trigger_variables(conn, level):
    """A tracked table may have columns called v_ctx or v_ctx_meta: the statement-level
    trigger's query names its own PL/pgSQL variables of those names, and Postgres raised
    'column reference "v_ctx" is ambiguous' on every write to the table."""
    names_ = ["id", "v_ctx", "v_ctx_meta", "v_count", "v_pgh_set", "found", "new", "old"]
    conn.execute(
        sql.render(
            sql.SQL("CREATE TABLE odd ({}, PRIMARY KEY (id))").format(
                sql.join(", ", [sql.SQL("{} integer").format(sql.Identifier(n)) for n in names_])
            )
        )
    )
    odd = ph.Table("odd", tuple(ph.Column(n, "integer") for n in names_))
    for context in (ph.FK, ph.DENORMALIZED):
        conn.execute("DROP TABLE IF EXISTS odd_event")
        tracking = ph.Tracking(
            odd, (*ALL, ph.UpdateEvent("up", condition=ph.Q(old__v_ctx__lt=ph.F("new__v_ctx")))), level=level, context=context
        )
        track(conn, tracking)
        ctx = write(
            conn,
            "INSERT INTO odd VALUES (1, 2, 3, 4, 5, 6, 7, 8)",
            "UPDATE odd SET v_ctx = v_ctx + 1, new = 0",
            "DELETE FROM odd",
        )
        assert history(conn, "odd", ["v_ctx", "v_ctx_meta", "new"], ctx) == _sorted(
            [("insert", 1, 2, 3, 7), ("update", 1, 3, 3, 0), ("up", 1, 3, 3, 0), ("delete", 1, 3, 3, 0)]
        )
        ph.uninstall(conn, [tracking])
