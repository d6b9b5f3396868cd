"""Pure tier: the SQL composition module quotes names, escapes values and dollar-quotes bodies.

Layer: tests (pure tier, no database). Everything here is what ends up in the SQL text sent
to Postgres, so each expectation is the exact text.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid

import pytest

from pghistory_core import sql
from pghistory_core.errors import InvalidNameError, UnsupportedError
from pghistory_core.sql import JSON, SQL, Composed, Identifier, Literal, dollar_quote

INJECTION = "x'); DROP TABLE t; --"

# ------------------------------------------------------------------------ a small lexer
# Reads SQL the way Postgres splits it into literals, so tests can check that user text
# stays inside one literal. Also imported by the other pure-tier modules.

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def tokens(text: str) -> list[tuple[str, str]]:
    """Split *text* into ("ident" | "string" | "dollar" | "comment" | "code", value) tokens.

    Strings are decoded (``''`` -> ``'``; in ``E''`` strings ``\\x`` -> ``x``); code chunks
    that are only whitespace are dropped. Unterminated literals fail the test.
    """
    out: list[tuple[str, str]] = []
    code: list[str] = []
    i, n = 0, len(text)

    def flush() -> None:
        if "".join(code).strip():
            out.append(("code", "".join(code)))
        code.clear()

    while i < n:
        ch = text[i]
        prev = text[i - 1] if i else " "
        if ch == '"':
            flush()
            j, value = i + 1, []
            while True:
                assert j < n, f"unterminated quoted identifier in {text!r}"
                if text[j] == '"':
                    if text[j + 1 : j + 2] == '"':
                        value.append('"')
                        j += 2
                        continue
                    break
                value.append(text[j])
                j += 1
            out.append(("ident", "".join(value)))
            i = j + 1
        elif ch == "'" or (ch in "eE" and text[i + 1 : i + 2] == "'" and not _is_ident_char(prev)):
            flush()
            escapes = ch != "'"
            j, value = (i + 2 if escapes else i + 1), []
            while True:
                assert j < n, f"unterminated string in {text!r}"
                if escapes and text[j] == "\\":
                    value.append(text[j + 1])
                    j += 2
                    continue
                if text[j] == "'":
                    if text[j + 1 : j + 2] == "'":
                        value.append("'")
                        j += 2
                        continue
                    break
                value.append(text[j])
                j += 1
            out.append(("string", "".join(value)))
            i = j + 1
        elif ch == "$" and not _is_ident_char(prev) and (match := _DOLLAR_TAG.match(text, i)):
            flush()
            tag = match.group(0)
            end = text.find(tag, match.end())
            assert end >= 0, f"unterminated dollar quote {tag} in {text!r}"
            out.append(("dollar", text[match.end() : end]))
            i = end + len(tag)
        elif text.startswith("--", i):
            flush()
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(("comment", text[i:end]))
            i = end
        elif text.startswith("/*", i):
            flush()
            end = text.find("*/", i)
            assert end >= 0, f"unterminated comment in {text!r}"
            out.append(("comment", text[i : end + 2]))
            i = end + 2
        else:
            code.append(ch)
            i += 1
    flush()
    return out


def code_outside_literals(text: str) -> str:
    """The code and comments of *text*, with dollar-quoted bodies (function bodies, which
    are code themselves) read recursively; string literals and identifiers removed."""
    parts = []
    for kind, value in tokens(text):
        if kind in ("code", "comment"):
            parts.append(value)
        elif kind == "dollar":
            parts.append(code_outside_literals(value))
    return " ".join(parts)


# --------------------------------------------------------------------------- Identifier


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("plain",), '"plain"'),
        (("UpperCase",), '"UpperCase"'),
        (("with space",), '"with space"'),
        (('say "hi"',), '"say ""hi"""'),
        (('"',), '""""'),
        (("a.b",), '"a.b"'),
        (("$dollar$",), '"$dollar$"'),
        (("ünïcødé 表",), '"ünïcødé 表"'),
        (("public", "my table"), '"public"."my table"'),
        (('s"c', 't"b'), '"s""c"."t""b"'),
        (("db", "schema", "table"), '"db"."schema"."table"'),
        ((INJECTION,), '"x\'); DROP TABLE t; --"'),
    ],
)
def test_identifier_is_always_quoted_with_quotes_doubled(parts: tuple[str, ...], expected: str) -> None:
    assert str(Identifier(*parts)) == expected
    assert Identifier(*parts).parts == parts


def test_identifier_with_a_dot_is_one_name_not_a_qualified_one() -> None:
    assert Identifier("a.b") != Identifier("a", "b")
    assert [kind for kind, _ in tokens(str(Identifier("a.b")))] == ["ident"]


@pytest.mark.parametrize(
    ("parts", "fragment"),
    [
        (("",), "empty"),
        (("public", ""), "empty"),
        (("bad\x00name",), "NUL"),
        ((), "at least one part"),
        ((3,), "int"),
    ],
)
def test_identifier_rejects_names_postgres_cannot_store(parts: tuple[object, ...], fragment: str) -> None:
    with pytest.raises(InvalidNameError, match=fragment):
        Identifier(*parts)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ Literal

_TZ = datetime.timezone(datetime.timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "NULL"),
        (True, "TRUE"),
        (False, "FALSE"),
        (0, "0"),
        (42, "42"),
        (10**30, "1000000000000000000000000000000"),
        (1.5, "1.5"),
        (1e100, "1e+100"),
        (float("nan"), "'NaN'::double precision"),
        (float("inf"), "'Infinity'::double precision"),
        (float("-inf"), "'-Infinity'::double precision"),
        (decimal.Decimal("10.25"), "10.25"),
        (decimal.Decimal("NaN"), "'NaN'::numeric"),
        (decimal.Decimal("Infinity"), "'Infinity'::numeric"),
        (decimal.Decimal("-Infinity"), "'-Infinity'::numeric"),
        ("plain", "'plain'"),
        ("", "''"),
        ("it's", "'it''s'"),
        ("''", "''''''"),
        ("back\\slash", "E'back\\\\slash'"),
        ("both ' and \\", "E'both '' and \\\\'"),
        ("ünïcødé 表 $pgh$", "'ünïcødé 表 $pgh$'"),
        ("line\nbreak", "'line\nbreak'"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "'12345678-1234-5678-1234-567812345678'::uuid"),
        (datetime.date(2024, 2, 29), "'2024-02-29'::date"),
        (datetime.datetime(2024, 2, 29, 13, 14, 15), "'2024-02-29T13:14:15'::timestamp"),
        (datetime.datetime(2024, 2, 29, 13, 14, 15, 123, tzinfo=_TZ), "'2024-02-29T13:14:15.000123+05:30'::timestamptz"),
        (datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), "'2024-01-01T00:00:00+00:00'::timestamptz"),
        (datetime.time(9, 30), "'09:30:00'::time"),
        (datetime.timedelta(minutes=1, seconds=30), "'90.0 seconds'::interval"),
        ([1, 2, 3], "ARRAY[1, 2, 3]"),
        (("a", "it's"), "ARRAY['a', 'it''s']"),
        ([[1, None], [-2, 3]], "ARRAY[ARRAY[1, NULL], ARRAY[(-2), 3]]"),
        (JSON({"b": [1, 2.5, None, True], "a": "x"}), '\'{"b":[1,2.5,null,true],"a":"x"}\'::jsonb'),
        (JSON({"quote": "it's", "nonascii": "é"}), "'{\"quote\":\"it''s\",\"nonascii\":\"é\"}'::jsonb"),
        (JSON("back\\slash"), "E'\"back\\\\\\\\slash\"'::jsonb"),
        (JSON(None), "'null'::jsonb"),
    ],
    ids=repr,
)
def test_literal_renders_each_python_type(value: sql.LiteralValue, expected: str) -> None:
    assert str(Literal(value)) == expected


@pytest.mark.parametrize("value", [-5, -1.5, decimal.Decimal("-2.50"), -0.0, decimal.Decimal("-0")], ids=repr)
def test_negative_numbers_are_parenthesised(value: sql.LiteralValue) -> None:
    # A bare "-5" placed after "-" in a template would start a "--" comment, and "-5::text"
    # casts before negating; the parentheses make every negative number one operand.
    text = str(Literal(value))
    assert text.startswith("(-") and text.endswith(")"), text
    assert str(SQL("1 -{}").format(Literal(value))).count("--") == 0


def test_bytes_use_the_E_form_so_they_mean_the_same_whatever_standard_conforming_strings() -> None:
    # The module promises literals holding a backslash are written E'...' with the
    # backslash doubled; '\x01ff' would be read as an escape with the setting off.
    assert str(Literal(b"\x01\xff")) == "E'\\\\x01ff'::bytea"
    assert str(Literal(b"")) == "E'\\\\x'::bytea"
    assert tokens(str(Literal(b"\x01\xff"))) == [("string", "\\x01ff"), ("code", "::bytea")]


def test_bytes_like_values_render_as_bytea() -> None:
    assert str(Literal(bytearray(b"\x00a"))) == str(Literal(b"\x00a"))
    assert str(Literal(memoryview(b"\x00a"))) == str(Literal(b"\x00a"))


def test_text_with_a_nul_byte_is_rejected() -> None:
    with pytest.raises(UnsupportedError, match="NUL"):
        str(Literal("a\x00b"))


def test_json_that_is_not_valid_json_is_rejected_before_postgres_sees_it() -> None:
    # json.dumps writes NaN/Infinity by default, which jsonb refuses at install time.
    with pytest.raises(UnsupportedError, match="NaN|JSON"):
        str(Literal(JSON({"x": float("nan")})))


def test_unknown_python_types_are_rejected_with_the_value() -> None:
    with pytest.raises(UnsupportedError, match=r"object.*<object object"):
        str(Literal(object()))  # type: ignore[arg-type]


def test_injection_label_renders_as_one_string_literal() -> None:
    text = str(Literal(INJECTION))
    assert text == "'x''); DROP TABLE t; --'"
    assert tokens(text) == [("string", INJECTION)]
    assert code_outside_literals(str(SQL("SELECT {}").format(Literal(INJECTION)))) == "SELECT "


@pytest.mark.parametrize("value", ["a\\'b", "\\", "'\\'", "\\\\'; DROP TABLE t; --"])
def test_strings_with_backslashes_and_quotes_round_trip(value: str) -> None:
    assert tokens(str(Literal(value))) == [("string", value)]


# ------------------------------------------------------------------------ SQL.format


def test_format_fills_positional_placeholders() -> None:
    query = SQL("SELECT {} FROM {} WHERE {} = {}").format(
        Identifier("col"), Identifier("s", "t"), Identifier("id"), Literal(1)
    )
    assert str(query) == 'SELECT "col" FROM "s"."t" WHERE "id" = 1'
    assert isinstance(query, Composed)


def test_format_fills_numbered_and_keyword_placeholders() -> None:
    query = SQL("{1} {0} {1} {name}").format(SQL("a"), SQL("b"), name=Literal("it's"))
    assert str(query) == "b a b 'it''s'"


def test_format_keeps_doubled_braces_as_literal_braces() -> None:
    assert str(SQL("'{{}}'::jsonb, {}").format(Literal(1))) == "'{}'::jsonb, 1"


@pytest.mark.parametrize("bad", ["text", 1, None, b"x"], ids=repr)
def test_format_rejects_values_that_are_not_composable(bad: object) -> None:
    with pytest.raises(TypeError, match=re.escape(type(bad).__name__)):
        SQL("SELECT {}").format(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\{name\}"):
        SQL("SELECT {name}").format(name=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("template", ["{!r}", "{:>10}"])
def test_format_rejects_format_specs(template: str) -> None:
    with pytest.raises(ValueError, match="format specs"):
        SQL(template).format(Literal(1))


def test_sql_takes_only_str() -> None:
    with pytest.raises(TypeError, match="bytes"):
        SQL(b"SELECT 1")  # type: ignore[arg-type]


def test_composed_rejects_non_composable_parts_and_flattens() -> None:
    with pytest.raises(TypeError, match="str"):
        Composed([SQL("a"), "b"])  # type: ignore[list-item]
    joined = sql.join(", ", [Identifier("a"), Literal(2), SQL("x") + SQL("y")])
    assert str(joined) == '"a", 2, xy'
    assert sql.render(joined) == str(joined)


def test_composables_compare_by_type_and_text() -> None:
    assert Identifier("a") == Identifier("a")
    assert Identifier("a") != SQL('"a"')
    assert len({Literal("x"), Literal("x"), Identifier("x")}) == 2


# ---------------------------------------------------------------------- dollar quoting


def test_dollar_quote_uses_pgh_tag_by_default() -> None:
    assert str(dollar_quote("BEGIN RETURN NULL; END;")) == "$pgh$BEGIN RETURN NULL; END;$pgh$"


@pytest.mark.parametrize(
    "body",
    [
        "SELECT '$pgh$'",
        "label $pgh$ and $pgh1$ and $pgh2$",
        "ends with $pgh",
        "ends with $pgh1 $pgh$",
        "$pgh$",
        "$pgh",
    ],
)
def test_dollar_quote_picks_a_tag_that_the_body_cannot_end_early(body: str) -> None:
    text = str(dollar_quote(body))
    tag = text[: text.index("$", 1) + 1]
    assert tag != "$pgh$" and text.endswith(tag)
    assert (body + tag).find(tag) == len(body), text
    # A lexer that follows Postgres' rules reads exactly one string, holding the body.
    assert tokens(text) == [("dollar", body)]


def test_dollar_quote_rejects_invalid_tags() -> None:
    with pytest.raises(InvalidNameError, match="tag"):
        dollar_quote("x", tag="1bad")
    with pytest.raises(InvalidNameError, match="tag"):
        dollar_quote("x", tag="a$b")


def test_the_lexer_used_by_these_tests_sees_an_injection_when_quoting_is_broken() -> None:
    # Guards the guard: naive interpolation of the label must be caught by the checks above.
    naive = "SELECT '" + INJECTION + "'"
    assert "DROP TABLE" in code_outside_literals(naive)
    assert "DROP TABLE" not in code_outside_literals("SELECT $f$ SELECT 'a''b'; $f$")
    assert "SELECT 'a''b'" not in code_outside_literals("SELECT $f$ SELECT 'a''b'; $f$")
    assert tokens("$pgh1$ a $pgh$ b $pgh1$") == [("dollar", " a $pgh$ b ")]


# ----------------------------------------------------------------------------- Template


_TEMPLATE_STATEMENT = sql.SQL("SELECT set_config({}, {}, true), {} FROM {}")


@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", "", "{}", "ünï", '{"a":"x\'y\\\\z"}'])
def test_template_fill_renders_exactly_what_composing_renders(value: str) -> None:
    template = sql.Template(_TEMPLATE_STATEMENT.format(sql.Literal("a.b"), sql.SLOT, sql.SLOT, sql.Identifier("s", "t")))
    composed = _TEMPLATE_STATEMENT.format(sql.Literal("a.b"), sql.Literal(value), sql.Literal(7), sql.Identifier("s", "t"))
    assert template.fill(value, 7) == sql.render(composed)
    assert template.slots == 2


def test_template_without_slots_is_the_rendered_statement() -> None:
    statement = sql.SQL("SELECT {}").format(sql.Literal(1))
    assert sql.Template(statement).fill() == "SELECT 1"
    assert sql.Template(sql.SLOT).fill("x") == "'x'"


def test_template_rejects_the_wrong_number_of_values() -> None:
    template = sql.Template(sql.SQL("SELECT {}, {}").format(sql.SLOT, sql.SLOT))
    with pytest.raises(TypeError, match="2 slot"):
        template.fill("only one")
    with pytest.raises(TypeError, match="2 slot"):
        template.fill(1, 2, 3)


def test_template_values_are_escaped_and_checked_like_literals() -> None:
    template = sql.Template(sql.SQL("SELECT {}").format(sql.SLOT))
    assert template.fill("'; DROP TABLE x; --") == "SELECT '''; DROP TABLE x; --'"
    with pytest.raises(UnsupportedError, match="NUL"):
        template.fill("a\x00b")
    with pytest.raises(UnsupportedError, match="cannot render"):
        template.fill(object())  # type: ignore[arg-type]


def test_a_slot_cannot_be_rendered_outside_a_template() -> None:
    with pytest.raises(UnsupportedError, match="sql.Template"):
        sql.render(sql.SQL("SELECT {}").format(sql.SLOT))
