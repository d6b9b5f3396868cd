"""Peewee adapter: the core's backfill and retention on a Peewee database's connection.

Layer: tests (database tier), both drivers. What the docs show a Peewee user: rows written
before tracking get one event each (with the active context), a re-run skips them, and old
events are deleted by time.
"""

from __future__ import annotations

import datetime as dt

import pghistory_core as ph
import pghistory_peewee as pgh
from tests.peewee.models import Account


def test_backfill_then_retention(pdb):
    with pgh.ignore():  # written while tracking was off: no history yet
        Account.insert_many([{"username": f"u{i}"} for i in range(5)]).execute()
    tracking = Account.pgh_event_model.pgh_tracking
    with pgh.context(job="backfill"):
        result = ph.backfill(pdb.connection(), tracking, "user_create", batch_size=2)
    assert (result.rows, result.events) == (5, 5)
    events = list(Account.pgh_event_model.select().order_by(Account.pgh_event_model.pgh_id))
    assert [(e.pgh_label, e.username, e.pgh_context["job"]) for e in events] == [
        ("user_create", f"u{i}", "backfill") for i in range(5)
    ]
    assert ph.backfill(pdb.connection(), tracking, "user_create").events == 0

    Account.pgh_event_model.update(pgh_created_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)).where(
        Account.pgh_event_model.username.in_(["u0", "u1"])
    ).execute()
    cut = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
    assert ph.delete_events(pdb.connection(), tracking, cut) == {"public.account_event": 2}
    assert sorted(e.username for e in Account.pgh_event_model.select()) == ["u2", "u3", "u4"]

    # Account stores its context denormalized, so the shared table has no row for it; a row
    # with the same id (as FK-mode tables would write) goes only once no event references it.
    pdb.execute_sql(
        "INSERT INTO pghistory_context (id, updated_at) SELECT DISTINCT pgh_context_id, timestamptz '2020-01-01+00' FROM account_event"
    )
    assert ph.delete_unreferenced_contexts(pdb.connection(), cut) == 0
    later = dt.datetime(2999, 1, 1, tzinfo=dt.timezone.utc)
    assert ph.delete_events(pdb.connection(), tracking, later) == {"public.account_event": 3}
    assert ph.delete_unreferenced_contexts(pdb.connection(), cut) == 1
    assert pdb.execute_sql("SELECT count(*) FROM pghistory_context").fetchone() == (0,)
