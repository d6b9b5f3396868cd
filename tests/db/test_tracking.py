"""Database tier: what a user sees in event tables, at row and at statement level."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

import pghistory_core as ph
from pghistory_core import transport
from tests.db.helpers import events, labels, track

LEVELS = [pytest.param(ph.Row, id="row"), pytest.param(ph.Statement, id="statement")]


def cash_table() -> ph.Table:
    return ph.Table("cash", (ph.Column("id", "integer"), ph.Column("dollars", "numeric"), ph.Column("note", "text")))


@pytest.fixture
def cash(conn: psycopg.Connection) -> ph.Table:
    conn.execute("CREATE TABLE cash (id serial PRIMARY KEY, dollars numeric NOT NULL, note text)")
    return cash_table()


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest) -> ph.Level:
    return request.param


def test_default_trackers_record_inserts_and_updates(conn, cash, level):
    track(conn, ph.Tracking(cash, level=level))
    conn.execute("INSERT INTO cash (dollars, note) VALUES (1, 'a'), (2, 'b')")
    conn.execute("UPDATE cash SET dollars = dollars + 10")
    conn.execute("DELETE FROM cash WHERE id = 1")
    assert events(conn, "cash_event", ["id", "dollars"]) == [
        {"pgh_label": "insert", "pgh_obj_id": 1, "id": 1, "dollars": Decimal(1)},
        {"pgh_label": "insert", "pgh_obj_id": 2, "id": 2, "dollars": Decimal(2)},
        {"pgh_label": "update", "pgh_obj_id": 1, "id": 1, "dollars": Decimal(11)},
        {"pgh_label": "update", "pgh_obj_id": 2, "id": 2, "dollars": Decimal(12)},
    ]


def test_delete_tracker_stores_old_row(conn, cash, level):
    track(conn, ph.Tracking(cash, (ph.DeleteEvent(),), level=level))
    conn.execute("INSERT INTO cash (dollars) VALUES (5), (6)")
    conn.execute("DELETE FROM cash")
    assert events(conn, "cash_event", ["dollars"]) == [
        {"pgh_label": "delete", "pgh_obj_id": 1, "dollars": Decimal(5)},
        {"pgh_label": "delete", "pgh_obj_id": 2, "dollars": Decimal(6)},
    ]


def test_update_with_old_row_stores_values_before(conn, cash, level):
    track(conn, ph.Tracking(cash, (ph.UpdateEvent("before", row=ph.Old),), level=level))
    conn.execute("INSERT INTO cash (dollars) VALUES (5)")
    conn.execute("UPDATE cash SET dollars = 7")
    assert events(conn, "cash_event", ["dollars"]) == [{"pgh_label": "before", "pgh_obj_id": 1, "dollars": Decimal(5)}]


def test_noop_update_creates_no_event(conn, cash, level):
    track(conn, ph.Tracking(cash, level=level))
    conn.execute("INSERT INTO cash (dollars, note) VALUES (5, NULL)")
    conn.execute("UPDATE cash SET dollars = 5, note = NULL")
    assert labels(conn, "cash_event") == ["insert"]


def test_condition_none_records_every_update(conn, cash, level):
    track(conn, ph.Tracking(cash, (ph.UpdateEvent(condition=None),), level=level))
    conn.execute("INSERT INTO cash (dollars) VALUES (5)")
    conn.execute("UPDATE cash SET dollars = 5")
    assert labels(conn, "cash_event") == ["update"]


def test_money_conditions_from_the_docs(conn, cash, level):
    """The seed's Cash example: money_below_one_hundred, money_down, money_up."""
    track(
        conn,
        ph.Tracking(
            cash,
            (
                ph.UpdateEvent("money_below_one_hundred", condition=ph.Q(old__dollars__gte=100, new__dollars__lt=100)),
                ph.UpdateEvent("money_down", condition=ph.Q(old__dollars__gt=ph.F("new__dollars"))),
                ph.UpdateEvent("money_up", condition=ph.Q(old__dollars__lt=ph.F("new__dollars"))),
            ),
            level=level,
        ),
    )
    conn.execute("INSERT INTO cash (dollars) VALUES (150)")
    conn.execute("UPDATE cash SET dollars = 120")  # down, still >= 100
    conn.execute("UPDATE cash SET dollars = 90")  # down, crosses 100
    conn.execute("UPDATE cash SET dollars = 95")  # up
    conn.execute("UPDATE cash SET dollars = 95")  # no change
    assert [(e["pgh_label"], e["dollars"]) for e in events(conn, "cash_event", ["dollars"])] == [
        ("money_down", Decimal(120)),
        ("money_below_one_hundred", Decimal(90)),
        ("money_down", Decimal(90)),
        ("money_up", Decimal(95)),
    ]


@pytest.fixture
def person(conn: psycopg.Connection) -> ph.Table:
    conn.execute("CREATE TABLE person (id bigint PRIMARY KEY, name text, email text, address text)")
    conn.execute("INSERT INTO person VALUES (1, 'ann', 'a@x', 'main st')")
    return ph.Table(
        "person",
        (ph.Column("id", "bigint"), ph.Column("name", "text"), ph.Column("email", "text"), ph.Column("address", "text")),
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (ph.AnyChange("name", "email"), ["name", "email", "both"]),
        (ph.AllChange("name", "email"), ["both"]),
        (ph.AnyDontChange("name", "email"), ["name", "email", "address"]),
        (ph.AllDontChange("name", "email"), ["address"]),
        (ph.AnyChange(exclude=["address", "id"]), ["name", "email", "both"]),
        (ph.AnyChange("name") | ph.Q(new__address="elm st"), ["name", "both", "address"]),
        (ph.AnyChange("name") & ~ph.AnyChange("email"), ["name"]),
    ],
    ids=["any", "all", "any-dont", "all-dont", "exclude", "or-q", "and-not"],
)
def test_change_conditions(conn, person, level, condition, expected):
    track(conn, ph.Tracking(person, (ph.UpdateEvent("changed", condition=condition),), level=level))
    for step, statement in [
        ("name", "UPDATE person SET name = 'bob'"),
        ("email", "UPDATE person SET email = 'b@x'"),
        ("both", "UPDATE person SET name = 'cy', email = 'c@x'"),
        ("address", "UPDATE person SET address = 'elm st'"),
    ]:
        conn.execute(statement)
    recorded = events(conn, "person_event", ["name", "email", "address"])
    steps = {
        ("bob", "a@x", "main st"): "name",
        ("bob", "b@x", "main st"): "email",
        ("cy", "c@x", "main st"): "both",
        ("cy", "c@x", "elm st"): "address",
    }
    assert [steps[(e["name"], e["email"], e["address"])] for e in recorded] == expected


def test_email_changed_with_old_row(conn, person, level):
    """The seed's UserEmailHistory: AnyChange('email') storing the OLD row."""
    track(
        conn,
        ph.Tracking(
            person,
            (ph.UpdateEvent("email_changed", row=ph.Old, condition=ph.AnyChange("email")),),
            event_table="user_email_history",
            level=level,
        ),
    )
    conn.execute("UPDATE person SET address = '456 main st'")
    assert events(conn, "user_email_history") == []
    conn.execute("UPDATE person SET email = 'world@world.com'")
    assert [e["email"] for e in events(conn, "user_email_history", ["email"])] == ["a@x"]


def test_fields_and_exclude(conn, person, level):
    track(
        conn,
        ph.Tracking(person, fields=["email"], event_table="person_email", level=level),
        ph.Tracking(person, exclude=["email"], event_table="person_rest", level=level,
                    trackers=(ph.InsertEvent("rest_insert"), ph.UpdateEvent("rest_update"))),
    )
    email_columns = [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'person_email'::regclass AND attnum > 0 ORDER BY attnum"
    )]
    assert email_columns == ["pgh_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "pgh_context_id", "email"]
    conn.execute("UPDATE person SET address = 'x'")  # not tracked by person_email
    conn.execute("UPDATE person SET email = 'new@x'")  # not tracked by person_rest
    assert events(conn, "person_email", ["email"]) == [{"pgh_label": "update", "pgh_obj_id": 1, "email": "new@x"}]
    assert events(conn, "person_rest", ["address"]) == [
        {"pgh_label": "rest_update", "pgh_obj_id": 1, "address": "x"}
    ]


def test_two_trackings_in_different_schemas(conn, person, level):
    track(
        conn,
        ph.Tracking(person, (ph.UpdateEvent("email_changed", row=ph.Old, condition=ph.AnyChange("email")),),
                    fields=["email"], event_table="email_history", event_schema="audit", level=level),
        ph.Tracking(person, (ph.UpdateEvent("name_changed", row=ph.Old, condition=ph.AnyChange("name")),),
                    fields=["name"], event_table="name_history", event_schema="Other Schema", level=level),
    )
    conn.execute("UPDATE person SET email = 'e2'")
    conn.execute("UPDATE person SET name = 'n2'")
    assert events(conn, "email_history", ["email"], schema="audit") == [
        {"pgh_label": "email_changed", "pgh_obj_id": 1, "email": "a@x"}
    ]
    assert events(conn, "name_history", ["name"], schema="Other Schema") == [
        {"pgh_label": "name_changed", "pgh_obj_id": 1, "name": "ann"}
    ]


def test_statement_update_changing_primary_key_is_recorded(conn, cash, level):
    track(conn, ph.Tracking(cash, (ph.UpdateEvent(), ph.UpdateEvent("old_row", row=ph.Old)), level=level))
    conn.execute("INSERT INTO cash (id, dollars) SELECT g, g FROM generate_series(1, 4) g")
    conn.execute("UPDATE cash SET id = id + 100 WHERE id IN (1, 2)")  # two keys change in one statement
    conn.execute("UPDATE cash SET id = 50, dollars = 0 WHERE id = 3")
    got = sorted((e["pgh_label"], e["pgh_obj_id"], e["id"], e["dollars"]) for e in events(conn, "cash_event", ["id", "dollars"]))
    assert got == sorted(
        [
            ("update", 101, 101, Decimal(1)),
            ("update", 102, 102, Decimal(2)),
            ("update", 50, 50, Decimal(0)),
            ("old_row", 1, 1, Decimal(1)),
            ("old_row", 2, 2, Decimal(2)),
            ("old_row", 3, 3, Decimal(3)),
        ]
    )


def test_pk_change_with_old_new_condition_pairs_rows(conn, cash, level):
    track(conn, ph.Tracking(cash, (ph.UpdateEvent("down", row=ph.Old, condition=ph.Q(old__dollars__gt=ph.F("new__dollars"))),), level=level))
    conn.execute("INSERT INTO cash (id, dollars) VALUES (1, 10), (2, 20), (3, 30)")
    # id 1 and 3 move and go down; id 2 moves and goes up.
    conn.execute("UPDATE cash SET id = id * 10, dollars = CASE WHEN id = 2 THEN 25 ELSE dollars - 1 END")
    got = sorted((e["pgh_obj_id"], e["dollars"]) for e in events(conn, "cash_event", ["dollars"]))
    assert got == [(1, Decimal(10)), (3, Decimal(30))]


def test_rolled_back_transaction_leaves_no_events(conn, cash, level):
    track(conn, ph.Tracking(cash, level=level))
    with pytest.raises(RuntimeError):
        with conn.transaction():
            conn.execute("INSERT INTO cash (dollars) VALUES (1)")
            with ph.context(user="x"):
                transport.apply(conn)
                conn.execute("UPDATE cash SET dollars = 2")
            raise RuntimeError("boom")
    assert events(conn, "cash_event") == []
    assert conn.execute("SELECT count(*) FROM pghistory_context").fetchone() == (0,)


def test_append_only_blocks_update_and_delete(conn, cash, level):
    track(conn, ph.Tracking(cash, append_only=True, level=level))
    conn.execute("INSERT INTO cash (dollars) VALUES (1)")
    for statement in ["UPDATE cash_event SET pgh_label = 'x'", "DELETE FROM cash_event", "TRUNCATE cash_event"]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
    assert labels(conn, "cash_event") == ["insert"]


def test_ignore_for_a_block_and_for_the_rest_of_a_transaction(conn, cash, level):
    track(conn, ph.Tracking(cash, level=level))
    with conn.transaction():
        with ph.ignore():
            transport.apply(conn)
            conn.execute("INSERT INTO cash (dollars) VALUES (1)")
        transport.apply(conn)  # the block ended: tracking is back on
        conn.execute("INSERT INTO cash (dollars) VALUES (2)")
    with conn.transaction():
        with ph.ignore():
            transport.apply(conn)
        conn.execute("INSERT INTO cash (dollars) VALUES (3)")  # rest of this transaction: ignored
    conn.execute("INSERT INTO cash (dollars) VALUES (4)")  # next transaction: tracked
    assert [e["dollars"] for e in events(conn, "cash_event", ["dollars"])] == [Decimal(2), Decimal(4)]


def test_manual_event_linked_to_context(conn, cash, level):
    tracking = ph.Tracking(cash, (ph.ManualEvent("snapshot"),), level=level)
    track(conn, tracking)
    conn.execute("INSERT INTO cash (dollars, note) VALUES (42, 'n')")
    assert events(conn, "cash_event") == []  # ManualEvent installs no trigger
    ph.create_event(conn, tracking, "snapshot", 1)
    with ph.context(user="ann") as active:
        ph.create_event(conn, tracking, "snapshot", 1)
    rows = conn.execute(
        "SELECT e.pgh_label, e.dollars, c.id, c.metadata FROM cash_event e "
        "LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
    ).fetchall()
    assert rows == [("snapshot", Decimal(42), None, None), ("snapshot", Decimal(42), active.id, {"user": "ann"})]
    with pytest.raises(ph.ConfigurationError, match="no tracker labelled 'nope'"):
        ph.create_event(conn, tracking, "nope", 1)
    with pytest.raises(ph.HistoryError, match="no row with primary key 99"):
        ph.create_event(conn, tracking, "snapshot", 99)


def test_context_in_denormalized_mode_writes_no_shared_row(conn, cash, level):
    track(conn, ph.Tracking(cash, context=ph.DENORMALIZED, level=level))
    with conn.transaction():
        with ph.context(user="ann", request="r1") as active:
            transport.apply(conn)
            conn.execute("INSERT INTO cash (dollars) SELECT g FROM generate_series(1, 3) g")
    rows = conn.execute("SELECT pgh_context_id, pgh_context FROM cash_event").fetchall()
    assert rows == [(active.id, {"user": "ann", "request": "r1"})] * 3
    assert conn.execute("SELECT to_regclass('public.pghistory_context')").fetchone() == (None,)


def test_fk_context_row_written_once_for_a_bulk_statement(conn, cash, level):
    track(conn, ph.Tracking(cash, level=level))
    conn.execute("INSERT INTO cash (dollars) SELECT g FROM generate_series(1, 500) g")
    with conn.transaction():
        with ph.context(job="bulk") as active:
            transport.apply(conn)
            conn.execute("UPDATE cash SET dollars = dollars + 1")
    # One row, never updated after creation (updated_at = created_at).
    assert conn.execute(
        "SELECT id, metadata, updated_at = created_at FROM pghistory_context"
    ).fetchall() == [(active.id, {"job": "bulk"}, True)]
    assert conn.execute(
        "SELECT count(*) FROM cash_event WHERE pgh_label = 'update' AND pgh_context_id = %s", (active.id,)
    ).fetchone() == (500,)


def test_install_is_idempotent_and_tracks_column_changes(conn, cash, level):
    tracking = ph.Tracking(cash, level=level)
    assert ph.install(conn, [tracking])
    assert ph.install(conn, [tracking]) == []
    conn.execute("INSERT INTO cash (dollars) VALUES (1)")
    conn.execute("ALTER TABLE cash ADD COLUMN currency varchar(3) DEFAULT 'EUR'")
    wider = ph.Tracking(
        ph.Table("cash", (*cash.columns, ph.Column("currency", "character varying(3)"))), level=level
    )
    assert {s.state for s in ph.status(conn, [wider]) if s.kind != "function" or "cash" in s.name} >= {ph.State.OUTDATED}
    ph.install(conn, [wider])
    ph.check(conn, [wider])
    conn.execute("INSERT INTO cash (dollars, currency) VALUES (2, 'USD')")
    # Events recorded before the change are kept; the new column is recorded from now on.
    assert [(e["dollars"], e["currency"]) for e in events(conn, "cash_event", ["dollars", "currency"])] == [
        (Decimal(1), None),
        (Decimal(2), "USD"),
    ]


def test_check_reports_hand_edits_and_install_repairs(conn, cash, level):
    tracking = ph.Tracking(cash, level=level)
    ph.install(conn, [tracking])
    ph.check(conn, [tracking])
    conn.execute("ALTER TABLE cash DISABLE TRIGGER pgh_insert")
    with pytest.raises(ph.DriftError, match=r"pgh_insert: outdated \(disabled\)"):
        ph.check(conn, [tracking])
    ph.install(conn, [tracking])
    conn.execute(
        'CREATE OR REPLACE FUNCTION public.pgh_cash_event_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$'
    )
    with pytest.raises(ph.DriftError, match="changed in the database since it was installed"):
        ph.check(conn, [tracking])
    ph.install(conn, [tracking])
    ph.check(conn, [tracking])
    conn.execute("INSERT INTO cash (dollars) VALUES (1)")
    conn.execute("UPDATE cash SET dollars = 2")
    assert labels(conn, "cash_event") == ["insert", "update"]


def test_nothing_depends_on_search_path(conn, cash, level):
    track(conn, ph.Tracking(cash, level=level))
    conn.execute("SET search_path = pg_catalog")
    with conn.transaction():
        with ph.context(user="u"):
            transport.apply(conn)
            conn.execute("INSERT INTO public.cash (dollars) VALUES (1)")
            conn.execute("UPDATE public.cash SET dollars = 3")
    conn.execute("SET search_path = public")
    assert labels(conn, "cash_event") == ["insert", "update"]
    assert conn.execute("SELECT metadata FROM pghistory_context").fetchall() == [({"user": "u"},)]


def test_uninstall_stops_tracking_and_keeps_events(conn, cash, level):
    tracking = ph.Tracking(cash, level=level)
    ph.install(conn, [tracking])
    conn.execute("INSERT INTO cash (dollars) VALUES (1)")
    ph.uninstall(conn, [tracking])
    conn.execute("INSERT INTO cash (dollars) VALUES (2)")
    assert labels(conn, "cash_event") == ["insert"]
    assert {s.state for s in ph.status(conn, [tracking]) if s.kind == "trigger"} == {ph.State.MISSING}


@pytest.mark.parametrize(
    "planner",
    ["", "SET LOCAL enable_hashjoin = off", "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"],
    ids=["default-plan", "no-hashjoin", "nestloop-only"],
)
def test_statement_update_pairs_swapped_keys_whatever_the_plan(conn, planner):
    # A deferrable key lets one UPDATE swap keys (immediate unique checks run per row).
    conn.execute("CREATE TABLE cash (id integer PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, dollars numeric, note text)")
    track(conn, ph.Tracking(cash_table(), (ph.UpdateEvent("down", row=ph.Old, condition=ph.Q(old__dollars__gt=ph.F("new__dollars"))),), level=ph.Statement))
    conn.execute("INSERT INTO cash (id, dollars) SELECT g, g * 10 FROM generate_series(1, 200) g")
    with conn.transaction():
        if planner:
            for statement in planner.split("; "):
                conn.execute(statement)
        # Keys swap (1 <-> 200, 2 <-> 199, ...); only odd ids lose money.
        conn.execute("UPDATE cash SET id = 201 - id, dollars = CASE WHEN id % 2 = 1 THEN dollars - 1 ELSE dollars + 1 END")
    got = [(e["pgh_obj_id"], e["dollars"]) for e in events(conn, "cash_event", ["dollars"])]
    assert sorted(got) == [(i, Decimal(i * 10)) for i in range(1, 201, 2)]


def test_statement_update_on_a_table_without_primary_key(conn, level):
    conn.execute("CREATE TABLE tag (name text, weight int)")
    table = ph.Table("tag", (ph.Column("name", "text"), ph.Column("weight", "integer")), primary_key=())
    track(conn, ph.Tracking(table, obj_ref=False, level=level))
    conn.execute("INSERT INTO tag VALUES ('a', 1), ('b', 2)")
    conn.execute("UPDATE tag SET weight = weight + 1 WHERE name = 'a'")
    conn.execute("UPDATE tag SET weight = weight")
    assert [(e["pgh_label"], e["name"], e["weight"]) for e in events(conn, "tag_event", ["name", "weight"], obj_ref=False)
] == [("insert", "a", 1), ("insert", "b", 2), ("update", "a", 2)]


def test_install_inside_a_callers_transaction_does_not_commit_it(dsn):
    psycopg2 = pytest.importorskip("psycopg2")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True  # the caller then opens a transaction by hand, as Peewee's atomic() does
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        cur.execute("BEGIN")
        ph.install(conn, [ph.Tracking(ph.Table("t", (ph.Column("id", "integer"), ph.Column("v", "integer"))))])
        cur.execute("ROLLBACK")  # the caller changes their mind: the install goes with it
        cur.execute("SELECT to_regclass('public.t_event')")
        assert cur.fetchone() == (None,)
    finally:
        conn.close()


def _trigger_plans(conn: psycopg.Connection, statement: str) -> list[str]:
    """The plans auto_explain reports for the statements the triggers of *statement* run."""
    plans: list[str] = []
    conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
    try:
        conn.execute("LOAD 'auto_explain'")
    except psycopg.errors.InsufficientPrivilege:  # only with a $PGHISTORY_TEST_DSN that is not a superuser
        pytest.skip("reading a trigger's cached plan needs auto_explain, which only a superuser can LOAD")
    conn.execute("SET auto_explain.log_min_duration = 0")
    conn.execute("SET auto_explain.log_nested_statements = on")
    conn.execute("SET client_min_messages = log")
    try:
        conn.execute(statement)
    finally:
        conn.execute("RESET client_min_messages")
    return [p for p in plans if "INSERT INTO" in p and "cash_event" in p]


def test_bulk_update_after_single_row_updates_still_pairs_rows_in_linear_time(conn, cash):
    # PL/pgSQL keeps a generic plan after five calls. Planned for one-row transition tables,
    # an inner join became a nested loop, and a later bulk UPDATE on the same connection
    # paired its rows in quadratic time (hours at 100k rows). The plan must not be a nested
    # loop whatever size it was made for.
    track(conn, ph.Tracking(cash, level=ph.Statement))
    conn.execute("INSERT INTO cash (dollars) SELECT g FROM generate_series(1, 300) g")
    for key in range(1, 9):
        conn.execute("UPDATE cash SET dollars = dollars + 1 WHERE id = %s", (key,))
    plans = _trigger_plans(conn, "UPDATE cash SET dollars = dollars + 1")
    assert len(plans) == 1, plans
    assert "Nested Loop" not in plans[0], plans[0]
    assert "Full Join" in plans[0], plans[0]
    updates = [e for e in events(conn, "cash_event", ["dollars"]) if e["pgh_label"] == "update"]
    assert len(updates) == 8 + 300
    assert sorted((e["pgh_obj_id"], e["dollars"]) for e in updates[8:]) == [
        (i, Decimal(i + (2 if i <= 8 else 1))) for i in range(1, 301)
    ]


def test_single_row_update_pairs_rows_without_numbering_them(conn, cash):
    # The statement-level UPDATE function has a one-row branch: a cross join of the two
    # one-row transition tables instead of the numbered full join (a hash table and two
    # window aggregates) that bulk updates need. It must record exactly what the full join
    # would, keys changing included, and write the context row only with an event.
    track(conn, ph.Tracking(cash, level=ph.Statement))
    conn.execute("INSERT INTO cash (dollars) VALUES (10), (20)")
    plans = _trigger_plans(conn, "UPDATE cash SET dollars = 11 WHERE id = 1")
    assert len(plans) == 1, plans
    assert "Full Join" not in plans[0] and "WindowAgg" not in plans[0], plans[0]
    with conn.transaction():
        with ph.context(user="ann") as changed:
            transport.apply(conn)
            conn.execute("UPDATE cash SET id = 7, dollars = 12 WHERE id = 1")
    with conn.transaction():
        with ph.context(user="bob"):
            transport.apply(conn)
            conn.execute("UPDATE cash SET dollars = dollars WHERE id = 2")  # nothing changes: no event
            conn.execute("UPDATE cash SET dollars = 0 WHERE id = 999")  # no row at all
    got = [(e["pgh_label"], e["pgh_obj_id"], e["dollars"]) for e in events(conn, "cash_event", ["dollars"])]
    assert got == [("insert", 1, 10), ("insert", 2, 20), ("update", 1, 11), ("update", 7, 12)]
    assert conn.execute("SELECT id FROM pghistory_context").fetchall() == [(changed.id,)]


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (ph.Q(new__dollars="lots"), 'invalid input syntax for type numeric: "lots"'),
        (ph.Q(new__dollars=ph.F("new__note")), "operator does not exist: numeric = text"),
    ],
)
def test_a_condition_that_cannot_run_on_the_table_is_refused_at_install(conn, cash, level, condition, reason):
    # At statement level Postgres parses the trigger's query at the first write: such a
    # condition used to install fine and then make every write to the table fail.
    tracking = ph.Tracking(cash, (ph.UpdateEvent("rich", condition=condition),), level=level)
    with pytest.raises(ph.InvalidConditionError) as caught:
        ph.install(conn, [tracking])
    assert str(caught.value) == (
        f"tracker 'rich' on public.cash: its condition cannot run on this table ({reason}); nothing was installed"
    )
    assert conn.execute("SELECT to_regclass('public.cash_event')").fetchone() == (None,)
    conn.execute("INSERT INTO cash (dollars) VALUES (1)")
    conn.execute("UPDATE cash SET dollars = 2")
    assert conn.execute("SELECT dollars FROM cash").fetchone() == (Decimal(2),)
