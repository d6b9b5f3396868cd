"""Django adapter: trackers take django-pgtrigger's own objects, as django-pghistory 3.9's do.

Layer: tests (Django tier). In django-pghistory, ``pghistory.Q``, ``AnyChange``, ``Row``,
``Update``... are django-pgtrigger's objects and ``row=`` takes ``"OLD"``/``"NEW"``, so
upstream code passes them to trackers. Each case tracks one model with the pgtrigger form
and a twin model with pghistory_django's own objects, installs both (tables and triggers on
the session database), makes the same writes to both and asserts what a user sees: the
same tracker and the same events. Values with no equivalent are refused with the reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pgtrigger
import pytest
from django.db import models

import pghistory_django as pghistory
from pghistory_core.errors import InvalidConditionError, InvalidTrackerError
from tests.django.cleanup import truncate_all
from tests.django.test_settings_and_defects import Dynamic

_apps = itertools.count()


@pytest.fixture(autouse=True)
def _db(django_db):
    yield
    truncate_all()


@pytest.fixture
def dynamic() -> Iterator[Dynamic]:
    made = Dynamic(f"pgtvalues{next(_apps)}")
    try:
        yield made
    finally:
        made.remove()


# (id, tracker with pgtrigger's objects, the same tracker with pghistory_django's)
CASES: list[tuple[str, Callable[[], pghistory.Tracker], Callable[[], pghistory.Tracker]]] = [
    (
        "Q",
        lambda: pghistory.UpdateEvent(condition=pgtrigger.Q(new__a__gt=1)),
        lambda: pghistory.UpdateEvent(condition=pghistory.Q(new__a__gt=1)),
    ),
    (
        "AnyChange",
        lambda: pghistory.UpdateEvent(condition=pgtrigger.AnyChange("a")),
        lambda: pghistory.UpdateEvent(condition=pghistory.AnyChange("a")),
    ),
    ("Row", lambda: pghistory.InsertEvent(level=pgtrigger.Row), lambda: pghistory.InsertEvent(level=pghistory.Row)),
    (
        "Update",
        lambda: pghistory.RowEvent("y", operation=pgtrigger.Update),
        lambda: pghistory.RowEvent("y", operation=pghistory.Update),
    ),
    ("OLD", lambda: pghistory.UpdateEvent(row="OLD"), lambda: pghistory.UpdateEvent(row=pghistory.Old)),
    (
        "Q-or-not-F",
        lambda: pghistory.UpdateEvent(
            condition=pgtrigger.Q(new__a__gt=1) | ~pgtrigger.Q(old__b=pgtrigger.F("new__b"), new__a__in=[0, 1])
        ),
        lambda: pghistory.UpdateEvent(
            condition=pghistory.Q(new__a__gt=1) | ~pghistory.Q(old__b=pghistory.F("new__b"), new__a__in=[0, 1])
        ),
    ),
    (
        "not-AllChange-statement",
        lambda: pghistory.UpdateEvent("both", condition=~pgtrigger.AllChange("a", "b"), level=pgtrigger.Statement),
        lambda: pghistory.UpdateEvent("both", condition=~pghistory.AllChange("a", "b"), level=pghistory.Statement),
    ),
    (
        "AnyDontChange-exclude",
        lambda: pghistory.UpdateEvent(condition=pgtrigger.AnyDontChange(exclude=["a"])),
        lambda: pghistory.UpdateEvent(condition=pghistory.AnyDontChange(exclude=["a"])),
    ),
    (
        "Condition",
        lambda: pghistory.UpdateEvent(condition=pgtrigger.Condition('OLD."b" < NEW."b"')),
        lambda: pghistory.UpdateEvent(condition=pghistory.Condition('OLD."b" < NEW."b"')),
    ),
    (
        "Delete-NEW-str",
        lambda: pghistory.RowEvent("gone", operation=pgtrigger.Delete, row="OLD"),
        lambda: pghistory.RowEvent("gone", operation=pghistory.Delete, row=pghistory.Old),
    ),
    ("Insert-NEW", lambda: pghistory.InsertEvent(row="NEW"), lambda: pghistory.InsertEvent()),
]


def _writes(model: type[models.Model]) -> list[tuple[object, ...]]:
    """The same writes on *model*; its events as (label, a, b)."""
    obj = model.objects.create(a=0, b=0)
    for a, b in [(2, 0), (2, 5), (1, 1), (1, 1), (0, 9)]:
        obj.a, obj.b = a, b
        obj.save()
    model.objects.filter(pk=obj.pk).update(b=models.F("b") + 1)
    model.objects.filter(pk=obj.pk).delete()
    return list(model.pgh_event_model.objects.order_by("pgh_id").values_list("pgh_label", "a", "b"))


@pytest.mark.parametrize(("upstream", "own"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_pgtrigger_objects_build_the_same_tracker_and_record_the_same_events(dynamic, upstream, own):
    fields = {"a": models.IntegerField(), "b": models.IntegerField()}
    Upstream = pghistory.track(upstream())(dynamic.model("Upstream", **fields))
    Own = pghistory.track(own())(dynamic.model("Own", **{k: v.clone() for k, v in fields.items()}))
    assert upstream() == own()
    assert Upstream.pgh_event_model.pgh_tracking().trackers == Own.pgh_event_model.pgh_tracking().trackers
    dynamic.install(Upstream, Own)

    events = _writes(Upstream)
    assert events  # each case records something
    assert events == _writes(Own)


def test_the_conditions_record_what_they_say(dynamic):
    Model = pghistory.track(
        pghistory.UpdateEvent("a_up", condition=pgtrigger.Q(new__a__gt=pgtrigger.F("old__a"))),
        pghistory.UpdateEvent("b_kept", condition=pgtrigger.AnyDontChange("b"), row="OLD"),
    )(dynamic.model("Checked", a=models.IntegerField(), b=models.IntegerField()))
    dynamic.install(Model)
    # a rose 0 -> 2; b kept (OLD row) on the saves that did not change it.
    assert _writes(Model) == [("a_up", 2, 0), ("b_kept", 0, 0), ("b_kept", 1, 1)]


@pytest.mark.parametrize(
    ("make", "error", "fragments"),
    [
        (
            lambda: pghistory.RowEvent("both", operation=pgtrigger.Insert | pgtrigger.Update),
            InvalidTrackerError,
            ["RowEvent('both')", "INSERT | UPDATE", "transition tables cannot have two events", "one tracker per operation"],
        ),
        (
            lambda: pghistory.RowEvent("cols", operation=pgtrigger.UpdateOf("a")),
            InvalidTrackerError,
            ["UpdateOf('a')", "condition=AnyChange('a')"],
        ),
        (lambda: pghistory.RowEvent("t", operation=pgtrigger.Truncate), InvalidTrackerError, ["TRUNCATE", "no rows"]),
        (
            lambda: pghistory.UpdateEvent(condition=pgtrigger.Q(new__a=1) ^ pgtrigger.Q(new__b=1)),
            InvalidConditionError,
            ["XOR is not supported"],
        ),
        (
            lambda: pghistory.UpdateEvent(condition=pgtrigger.Q(new__a=pgtrigger.F("old__a") + 1)),
            InvalidConditionError,
            ["'new__a'", "a value can be a literal or pghistory.F"],
        ),
        (lambda: pghistory.UpdateEvent(row="MIDDLE"), InvalidTrackerError, ["row must be Old or New, got 'MIDDLE'"]),
        (lambda: pghistory.InsertEvent(row="OLD"), InvalidTrackerError, ["an INSERT has no OLD row"]),
        (lambda: pghistory.InsertEvent(level="sideways"), InvalidTrackerError, ["level must be Row or Statement"]),
    ],
    ids=["combined", "update-of", "truncate", "xor", "expression", "bad-row", "old-on-insert", "bad-level"],
)
def test_values_without_an_equivalent_are_refused_with_the_reason(make, error, fragments):
    with pytest.raises(error) as raised:
        make()
    for fragment in fragments:
        assert fragment in str(raised.value)
