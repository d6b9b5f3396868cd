"""Specs named by ``--spec tests.db.cli_specs:...`` in ``tests/db/test_cli.py``.

Layer: tests (database tier). Two tracked tables, ``A`` (``public.cash``) and ``B``
(``public."Ledger Book"``: a name that needs quoting), spec values in every accepted shape,
and values that are not specs, to check the CLI's error messages.
"""

from __future__ import annotations

from collections.abc import Iterator

import pghistory_core as ph
from pghistory_core import db, sql

CASH = ph.Table("cash", (ph.Column("id", "integer"), ph.Column("dollars", "numeric")))
LEDGER = ph.Table("Ledger Book", (ph.Column("id", "integer"), ph.Column("note", "text")))

A = ph.Tracking(CASH, (ph.InsertEvent(), ph.UpdateEvent(), ph.DeleteEvent()))
B = ph.Tracking(LEDGER, (ph.InsertEvent(),))

BOTH = [A, B]


def make_both() -> list[ph.Tracking]:
    return [A, B]


def generate_a() -> Iterator[ph.Tracking]:
    yield A


class Holder:
    trackings = (B,)


NOT_A_SPEC = 42
EMPTY: list[ph.Tracking] = []
MIXED = [A, "Ledger Book"]
BY_NAME = {"a": A}


def broken() -> list[ph.Tracking]:
    raise RuntimeError("the spec factory is broken")


def create_tables(conn: db.Connection) -> None:
    """Create the tracked tables (``id integer PRIMARY KEY`` plus one column each)."""
    for table in (CASH, LEDGER):
        columns = [
            sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.type)) for column in table.columns
        ]
        db.execute(
            conn,
            sql.SQL("CREATE TABLE {} (").format(sql.Identifier(table.schema, table.name))
            + sql.join(", ", columns)
            + sql.SQL(", PRIMARY KEY ({}))").format(sql.Identifier(*table.primary_key)),
        )
