"""What the runners of this project's adapters share: the context table they keep in
``public`` and a ``main`` that refuses to touch an existing one.

Layer: benchmarks (ORM runners; this project's venv).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version

import psycopg

from benchmarks.peers import harness
from pghistory_core import transport

__all__ = ["CONTEXT_TABLE", "autocommit_transport", "main"]

#: The adapters' context table (FK context mode): ``pghistory_core``'s default schema.
CONTEXT_TABLE = "public.pghistory_context"


def _exists(opts: harness.Options) -> bool:
    with psycopg.connect(opts.dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (CONTEXT_TABLE,)).fetchone()
    return bool(row and row[0])


def _drop(opts: harness.Options) -> None:
    with psycopg.connect(opts.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.pghistory_context CASCADE")


def main(description: str, setup: Callable[[harness.Options], Iterator[harness.Variant]], label: str,
         libraries: Sequence[str]) -> None:
    opts = harness.options(description)
    if _exists(opts):
        harness.fail(f"not run: {CONTEXT_TABLE} exists in this database (run on the embedded server or an empty database)")
        return
    packages: dict[str, str] = {label: version("pghistory")}
    for name in libraries:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "?"
    packages["autocommit context"] = autocommit_transport(opts)
    harness.run(opts, setup, packages, teardown=lambda: _drop(opts))


def autocommit_transport(opts: harness.Options) -> str:
    """Which autocommit transport the adapters will use here: the comment, unless a trigger
    in the database cannot read it (then the context statement; see
    :data:`pghistory_core.transport.COMMENT_PROBE`)."""
    with psycopg.connect(opts.dsn) as conn:
        row = conn.execute(transport.COMMENT_PROBE).fetchone()
    return "comment" if row and row[0] else "statement (a trigger cannot read the comment)"
