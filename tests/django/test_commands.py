"""Django adapter: ``manage.py pghistory_backfill`` and ``manage.py pghistory_retention``.

Layer: tests (Django tier). Through ``call_command`` on the test project's models: what a
user sees on stdout and in the event models (events written, skipped, deleted), and a
clear ``CommandError`` for every bad argument.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import pghistory_core as ph
from pghistory_core import sql
import pghistory_django as pghistory
from tests.django.cleanup import truncate_all
from tests.django.testapp import models as m


@pytest.fixture(autouse=True)
def _db(django_db):
    yield
    truncate_all()


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_backfill_records_rows_that_existed_before_tracking():
    with ph.ignore():  # rows written while tracking was off: no history yet
        docs = [m.Document.objects.create(title=f"doc {i}") for i in range(7)]
    tracked = m.Document.objects.create(title="tracked")  # this one has its insert event
    with pghistory.context(job="backfill"):
        out = _run("pghistory_backfill", "testapp.Document", "--label", "manual", "--batch-size", "3")
    assert out.strip() == "public.testapp_documentevent: 8 rows read, 7 events written, 1 skipped"
    events = m.DocumentEvent.objects.filter(pgh_label="manual")
    assert sorted(e.pgh_obj_id for e in events) == sorted(d.pk for d in docs)
    assert {e.pgh_context.metadata["job"] for e in events} == {"backfill"}
    assert m.DocumentEvent.objects.filter(pgh_obj_id=tracked.pk).count() == 1
    again = _run("pghistory_backfill", "testapp.Document", "--label", "manual")
    assert again.strip() == "public.testapp_documentevent: 8 rows read, 0 events written, 8 skipped"


def test_backfill_errors_name_the_problem():
    with pytest.raises(CommandError, match="no model 'testapp.Nope'"):
        _run("pghistory_backfill", "testapp.Nope", "--label", "manual")
    with pytest.raises(CommandError, match="auth.Group is not tracked by pghistory"):
        _run("pghistory_backfill", "auth.Group", "--label", "manual")
    with pytest.raises(CommandError, match="has a tracker labelled 'snapshot'; its labels: insert, manual, update"):
        _run("pghistory_backfill", "testapp.Document", "--label", "snapshot")
    with pytest.raises(CommandError, match="batch_size must be a positive integer"):
        _run("pghistory_backfill", "testapp.Document", "--label", "manual", "--batch-size", "0")


def test_retention_deletes_old_events_and_refuses_append_only_tables():
    for i in range(4):
        m.Document.objects.create(title=f"doc {i}")
    old = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    first_two = list(m.DocumentEvent.objects.order_by("pgh_id").values_list("pgh_id", flat=True)[:2])
    m.DocumentEvent.objects.filter(pgh_id__in=first_two).update(pgh_created_at=old)
    cut = "2021-01-01T00:00:00+00:00"
    dry = _run("pghistory_retention", "testapp.Document", "--before", cut, "--dry-run")
    assert dry.strip() == "public.testapp_documentevent: 2 events before 2021-01-01 00:00:00+00:00"
    assert m.DocumentEvent.objects.count() == 4
    done = _run("pghistory_retention", "testapp.Document", "--before", cut, "--yes")
    assert done.strip() == "public.testapp_documentevent: 2 events deleted"
    assert set(m.DocumentEvent.objects.values_list("pgh_id", flat=True)).isdisjoint(first_two)
    assert m.DocumentEvent.objects.count() == 2

    with pytest.raises(CommandError, match="append-only"):
        _run("pghistory_retention", "testapp.Ticket", "--before", cut, "--yes")
    with pytest.raises(CommandError, match="no time zone offset"):
        _run("pghistory_retention", "testapp.Document", "--before", "2021-01-01", "--yes")
    with pytest.raises(CommandError, match="is not a timestamp"):
        _run("pghistory_retention", "--before", "yesterday", "--yes")


def test_retention_asks_before_deleting(monkeypatch):
    m.Document.objects.create(title="kept")
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="nothing deleted"):
        _run("pghistory_retention", "testapp.Document", "--before", "2999-01-01T00:00:00+00:00")
    assert m.DocumentEvent.objects.count() == 1
    monkeypatch.undo()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to answer (a job): was an EOFError traceback
    with pytest.raises(CommandError, match=r"^nothing deleted: no answer .*stdin is closed.*pass --yes"):
        _run("pghistory_retention", "testapp.Document", "--before", "2999-01-01T00:00:00+00:00")
    assert m.DocumentEvent.objects.count() == 1


def test_retention_with_contexts_deletes_the_context_rows_left_without_events():
    from pghistory_django.models import Context

    old = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    with pghistory.context(user="someone who left"):
        gone = m.Document.objects.create(title="old")
    with pghistory.context(user="still here"):
        m.Document.objects.create(title="new")
    gone_context = m.DocumentEvent.objects.get(pgh_obj_id=gone.pk).pgh_context_id
    m.DocumentEvent.objects.filter(pgh_obj_id=gone.pk).update(pgh_created_at=old)
    Context.objects.update(updated_at=old)  # both last written long ago; one keeps an event
    cut = "2021-01-01T00:00:00+00:00"
    dry = _run("pghistory_retention", "testapp.Document", "--before", cut, "--contexts", "--dry-run")
    assert dry.splitlines() == [
        "public.testapp_documentevent: 1 events before 2021-01-01 00:00:00+00:00",
        "public.pghistory_context: 1 context rows before 2021-01-01 00:00:00+00:00 that no event would reference any more",
    ]
    done = _run("pghistory_retention", "testapp.Document", "--before", cut, "--contexts", "--yes")
    assert done.splitlines() == ["public.testapp_documentevent: 1 events deleted",
                                 "public.pghistory_context: 1 context rows deleted"]
    assert [c.metadata["user"] for c in Context.objects.all()] == ["still here"]
    assert not Context.objects.filter(pk=gone_context).exists()


def test_partitions_command_converts_then_retention_drops_whole_months(monkeypatch):
    from django.db import connection

    def kind() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind::text FROM pg_class WHERE oid = 'testapp_diaryevent'::regclass")
            return cursor.fetchone()[0]

    assert kind() == "r"  # migrate created it unpartitioned; converting asks first
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="nothing converted"):
        _run("pghistory_partitions", "testapp.Diary", "--convert")
    assert kind() == "r"
    monkeypatch.undo()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to answer (a job)
    with pytest.raises(CommandError, match=r"^nothing converted: no answer .*stdin is closed.*pass --yes"):
        _run("pghistory_partitions", "testapp.Diary", "--convert")
    assert kind() == "r"
    out = _run("pghistory_partitions", "testapp.Diary", "--convert", "--yes")
    # The table was empty: the old table covers everything before this month, which gets its own.
    month = dt.datetime.now(dt.timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    old, current = f"testapp_diaryevent_before{month:%Y%m%d}", f"testapp_diaryevent_p{month:%Y%m%d}"
    assert f"public.testapp_diaryevent: partitioned, its events are now in public.{old}" in out
    assert kind() == "p"
    listing = _run("pghistory_partitions", "testapp.Diary", "--list")
    assert "testapp_diaryevent_default DEFAULT" in listing and f"{old} MINVALUE to {month.isoformat()}" in listing
    with pghistory.context(user="ann"):
        diary = m.Diary.objects.create(entry="dear diary")
    diary.entry = "again"
    diary.save()
    assert [(e.pgh_label, e.entry) for e in diary.events.order_by("pgh_id")] == [("insert", "dear diary"), ("update", "again")]
    assert m.DiaryEvent.objects.get(pgh_label="insert").pgh_context.metadata == {"user": "ann"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM testapp_diaryevent")
        assert cursor.fetchall() == [(current,)]
    # Retention up to next month drops the old table and this month's partition, whole.
    following = (month + dt.timedelta(days=32)).replace(day=1)
    done = _run("pghistory_retention", "testapp.Diary", "--before", following.isoformat(), "--detach", "--yes")
    assert done.strip() == "public.testapp_diaryevent: 2 events deleted"
    remaining = _run("pghistory_partitions", "testapp.Diary", "--list")
    assert old not in remaining and current not in remaining
    assert m.DiaryEvent.objects.count() == 0
    with connection.cursor() as cursor:  # detached: kept as an ordinary table, with its events
        cursor.execute(sql.render(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(current))))
        assert cursor.fetchone() == (2,)
        cursor.execute(sql.render(sql.SQL("DROP TABLE {}, {}").format(sql.Identifier(current), sql.Identifier(old))))
    with pytest.raises(CommandError, match="none of the chosen models has a partitioned event model"):
        _run("pghistory_partitions", "testapp.Document")
