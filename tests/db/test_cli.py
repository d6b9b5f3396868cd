"""The ``pghistory`` command line against a real Postgres.

Layer: tests (database tier). Commands run through click's ``CliRunner`` (and once
through the installed console script) on a fresh database per test; what they report is
checked against the catalog. Specs live in ``tests/db/cli_specs.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.rows import TupleRow

from pghistory_cli import demo
from pghistory_cli.main import cli, register_commands
from pghistory_core import db, sql
from tests.db import cli_specs

Conn = psycopg.Connection[TupleRow]

ROOT = Path(__file__).resolve().parents[2]
SPEC_A = "tests.db.cli_specs:A"
SPEC_B = "tests.db.cli_specs:B"
SPEC_BOTH = "tests.db.cli_specs:BOTH"
# A wide terminal so rich never folds names; no colour codes; no ambient configuration.
ENV: dict[str, str | None] = {"COLUMNS": "200", "NO_COLOR": "1", "DATABASE_URL": None, "PGHISTORY_SPEC": None}


def run(*args: str, exit_code: int = 0, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input, env=ENV)
    if result.exit_code != exit_code:
        details = ""
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            details = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(
            f"pghistory {' '.join(args)}: exit {result.exit_code}, expected {exit_code}\n{result.output}\n{details}"
        )
    return result


def states(dsn: str, *specs: str) -> dict[tuple[str, str], str]:
    """``pghistory ls --json``: {(kind, object): state}."""
    args = ["ls", "--dsn", dsn, "--json"]
    for spec in specs:
        args += ["--spec", spec]
    rows = json.loads(run(*args).stdout)
    result = {}
    for row in rows:
        name = f"{row['schema']}.{row['table']}:{row['name']}" if row["table"] else f"{row['schema']}.{row['name']}"
        result[(row["kind"], name)] = row["state"]
    return result


def fetch(conn: Conn, query: sql.Composable) -> list[tuple[object, ...]]:
    return db.fetch_all(conn, query)


def triggers_on(conn: Conn, table: str) -> list[str]:
    rows = fetch(
        conn,
        sql.SQL(
            "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = {}::regclass ORDER BY 1"
        ).format(sql.Literal(sql.render(sql.Identifier("public", table)))),
    )
    return [str(row[0]) for row in rows]


def table_exists(conn: Conn, schema: str, name: str) -> bool:
    query = sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(sql.Literal(sql.render(sql.Identifier(schema, name))))
    return bool(fetch(conn, query)[0][0])


def function_exists(conn: Conn, schema: str, name: str) -> bool:
    query = sql.SQL(
        "SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = {} AND p.proname = {})"
    ).format(sql.Literal(schema), sql.Literal(name))
    return bool(fetch(conn, query)[0][0])


@pytest.fixture
def tables(conn: Conn) -> Conn:
    cli_specs.create_tables(conn)
    return conn


# ------------------------------------------------------------------------------ check


def test_check_exits_1_after_a_function_is_replaced_by_hand_and_0_after_install(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_A, "--dsn", dsn)
    assert "OK: all 10 objects installed and unchanged" in run("check", "--spec", SPEC_A, "--dsn", dsn).output

    function = cli_specs.A.resolved_trackers[0].function_name  # the insert tracker's function
    db.execute(
        tables,
        sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
            sql.Identifier("public", function), sql.dollar_quote("BEGIN RETURN NULL; END;")
        ),
    )
    drift = run("check", "--spec", SPEC_A, "--dsn", dsn, exit_code=1).output
    assert f"public.{function}" in drift
    assert "outdated" in drift and "changed in the database since it was installed" in drift
    assert "Drift: 1 of 10 objects differs from the specs (1 outdated)" in drift

    installed = run("install", "--spec", SPEC_A, "--dsn", dsn).output
    assert f"updated function public.{function}" in installed
    assert "0 created, 1 updated, 9 already up to date" in installed
    run("check", "--spec", SPEC_A, "--dsn", dsn, exit_code=0)
    # The trigger records again.
    db.execute(tables, "INSERT INTO public.cash VALUES (1, 10)")
    assert fetch(tables, sql.SQL("SELECT pgh_label FROM public.cash_event")) == [("insert",)]


def test_check_exits_1_after_a_trigger_is_disabled_and_0_after_install(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_A, "--dsn", dsn)
    trigger = cli_specs.A.resolved_trackers[1].trigger_name
    db.execute(
        tables,
        sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(sql.Identifier("public", "cash"), sql.Identifier(trigger)),
    )
    drift = run("check", "--spec", SPEC_A, "--dsn", dsn, exit_code=1).output
    assert f"public.cash:{trigger}" in drift and "disabled" in drift

    run("install", "--spec", SPEC_A, "--dsn", dsn)
    run("check", "--spec", SPEC_A, "--dsn", dsn, exit_code=0)
    enabled = fetch(
        tables,
        sql.SQL("SELECT tgenabled::text FROM pg_trigger WHERE tgname = {}").format(sql.Literal(trigger)),
    )
    assert enabled == [("O",)]


def test_check_reports_missing_and_orphaned_objects(dsn: str, tables: Conn) -> None:
    missing = run("check", "--spec", SPEC_A, "--dsn", dsn, exit_code=1).output
    assert "Drift: 10 of 10 objects differ from the specs (10 missing)" in missing

    run("install", "--spec", SPEC_BOTH, "--dsn", dsn)
    run("check", "--spec", SPEC_BOTH, "--dsn", dsn, exit_code=0)
    orphaned = run("check", "--spec", SPEC_A, "--dsn", dsn, exit_code=1).output
    assert '"Ledger Book"' not in orphaned  # names are shown verbatim, not quoted
    assert "public.Ledger Book:pgh_insert" in orphaned
    assert "orphaned" in orphaned


def test_check_errors_exit_2_not_1(dsn: str) -> None:
    result = run("check", "--spec", "tests.db.cli_specs:NOT_A_SPEC", "--dsn", dsn, exit_code=2)
    assert "NOT_A_SPEC" in result.output


# --------------------------------------------------------------------------------- ls


def test_ls_shows_missing_installed_outdated_and_orphaned(dsn: str, tables: Conn) -> None:
    before = states(dsn, SPEC_A)
    assert set(before.values()) == {"missing"}
    assert before[("trigger", "public.cash:pgh_insert")] == "missing"
    assert before[("table", "public.cash_event")] == "missing"
    assert before[("table", "public.pghistory_context")] == "missing"

    run("install", "--spec", SPEC_A, "--dsn", dsn)
    after = states(dsn, SPEC_A, SPEC_B)
    assert after[("trigger", "public.cash:pgh_insert")] == "installed"
    assert after[("function", "public.pgh_cash_event_update")] == "installed"
    assert after[("trigger", "public.Ledger Book:pgh_insert")] == "missing"
    assert after[("table", "public.Ledger Book_event")] == "missing"

    run("install", "--spec", SPEC_B, "--dsn", dsn)
    db.execute(tables, sql.SQL("ALTER TABLE public.cash DISABLE TRIGGER pgh_delete"))
    only_a = states(dsn, SPEC_A)
    assert only_a[("trigger", "public.cash:pgh_delete")] == "outdated"
    assert only_a[("trigger", "public.Ledger Book:pgh_insert")] == "orphaned"
    assert only_a[("function", "public.pgh_Ledger Book_event_insert")] == "orphaned"
    assert only_a[("table", "public.Ledger Book_event")] == "orphaned"

    table = run("ls", "--spec", SPEC_A, "--dsn", dsn).output
    for word in ("kind", "object", "state", "reason", "installed", "outdated", "orphaned", "disabled"):
        assert word in table
    assert "public.Ledger Book:pgh_insert" in table
    assert "13 objects: 9 installed, 1 outdated, 3 orphaned" in table


def test_ls_without_spec_lists_what_pghistory_installed(dsn: str, tables: Conn) -> None:
    assert "No pghistory objects in this database." in run("ls", "--dsn", dsn).output
    run("install", "--spec", SPEC_BOTH, "--dsn", dsn)
    found = states(dsn)
    assert len(found) == 13 and set(found.values()) == {"present"}
    assert "13 objects installed by pghistory. Pass --spec" in run("ls", "--dsn", dsn).output


def test_dsn_comes_from_database_url_and_is_required(dsn: str, tables: Conn) -> None:
    missing = run("ls", "--spec", SPEC_A, exit_code=2).output
    assert "no database given: pass --dsn or set DATABASE_URL" in missing
    result = CliRunner().invoke(cli, ["ls", "--json"], env={**ENV, "DATABASE_URL": dsn, "PGHISTORY_SPEC": SPEC_A})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 10


def test_unreachable_server_is_a_clear_error() -> None:
    result = run("ls", "--dsn", "postgresql://nobody@/nodb?host=/nonexistent-pghistory-dir", exit_code=2)
    assert "cannot connect to the database" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://alice:s3cr%zzet@localhost/db",  # libpq quotes the bad token: the password
        "postgresql://localhost/db?password=s3cr%zzet",
        "postgresql://alice:s3cr%zzet@localhost/db?connect_timeout=1",
    ],
)
def test_invalid_dsn_errors_never_print_the_password(dsn: str) -> None:
    result = run("ls", "--dsn", dsn, exit_code=2)
    assert "invalid DSN: invalid percent-encoded token" in result.output
    assert "s3cr" not in result.output and "zzet" not in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------- install


def test_install_is_idempotent_and_keeps_history(dsn: str, tables: Conn) -> None:
    first = run("install", "--spec", SPEC_BOTH, "--dsn", dsn).output
    assert "13 created, 0 updated, 0 already up to date" in first
    assert "created table public.Ledger Book_event" in first
    db.execute(tables, "INSERT INTO public.cash VALUES (1, 10)")
    second = run("install", "--spec", SPEC_BOTH, "--dsn", dsn).output
    assert "Nothing to do: all 13 objects are installed and unchanged" in second
    assert set(states(dsn, SPEC_BOTH).values()) == {"installed"}
    assert fetch(tables, sql.SQL("SELECT count(*) FROM public.cash_event")) == [(1,)]


def test_install_mentions_orphans(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_BOTH, "--dsn", dsn)
    output = run("install", "--spec", SPEC_A, "--dsn", dsn).output
    assert "3 orphaned objects that no spec describes remain" in output


@pytest.mark.parametrize(
    "spec",
    ["tests.db.cli_specs:BOTH", "tests.db.cli_specs:make_both", "tests.db.cli_specs:generate_a"],
)
def test_spec_shapes(dsn: str, tables: Conn, spec: str) -> None:
    run("install", "--spec", spec, "--dsn", dsn)
    run("check", "--spec", spec, "--dsn", dsn)


def test_repeated_and_duplicate_specs_are_merged(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_A, "--spec", "tests.db.cli_specs:Holder.trackings", "--spec", SPEC_A, "--dsn", dsn)
    run("check", "--spec", SPEC_BOTH, "--dsn", dsn)


# ------------------------------------------------------------------------------ prune


def test_prune_drops_orphaned_triggers_and_functions_and_keeps_event_tables(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_BOTH, "--dsn", dsn)
    db.execute(tables, sql.SQL('INSERT INTO public."Ledger Book" VALUES (1, {})').format(sql.Literal("kept")))

    dry = run("prune", "--spec", SPEC_A, "--dsn", dsn, "--dry-run").output
    assert "would drop trigger public.Ledger Book:pgh_insert" in dry
    assert triggers_on(tables, "Ledger Book") == ["pgh_insert"]

    pruned = run("prune", "--spec", SPEC_A, "--dsn", dsn).output
    assert "dropped trigger public.Ledger Book:pgh_insert" in pruned
    assert "dropped function public.pgh_Ledger Book_event_insert" in pruned
    assert "kept orphaned event table public.Ledger Book_event" in pruned
    assert "Pruned: 2 objects dropped." in pruned

    assert triggers_on(tables, "Ledger Book") == []
    assert not function_exists(tables, "public", "pgh_Ledger Book_event_insert")
    assert table_exists(tables, "public", "Ledger Book_event")
    kept = fetch(tables, sql.SQL('SELECT note FROM public."Ledger Book_event"'))
    assert kept == [("kept",)]
    # A's objects are untouched.
    assert triggers_on(tables, "cash") == ["pgh_delete", "pgh_insert", "pgh_update"]
    remaining = states(dsn, SPEC_A)
    assert {k: v for k, v in remaining.items() if v != "installed"} == {
        ("table", "public.Ledger Book_event"): "orphaned"
    }

    again = run("prune", "--spec", SPEC_A, "--dsn", dsn).output
    assert "Pruned: 0 objects dropped." in again
    # A kept event table holds history on purpose: it is listed, but it is not drift.
    run("check", "--spec", SPEC_A, "--dsn", dsn, exit_code=0)


def test_prune_with_nothing_orphaned(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_A, "--dsn", dsn)
    assert "No orphaned objects." in run("prune", "--spec", SPEC_A, "--dsn", dsn).output


def test_prune_requires_a_spec(dsn: str) -> None:
    assert "Missing option '--spec'" in run("prune", "--dsn", dsn, exit_code=2).output


# -------------------------------------------------------------------------- uninstall


def test_uninstall_keeps_event_tables_unless_asked(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_A, "--dsn", dsn)
    output = run("uninstall", "--spec", SPEC_A, "--dsn", dsn).output
    assert "dropped trigger public.cash:pgh_insert" in output
    assert "Event tables were kept" in output
    assert triggers_on(tables, "cash") == []
    assert table_exists(tables, "public", "cash_event")
    assert table_exists(tables, "public", "pghistory_context")  # shared: never dropped by uninstall


def test_uninstall_drop_event_tables_asks_first(dsn: str, tables: Conn) -> None:
    run("install", "--spec", SPEC_A, "--dsn", dsn)
    refused = run("uninstall", "--spec", SPEC_A, "--dsn", dsn, "--drop-event-tables", input="n\n", exit_code=1)
    assert "Drop the event tables public.cash_event?" in refused.output
    assert triggers_on(tables, "cash") != [] and table_exists(tables, "public", "cash_event")

    run("uninstall", "--spec", SPEC_A, "--dsn", dsn, "--drop-event-tables", input="y\n")
    assert not table_exists(tables, "public", "cash_event")

    run("install", "--spec", SPEC_A, "--dsn", dsn)
    run("uninstall", "--spec", SPEC_A, "--dsn", dsn, "--drop-event-tables", "--yes")
    assert not table_exists(tables, "public", "cash_event")
    assert "Nothing to uninstall." in run("uninstall", "--spec", SPEC_A, "--dsn", dsn).output


# ------------------------------------------------------------------------ bad --spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cli_specs", "--spec 'cli_specs': expected MODULE:ATTRIBUTE (e.g. --spec myapp.history:TRACKINGS)"),
        ("tests.db.cli_specs:", "expected MODULE:ATTRIBUTE"),
        ("no_such_module_pgh:A", "--spec 'no_such_module_pgh:A': no module named 'no_such_module_pgh'"),
        ("tests.db.no_such:A", "no module named 'tests.db.no_such'"),
        ("tests.db.cli_specs:C", "'tests.db.cli_specs' has no attribute 'C'; specs it defines: A, B, BOTH"),
        ("tests.db.cli_specs:Holder.nope", "'tests.db.cli_specs:Holder' has no attribute 'nope'"),
        ("tests.db.cli_specs:NOT_A_SPEC", "is a int: 42. Expected a pghistory_core.Tracking, an iterable of them"),
        ("tests.db.cli_specs:CASH", "is a Table: Table(name='cash'"),
        ("tests.db.cli_specs:EMPTY", "holds no Tracking"),
        ("tests.db.cli_specs:MIXED", "item 1 is not a pghistory_core.Tracking but a str: 'Ledger Book'"),
        ("tests.db.cli_specs:BY_NAME", "is a dict; pass a list of pghistory_core.Tracking"),
        ("tests.db.cli_specs:broken", "calling it failed: RuntimeError: the spec factory is broken"),
        ("tests.db.cli_specs:A-B", "'A-B' is not a valid attribute path"),
    ],
)
def test_bad_spec_values_are_clear_errors(spec: str, message: str) -> None:
    # Specs are loaded before connecting: no server is needed to report them.
    result = run("check", "--spec", spec, "--dsn", "postgresql:///unused", exit_code=2)
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """The current directory, holding a module with a unique name (removed afterwards)."""
    name = f"pgh_cli_spec_{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield tmp_path, name
    sys.modules.pop(name, None)


def test_spec_module_is_imported_from_the_current_directory(
    dsn: str, tables: Conn, module_dir: tuple[Path, str]
) -> None:
    path, name = module_dir
    (path / f"{name}.py").write_text("from tests.db.cli_specs import A as TRACKING\n")
    run("install", "--spec", f"{name}:TRACKING", "--dsn", dsn)
    assert triggers_on(tables, "cash") == ["pgh_delete", "pgh_insert", "pgh_update"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("raise RuntimeError('no config')\n", "failed: RuntimeError: no config"),
        # sys.exit() at import (e.g. argparse reading the command line) must not become
        # pghistory's exit status: exit 0 would pass `check` in CI without checking.
        ("import sys\nsys.exit(0)\n", "failed: it called sys.exit(0)"),
        ("import sys\nsys.exit('bad settings')\n", "failed: it called sys.exit('bad settings')"),
        ("def SPEC():\n    raise SystemExit(1)\n", "calling it failed: it called sys.exit(1)"),
        ("import no_such_dependency_pgh\n", "failed: No module named 'no_such_dependency_pgh'"),
        (
            textwrap.dedent(
                """
                import pghistory_core as ph
                T = ph.Table("cash", (ph.Column("id", "integer"),))
                SPEC = ph.Tracking(T, fields=("nope",))
                """
            ),
            "defines an invalid spec: tracking of public.cash: fields: table public.cash has no column 'nope'",
        ),
    ],
)
def test_spec_module_errors_name_the_problem(module_dir: tuple[Path, str], source: str, message: str) -> None:
    path, name = module_dir
    (path / f"{name}.py").write_text(source)
    result = run("ls", "--spec", f"{name}:SPEC", "--dsn", "postgresql:///unused", exit_code=2)
    assert f"--spec '{name}:SPEC'" in result.output
    assert message in result.output


# ------------------------------------------------------------------------------- demo


def test_demo_runs_in_its_own_schema_and_prints_the_events(dsn: str, conn: Conn) -> None:
    output = run("demo", "--dsn", dsn).output
    assert "opened 8 accounts in one INSERT → 8 events: 8 insert" in output
    assert "withdrawal of 30.00 from account 2 → 2 events: 1 balance_dropped, 1 update" in output
    assert "no-op update of account 3 (status = status) → no event" in output
    assert "monthly fee: one UPDATE of 8 rows → 16 events: 8 balance_dropped, 8 update" in output
    assert "context: user=billing-job, reason=monthly fee" in output
    assert "account 1 verified: update + manual event → 2 events: 1 update, 1 verified" in output
    assert "pghistory_demo.account_event: 31 events" in output
    lines = [" ".join(line.split()) for line in output.splitlines()]
    for label, count in (("insert", 8), ("update", 11), ("delete", 2), ("balance_dropped", 9), ("verified", 1)):
        assert any(line.startswith(label + " ") and line.endswith(f" {count}") for line in lines), (label, output)
    assert "total 31" in lines
    assert "2 user=billing-job, reason=monthly fee 16" in lines
    assert "- (written outside any context) 3" in lines

    recorded = fetch(
        conn, sql.SQL("SELECT pgh_label, count(*) FROM pghistory_demo.account_event GROUP BY 1 ORDER BY 1")
    )
    assert recorded == [("balance_dropped", 9), ("delete", 2), ("insert", 8), ("update", 11), ("verified", 1)]
    # Everything lives in the demo schema: nothing in public.
    assert fetch(conn, sql.SQL("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")) == [(0,)]
    # The demo's spec is usable with the other commands.
    run("check", "--spec", "pghistory_cli.demo:TRACKING", "--dsn", dsn)

    refused = run("demo", "--dsn", dsn, exit_code=2).output
    assert "schema 'pghistory_demo' already exists" in refused and "--reset" in refused
    again = run("demo", "--dsn", dsn, "--reset", "--accounts", "20", "--limit", "5").output
    assert "pghistory_demo.account_event: 67 events" in again
    assert "62 more not shown (--limit)" in again


def test_demo_sql_is_composed_not_formatted() -> None:
    statement = sql.render(demo.create_table_sql(demo.ACCOUNT))
    assert 'CREATE TABLE "pghistory_demo"."account"' in statement
    assert '"balance" numeric(12,2) NOT NULL' in statement


def test_demo_reset_needs_dsn() -> None:
    assert "--reset needs --dsn" in run("demo", "--reset", exit_code=2).output


# --------------------------------------------------------------- command registration


def test_optional_command_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    good = f"pgh_cli_ext_{uuid.uuid4().hex[:8]}"
    broken = f"pgh_cli_broken_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{good}.py").write_text(
        "import click\n"
        "@click.command('hello')\n"
        "def hello() -> None:\n"
        "    click.echo('hi')\n"
        "def register(group):\n"
        "    group.add_command(hello)\n"
    )
    (tmp_path / f"{broken}.py").write_text("import no_such_dependency_pgh\n")
    try:
        group = click.Group("pghistory")
        register_commands(group, optional=("pgh_cli_absent_module", good))
        assert {"ls", "install", "uninstall", "prune", "check", "demo", "hello"} <= set(group.commands)
        with pytest.raises(ModuleNotFoundError, match="no_such_dependency_pgh"):
            register_commands(click.Group("pghistory"), optional=(broken,))
    finally:
        sys.modules.pop(good, None)
        sys.modules.pop(broken, None)


# ------------------------------------------------------------------ the real command


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "pghistory"
    if script.exists():
        return [str(script)]
    found = shutil.which("pghistory")
    return [found] if found else [sys.executable, "-m", "pghistory_cli"]


def test_console_script_exit_codes(dsn: str, tables: Conn) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGHISTORY_SPEC")}

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_console_script(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    assert call("check", "--spec", SPEC_A, "--dsn", dsn).returncode == 1
    assert call("install", "--spec", SPEC_A, "--dsn", dsn).returncode == 0
    ok = call("check", "--spec", SPEC_A, "--dsn", dsn)
    assert ok.returncode == 0 and "OK: all 10 objects installed and unchanged" in ok.stdout
    function = cli_specs.A.resolved_trackers[0].function_name
    db.execute(
        tables,
        sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
            sql.Identifier("public", function), sql.dollar_quote("BEGIN RETURN NEW; END;")
        ),
    )
    assert call("check", "--spec", SPEC_A, "--dsn", dsn).returncode == 1
    assert call("install", "--spec", SPEC_A, "--dsn", dsn).returncode == 0
    assert call("check", "--spec", SPEC_A, "--dsn", dsn).returncode == 0
    module = subprocess.run(
        [sys.executable, "-m", "pghistory_cli", "--help"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert module.returncode == 0 and "Usage: pghistory" in module.stdout
