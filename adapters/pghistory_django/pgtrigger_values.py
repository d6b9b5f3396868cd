"""django-pgtrigger's objects as tracker arguments, translated to the core's.

Layer: adapter (Django translation). In django-pghistory 3.9, ``pghistory.Q``, ``F``,
``AnyChange``..., ``Condition``, ``Row``, ``Statement``, ``Insert``, ``Update`` and
``Delete`` *are* django-pgtrigger's objects, and ``row=`` takes the strings ``"OLD"`` and
``"NEW"``; code written for it may pass them to trackers directly. :func:`convert` is
registered with the core (:func:`pghistory_core.trackers.register_converter`) when
``pghistory_django`` is imported, so trackers accept them and hold the core's equivalents:

- ``pgtrigger.Q``: its filters become core ``Q`` filters (``old__``/``new__`` keys and
  lookups are the same), ``pgtrigger.F`` values core ``F``; ``&``, ``|`` and ``~`` become
  ``And``, ``Or`` and ``Not``;
- ``pgtrigger.AnyChange``/``AllChange``/``AnyDontChange``/``AllDontChange``: the core's
  change condition with the same fields, ``exclude`` and ``exclude_auto`` (negated with
  ``~``: wrapped in ``Not``); no fields means the tracked fields, as in django-pghistory;
- ``pgtrigger.Condition("sql")``: the core's raw ``Condition``;
- ``pgtrigger.Row``/``Statement`` (and ``"ROW"``/``"STATEMENT"``), ``pgtrigger.Insert``/
  ``Update``/``Delete``, ``"OLD"``/``"NEW"``: the core's ``Row``... and ``Old``/``New``.

What has no core equivalent is refused with the reason: combined operations
(``pgtrigger.Insert | pgtrigger.Update``), ``UpdateOf``, ``Truncate``, ``XOR`` filters,
expressions other than ``F`` as filter values, and ``Condition`` subclasses with their
own ``resolve()`` (their SQL exists only once a model is at hand).
"""

from __future__ import annotations

import pgtrigger
from django.db.models import Q as DjangoQ
from pgtrigger import core as pgtrigger_core

from pghistory_core import conditions as c
from pghistory_core import trackers as t
from pghistory_core.errors import InvalidConditionError, InvalidTrackerError

__all__ = ["convert"]

_LEVELS = {"ROW": t.Row, "STATEMENT": t.Statement}
_OPERATIONS = {"INSERT": t.Insert, "UPDATE": t.Update, "DELETE": t.Delete}
_ROWS = {"OLD": t.Old, "NEW": t.New}
_CHANGES: dict[tuple[bool, str], type[c.AnyChange | c.AllChange | c.AnyDontChange | c.AllDontChange]] = {
    (False, "df"): c.AnyChange,
    (True, "df"): c.AllChange,
    (False, "ndf"): c.AnyDontChange,
    (True, "ndf"): c.AllDontChange,
}


def convert(kind: t.ValueKind, value: object) -> object:
    """The core's object for a pgtrigger/django-pghistory *value* of a tracker's *kind*
    argument, or ``NotImplemented`` when *value* is not one (the tracker rejects it)."""
    if kind == "condition":
        return _condition(value)
    if kind == "level":
        return _named(value, pgtrigger_core.Level, _LEVELS)
    if kind == "operation":
        return _operation(value)
    if kind == "row":
        return _ROWS.get(value.upper(), NotImplemented) if isinstance(value, str) else NotImplemented
    return NotImplemented


def _named(value: object, pgtrigger_type: type, table: dict[str, object]) -> object:
    """``pgtrigger.Row``-style primitives (they carry ``.name``) and their names as str."""
    if isinstance(value, pgtrigger_type):
        name = getattr(value, "name", None)
        return table.get(name, NotImplemented) if isinstance(name, str) else NotImplemented
    if isinstance(value, str):
        return table.get(value.upper(), NotImplemented)
    return NotImplemented


def _operation(value: object) -> object:
    if isinstance(value, pgtrigger_core.Operations):
        joined = " | ".join(str(op) for op in value.operations)
        raise InvalidTrackerError(
            f"operation={joined}: a tracker fires on one operation, because a statement-level "
            "trigger with transition tables cannot have two events (Postgres refuses it); use one "
            "tracker per operation, e.g. InsertEvent() and UpdateEvent()"
        )
    if isinstance(value, pgtrigger_core.UpdateOf):
        columns = ", ".join(repr(col) for col in value.columns)
        raise InvalidTrackerError(
            f"operation=UpdateOf({columns}): a statement-level trigger with transition tables cannot "
            f"be UPDATE OF columns (Postgres refuses it); use UpdateEvent(condition=AnyChange({columns}))"
        )
    if isinstance(value, pgtrigger_core.Operation) and getattr(value, "name", None) == "TRUNCATE":
        raise InvalidTrackerError("operation=TRUNCATE: a truncate has no rows to record; use Insert, Update or Delete")
    return _named(value, pgtrigger_core.Operation, _OPERATIONS)


def _own_resolve(value: object, base: type) -> bool:
    """Whether *value*'s class replaces pgtrigger's ``resolve()`` of *base*."""
    return getattr(type(value), "resolve", None) is not getattr(base, "resolve", None)


def _condition(value: object) -> object:
    if isinstance(value, pgtrigger.F):
        return c.F(value.name)
    if isinstance(value, pgtrigger.Q):
        if _own_resolve(value, pgtrigger.Q):
            return _custom(value)
        return _q(value)
    if isinstance(value, pgtrigger_core._Change):
        if _own_resolve(value, pgtrigger_core._Change):
            return _custom(value)
        node_type = _CHANGES.get((bool(value.all), value.comparison))
        if node_type is None:
            raise InvalidConditionError(f"{value!r}: unknown change comparison {value.comparison!r}")
        node: c.ConditionNode = node_type(
            *(value.fields or ()), exclude=tuple(value.exclude or ()), exclude_auto=bool(value.exclude_auto)
        )
        return c.Not(node) if value._negated else node
    if isinstance(value, pgtrigger.Condition):
        if _own_resolve(value, pgtrigger.Condition):
            return _custom(value)
        return c.Condition(value.sql)  # type: ignore[arg-type]
    return NotImplemented


def _custom(value: object) -> object:
    raise InvalidConditionError(
        f"{type(value).__name__} replaces pgtrigger's resolve(), so its SQL is known only once a model is "
        "at hand; write the condition with Q(), F(), AnyChange()... or Condition('sql')"
    )


def _q(value: DjangoQ) -> c.ConditionNode:
    """A pgtrigger Q tree (``&``/``|`` nest Django Q objects) as the core's nodes."""
    if value.connector not in (DjangoQ.AND, DjangoQ.OR):
        raise InvalidConditionError(f"{value!r}: {value.connector} is not supported in conditions; use & and |")
    if not value.children:
        raise InvalidConditionError("Q() needs at least one filter, e.g. Q(new__status='done')")
    filters = [child for child in value.children if isinstance(child, tuple)]
    keys = [key for key, _ in filters]
    if value.connector == DjangoQ.AND and len(filters) == len(value.children) and len(set(keys)) == len(keys):
        # Q(a=1, b=2) (or Q(a=1) & Q(b=2), which Django flattens): one core Q with both
        # filters, as pghistory.Q(a=1, b=2) gives.
        node: c.ConditionNode = c.Q(**{key: _value(key, val) for key, val in filters})
        return c.Not(node) if value.negated else node
    items: list[c.ConditionNode] = []
    for child in value.children:
        if isinstance(child, tuple):
            key, val = child
            items.append(c.Q(**{key: _value(key, val)}))
        elif isinstance(child, DjangoQ):
            items.append(_q(child))
        else:
            raise InvalidConditionError(f"{value!r}: {child!r} is not a filter; conditions hold old__/new__ filters")
    node = items[0] if len(items) == 1 else (c.And if value.connector == DjangoQ.AND else c.Or)(tuple(items))
    return c.Not(node) if value.negated else node


def _value(key: str, value: object) -> object:
    if isinstance(value, pgtrigger.F):
        return c.F(value.name)
    if isinstance(value, (list, tuple)):
        return type(value)(_value(key, item) for item in value)
    if hasattr(value, "resolve_expression"):  # another Django expression: no SQL without a query
        raise InvalidConditionError(
            f"Q() key {key!r}: a value can be a literal or pghistory.F('old__field'/'new__field'), got {value!r}"
        )
    return value
