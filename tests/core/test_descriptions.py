"""Pure tier: descriptions are frozen values with the documented defaults.

Layer: tests (pure tier, no database). Tables, trackers, conditions and trackings compare
by value, hash, derive variants with ``dataclasses.replace`` (re-validated), and carry the
defaults of FEATURES.md section 1. ``ACCOUNT`` is the sample table of the pure tier (the
seed's ``money_below_one_hundred`` / ``money_down`` examples run over it).
"""

from __future__ import annotations

import dataclasses

import pytest

from pghistory_core import render
from pghistory_core.conditions import (
    AllChange,
    AllDontChange,
    And,
    AnyChange,
    AnyDontChange,
    Condition,
    F,
    Not,
    Or,
    Q,
)
from pghistory_core.errors import InvalidTrackerError, UnknownColumnError
from pghistory_core.schema import Column, Table
from pghistory_core.spec import DEFAULT_LEVEL, DENORMALIZED, FK, NO_CONTEXT, Tracking
from pghistory_core.trackers import (
    Delete,
    DeleteEvent,
    Insert,
    InsertEvent,
    ManualEvent,
    New,
    Old,
    Row,
    RowEvent,
    Statement,
    Update,
    UpdateEvent,
)

def account_table() -> Table:
    """The sample table; each call builds a new, equal object."""
    return Table(
        "account",
        [
            Column("id", "integer", nullable=False),
            Column("name", "character varying(100)"),
            Column("money", "numeric(10,2)"),
            Column("data", "json"),
            Column("updated_at", "timestamp with time zone", auto=True),
        ],
        primary_key="id",
    )


ACCOUNT = account_table()


# ------------------------------------------------------------------------------ tables


def test_tables_compare_and_hash_by_value() -> None:
    other = account_table()
    assert other is not ACCOUNT
    assert other == ACCOUNT and hash(other) == hash(ACCOUNT)
    assert other.primary_key == ("id",) and isinstance(other.columns, tuple)
    assert ACCOUNT != dataclasses.replace(ACCOUNT, schema="billing")
    assert ACCOUNT.qualified_name == "public.account"
    assert ACCOUNT.column_names == ("id", "name", "money", "data", "updated_at")
    assert ACCOUNT.column("data").comparison_cast == "jsonb"
    assert ACCOUNT.column("money").comparison_cast is None


@pytest.mark.parametrize(
    ("type_", "change_cast", "comparison_cast"),
    [
        # Built-in types compared with their own "=", however the ORM spells them.
        ("integer", None, None),
        ("INTEGER", None, None),
        ("pg_catalog.int4", None, None),
        ("character varying(100)", None, None),
        ("VARCHAR(100)", None, None),
        ("numeric(10, 2)", None, None),
        ("timestamp(3) with time zone", None, None),
        ("TIMESTAMP WITHOUT TIME ZONE", None, None),
        ("integer[]", None, None),
        ("text[][]", None, None),
        ("jsonb", None, None),
        # Types without a usable "=".
        ("json", "jsonb", "jsonb"),
        ("JSON", "jsonb", "jsonb"),
        ("box", "text", "text"),
        ("xml", "text", "text"),
        # Arrays of those, and types the core cannot see into: compared as text to tell a
        # change; lookups keep the type's own operators (an enum's order, a domain's base).
        ("json[]", "text", None),
        ("box[]", "text", None),
        ("citext", "text", None),
        ("public.citext", "text", None),
        ('"billing"."status"', "text", None),
        ("my_domain", "text", None),
    ],
)
def test_column_casts_for_change_conditions_and_lookups(type_: str, change_cast: str | None, comparison_cast: str | None) -> None:
    column = Column("c", type_)
    assert (column.change_cast, column.comparison_cast) == (change_cast, comparison_cast)


def test_descriptions_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ACCOUNT.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        InsertEvent().label = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Tracking(ACCOUNT).append_only = True  # type: ignore[misc]


# ---------------------------------------------------------------------------- trackers


def test_insert_event_defaults() -> None:
    tracker = InsertEvent()
    assert (tracker.label, tracker.operation, tracker.row, tracker.condition) == ("insert", Insert, New, None)
    assert tracker.trigger_name is None and tracker.level is None
    assert tracker.installs_trigger


def test_update_event_defaults_to_any_change_of_the_tracked_columns() -> None:
    tracker = UpdateEvent()
    assert (tracker.label, tracker.operation, tracker.row) == ("update", Update, New)
    assert tracker.condition == AnyChange()


def test_delete_event_defaults() -> None:
    tracker = DeleteEvent()
    assert (tracker.label, tracker.operation, tracker.row, tracker.condition) == ("delete", Delete, Old, None)


def test_explicit_condition_none_means_always() -> None:
    tracker = UpdateEvent(condition=None)
    assert tracker.condition is None
    tracking = Tracking(ACCOUNT, (tracker,), level=Row)
    (resolved,) = tracking.resolved_trackers
    assert render.compile_tracker_condition(tracking, resolved) is None
    assert " WHEN " not in str(render.trigger(tracking, resolved).create)


def test_row_event_takes_its_row_from_the_operation() -> None:
    assert RowEvent("x", operation=Insert).row == New
    assert RowEvent("x", operation=Update).row == New
    assert RowEvent("x", operation=Delete).row == Old
    assert RowEvent("x", operation=Update).condition is None
    assert UpdateEvent("before", row=Old).row == Old


def test_manual_event_installs_nothing() -> None:
    tracking = Tracking(ACCOUNT, (ManualEvent("import"), InsertEvent()))
    assert not ManualEvent("import").installs_trigger
    assert tracking.manual_labels == ("import",)
    assert [r.tracker.label for r in tracking.resolved_trackers] == ["insert"]


def test_trackers_compare_and_hash_by_value() -> None:
    assert UpdateEvent() == UpdateEvent("update", condition=AnyChange())
    assert hash(UpdateEvent()) == hash(UpdateEvent("update", condition=AnyChange()))
    assert InsertEvent() != RowEvent("insert", operation=Insert)  # different kinds of tracker
    assert UpdateEvent(level=Row) != UpdateEvent(level=Statement)
    assert len({InsertEvent(), InsertEvent(), DeleteEvent()}) == 2


def test_dataclasses_replace_derives_trackers_and_revalidates() -> None:
    renamed = dataclasses.replace(UpdateEvent(), label="changed")
    assert renamed == UpdateEvent("changed") and renamed.condition == AnyChange()
    assert dataclasses.replace(UpdateEvent(), condition=None).condition is None
    assert dataclasses.replace(InsertEvent(), level=Row).level == Row
    assert dataclasses.replace(DeleteEvent(), trigger_name="audit_delete").trigger_name == "audit_delete"
    with pytest.raises(InvalidTrackerError, match="OLD"):
        dataclasses.replace(InsertEvent(), row=Old)


# -------------------------------------------------------------------------- conditions


def test_q_compares_by_value_whatever_the_keyword_order() -> None:
    first = Q(old__money__gte=100, new__money__lt=100)
    second = Q(new__money__lt=100, old__money__gte=100)
    assert first == second and hash(first) == hash(second)
    assert Q(new__money__in=[1, 2]) == Q(new__money__in=(1, 2))
    assert hash(Q(new__money__in=[1, 2])) == hash(Q(new__money__in=(1, 2)))
    assert Q(new__money=1) != Q(new__money=2)
    assert repr(first) == "Q(new__money__lt=100, old__money__gte=100)"


def test_change_conditions_compare_by_kind_and_value() -> None:
    assert AnyChange("name") == AnyChange("name") and hash(AnyChange("name")) == hash(AnyChange("name"))
    kinds = {AnyChange("name"), AllChange("name"), AnyDontChange("name"), AllDontChange("name")}
    assert len(kinds) == 4
    assert AnyChange(exclude="name").exclude == ("name",)
    assert AnyChange(exclude=["name"]) == AnyChange(exclude=("name",))
    assert AnyChange(exclude_auto=True) != AnyChange()
    assert repr(AnyChange("a", exclude=["b"], exclude_auto=True)) == "AnyChange('a', exclude=['b'], exclude_auto=True)"


def test_combinators_build_value_trees() -> None:
    a, b = Q(new__name="x"), AnyChange("money")
    assert a & b == And((a, b))
    assert a | b == Or((a, b))
    assert ~a == Not(a)
    assert hash((a & b) | ~a) == hash((a & b) | ~a)
    assert F("new__money") == F("new__money")
    assert (F("old__money").row, F("old__money").column) == ("old", "money")


# ---------------------------------------------------------------------------- tracking


def test_tracking_defaults() -> None:
    tracking = Tracking(ACCOUNT)
    assert tracking.trackers == (InsertEvent(), UpdateEvent())
    assert tracking.fields is None and tracking.exclude == ()
    assert tracking.tracked_columns == ACCOUNT.column_names
    assert tracking.event_table_name == "account_event"
    assert tracking.event_schema_name == "public"
    assert tracking.obj_ref and tracking.obj_id_type == "integer"
    assert tracking.context == FK and not tracking.append_only
    assert tracking.created_at == "now()"
    assert tracking.level is None
    assert [r.level for r in tracking.resolved_trackers] == [DEFAULT_LEVEL, DEFAULT_LEVEL]
    assert [(r.trigger_name, r.function_name) for r in tracking.resolved_trackers] == [
        ("pgh_insert", "pgh_account_event_insert"),
        ("pgh_update", "pgh_account_event_update"),
    ]


def test_tracking_with_no_trackers_tracks_insert_and_update() -> None:
    assert Tracking(ACCOUNT, ()).labels == ("insert", "update")
    assert Tracking(ACCOUNT, []) == Tracking(ACCOUNT, (InsertEvent(), UpdateEvent()))


def test_trackings_compare_and_hash_by_value() -> None:
    first = Tracking(ACCOUNT, [InsertEvent(), UpdateEvent()], fields=["name", "money", "id"], context=DENORMALIZED)
    second = Tracking(account_table(), (InsertEvent(), UpdateEvent()), fields=("name", "money", "id"), context=DENORMALIZED)
    assert first == second and hash(first) == hash(second)
    assert first != dataclasses.replace(first, context=NO_CONTEXT)


def test_tracked_columns_keep_table_order() -> None:
    tracking = Tracking(ACCOUNT, fields=["money", "id", "name"])
    assert tracking.tracked_columns == ("id", "name", "money")
    assert Tracking(ACCOUNT, exclude=["data"]).tracked_columns == ("id", "name", "money", "updated_at")
    assert [c.name for c in Tracking(ACCOUNT, fields=["id", "data"]).mirrored_columns] == ["id", "data"]


def test_dataclasses_replace_derives_trackings_and_revalidates() -> None:
    tracking = Tracking(ACCOUNT)
    narrowed = dataclasses.replace(tracking, fields=["id", "name"])
    assert narrowed.tracked_columns == ("id", "name")
    assert narrowed.trackers == tracking.trackers
    assert tracking.replace(event_table="account_history").event_table_name == "account_history"
    with pytest.raises(UnknownColumnError, match="'nope'"):
        dataclasses.replace(tracking, fields=["nope"])


def test_tracker_level_wins_over_tracking_level() -> None:
    tracking = Tracking(ACCOUNT, (InsertEvent(level=Row), UpdateEvent()), level=Statement)
    assert [r.level for r in tracking.resolved_trackers] == [Row, Statement]
    tracking = Tracking(ACCOUNT, (InsertEvent(level=Statement), UpdateEvent()), level=Row)
    assert [r.level for r in tracking.resolved_trackers] == [Statement, Row]


@pytest.mark.parametrize("tracking_level", [None, Statement])
def test_raw_condition_without_explicit_level_falls_back_to_row(tracking_level: object) -> None:
    # Raw SQL names OLD/NEW, which a statement-level trigger does not have.
    raw = UpdateEvent("raw", condition=Condition('OLD."money" > NEW."money"'))
    tracking = Tracking(ACCOUNT, (raw, InsertEvent()), level=tracking_level)  # type: ignore[arg-type]
    assert [r.level for r in tracking.resolved_trackers] == [Row, Statement]
    (trigger,) = [a for a in render.tracking_artefacts(tracking) if a.kind == "trigger" and a.name == "pgh_raw"]
    assert 'FOR EACH ROW WHEN ((OLD."money" > NEW."money"))' in str(trigger.create)


def test_map_columns_renames_every_column_reference():
    """Adapters turn ORM field names into column names with one call."""
    from pghistory_core.conditions import AllDontChange, AnyChange, Condition, F, Q
    from pghistory_core.trackers import DeleteEvent, UpdateEvent, map_tracker_columns

    rename = {"amount": "amount_col", "who": "who_id"}.get
    condition = (Q(old__amount__gt=F("new__amount"), new__who=3) | ~AnyChange("amount", exclude=["who"])) & (
        AllDontChange("who") & Condition("OLD.x <> NEW.x")
    )
    renamed = condition.map_columns(lambda name: rename(name) or name)
    assert renamed == (
        Q(old__amount_col__gt=F("new__amount_col"), new__who_id=3) | ~AnyChange("amount_col", exclude=["who_id"])
    ) & (AllDontChange("who_id") & Condition("OLD.x <> NEW.x"))
    tracker = map_tracker_columns(UpdateEvent("u", condition=AnyChange("amount")), lambda name: name.upper())
    assert tracker == UpdateEvent("u", condition=AnyChange("AMOUNT"))
    assert map_tracker_columns(DeleteEvent(), str.upper) == DeleteEvent()
