"""Peewee adapter: context and ignore reach the triggers through the Database object.

Layer: tests (database tier). Outside ``db.atomic()`` (autocommit: the context comment
in front of the write, or the context statement sharing its implicit transaction while
a trigger that cannot read the comment is present) and inside it (once per transaction, resent when
the context changes or a savepoint rollback undid it); a pooled database shared by threads.
"""

from __future__ import annotations

import threading

import peewee
import pytest

import pghistory_peewee as pgh
from pghistory_core import sql
from tests.db.context_support import STALE_TRIGGER_FUNCTION
from pghistory_peewee import database
from tests.peewee import models
from tests.peewee.conftest import make_database
from tests.peewee.models import Account, TrackedModel


def contexts(event_model: type[peewee.Model] = TrackedModel.pgh_event_model) -> list[tuple[object, ...]]:
    """(pgh_label, int_field, context id, context metadata) of every event, in order."""
    query = (
        event_model.select(
            event_model.pgh_label, event_model.int_field, event_model.pgh_context_id, event_model.pgh_context.metadata
        )
        .join(event_model.pgh_context.rel_model, peewee.JOIN.LEFT_OUTER)
        .order_by(event_model.pgh_id)
    )
    return [(label, value, ctx_id, meta) for label, value, ctx_id, meta in query.tuples()]


@pytest.fixture
def sent(monkeypatch):
    """Counts the context statements the adapter sends on their own (BEFORE a statement)."""
    calls: list[str] = []
    original = database.core_db.execute

    def execute(conn, query):
        calls.append(query)
        return original(conn, query)

    monkeypatch.setattr(database.core_db, "execute", execute)
    return calls


@pytest.mark.parametrize("mode", ["comment", "statement"])
def test_context_in_autocommit_through_every_write_path(pdb, mode):
    if mode == "statement":
        # A trigger that cannot read the comment: the context statement is sent instead.
        pdb.execute_sql(sql.render(STALE_TRIGGER_FUNCTION))
    with pgh.context(url="/a") as active:
        sent_text = pdb.execute_sql("SELECT current_query()").fetchone()[0]
        obj = TrackedModel.create(int_field=1, text_field="a")
        obj.int_field = 2
        obj.save()
        TrackedModel.insert_many([{"int_field": 3, "text_field": "b"}]).execute()
        TrackedModel.update(text_field="c").where(TrackedModel.int_field == 3).execute()
        pdb.execute_sql("UPDATE trackedmodel SET int_field = %s WHERE int_field = %s", (4, 3))
    TrackedModel.update(text_field="d").execute()  # after the block: no context
    got = contexts()
    assert [row[:2] for row in got] == [
        ("insert", 1), ("update", 2), ("insert", 3), ("update", 3), ("update", 4), ("update", 2), ("update", 4)
    ]
    assert {row[2] for row in got[:5]} == {active.id}
    assert all(row[3] == {"url": "/a"} for row in got[:5])
    assert [row[2:] for row in got[5:]] == [(None, None), (None, None)]
    # Nothing outlived the statements on the session.
    assert pdb.execute_sql("SELECT current_setting('pghistory.context_id', true)").fetchone()[0] in (None, "")
    assert sent_text.startswith(f"/*pghistory:{active.id}:") is (mode == "comment")


def test_context_inside_atomic_sent_once_and_resent_on_change(pdb, sent):
    with pdb.atomic():
        with pgh.context(user=1):
            TrackedModel.create(int_field=1, text_field="a")
            TrackedModel.create(int_field=2, text_field="a")
            assert len(sent) == 1  # once per transaction
            pgh.context(request="r1")  # adds to the active context: resent
            TrackedModel.create(int_field=3, text_field="a")
            assert len(sent) == 2
        TrackedModel.create(int_field=4, text_field="a")  # block ended: cleared
        assert len(sent) == 3
    got = contexts()
    assert got[0][2] == got[1][2] == got[2][2] is not None
    assert got[2][3] == {"user": 1, "request": "r1"}  # the shared row keeps every key
    assert got[3][2:] == (None, None)


def test_no_context_sends_nothing(pdb, sent):
    TrackedModel.create(int_field=1, text_field="a")
    with pdb.atomic():
        TrackedModel.update(int_field=2).execute()
    assert sent == []
    assert [row[2] for row in contexts()] == [None, None]


def test_context_survives_savepoint_rollback(pdb):
    with pgh.context(user="x"), pdb.atomic():
        with pytest.raises(peewee.IntegrityError):
            with pdb.atomic():  # savepoint: the context statement is sent inside it
                TrackedModel.create(int_field=1, text_field="a")
                pdb.execute_sql("INSERT INTO trackedmodel (id, int_field, text_field) SELECT id, 0, '' FROM trackedmodel")
        TrackedModel.create(int_field=2, text_field="b")
    assert [(row[1], row[3]) for row in contexts()] == [(2, {"user": "x"})]


def test_each_transaction_gets_its_own_context(pdb):
    for user in ("a", "b"):
        with pgh.context(user=user), pdb.atomic():
            TrackedModel.create(int_field=1, text_field=user)
    got = contexts()
    assert [row[3] for row in got] == [{"user": "a"}, {"user": "b"}]
    assert got[0][2] != got[1][2]


def test_manual_transaction_control(pdb):
    with pgh.context(user="m"), pdb.manual_commit():
        pdb.begin()
        TrackedModel.create(int_field=1, text_field="a")
        pdb.commit()
        pdb.begin()
        TrackedModel.create(int_field=2, text_field="a")
        pdb.rollback()
        pdb.begin()
        TrackedModel.create(int_field=3, text_field="a")
        pdb.commit()
    assert [(row[1], row[3]) for row in contexts()] == [(1, {"user": "m"}), (3, {"user": "m"})]


def test_ignore(pdb):
    with pgh.ignore():
        TrackedModel.create(int_field=1, text_field="a")
        with pdb.atomic():
            TrackedModel.create(int_field=2, text_field="a")
    with pdb.atomic():
        with pgh.ignore():
            TrackedModel.create(int_field=3, text_field="a")
        TrackedModel.create(int_field=4, text_field="a")  # ignore ended inside the transaction
    assert [row[1] for row in contexts()] == [4]


def test_denormalized_context(pdb):
    with pgh.context(source="import"):
        Account.create(username="u")
    event = Account.pgh_event_model.get()
    assert event.pgh_context == {"source": "import"} and event.pgh_context_id is not None


def test_statements_outside_transactions_pass_through(pdb):
    with pgh.context(user="v"):
        pdb.execute_sql("VACUUM trackedmodel")
        pdb.execute_sql("CREATE INDEX CONCURRENTLY trackedmodel_text ON trackedmodel (text_field)")
        assert pdb.execute_sql("SELECT 1").fetchone() == (1,)


def test_pooled_database_threads_keep_their_context(dsn):
    pooled = make_database(pgh.HistoryPooledPostgresqlDatabase, dsn, max_connections=4, timeout=30)
    models.proxy.initialize(pooled)
    try:
        pgh.create_tables(pooled, [TrackedModel])
        errors: list[BaseException] = []
        barrier = threading.Barrier(10)

        def work(n: int) -> None:
            try:
                barrier.wait()
                for round_ in range(5):
                    with pooled.connection_context(), pgh.context(thread=n):
                        obj = TrackedModel.create(int_field=n, text_field=f"t{n}")  # autocommit
                        with pooled.atomic():
                            obj.text_field = f"t{n}-{round_}"
                            obj.save()
                            TrackedModel.update(text_field=f"u{n}").where(TrackedModel.id == obj.id).execute()
                    TrackedModel.create(int_field=n, text_field="none")  # no context, same thread
                    pooled.close()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        got = contexts()
        assert len(got) == 10 * 5 * 4
        for label, value, _, metadata in got:
            assert metadata in ({"thread": value}, None)
        assert sum(1 for row in got if row[3] is None) == 50
        # One context per thread and round (one with-block each).
        assert len({row[2] for row in got if row[2] is not None}) == 50
    finally:
        pooled.close_all()
        models.proxy.initialize(None)
