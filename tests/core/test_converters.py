"""Pure tier: trackers accept another library's values through a registered converter.

Layer: tests (pure tier, no database). A stand-in "foreign library" (plain classes, as an
ORM adapter's library would have) is registered with
:func:`pghistory_core.trackers.register_converter`; trackers built with its values must
equal the trackers built with the core's own objects, a value no converter knows keeps the
error it had before, and a converter's refusal names the tracker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pghistory_core import render
from pghistory_core.conditions import AnyChange, Q
from pghistory_core.errors import InvalidConditionError, InvalidTrackerError
from pghistory_core.spec import Tracking
from pghistory_core.trackers import (
    Delete,
    DeleteEvent,
    New,
    Old,
    Row,
    RowEvent,
    Statement,
    Update,
    UpdateEvent,
    ValueKind,
    convert,
    register_converter,
    unregister_converter,
)
from tests.core.test_descriptions import ACCOUNT


class ForeignWhen:
    """A foreign condition: 'column greater than value' on the new row."""

    def __init__(self, column: str, value: int) -> None:
        self.column = column
        self.value = value


class ForeignOp:
    def __init__(self, *names: str) -> None:
        self.names = names


def foreign_converter(kind: ValueKind, value: object) -> object:
    if kind == "condition" and isinstance(value, ForeignWhen):
        return Q(**{f"new__{value.column}__gt": value.value})
    if kind == "operation" and isinstance(value, ForeignOp):
        if len(value.names) != 1:
            raise InvalidTrackerError(f"operation {' | '.join(value.names)}: one operation per tracker")
        return {"UPDATE": Update, "DELETE": Delete}.get(value.names[0], NotImplemented)
    if kind == "level" and value in ("row", "statement"):
        return Row if value == "row" else Statement
    if kind == "row" and value in ("old", "new"):
        return Old if value == "old" else New
    return NotImplemented


@pytest.fixture
def registered() -> Iterator[None]:
    register_converter(foreign_converter)
    try:
        yield
    finally:
        unregister_converter(foreign_converter)


def _parts(tracker: RowEvent) -> list[render.TriggerParts]:
    """The tracker's trigger on ``public.account``: body, WHEN, level, operation."""
    tracking = Tracking(ACCOUNT, (tracker,))
    return [render.trigger_parts(tracking, resolved) for resolved in tracking.resolved_trackers]


@pytest.mark.usefixtures("registered")
def test_foreign_values_build_the_same_tracker_as_the_core_objects() -> None:
    foreign = UpdateEvent("big", condition=ForeignWhen("money", 100), row="old", level="row")
    core = UpdateEvent("big", condition=Q(new__money__gt=100), row=Old, level=Row)
    assert foreign == core
    assert _parts(foreign) == _parts(core)
    assert RowEvent("gone", operation=ForeignOp("DELETE")) == RowEvent("gone", operation=Delete, row=Old)
    assert RowEvent("x", operation=ForeignOp("UPDATE"), level="statement") == RowEvent("x", operation=Update, level=Statement)


@pytest.mark.usefixtures("registered")
def test_a_value_no_converter_knows_keeps_the_error_it_had() -> None:
    with pytest.raises(InvalidTrackerError, match=r"UpdateEvent\('update'\): row must be Old or New, got 'sideways'"):
        UpdateEvent(row="sideways")
    with pytest.raises(InvalidTrackerError, match=r"level must be Row or Statement, got 'diagonal'"):
        UpdateEvent(level="diagonal")  # type: ignore[arg-type]
    with pytest.raises(InvalidTrackerError, match=r"operation must be Insert, Update or Delete"):
        RowEvent("x", operation=ForeignOp("TRUNCATE"))  # type: ignore[arg-type]
    with pytest.raises(InvalidConditionError, match=r"condition must be a condition such as Q\(\)"):
        UpdateEvent(condition="balance > 100")  # type: ignore[arg-type]


@pytest.mark.usefixtures("registered")
def test_a_converters_refusal_names_the_tracker() -> None:
    with pytest.raises(InvalidTrackerError, match=r"^RowEvent\('both'\): operation INSERT \| UPDATE: one operation per tracker$"):
        RowEvent("both", operation=ForeignOp("INSERT", "UPDATE"))  # type: ignore[arg-type]


@pytest.mark.usefixtures("registered")
def test_converted_values_are_validated_as_given_ones() -> None:
    # A converted OLD row on a delete is fine; a converted OLD row on an insert is not.
    with pytest.raises(InvalidTrackerError, match="has no NEW row"):
        DeleteEvent(row="new")


def test_without_the_converter_foreign_values_are_rejected() -> None:
    register_converter(foreign_converter)
    register_converter(foreign_converter)  # once is enough: registering again changes nothing
    unregister_converter(foreign_converter)
    with pytest.raises(InvalidConditionError, match="condition must be a condition"):
        UpdateEvent(condition=ForeignWhen("money", 1))  # type: ignore[arg-type]
    assert convert("row", "old") == "old"
    assert convert("row", Old) is Old
    assert UpdateEvent(condition=AnyChange()) == UpdateEvent()
