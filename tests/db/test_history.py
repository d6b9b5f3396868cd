"""Database tier: reading history (object history, events across tables, as of a time)."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import history, transport
from pghistory_core.errors import ConfigurationError, HistoryError

UTC = datetime.timezone.utc
FULL = (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent())


def now(conn: psycopg.Connection) -> datetime.datetime:
    """A time strictly after every committed event and before any later one."""
    return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def in_context(conn: psycopg.Connection, *statements: str, **metadata: object) -> uuid.UUID:
    """Run *statements* in one transaction under a new context; return its id."""
    with ph.context(**metadata) as active:
        with conn.transaction():
            transport.apply(conn)
            for statement in statements:
                conn.execute(statement)
    return active.id


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def doc(conn: psycopg.Connection) -> ph.Tracking:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute(
        "CREATE TABLE doc (id integer PRIMARY KEY, amount numeric(10, 2), hits integer, title varchar(40), "
        "payload json, meta jsonb, due timestamptz, done boolean NOT NULL DEFAULT false)"
    )
    table = ph.Table(
        "doc",
        (
            ph.Column("id", "integer"),
            ph.Column("amount", "numeric(10, 2)"),
            ph.Column("hits", "integer"),
            ph.Column("title", "varchar(40)"),
            ph.Column("payload", "json"),
            ph.Column("meta", "jsonb"),
            ph.Column("due", "timestamp with time zone"),
            ph.Column("done", "boolean"),
        ),
    )
    tracking = ph.Tracking(table, FULL)
    ph.install(conn, [tracking])
    return tracking


@pytest.fixture
def shop(conn: psycopg.Connection) -> list[ph.Tracking]:
    """Users, and orders referencing them; orders are tracked into two event tables."""
    conn.execute("CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL)")
    conn.execute(
        "CREATE TABLE orders (id integer PRIMARY KEY, user_id integer REFERENCES users, total numeric, status text)"
    )
    users = ph.Table("users", (ph.Column("id", "integer"), ph.Column("name", "text")))
    orders = ph.Table(
        "orders",
        (ph.Column("id", "integer"), ph.Column("user_id", "integer"), ph.Column("total", "numeric"), ph.Column("status", "text")),
    )
    trackings = [
        ph.Tracking(users, FULL),
        ph.Tracking(orders, FULL),
        ph.Tracking(
            orders,
            (ph.UpdateEvent("status_changed", condition=ph.AnyChange("status")),),
            fields=("id", "status"),
            event_table="orders_status",
        ),
    ]
    ph.install(conn, trackings)
    return trackings


# ----------------------------------------------------------------------- object history


def test_diffs_across_types_and_nulls(conn, doc):
    conn.execute(
        "INSERT INTO doc VALUES (1, 10.50, 3, 'draft', '{\"n\": 1}', '{\"tags\": [\"a\"]}', "
        "'2024-01-02 03:04:05+00', false)"
    )
    conn.execute("UPDATE doc SET amount = 12, hits = NULL, title = 'final' WHERE id = 1")
    conn.execute("""UPDATE doc SET payload = '"1"', meta = '{"tags": ["a", "b"], "x": null}' WHERE id = 1""")
    conn.execute("UPDATE doc SET due = '2024-01-02 03:04:05.5+00', hits = 0, done = true WHERE id = 1")
    conn.execute("UPDATE doc SET due = NULL, meta = NULL, payload = NULL, amount = NULL WHERE id = 1")

    events = history.object_history(conn, [doc], doc.table, 1)

    assert [e.pgh_label for e in events] == ["insert", "update", "update", "update", "update"]
    assert events[0].pgh_diff is None
    assert events[0].pgh_data == {
        "id": 1,
        "amount": 10.5,
        "hits": 3,
        "title": "draft",
        "payload": {"n": 1},
        "meta": {"tags": ["a"]},
        "due": "2024-01-02T03:04:05+00:00",
        "done": False,
    }
    assert [e.pgh_diff for e in events[1:]] == [
        {"amount": [10.5, 12], "hits": [3, None], "title": ["draft", "final"]},
        {"payload": [{"n": 1}, "1"], "meta": [{"tags": ["a"]}, {"tags": ["a", "b"], "x": None}]},
        {"due": ["2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05.5+00:00"], "hits": [None, 0], "done": [False, True]},
        {
            "due": ["2024-01-02T03:04:05.5+00:00", None],
            "meta": [{"tags": ["a", "b"], "x": None}, None],
            "payload": ["1", None],
            "amount": [12, None],
        },
    ]
    assert {(e.pgh_model, e.pgh_obj_model, e.pgh_obj_id) for e in events} == {("public.doc_event", "public.doc", 1)}
    assert [e.pgh_id for e in history.object_history(conn, [doc], "doc", 1, newest_first=True)] == [
        e.pgh_id for e in reversed(events)
    ]


def test_numeric_values_keep_every_digit(conn):
    # As floats, both sides of this diff printed 1.2345678901234567e+19.
    conn.execute("CREATE TABLE ledger (id integer PRIMARY KEY, amount numeric(30, 10), note json)")
    table = ph.Table("ledger", (ph.Column("id", "integer"), ph.Column("amount", "numeric(30, 10)"), ph.Column("note", "json")))
    tracking = ph.Tracking(table, FULL)
    ph.install(conn, [tracking])
    conn.execute("""INSERT INTO ledger VALUES (1, 12345678901234567890.1234567891, '{"rate": 0.1}')""")
    in_context(conn, "UPDATE ledger SET amount = amount + 1", ratio=0.25)

    first, second = history.object_history(conn, [tracking], table, 1)

    assert first.pgh_data == {"id": 1, "amount": Decimal("12345678901234567890.1234567891"), "note": {"rate": Decimal("0.1")}}
    assert second.pgh_diff == {
        "amount": [Decimal("12345678901234567890.1234567891"), Decimal("12345678901234567891.1234567891")]
    }
    assert [str(v) for v in second.pgh_diff["amount"]] == ["12345678901234567890.1234567891", "12345678901234567891.1234567891"]
    assert second.pgh_context == {"ratio": 0.25} and isinstance(second.pgh_context["ratio"], float)


def test_history_of_one_object_ignores_the_others(conn, doc):
    conn.execute("INSERT INTO doc (id, hits) SELECT g, g FROM generate_series(1, 50) AS g")
    conn.execute("UPDATE doc SET hits = hits + 1")
    events = history.object_history(conn, [doc], "public.doc", "7")  # a key from a command line
    assert [(e.pgh_label, e.pgh_obj_id, e.pgh_diff) for e in events] == [
        ("insert", 7, None),
        ("update", 7, {"hits": [7, 8]}),
    ]
    assert history.object_history(conn, [doc], "public.doc", 999) == []


def test_deleted_and_recreated_row(conn, doc):
    conn.execute("INSERT INTO doc (id, title) VALUES (1, 'first life')")
    conn.execute("DELETE FROM doc WHERE id = 1")
    conn.execute("INSERT INTO doc (id, title) VALUES (1, 'second life')")
    conn.execute("UPDATE doc SET title = 'second life, edited'")
    events = history.object_history(conn, [doc], "doc", 1)
    assert [(e.pgh_label, e.pgh_data["title"], e.pgh_diff) for e in events] == [
        ("insert", "first life", None),
        ("delete", "first life", {}),
        ("insert", "second life", {"title": ["first life", "second life"]}),
        ("update", "second life, edited", {"title": ["second life", "second life, edited"]}),
    ]


def test_primary_key_change_continues_under_the_new_key(conn, doc):
    conn.execute("INSERT INTO doc (id, title) VALUES (1, 'a')")
    conn.execute("UPDATE doc SET id = 10 WHERE id = 1")
    conn.execute("UPDATE doc SET title = 'b' WHERE id = 10")
    old = history.object_history(conn, [doc], "doc", 1)
    new = history.object_history(conn, [doc], "doc", 10)
    assert [(e.pgh_label, e.pgh_data["id"]) for e in old] == [("insert", 1)]
    # The move is recorded under the new key; the old key is not stored, so there is
    # nothing to diff the first event under the new key against.
    assert [(e.pgh_label, e.pgh_data["id"], e.pgh_diff) for e in new] == [
        ("update", 10, None),
        ("update", 10, {"title": ["a", "b"]}),
    ]


def test_one_object_in_several_event_tables(conn, shop):
    conn.execute("INSERT INTO users VALUES (1, 'ann')")
    conn.execute("INSERT INTO orders VALUES (5, 1, 10, 'new')")
    conn.execute("UPDATE orders SET total = 12 WHERE id = 5")
    conn.execute("UPDATE orders SET status = 'paid' WHERE id = 5")
    conn.execute("UPDATE orders SET status = 'shipped', total = 11 WHERE id = 5")

    events = history.object_history(conn, shop, "orders", 5)

    # Diffs compare with the previous event in the same event table.
    assert [(e.pgh_label, e.pgh_diff) for e in events if e.pgh_model == "public.orders_event"] == [
        ("insert", None),
        ("update", {"total": [10, 12]}),
        ("update", {"status": ["new", "paid"]}),
        ("update", {"status": ["paid", "shipped"], "total": [12, 11]}),
    ]
    status_events = [e for e in events if e.pgh_model == "public.orders_status"]
    assert [(e.pgh_label, e.pgh_data, e.pgh_diff) for e in status_events] == [
        ("status_changed", {"id": 5, "status": "paid"}, None),
        ("status_changed", {"id": 5, "status": "shipped"}, {"status": ["paid", "shipped"]}),
    ]
    # One order across tables: time, then pgh_id, then the event table's name.
    keys = [(e.pgh_created_at, e.pgh_id, e.pgh_model) for e in events]
    assert keys == sorted(keys)
    assert {e.pgh_obj_model for e in events} == {"public.orders"}


def test_context_metadata_in_fk_and_denormalized_modes(conn):
    conn.execute("CREATE TABLE a (id integer PRIMARY KEY, v text)")
    conn.execute("CREATE TABLE b (id integer PRIMARY KEY, v text)")
    ta = ph.Tracking(ph.Table("a", (ph.Column("id", "integer"), ph.Column("v", "text"))), FULL)
    tb = ph.Tracking(ph.Table("b", (ph.Column("id", "integer"), ph.Column("v", "text"))), FULL, context=ph.DENORMALIZED)
    tn = ph.Tracking(ph.Table("a", (ph.Column("id", "integer"), ph.Column("v", "text"))), (ph.UpdateEvent("a_upd"),), event_table="a_plain", context=ph.NO_CONTEXT)
    ph.install(conn, [ta, tb, tn])
    ctx = in_context(conn, "INSERT INTO a VALUES (1, 'x')", "INSERT INTO b VALUES (1, 'y')", user="ann", request=7)
    conn.execute("UPDATE a SET v = 'z'")

    found = history.events(conn, [ta, tb, tn])
    assert sorted((e.pgh_model, e.pgh_label, str(e.pgh_context_id), e.pgh_context) for e in found) == [
        ("public.a_event", "insert", str(ctx), {"user": "ann", "request": 7}),
        ("public.a_event", "update", "None", None),
        ("public.a_plain", "a_upd", "None", None),
        ("public.b_event", "insert", str(ctx), {"user": "ann", "request": 7}),
    ]
    assert [e.pgh_model for e in history.events(conn, [ta, tb, tn], context_id=str(ctx))] == [
        "public.a_event",
        "public.b_event",
    ]


# --------------------------------------------------------------------- events across tables


def test_events_filters(conn, shop):
    users, orders, status = shop
    conn.execute("INSERT INTO users VALUES (1, 'ann'), (2, 'bob')")
    start = now(conn)
    ctx = in_context(
        conn,
        "INSERT INTO orders VALUES (10, 1, 5, 'new'), (11, 2, 6, 'new'), (12, 1, 7, 'new')",
        "UPDATE orders SET status = 'paid' WHERE id = 12",
        job="import",
    )
    middle = now(conn)
    conn.execute("UPDATE orders SET user_id = 1 WHERE id = 11")
    conn.execute("UPDATE users SET name = 'ann b' WHERE id = 1")

    def ids(**filters: object) -> list[tuple[str, object, str]]:
        # Sorted: events of one transaction share pgh_created_at, and their order across
        # event tables (by pgh_id) carries no meaning.
        return sorted((e.pgh_model.split(".")[1], e.pgh_obj_id, e.pgh_label) for e in history.events(conn, shop, **filters))

    # The object tracked: events of user 1 only.
    assert ids(obj=(users.table, 1)) == [("users_event", 1, "insert"), ("users_event", 1, "update")]
    # Objects referencing user 1 through orders.user_id: 11 joins once it is moved to ann.
    assert ids(references=history.Reference("user_id", 1, table="public.orders")) == [
        ("orders_event", 10, "insert"),
        ("orders_event", 11, "update"),
        ("orders_event", 12, "insert"),
        ("orders_event", 12, "update"),
    ]
    # The same by column name only, and ORed with a second reference.
    refs = [history.Reference("user_id", 2), history.Reference("status", "paid")]
    assert ids(references=refs) == [
        ("orders_event", 11, "insert"),
        ("orders_event", 12, "update"),
        ("orders_status", 12, "status_changed"),
    ]
    assert ids(labels=["status_changed", "delete"]) == [("orders_status", 12, "status_changed")]
    assert ids(labels="insert", since=start) == [
        ("orders_event", 10, "insert"),
        ("orders_event", 11, "insert"),
        ("orders_event", 12, "insert"),
    ]
    assert ids(context_id=ctx, labels="update") == [("orders_event", 12, "update")]
    assert ids(since=start, until=middle) == ids(context_id=ctx)
    assert len(ids(since=start, until=middle)) == 5
    # A set of event tables: only the status table.
    assert [e.pgh_model for e in history.events(conn, [status])] == ["public.orders_status"]
    # Filters combine: user 1's orders among the job's inserts.
    assert ids(context_id=ctx, labels="insert", references=history.Reference("user_id", 1)) == [
        ("orders_event", 10, "insert"),
        ("orders_event", 12, "insert"),
    ]


def test_diffs_are_against_the_previous_event_even_when_it_is_filtered_out(conn, shop):
    conn.execute("INSERT INTO users VALUES (1, 'ann')")
    conn.execute("UPDATE users SET name = 'ann b'")
    ctx = in_context(conn, "UPDATE users SET name = 'ann c'")
    [event] = history.events(conn, shop, context_id=ctx)
    assert event.pgh_diff == {"name": ["ann b", "ann c"]}
    [event] = history.events(conn, shop, obj=("users", 1), context_id=ctx)
    assert event.pgh_diff == {"name": ["ann b", "ann c"]}


@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest-first", "newest-first"])
def test_keyset_pages_cover_every_event_once(conn, shop, newest_first):
    conn.execute("INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 7) AS g")
    # One transaction: every event shares pgh_created_at, and pgh_id repeats across tables.
    in_context(
        conn,
        "INSERT INTO orders SELECT g, 1 + g % 7, g, 'new' FROM generate_series(1, 9) AS g",
        "UPDATE orders SET status = 'paid' WHERE id % 2 = 0",
    )
    conn.execute("UPDATE users SET name = name || '!' WHERE id < 4")
    everything = history.events(conn, shop, newest_first=newest_first)
    assert len(everything) == 7 + 9 + 4 + 4 + 3

    pages, after = [], None
    while True:
        page = history.events(conn, shop, limit=4, after=after, newest_first=newest_first)
        if not page:
            break
        assert len(page) <= 4
        pages.append(page)
        after = page[-1].cursor if len(pages) % 2 else history.Cursor.parse(page[-1].cursor.token)
    assert [e for page in pages for e in page] == everything
    keys = [(e.pgh_created_at, e.pgh_id, e.pgh_model) for e in everything]
    assert keys == sorted(keys, reverse=newest_first)

    # Pages of one object's history work the same way.
    first = history.object_history(conn, shop, "orders", 2, limit=2, newest_first=newest_first)
    rest = history.object_history(conn, shop, "orders", 2, after=first[-1], newest_first=newest_first)
    assert first + rest == history.object_history(conn, shop, "orders", 2, newest_first=newest_first)
    assert len(first + rest) == 3


def test_composite_key_without_object_reference(conn):
    conn.execute("CREATE TABLE stock (shop integer, sku text, qty integer, PRIMARY KEY (shop, sku))")
    table = ph.Table(
        "stock", (ph.Column("shop", "integer"), ph.Column("sku", "text"), ph.Column("qty", "integer")), primary_key=("shop", "sku")
    )
    tracking = ph.Tracking(table, FULL, obj_ref=False)
    ph.install(conn, [tracking])
    conn.execute("INSERT INTO stock VALUES (1, 'a', 5), (1, 'b', 6), (2, 'a', 7)")
    before = now(conn)
    conn.execute("UPDATE stock SET qty = qty - 1")
    conn.execute("DELETE FROM stock WHERE shop = 2")
    events = history.object_history(conn, [tracking], "stock", (1, "a"))
    assert [(e.pgh_label, e.pgh_obj_id, e.pgh_diff) for e in events] == [
        ("insert", [1, "a"], None),
        ("update", [1, "a"], {"qty": [5, 4]}),
    ]
    assert [v.values for v in history.table_as_of(conn, [tracking], "stock", before)] == [
        {"shop": 1, "sku": "a", "qty": 5},
        {"shop": 1, "sku": "b", "qty": 6},
        {"shop": 2, "sku": "a", "qty": 7},
    ]
    assert history.object_as_of(conn, [tracking], "stock", [2, "a"], now(conn)) is None
    with pytest.raises(ConfigurationError, match=r"primary key \['shop', 'sku'\] needs 2 values"):
        history.object_history(conn, [tracking], "stock", 1)


# ------------------------------------------------------------------------------ as of


def test_object_and_table_as_of(conn, doc):
    before_anything = now(conn)
    conn.execute("INSERT INTO doc (id, amount, title, due) VALUES (1, 1.10, 'one', '2024-05-01'), (2, 2.20, 'two', NULL)")
    t1 = now(conn)
    conn.execute("UPDATE doc SET amount = 1.15, meta = '{\"k\": 1}' WHERE id = 1")
    conn.execute("DELETE FROM doc WHERE id = 2")
    conn.execute("INSERT INTO doc (id, title) VALUES (3, 'three')")
    t2 = now(conn)
    conn.execute("INSERT INTO doc (id, amount, title) VALUES (2, 9.99, 'two again')")
    conn.execute("UPDATE doc SET id = 30 WHERE id = 3")
    t3 = now(conn)

    def rows(at: datetime.datetime) -> list[tuple[object, ...]]:
        return [(v.values["id"], v.values["amount"], v.values["title"]) for v in history.table_as_of(conn, [doc], doc.table, at)]

    assert rows(before_anything) == []
    assert rows(t1) == [(1, Decimal("1.10"), "one"), (2, Decimal("2.20"), "two")]
    assert rows(t2) == [(1, Decimal("1.15"), "one"), (3, None, "three")]
    # Native values, typed as the table's columns.
    version = history.object_as_of(conn, [doc], doc.table, 1, t2)
    assert version is not None
    assert version.values == {
        "id": 1,
        "amount": Decimal("1.15"),
        "hits": None,
        "title": "one",
        "payload": None,
        "meta": {"k": 1},
        "due": datetime.datetime(2024, 5, 1, tzinfo=UTC),
        "done": False,
    }
    assert version.pgh_label == "update"
    assert history.object_as_of(conn, [doc], doc.table, 2, t2) is None
    assert history.object_as_of(conn, [doc], doc.table, 2, t3).values["title"] == "two again"  # type: ignore[union-attr]
    # A primary-key change: the row shows under its new key. The old key has no delete
    # event (Postgres fires none), so it is still reported: a documented limitation.
    assert [r[0] for r in rows(t3)] == [1, 2, 3, 30]
    # The live table agrees with "as of now" for rows whose key never changed.
    live = conn.execute("SELECT id, amount, title FROM doc ORDER BY id").fetchall()
    assert [r for r in rows(now(conn)) if r[0] != 3] == live


def test_as_of_explains_what_the_tracking_lacks(conn, shop):
    users, orders, status = shop
    with pytest.raises(HistoryError) as info:
        history.table_as_of(conn, [status], "orders", now(conn))
    message = str(info.value)
    assert "cannot tell the state of public.orders" in message
    assert "columns not tracked: user_id, total" in message
    assert "inserts not tracked" in message and "deletes not tracked" in message
    with pytest.raises(HistoryError, match="no tracking of table nope; tracked tables: public.orders, public.users"):
        history.object_as_of(conn, shop, "nope", 1, now(conn))
