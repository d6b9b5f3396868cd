"""Peewee adapter: a partitioned event table (``@track(..., partition="month")``).

Layer: tests (database tier), both drivers. ``create_tables`` creates the event table
partitioned by month with its DEFAULT partition and the partitions up to two months ahead;
saves land in this month's partition and read back through ``events``; a manual event works;
``check`` finds no drift; retention drops whole partitions.
"""

from __future__ import annotations

import datetime as dt

import pghistory_core as ph
import pghistory_peewee as pgh
from tests.peewee import models
from tests.peewee.models import Journal


def test_partitioned_event_table(pdb):
    # The fixture created every example model's tables, Journal's included.
    tracking = Journal.pgh_event_model.pgh_tracking
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y%m01")
    names = [p.name for p in ph.list_partitions(pdb.connection(), tracking)]
    assert names[0] == "journal_event_default" and f"journal_event_p{month}" in names
    with pgh.context(user="ann"):
        journal = Journal.create(entry="a")
    journal.entry = "b"
    journal.save()
    pgh.create_event(journal, "snapshot")
    assert [(e.pgh_label, e.entry) for e in journal.events.order_by(Journal.pgh_event_model.pgh_id)] == [
        ("insert", "a"), ("update", "b"), ("snapshot", "b")
    ]
    held = pdb.execute_sql("SELECT DISTINCT tableoid::regclass::text FROM journal_event").fetchall()
    assert held == [(f"journal_event_p{month}",)]
    pgh.migrate.check(pdb, models.ALL)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400)
    assert ph.delete_events(pdb.connection(), tracking, later) == {"public.journal_event": 3}
    assert f"journal_event_p{month}" not in [p.name for p in ph.list_partitions(pdb.connection(), tracking)]
