"""Pure tier: each bad input raises its specific exception, naming the problem and the value.

Layer: tests (pure tier, no database). One row per mistake a user can make; every row
checks the exception class (grouped by what the user must do, see ``errors.py``) and that
the message holds the offending value and enough words to say what is wrong. Errors are
raised when the description is built (or, at the latest, rendered), never by Postgres.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest

from pghistory_core import errors, render, retention
from pghistory_core.conditions import AllDontChange, AnyChange, AnyDontChange, Condition, F, Q
from pghistory_core.errors import (
    ConfigurationError,
    DuplicateLabelError,
    InvalidConditionError,
    InvalidNameError,
    InvalidTrackerError,
    PghistoryError,
    UnknownColumnError,
    UnsupportedError,
)
from pghistory_core.schema import Column, Table
from pghistory_core.spec import Tracking, check_unique_labels
from pghistory_core.trackers import (
    DeleteEvent,
    Insert,
    InsertEvent,
    New,
    Old,
    Row,
    RowEvent,
    Statement,
    UpdateEvent,
)
from tests.core.test_descriptions import ACCOUNT

COMPOSITE = Table("membership", (Column("group_id", "integer"), Column("user_id", "integer")), ("group_id", "user_id"))
NO_PK = Table("log", (Column("line", "text"), Column("at", "timestamp")), primary_key=())


def _track(*trackers: object, **options: object) -> Tracking:
    return Tracking(ACCOUNT, tuple(trackers), **options)  # type: ignore[arg-type]


def _render(tracking: Tracking) -> None:
    render.all_artefacts([tracking])


# (id, action, exception, fragments the message must contain)
CASES: list[tuple[str, Callable[[], object], type[Exception], list[str]]] = [
    # ---------------------------------------------------------------- unknown columns
    ("fields", lambda: _track(fields=["name", "nope"]), UnknownColumnError, ["fields", "public.account", "'nope'"]),
    ("exclude", lambda: _track(exclude=["nope"]), UnknownColumnError, ["exclude", "public.account", "'nope'"]),
    (
        "Q key",
        lambda: _track(UpdateEvent("u", condition=Q(new__nope=1))),
        UnknownColumnError,
        ["tracker 'u'", "public.account", "'nope'"],
    ),
    (
        "Q on a delete",
        lambda: _track(DeleteEvent(condition=Q(old__nope__isnull=True))),
        UnknownColumnError,
        ["tracker 'delete'", "'nope'"],
    ),
    (
        "F",
        lambda: _track(UpdateEvent("u", condition=Q(new__money__lt=F("old__nope")))),
        UnknownColumnError,
        ["tracker 'u'", "'nope'"],
    ),
    (
        "F inside in",
        lambda: _track(UpdateEvent("u", condition=Q(new__money__in=[1, F("old__nope")]))),
        UnknownColumnError,
        ["'nope'"],
    ),
    (
        "AnyChange columns",
        lambda: _track(UpdateEvent(condition=AnyChange("name", "nope"))),
        UnknownColumnError,
        ["tracker 'update'", "AnyChange('name', 'nope')", "'nope'"],
    ),
    (
        "AnyChange exclude",
        lambda: _track(UpdateEvent(condition=AnyChange(exclude=["nope"]))),
        UnknownColumnError,
        ["exclude=['nope']", "'nope'"],
    ),
    (
        "primary key",
        lambda: Table("t", (Column("id", "integer"),), primary_key="pk"),
        UnknownColumnError,
        ["primary key", "'pk'", "public.t"],
    ),
    # -------------------------------------------------------------------- trackers
    ("OLD row on insert", lambda: InsertEvent(row=Old), InvalidTrackerError, ["InsertEvent('insert')", "an INSERT has no OLD row"]),
    ("NEW row on delete", lambda: DeleteEvent(row=New), InvalidTrackerError, ["DeleteEvent('delete')", "a DELETE has no NEW row"]),
    (
        "OLD row on a RowEvent insert",
        lambda: RowEvent("created", operation=Insert, row=Old),
        InvalidTrackerError,
        ["'created'", "INSERT", "OLD"],
    ),
    ("RowEvent without operation", lambda: RowEvent("x"), InvalidTrackerError, ["RowEvent", "operation="]),
    ("empty label", lambda: InsertEvent(""), InvalidTrackerError, ["InsertEvent", "label"]),
    ("blank label", lambda: InsertEvent("  "), InvalidTrackerError, ["label", "'  '"]),
    ("NUL in label", lambda: UpdateEvent("a\x00b"), InvalidTrackerError, ["label", "NUL", "'a\\x00b'"]),
    ("level not a Level", lambda: InsertEvent(level="row"), InvalidTrackerError, ["level", "'row'"]),  # type: ignore[arg-type]
    ("tracker not a Tracker", lambda: _track("insert"), InvalidTrackerError, ["trackers", "'insert'"]),
    # ------------------------------------------------------------------ conditions
    (
        "AnyChange on insert",
        lambda: InsertEvent(condition=AnyChange()),
        InvalidConditionError,
        ["InsertEvent('insert')", "change conditions", "INSERT"],
    ),
    (
        "AllDontChange on delete",
        lambda: DeleteEvent(condition=AllDontChange("name")),
        InvalidConditionError,
        ["DeleteEvent('delete')", "change conditions", "DELETE"],
    ),
    (
        "change condition nested in a combination on insert",
        lambda: InsertEvent(condition=Q(new__name="x") & ~AnyDontChange("name")),
        InvalidConditionError,
        ["change conditions", "INSERT"],
    ),
    (
        "Q old on insert",
        lambda: InsertEvent(condition=Q(old__money__gte=100)),
        InvalidConditionError,
        ["InsertEvent('insert')", "OLD", "INSERT"],
    ),
    (
        "F old on insert",
        lambda: InsertEvent(condition=Q(new__money__lt=F("old__money"))),
        InvalidConditionError,
        ["OLD", "INSERT"],
    ),
    (
        "Q new on delete",
        lambda: DeleteEvent(condition=Q(new__money=1)),
        InvalidConditionError,
        ["DeleteEvent('delete')", "NEW", "DELETE"],
    ),
    ("Q key without row", lambda: Q(money=1), InvalidConditionError, ["'money'", "'old__'", "'new__'"]),
    ("Q key other row", lambda: Q(prev__money=1), InvalidConditionError, ["'prev__money'", "'old__'", "'new__'"]),
    ("Q key without column", lambda: Q(new__=1), InvalidConditionError, ["'new__'"]),
    ("F without row", lambda: F("money"), InvalidConditionError, ["'money'", "'old__'", "'new__'"]),
    ("F with a lookup", lambda: F("new__money__lt"), InvalidConditionError, ["'new__money__lt'", "lookup"]),
    ("unknown lookup", lambda: Q(new__name__like="x%"), InvalidConditionError, ["'new__name__like'", "unknown lookup", "'like'"]),
    ("lookup with extra parts", lambda: Q(new__money__lt__gt=1), InvalidConditionError, ["'new__money__lt__gt'"]),
    ("in with a str", lambda: Q(new__name__in="abc"), InvalidConditionError, ["'new__name__in'", "'in'", "'abc'"]),
    ("in with an int", lambda: Q(new__money__in=5), InvalidConditionError, ["'in'", "5"]),
    ("in with a dict", lambda: Q(new__money__in={"a": 1}), InvalidConditionError, ["'in'", "{'a': 1}"]),
    ("isnull not bool", lambda: Q(new__name__isnull="yes"), InvalidConditionError, ["'isnull'", "'yes'"]),
    ("empty Q", lambda: Q(), InvalidConditionError, ["Q()", "at least one filter"]),
    ("condition as Q value", lambda: Q(new__name=AnyChange()), InvalidConditionError, ["'new__name'", "AnyChange()"]),
    ("combine with a non-condition", lambda: Q(new__name="x") & "y", InvalidConditionError, ["'y'"]),  # type: ignore[operator]
    ("F as a condition", lambda: InsertEvent(condition=F("new__name")), InvalidConditionError, ["F(ref='new__name')"]),
    ("empty raw condition", lambda: Condition("  "), InvalidConditionError, ["Condition()", "'  '"]),
    (
        "raw condition with two statements",
        lambda: Condition("true; DROP TABLE t"),
        InvalidConditionError,
        ["single boolean expression", "'true; DROP TABLE t'"],
    ),
    ("empty change column", lambda: AnyChange(""), InvalidConditionError, ["AnyChange()", "''"]),
    (
        "change condition left with no column",
        lambda: _track(UpdateEvent(condition=AnyChange("name", exclude=["name"]))),
        InvalidConditionError,
        ["AnyChange('name', exclude=['name'])", "no column"],
    ),
    # -------------------------------------------------------------- duplicate labels
    (
        "duplicate label on one tracking",
        lambda: _track(InsertEvent("saved"), UpdateEvent("saved")),
        DuplicateLabelError,
        ["public.account", "'saved'", "two trackers"],
    ),
    (
        "duplicate default label on one tracking",
        lambda: _track(InsertEvent(), RowEvent("insert", operation=Insert, condition=Q(new__money__gt=0))),
        DuplicateLabelError,
        ["'insert'"],
    ),
    (
        "duplicate label across two trackings (check_unique_labels)",
        lambda: check_unique_labels(
            [_track(InsertEvent()), _track(UpdateEvent("insert"), event_table="account_money_event")]
        ),
        DuplicateLabelError,
        ["'insert'", "public.account", "account_event", "account_money_event"],
    ),
    (
        "duplicate label across two trackings (all_artefacts)",
        lambda: render.all_artefacts([_track(), _track(event_table="account_other_event", event_schema="audit")]),
        DuplicateLabelError,
        ["'insert'", "public.account"],
    ),
    (
        "duplicate trigger name on one tracking",
        lambda: _track(InsertEvent(trigger_name="audit"), UpdateEvent(trigger_name="audit")),
        DuplicateLabelError,
        ["trigger name", "'audit'"],
    ),
    (
        "duplicate trigger name across two trackings",
        lambda: render.all_artefacts(
            [_track(InsertEvent(trigger_name="audit")), _track(UpdateEvent(trigger_name="audit"), event_table="e2")]
        ),
        DuplicateLabelError,
        ["trigger name", "'audit'", "public.account"],
    ),
    (
        "one event table for two trackings",
        lambda: render.all_artefacts(
            [
                _track(InsertEvent()),
                Tracking(Table("account", ACCOUNT.columns, schema="archive"), (InsertEvent(),), event_schema="public"),
            ]
        ),
        DuplicateLabelError,
        ["event table public.account_event", "public.account", "archive.account"],
    ),
    # ------------------------------------------------------------------ invalid names
    ("empty trigger name", lambda: InsertEvent(trigger_name=""), InvalidNameError, ["trigger_name", "empty", "''"]),
    ("blank trigger name", lambda: InsertEvent(trigger_name="   "), InvalidNameError, ["trigger_name", "blank", "'   '"]),
    (
        "trigger name over 63 bytes",
        lambda: InsertEvent(trigger_name="t" * 64),
        InvalidNameError,
        ["trigger_name", "t" * 64, "64 bytes", "63"],
    ),
    (
        "non-ASCII trigger name over 63 bytes",
        lambda: UpdateEvent(trigger_name="ü" * 32),
        InvalidNameError,
        ["trigger_name", "ü" * 32, "64 bytes"],
    ),
    ("NUL in trigger name", lambda: DeleteEvent(trigger_name="a\x00"), InvalidNameError, ["trigger_name", "NUL", "'a\\x00'"]),
    ("empty table name", lambda: Table("", ACCOUNT.columns), InvalidNameError, ["table name", "''"]),
    ("empty schema name", lambda: Table("t", ACCOUNT.columns, schema=""), InvalidNameError, ["schema name", "''"]),
    ("NUL in column name", lambda: Column("a\x00", "text"), InvalidNameError, ["column name", "'a\\x00'"]),
    ("event table over 63 bytes", lambda: _track(event_table="e" * 64), InvalidNameError, ["event table name", "e" * 64]),
    ("blank event schema", lambda: _track(event_schema=" "), InvalidNameError, ["event schema", "' '"]),
    # ----------------------------------------------------------- other configuration
    (
        "obj_ref with a composite primary key",
        lambda: Tracking(COMPOSITE),
        ConfigurationError,
        ["public.membership", "single-column primary key", "['group_id', 'user_id']", "obj_ref=False"],
    ),
    (
        "tracked column named pgh_id",
        lambda: Tracking(Table("t", (Column("id", "integer"), Column("pgh_id", "bigint")))),
        ConfigurationError,
        ["public.t", "'pgh_id'", "exclude"],
    ),
    (
        "tracked column named pgh_context",
        lambda: Tracking(Table("t", (Column("id", "integer"), Column("pgh_context", "jsonb")))),
        ConfigurationError,
        ["'pgh_context'"],
    ),
    ("fields=[]", lambda: _track(fields=[]), ConfigurationError, ["public.account", "fields=[]"]),
    ("fields as a str", lambda: _track(fields="name"), ConfigurationError, ["fields", "single str", "'name'"]),
    ("nothing left to track", lambda: _track(fields=["name"], exclude=["name"]), ConfigurationError, ["no column"]),
    (
        "created_at not allowed",
        lambda: _track(created_at="now"),
        ConfigurationError,
        ["created_at", "'now'", "clock_timestamp()"],
    ),
    (
        "created_at with SQL in it",
        lambda: _track(created_at="now()); DROP TABLE t; --"),
        ConfigurationError,
        ["created_at", "'now()); DROP TABLE t; --'"],
    ),
    ("context not a mode", lambda: _track(context="fk"), ConfigurationError, ["context", "'fk'"]),
    ("tracking level not a Level", lambda: _track(level="row"), ConfigurationError, ["level", "'row'"]),
    ("table not a Table", lambda: Tracking("account"), ConfigurationError, ["Table", "'account'"]),  # type: ignore[arg-type]
    ("table without columns", lambda: Table("t", ()), ConfigurationError, ["public.t", "at least one column"]),
    (
        "column listed twice",
        lambda: Table("t", (Column("id", "integer"), Column("id", "bigint"))),
        ConfigurationError,
        ["public.t", "'id'", "twice"],
    ),
    (
        "column type with SQL in it",
        lambda: Column("id", "integer; DROP TABLE t"),
        ConfigurationError,
        ["'id'", "'integer; DROP TABLE t'"],
    ),
    ("column type with a comment", lambda: Column("id", "integer --"), ConfigurationError, ["'integer --'"]),
    # ----------------------------------------------------------------- unsupported
    (
        "raw condition at explicit statement level",
        lambda: _render(_track(UpdateEvent(condition=Condition('OLD."money" > NEW."money"'), level=Statement))),
        UnsupportedError,
        ["tracker 'update'", "public.account", "Condition()", "statement level", "level=Row"],
    ),
]


@pytest.mark.parametrize(("action", "exception", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_specific_error_naming_the_problem(
    action: Callable[[], object], exception: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(exception) as info:
        action()
    assert type(info.value) is exception, f"expected exactly {exception.__name__}, got {type(info.value).__name__}"
    message = str(info.value)
    missing = [fragment for fragment in fragments if fragment not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def test_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


def test_raw_condition_at_row_level_is_accepted() -> None:
    tracking = _track(UpdateEvent(condition=Condition('OLD."money" > NEW."money"'), level=Row))
    assert tracking.resolved_trackers[0].level == Row


def test_change_condition_on_an_update_is_accepted_at_both_levels() -> None:
    for level in (Row, Statement):
        _render(_track(UpdateEvent(condition=AllDontChange("name") | AnyChange(exclude_auto=True)), level=level))


def test_every_error_is_a_pghistory_error_and_configuration_errors_are_value_errors() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), PghistoryError), name
    for cls in (UnknownColumnError, InvalidTrackerError, InvalidConditionError, DuplicateLabelError, InvalidNameError):
        assert issubclass(cls, ConfigurationError) and issubclass(cls, ValueError)
    assert not issubclass(UnsupportedError, ConfigurationError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("last tuesday", "'last tuesday' is not a timestamp: use ISO 8601 with an offset"),
        ("2025-06-01", "'2025-06-01' has no time zone offset: deleting history needs an exact time"),
        ("2025-06-01T00:00:00", "has no time zone offset"),
    ],
)
def test_retention_cut_off_must_be_an_exact_time(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        retention.parse_before(text)


def test_retention_cut_off_keeps_the_offset_given() -> None:
    before = retention.parse_before(" 2025-06-01T02:00:00+02:00 ")
    assert before == datetime.datetime(2025, 6, 1, tzinfo=datetime.timezone.utc)
    assert before.utcoffset() == datetime.timedelta(hours=2)
