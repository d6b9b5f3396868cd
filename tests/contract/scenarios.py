"""Contract tier: the seed documents' examples, written once, ORM-neutral.

Layer: tests. A :class:`Scenario` describes tables (plain column kinds), trackings (the
core's trackers and conditions, over column names), a list of operations (create, update,
bulk update, delete, manual event, all optionally inside a context), and the event rows
every driver must produce. ``tests/contract/test_core.py`` runs them through the core with
raw SQL; each adapter adds a driver translating the same operations into its ORM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

import pghistory_core as ph
from pghistory_core import sql

#: Column kinds and their SQL types; adapters map them to their ORM's field types.
KINDS = {"pk": "integer", "int": "integer", "text": "text", "decimal": "numeric", "fk": "integer"}


@dataclasses.dataclass(frozen=True)
class TableDef:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, kind); the first "pk" column is the key
    primary_key: tuple[str, ...] = ("id",)

    def table(self) -> ph.Table:
        return ph.Table(self.name, tuple(ph.Column(n, KINDS[k]) for n, k in self.columns), self.primary_key)


@dataclasses.dataclass(frozen=True)
class TrackDef:
    """Arguments of ``track()`` on one table."""

    table: str
    trackers: tuple[ph.Tracker, ...] = ()
    fields: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    event_table: str | None = None
    obj_ref: bool = True


@dataclasses.dataclass(frozen=True)
class Create:
    table: str
    values: Mapping[str, object]


@dataclasses.dataclass(frozen=True)
class Update:
    """Update one row (an ORM ``save()``)."""

    table: str
    pk: object
    values: Mapping[str, object]


@dataclasses.dataclass(frozen=True)
class BulkUpdate:
    """One statement updating every row of *table* (an ORM ``update()``)."""

    table: str
    values: Mapping[str, object]


@dataclasses.dataclass(frozen=True)
class Delete:
    table: str
    pk: object


@dataclasses.dataclass(frozen=True)
class DeleteWhere:
    """Delete rows matching column values (for tables without an ``id``, e.g. M2M)."""

    table: str
    where: Mapping[str, object]


@dataclasses.dataclass(frozen=True)
class Manual:
    """``create_event(obj, label=...)`` on the tracking writing *event_table*."""

    event_table: str
    label: str
    pk: object


@dataclasses.dataclass(frozen=True)
class InContext:
    metadata: Mapping[str, object]
    operations: tuple[object, ...]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    tables: tuple[TableDef, ...]
    tracks: tuple[TrackDef, ...]
    operations: tuple[object, ...]
    #: event table -> expected rows (only the listed keys are compared), in pgh_id order.
    expected: Mapping[str, tuple[Mapping[str, object], ...]]

    def table(self, name: str) -> TableDef:
        return next(t for t in self.tables if t.name == name)

    def trackings(self) -> list[ph.Tracking]:
        result = []
        for track in self.tracks:
            result.append(
                ph.Tracking(
                    self.table(track.table).table(),
                    track.trackers,
                    fields=track.fields,
                    exclude=track.exclude,
                    event_table=track.event_table,
                    obj_ref=track.obj_ref,
                )
            )
        return result


TRACKED = TableDef("trackedmodel", (("id", "pk"), ("int_field", "int"), ("text_field", "text")))
USER = TableDef("myuser", (("id", "pk"), ("username", "text"), ("email", "text"), ("address", "text"), ("password", "text")))
CASH = TableDef("cash", (("id", "pk"), ("dollars", "decimal")))
GROUP = TableDef("grp", (("id", "pk"), ("name", "text")))
USER_GROUPS = TableDef("myuser_groups", (("id", "pk"), ("user_id", "fk"), ("group_id", "fk")))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "quick_start_snapshots",
        (TRACKED,),
        (TrackDef("trackedmodel"),),
        (Create("trackedmodel", {"id": 1, "int_field": 1, "text_field": "hello"}), Update("trackedmodel", 1, {"int_field": 2})),
        {
            "trackedmodel_event": (
                {"pgh_obj_id": 1, "pgh_label": "insert", "int_field": 1},
                {"pgh_obj_id": 1, "pgh_label": "update", "int_field": 2},
            )
        },
    ),
    Scenario(
        "track_specific_fields",
        (TRACKED,),
        (TrackDef("trackedmodel", fields=("int_field",)),),
        (
            Create("trackedmodel", {"id": 1, "int_field": 1, "text_field": "a"}),
            Update("trackedmodel", 1, {"text_field": "b"}),  # untracked field: no event
            Update("trackedmodel", 1, {"int_field": 5}),
        ),
        {
            "trackedmodel_event": (
                {"pgh_obj_id": 1, "pgh_label": "insert", "int_field": 1},
                {"pgh_obj_id": 1, "pgh_label": "update", "int_field": 5},
            )
        },
    ),
    Scenario(
        "exclude_fields",
        (TRACKED,),
        (TrackDef("trackedmodel", exclude=("int_field",)),),
        (
            Create("trackedmodel", {"id": 1, "int_field": 1, "text_field": "a"}),
            Update("trackedmodel", 1, {"int_field": 2}),  # excluded: no event
            Update("trackedmodel", 1, {"text_field": "b"}),
        ),
        {
            "trackedmodel_event": (
                {"pgh_obj_id": 1, "pgh_label": "insert", "text_field": "a"},
                {"pgh_obj_id": 1, "pgh_label": "update", "text_field": "b"},
            )
        },
    ),
    Scenario(
        "delete_only",
        (TRACKED,),
        (TrackDef("trackedmodel", (ph.DeleteEvent(),)),),
        (
            Create("trackedmodel", {"id": 1, "int_field": 1, "text_field": "a"}),
            Update("trackedmodel", 1, {"int_field": 2}),
            Delete("trackedmodel", 1),
        ),
        {"trackedmodel_event": ({"pgh_obj_id": 1, "pgh_label": "delete", "int_field": 2},)},
    ),
    Scenario(
        "email_changed_old_row",
        (USER,),
        (
            TrackDef(
                "myuser",
                (ph.UpdateEvent("email_changed", row=ph.Old, condition=ph.AnyChange("email")),),
                event_table="useremailhistory",
            ),
        ),
        (
            Create("myuser", {"id": 1, "username": "hello", "email": "hello@hello.com", "address": "123 Main St"}),
            Update("myuser", 1, {"address": "456 Main St"}),
            Update("myuser", 1, {"email": "world@world.com"}),
        ),
        {"useremailhistory": ({"pgh_obj_id": 1, "pgh_label": "email_changed", "email": "hello@hello.com"},)},
    ),
    Scenario(
        "cash_conditions",
        (CASH,),
        (
            TrackDef(
                "cash",
                (
                    ph.UpdateEvent("money_below_one_hundred", condition=ph.Q(old__dollars__gte=100, new__dollars__lt=100)),
                    ph.UpdateEvent("money_down", condition=ph.Q(old__dollars__gt=ph.F("new__dollars"))),
                    ph.UpdateEvent("money_up", condition=ph.Q(old__dollars__lt=ph.F("new__dollars"))),
                ),
            ),
        ),
        (
            Create("cash", {"id": 1, "dollars": Decimal(150)}),
            Update("cash", 1, {"dollars": Decimal(90)}),
            Update("cash", 1, {"dollars": Decimal(120)}),
            BulkUpdate("cash", {"dollars": Decimal(120)}),
        ),
        {
            "cash_event": (
                {"pgh_obj_id": 1, "pgh_label": "money_below_one_hundred", "dollars": Decimal(90)},
                {"pgh_obj_id": 1, "pgh_label": "money_down", "dollars": Decimal(90)},
                {"pgh_obj_id": 1, "pgh_label": "money_up", "dollars": Decimal(120)},
            )
        },
    ),
    Scenario(
        "multiple_trackers_different_schemas",
        (USER,),
        (
            TrackDef(
                "myuser",
                (ph.UpdateEvent("email_changed", row=ph.Old, condition=ph.AnyChange("email")),),
                fields=("email",),
                event_table="useremailhistory",
            ),
            TrackDef(
                "myuser",
                (ph.UpdateEvent("username_changed", row=ph.Old, condition=ph.AnyChange("username")),),
                fields=("username",),
                event_table="userusernamehistory",
            ),
        ),
        (
            Create("myuser", {"id": 1, "username": "u1", "email": "e1", "address": "a"}),
            Update("myuser", 1, {"email": "e2"}),
            Update("myuser", 1, {"username": "u2", "email": "e3"}),
        ),
        {
            "useremailhistory": (
                {"pgh_obj_id": 1, "pgh_label": "email_changed", "email": "e1"},
                {"pgh_obj_id": 1, "pgh_label": "email_changed", "email": "e2"},
            ),
            "userusernamehistory": ({"pgh_obj_id": 1, "pgh_label": "username_changed", "username": "u1"},),
        },
    ),
    Scenario(
        "manual_event_with_context",
        (USER,),
        (TrackDef("myuser", (ph.ManualEvent("user_create"),), fields=("username",)),),
        (
            Create("myuser", {"id": 1, "username": "hello", "email": "e", "password": "secret"}),
            InContext({"user": "admin"}, (Manual("myuser_event", "user_create", 1),)),
        ),
        {"myuser_event": ({"pgh_obj_id": 1, "pgh_label": "user_create", "username": "hello", "pgh_context": {"user": "admin"}},)},
    ),
    Scenario(
        "third_party_table_excluding_password",
        (USER,),
        (TrackDef("myuser", exclude=("password",)),),
        (
            Create("myuser", {"id": 1, "username": "u", "email": "e", "password": "p1"}),
            Update("myuser", 1, {"password": "p2"}),  # excluded: no event
            InContext({"url": "/admin/"}, (Update("myuser", 1, {"email": "e2"}),)),
        ),
        {
            "myuser_event": (
                {"pgh_obj_id": 1, "pgh_label": "insert", "email": "e", "pgh_context": None},
                {"pgh_obj_id": 1, "pgh_label": "update", "email": "e2", "pgh_context": {"url": "/admin/"}},
            )
        },
    ),
    Scenario(
        "m2m_through_groups",
        (USER, GROUP, USER_GROUPS),
        (
            TrackDef(
                "myuser_groups",
                (ph.InsertEvent("group.add"), ph.DeleteEvent("group.remove")),
                obj_ref=False,
                event_table="usergroupsevent",
            ),
        ),
        (
            Create("myuser", {"id": 1, "username": "u"}),
            Create("grp", {"id": 7, "name": "g"}),
            Create("myuser_groups", {"id": 1, "user_id": 1, "group_id": 7}),
            DeleteWhere("myuser_groups", {"user_id": 1, "group_id": 7}),
        ),
        {
            "usergroupsevent": (
                {"pgh_label": "group.add", "user_id": 1, "group_id": 7},
                {"pgh_label": "group.remove", "user_id": 1, "group_id": 7},
            )
        },
    ),
)


# ------------------------------------------------------------------- checking results


def event_rows_sql(event_table: str) -> str:
    """Every row of *event_table* as jsonb, without the columns that differ between runs
    (ids, times, context ids), with the context's metadata; in pgh_id order."""
    return sql.render(
        sql.SQL(
            "SELECT to_jsonb(e) - 'pgh_id' - 'pgh_created_at' - 'pgh_context_id' "
            "|| jsonb_build_object('pgh_context', c.metadata) FROM {} AS e "
            "LEFT JOIN public.pghistory_context AS c ON c.id = e.pgh_context_id ORDER BY e.pgh_id"
        ).format(sql.Identifier(event_table))
    )


def normalise(value: object) -> object:
    # jsonb renders numerics as numbers: compare Decimals by value.
    return float(value) if isinstance(value, Decimal) else value


def normalised(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: normalise(v) for k, v in row.items()} for row in rows]


def assert_expected(scenario: Scenario, got: Mapping[str, list[dict[str, object]]]) -> None:
    """Each event table holds the expected rows (only the listed keys are compared)."""
    for event_table, expected_rows in scenario.expected.items():
        rows = got[event_table]
        assert len(rows) == len(expected_rows), f"{event_table}: {rows}"
        subset = [{k: normalise(row.get(k)) for k in expected} for row, expected in zip(rows, expected_rows)]
        assert subset == [{k: normalise(v) for k, v in e.items()} for e in expected_rows]
