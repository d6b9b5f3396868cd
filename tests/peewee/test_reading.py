"""Peewee adapter: reading history, as-of and reverts through pghistory_peewee.

Layer: tests (database tier). Both drivers (see conftest); the databases are the adapter's
history-aware ones, so contexts reach the triggers and a revert's own events are checked
to carry the revert's context.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import peewee
import pytest

import pghistory_peewee as pgh
from pghistory_core.transport import context_statement
from tests.peewee.conftest import make_database
from tests.peewee.models import ALL, Base, Group, TrackedModel, proxy

FULL = (pgh.InsertEvent(), pgh.UpdateEvent(), pgh.DeleteEvent())


@pgh.track(*FULL)
class Author(Base):
    name = peewee.TextField()

    class Meta:
        table_name = "reading_author"


@pgh.track(*FULL)
class Book(Base):
    author = peewee.ForeignKeyField(Author, backref="books")
    title = peewee.TextField()
    price = peewee.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        table_name = "reading_book"


# Only one field mirrored: events cannot tell a whole row.
@pgh.track(*FULL, fields=["name"])
class Partial(Base):
    name = peewee.TextField()
    note = peewee.TextField(default="")

    class Meta:
        table_name = "reading_partial"


MODELS = [Author, Book, Partial]


@pytest.fixture
def rdb(pdb: peewee.Database) -> Iterator[peewee.Database]:
    pgh.create_tables(pdb, MODELS)
    yield pdb


def labels(events: list[pgh.Event]) -> list[tuple[str, str]]:
    return [(e.pgh_obj_model.split(".")[1], e.pgh_label) for e in events]


# ------------------------------------------------------------------------------ reading


def test_object_history_with_diffs(rdb):
    author = Author.create(name="Ann")
    book = Book.create(author=author, title="One", price=Decimal("10.00"))
    book.price = Decimal("12.50")
    book.save()
    Book.update(title="Uno").where(Book.id == book.id).execute()
    got = pgh.history(book)
    assert [e.pgh_label for e in got] == ["insert", "update", "update"]
    # Keys are column names (the foreign key "author" is the column "author_id").
    assert got[0].pgh_data == {"id": book.id, "author_id": author.id, "title": "One", "price": 10}
    assert got[0].pgh_diff is None  # first event
    assert got[1].pgh_diff == {"price": [10, 12.5]}
    assert got[2].pgh_diff == {"title": ["One", "Uno"]}
    assert got[0].pgh_model == "public.reading_book_event" and got[0].pgh_obj_id == book.id
    assert [e.pgh_label for e in pgh.history(book, newest_first=True, limit=1)] == ["update"]
    with pytest.raises(pgh.HistoryError, match="no primary key yet"):
        pgh.history(Book(title="unsaved"))
    with pytest.raises(pgh.ConfigurationError, match="Group is not tracked"):
        pgh.history(Group.create(name="g"))


def test_events_across_tables_and_filters(rdb):
    with pgh.context(job="import") as ctx:
        ann = Author.create(name="Ann")
        one = Book.create(author=ann, title="One", price=1)
    bob = Author.create(name="Bob")
    two = Book.create(author=bob, title="Two", price=2)
    one.price = 3
    one.save()
    two.delete_instance()

    everything = pgh.events(Author, Book)
    assert labels(everything) == [
        ("reading_author", "insert"),
        ("reading_book", "insert"),
        ("reading_author", "insert"),
        ("reading_book", "insert"),
        ("reading_book", "update"),
        ("reading_book", "delete"),
    ]
    assert everything[4].pgh_diff == {"price": [1, 3]}
    # The same through the database (every tracked model bound to it) and event models.
    assert labels(pgh.events(rdb, label="delete")) == [("reading_book", "delete")]
    assert len(pgh.events(Author.pgh_event_model, Book.pgh_event_model)) == 6

    in_context = pgh.events(Author, Book, context_id=ctx.id)
    assert labels(in_context) == [("reading_author", "insert"), ("reading_book", "insert")]
    assert in_context[0].pgh_context == {"job": "import"} and in_context[0].pgh_context_id == ctx.id

    # obj= (an instance, or (Model, pk) for a deleted row); with no targets, its model's tables.
    assert [e.pgh_label for e in pgh.events(obj=one)] == ["insert", "update"]
    assert [e.pgh_label for e in pgh.events(obj=(Book, two.id))] == ["insert", "delete"]
    # references: a field name, a model instance as the value (translated to author_id = <pk>).
    by_bob = pgh.events(Book, references=pgh.Reference("author", bob))
    assert [(e.pgh_obj_id, e.pgh_label) for e in by_bob] == [(two.id, "insert"), (two.id, "delete")]
    by_ann = pgh.events(Author, Book, references=pgh.Reference("author", ann.id, table=Book))
    assert labels(by_ann) == [("reading_book", "insert"), ("reading_book", "update")]
    # Labels, time window, keyset pages.
    assert labels(pgh.events(Book, label=["update", "delete"])) == [("reading_book", "update"), ("reading_book", "delete")]
    start, end = everything[2].pgh_created_at, everything[5].pgh_created_at
    assert labels(pgh.events(Author, Book, since=start, until=end)) == labels(everything[2:5])
    first = pgh.events(Author, Book, limit=4)
    rest = pgh.events(Author, Book, limit=4, after=first[-1])
    assert [e.pgh_id for e in first + rest] == [e.pgh_id for e in everything]
    with pytest.raises(pgh.ConfigurationError, match="not among the targets"):
        pgh.events(Author, obj=one)


# ------------------------------------------------------------------------------- as of


def test_as_of_after_updates_and_deletes(rdb):
    ann = Author.create(name="Ann")
    book = Book.create(author=ann, title="One", price=Decimal("10.00"))
    book.price = Decimal("12.50")
    book.save()
    book.delete_instance()
    inserted, updated, deleted = pgh.history(book)

    then = pgh.as_of(Book, book.id, inserted.pgh_created_at)
    assert isinstance(then, Book) and then.id == book.id
    assert (then.title, then.price, then.author_id) == ("One", Decimal("10.00"), ann.id)  # native values
    assert then.author == ann  # foreign key, as from a query
    assert not then.is_dirty() and then.pgh_version.pgh_id == inserted.pgh_id
    assert then.pgh_version.pgh_label == "insert" and then.pgh_version.values["author_id"] == ann.id
    assert pgh.as_of(Book, book.id, updated.pgh_created_at).price == Decimal("12.50")
    assert pgh.as_of(Book, book.id, deleted.pgh_created_at) is None  # deleted by then
    assert pgh.as_of(Book.pgh_event_model, book.id, inserted.pgh_created_at).title == "One"  # the event model too


def test_table_as_of(rdb):
    ann, bob = Author.create(name="Ann"), Author.create(name="Bob")
    ann.name = "Anna"
    ann.save()
    bob.delete_instance()
    times = [e.pgh_created_at for e in pgh.events(Author)]  # one transaction each

    def state(at: object) -> list[tuple[int, str]]:
        rows = pgh.table_as_of(Author, at)
        assert all(isinstance(a, Author) and not a.is_dirty() for a in rows)
        return [(a.id, a.name) for a in rows]

    assert state(times[0]) == [(ann.id, "Ann")]
    assert state(times[1]) == [(ann.id, "Ann"), (bob.id, "Bob")]
    assert state(times[2]) == [(ann.id, "Anna"), (bob.id, "Bob")]
    assert state(times[3]) == [(ann.id, "Anna")]
    assert state(times[0].replace(year=2000)) == []


def test_tracking_that_cannot_answer_says_why(rdb):
    partial = Partial.create(name="a", note="x")
    partial.name = "b"
    partial.save()
    event = partial.events.order_by(Partial.pgh_event_model.pgh_id).first()
    with pytest.raises(pgh.HistoryError, match="columns not tracked: id, note"):
        pgh.as_of(Partial, partial.id, event.pgh_created_at)
    with pytest.raises(pgh.HistoryError, match="columns not tracked: id, note"):
        pgh.table_as_of(Partial, event.pgh_created_at)
    with pytest.raises(pgh.HistoryError, match="does not hold whole rows.*note"):
        pgh.revert_to_event(event)
    with pgh.context() as ctx:
        Partial.update(name="c").execute()
    with pytest.raises(pgh.HistoryError, match="no tracking mirrors every column"):
        pgh.revert_context(Partial, ctx.id)
    assert Partial.get_by_id(partial.id).name == "c"
    # History itself is readable.
    assert [e.pgh_diff for e in pgh.history(partial)] == [None, {"name": ["a", "b"]}, {"name": ["b", "c"]}]


# ------------------------------------------------------------------------------ reverts


def test_revert_to_event(rdb):
    ann = Author.create(name="Ann")
    book = Book.create(author=ann, title="One", price=Decimal("10.00"))
    book.price = Decimal("99.99")
    book.save()
    inserted = book.events.order_by(Book.pgh_event_model.pgh_id).first()
    pgh.revert_to_event(inserted)  # an event model instance
    assert Book.get_by_id(book.id).price == Decimal("10.00")

    book.delete_instance()
    updated = [e for e in pgh.history(book) if e.pgh_label == "update"][0]
    with pgh.context(reason="undelete") as ctx:
        pgh.revert_to_event(updated)  # a pghistory_core.Event: re-created with its key
    again = Book.get_by_id(book.id)
    assert (again.title, again.price, again.author_id) == ("One", Decimal("99.99"), ann.id)
    last = pgh.history(book)[-1]
    assert (last.pgh_label, last.pgh_context_id, last.pgh_context) == ("insert", ctx.id, {"reason": "undelete"})
    pgh.revert_to_event(inserted, using=rdb)
    pgh.revert_to_event(pgh.history(book)[0], using=[Book])
    assert Book.get_by_id(book.id).price == Decimal("10.00")
    with pytest.raises(pgh.ConfigurationError, match="no tracked model writes it among the models given"):
        pgh.revert_to_event(pgh.history(book)[0], using=Author)


def test_revert_context_touching_two_models(rdb):
    ann = Author.create(name="Ann")
    kept = Book.create(author=ann, title="Kept", price=Decimal("5.00"))
    doomed = Book.create(author=ann, title="Doomed", price=Decimal("7.00"))
    with pgh.context(user="mallory") as bad:
        bob = Author.create(name="Bob")
        Book.create(author=bob, title="Spam", price=Decimal("1.00"))
        Book.update(price=Book.price * 10).where(Book.id == kept.id).execute()
        doomed.delete_instance()
        ann.name = "Ann (edited)"
        ann.save()

    dry = pgh.revert_context(rdb, bad.id, dry_run=True)
    assert not dry.applied
    assert sorted((op.table, op.kind) for op in dry.operations) == [
        ("public.reading_author", "delete"),
        ("public.reading_author", "update"),
        ("public.reading_book", "delete"),
        ("public.reading_book", "insert"),
        ("public.reading_book", "update"),
    ]
    assert Author.select().count() == 2  # nothing written

    plan = pgh.revert_context([Author, Book], bad.id)
    assert plan.applied and plan.revert_context_id not in (None, bad.id) and not plan.conflicts
    assert [(a.id, a.name) for a in Author.select().order_by(Author.id)] == [(ann.id, "Ann")]
    assert sorted((b.id, b.title, b.price) for b in Book.select()) == [
        (kept.id, "Kept", Decimal("5.00")),
        (doomed.id, "Doomed", Decimal("7.00")),  # re-created with its key
    ]
    # The revert's own events carry the new context, which names the reverted one.
    own = pgh.events(Author, Book, context_id=plan.revert_context_id)
    assert sorted(labels(own)) == sorted(
        [
            ("reading_author", "delete"),
            ("reading_author", "update"),
            ("reading_book", "delete"),
            ("reading_book", "insert"),
            ("reading_book", "update"),
        ]
    )
    assert {e.pgh_context["pghistory_revert_of"] for e in own} == {str(bad.id)}
    # Reverting the revert redoes the context.
    pgh.revert_context(rdb, plan.revert_context_id)
    assert sorted(a.name for a in Author.select()) == ["Ann (edited)", "Bob"]


def test_revert_context_conflicts(rdb):
    ann = Author.create(name="a")
    with pgh.context() as ctx:
        ann.name = "b"
        ann.save()
    Author.update(name="c").execute()  # a later change, outside the context
    with pytest.raises(pgh.RevertConflictError, match=r"changed again after the context.*force=True"):
        pgh.revert_context(Author, ctx.id)
    assert Author.get_by_id(ann.id).name == "c"  # nothing written
    dry = pgh.revert_context(Author, ctx.id, dry_run=True)
    assert [(c.pk, "changed again" in c.reason) for c in dry.conflicts] == [(ann.id, True)]
    plan = pgh.revert_context(Author, ctx.id, force=True)
    assert plan.applied and len(plan.conflicts) == 1
    assert Author.get_by_id(ann.id).name == "a"


def test_revert_inside_callers_transaction_leaves_no_context_behind(rdb):
    with pgh.context() as ctx:
        Author.create(name="a")
    with rdb.atomic():
        plan = pgh.revert_context(Author, ctx.id)
        after = Author.create(name="after")  # no context active: must not carry the revert's
        with pgh.context(step="later") as later:
            tagged = Author.create(name="tagged")
    assert pgh.history(after)[0].pgh_context_id is None
    assert pgh.history(tagged)[0].pgh_context_id == later.id
    assert [e.pgh_label for e in pgh.events(Author, context_id=plan.revert_context_id)] == ["delete"]

    # A failing revert inside the caller's transaction rolls back to its savepoint only.
    with rdb.atomic():
        kept = Author.create(name="kept")
        with pytest.raises(pgh.HistoryError, match="no events under context"):
            pgh.revert_context(Author, uuid.uuid4())
        Author.update(name="kept2").where(Author.id == kept.id).execute()
    assert Author.get_by_id(kept.id).name == "kept2"
    assert pgh.history(kept)[-1].pgh_context_id is None


def test_event_from_an_ambiguous_table_needs_using(rdb):
    # Another model bound to another database writes an event table of the same name.
    other = peewee.PostgresqlDatabase(None)

    @pgh.track(table_name="trackedmodel_event")
    class Elsewhere(peewee.Model):
        int_field = peewee.IntegerField()
        text_field = peewee.TextField()

        class Meta:
            database = other
            table_name = "trackedmodel"

    obj = TrackedModel.create(int_field=1, text_field="a")
    obj.int_field = 2
    obj.save()
    first = pgh.history(obj)[0]
    with pytest.raises(pgh.ConfigurationError, match=r"\d+ models or databases do.*pass using="):
        pgh.revert_to_event(first)
    pgh.revert_to_event(first, using=TrackedModel)
    assert TrackedModel.get_by_id(obj.id).int_field == 1
    del Elsewhere


@pytest.mark.parametrize(
    "cls",
    [peewee.PostgresqlDatabase, pgh.HistoryPooledPostgresqlDatabase],
    ids=["plain", "pooled-history"],
)
def test_revert_context_on_other_database_classes(dsn, cls):
    # The core sends the revert's context itself: a plain Database records it too.
    db = make_database(cls, dsn)
    proxy.initialize(db)
    try:
        pgh.create_tables(db, [*ALL, *MODELS])  # revert_context(db) reads every model bound to it
        ann = Author.create(name="Ann")
        with pgh.context(user="x") as ctx, db.atomic():
            db.execute_sql(context_statement(ctx))  # a plain Database sends nothing: by hand
            Book.create(author=ann, title="t", price=1)
            Author.update(name="Annie").execute()
        plan = pgh.revert_context(db, ctx.id)
        assert [(a.name, b) for a in Author.select() for b in [a.books.count()]] == [("Ann", 0)]
        own = pgh.events(Author, Book, context_id=plan.revert_context_id)
        assert sorted(labels(own)) == [("reading_author", "update"), ("reading_book", "delete")]
        assert all(e.pgh_context == {"pghistory_revert_of": str(ctx.id)} for e in own)
    finally:
        db.close()
        proxy.initialize(None)
