"""SQL composition: the only place where SQL text meets names and values.

Layer: rendering primitives. Every other module builds SQL from the pieces here:

- :class:`SQL` is trusted constant text written by this library (never user input);
- :class:`Identifier` is a (possibly schema-qualified) name, always double-quoted with
  embedded quotes doubled;
- :class:`Literal` is a Python value rendered as a Postgres literal, escaped;
- :class:`Composed` is a sequence of pieces, produced by ``+`` and :meth:`SQL.format`;
- :func:`dollar_quote` wraps a function body in a dollar-quoted string whose tag is
  checked not to occur in the body.

Everything renders without a connection (``str(piece)`` or :func:`render`). The
rendering assumes ``standard_conforming_strings = on`` (the default since Postgres 9.1)
but stays correct when it is off: strings holding a backslash use the ``E''`` form with
backslashes doubled, which means the same under both settings.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re
import string
import uuid
from collections.abc import Iterable, Sequence
from typing import Union

from pghistory_core.errors import InvalidNameError, UnsupportedError

__all__ = [
    "SQL",
    "Composable",
    "Composed",
    "Identifier",
    "Literal",
    "LiteralValue",
    "SLOT",
    "block_comment",
    "Template",
    "dollar_quote",
    "join",
    "render",
]

#: Python values :class:`Literal` knows how to render.
LiteralValue = Union[
    None,
    bool,
    int,
    float,
    decimal.Decimal,
    str,
    bytes,
    uuid.UUID,
    datetime.date,
    datetime.datetime,
    datetime.time,
    datetime.timedelta,
    "JSON",
    Sequence["LiteralValue"],
]


class Composable:
    """A piece of SQL. Subclasses implement :meth:`as_string`."""

    __slots__ = ()

    def as_string(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        return self.as_string()

    def __add__(self, other: Composable) -> Composed:
        if not isinstance(other, Composable):
            return NotImplemented
        return Composed([self, other])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Composable) and type(self) is type(other) and self.as_string() == other.as_string()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.as_string()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_string()!r})"


class SQL(Composable):
    """Constant SQL text written by this library.

    ``SQL("SELECT {} FROM {}").format(Identifier("a"), Identifier("s", "t"))`` fills the
    ``{}`` placeholders (positional, or ``{name}`` by keyword) with composables. Literal
    braces are written ``{{`` and ``}}``.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"SQL() takes a str, got {type(text).__name__}")
        self._text = text

    def as_string(self) -> str:
        return self._text

    def format(self, *args: Composable, **kwargs: Composable) -> Composed:
        parts: list[Composable] = []
        auto = 0
        for literal_text, field, spec, conversion in _formatter.parse(self._text):
            if spec or conversion:
                raise ValueError(f"format specs are not allowed in SQL templates: {self._text!r}")
            if literal_text:
                parts.append(SQL(literal_text))
            if field is None:
                continue
            if field == "":
                value: object = args[auto]
                auto += 1
            elif field.isdigit():
                value = args[int(field)]
            else:
                value = kwargs[field]
            if not isinstance(value, Composable):
                raise TypeError(f"SQL.format() takes Composable pieces, got {type(value).__name__} for {{{field}}}")
            parts.append(value)
        return Composed(parts)

    def join(self, pieces: Iterable[Composable]) -> Composed:
        """Join *pieces* with this text as separator."""
        out: list[Composable] = []
        for index, piece in enumerate(pieces):
            if index:
                out.append(self)
            out.append(piece)
        return Composed(out)


class Composed(Composable):
    """A sequence of composables rendered one after the other."""

    __slots__ = ("_parts",)
    _parts: tuple[Composable, ...]

    def __init__(self, parts: Iterable[Composable]) -> None:
        flat: list[Composable] = []
        for part in parts:
            if not isinstance(part, Composable):
                raise TypeError(f"Composed() takes Composable pieces, got {type(part).__name__}")
            if isinstance(part, Composed):
                flat.extend(part._parts)
            else:
                flat.append(part)
        self._parts = tuple(flat)

    def as_string(self) -> str:
        return "".join(part.as_string() for part in self._parts)

    def __add__(self, other: Composable) -> Composed:
        if not isinstance(other, Composable):
            return NotImplemented
        return Composed([*self._parts, other])


class Identifier(Composable):
    """A name, optionally qualified: ``Identifier("public", "my table")`` renders
    ``"public"."my table"``. Quotes inside a name are doubled; NUL bytes and empty names
    are rejected because Postgres cannot store them."""

    __slots__ = ("_parts",)

    def __init__(self, *parts: str) -> None:
        if not parts:
            raise InvalidNameError("an identifier needs at least one part")
        for part in parts:
            if not isinstance(part, str):
                raise InvalidNameError(f"identifier parts must be str, got {type(part).__name__}: {part!r}")
            if part == "":
                raise InvalidNameError("an identifier cannot be empty")
            if "\x00" in part:
                raise InvalidNameError(f"an identifier cannot contain a NUL byte: {part!r}")
        self._parts = parts

    @property
    def parts(self) -> tuple[str, ...]:
        return self._parts

    def as_string(self) -> str:
        return ".".join('"' + part.replace('"', '""') + '"' for part in self._parts)


class JSON:
    """Marks a Python value to be rendered as a ``jsonb`` literal."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Literal(Composable):
    """A Python value rendered as an escaped Postgres literal."""

    __slots__ = ("_value",)

    def __init__(self, value: LiteralValue) -> None:
        self._value = value

    @property
    def value(self) -> LiteralValue:
        return self._value

    def as_string(self) -> str:
        return _render_literal(self._value)


def quote_string(text: str) -> str:
    """Render *text* as a string constant (``'...'``, or ``E'...'`` with a backslash)."""
    if "\x00" in text:
        raise UnsupportedError(f"Postgres text cannot contain a NUL byte: {text!r}")
    escaped = text.replace("'", "''")
    if "\\" in escaped:
        return "E'" + escaped.replace("\\", "\\\\") + "'"
    return "'" + escaped + "'"


def _render_literal(value: object) -> str:
    # bool before int: bool is a subclass of int.
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value) if value >= 0 else f"({value})"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f"'{value!r}'::double precision".replace("nan", "NaN").replace("inf", "Infinity")
        text = repr(value)
        # copysign: -0.0 compares equal to 0 but still needs parentheses.
        return text if math.copysign(1.0, value) > 0 else f"({text})"
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return "'NaN'::numeric" if value.is_nan() else f"'{'-' if value < 0 else ''}Infinity'::numeric"
        text = str(value)
        return f"({text})" if value.is_signed() else text
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, JSON):
        try:
            text = json.dumps(value.value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UnsupportedError(f"cannot render {value.value!r} as JSON: {exc}") from None
        return quote_string(text) + "::jsonb"
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime.datetime):
        cast = "timestamptz" if value.tzinfo is not None else "timestamp"
        return f"'{value.isoformat()}'::{cast}"
    if isinstance(value, datetime.date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, datetime.time):
        return f"'{value.isoformat()}'::time"
    if isinstance(value, datetime.timedelta):
        return f"'{value.total_seconds()} seconds'::interval"
    if isinstance(value, (bytes, bytearray, memoryview)):
        # E'' with a doubled backslash: the same bytes whatever standard_conforming_strings is.
        return "E'\\\\x" + bytes(value).hex() + "'::bytea"
    if isinstance(value, (list, tuple)):
        if not value:
            return "'{}'"  # ARRAY[] has no type; '{}' takes the column's array type
        return "ARRAY[" + ", ".join(_render_literal(item) for item in value) + "]"
    raise UnsupportedError(f"cannot render a {type(value).__name__} as an SQL literal: {value!r}")


class _Slot(Composable):
    """Where a :class:`Template` puts a literal at each :meth:`Template.fill`."""

    __slots__ = ()

    def as_string(self) -> str:
        raise UnsupportedError("a statement with a SLOT is rendered through sql.Template(...).fill(...)")

    def __repr__(self) -> str:
        return "SLOT"


#: A literal filled in later: ``Template(SQL("SELECT {}").format(SLOT)).fill(value)``.
SLOT = _Slot()


class Template:
    """A statement sent on a hot path (once per transaction or per statement): everything
    but its literal slots is rendered once, here.

    ``Template(SQL("SELECT set_config({}, {}, true)").format(Literal("a.b"), SLOT))``, then
    ``.fill(value)`` renders each :data:`SLOT` as ``Literal(value)``, in order: the text is
    the one ``render(SQL(...).format(..., Literal(value)))`` would give, without composing
    and walking the pieces again at every call.
    """

    __slots__ = ("_pieces", "_slots")

    def __init__(self, statement: Composable) -> None:
        parts = statement._parts if isinstance(statement, Composed) else (statement,)
        pieces: list[str] = []
        current: list[str] = []
        for part in parts:
            if part is SLOT:
                pieces.append("".join(current))
                current = []
            else:
                current.append(part.as_string())
        pieces.append("".join(current))
        self._pieces = tuple(pieces)
        self._slots = len(pieces) - 1

    @property
    def slots(self) -> int:
        return self._slots

    def fill(self, *values: LiteralValue) -> str:
        """The statement text with *values* as literals, one per slot."""
        if len(values) != self._slots:
            raise TypeError(f"this template has {self._slots} slot(s), got {len(values)} value(s)")
        pieces = self._pieces
        out = [pieces[0]]
        for value, piece in zip(values, pieces[1:]):
            out.append(_render_literal(value))
            out.append(piece)
        return "".join(out)


def join(separator: str, pieces: Iterable[Composable]) -> Composed:
    """Join *pieces* with the constant *separator*."""
    return SQL(separator).join(pieces)


def render(piece: Composable) -> str:
    """Render a composable to the SQL text sent to the server."""
    return piece.as_string()


_formatter = string.Formatter()
_TAG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def block_comment(text: str) -> SQL:
    """``/*text*/``; *text* may not open or close a comment (Postgres nests them)."""
    if "/*" in text or "*/" in text or "\x00" in text or text.endswith("/"):
        raise UnsupportedError(f"text cannot be put in a comment: {text!r}")
    return SQL("/*" + text + "*/")


def dollar_quote(body: str, tag: str = "pgh") -> SQL:
    """Dollar-quote *body* (a function body) with ``$tag$``.

    If ``$tag$`` occurs in the body, a numbered variant (``$pgh1$``, ...) is chosen, so a
    body holding user text (labels, raw conditions) can never end the string early.
    """
    if not _TAG_RE.match(tag):
        raise InvalidNameError(f"invalid dollar-quote tag: {tag!r}")
    candidate = tag
    counter = 0
    while f"${candidate}$" in body or body.endswith(f"${candidate}"):
        counter += 1
        candidate = f"{tag}{counter}"
    return SQL(f"${candidate}$" + body + f"${candidate}$")

