"""SQLAlchemy adapter, database tier: reading and reverting history from a session.

Layer: tests (real Postgres). ``history``/``obj_events``, ``events_across``, ``as_of``,
``table_as_of``, ``revert_to_event`` (mapped event and core Event), ``revert_context``
and ``create_event``, each through a session and inside its transaction.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

import pghistory_core as ph
import pghistory_sqlalchemy as pgh


def _models():
    class Base(orm.DeclarativeBase):
        pass

    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent(), pgh.ManualEvent("audit"))
    class Account(Base):
        __tablename__ = "account"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        # Attribute and column names differ: the core reports column names.
        balance: orm.Mapped[Decimal] = orm.mapped_column("dollars", sa.Numeric(10, 2))
        owner: orm.Mapped[str] = orm.mapped_column(sa.String(40))

    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent())
    class Note(Base):
        __tablename__ = "note"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        account_id: orm.Mapped[int]
        text: orm.Mapped[str]

    return Base, Account, Note


@pytest.fixture
def models(engine):
    Base, Account, Note = _models()
    Base.metadata.create_all(engine)
    return Base, Account, Note


def _now(session: orm.Session) -> datetime.datetime:
    return session.execute(sa.text("SELECT clock_timestamp()")).scalar_one()


def test_history_of_an_object_with_diffs(engine, models):
    _, Account, _ = models
    with orm.Session(engine) as session, session.begin():
        account = Account(id=1, balance=Decimal("10"), owner="ann")
        session.add(account)
        assert [e.pgh_label for e in pgh.history(session, account)] == ["insert"]  # flushed first
    with orm.Session(engine) as session, session.begin():
        account = session.get_one(Account, 1)
        account.balance = Decimal("20")
        session.flush()
        session.execute(sa.update(Account).where(Account.id == 1).values(owner="bob"))
        events = pgh.history(session, account)
        assert [e.pgh_label for e in events] == ["insert", "update", "update"]
        assert events[0].pgh_diff is None
        assert events[1].pgh_diff == {"dollars": [10, 20]}
        assert events[2].pgh_diff == {"owner": ["ann", "bob"]}
        assert events[2].pgh_data == {"id": 1, "dollars": 20, "owner": "bob"}
        assert events[0].pgh_model == "public.account_event" and events[0].pgh_obj_id == 1
        newest = pgh.obj_events(session, account, newest_first=True, limit=1)
        assert [e.pgh_id for e in newest] == [events[2].pgh_id]
        # The mapped relationship sees the same rows.
        assert [e.pgh_id for e in account.events] == [e.pgh_id for e in events]


def test_events_across_tables_with_filters_and_context(engine, models):
    Base, Account, Note = models
    with pgh.context(user="ann") as ctx, orm.Session(engine) as session, session.begin():
        session.add_all([Account(id=1, balance=Decimal("1"), owner="ann"), Note(id=1, account_id=1, text="hi")])
    with orm.Session(engine) as session, session.begin():
        session.add(Note(id=2, account_id=1, text="later"))
    with orm.Session(engine) as session:
        every = pgh.events_across(session, Base.metadata)
        assert [(e.pgh_model, e.pgh_label) for e in every] == [
            ("public.account_event", "insert"),
            ("public.note_event", "insert"),
            ("public.note_event", "insert"),
        ]
        in_context = pgh.events_across(session, Account, Note, context_id=ctx.id)
        assert {e.pgh_model for e in in_context} == {"public.account_event", "public.note_event"}
        assert all(e.pgh_context == {"user": "ann"} for e in in_context)
        referencing = pgh.events_across(session, Note, references=ph.Reference("account_id", 1))
        assert len(referencing) == 2
        one = pgh.events_across(session, Base.metadata, obj=session.get_one(Note, 2))
        assert [(e.pgh_model, e.pgh_obj_id) for e in one] == [("public.note_event", 2)]
        page = pgh.events_across(session, Note.pgh_event_model, limit=1)
        assert [e.pgh_obj_id for e in pgh.events_across(session, Note, after=page[-1])] == [2]
        with pytest.raises(ph.ConfigurationError, match="not tracked among the targets"):
            pgh.events_across(session, Account, obj=session.get_one(Note, 2))


def test_as_of_and_table_as_of(engine, models):
    _, Account, _ = models
    with orm.Session(engine) as session, session.begin():
        session.add_all([Account(id=1, balance=Decimal("1"), owner="ann"), Account(id=2, balance=Decimal("2"), owner="bo")])
    with orm.Session(engine) as session:
        before = _now(session)
        session.rollback()
    with orm.Session(engine) as session, session.begin():
        session.get_one(Account, 1).balance = Decimal("5")
        session.delete(session.get_one(Account, 2))
    with orm.Session(engine) as session:
        then = pgh.as_of(session, Account, 1, before)
        assert then is not None and then.values == {"id": 1, "dollars": Decimal("1.00"), "owner": "ann"}
        now = pgh.as_of(session, Account, 1, _now(session))
        assert now is not None and now.values["dollars"] == Decimal("5.00")
        assert pgh.as_of(session, Account, 2, _now(session)) is None  # deleted
        assert [r.values["id"] for r in pgh.table_as_of(session, Account, before)] == [1, 2]
        assert [r.values["id"] for r in pgh.table_as_of(session, Account.__table__, _now(session))] == [1]


def test_revert_to_event_from_a_mapped_event_and_a_core_event(engine, models):
    Base, Account, _ = models
    with orm.Session(engine) as session, session.begin():
        session.add(Account(id=1, balance=Decimal("1"), owner="ann"))
    with orm.Session(engine) as session, session.begin():
        session.get_one(Account, 1).balance = Decimal("9")
    with pgh.context(reason="undo") as ctx, orm.Session(engine) as session, session.begin():
        account = session.get_one(Account, 1)
        first = account.events[0]
        assert account.balance == Decimal("9")
        pgh.revert_to_event(session, first)
        assert account.balance == Decimal("1.00")  # expired and reloaded
    with orm.Session(engine) as session, session.begin():
        last = pgh.history(session, session.get_one(Account, 1))[-1]
        assert last.pgh_context_id == ctx.id and last.pgh_diff == {"dollars": [9, 1]}
        # Re-create a deleted row from a core Event.
        update = pgh.history(session, session.get_one(Account, 1))[1]
        session.delete(session.get_one(Account, 1))
        session.flush()
        pgh.revert_to_event(session, update, metadata=Base.metadata)
        assert session.get_one(Account, 1).balance == Decimal("9.00")
        with pytest.raises(ph.ConfigurationError, match="metadata="):
            pgh.revert_to_event(session, update)


def test_revert_context_in_the_session_transaction(engine, models):
    Base, Account, Note = models
    with orm.Session(engine) as session, session.begin():
        session.add(Account(id=1, balance=Decimal("1"), owner="ann"))
    with pgh.context(request="r1") as ctx, orm.Session(engine) as session, session.begin():
        session.get_one(Account, 1).balance = Decimal("50")
        session.add(Note(id=1, account_id=1, text="oops"))
    with orm.Session(engine) as session:
        plan = pgh.revert_context(session, ctx.id, Base.metadata, dry_run=True)
        assert not plan.applied and {op.kind for op in plan.operations} == {"update", "delete"}
        session.rollback()
    with orm.Session(engine) as session:
        account = session.get_one(Account, 1)
        plan = pgh.revert_context(session, str(ctx.id), Account, Note)
        assert plan.applied and plan.revert_context_id is not None
        assert account.balance == Decimal("1.00")
        session.rollback()  # the caller owns the transaction: nothing was committed
    with orm.Session(engine) as session, session.begin():
        assert session.get_one(Account, 1).balance == Decimal("50.00")
        pgh.revert_context(session, uuid.UUID(str(ctx.id)), Base.metadata)
    with orm.Session(engine) as session:
        assert session.get_one(Account, 1).balance == Decimal("1.00")
        assert session.get(Note, 1) is None


def test_create_event_and_history(engine, models):
    _, Account, _ = models
    with orm.Session(engine) as session, session.begin():
        account = Account(id=1, balance=Decimal("3"), owner="ann")
        session.add(account)
        event = pgh.create_event(session, account, label="audit")
        assert event.pgh_label == "audit"
        labels = [e.pgh_label for e in pgh.history(session, account)]
        assert labels == ["insert", "audit"]
