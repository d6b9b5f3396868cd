"""The lifecycle commands: ``ls``, ``install``, ``uninstall``, ``prune`` and ``check``.

Layer: adapter (operator tool). Each command loads the trackings named by ``--spec``,
connects to ``--dsn`` and calls one function of :mod:`pghistory_core.lifecycle`; this module
only presents the result. States come from the core (content hashes in each object's
``COMMENT``), so the CLI and every ORM adapter agree on what "installed" means.

Output goes to stdout; progress and prompts go to stderr. ``check`` exits 1 when anything
differs from the specs (for CI pipelines), 0 otherwise; every error exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

import pghistory_core as ph
from pghistory_cli.options import connect, dsn_option, err_console, out_console, spec_option, trackings_from
from pghistory_core import State, Status
from pghistory_core.lifecycle import is_drift

__all__ = ["register", "status_table", "STATE_STYLES"]

#: Colour of each state in tables (rich styles). ``present`` is used when ``ls`` runs
#: without ``--spec``: objects exist, but there is nothing to compare them with.
STATE_STYLES = {
    State.INSTALLED.value: "green",
    State.OUTDATED.value: "yellow",
    State.MISSING.value: "red",
    State.ORPHANED.value: "magenta",
    "present": "cyan",
}


def _state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def status_table(statuses: Sequence[Status], *, title: str | None = None, compare: bool = True) -> Table:
    """A rich table of *statuses*: kind, object, state, reason.

    With ``compare=False`` (no specs given) every object is shown as ``present``.
    """
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("kind")
    table.add_column("object", overflow="fold")
    table.add_column("state")
    table.add_column("reason", overflow="fold")
    for item in statuses:
        state = item.state.value if compare else "present"
        # Text, not markup: names may contain '[' and must be shown verbatim.
        table.add_row(item.kind, Text(item.display_name), _state_text(state), Text(item.reason if compare else ""))
    return table


def _counts(statuses: Sequence[Status]) -> str:
    parts = []
    for state in State:
        count = sum(1 for s in statuses if s.state == state)
        if count:
            parts.append(f"{count} {state.value}")
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# ---------------------------------------------------------------------------------- ls


@click.command("ls")
@spec_option(required=False)
@dsn_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per item) instead of a table.")
def ls_command(specs: tuple[str, ...], dsn: str | None, as_json: bool) -> None:
    """List history objects and their state: installed, outdated, missing or orphaned.

    Without --spec, lists every object pghistory installed in the database.
    """
    trackings = trackings_from(specs)
    with connect(dsn) as conn:
        statuses = ph.status(conn, trackings)
    compare = bool(specs)
    if as_json:
        rows = [
            {
                "kind": s.kind,
                "schema": s.schema,
                "table": s.table or None,
                "name": s.name,
                "state": s.state.value if compare else "present",
                "reason": s.reason if compare else "",
            }
            for s in statuses
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    console = out_console()
    if not statuses:
        console.print("No pghistory objects in this database." if not compare else "The specs describe no objects.")
        return
    console.print(status_table(statuses, compare=compare))
    if compare:
        console.print(f"{_plural(len(statuses), 'object')}: {_counts(statuses)}")
    else:
        console.print(
            f"{_plural(len(statuses), 'object')} installed by pghistory. "
            "Pass --spec to compare them with your specs."
        )


# ---------------------------------------------------------------------------- install


@click.command("install")
@spec_option()
@dsn_option
@click.option("--sql", "as_sql", is_flag=True,
              help="Print the install as an SQL script instead (no database needed); apply it with psql -1 -f.")
def install_command(specs: tuple[str, ...], dsn: str | None, as_sql: bool) -> None:
    """Install or update the history tables, functions and triggers of the specs.

    Idempotent: objects already installed are not touched. Runs in one transaction, so a
    failure leaves the database as it was. Event tables are never dropped; new columns
    are added to them. With --sql, prints the script that does the same (and records each
    object as installed, so `pghistory check` passes after it) without connecting.
    """
    trackings = trackings_from(specs)
    if as_sql:
        click.echo(ph.render_install_script(trackings), nl=False)
        return
    total = len(ph.all_artefacts(trackings))
    console = out_console()
    with connect(dsn) as conn:
        before = ph.status(conn, trackings)
        pending = [s for s in before if s.artefact is not None and s.state != State.INSTALLED]
        if pending:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err_console(),
                transient=True,
            ) as progress:
                task = progress.add_task("installing", total=len(pending))

                def step(message: str) -> None:
                    progress.update(task, advance=1, description=message)

                changed = ph.install(conn, trackings, progress=step)
        else:
            changed = []
    for item in changed:
        verb = "created" if item.state == State.MISSING else "updated"
        line = Text(f"  {verb} {item.kind} ")
        line.append(item.display_name)
        if item.reason:
            line.append(f" ({item.reason})", style="dim")
        console.print(line)
    created = sum(1 for s in changed if s.state == State.MISSING)
    updated = len(changed) - created
    if changed:
        console.print(
            f"[green]Installed[/green] in one transaction: {created} created, {updated} updated, "
            f"{total - len(changed)} already up to date."
        )
    else:
        console.print(f"[green]Nothing to do[/green]: all {_plural(total, 'object')} are installed and unchanged.")
    orphans = [s for s in before if s.state == State.ORPHANED]
    if orphans:
        console.print(
            f"[magenta]{_plural(len(orphans), 'orphaned object')}[/magenta] that no spec describes "
            "remain; list them with `pghistory ls`, drop them with `pghistory prune`."
        )


# -------------------------------------------------------------------------- uninstall


@click.command("uninstall")
@spec_option()
@dsn_option
@click.option(
    "--drop-event-tables", is_flag=True, help="Also drop the event tables, deleting the history they hold."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before dropping event tables.")
def uninstall_command(specs: tuple[str, ...], dsn: str | None, drop_event_tables: bool, yes: bool) -> None:
    """Remove the triggers and trigger functions of the specs.

    Event tables (the recorded history) stay unless --drop-event-tables is given. The
    shared context table stays: other trackings may use it.
    """
    trackings = trackings_from(specs)
    if drop_event_tables and not yes:
        tables = ", ".join(f"{t.event_schema_name}.{t.event_table_name}" for t in trackings)
        click.confirm(
            f"Drop the event tables {tables}? The history they hold will be deleted.", abort=True, err=True
        )
    console = out_console()
    with connect(dsn) as conn:
        with err_console().status("uninstalling") as spinner:
            removed = ph.uninstall(
                conn, trackings, drop_event_tables=drop_event_tables, progress=lambda m: spinner.update(m)
            )
    for item in removed:
        line = Text(f"  dropped {item.kind} ")
        line.append(item.display_name)
        console.print(line)
    if removed:
        console.print(f"Uninstalled: {_plural(len(removed), 'object')} dropped.")
    else:
        console.print("Nothing to uninstall.")
    if not drop_event_tables:
        console.print("Event tables were kept; pass --drop-event-tables to delete them and their history.")


# ------------------------------------------------------------------------------ prune


@click.command("prune")
@spec_option()
@dsn_option
@click.option("--dry-run", is_flag=True, help="Only show what would be dropped.")
def prune_command(specs: tuple[str, ...], dsn: str | None, dry_run: bool) -> None:
    """Drop orphaned pghistory triggers and functions: ones no given spec describes.

    Pass every spec of the database: objects of trackings you leave out count as
    orphaned. Orphaned event tables hold history and are never dropped, only listed.
    """
    trackings = trackings_from(specs)
    console = out_console()
    with connect(dsn) as conn:
        orphans = [s for s in ph.status(conn, trackings) if s.state == State.ORPHANED]
        droppable = [s for s in orphans if s.kind != "table"]
        if dry_run or not droppable:
            removed: list[Status] = []
        else:
            with err_console().status("pruning") as spinner:
                removed = ph.prune(conn, trackings, progress=lambda m: spinner.update(m))
    kept = [s for s in orphans if s.kind == "table"]
    if not orphans:
        console.print("No orphaned objects.")
        return
    if dry_run:
        for item in droppable:
            console.print(Text(f"  would drop {item.kind} ").append(item.display_name))
    for item in removed:
        console.print(Text(f"  dropped {item.kind} ").append(item.display_name))
    for item in kept:
        console.print(Text("  kept orphaned event table ").append(item.display_name).append(" (it holds history)"))
    if dry_run:
        console.print(f"Dry run: {_plural(len(droppable), 'object')} would be dropped.")
    else:
        console.print(f"Pruned: {_plural(len(removed), 'object')} dropped.")
    if kept:
        console.print("Drop orphaned event tables by hand (DROP TABLE) once their history is no longer needed.")


# ------------------------------------------------------------------------------ check


@click.command("check")
@spec_option()
@dsn_option
@click.pass_context
def check_command(ctx: click.Context, specs: tuple[str, ...], dsn: str | None) -> None:
    """Exit 1 if the database differs from the specs (for CI), 0 if it matches.

    Differences: objects missing, outdated (the specs changed, or someone altered or
    disabled them by hand) or orphaned. Errors (bad spec, no connection) exit 2.
    """
    trackings = trackings_from(specs)
    with connect(dsn) as conn:
        statuses = ph.status(conn, trackings)
    # The same rule as pghistory_core.check.
    drift = [s for s in statuses if is_drift(s)]
    console = out_console()
    if drift:
        console.print(status_table(drift, title="Drift"))
        console.print(
            f"[red]Drift[/red]: {len(drift)} of {_plural(len(statuses), 'object')} "
            f"{'differs' if len(drift) == 1 else 'differ'} from the specs ({_counts(drift)}). "
            "Fix with `pghistory install` (and `pghistory prune` for orphans)."
        )
        ctx.exit(1)
    console.print(f"[green]OK[/green]: all {_plural(len(statuses), 'object')} installed and unchanged.")


def register(group: click.Group) -> None:
    """Add the lifecycle commands to *group*."""
    for command in (ls_command, install_command, uninstall_command, prune_command, check_command):
        group.add_command(command)
