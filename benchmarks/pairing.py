"""Experimental statement-level UPDATE functions: other ways to pair old and new rows.

Layer: benchmarks. The generated function (:mod:`pghistory_core.render`) pairs ``pgh_new``
with ``pgh_old`` by position (``row_number() OVER ()`` on each transition table, joined on
the row number): Postgres appends the old and the new version of each updated row to the
two transition tuplestores together. The variants here replace that function on a copy of
the table, so other pairings can be measured side by side with it:

- ``pkjoin_guard``: the form the core generated before: a primary-key join, then an
  anti-join guard (``EXISTS ... NOT EXISTS``) and, only when some row's key changed, a
  second statement pairing those rows by position. Equivalent result.
- ``noguard``: the primary-key join alone. NOT equivalent (rows whose key changed are
  lost); shown only as a lower bound for any key-join form.

These are measurements for a proposal, not library code: they reuse the core's private
rendering helpers so that everything but the pairing is identical to what it generates.
"""

from __future__ import annotations

import pghistory_core as ph
from pghistory_core import render, sql

__all__ = ["PAIRINGS", "available", "update_function"]

#: The core's rendering helpers the experiment reuses; if the core renames them, the
#: experimental variants are skipped rather than breaking the benchmark.
_HELPERS = ("_IGNORE_CHECK", "_denormalized_id", "event_insert_head", "event_values")


def available() -> bool:
    return all(hasattr(render, name) for name in _HELPERS)

PAIRINGS = ("pkjoin_guard", "noguard")

_OLD, _NEW = sql.Identifier("pgh_old"), sql.Identifier("pgh_new")
_O, _N = sql.Identifier("pgh_o"), sql.Identifier("pgh_n")
_RN = sql.Identifier("pgh_pair_rn")


def _pk_join(tracking: ph.Tracking) -> sql.Composable:
    return sql.join(
        " AND ", [sql.SQL("{}.{} = {}.{}").format(_O, sql.Identifier(k), _N, sql.Identifier(k)) for k in tracking.table.primary_key]
    )


def _numbered(table: sql.Identifier, alias: sql.Identifier, other: sql.Identifier, tracking: ph.Tracking) -> sql.Composable:
    """Rows of *table* with no partner by key in *other*, numbered by position."""
    return sql.SQL(
        "(SELECT {a}.*, row_number() OVER () AS {rn} FROM {t} AS {a} WHERE NOT EXISTS (SELECT FROM {other} AS {b} WHERE {join}))"
    ).format(a=alias, rn=_RN, t=table, b=_N if alias == _O else _O, other=other, join=_pk_join(tracking))


def _statements(tracking: ph.Tracking, pairing: str, insert_select: sql.Composable, where: sql.Composable) -> sql.Composable:
    """The INSERT statement(s) for *pairing*; each adds its row count to ``v_count``."""
    count = sql.SQL(";\n    GET DIAGNOSTICS v_moved = ROW_COUNT;\n    v_count := v_count + v_moved;\n")
    paired = insert_select + sql.SQL("\n    FROM {} AS {} JOIN {} AS {} ON {}").format(_NEW, _N, _OLD, _O, _pk_join(tracking)) + where + count
    if pairing == "noguard":
        return paired
    if pairing != "pkjoin_guard":
        raise ValueError(f"unknown pairing {pairing!r}; expected one of {PAIRINGS}")
    guard = sql.SQL("EXISTS (SELECT FROM {} AS {} WHERE NOT EXISTS (SELECT FROM {} AS {} WHERE {}))").format(
        _NEW, _N, _OLD, _O, _pk_join(tracking)
    )
    moved = insert_select + sql.SQL("\n    FROM {} AS {} JOIN {} AS {} ON {}.{} = {}.{}").format(
        _numbered(_NEW, _N, _OLD, tracking), _N, _numbered(_OLD, _O, _NEW, tracking), _O, _O, _RN, _N, _RN
    ) + where + count
    return paired + sql.SQL("    IF {} THEN\n    ").format(guard) + moved + sql.SQL("    END IF;\n")


def update_function(tracking: ph.Tracking, pairing: str) -> sql.Composable:
    """``CREATE OR REPLACE FUNCTION`` for the UPDATE tracker of *tracking* (FK context),
    pairing rows with *pairing*; same name, so the installed trigger calls it."""
    if tracking.context != ph.FK:
        raise ValueError("the pairing experiments are written for FK context only")
    resolved = next(r for r in tracking.resolved_trackers if r.tracker.operation == ph.Update)
    condition = render.compile_tracker_condition(tracking, resolved)
    where = sql.SQL("\n    WHERE {}").format(condition) if condition is not None else sql.SQL("")
    values = sql.join(", ", render.event_values(tracking, resolved.tracker.label, _N, sql.SQL("v_ctx"), sql.SQL("NULL")))
    context_function = sql.Identifier(tracking.context_schema, render.CONTEXT_ID_FUNCTION)
    insert_select = render.event_insert_head(tracking) + sql.SQL("\n    SELECT {}").format(values)
    body = (
        sql.SQL("\nDECLARE\n    v_count bigint := 0;\n    v_moved bigint := 0;\n    v_ctx uuid;\n"
                + "".join(f"    {line}\n" for line in render._READ_DECLARE) + "BEGIN\n")
        + render._READ_CONTEXT_COMMENT  # as the generated function: the context comment first
        + render._IGNORE_CHECK
        + sql.SQL("    v_ctx := {};\n    ").format(render._denormalized_id())
        + _statements(tracking, pairing, insert_select, where)
        + sql.SQL(
            "    IF v_count > 0 AND v_ctx IS NOT NULL THEN\n        PERFORM {}();\n    END IF;\n"
            "    RETURN NULL;\nEND;\n"
        ).format(context_function)
    )
    name = sql.Identifier(tracking.event_schema_name, resolved.function_name)
    return sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql VOLATILE AS {}").format(
        name, sql.dollar_quote(sql.render(body))
    )
