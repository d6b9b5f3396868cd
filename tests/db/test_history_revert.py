"""Database tier: reverting a row to an event, and undoing everything one context did."""

from __future__ import annotations

import uuid

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import history, revert, sql, transport
from pghistory_core.errors import HistoryError, RevertConflictError

FULL = (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent())
LEVELS = [pytest.param(ph.Row, id="row"), pytest.param(ph.Statement, id="statement")]


def in_context(conn: psycopg.Connection, *statements: str, **metadata: object) -> uuid.UUID:
    with ph.context(**metadata) as active:
        with conn.transaction():
            transport.apply(conn)
            for statement in statements:
                conn.execute(statement)
    return active.id


def snapshot(conn: psycopg.Connection, *tables: str | tuple[str, str]) -> dict[object, list[tuple[object, ...]]]:
    """Full contents of *tables* (names, or (schema, name)), row by row, ordered by primary
    key (native values)."""
    query = sql.SQL("SELECT * FROM {} ORDER BY 1")
    return {
        t: conn.execute(sql.render(query.format(sql.Identifier(*((t,) if isinstance(t, str) else t))))).fetchall()
        for t in tables
    }


# --------------------------------------------------------------------------- library


@pytest.fixture
def library(conn: psycopg.Connection, request: pytest.FixtureRequest) -> list[ph.Tracking]:
    """Three related tables with an identity key, a generated column, a uuid key, json,
    timestamps and a cascading foreign key."""
    level = getattr(request, "param", None)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("CREATE TABLE authors (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, bio jsonb)")
    conn.execute(
        "CREATE TABLE books (id integer PRIMARY KEY, author_id integer NOT NULL REFERENCES authors, "
        "title varchar(80) NOT NULL, price numeric(8, 2), cents integer GENERATED ALWAYS AS ((price * 100)::integer) STORED, "
        "published timestamptz, tags json)"
    )
    conn.execute(
        "CREATE TABLE reviews (id uuid PRIMARY KEY, book_id integer NOT NULL REFERENCES books ON DELETE CASCADE, "
        "stars smallint, body text)"
    )
    authors = ph.Table("authors", (ph.Column("id", "integer"), ph.Column("name", "text"), ph.Column("bio", "jsonb")))
    books = ph.Table(
        "books",
        (
            ph.Column("id", "integer"),
            ph.Column("author_id", "integer"),
            ph.Column("title", "varchar(80)"),
            ph.Column("price", "numeric(8, 2)"),
            ph.Column("cents", "integer", generated=True),
            ph.Column("published", "timestamp with time zone"),
            ph.Column("tags", "json"),
        ),
    )
    reviews = ph.Table(
        "reviews", (ph.Column("id", "uuid"), ph.Column("book_id", "integer"), ph.Column("stars", "smallint"), ph.Column("body", "text"))
    )
    trackings = [ph.Tracking(t, FULL, level=level) for t in (authors, books, reviews)]
    # A second, partial tracking of books: its events are covered by the full one.
    trackings.append(ph.Tracking(books, (ph.UpdateEvent("price_changed", condition=ph.AnyChange("price")),), fields=("id", "price"), event_table="book_prices", level=level))
    ph.install(conn, trackings)
    return trackings


def seed(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO authors (name, bio) SELECT 'author ' || g, jsonb_build_object('n', g) FROM generate_series(1, 50) AS g")
    conn.execute(
        "INSERT INTO books (id, author_id, title, price, published, tags) "
        "SELECT g, 1 + g % 50, 'book ' || g, g * 1.25, timestamptz '2020-01-01' + g * interval '1 day', "
        "json_build_array('t', g) FROM generate_series(1, 300) AS g"
    )
    conn.execute(
        "INSERT INTO reviews SELECT md5('r' || g)::uuid, 1 + g % 300, 1 + g % 5, 'review ' || g "
        "FROM generate_series(1, 600) AS g"
    )


BIG_CONTEXT = (
    # 20 new authors, 100 books by them, 100 reviews of those books: 220 inserts.
    "INSERT INTO authors (name) SELECT 'new author ' || g FROM generate_series(1, 20) AS g",
    "INSERT INTO books (id, author_id, title, price) SELECT 1000 + g, 50 + 1 + g % 20, 'new book ' || g, g "
    "FROM generate_series(1, 100) AS g",
    "INSERT INTO reviews SELECT md5('n' || g)::uuid, 1000 + 1 + g % 100, 5, NULL FROM generate_series(1, 100) AS g",
    # 250 updates of books across types and nulls, 400 of reviews, 10 of authors.
    "UPDATE books SET price = price * 2, title = title || ' (2nd ed.)', tags = '{\"x\": 1}' WHERE id <= 250",
    "UPDATE books SET published = NULL, price = NULL WHERE id BETWEEN 200 AND 220",
    "UPDATE reviews SET stars = NULL, body = upper(body) WHERE book_id BETWEEN 60 AND 259",
    "UPDATE authors SET name = name || '!', bio = bio || '{\"edited\": true}' WHERE id <= 10",
    # Deletes: 100 reviews, then 30 books with their reviews (cascade, recorded too).
    "DELETE FROM reviews WHERE book_id BETWEEN 2 AND 51",
    "DELETE FROM books WHERE id BETWEEN 271 AND 300",
    # Inserted then deleted; updated then deleted; deleted then re-inserted (same key).
    "INSERT INTO books (id, author_id, title) VALUES (5000, 1, 'ephemeral')",
    "DELETE FROM books WHERE id = 5000",
    "UPDATE books SET title = 'doomed' WHERE id = 260",
    "DELETE FROM books WHERE id = 260",
    "DELETE FROM reviews WHERE id = md5('r600')::uuid",
    "INSERT INTO reviews VALUES (md5('r600')::uuid, 1, 1, 'rewritten')",
)


@pytest.mark.parametrize("library", LEVELS, indirect=True)
def test_reverting_a_context_over_three_tables_restores_every_row(conn, library):
    seed(conn)
    tables = ("authors", "books", "reviews")
    before = snapshot(conn, *tables)
    ctx = in_context(conn, *BIG_CONTEXT, job="bad import")
    after = snapshot(conn, *tables)
    touched = {(e.pgh_obj_model, str(e.pgh_obj_id)) for e in history.events(conn, library, context_id=ctx)}
    assert len(touched) >= 1000
    assert {model for model, _ in touched} == {"public.authors", "public.books", "public.reviews"}

    plan = revert.revert_context(conn, library, ctx)

    assert snapshot(conn, *tables) == before
    assert plan.applied and not plan.conflicts
    kinds = {k: sum(1 for op in plan.operations if op.kind == k) for k in ("insert", "update", "delete")}
    assert kinds["delete"] == 20 + 100 + 100  # the context's inserts (the ephemeral book needs nothing)
    assert kinds["insert"] > 100 and kinds["update"] > 400
    # The revert is recorded under a new context that names the reverted one.
    reverted = history.events(conn, library, context_id=plan.revert_context_id)
    assert reverted and {e.pgh_context["pghistory_revert_of"] for e in reverted} == {str(ctx)}  # type: ignore[index]

    # Reverting the revert brings the context's changes back.
    again = revert.revert_context(conn, library, plan.revert_context_id)  # type: ignore[arg-type]
    assert again.applied
    assert snapshot(conn, *tables) == after


def test_dry_run_plans_without_writing(conn, library):
    seed(conn)
    ctx = in_context(
        conn,
        "UPDATE books SET price = 1 WHERE id = 1",
        "DELETE FROM reviews WHERE id = md5('r2')::uuid",
        "INSERT INTO authors (name) VALUES ('new')",
    )
    state = snapshot(conn, "authors", "books", "reviews")
    plan = revert.revert_context(conn, library, str(ctx), dry_run=True)
    assert not plan.applied and plan.revert_context_id is None
    assert snapshot(conn, "authors", "books", "reviews") == state
    # One transaction: deletes, updates, re-inserts, except that books (referencing
    # authors) is updated before any author is deleted.
    assert [(op.kind, op.table, op.pk) for op in plan.operations] == [
        ("update", "public.books", 1),
        ("delete", "public.authors", 51),
        ("insert", "public.reviews", str(uuid.UUID(conn.execute("SELECT md5('r2')").fetchone()[0]))),
    ]
    assert plan.operations[0].values == {
        "id": 1,
        "author_id": 2,
        "title": "book 1",
        "price": 1.25,
        "cents": 125,
        "published": "2020-01-02T00:00:00+00:00",
        "tags": ["t", 1],
    }
    assert plan.operations[1].values is None


def test_conflicts_are_reported_and_nothing_is_written(conn, library):
    seed(conn)
    ctx = in_context(
        conn,
        "UPDATE books SET price = 100 WHERE id IN (1, 2, 3, 4)",
        "INSERT INTO authors (name) VALUES ('new')",
    )
    conn.execute("UPDATE books SET price = 200 WHERE id = 1")  # a later event
    with ph.ignore():
        with conn.transaction():
            transport.apply(conn)
            conn.execute("UPDATE books SET title = 'sneaky' WHERE id = 2")  # no event at all
    conn.execute("DELETE FROM reviews WHERE book_id = 3")
    conn.execute("DELETE FROM books WHERE id = 3")  # deleted after the context
    state = snapshot(conn, "authors", "books", "reviews")
    contexts = conn.execute("SELECT count(*) FROM pghistory_context").fetchone()[0]

    with pytest.raises(RevertConflictError) as info:
        revert.revert_context(conn, library, ctx)
    message = str(info.value)
    assert "3 object(s) changed after it" in message
    assert "public.books 1: changed again after the context" in message
    assert "public.books 2: its values differ from the context's last recorded state" in message
    assert "public.books 3: changed again after the context" in message
    assert snapshot(conn, "authors", "books", "reviews") == state
    assert conn.execute("SELECT count(*) FROM pghistory_context").fetchone()[0] == contexts

    plan = revert.revert_context(conn, library, ctx, dry_run=True)
    assert sorted((c.pk, c.reason) for c in plan.conflicts) == [
        (1, "changed again after the context (by another context)"),
        (2, "its values differ from the context's last recorded state"),
        (3, "changed again after the context (by another context)"),
    ]

    forced = revert.revert_context(conn, library, ctx, force=True)
    assert forced.applied
    rows = conn.execute("SELECT id, title, price FROM books WHERE id <= 4 ORDER BY id").fetchall()
    assert [(r[0], str(r[2])) for r in rows] == [(1, "1.25"), (2, "2.50"), (3, "3.75"), (4, "5.00")]
    assert rows[1][1] == "book 2"  # force writes the whole before-state back
    assert conn.execute("SELECT count(*) FROM authors WHERE name = 'new'").fetchone()[0] == 0


def test_deleted_after_the_context_without_later_event_is_a_conflict(conn, library):
    seed(conn)
    ctx = in_context(conn, "UPDATE authors SET name = 'x' WHERE id = 1", "INSERT INTO authors (name) VALUES ('y')")
    with ph.ignore():
        with conn.transaction():
            transport.apply(conn)
            conn.execute("DELETE FROM authors WHERE name = 'y'")
            conn.execute("DELETE FROM reviews WHERE book_id IN (SELECT id FROM books WHERE author_id = 1)")
            conn.execute("DELETE FROM books WHERE author_id = 1")
            conn.execute("DELETE FROM authors WHERE id = 1")
    plan = revert.revert_context(conn, library, ctx, dry_run=True)
    assert sorted((c.pk, c.reason) for c in plan.conflicts) == [(1, "deleted after the context"), (51, "deleted after the context")]


def test_revert_to_event(conn, library):
    seed(conn)
    authors, books = library[0], library[1]
    conn.execute("UPDATE books SET title = 'v2', price = 9 WHERE id = 7")
    conn.execute("UPDATE books SET title = 'v3', tags = NULL WHERE id = 7")
    events = history.object_history(conn, library, "books", 7)
    first = [e for e in events if e.pgh_model == "public.books_event"][0]

    revert.revert_event(conn, library, first)
    assert conn.execute("SELECT title, price::text, cents, tags::text FROM books WHERE id = 7").fetchone() == (
        "book 7",
        "8.75",
        875,
        '["t", 7]',
    )
    assert history.object_history(conn, library, "books", 7, newest_first=True)[0].pgh_diff == {
        "title": ["v3", "book 7"],
        "price": [9, 8.75],
        "cents": [900, 875],
        "tags": [None, ["t", 7]],
    }

    # A deleted row is re-created with its key, even an identity key GENERATED ALWAYS.
    conn.execute("INSERT INTO authors (name) VALUES ('gone')")
    conn.execute("DELETE FROM authors WHERE name = 'gone'")
    [deleted] = history.events(conn, [authors], labels="delete")
    revert.revert_to_event(conn, authors, deleted.pgh_id)
    assert conn.execute("SELECT id, name FROM authors WHERE name = 'gone'").fetchone() == (51, "gone")

    with pytest.raises(HistoryError, match="columns not tracked: author_id, title, cents, published, tags"):
        revert.revert_to_event(conn, library[3], 1)
    with pytest.raises(HistoryError, match="has no event with pgh_id 99999"):
        revert.revert_to_event(conn, books, 99999)


def test_rows_that_predate_tracking(conn):
    conn.execute("CREATE TABLE acct (id integer PRIMARY KEY, balance integer)")
    conn.execute("INSERT INTO acct VALUES (1, 10), (2, 20)")  # before tracking: no events
    table = ph.Table("acct", (ph.Column("id", "integer"), ph.Column("balance", "integer")))
    plain = ph.Tracking(table, FULL)
    ph.install(conn, [plain])
    ctx = in_context(conn, "UPDATE acct SET balance = 0")
    with pytest.raises(HistoryError) as info:
        revert.revert_context(conn, [plain], ctx)
    assert "public.acct 1: the state before event 1 ('update') is unknown: no earlier event" in str(info.value)

    # An update tracker storing the OLD row knows the state before.
    conn.execute("CREATE TABLE acct2 (id integer PRIMARY KEY, balance integer)")
    conn.execute("INSERT INTO acct2 VALUES (1, 10), (2, 20)")
    table2 = ph.Table("acct2", (ph.Column("id", "integer"), ph.Column("balance", "integer")))
    with_old = ph.Tracking(table2, (*FULL, ph.UpdateEvent("before_update", row=ph.Old)))
    ph.install(conn, [with_old])
    ctx = in_context(conn, "UPDATE acct2 SET balance = balance + 1", "UPDATE acct2 SET balance = 0")
    revert.revert_context(conn, [with_old], ctx)
    assert conn.execute("SELECT * FROM acct2 ORDER BY id").fetchall() == [(1, 10), (2, 20)]

    # The same when the OLD-row trigger fires after the NEW-row one (names sort after).
    conn.execute("CREATE TABLE acct3 (id integer PRIMARY KEY, balance integer)")
    conn.execute("INSERT INTO acct3 VALUES (1, 10), (2, 20)")
    table3 = ph.Table("acct3", (ph.Column("id", "integer"), ph.Column("balance", "integer")))
    old_after = ph.Tracking(table3, (*FULL, ph.UpdateEvent("update_old_row", row=ph.Old)), level=ph.Row)
    ph.install(conn, [old_after])
    ctx = in_context(conn, "UPDATE acct3 SET balance = balance + 1", "UPDATE acct3 SET balance = 0")
    assert [e.pgh_label for e in history.object_history(conn, [old_after], "acct3", 1)][:2] == ["update", "update_old_row"]
    revert.revert_context(conn, [old_after], ctx)
    assert conn.execute("SELECT * FROM acct3 ORDER BY id").fetchall() == [(1, 10), (2, 20)]


def test_what_cannot_be_reverted(conn, library):
    seed(conn)
    with pytest.raises(HistoryError, match="no events under context"):
        revert.revert_context(conn, library, uuid.uuid4())
    ctx = in_context(conn, "UPDATE books SET price = 0 WHERE id = 1")
    with pytest.raises(HistoryError, match=r"public.books: no tracking mirrors every column, .*columns not tracked"):
        revert.revert_context(conn, [library[3]], ctx)
    with pytest.raises(HistoryError, match="only recorded in public.book_prices"):
        # The full tracking was given, but the change is only in the partial event table.
        conn.execute("DELETE FROM books_event WHERE pgh_context_id = %s", (ctx,))
        revert.revert_context(conn, library, ctx)


def test_hostile_names_and_a_psycopg2_connection(conn, dsn):
    """Quotes, dollar signs and SQL in names and labels; denormalized context; the same
    calls through psycopg2."""
    psycopg2 = pytest.importorskip("psycopg2")
    conn.execute('CREATE SCHEMA "s$$chema"')
    conn.execute('CREATE TABLE "s$$chema"."we""ird\'; --" ("i""d" text PRIMARY KEY, "v $$ \' --" jsonb)')
    table = ph.Table('we"ird\'; --', (ph.Column('i"d', "text"), ph.Column("v $$ ' --", "jsonb")), primary_key=('i"d',), schema="s$$chema")
    tracking = ph.Tracking(table, (ph.InsertEvent("ins'"), ph.UpdateEvent("$$"), ph.DeleteEvent("del --")), context=ph.DENORMALIZED)
    ph.install(conn, [tracking])
    conn.execute("""INSERT INTO "s$$chema"."we""ird'; --" VALUES ('k''1', '{"a": "$$"}'), ('k2', NULL)""")
    before = snapshot(conn, ("s$$chema", "we\"ird'; --"))
    ctx = in_context(
        conn,
        """UPDATE "s$$chema"."we""ird'; --" SET "v $$ ' --" = '[1]' WHERE "i""d" = 'k''1'""",
        """DELETE FROM "s$$chema"."we""ird'; --" WHERE "i""d" = 'k2'""",
        who="o'brien $$",
    )
    with psycopg2.connect(dsn) as raw:
        raw.autocommit = True
        events = history.object_history(raw, [tracking], table, "k'1")
        assert [(e.pgh_label, e.pgh_diff) for e in events] == [("ins'", None), ("$$", {"v $$ ' --": [{"a": "$$"}, [1]]})]
        assert events[1].pgh_context == {"who": "o'brien $$"}
        assert history.events(raw, [tracking], context_id=ctx, labels=["del --"])[0].pgh_obj_id == "k2"
        plan = revert.revert_context(raw, [tracking], ctx)
        assert plan.applied
    assert snapshot(conn, ("s$$chema", "we\"ird'; --")) == before
