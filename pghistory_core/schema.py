"""Tracked tables: the columns and keys pghistory needs to know about.

Layer: description. Frozen value objects, validated on construction and compared by
value. Adapters translate an ORM model into a :class:`Table`; the core never inspects an
ORM.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from pghistory_core import names
from pghistory_core.errors import ConfigurationError, UnknownColumnError

__all__ = ["Column", "Table"]

# Types with no equality operator (or one that compares areas: box, circle): compared
# through a cast, in change conditions and in Q()/F() lookups.
_CAST_FOR_COMPARISON = {
    "json": "jsonb",
    "xml": "text",
    "point": "text",
    "line": "text",
    "lseg": "text",
    "box": "text",
    "path": "text",
    "polygon": "text",
    "circle": "text",
}

# Built-in types whose "=" tells a changed value from an unchanged one (arrays of them
# too, element by element): change conditions compare them as they are. Every other type
# (a domain, a composite or an extension type the core cannot see into, an array of
# json) is compared as text: "=" may not exist for it (an UPDATE of the table would fail
# in the trigger) or may ignore a change the row really holds (citext ignores case).
_PLAIN_EQUALITY = frozenset(
    {
        "smallint", "integer", "bigint", "int", "int2", "int4", "int8",
        "smallserial", "serial", "bigserial", "serial2", "serial4", "serial8",
        "real", "float4", "double precision", "float8", "float", "numeric", "decimal", "money",
        "text", "character varying", "varchar", "character", "char", "bpchar", "name",
        "boolean", "bool", "uuid", "bytea", "jsonb", "oid",
        "date", "time", "time without time zone", "time with time zone", "timetz",
        "timestamp", "timestamp without time zone", "timestamp with time zone", "timestamptz",
        "interval", "inet", "cidr", "macaddr", "macaddr8", "bit", "bit varying", "varbit",
        "tsvector", "tsquery", "pg_lsn", "xid8",
        "int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange",
        "int4multirange", "int8multirange", "nummultirange", "tsmultirange", "tstzmultirange",
        "datemultirange",
    }
)

_TYPMOD_RE = re.compile(r"\s*\([^)]*\)")
_ARRAY_RE = re.compile(r"\s*(\[\s*\d*\s*\]|\barray\b)\s*$")


def _type_key(type_: str) -> tuple[str, bool]:
    """A type's name for the lookups above (lower case, no length or precision, no
    ``pg_catalog.``) and whether it is an array type."""
    text = _TYPMOD_RE.sub("", " ".join(type_.lower().split()))
    is_array = False
    while True:
        stripped = _ARRAY_RE.sub("", text)
        if stripped == text:
            break
        text, is_array = stripped, True
    if text.startswith("pg_catalog."):
        text = text[len("pg_catalog.") :]
    return text, is_array

_TYPE_RE = re.compile(r"^[A-Za-z_\"][A-Za-z0-9_ .,()\[\]\"]*$")


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of a tracked table.

    ``type`` is the SQL type as Postgres prints it (``integer``, ``numeric(10,2)``,
    ``timestamp with time zone``, ``"my schema"."my enum"``...). ``auto`` marks columns
    set automatically on save (Django ``auto_now``), which ``exclude_auto`` skips in
    change conditions. ``generated`` marks generated columns: mirrored, but never
    written by the triggers' ``INSERT`` into the tracked table (reverts skip them).
    """

    name: str
    type: str
    nullable: bool = True
    auto: bool = False
    generated: bool = False

    def __post_init__(self) -> None:
        names.validate_explicit(self.name, "column name")
        if not isinstance(self.type, str) or not _TYPE_RE.match(self.type.strip()):
            raise ConfigurationError(f"column {self.name!r}: invalid SQL type {self.type!r}")
        if ";" in self.type or "--" in self.type:
            raise ConfigurationError(f"column {self.name!r}: invalid SQL type {self.type!r}")

    @property
    def comparison_cast(self) -> str | None:
        """The type to cast to before comparing in ``Q()``/``F()`` lookups, for types
        without ``=``."""
        name, is_array = _type_key(self.type)
        return None if is_array else _CAST_FOR_COMPARISON.get(name)

    @property
    def change_cast(self) -> str | None:
        """The type to cast to before telling whether the value changed (change
        conditions, revert's conflict check): None for built-in types whose ``=`` does,
        ``jsonb`` for json, ``text`` for every other type."""
        name, is_array = _type_key(self.type)
        if name in _PLAIN_EQUALITY:
            return None
        if not is_array and name in _CAST_FOR_COMPARISON:
            return _CAST_FOR_COMPARISON[name]
        return "text"


@dataclasses.dataclass(frozen=True)
class Table:
    """A table to track: schema, name, columns (in table order) and primary key."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ("id",)
    schema: str = "public"

    def __post_init__(self) -> None:
        names.validate_explicit(self.name, "table name")
        names.validate_explicit(self.schema, "schema name")
        object.__setattr__(self, "columns", tuple(self.columns))
        if isinstance(self.primary_key, str):
            object.__setattr__(self, "primary_key", (self.primary_key,))
        else:
            object.__setattr__(self, "primary_key", tuple(self.primary_key))
        if not self.columns:
            raise ConfigurationError(f"table {self.qualified_name}: a tracked table needs at least one column")
        seen: set[str] = set()
        for column in self.columns:
            if not isinstance(column, Column):
                raise ConfigurationError(
                    f"table {self.qualified_name}: columns must be Column objects, got {column!r}"
                )
            if column.name in seen:
                raise ConfigurationError(f"table {self.qualified_name}: column {column.name!r} is listed twice")
            seen.add(column.name)
        for key in self.primary_key:
            if key not in seen:
                raise UnknownColumnError(
                    f"table {self.qualified_name}: primary key column {key!r} is not one of its columns "
                    f"({', '.join(sorted(seen))})"
                )

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise UnknownColumnError(
            f"table {self.qualified_name} has no column {name!r}; its columns are: {', '.join(self.column_names)}"
        )

    def check_columns(self, column_names: Iterable[str], what: str) -> tuple[str, ...]:
        """Return *column_names* as a tuple after checking each exists."""
        result = []
        for name in column_names:
            if not isinstance(name, str):
                raise ConfigurationError(f"{what}: column names must be str, got {name!r}")
            if name not in self.column_names:
                raise UnknownColumnError(
                    f"{what}: table {self.qualified_name} has no column {name!r}; "
                    f"its columns are: {', '.join(self.column_names)}"
                )
            result.append(name)
        return tuple(result)
