"""Trackers: which events a tracking records, and when.

Layer: description. ``InsertEvent``, ``UpdateEvent`` and ``DeleteEvent`` are
``RowEvent`` trackers with django-pghistory's defaults (labels ``insert``/``update``/
``delete``; rows NEW/NEW/OLD; updates fire only when a tracked column changed).
``ManualEvent`` installs nothing and only names a label for :func:`create_event`.

Adapters whose users already write these arguments with another library's objects (Django
users pass django-pgtrigger's ``Q``, ``Row``, ``Update``, ``"OLD"``) register a converter
with :func:`register_converter`; trackers ask it for a value that is not the core's own
before they reject the value. The core itself knows no such library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar, Literal, Union

from pghistory_core import conditions as c
from pghistory_core import names
from pghistory_core.errors import ConfigurationError, InvalidConditionError, InvalidTrackerError, UnsupportedError

__all__ = [
    "RowRef",
    "Old",
    "New",
    "Level",
    "Row",
    "Statement",
    "Operation",
    "Insert",
    "Update",
    "Delete",
    "Tracker",
    "ManualEvent",
    "RowEvent",
    "InsertEvent",
    "UpdateEvent",
    "DeleteEvent",
    "UNSET",
    "map_tracker_columns",
    "ValueKind",
    "Converter",
    "register_converter",
    "unregister_converter",
    "convert",
]


def _article(word: str) -> str:
    """The article for an operation's name: "an INSERT", "an UPDATE", "a DELETE"."""
    return "an" if word[:1].upper() in "AEIOU" else "a"


@dataclasses.dataclass(frozen=True)
class RowRef:
    """Which row of the change an event stores: ``Old`` or ``New``."""

    name: str

    def __repr__(self) -> str:
        return self.name.capitalize()


Old = RowRef("OLD")
New = RowRef("NEW")


@dataclasses.dataclass(frozen=True)
class Level:
    """Trigger granularity: ``Row`` (FOR EACH ROW) or ``Statement`` (transition tables)."""

    name: str

    def __repr__(self) -> str:
        return self.name.capitalize()


Row = Level("ROW")
Statement = Level("STATEMENT")


@dataclasses.dataclass(frozen=True)
class Operation:
    """The write a trigger fires on."""

    name: str

    @property
    def rows(self) -> frozenset[str]:
        """The rows ('old', 'new') the operation provides."""
        return {"INSERT": frozenset({"new"}), "UPDATE": frozenset({"old", "new"}), "DELETE": frozenset({"old"})}[
            self.name
        ]

    def __repr__(self) -> str:
        return self.name.capitalize()


Insert = Operation("INSERT")
Update = Operation("UPDATE")
Delete = Operation("DELETE")


class _Unset:
    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"


#: Marks an argument that was not given (``condition=None`` means "always").
UNSET = _Unset()


# --------------------------------------------------------------------------------------
# Converters for other libraries' values


#: Which tracker argument a value is given for.
ValueKind = Literal["condition", "level", "operation", "row"]

#: ``converter(kind, value)``: the core's value for *value*, or ``NotImplemented`` when the
#: converter does not know *value*. It raises a
#: :class:`~pghistory_core.errors.ConfigurationError` or
#: :class:`~pghistory_core.errors.UnsupportedError` for a value it knows but that has no
#: core equivalent, saying why (the tracker's name is added to the message).
Converter = Callable[[ValueKind, object], object]

_CORE_TYPES: dict[str, tuple[type, ...]] = {
    "condition": (c.ConditionNode,),
    "level": (Level,),
    "operation": (Operation,),
    "row": (RowRef,),
}
_converters: list[Converter] = []


def register_converter(converter: Converter) -> None:
    """Let trackers accept another library's values for ``condition``, ``level``,
    ``operation`` and ``row``, through *converter* (see :data:`Converter`).

    Converters are asked in registration order; the first answer other than
    ``NotImplemented`` is validated as if it had been given. Registering a converter that
    is already registered changes nothing.
    """
    if not callable(converter):
        raise ConfigurationError(f"register_converter() needs a callable, got {converter!r}")
    if converter not in _converters:
        _converters.append(converter)


def unregister_converter(converter: Converter) -> None:
    """Stop asking *converter* (no-op when it is not registered)."""
    if converter in _converters:
        _converters.remove(converter)


def convert(kind: ValueKind, value: object, owner: str | None = None) -> object:
    """*value* as the core's object for a tracker's *kind* argument, through the registered
    converters; unchanged when it already is one, is None/UNSET, or no converter knows it
    (validation then rejects it as before). *owner* prefixes a converter's error."""
    if kind not in _CORE_TYPES:
        raise ConfigurationError(f"convert(): kind must be one of {', '.join(sorted(_CORE_TYPES))}, got {kind!r}")
    if value is None or isinstance(value, (_Unset, *_CORE_TYPES[kind])):
        return value
    for converter in tuple(_converters):
        try:
            converted = converter(kind, value)
        except (ConfigurationError, UnsupportedError) as exc:
            if owner is None:
                raise
            raise type(exc)(f"{owner}: {exc}") from exc
        if converted is not NotImplemented:
            return converted
    return value


def _check_label(label: object, owner: str) -> str:
    if not isinstance(label, str) or not label.strip():
        raise InvalidTrackerError(f"{owner}: label must be a non-empty str, got {label!r}")
    if "\x00" in label:
        raise InvalidTrackerError(f"{owner}: label cannot contain a NUL byte: {label!r}")
    return label


@dataclasses.dataclass(frozen=True)
class Tracker:
    """Base of all trackers: a label naming the events it records."""

    label: str

    def __post_init__(self) -> None:
        _check_label(self.label, type(self).__name__)

    @property
    def installs_trigger(self) -> bool:
        return False


@dataclasses.dataclass(frozen=True)
class ManualEvent(Tracker):
    """Events created only by :func:`pghistory_core.create_event`; no trigger."""


@dataclasses.dataclass(frozen=True, init=False)
class RowEvent(Tracker):
    """Records a row of a tracked table when *operation* happens and *condition* holds.

    ``condition`` left unset takes the tracker's default; ``condition=None`` means always.
    ``level=None`` takes the tracking's level.
    """

    operation: Operation
    row: RowRef
    condition: c.ConditionNode | None
    trigger_name: str | None
    level: Level | None

    _default_label: ClassVar[str] = ""

    def __init__(
        self,
        label: str | None = None,
        *,
        operation: Operation | None = None,
        row: RowRef | None = None,
        condition: Union[c.ConditionNode, None, _Unset] = UNSET,
        trigger_name: str | None = None,
        level: Level | None = None,
    ) -> None:
        cls_name = type(self).__name__
        label = self._default_label if label is None else label
        if not label:
            raise InvalidTrackerError(f"{cls_name}: a label is required, e.g. {cls_name}('price_changed', ...)")
        owner = f"{cls_name}({label!r})"
        operation = convert("operation", operation, owner)  # type: ignore[assignment]
        row = convert("row", row, owner)  # type: ignore[assignment]
        condition = convert("condition", condition, owner)  # type: ignore[assignment]
        level = convert("level", level, owner)  # type: ignore[assignment]
        operation = operation or self._default_operation()
        row = row or self._default_row(operation)
        if isinstance(condition, _Unset):
            condition = self._default_condition()
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "operation", operation)
        object.__setattr__(self, "row", row)
        object.__setattr__(self, "condition", condition)
        object.__setattr__(self, "trigger_name", trigger_name)
        object.__setattr__(self, "level", level)
        self.__post_init__()

    def _default_operation(self) -> Operation:
        raise InvalidTrackerError(f"{type(self).__name__}: operation= is required (Insert, Update or Delete)")

    def _default_row(self, operation: Operation) -> RowRef:
        return Old if operation == Delete else New

    def _default_condition(self) -> c.ConditionNode | None:
        return None

    def __post_init__(self) -> None:
        owner = f"{type(self).__name__}({self.label!r})"
        _check_label(self.label, owner)
        if not isinstance(self.operation, Operation):
            raise InvalidTrackerError(f"{owner}: operation must be Insert, Update or Delete, got {self.operation!r}")
        if not isinstance(self.row, RowRef):
            raise InvalidTrackerError(f"{owner}: row must be Old or New, got {self.row!r}")
        if self.row.name.lower() not in self.operation.rows:
            raise InvalidTrackerError(
                f"{owner}: {_article(self.operation.name)} {self.operation.name} has no {self.row.name} row "
                f"(use row={'New' if self.operation == Insert else 'Old'})"
            )
        if self.level is not None and not isinstance(self.level, Level):
            raise InvalidTrackerError(f"{owner}: level must be Row or Statement, got {self.level!r}")
        if self.trigger_name is not None:
            names.validate_explicit(self.trigger_name, f"{owner}: trigger_name")
        if self.condition is not None:
            if not isinstance(self.condition, c.ConditionNode) or isinstance(self.condition, c.F):
                raise InvalidConditionError(f"{owner}: condition must be a condition such as Q() or AnyChange(), got {self.condition!r}")
            if self.operation != Update and c.has_change(self.condition):
                raise InvalidConditionError(
                    f"{owner}: change conditions (AnyChange, AllChange, ...) only apply to updates, "
                    f"not to {self.operation.name}: {self.condition!r}"
                )
            missing = c.rows_referenced(self.condition) - self.operation.rows
            if missing and not c.has_raw(self.condition):
                raise InvalidConditionError(
                    f"{owner}: the condition references the {'/'.join(sorted(r.upper() for r in missing))} row, "
                    f"which {_article(self.operation.name)} {self.operation.name} does not have"
                )

    @property
    def installs_trigger(self) -> bool:
        return True


class InsertEvent(RowEvent):
    """Records the NEW row of every insert (label ``insert``)."""

    _default_label = "insert"

    def _default_operation(self) -> Operation:
        return Insert


class UpdateEvent(RowEvent):
    """Records the NEW row of updates that change a tracked column (label ``update``)."""

    _default_label = "update"

    def _default_operation(self) -> Operation:
        return Update

    def _default_condition(self) -> c.ConditionNode | None:
        return c.AnyChange()


class DeleteEvent(RowEvent):
    """Records the OLD row of every delete (label ``delete``)."""

    _default_label = "delete"

    def _default_operation(self) -> Operation:
        return Delete


def map_tracker_columns(tracker: Tracker, rename: Callable[[str], str]) -> Tracker:
    """*tracker* with the column names of its condition passed through *rename*."""
    if isinstance(tracker, RowEvent) and tracker.condition is not None:
        return dataclasses.replace(tracker, condition=tracker.condition.map_columns(rename))
    return tracker
