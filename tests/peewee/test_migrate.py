"""Peewee adapter: create_tables, the migrate helpers, and model translation.

Layer: tests (database tier, and a few pure checks of the translation).
"""

from __future__ import annotations

import peewee
import pytest

import pghistory_core as ph
import pghistory_peewee as pgh
from pghistory_peewee import migrate
from tests.peewee.conftest import DRIVERS, make_database
from tests.peewee.models import ALL, Cash, Membership, MyUser, TrackedModel


def _states(statuses: list[ph.Status]) -> set[str]:
    """States of the objects the given models need (objects of other models are orphans)."""
    return {s.state.value for s in statuses if s.artefact is not None}


def test_model_translation():
    table = pgh.model_table(Membership)
    assert [(c.name, c.type, c.nullable) for c in table.columns] == [
        ("id", "INTEGER", False),
        ("account_id", "INTEGER", False),
        ("group_id", "INTEGER", True),
        ("note", "VARCHAR(20)", False),
    ]
    assert (table.schema, table.name, table.primary_key) == ("public", "membership", ("id",))
    tracker = Membership.pgh_event_model.pgh_tracking.tracker("moved")
    assert tracker.condition == ph.AnyChange("group_id")  # field name -> column name
    assert pgh.model_table(Cash).column("dollars").type == "NUMERIC(10, 2)"
    assert pgh.model_table(MyUser).column("username").type == "VARCHAR(128)"


def test_unknown_field_is_reported_at_definition():
    with pytest.raises(ph.UnknownColumnError, match="no column 'nope'"):

        @pgh.track(pgh.UpdateEvent("x", condition=pgh.AnyChange("nope")))
        class Broken(peewee.Model):
            name = peewee.TextField()


def test_unresolved_deferred_foreign_key_is_a_clear_error_and_tracking_after_it_works():
    class Ship(peewee.Model):
        captain = peewee.DeferredForeignKey("Captain", null=True)

    with pytest.raises(ph.ConfigurationError, match=r"Ship\.captain is a DeferredForeignKey whose model \('captain'\) is not defined yet"):
        pgh.track(pgh.InsertEvent())(Ship)
    assert pgh.event_models(Ship) == []

    class Captain(peewee.Model):
        name = peewee.TextField()

    tracked = pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(condition=pgh.AnyChange("captain")))(Ship)
    table = pgh.model_table(tracked)
    assert [(c.name, c.type, c.nullable) for c in table.columns] == [("id", "INTEGER", False), ("captain_id", "INTEGER", True)]
    assert tracked.pgh_event_model.pgh_tracking.tracker("update").condition == ph.AnyChange("captain_id")


def test_second_tracking_without_model_name_gets_the_documented_default():
    # track()'s docstring: model_name defaults to <Model>Event, or <Model><Table> for a
    # second tracking (its event table's name in CamelCase, the model's name not repeated).
    @pgh.track(pgh.UpdateEvent("audited"), table_name="audit_log")
    @pgh.track(pgh.UpdateEvent("priced"), fields=["price"], table_name="shelf_price")
    @pgh.track()
    class Shelf(peewee.Model):
        price = peewee.IntegerField()

    assert [m.__name__ for m in pgh.event_models(Shelf)] == ["ShelfEvent", "ShelfPrice", "ShelfAuditLog"]
    assert [m._meta.fields["pgh_obj"].backref for m in pgh.event_models(Shelf)] == [
        "events", "shelf_price", "audit_log",
    ]
    with pytest.raises(ph.ConfigurationError, match="event model name 'ShelfPrice' is already used"):
        pgh.track(pgh.InsertEvent(), table_name="other", model_name="ShelfPrice")(Shelf)


def test_create_tables_installs_everything_and_migrate_round_trips(pdb):
    models = [TrackedModel, Cash]
    assert _states(migrate.status(pdb, models)) == {"installed"}
    migrate.check(pdb, ALL)  # every tracked model of the database: no drift, no orphan
    removed = migrate.uninstall(pdb, [TrackedModel])
    assert {s.kind for s in removed} == {"trigger", "function"}
    TrackedModel.create(int_field=1, text_field="a")  # not tracked any more
    with pytest.raises(ph.DriftError, match="missing"):
        migrate.check(pdb, ALL)
    changed = migrate.install(pdb, models)
    assert {s.state.value for s in changed} == {"missing"}
    assert migrate.install(pdb, models) == []  # idempotent: nothing to do
    TrackedModel.create(int_field=2, text_field="b")
    assert [e.int_field for e in TrackedModel.pgh_event_model.select()] == [2]  # the event table was kept


def test_upgrade_rewrites_only_changed_triggers(pdb):
    # The same table, tracked with a different update condition: at statement level the
    # condition lives in the update trigger's function, the only object whose hash differs.
    @pgh.track(pgh.InsertEvent(), pgh.UpdateEvent(condition=pgh.AnyChange("text_field")), table_name="trackedmodel_event")
    class TrackedModelV2(peewee.Model):
        int_field = peewee.IntegerField()
        text_field = peewee.TextField()

        class Meta:
            database = pdb
            table_name = "trackedmodel"

    assert _states(migrate.status(pdb, [TrackedModelV2])) == {"installed", "outdated"}
    changed = migrate.upgrade(pdb, [TrackedModelV2])
    assert sorted((s.kind, s.state.value) for s in changed) == [("function", "outdated")]
    obj = TrackedModelV2.create(int_field=1, text_field="a")
    obj.int_field = 2
    obj.save()  # only text_field changes are tracked now
    assert [e.pgh_label for e in TrackedModelV2.pgh_event_model.select()] == ["insert"]


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_peewee_create_tables_with_event_models(dsn, driver):
    db = make_database(DRIVERS[driver], dsn)

    @pgh.track(pgh.InsertEvent(), pgh.DeleteEvent())
    class Note(peewee.Model):
        body = peewee.TextField()

        class Meta:
            database = db

    # Peewee's own create_tables: the event model's table is the core's (installed, not
    # created by Peewee), and it sorts after the tracked model.
    db.create_tables([Note.pgh_event_model, Note])
    Note.create(body="x").delete_instance()
    assert [e.pgh_label for e in Note.pgh_event_model.select().order_by(Note.pgh_event_model.pgh_id)] == ["insert", "delete"]
    pgh.drop_tables(db, [Note])
    assert not db.table_exists("note_event") and not db.table_exists("note")
    # Gone: the event table, triggers and functions; the shared context machinery stays.
    owned = [s for s in migrate.status(db, [Note]) if s.artefact is not None and s.artefact.owner]
    assert {s.state.value for s in owned} == {"missing"}
    db.close()
