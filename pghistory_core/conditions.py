"""Conditions: when a tracker fires, as a small tree of data nodes.

Layer: description + rendering. Nodes name columns of the tracked table (adapters
translate ORM field names first). One compiler, :func:`compile_condition`, turns a tree
into SQL for row level (``OLD``/``NEW`` in a trigger's ``WHEN``) and statement level
(aliases over the transition tables), by swapping the two row qualifiers.

The vocabulary is django-pgtrigger's: ``Q(old__dollars__gte=100, new__dollars__lt=100)``,
``F("new__dollars")``, ``AnyChange("email")``, ``Condition("raw sql")``, combined with
``&``, ``|`` and ``~``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Union

from pghistory_core import sql
from pghistory_core.errors import ConfigurationError, InvalidConditionError, UnsupportedError
from pghistory_core.schema import Table

__all__ = [
    "ConditionNode",
    "Q",
    "F",
    "AnyChange",
    "AllChange",
    "AnyDontChange",
    "AllDontChange",
    "Condition",
    "And",
    "Or",
    "Not",
    "CompileContext",
    "compile_condition",
    "LOOKUPS",
]

ROWS = ("old", "new")


class ConditionNode:
    """Base of every condition node; supports ``&``, ``|`` and ``~``."""

    def __and__(self, other: ConditionNode) -> ConditionNode:
        _check_node(other)
        return And((self, other))

    def __or__(self, other: ConditionNode) -> ConditionNode:
        _check_node(other)
        return Or((self, other))

    def __invert__(self) -> ConditionNode:
        return Not(self)

    def walk(self) -> Iterable[ConditionNode]:
        yield self

    def map_columns(self, rename: Callable[[str], str]) -> ConditionNode:
        """This condition with every column name passed through *rename*.

        Adapters use it to turn ORM field names into column names. Raw
        :class:`Condition` SQL is returned unchanged (it is written over columns).
        """
        return self


def _rename_ref(ref: str, rename: Callable[[str], str]) -> str:
    """``old__<name>[__lookup]`` with the name renamed; malformed refs are kept for
    the constructors to report."""
    parts = ref.split("__")
    if len(parts) >= 2 and parts[1]:
        parts[1] = rename(parts[1])
    return "__".join(parts)


def _check_node(other: object) -> None:
    if not isinstance(other, ConditionNode):
        raise InvalidConditionError(f"can only combine conditions with conditions, got {other!r}")


@dataclasses.dataclass(frozen=True)
class _Junction(ConditionNode):
    items: tuple[ConditionNode, ...]

    def walk(self) -> Iterable[ConditionNode]:
        yield self
        for item in self.items:
            yield from item.walk()


    def map_columns(self, rename: Callable[[str], str]) -> ConditionNode:
        return type(self)(tuple(item.map_columns(rename) for item in self.items))


class And(_Junction):
    """All items hold."""


class Or(_Junction):
    """At least one item holds."""


@dataclasses.dataclass(frozen=True)
class Not(ConditionNode):
    item: ConditionNode

    def walk(self) -> Iterable[ConditionNode]:
        yield self
        yield from self.item.walk()

    def map_columns(self, rename: Callable[[str], str]) -> ConditionNode:
        return Not(self.item.map_columns(rename))


def _split_ref(ref: str, what: str) -> tuple[str, str, list[str]]:
    """Split ``old__col__lookup`` into (row, column, rest)."""
    if not isinstance(ref, str):
        raise InvalidConditionError(f"{what}: expected a str like 'new__field', got {ref!r}")
    parts = ref.split("__")
    if len(parts) < 2 or parts[0] not in ROWS or not parts[1]:
        raise InvalidConditionError(
            f"{what} {ref!r} must start with 'old__' or 'new__' followed by a column name "
            "(conditions can only reference the old or the new row)"
        )
    return parts[0], parts[1], parts[2:]


@dataclasses.dataclass(frozen=True)
class F(ConditionNode):
    """A reference to a column of the old or new row: ``F("new__dollars")``."""

    ref: str

    def __post_init__(self) -> None:
        row, column, rest = _split_ref(self.ref, "F()")
        if rest:
            raise InvalidConditionError(f"F({self.ref!r}) takes 'old__column' or 'new__column', without a lookup")

    @property
    def row(self) -> str:
        return self.ref.split("__")[0]

    @property
    def column(self) -> str:
        return self.ref.split("__", 2)[1]

    def map_columns(self, rename: Callable[[str], str]) -> ConditionNode:
        return F(_rename_ref(self.ref, rename))


#: lookup name -> renderer(lhs, rhs) ; rhs is None only for lookups that take no value.
def _like_contains(lhs: sql.Composable, rhs: sql.Composable) -> sql.Composable:
    return sql.SQL("strpos({}::text, {}::text) > 0").format(lhs, rhs)


LOOKUPS: dict[str, Callable[[sql.Composable, sql.Composable], sql.Composable]] = {
    "exact": lambda lhs, rhs: sql.SQL("{} = {}").format(lhs, rhs),
    "iexact": lambda lhs, rhs: sql.SQL("lower({}::text) = lower({}::text)").format(lhs, rhs),
    "lt": lambda lhs, rhs: sql.SQL("{} < {}").format(lhs, rhs),
    "lte": lambda lhs, rhs: sql.SQL("{} <= {}").format(lhs, rhs),
    "gt": lambda lhs, rhs: sql.SQL("{} > {}").format(lhs, rhs),
    "gte": lambda lhs, rhs: sql.SQL("{} >= {}").format(lhs, rhs),
    "df": lambda lhs, rhs: sql.SQL("{} IS DISTINCT FROM {}").format(lhs, rhs),
    "ndf": lambda lhs, rhs: sql.SQL("{} IS NOT DISTINCT FROM {}").format(lhs, rhs),
    "contains": _like_contains,
    "icontains": lambda lhs, rhs: sql.SQL("strpos(lower({}::text), lower({}::text)) > 0").format(lhs, rhs),
    "startswith": lambda lhs, rhs: sql.SQL("starts_with({}::text, {}::text)").format(lhs, rhs),
    "istartswith": lambda lhs, rhs: sql.SQL("starts_with(lower({}::text), lower({}::text))").format(lhs, rhs),
    "endswith": lambda lhs, rhs: sql.SQL("right({0}::text, length({1}::text)) = {1}::text").format(lhs, rhs),
    "iendswith": lambda lhs, rhs: sql.SQL("lower(right({0}::text, length({1}::text))) = lower({1}::text)").format(
        lhs, rhs
    ),
}
_SPECIAL_LOOKUPS = ("in", "isnull")


def _freeze(value: object) -> object:
    """Lists become tuples (hashable); sets become tuples in a fixed order, so the rendered
    SQL (and the content hash in its COMMENT) is the same in every process."""
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(value, key=lambda item: (type(item).__name__, repr(item))))
    if isinstance(value, list):
        return tuple(value)
    return value


@dataclasses.dataclass(frozen=True, init=False)
class Q(ConditionNode):
    """Filters over the old and new row, ANDed: ``Q(old__x__gte=100, new__x__lt=100)``.

    Keys are ``old__<column>[__<lookup>]`` or ``new__<column>[__<lookup>]``; values are
    Python values (rendered as escaped literals) or :class:`F` references. Lookups:
    ``exact`` (default; ``None`` means ``IS NULL``), ``iexact``, ``lt``, ``lte``, ``gt``,
    ``gte``, ``in``, ``isnull``, ``df`` (IS DISTINCT FROM), ``ndf``, ``contains``,
    ``icontains``, ``startswith``, ``istartswith``, ``endswith``, ``iendswith``.
    """

    filters: tuple[tuple[str, object], ...]

    def __init__(self, **filters: object) -> None:
        if not filters:
            raise InvalidConditionError("Q() needs at least one filter, e.g. Q(new__status='done')")
        items = tuple(sorted(filters.items()))
        for key, value in items:
            _, _, rest = _split_ref(key, "Q() key")
            if len(rest) > 1:
                raise InvalidConditionError(f"Q() key {key!r}: expected old__<column>__<lookup>, got extra parts")
            lookup = rest[0] if rest else "exact"
            if lookup not in LOOKUPS and lookup not in _SPECIAL_LOOKUPS:
                raise InvalidConditionError(
                    f"Q() key {key!r}: unknown lookup {lookup!r}; known lookups: "
                    f"{', '.join(sorted([*LOOKUPS, *_SPECIAL_LOOKUPS]))}"
                )
            if lookup == "in" and (isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset))):
                raise InvalidConditionError(f"Q() key {key!r}: 'in' needs a list or tuple of values, got {value!r}")
            if lookup == "isnull" and not isinstance(value, bool):
                raise InvalidConditionError(f"Q() key {key!r}: 'isnull' needs True or False, got {value!r}")
            if isinstance(value, ConditionNode) and not isinstance(value, F):
                raise InvalidConditionError(f"Q() key {key!r}: a value can be a literal or F(), got {value!r}")
        object.__setattr__(self, "filters", tuple((k, _freeze(v)) for k, v in items))

    def __repr__(self) -> str:
        return "Q(" + ", ".join(f"{k}={v!r}" for k, v in self.filters) + ")"

    def map_columns(self, rename: Callable[[str], str]) -> ConditionNode:
        return Q(
            **{
                _rename_ref(key, rename): (value.map_columns(rename) if isinstance(value, F) else value)
                for key, value in self.filters
            }
        )


@dataclasses.dataclass(frozen=True, init=False)
class _ChangeCondition(ConditionNode):
    """Base of the four change conditions (update trackers only)."""

    columns: tuple[str, ...]
    exclude: tuple[str, ...]
    exclude_auto: bool

    def __init__(self, *columns: str, exclude: Iterable[str] = (), exclude_auto: bool = False) -> None:
        if isinstance(exclude, str):
            exclude = (exclude,)
        object.__setattr__(self, "columns", tuple(columns))
        object.__setattr__(self, "exclude", tuple(exclude))
        object.__setattr__(self, "exclude_auto", bool(exclude_auto))
        for name in (*self.columns, *self.exclude):
            if not isinstance(name, str) or not name:
                raise InvalidConditionError(f"{type(self).__name__}(): column names must be non-empty str, got {name!r}")

    def map_columns(self, rename: Callable[[str], str]) -> ConditionNode:
        return type(self)(
            *(rename(name) for name in self.columns),
            exclude=tuple(rename(name) for name in self.exclude),
            exclude_auto=self.exclude_auto,
        )

    def __repr__(self) -> str:
        args = [repr(c) for c in self.columns]
        if self.exclude:
            args.append(f"exclude={list(self.exclude)!r}")
        if self.exclude_auto:
            args.append("exclude_auto=True")
        return f"{type(self).__name__}({', '.join(args)})"


class AnyChange(_ChangeCondition):
    """Fires when any of the columns (default: the tracked columns) changed."""


class AllChange(_ChangeCondition):
    """Fires when every one of the columns changed."""


class AnyDontChange(_ChangeCondition):
    """Fires when at least one of the columns did not change."""


class AllDontChange(_ChangeCondition):
    """Fires when none of the columns changed."""


@dataclasses.dataclass(frozen=True)
class Condition(ConditionNode):
    """Raw SQL over ``OLD`` and ``NEW``, used as written in a row-level ``WHEN``.

    Raw SQL cannot be rewritten for transition tables, so a tracker with a raw
    condition runs at row level (see :mod:`pghistory_core.trackers`).
    """

    sql: str

    def __post_init__(self) -> None:
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise InvalidConditionError(f"Condition() needs non-empty SQL text, got {self.sql!r}")
        if ";" in self.sql:
            raise InvalidConditionError(f"Condition() must be a single boolean expression, got {self.sql!r}")


# --------------------------------------------------------------------------------------
# Compilation


@dataclasses.dataclass(frozen=True)
class CompileContext:
    """What the compiler needs: the table, the default column set for change conditions,
    the SQL qualifiers of the old and new row, and which rows exist for the operation."""

    table: Table
    tracked: tuple[str, ...]
    old: sql.Composable | None
    new: sql.Composable | None
    where: str  # for messages, e.g. "tracker 'update' on public.account"
    raw_allowed: bool = True

    def row(self, row: str) -> sql.Composable:
        qualifier = self.old if row == "old" else self.new
        if qualifier is None:
            raise InvalidConditionError(
                f"{self.where}: the condition references the {row.upper()} row, which this operation does not have"
            )
        return qualifier

    def column(
        self, row: str, column: str, *, for_comparison: bool = False, for_change: bool = False
    ) -> sql.Composable:
        """The reference to *column* of the OLD or NEW *row*; cast for a lookup
        (``for_comparison``: types without ``=``) or to tell a change (``for_change``:
        see :attr:`pghistory_core.Column.change_cast`)."""
        try:
            col = self.table.column(column)
        except ConfigurationError as exc:
            raise type(exc)(f"{self.where}: {exc}") from None
        ref: sql.Composable = self.row(row) + sql.SQL(".") + sql.Identifier(column)
        cast = col.change_cast if for_change else col.comparison_cast if for_comparison else None
        if cast:
            ref = sql.SQL("({})::{}").format(ref, sql.SQL(cast))
        return ref


def _compile_and(node: And, ctx: CompileContext) -> sql.Composable:
    return sql.SQL("(") + sql.join(" AND ", [compile_condition(i, ctx) for i in node.items]) + sql.SQL(")")


def _compile_or(node: Or, ctx: CompileContext) -> sql.Composable:
    return sql.SQL("(") + sql.join(" OR ", [compile_condition(i, ctx) for i in node.items]) + sql.SQL(")")


def _compile_not(node: Not, ctx: CompileContext) -> sql.Composable:
    return sql.SQL("(NOT {})").format(compile_condition(node.item, ctx))


def _value(value: object, ctx: CompileContext) -> sql.Composable:
    if isinstance(value, F):
        return ctx.column(value.row, value.column, for_comparison=True)
    return sql.Literal(value)  # type: ignore[arg-type]


def _compile_q(node: Q, ctx: CompileContext) -> sql.Composable:
    parts: list[sql.Composable] = []
    for key, value in node.filters:
        row, column, rest = _split_ref(key, "Q() key")
        lookup = rest[0] if rest else "exact"
        # Types without "=" (json, xml, geometric) are compared through a cast, as in
        # the change conditions.
        lhs = ctx.column(row, column, for_comparison=True)
        if lookup == "isnull":
            parts.append(sql.SQL("{} IS NULL" if value else "{} IS NOT NULL").format(lhs))
        elif lookup == "in":
            values = list(value)  # type: ignore[call-overload]
            if not values:
                parts.append(sql.SQL("FALSE"))
            else:
                parts.append(sql.SQL("{} IN ({})").format(lhs, sql.join(", ", [_value(v, ctx) for v in values])))
        elif lookup == "exact" and value is None:
            parts.append(sql.SQL("{} IS NULL").format(lhs))
        else:
            parts.append(LOOKUPS[lookup](lhs, _value(value, ctx)))
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("(") + sql.join(" AND ", parts) + sql.SQL(")")


def change_columns(node: _ChangeCondition, ctx: CompileContext) -> tuple[str, ...]:
    """The columns a change condition compares, after defaults and exclusions."""
    what = f"{ctx.where}: {node!r}"
    columns = ctx.table.check_columns(node.columns, what) if node.columns else ctx.tracked
    excluded = set(ctx.table.check_columns(node.exclude, what))
    if node.exclude_auto:
        excluded.update(c.name for c in ctx.table.columns if c.auto)
    result = tuple(c for c in columns if c not in excluded)
    if not result:
        raise InvalidConditionError(f"{what} compares no column after exclusions")
    return result


def _compile_change(node: _ChangeCondition, ctx: CompileContext) -> sql.Composable:
    columns = change_columns(node, ctx)
    olds = [ctx.column("old", c, for_change=True) for c in columns]
    news = [ctx.column("new", c, for_change=True) for c in columns]

    def row_of(items: list[sql.Composable]) -> sql.Composable:
        return items[0] if len(items) == 1 else sql.SQL("ROW(") + sql.join(", ", items) + sql.SQL(")")

    def each(template: str, joiner: str) -> sql.Composable:
        pieces = [sql.SQL(template).format(o, n) for o, n in zip(olds, news)]
        return pieces[0] if len(pieces) == 1 else sql.SQL("(") + sql.join(joiner, pieces) + sql.SQL(")")

    if isinstance(node, AnyChange):
        return sql.SQL("{} IS DISTINCT FROM {}").format(row_of(olds), row_of(news))
    if isinstance(node, AllDontChange):
        return sql.SQL("{} IS NOT DISTINCT FROM {}").format(row_of(olds), row_of(news))
    if isinstance(node, AllChange):
        return each("{} IS DISTINCT FROM {}", " AND ")
    return each("{} IS NOT DISTINCT FROM {}", " OR ")  # AnyDontChange


def _compile_raw(node: Condition, ctx: CompileContext) -> sql.Composable:
    if not ctx.raw_allowed:
        raise UnsupportedError(
            f"{ctx.where}: a raw Condition() cannot run at statement level (it names OLD/NEW); "
            "use Q()/F()/AnyChange() or level=Row"
        )
    # Trusted by construction: raw conditions are SQL written by the developer, as in
    # django-pgtrigger. Wrapped in parentheses so it combines safely.
    return sql.SQL("(" + node.sql + ")")


_COMPILERS: Mapping[type, Callable[..., sql.Composable]] = {
    And: _compile_and,
    Or: _compile_or,
    Not: _compile_not,
    Q: _compile_q,
    AnyChange: _compile_change,
    AllChange: _compile_change,
    AnyDontChange: _compile_change,
    AllDontChange: _compile_change,
    Condition: _compile_raw,
}


def compile_condition(node: ConditionNode, ctx: CompileContext) -> sql.Composable:
    """Render *node* as a boolean SQL expression for *ctx*."""
    compiler = _COMPILERS.get(type(node))
    if compiler is None:
        if isinstance(node, F):
            raise InvalidConditionError(f"{ctx.where}: F() is a value, not a condition; use it inside Q()")
        raise InvalidConditionError(f"{ctx.where}: not a condition: {node!r}")
    return compiler(node, ctx)


def rows_referenced(node: ConditionNode) -> set[str]:
    """Which rows ('old', 'new') a condition reads; change conditions read both."""
    rows: set[str] = set()
    for item in node.walk():
        if isinstance(item, Q):
            for key, value in item.filters:
                rows.add(key.split("__", 1)[0])
                if isinstance(value, F):
                    rows.add(value.row)
            continue
        if isinstance(item, _ChangeCondition):
            rows.update(ROWS)
        elif isinstance(item, Condition):
            text = item.sql.upper()
            if "OLD" in text:
                rows.add("old")
            if "NEW" in text:
                rows.add("new")
    return rows


def has_raw(node: ConditionNode) -> bool:
    return any(isinstance(item, Condition) for item in node.walk())


def has_change(node: ConditionNode) -> bool:
    return any(isinstance(item, _ChangeCondition) for item in node.walk())


ConditionLike = Union[ConditionNode, None]
